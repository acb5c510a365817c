// The implicit midpoint rule on a non-separable Hamiltonian H = θ0 p²/2 + θ1 q²/2 + θ2 q²p²/2:
// order 2, exact conservation of a quadratic invariant, symplecticity (MᵀJM = J) and bounded
// energy where the explicit splitting methods do not apply, time reversibility, discrete-adjoint
// gradients against central differences, and a failed (never accepted) unconverged step.
#include "systems.hpp"

#include <nde/solvers/implicit_midpoint.hpp>

#include <catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace symplectic_test;

namespace {

// a = ∂H/∂p = θ0 p + θ2 q² p.
struct coupled_velocity {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q& q, const P& p, const Th& th, D& dq) const {
    dq = (th[0] + th[2] * q.array().square()).matrix().cwiseProduct(p);
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T, const Q& q, const P& p, const Th& th, const W& w, WQ& w_q, WP& w_p, WTh& w_th) const {
    w_q.array() += 2 * th[2] * q.array() * p.array() * w.array();
    w_p.array() += (th[0] + th[2] * q.array().square()) * w.array();
    w_th[0] += w.cwiseProduct(p).sum();
    w_th[2] += (w.array() * q.array().square() * p.array()).sum();
  }
};
// b = −∂H/∂q = −θ1 q − θ2 q p².
struct coupled_force {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q& q, const P& p, const Th& th, D& dp) const {
    dp = -(th[1] + th[2] * p.array().square()).matrix().cwiseProduct(q);
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T, const Q& q, const P& p, const Th& th, const W& w, WQ& w_q, WP& w_p, WTh& w_th) const {
    w_q.array() -= (th[1] + th[2] * p.array().square()) * w.array();
    w_p.array() -= 2 * th[2] * q.array() * p.array() * w.array();
    w_th[1] -= w.cwiseProduct(q).sum();
    w_th[2] -= (w.array() * q.array() * p.array().square()).sum();
  }
};

using coupled_term = nde::partitioned_term<coupled_velocity, coupled_force>;

coupled_term make_coupled() { return coupled_term(coupled_velocity{}, coupled_force{}, 1); }

double coupled_energy(const vec2& y, const vecx& th) {
  const double q = y[0], p = y[1];
  return th[0] * p * p / 2 + th[1] * q * q / 2 + th[2] * q * q * p * p / 2;
}

const vecx& coupled_params() {
  static const vecx th = (vecx(3) << 1.0, 1.0, 0.5).finished();
  return th;
}

}  // namespace

TEST_CASE("implicit midpoint: order 2 on a non-separable Hamiltonian, leapfrog refuses it",
          "[symplectic][implicit]") {
  auto term = make_coupled();
  CHECK_FALSE(term.separable());
  const vecx& th = coupled_params();
  const vec2 y0(1.0, 0.5);
  const double t_end = 4.0;
  auto ref = nde::solve(term, nde::rk4{}, 0.0, t_end, y0, th,
                        {.controller = nde::constant_step{.dt = 1e-4}, .max_steps = 1000000});
  REQUIRE(ref.success());
  std::vector<double> dts{0.1, 0.05, 0.025, 0.0125}, errors;
  for (double dt : dts) {
    auto sol = nde::solve(term, nde::implicit_midpoint{}, 0.0, t_end, y0, th,
                          {.controller = nde::constant_step{.dt = dt}});
    REQUIRE(sol.success());
    errors.push_back((sol.ys.back() - ref.ys.back()).norm());
  }
  const double order = nde::testing::convergence_order(dts, errors);
  INFO("order " << order);
  CHECK(std::abs(order - 2) < 0.2);
  auto lf = nde::solve(term, nde::leapfrog{}, 0.0, t_end, y0, th,
                       {.controller = nde::constant_step{.dt = 0.1}});
  CHECK(lf.status == nde::status::invalid_input);
  CHECK_THAT(lf.message, Catch::Contains("needs a separable term"));
}

