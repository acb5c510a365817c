// Exact discrete adjoints of the symplectic methods and rkn4: gradients with respect to θ, y0,
// t0, t1 and output times against central finite differences, against binomial checkpointing,
// against the discrete adjoint of an explicit Runge-Kutta method that computes the same
// solution (leapfrog = midpoint when b = 0), and the term's own block vjps.
#include "systems.hpp"

#include <catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

using namespace symplectic_test;

TEST_CASE("partitioned_term: vjp_q, vjp_p and vjp against central differences",
          "[symplectic][term]") {
  auto term = make_term<pendulum_force>(1, nde::coupling::separable);
  STATIC_REQUIRE(nde::partitioned_vjp_field<decltype(term), double, vec2>);
  STATIC_REQUIRE(nde::partitioned_time_vjp_field<decltype(term), double, vec2>);
  STATIC_REQUIRE(nde::vjp_field<decltype(term), double, vec2>);
  STATIC_REQUIRE(nde::time_vjp_field<decltype(term), double, vec2>);
  STATIC_REQUIRE_FALSE(decltype(term)::autonomous);
  STATIC_REQUIRE(decltype(make_term<kepler_force>(2))::autonomous);
  const vecx theta = (vecx(3) << 1.3, 0.7, 0.4).finished();
  const vec2 y(0.8, -0.5);
  const vec2 w(0.3, -1.1);
  const double t = 0.9, eps = 1e-6;
  vec2 w_y;
  vecx w_theta = vecx::Zero(3);
  double w_t = 0;
  term.vjp(t, y, nde::params_view<double>(theta), w, w_y, nde::params_ref<double>(w_theta), w_t);
  // Central differences of wᵀ f.
  auto loss = [&](double tt, const vec2& yy, const vecx& th) {
    vec2 out;
    term.vf(tt, yy, nde::params_view<double>(th), out);
    return w.dot(out);
  };
  for (int i = 0; i < 2; ++i) {
    vec2 e = vec2::Zero();
    e[i] = eps;
    CHECK(std::abs(w_y[i] - (loss(t, y + e, theta) - loss(t, y - e, theta)) / (2 * eps)) < 1e-8);
  }
  for (int i = 0; i < 3; ++i) {
    vecx e = vecx::Zero(3);
    e[i] = eps;
    CHECK(std::abs(w_theta[i] - (loss(t, y, theta + e) - loss(t, y, theta - e)) / (2 * eps)) <
          1e-8);
  }
  CHECK(std::abs(w_t - (loss(t + eps, y, theta) - loss(t - eps, y, theta)) / (2 * eps)) < 1e-8);
  // The blocks add up to the full vjp; each reads only its own rows of w.
  vec2 wq, wp;
  vecx th_q = vecx::Zero(3), th_p = vecx::Zero(3);
  const vec2 w_top(w[0], 1e3), w_bottom(-7e2, w[1]);
  term.vjp_q(t, y, nde::params_view<double>(theta), w_top, wq, nde::params_ref<double>(th_q));
  term.vjp_p(t, y, nde::params_view<double>(theta), w_bottom, wp, nde::params_ref<double>(th_p));
  CHECK((wq + wp - w_y).norm() < 1e-15);
  CHECK((th_q + th_p - w_theta).norm() < 1e-15);
  CHECK(wq[0] == 0.0);    // a = θ0 p does not depend on q
  CHECK(wp[1] == 0.0);    // b does not depend on p
  CHECK(th_q[1] == 0.0);  // a does not read θ1
}

namespace {

struct loss_setup {
  double t0 = 0.1, t1 = 1.55, dt = 0.1;
  std::vector<double> ts{0.33, 0.71, 1.47};
  std::vector<vec2> cot;
  explicit loss_setup(unsigned seed) {
    std::mt19937_64 engine(seed);
    std::normal_distribution<double> normal;
    for (int i = 0; i < 4; ++i) cot.emplace_back(normal(engine), normal(engine));
  }
  [[nodiscard]] nde::solve_options options(nde::adjoint_method adjoint = nde::inference{}) const {
    return {.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = ts},
            .controller = nde::constant_step{.dt = dt},
            .adjoint = adjoint};
  }
};

