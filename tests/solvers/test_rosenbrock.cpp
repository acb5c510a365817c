// Rosenbrock methods (rosenbrock23, rodas4, rodas5): empirical orders of the solution, the
// error estimate and the dense output; Prothero–Robinson far beyond the explicit stability
// limit; ROBER and Van der Pol (μ = 1000) against tight references from the same code and
// against dopri5; bad input; batch states; no allocation once sized; continuous adjoints
// against central finite differences.
#define EIGEN_RUNTIME_NO_MALLOC
#include <nde/adjoint/differentiable_solve.hpp>
#include <nde/integrate/solve.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/rodas4.hpp>
#include <nde/solvers/rodas5.hpp>
#include <nde/solvers/rosenbrock23.hpp>
#include <nde/terms/autodiff_field.hpp>
#include <nde/terms/ode_term.hpp>
#include <nde/testing/convergence.hpp>

#include <catch.hpp>
#include <sanitized.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace {

using vec = Eigen::VectorXd;
using mat = Eigen::MatrixXd;
const vec no_params(0);
const nde::params_view<double> none(no_params);

// ---- problems ---------------------------------------------------------------------------

// A manufactured non-stiff, non-autonomous problem whose Jacobian depends on y, with the exact
// solution g(t) = (sin t, 1 + cos(2t)/2): f = g' + L(y − g) + N(y) − N(g), N(y) = (y₁²/2,
// −0.3 y₀y₁). Exact J and ∂f/∂t (a jvp), so the orders are those of the methods.
struct manufactured {
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  static vec exact(double t) {
    return (vec(2) << std::sin(t), 1 + 0.5 * std::cos(2 * t)).finished();
  }
  static vec exact_rate(double t) { return (vec(2) << std::cos(t), -std::sin(2 * t)).finished(); }
  static void nonlinear(const vec& y, vec& out) {
    out.resize(2);
    out[0] = 0.5 * y[1] * y[1];
    out[1] = -0.3 * y[0] * y[1];
  }
  static mat jacobian_at(const vec& y) {
    return (mat(2, 2) << -1, 0.5 + y[1], -0.5 - 0.3 * y[1], -2 - 0.3 * y[0]).finished();
  }
  void operator()(double t, const vec& y, nde::params_view<double>, vec& dydt) const {
    const vec g = exact(t);
    vec ny, ng;
    nonlinear(y, ny);
    nonlinear(g, ng);
    const mat l = (mat(2, 2) << -1, 0.5, -0.5, -2).finished();
    dydt = exact_rate(t) + l * (y - g) + ny - ng;
  }
  void jacobian(double, const vec& y, nde::params_view<double>, mat& jac) const {
    jac = jacobian_at(y);
  }
  void jvp(double t, const vec& y, nde::params_view<double>, const vec& y_dot,
           nde::params_view<double>, double t_dot, vec& out) const {
    // ∂f/∂t = g'' − (L + ∂N(g)) g'.
    const vec g = exact(t), g1 = exact_rate(t);
    const vec g2 = (vec(2) << -std::sin(t), -2 * std::cos(2 * t)).finished();
    out = jacobian_at(y) * y_dot + t_dot * (g2 - jacobian_at(g) * g1);
  }
};

// Prothero–Robinson: y' = −λ(y − sin t) + cos t, y(0) = 0, exact y = sin t.
struct prothero_robinson {
  double lambda = 1e6;
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double t, const vec& y, nde::params_view<double>, vec& dydt) const {
    dydt.resize(1);
    dydt[0] = -lambda * (y[0] - std::sin(t)) + std::cos(t);
  }
  void jacobian(double, const vec&, nde::params_view<double>, mat& jac) const {
    jac.resize(1, 1);
    jac(0, 0) = -lambda;
  }
  void jvp(double t, const vec&, nde::params_view<double>, const vec& y_dot,
           nde::params_view<double>, double t_dot, vec& out) const {
    out.resize(1);
    out[0] = -lambda * y_dot[0] + t_dot * (lambda * std::cos(t) - std::sin(t));
  }
};

