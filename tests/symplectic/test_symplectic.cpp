// The explicit symplectic methods (symplectic Euler, leapfrog, Forest-Ruth) and rkn4 through
// nde::solve: empirical orders on the harmonic oscillator and the pendulum, bounded energy
// error over 10^4 periods (harmonic oscillator, Kepler e = 0.6) where rk4/dopri5 at the same
// number of force evaluations drift, symplecticity of the step map (MᵀJM = J), time
// reversibility, dense output, and the errors bad input gets.
#include "systems.hpp"

#include <catch.hpp>
#include <sanitized.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

using namespace symplectic_test;

using nde_test::sanitized;

namespace {

// Global error at T of `method` with constant step dt against `exact`.
template <class Method, class Term, class State>
double error_at(Term& term, const Method& method, double dt, double t_end, const State& y0,
                const State& exact) {
  const vecx theta = unit_params();
  auto sol = nde::solve(term, method, 0.0, t_end, y0, theta,
                        {.controller = nde::constant_step{.dt = dt}, .max_steps = 10000000});
  REQUIRE(sol.success());
  return (sol.ys.back() - exact).norm();
}

template <class Method, class Term, class State>
double measured_order(Term& term, const Method& method, const std::vector<double>& dts,
                      double t_end, const State& y0, const State& exact) {
  std::vector<double> errors;
  for (double dt : dts) errors.push_back(error_at(term, method, dt, t_end, y0, exact));
  for (std::size_t i = 0; i < dts.size(); ++i) INFO("dt = " << dts[i] << " error " << errors[i]);
  return nde::testing::convergence_order(dts, errors);
}

}  // namespace

TEST_CASE("empirical orders on the harmonic oscillator (exact solution) and the pendulum",
          "[symplectic][order]") {
  auto harmonic = make_term<linear_force>(1, nde::coupling::second_order);
  auto pendulum = make_term<pendulum_force>(1, nde::coupling::second_order);
  const vec2 y0(1.0, 0.5);
  const double t_end = 5.0;
  const vec2 exact(y0[0] * std::cos(t_end) + y0[1] * std::sin(t_end),
                   -y0[0] * std::sin(t_end) + y0[1] * std::cos(t_end));
  // Pendulum reference: rk4 with a step far below the ones measured.
  const vec2 yp0(2.0, 0.0);  // a large swing: strongly nonlinear
  const vecx theta = unit_params();
  auto ref = nde::solve(pendulum, nde::rk4{}, 0.0, t_end, yp0, theta,
                        {.controller = nde::constant_step{.dt = 2e-4}, .max_steps = 1000000});
  REQUIRE(ref.success());
  const vec2 reference = ref.ys.back();

  const std::vector<double> coarse{0.1, 0.05, 0.025, 0.0125};
  const std::vector<double> fine{0.2, 0.1, 0.05, 0.025};
  struct row {
    const char* name;
    double nominal;
    double harmonic, pendulum;
  };
  std::vector<row> rows;
  rows.push_back(
      {"symplectic_euler", 1,
       measured_order(harmonic, nde::symplectic_euler{}, coarse, t_end, y0, exact),
       measured_order(pendulum, nde::symplectic_euler{}, coarse, t_end, yp0, reference)});
  rows.push_back({"leapfrog", 2,
                  measured_order(harmonic, nde::leapfrog{}, coarse, t_end, y0, exact),
                  measured_order(pendulum, nde::leapfrog{}, coarse, t_end, yp0, reference)});
  rows.push_back({"forest_ruth", 4,
                  measured_order(harmonic, nde::forest_ruth{}, fine, t_end, y0, exact),
                  measured_order(pendulum, nde::forest_ruth{}, fine, t_end, yp0, reference)});
  rows.push_back({"rkn4", 4, measured_order(harmonic, nde::rkn4{}, coarse, t_end, y0, exact),
                  measured_order(pendulum, nde::rkn4{}, coarse, t_end, yp0, reference)});
  for (const auto& r : rows) {
    INFO(r.name << ": harmonic " << r.harmonic << ", pendulum " << r.pendulum << ", nominal "
                << r.nominal);
    CHECK(std::abs(r.harmonic - r.nominal) < 0.2);
    CHECK(std::abs(r.pendulum - r.nominal) < 0.2);
  }
}