template <class Method, class Term>
double loss_of(Term& term, const Method& method, const loss_setup& s, double t0, double t1,
               const vec2& y0, const vecx& theta, const std::vector<double>& ts) {
  auto opts = s.options();
  opts.save_at.ts = ts;
  auto sol = nde::solve(term, method, t0, t1, y0, theta, opts);
  REQUIRE(sol.success());
  double l = 0;
  for (std::size_t i = 0; i < sol.ys.size(); ++i) l += s.cot[i].dot(sol.ys[i]);
  return l;
}

// Every gradient of the discrete adjoint against central differences of the same solve.
template <class Method, class Term>
void check_against_differences(Term& term, const Method& method, bool check_theta0) {
  const loss_setup s(17);
  const vecx theta = (vecx(3) << 1.0, 0.8, 0.3).finished();
  const vec2 y0(1.2, -0.4);
  auto sol = nde::solve(term, method, s.t0, s.t1, y0, theta, s.options(nde::discrete_adjoint{}));
  REQUIRE(sol.success());
  REQUIRE(sol.ys.size() == 4);
  const auto g = sol.backward(s.cot);
  REQUIRE(g.status == nde::status::success);
  REQUIRE(g.time_gradients);
  const double eps = 1e-6, tol = 2e-7;
  auto loss = [&](double t0, double t1, const vec2& y, const vecx& th,
                  const std::vector<double>& ts) {
    return loss_of(term, method, s, t0, t1, y, th, ts);
  };
  for (int i = 0; i < 3; ++i) {
    if (i == 0 && !check_theta0) continue;
    vecx e = vecx::Zero(3);
    e[i] = eps;
    const double fd =
        (loss(s.t0, s.t1, y0, theta + e, s.ts) - loss(s.t0, s.t1, y0, theta - e, s.ts)) / (2 * eps);
    INFO("theta[" << i << "]: adjoint " << g.params[i] << ", differences " << fd);
    CHECK(std::abs(g.params[i] - fd) < tol * (1 + std::abs(fd)));
  }
  for (int i = 0; i < 2; ++i) {
    vec2 e = vec2::Zero();
    e[i] = eps;
    const double fd =
        (loss(s.t0, s.t1, y0 + e, theta, s.ts) - loss(s.t0, s.t1, y0 - e, theta, s.ts)) / (2 * eps);
    INFO("y0[" << i << "]: adjoint " << g.y0[i] << ", differences " << fd);
    CHECK(std::abs(g.y0[i] - fd) < tol * (1 + std::abs(fd)));
  }
  const double fd_t1 =
      (loss(s.t0, s.t1 + eps, y0, theta, s.ts) - loss(s.t0, s.t1 - eps, y0, theta, s.ts)) /
      (2 * eps);
  INFO("t1: adjoint " << g.t1 << ", differences " << fd_t1);
  CHECK(std::abs(g.t1 - fd_t1) < tol * (1 + std::abs(fd_t1)));
  const double fd_t0 =
      (loss(s.t0 + eps, s.t1, y0, theta, s.ts) - loss(s.t0 - eps, s.t1, y0, theta, s.ts)) /
      (2 * eps);
  INFO("t0: adjoint " << g.t0 << ", differences " << fd_t0);
  CHECK(std::abs(g.t0 - fd_t0) < tol * (1 + std::abs(fd_t0)));
  for (std::size_t i = 0; i < s.ts.size(); ++i) {
    auto plus = s.ts, minus = s.ts;
    plus[i] += eps;
    minus[i] -= eps;
    const double fd =
        (loss(s.t0, s.t1, y0, theta, plus) - loss(s.t0, s.t1, y0, theta, minus)) / (2 * eps);
    INFO("ts[" << i << "]: adjoint " << g.ts[i] << ", differences " << fd);
    CHECK(std::abs(g.ts[i] - fd) < tol * (1 + std::abs(fd)));
  }
  // Binomial checkpointing (3 states) gives the same gradient.
  auto cp = nde::solve(term, method, s.t0, s.t1, y0, theta,
                       s.options(nde::discrete_adjoint{.max_checkpoints = 3}));
  REQUIRE(cp.success());
  const auto gc = cp.backward(s.cot);
  REQUIRE(gc.status == nde::status::success);
  CHECK((gc.params - g.params).norm() <= 1e-13 * (1 + g.params.norm()));
  CHECK((gc.y0 - g.y0).norm() <= 1e-13 * (1 + g.y0.norm()));
  CHECK(std::abs(gc.t1 - g.t1) <= 1e-13 * (1 + std::abs(g.t1)));
  CHECK(gc.stats.peak_stored_states <= 3);
}

}  // namespace