// Robertson's chemical kinetics (ROBER, Hairer & Wanner II, IV.1), any number of columns; the
// exact Jacobian for one column.
struct rober {
  static constexpr bool autonomous = true;
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  template <class State>
  void operator()(double, const State& y, nde::params_view<double>, State& dydt) const {
    for (Eigen::Index c = 0; c < y.cols(); ++c) {
      dydt(0, c) = -0.04 * y(0, c) + 1e4 * y(1, c) * y(2, c);
      dydt(2, c) = 3e7 * y(1, c) * y(1, c);
      dydt(1, c) = -dydt(0, c) - dydt(2, c);
    }
  }
  void jacobian(double, const vec& y, nde::params_view<double>, mat& jac) const {
    jac(0, 0) = -0.04;
    jac(0, 1) = 1e4 * y[2];
    jac(0, 2) = 1e4 * y[1];
    jac(2, 0) = 0;
    jac(2, 1) = 6e7 * y[1];
    jac(2, 2) = 0;
    jac.row(1) = -jac.row(0) - jac.row(2);
  }
};

// Van der Pol in the unscaled form of MATLAB's vdp1000: y₀' = y₁, y₁' = μ(1 − y₀²)y₁ − y₀,
// y(0) = (2, 0), μ = 1000.
struct van_der_pol {
  static constexpr bool autonomous = true;
  double mu = 1000;
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double, const vec& y, nde::params_view<double>, vec& dydt) const {
    dydt[0] = y[1];
    dydt[1] = mu * (1 - y[0] * y[0]) * y[1] - y[0];
  }
  void jacobian(double, const vec& y, nde::params_view<double>, mat& jac) const {
    jac(0, 0) = 0;
    jac(0, 1) = 1;
    jac(1, 0) = -2 * mu * y[0] * y[1] - 1;
    jac(1, 1) = mu * (1 - y[0] * y[0]);
  }
};

template <class Stepper, class Field, class State = vec>
nde::solution<double, State> run(Field field, const Stepper& method, double t0, double t1,
                                 const State& y0, const nde::solve_options& options) {
  auto term = nde::ode_term<Field>(std::move(field));
  nde::integrator<Stepper, State> solver(method, y0);
  nde::solution<double, State> out;
  solver.solve(term, t0, t1, y0, none, options, out);
  return out;
}

nde::solve_options adaptive(double rtol, double atol, std::vector<double> ts = {}) {
  return {.save_at = ts.empty() ? nde::save_at::final_time() : nde::save_at::times(std::move(ts)),
          .controller = nde::pid_controller{.rtol = rtol, .atol = atol},
          .max_steps = 10000000};
}

// Largest relative error over components and outputs.
double relative_error(const std::vector<vec>& ys, const std::vector<vec>& reference) {
  double worst = 0;
  for (std::size_t i = 0; i < ys.size(); ++i)
    worst = std::max(
        worst,
        ((ys[i] - reference[i]).cwiseAbs().array() / reference[i].cwiseAbs().array()).maxCoeff());
  return worst;
}

// ---- orders -------------------------------------------------------------------------------

// Global error at t = 1 with n constant steps.
template <class Stepper>
double global_error(int n) {
  const auto out = run(manufactured{}, Stepper{}, 0.0, 1.0, manufactured::exact(0),
                       {.controller = nde::constant_step{.dt = 1.0 / n}});
  REQUIRE(out.success());
  return (out.ys.back() - manufactured::exact(1)).cwiseAbs().maxCoeff();
}

struct local_errors {
  double step, estimate, dense;
};

// One step of size h from the exact state at t0 = 0.3: the local error of y1, the size of the
// error estimate, and the error of the dense output at θ = 0.37.
template <class Stepper>
local_errors local(double h) {
  const Stepper method{};
  auto term = nde::ode_term<manufactured>(manufactured{});
  const double t0 = 0.3, t1 = t0 + h, theta = 0.37;
  const vec y0 = manufactured::exact(t0);
  auto ws = method.make_workspace(y0);
  vec y1(2);
  REQUIRE(method.init(term, t0, y0, none, ws) == nde::status::success);
  const auto r = method.step(term, t0, t1, y0, none, ws, y1);
  REQUIRE(r.status == nde::status::success);
  REQUIRE(method.evaluate_end(term, t1, y1, none, ws) == nde::status::success);
  std::array<vec, static_cast<std::size_t>(Stepper::dense_degree + 1)> c;
  method.dense_coefficients(t0, t1, y0, y1, ws, c);
  vec mid(2);
  nde::detail::evaluate_polynomial(c, c.size(), theta, mid);
  // The dense output is y0 and y1 at the ends.
  vec end(2);
  nde::detail::evaluate_polynomial(c, c.size(), 1.0, end);
  CHECK((end - y1).cwiseAbs().maxCoeff() <= 1e-14);
  return {(y1 - manufactured::exact(t1)).cwiseAbs().maxCoeff(), r.error->cwiseAbs().maxCoeff(),
          (mid - manufactured::exact(t0 + theta * h)).cwiseAbs().maxCoeff()};
}