TEST_CASE("the splitting methods count f-evaluation equivalents, rkn4 counts force evaluations",
          "[symplectic][cost]") {
  auto term = make_term<pendulum_force>(1, nde::coupling::second_order);
  const vecx theta = unit_params();
  const vec2 y0(1.0, 0.0);
  const auto opts = nde::solve_options{.controller = nde::constant_step{.dt = 0.1}};
  // 100 steps; leapfrog: init (1) + 100 × (b + a) halves + 99 evaluate_end halves.
  auto lf = nde::solve(term, nde::leapfrog{}, 0.0, 10.0, y0, theta, opts);
  REQUIRE(lf.success());
  CHECK(lf.stats.accepted_steps == 100);
  CHECK(lf.stats.rhs_evals == (2 + 200 + 99) / 2);
  auto fr = nde::solve(term, nde::forest_ruth{}, 0.0, 10.0, y0, theta, opts);
  REQUIRE(fr.success());
  CHECK(fr.stats.rhs_evals == (2 + 600 + 99) / 2);
  // rkn4: f0 + 100 × 2 stages + 99 × b(t1, y1).
  auto rkn = nde::solve(term, nde::rkn4{}, 0.0, 10.0, y0, theta, opts);
  REQUIRE(rkn.success());
  CHECK(rkn.stats.rhs_evals == 1 + 200 + 99);
}

namespace {

// Max |H - H0| over the first and the last 10 % of the steps of a run of `periods` periods
// with `steps` steps each (the solve goes period by period through one reused integrator).
struct energy_record {
  double first = 0, last = 0, overall = 0;
  std::size_t force_evals = 0;
};

template <class Method, class Term, class State, class Energy>
energy_record energy_run(Term& term, const Method& method, const State& y0, double period,
                         int periods, int steps, Energy energy) {
  const vecx theta = unit_params();
  nde::integrator<Method, State> solver(method, y0);
  nde::solution<double, State> sol;
  const double h0 = energy(y0);
  energy_record r;
  State y = y0;
  const auto opts = nde::solve_options{.save_at = nde::save_at::every_step(),
                                       .controller = nde::constant_step{.dt = period / steps}};
  for (int k = 0; k < periods; ++k) {
    REQUIRE(solver.solve(term, k * period, (k + 1) * period, y, nde::params_view<double>(theta),
                         opts, sol) == nde::status::success);
    r.force_evals += sol.stats.rhs_evals;
    double worst = 0;
    for (const auto& s : sol.ys) worst = std::max(worst, std::abs(energy(s) - h0));
    if (k < periods / 10) r.first = std::max(r.first, worst);
    if (k >= periods - periods / 10) r.last = std::max(r.last, worst);
    r.overall = std::max(r.overall, worst);
    y = sol.ys.back();
  }
  return r;
}

}  // namespace

