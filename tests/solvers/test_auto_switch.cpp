// auto_switch: explicit while non-stiff, Rosenbrock once Hairer's test finds the problem stiff.
#include <nde/integrate/solve.hpp>
#include <nde/solvers/auto_switch.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/rodas5.hpp>
#include <nde/solvers/tsit5.hpp>

#include <catch.hpp>

#include <cmath>

namespace {

using vec = Eigen::Vector2d;

// Van der Pol, x' = y, y' = μ(1 − x²)y − x (period ≈ 1.61 μ for large μ): non-stiff for small
// μ, stiff for large μ between its fast jumps.
struct van_der_pol {
  double mu;
  void operator()(double, const vec& y, vec& dydt) const {
    dydt = vec(y[1], mu * (1 - y[0] * y[0]) * y[1] - y[0]);
  }
};

}  // namespace

TEST_CASE("auto_switch stays explicit on a non-stiff problem and matches its explicit method",
          "[solvers][auto_switch]") {
  const van_der_pol f{1.0};
  const nde::solve_options options{.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-10}};
  const vec y0(2.0, 0.0);
  const auto switched =
      nde::solve(f, nde::auto_switch<nde::tsit5, nde::rodas5>{}, 0.0, 10.0, y0, options);
  const auto plain = nde::solve(f, nde::tsit5{}, 0.0, 10.0, y0, options);
  REQUIRE(switched.success());
  CHECK_FALSE(switched.stiff);
  CHECK(switched.message.empty());
  // Same steps as tsit5 itself, up to the controller's error-order difference.
  CHECK((switched.ys.back() - plain.ys.back()).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("auto_switch switches to rodas5 on Van der Pol mu = 1000 and needs 100x fewer steps",
          "[solvers][auto_switch]") {
  const van_der_pol f{1000.0};
  const nde::solve_options options{.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-8},
                                   .dense = true};
  const vec y0(2.0, 0.0);
  const double t1 = 100.0;
  const auto switched =
      nde::solve(f, nde::auto_switch<nde::dopri5, nde::rodas5>{}, 0.0, t1, y0, options);
  const auto explicit_only = nde::solve(f, nde::dopri5{}, 0.0, t1, y0, options);
  const auto reference =
      nde::solve(f, nde::rodas5{}, 0.0, t1, y0,
                 {.controller = nde::pid_controller{.rtol = 1e-11, .atol = 1e-13}});
  REQUIRE(switched.success());
  REQUIRE(explicit_only.success());
  REQUIRE(reference.success());
  CHECK(switched.stiff);
  CHECK(switched.stiff_from > 0.0);
  CHECK(switched.stiff_from < 0.5);
  CHECK_THAT(switched.message, Catch::Contains("switched to the implicit method"));
  CHECK(explicit_only.stiff);
  const double error = (switched.ys.back() - reference.ys.back()).cwiseAbs().maxCoeff();
  CHECK(error < 1e-3);
  INFO("auto_switch steps " << switched.stats.accepted_steps << ", dopri5 steps "
                            << explicit_only.stats.accepted_steps);
  CHECK(100 * switched.stats.accepted_steps < explicit_only.stats.accepted_steps);
  // The dense output is continuous across the switch.
  const double ts = switched.stiff_from;
  const vec before = switched.dense(ts - 1e-9), after = switched.dense(ts + 1e-9);
  CHECK((before - after).cwiseAbs().maxCoeff() < 1e-4);
  // A second solve with the same integrator starts explicit again.
  nde::integrator<nde::auto_switch<nde::dopri5, nde::rodas5>, vec> again;
  nde::solution<double, vec> out;
  REQUIRE(again.solve(f, 0.0, t1, y0, options, out) == nde::status::success);
  const van_der_pol mild{1.0};
  REQUIRE(again.solve(mild, 0.0, 1.0, y0, options, out) == nde::status::success);
  CHECK_FALSE(out.stiff);
}

TEST_CASE("auto_switch rejects bad settings", "[solvers][auto_switch]") {
  const van_der_pol f{1.0};
  nde::auto_switch<nde::tsit5, nde::rodas5> bad;
  bad.stiff_steps = 0;
  const auto sol = nde::solve(f, bad, 0.0, 1.0, vec(2.0, 0.0));
  CHECK(sol.status == nde::status::invalid_input);
  CHECK_THAT(sol.message, Catch::Contains("stiff_steps"));
}