template <class Stepper>
void check_orders(const std::vector<int>& counts) {
  std::vector<double> steps, errors;
  for (int n : counts) {
    steps.push_back(1.0 / n);
    errors.push_back(global_error<Stepper>(n));
  }
  const double global = nde::testing::convergence_order(steps, errors);
  std::vector<double> hs, step_errors, estimates, dense_errors;
  for (int k = 0; k < 4; ++k) {
    const double h = 0.2 / std::pow(2.0, k);
    const auto e = local<Stepper>(h);
    hs.push_back(h);
    step_errors.push_back(e.step);
    estimates.push_back(e.estimate);
    dense_errors.push_back(e.dense);
  }
  const double local_order = nde::testing::convergence_order(hs, step_errors);
  const double estimate_order = nde::testing::convergence_order(hs, estimates);
  const double dense_order = nde::testing::convergence_order(hs, dense_errors);
  INFO(Stepper::name << ": global " << global << " (errors " << errors.front() << " … "
                     << errors.back() << "), local " << local_order << ", estimate "
                     << estimate_order << ", dense " << dense_order);
  CHECK(std::abs(global - Stepper::order) < 0.2);
  CHECK(std::abs(local_order - (Stepper::order + 1)) < 0.3);
  CHECK(std::abs(estimate_order - (Stepper::error_order + 1)) < 0.3);
  const int dense_local = std::min(Stepper::dense_order, Stepper::order) + 1;
  CHECK(std::abs(dense_order - dense_local) < 0.3);
}

}  // namespace

TEST_CASE("Rosenbrock tableaus: orders of the solution, the error estimate and the dense output",
          "[solvers][rosenbrock]") {
  check_orders<nde::rosenbrock23>({16, 32, 64, 128});
  check_orders<nde::rodas4>({8, 16, 32, 64});
  check_orders<nde::rodas5>({4, 8, 16, 32});
  static_assert(nde::rosenbrock23::fsal && !nde::rodas4::fsal && !nde::rodas5::fsal);
  static_assert(nde::rosenbrock23::error_order == 2 && nde::rodas4::error_order == 3 &&
                nde::rodas5::error_order == 4);
}

TEST_CASE("Prothero–Robinson (λ = 1e6): stable and accurate with steps 1e5 times 1/λ",
          "[solvers][rosenbrock]") {
  auto check = [](const auto& method, double bound_constant, double bound_adaptive,
                  std::size_t max_steps) {
    using method_type = std::decay_t<decltype(method)>;
    const vec y0 = vec::Zero(1);
    const auto fixed =
        run(prothero_robinson{}, method, 0.0, 10.0, y0,
            {.save_at = nde::save_at::every_step(), .controller = nde::constant_step{.dt = 0.1}});
    REQUIRE(fixed.success());
    double worst = 0;
    for (std::size_t i = 0; i < fixed.ys.size(); ++i)
      worst = std::max(worst, std::abs(fixed.ys[i][0] - std::sin(fixed.ts[i])));
    const auto tuned = run(prothero_robinson{}, method, 0.0, 10.0, y0, adaptive(1e-6, 1e-9));
    REQUIRE(tuned.success());
    const double error = std::abs(tuned.ys.back()[0] - std::sin(10.0));
    INFO(method_type::name << ": h = 0.1 max error " << worst << "; rtol 1e-6: error " << error
                           << " in " << tuned.stats.accepted_steps << " steps");
    CHECK(worst < bound_constant);
    CHECK(error < bound_adaptive);
    CHECK(tuned.stats.accepted_steps < max_steps);
  };
  // Measured: 7.4e-4, 2.3e-9 and 3.4e-10 with h = 0.1; 7049, 16 and 16 steps at rtol 1e-6
  // (rosenbrock23 is second order: meant for loose tolerances).
  check(nde::rosenbrock23{}, 3e-3, 1e-6, 10000);
  check(nde::rodas4{}, 1e-7, 1e-6, 40);
  check(nde::rodas5{}, 1e-8, 1e-6, 40);
}