TEST_CASE(
    "energy error stays bounded over 10^4 periods (300 under sanitizers), rk4 and dopri5 at the "
    "same cost drift",
    "[symplectic][energy]") {
  // 10^4 periods; the sanitizer builds (-O0, ~170x slower here) run 300 with the same checks
  // (the Runge-Kutta drift is linear in time, so last/first stays ~10 at any length).
  const int periods = sanitized ? 300 : 10000;
  const double two_pi = 2 * std::acos(-1.0);
  SECTION("harmonic oscillator") {
    auto term = make_term<linear_force>(1, nde::coupling::second_order);
    const vec2 y0(1.0, 0.0);
    // 240 force evaluations per period for every method: leapfrog 240 steps (1 b each),
    // Forest-Ruth 80 (3), rk4 60 (4), dopri5 40 (6, first same as last).
    const auto lf = energy_run(term, nde::leapfrog{}, y0, two_pi, periods, 240, harmonic_energy);
    const auto fr = energy_run(term, nde::forest_ruth{}, y0, two_pi, periods, 80, harmonic_energy);
    const auto rk = energy_run(term, nde::rk4{}, y0, two_pi, periods, 60, harmonic_energy);
    const auto dp = energy_run(term, nde::dopri5{}, y0, two_pi, periods, 40, harmonic_energy);
    INFO("leapfrog first/last " << lf.first << " " << lf.last << "; forest_ruth " << fr.first << " "
                                << fr.last << "; rk4 " << rk.first << " " << rk.last << "; dopri5 "
                                << dp.first << " " << dp.last);
    CHECK(lf.last <= 1.5 * lf.first);
    CHECK(fr.last <= 1.5 * fr.first);
    CHECK(lf.overall < 0.02);
    CHECK(fr.overall < 0.02);
    CHECK(rk.last > 5 * rk.first);
    CHECK(dp.last > 5 * dp.first);
    if (!sanitized) CHECK(rk.last > 10 * lf.overall);  // after 10^4 periods
  }
  SECTION("Kepler, eccentricity 0.6") {
    auto term = make_term<kepler_force>(2, nde::coupling::second_order);
    const vec4 y0 = kepler_start(0.6);
    // 960 force evaluations per period.
    const auto lf = energy_run(term, nde::leapfrog{}, y0, two_pi, periods, 960, kepler_energy);
    const auto fr = energy_run(term, nde::forest_ruth{}, y0, two_pi, periods, 320, kepler_energy);
    const auto rk = energy_run(term, nde::rk4{}, y0, two_pi, periods, 240, kepler_energy);
    const auto dp = energy_run(term, nde::dopri5{}, y0, two_pi, periods, 160, kepler_energy);
    INFO("leapfrog first/last " << lf.first << " " << lf.last << "; forest_ruth " << fr.first << " "
                                << fr.last << "; rk4 " << rk.first << " " << rk.last << "; dopri5 "
                                << dp.first << " " << dp.last);
    CHECK(lf.last <= 1.5 * lf.first);
    CHECK(fr.last <= 1.5 * fr.first);
    CHECK(lf.overall < 0.05);
    CHECK(fr.overall < 0.05);
    CHECK(rk.last > 5 * rk.first);
    CHECK(dp.last > 5 * dp.first);
  }
}

namespace {

// Jacobian M = ∂y1/∂y0 of `steps` steps of size h, row by row from the exact discrete adjoint.
template <class Method, class Term, class State>
matx step_jacobian(Term& term, const Method& method, const State& y0, double h, int steps) {
  const vecx theta = unit_params();
  auto sol =
      nde::solve(term, method, 0.0, h * steps, y0, theta,
                 {.controller = nde::constant_step{.dt = h}, .adjoint = nde::discrete_adjoint{}});
  REQUIRE(sol.success());
  const auto n = y0.rows();
  matx m(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    std::vector<State> cot(1, State::Zero(n));
    cot[0][i] = 1;
    const auto g = sol.backward(cot);
    REQUIRE(g.status == nde::status::success);
    m.row(i) = g.y0.transpose();
  }
  return m;
}

// Central differences of the same map.
template <class Method, class Term, class State>
matx step_jacobian_fd(Term& term, const Method& method, const State& y0, double h, int steps) {
  const vecx theta = unit_params();
  const auto n = y0.rows();
  matx m(n, n);
  const double eps = 1e-6;
  for (Eigen::Index j = 0; j < n; ++j) {
    State plus = y0, minus = y0;
    plus[j] += eps;
    minus[j] -= eps;
    const auto opts = nde::solve_options{.controller = nde::constant_step{.dt = h}};
    auto a = nde::solve(term, method, 0.0, h * steps, plus, theta, opts);
    auto b = nde::solve(term, method, 0.0, h * steps, minus, theta, opts);
    m.col(j) = (a.ys.back() - b.ys.back()) / (2 * eps);
  }
  return m;
}

template <class Method, class Term, class State>
double symplecticity_defect(Term& term, const Method& method, const State& y0, double h, int steps,
                            Eigen::Index half) {
  const matx m = step_jacobian(term, method, y0, h, steps);
  const matx fd = step_jacobian_fd(term, method, y0, h, steps);
  INFO("discrete-adjoint Jacobian vs central differences: " << (m - fd).norm());
  CHECK((m - fd).norm() <= 1e-6 * (1 + m.norm()));
  const matx j = canonical_j(half);
  return (m.transpose() * j * m - j).norm() / (1 + m.squaredNorm());
}

}  // namespace