TEST_CASE(
    "implicit midpoint: a quadratic invariant exactly, a non-separable energy bounded, "
    "MᵀJM = J, time reversibility",
    "[symplectic][implicit][geometry]") {
  const vecx theta = unit_params();
  SECTION("harmonic oscillator: H is quadratic, conserved to round-off over 5000 steps") {
    auto harmonic = make_term<linear_force>(1, nde::coupling::separable);
    const vec2 y0(1.0, 0.3);
    auto sol = nde::solve(
        harmonic, nde::implicit_midpoint{}, 0.0, 1000.0, y0, theta,
        {.save_at = nde::save_at::every_step(), .controller = nde::constant_step{.dt = 0.2}});
    REQUIRE(sol.success());
    double worst = 0;
    for (const auto& y : sol.ys)
      worst = std::max(worst, std::abs(harmonic_energy(y) - harmonic_energy(y0)));
    INFO("max |H - H0| " << worst);
    CHECK(worst < 2e-12);
  }
  SECTION("the non-separable H: bounded energy error over 2000 time units; rk4 drifts") {
    auto term = make_coupled();
    const vecx& th = coupled_params();
    const vec2 y0(1.0, 0.5);
    const double h0 = coupled_energy(y0, th);
    auto measure = [&](const auto& method, double dt) {
      auto sol = nde::solve(term, method, 0.0, 2000.0, y0, th,
                            {.save_at = nde::save_at::every_step(),
                             .controller = nde::constant_step{.dt = dt},
                             .max_steps = 1000000});
      REQUIRE(sol.success());
      const std::size_t n = sol.ys.size(), tenth = n / 10;
      double first = 0, last = 0;
      for (std::size_t i = 0; i < tenth; ++i)
        first = std::max(first, std::abs(coupled_energy(sol.ys[i], th) - h0));
      for (std::size_t i = n - tenth; i < n; ++i)
        last = std::max(last, std::abs(coupled_energy(sol.ys[i], th) - h0));
      return std::pair{first, last};
    };
    const auto [mf, ml] = measure(nde::implicit_midpoint{}, 0.1);
    const auto [rf, rl] = measure(nde::rk4{}, 0.4);
    INFO("implicit midpoint first/last " << mf << " " << ml << "; rk4 " << rf << " " << rl);
    CHECK(ml <= 1.5 * mf);
    CHECK(ml < 1e-2);
    CHECK(rl > 5 * rf);
  }
  SECTION("MᵀJM = J for the non-separable H (to the iteration tolerance)") {
    auto term = make_coupled();
    const vecx& th = coupled_params();
    const vec2 y0(0.9, -0.6);
    for (int steps : {1, 20}) {
      auto sol = nde::solve(
          term, nde::implicit_midpoint{}, 0.0, 0.25 * steps, y0, th,
          {.controller = nde::constant_step{.dt = 0.25}, .adjoint = nde::discrete_adjoint{}});
      REQUIRE(sol.success());
      matx m(2, 2);
      for (int i = 0; i < 2; ++i) {
        std::vector<vec2> cot{vec2::Zero()};
        cot[0][i] = 1;
        const auto g = sol.backward(cot);
        REQUIRE(g.status == nde::status::success);
        m.row(i) = g.y0.transpose();
      }
      const matx j = canonical_j(1);
      const double defect = (m.transpose() * j * m - j).norm() / (1 + m.squaredNorm());
      INFO(steps << " steps: defect " << defect);
      CHECK(defect < 1e-12);
      CHECK(std::abs(m(0, 0) * m(1, 1) - m(0, 1) * m(1, 0) - 1) < 1e-12);  // det M = 1
    }
  }
  SECTION("back and forth returns to y0") {
    auto term = make_coupled();
    const vecx& th = coupled_params();
    const vec2 y0(1.0, 0.5);
    auto fwd = nde::solve(term, nde::implicit_midpoint{}, 0.0, 10.0, y0, th,
                          {.controller = nde::constant_step{.dt = 0.05}});
    REQUIRE(fwd.success());
    auto bwd = nde::solve(term, nde::implicit_midpoint{}, 10.0, 0.0, fwd.ys.back(), th,
                          {.controller = nde::constant_step{.dt = 0.05}});
    REQUIRE(bwd.success());
    INFO("return error " << (bwd.ys.back() - y0).norm());
    CHECK((bwd.ys.back() - y0).norm() < 1e-11);
  }
}