namespace {

const vec rober_y0 = (vec(3) << 1, 0, 0).finished();
const vec vdp_y0 = (vec(2) << 2, 0).finished();

struct accuracy {
  double error;
  std::size_t steps;
  std::size_t rejected;
};

// ROBER at t = 100 and 1e5, atol = 1e-4 rtol (y₁ is O(1e-5) … O(1e-8)).
template <class Stepper>
accuracy rober_accuracy(double rtol, const std::vector<vec>& reference) {
  const auto out =
      run(rober{}, Stepper{}, 0.0, 1e5, rober_y0, adaptive(rtol, 1e-4 * rtol, {100, 1e5}));
  REQUIRE(out.success());
  return {relative_error(out.ys, reference), out.stats.accepted_steps, out.stats.rejected_steps};
}

template <class Stepper>
accuracy vdp_accuracy(double rtol, double t1, const std::vector<vec>& reference) {
  const auto out = run(van_der_pol{}, Stepper{}, 0.0, t1, vdp_y0, adaptive(rtol, rtol));
  REQUIRE(out.success());
  return {relative_error(out.ys, reference), out.stats.accepted_steps, out.stats.rejected_steps};
}

// Under the sanitizers (-O0, ~100× slower) only rtol 1e-6 is checked, against a looser
// reference.
double reference_rtol() { return nde_test::sanitized ? 1e-10 : 1e-12; }
std::vector<double> checked_rtols() {
  if (nde_test::sanitized) return {1e-6};
  return {1e-6, 1e-8};
}

const std::vector<vec>& rober_reference() {
  static const std::vector<vec> reference = [] {
    const double rtol = reference_rtol();
    const auto out =
        run(rober{}, nde::rodas5{}, 0.0, 1e5, rober_y0, adaptive(rtol, 1e-6 * rtol, {100, 1e5}));
    REQUIRE(out.success());
    return out.ys;
  }();
  return reference;
}

const std::vector<vec>& vdp_reference(double t1) {
  static std::vector<std::pair<double, std::vector<vec>>> cache;
  for (const auto& [t, ys] : cache)
    if (t == t1) return ys;
  const auto out = run(van_der_pol{}, nde::rodas5{}, 0.0, t1, vdp_y0,
                       adaptive(reference_rtol(), reference_rtol()));
  REQUIRE(out.success());
  cache.emplace_back(t1, out.ys);
  return cache.back().second;
}

}  // namespace

TEST_CASE("ROBER to t = 1e5 against a tight reference; y(100) against Diffrax's Kvaerno5",
          "[solvers][rosenbrock][stiff]") {
  const auto& reference = rober_reference();
  // Diffrax Kvaerno5, rtol 1e-8: y(100) = (0.6172349, 6.1536e-6, 0.3827590).
  CHECK(std::abs(reference[0][0] - 0.6172349) < 1e-7);
  CHECK(std::abs(reference[0][1] - 6.1536e-6) < 1e-10);
  CHECK(std::abs(reference[0][2] - 0.3827590) < 1e-7);
  CHECK(std::abs(reference[1].sum() - 1) < 1e-12);  // the invariant y₀ + y₁ + y₂ = 1
  for (double rtol : checked_rtols()) {
    const auto r23 = rober_accuracy<nde::rosenbrock23>(rtol, reference);
    const auto r4 = rober_accuracy<nde::rodas4>(rtol, reference);
    const auto r5 = rober_accuracy<nde::rodas5>(rtol, reference);
    INFO("rtol " << rtol << ": rosenbrock23 " << r23.error << " in " << r23.steps << ", rodas4 "
                 << r4.error << " in " << r4.steps << ", rodas5 " << r5.error << " in "
                 << r5.steps);
    // Measured (relative to the reference): rosenbrock23 39 and 173 × rtol, rodas4 1.8 and
    // 8.3 ×, rodas5 0.36 and 2.2 × at rtol 1e-6 and 1e-8.
    CHECK(r23.error < 1000 * rtol);
    CHECK(r4.error < 50 * rtol);
    CHECK(r5.error < 20 * rtol);
    CHECK(r5.steps < r4.steps);
    CHECK(r4.steps < r23.steps);
  }
}