TEST_CASE("the step map is symplectic to round-off (MᵀJM = J), rk4's is not",
          "[symplectic][geometry]") {
  auto pendulum = make_term<pendulum_force>(1, nde::coupling::second_order);
  auto kepler = make_term<kepler_force>(2, nde::coupling::second_order);
  const vec2 yp(1.3, 0.4);
  const vec4 yk = kepler_start(0.6);
  for (int steps : {1, 25}) {
    CHECK(symplecticity_defect(pendulum, nde::symplectic_euler{}, yp, 0.3, steps, 1) < 1e-14);
    CHECK(symplecticity_defect(pendulum, nde::leapfrog{}, yp, 0.3, steps, 1) < 1e-14);
    CHECK(symplecticity_defect(pendulum, nde::forest_ruth{}, yp, 0.3, steps, 1) < 1e-14);
    CHECK(symplecticity_defect(kepler, nde::leapfrog{}, yk, 0.05, steps, 2) < 1e-14);
    CHECK(symplecticity_defect(kepler, nde::forest_ruth{}, yk, 0.05, steps, 2) < 1e-14);
    // The check can fail: rk4 and rkn4 are not symplectic.
    CHECK(symplecticity_defect(pendulum, nde::rk4{}, yp, 0.3, steps, 1) > 1e-10);
    CHECK(symplecticity_defect(pendulum, nde::rkn4{}, yp, 0.3, steps, 1) > 1e-10);
  }
}

TEST_CASE("leapfrog and Forest-Ruth are time-reversible, symplectic Euler is not",
          "[symplectic][geometry]") {
  auto kepler = make_term<kepler_force>(2, nde::coupling::separable);
  const vecx theta = unit_params();
  const vec4 y0 = kepler_start(0.6);
  const double t_end = 20.0, dt = 0.01;
  auto back_and_forth = [&](const auto& method) {
    auto fwd = nde::solve(kepler, method, 0.0, t_end, y0, theta,
                          {.controller = nde::constant_step{.dt = dt}});
    REQUIRE(fwd.success());
    auto bwd = nde::solve(kepler, method, t_end, 0.0, fwd.ys.back(), theta,
                          {.controller = nde::constant_step{.dt = dt}});
    REQUIRE(bwd.success());
    CHECK(bwd.stats.accepted_steps == 2000);
    return (bwd.ys.back() - y0).norm();
  };
  const double lf = back_and_forth(nde::leapfrog{});
  const double fr = back_and_forth(nde::forest_ruth{});
  const double se = back_and_forth(nde::symplectic_euler{});
  INFO("return error: leapfrog " << lf << ", forest_ruth " << fr << ", symplectic_euler " << se);
  CHECK(lf < 1e-11);
  CHECK(fr < 1e-11);
  CHECK(se > 1e-4);
}

TEST_CASE("dense output between steps is the cubic Hermite interpolant, of order 3 in dt",
          "[symplectic][dense]") {
  auto harmonic = make_term<linear_force>(1, nde::coupling::second_order);
  const vecx theta = unit_params();
  const vec2 y0(1.0, 0.0);
  std::vector<double> dts{0.2, 0.1, 0.05, 0.025}, errors;
  for (double dt : dts) {
    // Output times in the middle of steps.
    std::vector<double> ts;
    for (int k = 0; k < 10; ++k) ts.push_back((k + 0.37) * 0.4);
    auto sol = nde::solve(
        harmonic, nde::forest_ruth{}, 0.0, 4.0, y0, theta,
        {.save_at = nde::save_at::times(ts), .controller = nde::constant_step{.dt = dt}});
    REQUIRE(sol.success());
    double worst = 0;
    for (std::size_t i = 0; i < ts.size(); ++i)
      worst = std::max(worst, (sol.ys[i] - vec2(std::cos(ts[i]), -std::sin(ts[i]))).norm());
    errors.push_back(worst);
  }
  const double order = nde::testing::convergence_order(dts, errors);
  INFO("dense-output order " << order);
  // Hermite on a fourth-order method: the interpolation error O(h^4) dominates at the node
  // values' order; at least 3.
  CHECK(order > 2.8);
  // Saved at step ends, the value is the step's own y1 (bit for bit).
  auto ends = nde::solve(harmonic, nde::forest_ruth{}, 0.0, 1.0, y0, theta,
                         {.save_at = nde::save_at::times({0.25, 0.5, 1.0}),
                          .controller = nde::constant_step{.dt = 0.25}});
  auto steps = nde::solve(
      harmonic, nde::forest_ruth{}, 0.0, 1.0, y0, theta,
      {.save_at = nde::save_at::every_step(), .controller = nde::constant_step{.dt = 0.25}});
  REQUIRE(ends.success());
  REQUIRE(steps.success());
  CHECK(ends.ys[0] == steps.ys[1]);
  CHECK(ends.ys[2] == steps.ys[4]);
}