TEST_CASE(
    "discrete adjoints of the splitting methods and rkn4 match central differences "
    "(θ, y0, t0, t1, output times, a forced, non-autonomous pendulum)",
    "[symplectic][gradients]") {
  auto separable = make_term<pendulum_force>(1, nde::coupling::separable);
  auto second = make_term<pendulum_force>(1, nde::coupling::second_order);
  SECTION("symplectic_euler") {
    check_against_differences(separable, nde::symplectic_euler{}, true);
  }
  SECTION("leapfrog") { check_against_differences(separable, nde::leapfrog{}, true); }
  SECTION("forest_ruth") { check_against_differences(separable, nde::forest_ruth{}, true); }
  // rkn4 never evaluates a (= p by the second-order promise), so θ0 is not checked.
  SECTION("rkn4") { check_against_differences(second, nde::rkn4{}, false); }
}

namespace {

// a = θ0 p + θ2 sin t, b = 0: leapfrog's step is exactly the explicit midpoint rule.
struct timed_velocity {
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T t, const Q&, const P& p, const Th& th, D& dq) const {
    dq = th[0] * p;
    dq.array() += th[2] * std::sin(static_cast<double>(t));
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T t, const Q&, const P& p, const Th& th, const W& w, WQ&, WP& w_p, WTh& w_th) const {
    w_p += th[0] * w;
    w_th[0] += w.cwiseProduct(p).sum();
    w_th[2] += w.sum() * std::sin(static_cast<double>(t));
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh, class S>
  void vjp(T t, const Q& q, const P& p, const Th& th, const W& w, WQ& w_q, WP& w_p, WTh& w_th,
           S& w_t) const {
    vjp(t, q, p, th, w, w_q, w_p, w_th);
    w_t += th[2] * std::cos(static_cast<double>(t)) * w.sum();
  }
};
struct zero_force {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q&, const P&, const Th&, D& dp) const {
    dp.setZero();
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh, class... S>
  void vjp(T, const Q&, const P&, const Th&, const W&, WQ&, WP&, WTh&, S&...) const {}
};

}  // namespace