TEST_CASE(
    "Van der Pol (μ = 1000) on [0, 3000] against a tight reference; dopri5 needs more "
    "than 100 times the steps of rodas5",
    "[solvers][rosenbrock][stiff]") {
  const double t1 = 3000;
  const auto& reference = vdp_reference(t1);
  for (double rtol : checked_rtols()) {
    const auto r23 = vdp_accuracy<nde::rosenbrock23>(rtol, t1, reference);
    const auto r4 = vdp_accuracy<nde::rodas4>(rtol, t1, reference);
    const auto r5 = vdp_accuracy<nde::rodas5>(rtol, t1, reference);
    INFO("rtol " << rtol << ": rosenbrock23 " << r23.error << " in " << r23.steps << ", rodas4 "
                 << r4.error << " in " << r4.steps << ", rodas5 " << r5.error << " in "
                 << r5.steps);
    // Measured: rosenbrock23 512 and 892 × rtol, rodas4 11 and 15 ×, rodas5 27 and 74 ×
    // (phase errors of the fast transitions dominate at t = 3000).
    CHECK(r23.error < 5000 * rtol);
    CHECK(r4.error < 200 * rtol);
    CHECK(r5.error < 300 * rtol);
    CHECK(r5.steps < r4.steps);
    CHECK(r4.steps < r23.steps);
  }
  // dopri5 is held to its stability limit |h λ| ≲ 3.3 with λ ≈ −μ(y₀² − 1) on the slow branches.
  const double short_t1 = nde_test::sanitized ? 30 : 300;
  const auto stiff = run(van_der_pol{}, nde::rodas5{}, 0.0, short_t1, vdp_y0, adaptive(1e-6, 1e-6));
  const auto explicit_run =
      run(van_der_pol{}, nde::dopri5{}, 0.0, short_t1, vdp_y0, adaptive(1e-6, 1e-6));
  REQUIRE(stiff.success());
  REQUIRE(explicit_run.success());
  const double ratio = static_cast<double>(explicit_run.stats.accepted_steps) /
                       static_cast<double>(stiff.stats.accepted_steps);
  INFO("on [0, " << short_t1 << "]: dopri5 " << explicit_run.stats.accepted_steps
                 << " steps, rodas5 " << stiff.stats.accepted_steps << ": ratio " << ratio);
  CHECK(ratio >= 100);
  CHECK((explicit_run.ys.back() - stiff.ys.back()).cwiseAbs().maxCoeff() < 1e-3);
}

TEST_CASE("[.report] ROBER and Van der Pol: errors and steps per method and tolerance",
          "[.report]") {
  const auto& rober_ref = rober_reference();
  const auto& vdp_ref = vdp_reference(3000);
  std::printf("ROBER y(100) reference = (%.10g, %.10g, %.10g)\n", rober_ref[0][0], rober_ref[0][1],
              rober_ref[0][2]);
  for (double rtol : {1e-4, 1e-6, 1e-8, 1e-10}) {
    const accuracy rows[] = {rober_accuracy<nde::rosenbrock23>(rtol, rober_ref),
                             rober_accuracy<nde::rodas4>(rtol, rober_ref),
                             rober_accuracy<nde::rodas5>(rtol, rober_ref),
                             vdp_accuracy<nde::rosenbrock23>(rtol, 3000, vdp_ref),
                             vdp_accuracy<nde::rodas4>(rtol, 3000, vdp_ref),
                             vdp_accuracy<nde::rodas5>(rtol, 3000, vdp_ref)};
    const char* names[] = {"rosenbrock23", "rodas4", "rodas5"};
    for (int k = 0; k < 6; ++k)
      std::printf("%s rtol %.0e %-12s error %.3e steps %zu rejected %zu\n", k < 3 ? "ROBER" : "VdP",
                  rtol, names[k % 3], rows[k].error, rows[k].steps, rows[k].rejected);
  }
  for (double t1 : {300.0, 3000.0}) {
    const auto stiff = run(van_der_pol{}, nde::rodas5{}, 0.0, t1, vdp_y0, adaptive(1e-6, 1e-6));
    const auto explicit_run =
        run(van_der_pol{}, nde::dopri5{}, 0.0, t1, vdp_y0, adaptive(1e-6, 1e-6));
    std::printf("VdP [0, %g] rtol 1e-6: dopri5 %zu steps (%zu rejected), rodas5 %zu: ratio %.1f\n",
                t1, explicit_run.stats.accepted_steps, explicit_run.stats.rejected_steps,
                stiff.stats.accepted_steps,
                double(explicit_run.stats.accepted_steps) / double(stiff.stats.accepted_steps));
  }
}