TEST_CASE("batches: columns are independent systems with one shared step", "[symplectic][batch]") {
  auto pendulum = make_term<pendulum_force>(1, nde::coupling::separable);
  const vecx theta = unit_params();
  matx y0(2, 3);
  y0 << 0.5, 1.0, 2.0, 0.0, -0.3, 0.2;
  auto batch = nde::solve(pendulum, nde::forest_ruth{}, 0.0, 3.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
  REQUIRE(batch.success());
  for (Eigen::Index c = 0; c < 3; ++c) {
    const vecx column = y0.col(c);
    auto one = nde::solve(pendulum, nde::forest_ruth{}, 0.0, 3.0, column, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
    REQUIRE(one.success());
    CHECK((batch.ys.back().col(c) - one.ys.back()).norm() <= 1e-15);
  }
}

TEST_CASE(
    "bad input: non-separable terms, odd states, adaptive control, rkn4 on a first-order "
    "term, non-finite values",
    "[symplectic][errors]") {
  const vecx theta = unit_params();
  SECTION("a term not declared separable is refused, naming the problem") {
    auto general = make_term<pendulum_force>(1, nde::coupling::general);
    CHECK_FALSE(general.separable());
    const vec2 y0(1.0, 0.0);
    for (const auto& message : {nde::solve(general, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                                           {.controller = nde::constant_step{.dt = 0.1}})
                                    .message,
                                nde::solve(general, nde::forest_ruth{}, 0.0, 1.0, y0, theta,
                                           {.controller = nde::constant_step{.dt = 0.1}})
                                    .message,
                                nde::solve(general, nde::symplectic_euler{}, 0.0, 1.0, y0, theta,
                                           {.controller = nde::constant_step{.dt = 0.1}})
                                    .message}) {
      CHECK_THAT(message, Catch::Contains("needs a separable term"));
      CHECK_THAT(message, Catch::Contains("nde::coupling::separable"));
    }
    auto sol = nde::solve(general, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message, Catch::Contains("leapfrog"));
    // Runge-Kutta methods integrate it as an ordinary ODE.
    CHECK(nde::solve(general, nde::rk4{}, 0.0, 1.0, y0, theta,
                     {.controller = nde::constant_step{.dt = 0.1}})
              .success());
  }
  SECTION("a state with a row count other than 2·half") {
    auto term = make_term<pendulum_force>(2, nde::coupling::separable);
    const vecx y0 = vecx::Ones(3);
    auto sol = nde::solve(term, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message, Catch::Contains("y0 has 3 rows but the vector field takes 4"));
  }
  SECTION("an adaptive controller on a fixed-step method") {
    auto term = make_term<pendulum_force>(1, nde::coupling::second_order);
    const vec2 y0(1.0, 0.0);
    auto sol = nde::solve(term, nde::leapfrog{}, 0.0, 1.0, y0, theta, {});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message,
               Catch::Contains("pid_controller needs a method with an embedded error"));
    auto rkn = nde::solve(term, nde::rkn4{}, 0.0, 1.0, y0, theta, {});
    CHECK(rkn.status == nde::status::invalid_input);
  }
  SECTION("rkn4 needs q' = p") {
    auto term = make_term<pendulum_force>(1, nde::coupling::separable);
    const vec2 y0(1.0, 0.0);
    auto sol = nde::solve(term, nde::rkn4{}, 0.0, 1.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message, Catch::Contains("rkn4 needs a second-order term"));
  }
  SECTION("a NaN in a kick fails the solve with non_finite") {
    auto term = make_term<kepler_force>(2, nde::coupling::separable);
    const vec4 y0 = vec4::Zero();  // r = 0: the force is NaN
    auto sol = nde::solve(term, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
    CHECK(sol.status == nde::status::non_finite);
    vec4 close = kepler_start(0.6);
    close.head<2>() *= 1e-200;  // 1/r³ overflows in the first kicks
    auto sol2 = nde::solve(term, nde::forest_ruth{}, 0.0, 1.0, close, theta,
                           {.controller = nde::constant_step{.dt = 0.1}});
    CHECK_FALSE(sol2.success());
  }
}