TEST_CASE("leapfrog with b = 0 is the explicit midpoint rule: same solution, same gradients",
          "[symplectic][gradients]") {
  nde::partitioned_term<timed_velocity, zero_force> term(timed_velocity{}, zero_force{}, 2,
                                                         nde::coupling::separable);
  const vecx theta = (vecx(3) << 0.9, 0.0, 0.6).finished();
  const vec4 y0(0.3, -0.2, 1.1, 0.5);
  const nde::solve_options opts{
      .save_at = {.t0 = false, .t1 = true, .steps = false, .ts = {0.42, 1.1}},
      .controller = nde::constant_step{.dt = 0.125},
      .adjoint = nde::discrete_adjoint{}};
  auto lf = nde::solve(term, nde::leapfrog{}, 0.0, 1.3, y0, theta, opts);
  auto mp = nde::solve(term, nde::midpoint{}, 0.0, 1.3, y0, theta, opts);
  REQUIRE(lf.success());
  REQUIRE(mp.success());
  // Step ends agree to round-off (dense outputs differ: Hermite vs midpoint's own).
  CHECK((lf.ys.back() - mp.ys.back()).norm() <= 1e-15 * (1 + mp.ys.back().norm()));
  const std::vector<vec4> cot{vec4::Zero(), vec4::Zero(), vec4(0.7, -1.2, 0.4, 2.0)};
  const auto gl = lf.backward(cot);
  const auto gm = mp.backward(cot);
  REQUIRE(gl.status == nde::status::success);
  REQUIRE(gm.status == nde::status::success);
  INFO("leapfrog dθ " << gl.params.transpose() << ", midpoint dθ " << gm.params.transpose());
  CHECK((gl.params - gm.params).norm() <= 1e-13 * (1 + gm.params.norm()));
  CHECK((gl.y0 - gm.y0).norm() <= 1e-13 * (1 + gm.y0.norm()));
  CHECK(std::abs(gl.t1 - gm.t1) <= 1e-13 * (1 + std::abs(gm.t1)));
  CHECK(std::abs(gl.t0 - gm.t0) <= 1e-13 * (1 + std::abs(gm.t0)));
  CHECK(gl.params.norm() > 0.1);  // a non-trivial gradient
}

TEST_CASE(
    "Kepler (autonomous): leapfrog and Forest-Ruth gradients through 200 steps (the last one "
    "shortened onto t1) against "
    "central differences, a batch's gradient is the sum of its columns'",
    "[symplectic][gradients]") {
  auto kepler = make_term<kepler_force>(2, nde::coupling::separable);
  const vecx theta = (vecx(3) << 1.0, 1.1, 0.0).finished();
  const vec4 y0 = kepler_start(0.6);
  const vec4 c(0.3, -0.8, 0.5, 0.1);
  auto run = [&](const auto& method, const vec4& y, const vecx& th, double t1) {
    auto sol =
        nde::solve(kepler, method, 0.0, t1, y, th, {.controller = nde::constant_step{.dt = 0.02}});
    REQUIRE(sol.success());
    return c.dot(sol.ys.back());
  };
  auto check = [&](const auto& method) {
    auto sol = nde::solve(
        kepler, method, 0.0, 3.99, y0, theta,
        {.controller = nde::constant_step{.dt = 0.02}, .adjoint = nde::discrete_adjoint{}});
    REQUIRE(sol.success());
    const auto g = sol.backward(std::vector<vec4>{c});
    REQUIRE(g.status == nde::status::success);
    const double eps = 1e-6;
    for (int i = 0; i < 2; ++i) {
      vecx e = vecx::Zero(3);
      e[i] = eps;
      const double fd =
          (run(method, y0, theta + e, 3.99) - run(method, y0, theta - e, 3.99)) / (2 * eps);
      CHECK(std::abs(g.params[i] - fd) < 1e-6 * (1 + std::abs(fd)));
    }
    for (int i = 0; i < 4; ++i) {
      vec4 e = vec4::Zero();
      e[i] = eps;
      const double fd =
          (run(method, y0 + e, theta, 3.99) - run(method, y0 - e, theta, 3.99)) / (2 * eps);
      CHECK(std::abs(g.y0[i] - fd) < 1e-6 * (1 + std::abs(fd)));
    }
    const double fd_t1 =
        (run(method, y0, theta, 3.99 + eps) - run(method, y0, theta, 3.99 - eps)) / (2 * eps);
    CHECK(std::abs(g.t1 - fd_t1) < 1e-6 * (1 + std::abs(fd_t1)));
    CHECK(g.params[2] == 0.0);  // θ2 is not read
  };
  check(nde::leapfrog{});
  check(nde::forest_ruth{});

  // Batch (pendulum, 2 columns) against the columns alone.
  auto pendulum = make_term<pendulum_force>(1, nde::coupling::separable);
  const vecx th = (vecx(3) << 1.0, 0.9, 0.2).finished();
  matx yb(2, 2);
  yb << 0.5, 1.5, 0.1, -0.2;
  matx cb(2, 2);
  cb << 1.0, -0.5, 0.3, 0.8;
  const nde::solve_options opts{.controller = nde::constant_step{.dt = 0.1},
                                .adjoint = nde::discrete_adjoint{}};
  auto batch = nde::solve(pendulum, nde::forest_ruth{}, 0.0, 2.0, yb, th, opts);
  REQUIRE(batch.success());
  const auto gb = batch.backward(std::vector<matx>{cb});
  REQUIRE(gb.status == nde::status::success);
  vecx sum = vecx::Zero(3);
  for (Eigen::Index k = 0; k < 2; ++k) {
    const vecx column = yb.col(k);
    auto one = nde::solve(pendulum, nde::forest_ruth{}, 0.0, 2.0, column, th, opts);
    REQUIRE(one.success());
    const auto g1 = one.backward(std::vector<vecx>{cb.col(k)});
    REQUIRE(g1.status == nde::status::success);
    sum += g1.params;
    CHECK((gb.y0.col(k) - g1.y0).norm() <= 1e-14);
  }
  CHECK((gb.params - sum).norm() <= 1e-13 * (1 + sum.norm()));
}