TEST_CASE("Rosenbrock cost: one Jacobian per step start, reused by rejected retries",
          "[solvers][rosenbrock]") {
  const auto out =
      run(rober{}, nde::rodas5{}, 0.0, 1e5, rober_y0, adaptive(1e-6, 1e-10, {100, 1e5}));
  REQUIRE(out.success());
  REQUIRE(out.stats.rejected_steps > 0);
  CHECK(out.stats.jacobian_evals == out.stats.accepted_steps);
  // f(t0, y0), the initial-step heuristic, 7 stages per attempt, f(t1, y1) after every accepted
  // step (the last one too: an output of save_at.ts lies exactly on its end, and forward
  // sensitivities read the dense output's rate there).
  const std::size_t attempts = out.stats.accepted_steps + out.stats.rejected_steps;
  CHECK(out.stats.rhs_evals == 2 + 7 * attempts + out.stats.accepted_steps);
}

namespace {

// y' = 8y with J = 8: rodas4's M = 1 − hγJ is exactly 0 at h = 0.5 (γ = 1/4).
struct singular_at_half {
  static constexpr bool autonomous = true;
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double, const vec& y, nde::params_view<double>, vec& dydt) const { dydt = 8 * y; }
  void jacobian(double, const vec& y, nde::params_view<double>, mat& jac) const {
    jac.setConstant(y.size(), y.size(), 8.0);
  }
};

struct nan_jacobian {
  static constexpr bool autonomous = true;
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double, const vec& y, nde::params_view<double>, vec& dydt) const { dydt = -y; }
  void jacobian(double, const vec& y, nde::params_view<double>, mat& jac) const {
    jac = -mat::Identity(y.size(), y.size());
    jac(0, 0) = std::numeric_limits<double>::quiet_NaN();
  }
};

struct wrong_size_jacobian {
  static constexpr bool autonomous = true;
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double, const vec& y, nde::params_view<double>, vec& dydt) const { dydt = -y; }
  void jacobian(double, const vec&, nde::params_view<double>, mat& jac) const {
    jac = -mat::Identity(2, 2);
  }
};

}  // namespace

TEST_CASE("Rosenbrock bad input: a singular iteration matrix, a NaN or wrongly sized Jacobian",
          "[solvers][rosenbrock]") {
  const vec one = vec::Ones(1);
  SECTION("a singular M = I − hγJ is a status; the PID controller halves the step past it") {
    const auto fixed = run(singular_at_half{}, nde::rodas4{}, 0.0, 1.0, one,
                           {.controller = nde::constant_step{.dt = 0.5}});
    CHECK(fixed.status == nde::status::not_converged);
    CHECK_THAT(fixed.message, Catch::Contains("from t = 0 to 0.5"));
    const auto halved =
        run(singular_at_half{}, nde::rodas4{}, 0.0, 1.0, one,
            {.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-8, .dt0 = 0.5}});
    REQUIRE(halved.success());
    CHECK(halved.stats.rejected_steps >= 1);
    CHECK(halved.ys.back()[0] == Catch::Approx(std::exp(8.0)).epsilon(1e-6));
  }
  SECTION("a NaN Jacobian fails at once, naming the method (no step size can help)") {
    const auto out =
        run(nan_jacobian{}, nde::rodas5{}, 0.0, 1.0, vec(vec::Ones(3)), adaptive(1e-6, 1e-9));
    CHECK(out.status == nde::status::non_finite);
    CHECK_THAT(out.message, Catch::Contains("rodas5: the Jacobian df/dy at t = 0 contains NaN"));
    CHECK(out.stats.rejected_steps == 0);
  }
  SECTION("a Jacobian of the wrong size") {
    const auto out = run(wrong_size_jacobian{}, nde::rosenbrock23{}, 0.0, 1.0, vec(vec::Ones(3)),
                         adaptive(1e-6, 1e-9));
    CHECK(out.status == nde::status::invalid_input);
    CHECK_THAT(out.message, Catch::Contains("2x2 matrix for a state of size 3"));
  }
}