TEST_CASE("implicit midpoint: discrete-adjoint gradients against central differences",
          "[symplectic][implicit][gradients]") {
  auto term = make_coupled();
  const vecx theta = (vecx(3) << 1.1, 0.9, 0.4).finished();
  const vec2 y0(0.8, 0.3);
  const std::vector<double> ts{0.37, 1.21};
  const std::vector<vec2> cot{vec2(0.5, -1.0), vec2(1.5, 0.25), vec2(-0.7, 0.6)};
  const double t1 = 1.93;
  auto options = [&](std::vector<double> times, nde::adjoint_method adjoint) {
    return nde::solve_options{.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = times},
                              .controller = nde::constant_step{.dt = 0.1},
                              .adjoint = adjoint};
  };
  auto loss = [&](const vec2& y, const vecx& th, double end, const std::vector<double>& times) {
    auto sol = nde::solve(term, nde::implicit_midpoint{}, 0.0, end, y, th,
                          options(times, nde::inference{}));
    REQUIRE(sol.success());
    double l = 0;
    for (std::size_t i = 0; i < sol.ys.size(); ++i) l += cot[i].dot(sol.ys[i]);
    return l;
  };
  auto sol = nde::solve(term, nde::implicit_midpoint{}, 0.0, t1, y0, theta,
                        options(ts, nde::discrete_adjoint{}));
  REQUIRE(sol.success());
  const auto g = sol.backward(cot);
  REQUIRE(g.status == nde::status::success);
  REQUIRE(g.time_gradients);
  const double eps = 1e-6, tol = 1e-7;
  for (int i = 0; i < 3; ++i) {
    vecx e = vecx::Zero(3);
    e[i] = eps;
    const double fd = (loss(y0, theta + e, t1, ts) - loss(y0, theta - e, t1, ts)) / (2 * eps);
    INFO("theta[" << i << "] " << g.params[i] << " vs " << fd);
    CHECK(std::abs(g.params[i] - fd) < tol * (1 + std::abs(fd)));
  }
  for (int i = 0; i < 2; ++i) {
    vec2 e = vec2::Zero();
    e[i] = eps;
    const double fd = (loss(y0 + e, theta, t1, ts) - loss(y0 - e, theta, t1, ts)) / (2 * eps);
    INFO("y0[" << i << "] " << g.y0[i] << " vs " << fd);
    CHECK(std::abs(g.y0[i] - fd) < tol * (1 + std::abs(fd)));
  }
  const double fd_t1 = (loss(y0, theta, t1 + eps, ts) - loss(y0, theta, t1 - eps, ts)) / (2 * eps);
  INFO("t1 " << g.t1 << " vs " << fd_t1);
  CHECK(std::abs(g.t1 - fd_t1) < tol * (1 + std::abs(fd_t1)));
  for (std::size_t i = 0; i < ts.size(); ++i) {
    auto plus = ts, minus = ts;
    plus[i] += eps;
    minus[i] -= eps;
    const double fd = (loss(y0, theta, t1, plus) - loss(y0, theta, t1, minus)) / (2 * eps);
    INFO("ts[" << i << "] " << g.ts[i] << " vs " << fd);
    CHECK(std::abs(g.ts[i] - fd) < tol * (1 + std::abs(fd)));
  }
}

TEST_CASE(
    "implicit midpoint: an unconverged iteration fails the solve, never accepted, bad "
    "settings are refused",
    "[symplectic][implicit][errors]") {
  auto stiff = make_term<linear_force>(1, nde::coupling::separable);
  const vecx theta = (vecx(3) << 1.0, 1e6, 0.0).finished();  // |h|·L/2 = 50 at h = 0.1
  const vec2 y0(1.0, 0.0);
  auto sol = nde::solve(stiff, nde::implicit_midpoint{}, 0.0, 1.0, y0, theta,
                        {.controller = nde::constant_step{.dt = 0.1}});
  CHECK_FALSE(sol.success());
  CHECK(sol.status == nde::status::step_size_too_small);
  CHECK_THAT(sol.message, Catch::Contains("did not converge"));
  CHECK(sol.stats.accepted_steps == 0);
  // With small enough steps it converges.
  auto fine = nde::solve(stiff, nde::implicit_midpoint{}, 0.0, 0.01, y0, theta,
                         {.controller = nde::constant_step{.dt = 1e-4}});
  CHECK(fine.success());
  auto bad = nde::solve(stiff, nde::implicit_midpoint{.tolerance = 0.0}, 0.0, 1.0, y0, theta,
                        {.controller = nde::constant_step{.dt = 0.1}});
  CHECK(bad.status == nde::status::invalid_input);
  CHECK_THAT(bad.message, Catch::Contains("tolerance must be positive"));
  auto adaptive = nde::solve(stiff, nde::implicit_midpoint{}, 0.0, 1.0, y0, theta, {});
  CHECK(adaptive.status == nde::status::invalid_input);
}