namespace {
struct plain_velocity {
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q&, const P& p, const Th&, D& dq) const {
    dq = p;
  }
};
}  // namespace

TEST_CASE("forward sensitivities are refused with a message (no jvp, no tangent step)",
          "[symplectic][gradients][errors]") {
  auto term = make_term<pendulum_force>(1, nde::coupling::separable);
  const vecx theta = unit_params();
  const vec2 y0(1.0, 0.0);
  auto sol = nde::solve(
      term, nde::leapfrog{}, 0.0, 1.0, y0, theta,
      {.controller = nde::constant_step{.dt = 0.1}, .adjoint = nde::forward_sensitivity{}});
  CHECK(sol.status == nde::status::invalid_input);
  CHECK_THAT(sol.message, Catch::Contains("forward_sensitivity needs"));
  // A term without vjps cannot use the discrete adjoint: refused the same way.
  nde::partitioned_term<plain_velocity, pendulum_force> no_vjp(plain_velocity{}, pendulum_force{},
                                                               1, nde::coupling::separable);
  STATIC_REQUIRE_FALSE(nde::partitioned_vjp_field<decltype(no_vjp), double, vec2>);
  auto sol2 =
      nde::solve(no_vjp, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                 {.controller = nde::constant_step{.dt = 0.1}, .adjoint = nde::discrete_adjoint{}});
  CHECK(sol2.status == nde::status::invalid_input);
  CHECK_THAT(sol2.message, Catch::Contains("vector-Jacobian product"));
  // Without a gradient method it solves.
  CHECK(nde::solve(no_vjp, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                   {.controller = nde::constant_step{.dt = 0.1}})
            .success());
}

TEST_CASE("continuous adjoints with a splitting method are refused at backward with a message",
          "[symplectic][gradients][errors]") {
  // Their backward solve integrates an augmented system that has no (q, p) blocks.
  auto term = make_term<pendulum_force>(1, nde::coupling::separable);
  const vecx theta = unit_params();
  const vec2 y0(1.0, 0.0);
  for (const nde::adjoint_method& method : {nde::adjoint_method(nde::backsolve_adjoint{}),
                                            nde::adjoint_method(nde::checkpointed_adjoint{})}) {
    auto sol = nde::solve(term, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}, .adjoint = method});
    REQUIRE(sol.success());
    const auto g = sol.backward(std::vector<vec2>{vec2(1.0, 0.0)});
    CHECK(g.status == nde::status::invalid_input);
    CHECK_THAT(g.message, Catch::Contains("use nde::discrete_adjoint{} with this method"));
  }
}