TEST_CASE("Rosenbrock batch states (D × B) use the flattened Jacobian: each column as alone",
          "[solvers][rosenbrock]") {
  const nde::rodas4 method{.jacobian = nde::jacobian_source::finite_differences};
  // Constant steps from states past ROBER's initial layer: from (1, 0, 0) itself J has no
  // stiff eigenvalue yet and only small first steps are stable (the adaptive run below).
  mat y0(3, 2);
  y0.col(0) << 0.966, 3.07e-5, 0.034 - 3.07e-5;
  y0.col(1) << 0.9, 2e-5, 0.1 - 2e-5;
  const nde::solve_options fixed{.controller = nde::constant_step{.dt = 0.01}};
  const auto batch = run(rober{}, method, 0.0, 1.0, y0, fixed);
  INFO(batch.message);
  REQUIRE(batch.success());
  for (Eigen::Index c = 0; c < 2; ++c) {
    const auto single = run(rober{}, method, 0.0, 1.0, vec(y0.col(c)), fixed);
    REQUIRE(single.success());
    CHECK(((batch.ys.back().col(c) - single.ys.back()).cwiseAbs().array() /
           single.ys.back().cwiseAbs().array())
              .maxCoeff() < 1e-12);
  }
  y0.col(0) = rober_y0;
  const auto tuned =
      run(rober{}, method, 0.0, 1e5, y0,
          nde::solve_options{.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-10}});
  REQUIRE(tuned.success());
  CHECK(std::abs(tuned.ys.back().col(1).sum() - 1) < 1e-9);
}

TEST_CASE("Rosenbrock steps allocate nothing once the workspaces are sized",
          "[solvers][rosenbrock]") {
  auto stiff = nde::ode_term<rober>(rober{});
  nde::integrator<nde::rodas5, vec> solver(nde::rodas5{}, rober_y0);
  nde::solution<double, vec> out;
  const auto options = adaptive(1e-6, 1e-10, {1.0, 100.0});
  REQUIRE(solver.solve(stiff, 0.0, 1e3, rober_y0, none, options, out) == nde::status::success);
  auto forced = nde::ode_term<prothero_robinson>(prothero_robinson{});
  const vec zero = vec::Zero(1);
  nde::integrator<nde::rosenbrock23, vec> loose(nde::rosenbrock23{}, zero);
  nde::solution<double, vec> out23;
  const auto options23 = adaptive(1e-3, 1e-6, {0.5});
  REQUIRE(loose.solve(forced, 0.0, 1.0, zero, none, options23, out23) == nde::status::success);
  Eigen::internal::set_is_malloc_allowed(false);
  const auto status = solver.solve(stiff, 0.0, 1e3, rober_y0, none, options, out);
  const auto status23 = loose.solve(forced, 0.0, 1.0, zero, none, options23, out23);
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(status == nde::status::success);
  CHECK(status23 == nde::status::success);
}

namespace {

// A forced, damped, cubic oscillator written once over its scalar (exact vjp, jvp and J).
auto forced_oscillator = [](auto t, const auto& y, const auto& theta, auto& dydt) {
  using std::sin;
  dydt[0] = y[1];
  dydt[1] = -theta[0] * y[0] - theta[1] * y[1] + theta[2] * sin(t) - 0.5 * y[0] * y[0] * y[0];
};
using oscillator_field = nde::autodiff_field<vec, decltype(forced_oscillator)>;
using oscillator_term = nde::ode_term<oscillator_field>;

const vec oscillator_theta = (vec(3) << 4.0, 2.0, 1.5).finished();
const vec oscillator_y0 = (vec(2) << 0.8, -0.3).finished();
const std::vector<double> oscillator_ts{0.5, 1.0, 2.0};
const vec loss_weights = (vec(2) << 1.0, -0.5).finished();

// L = Σ_i w · y(t_i), solved with rodas5 on a fine constant grid (smooth in θ and y0).
double oscillator_loss(const vec& theta, const vec& y0) {
  auto s = nde::solve(oscillator_term(oscillator_field(forced_oscillator, 3)), nde::rodas5{}, 0.0,
                      2.0, y0, theta,
                      {.save_at = nde::save_at::times(oscillator_ts),
                       .controller = nde::constant_step{.dt = 0.005}});
  REQUIRE(s.success());
  double loss = 0;
  for (const auto& y : s.ys) loss += loss_weights.dot(y);
  return loss;
}

}  // namespace

TEST_CASE(
    "Rosenbrock with continuous adjoints: backsolve and checkpointed against central "
    "finite differences; the discrete methods are refused",
    "[solvers][rosenbrock][gradients]") {
  // Central differences of the loss (truncation O(δ²), solve error ~1e-12).
  const double delta = 1e-4;
  vec fd_theta(3), fd_y0(2);
  for (Eigen::Index i = 0; i < 3; ++i) {
    vec plus = oscillator_theta, minus = oscillator_theta;
    plus[i] += delta;
    minus[i] -= delta;
    fd_theta[i] = (oscillator_loss(plus, oscillator_y0) - oscillator_loss(minus, oscillator_y0)) /
                  (2 * delta);
  }
  for (Eigen::Index i = 0; i < 2; ++i) {
    vec plus = oscillator_y0, minus = oscillator_y0;
    plus[i] += delta;
    minus[i] -= delta;
    fd_y0[i] =
        (oscillator_loss(oscillator_theta, plus) - oscillator_loss(oscillator_theta, minus)) /
        (2 * delta);
  }
  const std::vector<vec> cotangents(3, loss_weights);
  const nde::pid_controller tight{.rtol = 1e-10, .atol = 1e-12};
  for (const nde::adjoint_method& method :
       {nde::adjoint_method(nde::backsolve_adjoint{.controller = tight}),
        nde::adjoint_method(nde::checkpointed_adjoint{.controller = tight})}) {
    auto s = nde::solve(
        oscillator_term(oscillator_field(forced_oscillator, 3)), nde::rodas5{}, 0.0, 2.0,
        oscillator_y0, oscillator_theta,
        {.save_at = nde::save_at::times(oscillator_ts), .controller = tight, .adjoint = method});
    REQUIRE(s.success());
    const auto g = s.backward(cotangents);
    INFO(g.message);
    REQUIRE(g.status == nde::status::success);
    INFO("method " << method.index() << ": dL/dθ = " << g.params.transpose() << " (FD "
                   << fd_theta.transpose() << "), dL/dy0 = " << g.y0.transpose() << " (FD "
                   << fd_y0.transpose() << ")");
    CHECK((g.params - fd_theta).cwiseAbs().maxCoeff() <
          1e-7 * (1 + fd_theta.cwiseAbs().maxCoeff()));
    CHECK((g.y0 - fd_y0).cwiseAbs().maxCoeff() < 1e-7 * (1 + fd_y0.cwiseAbs().maxCoeff()));
  }
  for (const nde::adjoint_method& method : {nde::adjoint_method(nde::discrete_adjoint{}),
                                            nde::adjoint_method(nde::forward_sensitivity{})}) {
    auto s =
        nde::solve(oscillator_term(oscillator_field(forced_oscillator, 3)), nde::rodas5{}, 0.0, 2.0,
                   oscillator_y0, oscillator_theta, {.controller = tight, .adjoint = method});
    CHECK(s.status == nde::status::invalid_input);
    CHECK_THAT(s.message, Catch::Contains("second derivatives of f") &&
                              Catch::Contains("use backsolve_adjoint or checkpointed_adjoint"));
  }
}
