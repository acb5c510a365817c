// The diagonally implicit methods (implicit_euler, trbdf2, kvaerno3/4/5): tableau checks,
// empirical orders, stiff problems (Prothero–Robinson, ROBER, Van der Pol), Newton failures,
// and exact gradients (discrete adjoint, forward sensitivities, continuous adjoints) against
// finite differences and each other.
#include <nde/adjoint/differentiable_solve.hpp>
#include <nde/integrate/solve.hpp>
#include <nde/linalg/newton.hpp>
#include <nde/solvers/implicit_euler.hpp>
#include <nde/solvers/kvaerno3.hpp>
#include <nde/solvers/kvaerno4.hpp>
#include <nde/solvers/kvaerno5.hpp>
#include <nde/solvers/trbdf2.hpp>
#include <nde/terms/ode_term.hpp>

#include <catch.hpp>
#include <sanitized.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace {

using vec = Eigen::VectorXd;
using mat = Eigen::MatrixXd;
using params = nde::params_view<double>;

// ---- problems -------------------------------------------------------------------------------

// Non-stiff, non-autonomous, exact: u' = -2t u², v' = -v + sin t, y(0) = (1, 1);
// u = 1/(1 + t²), v = 1.5 e^(-t) + (sin t - cos t)/2.
struct smooth {
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  void operator()(double t, const vec& y, params, vec& dydt) const {
    dydt.resize(2);
    dydt[0] = -2 * t * y[0] * y[0];
    dydt[1] = -y[1] + std::sin(t);
  }
  void jacobian(double t, const vec& y, params, mat& jac) const {
    jac.setZero(2, 2);
    jac(0, 0) = -4 * t * y[0];
    jac(1, 1) = -1;
  }
  static vec exact(double t) {
    vec y(2);
    y << 1 / (1 + t * t), 1.5 * std::exp(-t) + (std::sin(t) - std::cos(t)) / 2;
    return y;
  }
};

// Prothero–Robinson: y' = -λ(y - sin t) + cos t, y = sin t.
struct prothero_robinson {
  double lambda = 1e6;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  void operator()(double t, const vec& y, params, vec& dydt) const {
    dydt.resize(1);
    dydt[0] = -lambda * (y[0] - std::sin(t)) + std::cos(t);
  }
  void jacobian(double, const vec&, params, mat& jac) const { jac.setConstant(1, 1, -lambda); }
};

// ROBER with log-parameterised rates θ = log k (k = 0.04, 3e7, 1e4): hand-written Jacobian,
// vjp and jvp.
struct rober {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  static void rates(params theta, double& k1, double& k2, double& k3) {
    k1 = std::exp(theta[0]);
    k2 = std::exp(theta[1]);
    k3 = std::exp(theta[2]);
  }
  void operator()(double, const vec& y, params theta, vec& dydt) const {
    double k1, k2, k3;
    rates(theta, k1, k2, k3);
    dydt.resize(3);
    dydt[0] = -k1 * y[0] + k3 * y[1] * y[2];
    dydt[1] = k1 * y[0] - k2 * y[1] * y[1] - k3 * y[1] * y[2];
    dydt[2] = k2 * y[1] * y[1];
  }
  void jacobian(double, const vec& y, params theta, mat& jac) const {
    double k1, k2, k3;
    rates(theta, k1, k2, k3);
    jac.resize(3, 3);
    jac << -k1, k3 * y[2], k3 * y[1],                //
        k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1],  //
        0, 2 * k2 * y[1], 0;
  }
  void vjp(double t, const vec& y, params theta, const vec& a, vec& a_y,
           nde::params_ref<double> a_theta) const {
    mat jac;
    jacobian(t, y, theta, jac);
    a_y = jac.transpose() * a;
    double k1, k2, k3;
    rates(theta, k1, k2, k3);
    a_theta[0] += k1 * y[0] * (a[1] - a[0]);
    a_theta[1] += k2 * y[1] * y[1] * (a[2] - a[1]);
    a_theta[2] += k3 * y[1] * y[2] * (a[0] - a[1]);
  }
  void jvp(double t, const vec& y, params theta, const vec& y_dot, params theta_dot, double,
           vec& out) const {
    mat jac;
    jacobian(t, y, theta, jac);
    out = jac * y_dot;
    double k1, k2, k3;
    rates(theta, k1, k2, k3);
    out[0] += -k1 * y[0] * theta_dot[0] + k3 * y[1] * y[2] * theta_dot[2];
    out[1] += k1 * y[0] * theta_dot[0] - k2 * y[1] * y[1] * theta_dot[1] -
              k3 * y[1] * y[2] * theta_dot[2];
    out[2] += k2 * y[1] * y[1] * theta_dot[1];
  }
};

// The same ROBER without a dense Jacobian: the Newton matrix comes from jvps and the discrete
// adjoint iterates on vjps.
struct rober_vjp_only {
  static constexpr bool autonomous = true;
  rober inner;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  void operator()(double t, const vec& y, params theta, vec& dydt) const {
    inner(t, y, theta, dydt);
  }
  void vjp(double t, const vec& y, params theta, const vec& a, vec& a_y,
           nde::params_ref<double> a_theta) const {
    inner.vjp(t, y, theta, a, a_y, a_theta);
  }
  void jvp(double t, const vec& y, params theta, const vec& y_dot, params theta_dot, double t_dot,
           vec& out) const {
    inner.jvp(t, y, theta, y_dot, theta_dot, t_dot, out);
  }
};

[[maybe_unused]] vec rober_theta() {
  vec theta(3);
  theta << std::log(0.04), std::log(3e7), std::log(1e4);
  return theta;
}
[[maybe_unused]] vec rober_y0() { return (vec(3) << 1, 0, 0).finished(); }

// Van der Pol in its standard unscaled form (MATLAB's vdp1000): x' = y, y' = μ(1 - x²) y - x;
// relaxation oscillations of period ≈ (3 - 2 ln 2) μ, so [0, 3000] holds about two.
struct van_der_pol {
  double mu = 1000;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  void operator()(double, const vec& y, params, vec& dydt) const {
    dydt.resize(2);
    dydt[0] = y[1];
    dydt[1] = mu * (1 - y[0] * y[0]) * y[1] - y[0];
  }
  void jacobian(double, const vec& y, params, mat& jac) const {
    jac.resize(2, 2);
    jac << 0, 1, -2 * mu * y[0] * y[1] - 1, mu * (1 - y[0] * y[0]);
  }
};

const vec no_params = vec(0);

template <class Method, class Field>
nde::solution<double, vec> run(Field field, Method method, double t0, double t1, const vec& y0,
                               const nde::solve_options& options, const vec& theta = no_params,
                               nde::newton_stats* stats = nullptr) {
  nde::ode_term<Field> term{std::move(field)};
  nde::integrator<Method, vec> solver(method, y0);
  nde::solution<double, vec> out;
  solver.solve(term, t0, t1, y0, params(theta), options, out);
  if (stats) *stats = solver.workspace().newton.stats;
  return out;
}

// Mean of log2(e[i]/e[i+1]) for step sizes halving.
double observed_order(const std::vector<double>& errors) {
  double sum = 0;
  for (std::size_t i = 0; i + 1 < errors.size(); ++i) sum += std::log2(errors[i] / errors[i + 1]);
  return sum / static_cast<double>(errors.size() - 1);
}

nde::newton_options tight_newton() { return {.rtol = 1e-13, .atol = 1e-15}; }

template <class Method>
void check_orders() {
  const Method method{.newton = tight_newton()};
  std::vector<double> errors;
  const int first = Method::order >= 4 ? 8 : 16;
  for (int n = first; n <= first * 8; n *= 2) {
    const auto s = run(smooth{}, method, 0.0, 1.0, smooth::exact(0.0),
                       {.controller = nde::constant_step{.dt = 1.0 / n}});
    REQUIRE(s.success());
    errors.push_back((s.ys.back() - smooth::exact(1.0)).cwiseAbs().maxCoeff());
  }
  const double p = observed_order(errors);
  INFO("order " << Method::order << ": observed " << p << ", errors " << errors.front() << " .. "
                << errors.back());
  CHECK(std::abs(p - Method::order) < 0.2);

  // The embedded estimate of one step from t = 0.3 is O(h^(error_order + 1)).
  std::vector<double> estimates;
  nde::ode_term<smooth> term{smooth{}};
  auto ws = method.make_workspace(smooth::exact(0.3));
  vec y1(2);
  for (double h = 0.1; h > 0.1 / 16; h /= 2) {
    const vec y0 = smooth::exact(0.3);
    REQUIRE(method.init(term, 0.3, y0, params(no_params), ws) == nde::status::success);
    const auto r = method.step(term, 0.3, 0.3 + h, y0, params(no_params), ws, y1);
    REQUIRE(r.status == nde::status::success);
    estimates.push_back(r.error->cwiseAbs().maxCoeff());
  }
  const double q = observed_order(estimates);
  INFO("error estimate: observed " << q << ", expected " << Method::error_order + 1);
  CHECK(std::abs(q - (Method::error_order + 1)) < 0.3);
}

// A tableau with a typo in one coefficient.
struct broken_kvaerno3 : nde::kvaerno3_tableau {
  static constexpr std::array<std::array<double, 4>, 4> a{
      {{0.0, 0.0, 0.0, 0.0},
       {0.43586652150845899942, 0.43586652150845899942, 0.0, 0.0},
       {0.49056338842178057063, 0.073570090069760429956, 0.43586652150845899942, 0.0},
       {0.30880996997674652335, 1.4905633884217805706, -1.2352398799069860934,
        0.4358665215}}};  // γ truncated: the diagonal and the last row sum are off
};

}  // namespace

TEST_CASE("ESDIRK tableaus check themselves at compile time", "[solvers][implicit]") {
  STATIC_REQUIRE(nde::valid_diagonally_implicit_tableau<nde::implicit_euler_tableau>());
  STATIC_REQUIRE(nde::valid_diagonally_implicit_tableau<nde::trbdf2_tableau>());
  STATIC_REQUIRE(nde::valid_diagonally_implicit_tableau<nde::kvaerno3_tableau>());
  STATIC_REQUIRE(nde::valid_diagonally_implicit_tableau<nde::kvaerno4_tableau>());
  STATIC_REQUIRE(nde::valid_diagonally_implicit_tableau<nde::kvaerno5_tableau>());
  STATIC_REQUIRE(!nde::valid_diagonally_implicit_tableau<broken_kvaerno3>());
  STATIC_REQUIRE(nde::kvaerno5::order == 5);
  STATIC_REQUIRE(nde::kvaerno5::error_order == 4);
  STATIC_REQUIRE(nde::reversible_stepper<nde::kvaerno5, vec>);
}

TEST_CASE("empirical orders 1..5 and the orders of the embedded estimates",
          "[solvers][implicit][order]") {
  SECTION("implicit_euler") { check_orders<nde::implicit_euler>(); }
  SECTION("trbdf2") { check_orders<nde::trbdf2>(); }
  SECTION("kvaerno3") { check_orders<nde::kvaerno3>(); }
  SECTION("kvaerno4") { check_orders<nde::kvaerno4>(); }
  SECTION("kvaerno5") { check_orders<nde::kvaerno5>(); }
}

namespace {

// Every method, with the Newton tolerances following the controller's.
template <class Method>
Method with_tolerances(double rtol, double atol) {
  return Method{.newton = {.rtol = rtol, .atol = atol}};
}

template <class Method>
double prothero_robinson_error(const nde::solve_options& options, std::size_t* steps = nullptr) {
  const auto s = run(prothero_robinson{}, with_tolerances<Method>(1e-8, 1e-10), 0.0, 10.0,
                     vec::Zero(1), options);
  REQUIRE(s.success());
  if (steps) *steps = s.stats.accepted_steps;
  return std::abs(s.ys.back()[0] - std::sin(10.0));
}

struct stiff_result {
  std::vector<vec> ys;
  nde::solve_stats stats;
  nde::newton_stats newton;
};

// ROBER from 0 to t100 = 100 and to t1, each solve ending on its output (the solver's accuracy,
// not that of the order-3 Hermite interpolant between steps).
template <class Method>
stiff_result rober_run(double rtol, double t1) {
  const double atol = rtol * 1e-6;
  stiff_result r;
  for (const double t_end : {100.0, t1}) {
    nde::newton_stats newton;
    const auto s = run(rober{}, with_tolerances<Method>(rtol, atol), 0.0, t_end, rober_y0(),
                       {.controller = nde::pid_controller{.rtol = rtol, .atol = atol}},
                       rober_theta(), &newton);
    INFO(s.message);
    REQUIRE(s.success());
    r.ys.push_back(s.ys.back());
    r.stats = s.stats;
    r.newton = newton;
  }
  return r;
}

template <class Method>
stiff_result van_der_pol_run(double rtol, double t1) {
  nde::newton_stats newton;
  const auto s =
      run(van_der_pol{}, with_tolerances<Method>(rtol, rtol), 0.0, t1, (vec(2) << 2, 0).finished(),
          {.save_at = nde::save_at::times({t1}),
           .controller = nde::pid_controller{.rtol = rtol, .atol = rtol}},
          no_params, &newton);
  INFO(s.message);
  REQUIRE(s.success());
  return {s.ys, s.stats, newton};
}

// max_i |y_i - ref_i| / (rtol |ref_i| + atol).
double weighted_error(const vec& y, const vec& ref, double rtol, double atol) {
  return ((y - ref).array().abs() / (rtol * ref.array().abs() + atol)).maxCoeff();
}

const double rober_end = nde_test::sanitized ? 1e3 : 1e5;
const double van_der_pol_end = nde_test::sanitized ? 300.0 : 3000.0;

const stiff_result& rober_reference() {
  static const stiff_result ref = rober_run<nde::kvaerno5>(1e-12, rober_end);
  return ref;
}
const stiff_result& van_der_pol_reference() {
  static const stiff_result ref = van_der_pol_run<nde::kvaerno5>(1e-12, van_der_pol_end);
  return ref;
}

// The global error, weighted by the local tolerance, stays below `bound` (measured values are
// about a third of it; low-order methods accumulate more).
template <class Method>
void check_rober(const char* name, double rtol, double bound) {
  const auto r = rober_run<Method>(rtol, rober_end);
  const auto& ref = rober_reference();
  const double atol = rtol * 1e-6;
  const double e100 = weighted_error(r.ys[0], ref.ys[0], rtol, atol);
  const double e_end = weighted_error(r.ys[1], ref.ys[1], rtol, atol);
  std::printf(
      "ROBER %-15s rtol %.0e: y(100) = (%.9f, %.6e, %.9f), weighted error %.2f at 100, "
      "%.2f at %.0e; %zu steps (%zu rejected), %zu Newton iterations, %zu Jacobians, "
      "%zu LUs\n",
      name, rtol, r.ys[0][0], r.ys[0][1], r.ys[0][2], e100, e_end, rober_end,
      r.stats.accepted_steps, r.stats.rejected_steps, r.newton.iterations, r.newton.jacobians,
      r.newton.factorisations);
  CHECK(e100 < bound);
  CHECK(e_end < bound);
  // The linear invariant y1 + y2 + y3 = 1 is kept to rounding (Newton corrections too: eᵀJ = 0).
  CHECK(std::abs(r.ys[0].sum() - 1) < 1e-13);
  CHECK(std::abs(r.ys[1].sum() - 1) < 1e-13);
}

template <class Method>
void check_van_der_pol(const char* name, double rtol, double bound) {
  const auto r = van_der_pol_run<Method>(rtol, van_der_pol_end);
  const auto& ref = van_der_pol_reference();
  const double e = weighted_error(r.ys[0], ref.ys[0], rtol, rtol);
  std::printf(
      "VdP   %-15s rtol %.0e: y(%g) = (%.9f, %.9f), weighted error %.2f; %zu steps (%zu "
      "rejected), %zu Newton iterations, %zu Jacobians, %zu LUs\n",
      name, rtol, van_der_pol_end, r.ys[0][0], r.ys[0][1], e, r.stats.accepted_steps,
      r.stats.rejected_steps, r.newton.iterations, r.newton.jacobians, r.newton.factorisations);
  CHECK(e < bound);
}

}  // namespace

TEST_CASE("Prothero–Robinson (λ = 1e6): stable and accurate at h = 0.1 = 1e5/λ",
          "[solvers][implicit][stiff]") {
  const nde::solve_options fixed{.controller = nde::constant_step{.dt = 0.1}};
  // L-stable and stiffly accurate: the stiff component is damped, y stays on sin t.
  CHECK(prothero_robinson_error<nde::implicit_euler>(fixed) < 1e-6);
  CHECK(prothero_robinson_error<nde::trbdf2>(fixed) < 1e-6);
  CHECK(prothero_robinson_error<nde::kvaerno3>(fixed) < 1e-6);
  CHECK(prothero_robinson_error<nde::kvaerno4>(fixed) < 1e-6);
  CHECK(prothero_robinson_error<nde::kvaerno5>(fixed) < 1e-6);
  // Adaptive: a few hundred steps over [0, 10], not ~λ·10.
  std::size_t steps = 0;
  const nde::solve_options adaptive{.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-10}};
  CHECK(prothero_robinson_error<nde::kvaerno5>(adaptive, &steps) < 1e-7);
  CHECK(steps < 500);
  CHECK(prothero_robinson_error<nde::trbdf2>(adaptive, &steps) < 1e-7);
  CHECK(steps < 5000);
}

TEST_CASE("ROBER to t = 1e5 against a kvaerno5 reference at rtol 1e-12; mass is conserved",
          "[solvers][implicit][stiff]") {
  const auto& ref = rober_reference();
  std::printf(
      "ROBER reference (kvaerno5, rtol 1e-12): y(100) = (%.12f, %.12e, %.12f), "
      "y(%.0e) = (%.12e, %.12e, %.12e), %zu steps\n",
      ref.ys[0][0], ref.ys[0][1], ref.ys[0][2], rober_end, ref.ys[1][0], ref.ys[1][1], ref.ys[1][2],
      ref.stats.accepted_steps);
  // Diffrax's Kvaerno5 at rtol 1e-8: y(100) = (0.6172349, 6.1536e-6, 0.3827590).
  CHECK(ref.ys[0][0] == Catch::Approx(0.6172349).epsilon(2e-7));
  CHECK(ref.ys[0][1] == Catch::Approx(6.1536e-6).epsilon(2e-5));
  CHECK(ref.ys[0][2] == Catch::Approx(0.3827590).epsilon(2e-7));
  for (const double rtol : {1e-6, 1e-8}) {
    check_rober<nde::kvaerno5>("kvaerno5", rtol, 15);
    check_rober<nde::trbdf2>("trbdf2", rtol, 800);
    if (nde_test::sanitized) continue;
    check_rober<nde::kvaerno3>("kvaerno3", rtol, 25);
    check_rober<nde::kvaerno4>("kvaerno4", rtol, 15);
    if (rtol >= 1e-6) check_rober<nde::implicit_euler>("implicit_euler", rtol, 3000);
  }
}

TEST_CASE("Van der Pol μ = 1000 on [0, 3000] against a kvaerno5 reference at rtol 1e-12",
          "[solvers][implicit][stiff]") {
  const auto& ref = van_der_pol_reference();
  std::printf("VdP reference (kvaerno5, rtol 1e-12): y(%g) = (%.12f, %.12f), %zu steps\n",
              van_der_pol_end, ref.ys[0][0], ref.ys[0][1], ref.stats.accepted_steps);
  for (const double rtol : {1e-6, 1e-8}) {
    check_van_der_pol<nde::kvaerno5>("kvaerno5", rtol, 150);
    check_van_der_pol<nde::trbdf2>("trbdf2", rtol, 1000);
    if (nde_test::sanitized) continue;
    check_van_der_pol<nde::kvaerno3>("kvaerno3", rtol, 2000);
    check_van_der_pol<nde::kvaerno4>("kvaerno4", rtol, 60);
  }
}

namespace {

// y' = -y³ (y = 1/sqrt(1 + 2t)).
struct cubic_decay {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  void operator()(double, const vec& y, params, vec& dydt) const {
    dydt = -y.array().cube().matrix();
  }
  void jacobian(double, const vec& y, params, mat& jac) const {
    jac = (-3 * y.array().square()).matrix().asDiagonal();
  }
};

// y' = λ y with a Jacobian that can be made NaN or the wrong size.
struct linear_growth {
  static constexpr bool autonomous = true;
  double lambda = 2;
  bool nan_jacobian = false;
  bool wrong_size = false;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  void operator()(double, const vec& y, params, vec& dydt) const { dydt = lambda * y; }
  void jacobian(double, const vec& y, params, mat& jac) const {
    const Eigen::Index n = wrong_size ? y.size() + 1 : y.size();
    jac = lambda * mat::Identity(n, n);
    if (nan_jacobian) jac(0, 0) = std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace

TEST_CASE("a Newton failure is a rejected step, never a silent accept",
          "[solvers][implicit][newton]") {
  // dt0 = 50: the first stage's simplified Newton iteration diverges (f = -y³ at a far guess),
  // the controller halves the step until it converges.
  nde::newton_stats stats;
  const auto s =
      run(cubic_decay{}, with_tolerances<nde::kvaerno3>(1e-6, 1e-9), 0.0, 100.0, vec::Ones(1),
          {.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-9, .dt0 = 50}}, no_params,
          &stats);
  INFO(s.message);
  REQUIRE(s.success());
  CHECK(s.stats.rejected_steps > 0);
  CHECK(stats.failures > 0);
  CHECK(stats.jacobians >= 1);
  CHECK(stats.factorisations > stats.jacobians);
  CHECK(s.ys.back()[0] == Catch::Approx(1 / std::sqrt(201.0)).epsilon(1e-5));
  // With constant steps there is nothing to shrink: a clear failure.
  const auto fixed = run(cubic_decay{}, nde::kvaerno3{}, 0.0, 100.0, vec::Ones(1),
                         {.controller = nde::constant_step{.dt = 50}});
  CHECK(fixed.status == nde::status::not_converged);
  CHECK_THAT(fixed.message, Catch::Contains("Newton"));
}

TEST_CASE("singular Newton matrix, NaN Jacobian and a Jacobian of the wrong size",
          "[solvers][implicit][newton]") {
  // y' = 2y with h = 0.5 and γ = 1: I - hγJ = 0.
  const nde::solve_options fixed{.controller = nde::constant_step{.dt = 0.5}};
  const auto singular = run(linear_growth{}, nde::implicit_euler{}, 0.0, 1.0, vec::Ones(1), fixed);
  CHECK(singular.status == nde::status::not_converged);
  CHECK_THAT(singular.message, Catch::Contains("Newton"));
  // Adaptive: the singular step is rejected and halved.
  const auto adaptive =
      run(linear_growth{}, nde::implicit_euler{}, 0.0, 1.0, vec::Ones(1),
          {.controller = nde::pid_controller{.rtol = 1e-3, .atol = 1e-6, .dt0 = 0.5}});
  CHECK(adaptive.success());
  CHECK(adaptive.stats.rejected_steps > 0);

  const auto nan =
      run(linear_growth{.nan_jacobian = true}, nde::kvaerno5{}, 0.0, 1.0, vec::Ones(2), fixed);
  CHECK(nan.status == nde::status::non_finite);
  CHECK_THAT(nan.message, Catch::Contains("Jacobian"));

  const auto wrong = run(linear_growth{.wrong_size = true}, nde::trbdf2{}, 0.0, 1.0, vec::Ones(2),
                         {.controller = nde::pid_controller{}});
  CHECK(wrong.status == nde::status::invalid_input);
  CHECK_THAT(wrong.message, Catch::Contains("3x3") && Catch::Contains("size 2"));
}

namespace {

// L = Σ_i w_i · y(t_i) for ROBER over θ = log k.
struct rober_loss {
  vec y0 = rober_y0();
  double t1 = 40;
  std::vector<double> ts{1.0, 10.0, 40.0};
  std::vector<vec> w{(vec(3) << 1, 2e3, -0.5).finished(), (vec(3) << -0.3, 1e4, 1).finished(),
                     (vec(3) << 0.7, -3e3, 2).finished()};
  // Steps land on the outputs: no interpolation error whose step-size dependence would enter
  // the finite differences of the adaptive solve.
  nde::step_size_controller controller =
      nde::pid_controller{.rtol = 1e-10, .atol = 1e-16, .step_ts = {1.0, 10.0}};
};

template <class Field, class Method>
double rober_value(const Method& method, const rober_loss& p, const vec& theta) {
  const auto s = run(Field{}, method, 0.0, p.t1, p.y0,
                     {.save_at = nde::save_at::times(p.ts), .controller = p.controller}, theta);
  REQUIRE(s.success());
  double loss = 0;
  for (std::size_t i = 0; i < p.ts.size(); ++i) loss += p.w[i].dot(s.ys[i]);
  return loss;
}

template <class Field, class Method>
vec rober_fd(const Method& method, const rober_loss& p, double eps) {
  vec g(3);
  for (Eigen::Index j = 0; j < 3; ++j) {
    vec up = rober_theta(), down = rober_theta();
    up[j] += eps;
    down[j] -= eps;
    g[j] = (rober_value<Field>(method, p, up) - rober_value<Field>(method, p, down)) / (2 * eps);
  }
  return g;
}

template <class Field, class Method>
nde::gradient_result<vec> rober_gradient(const Method& method, const rober_loss& p,
                                         nde::adjoint_method adjoint) {
  nde::ode_term<Field> term{Field{}};
  auto s = nde::solve(
      term, method, 0.0, p.t1, p.y0, rober_theta(),
      {.save_at = nde::save_at::times(p.ts), .controller = p.controller, .adjoint = adjoint});
  INFO(s.message);
  REQUIRE(s.success());
  auto g = s.backward(p.w);
  INFO(g.message);
  REQUIRE(g.status == nde::status::success);
  return g;
}

double relative(const vec& a, const vec& b) {
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

}  // namespace

TEST_CASE(
    "ROBER dL/dlog k: the discrete adjoint of adaptive kvaerno5 and trbdf2 solves meets "
    "central finite differences",
    "[solvers][implicit][gradients]") {
  rober_loss p;
  const nde::newton_options newton{.rtol = 1e-12, .atol = 1e-18};
  {
    const nde::kvaerno5 method{.newton = newton};
    const auto g = rober_gradient<rober>(method, p, nde::discrete_adjoint{});
    const vec fd = rober_fd<rober>(method, p, 1e-5);
    std::printf(
        "ROBER kvaerno5 discrete adjoint (%zu steps): dL/dlog k = (%.10e, %.10e, %.10e), "
        "relative difference to FD %.2e\n",
        g.stats.forward_steps, g.params[0], g.params[1], g.params[2], relative(g.params, fd));
    CHECK(relative(g.params, fd) < 1e-6);
    // Without a dense Jacobian: Newton from jvps, the adjoint stages iterate on vjps.
    const auto g_vjp = rober_gradient<rober_vjp_only>(method, p, nde::discrete_adjoint{});
    std::printf("  jvp/vjp-only term: relative difference %.2e\n",
                relative(g_vjp.params, g.params));
    CHECK(relative(g_vjp.params, g.params) < 1e-7);
    // Forward sensitivities and the checkpointed continuous adjoint agree.
    const auto g_fwd = rober_gradient<rober>(method, p, nde::forward_sensitivity{});
    std::printf("  forward sensitivities: relative difference %.2e\n",
                relative(g_fwd.params, g.params));
    CHECK(relative(g_fwd.params, g.params) < 1e-9);
    const auto g_ckpt = rober_gradient<rober>(
        method, p,
        nde::checkpointed_adjoint{.controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
    std::printf(
        "  checkpointed (continuous) adjoint: relative difference %.2e (%zu backward steps)\n",
        relative(g_ckpt.params, g.params), g_ckpt.stats.backward_steps);
    CHECK(relative(g_ckpt.params, g.params) < 1e-5);
    // Backsolve integrates y backward too, where ROBER's fast decay is a fast growth: it either
    // fails with a status or agrees, never returns a silently wrong gradient.
    if (nde_test::sanitized) return;  // ~1300 backward steps with 9x9 difference Jacobians
    nde::ode_term<rober> term{rober{}};
    auto s = nde::solve(term, method, 0.0, p.t1, p.y0, rober_theta(),
                        {.save_at = nde::save_at::times(p.ts),
                         .controller = p.controller,
                         .adjoint = nde::backsolve_adjoint{
                             .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}}});
    REQUIRE(s.success());
    const auto g_back = s.backward(p.w);
    std::printf(
        "  backsolve (continuous) adjoint: %s\n",
        g_back.status == nde::status::success
            ? ("relative difference " + std::to_string(relative(g_back.params, g.params))).c_str()
            : g_back.message.c_str());
    if (g_back.status == nde::status::success) CHECK(relative(g_back.params, g.params) < 1e-4);
  }
  if (!nde_test::sanitized) {
    const nde::trbdf2 method{.newton = newton};
    rober_loss q = p;
    q.controller = nde::pid_controller{.rtol = 1e-9, .atol = 1e-15, .step_ts = {1.0, 10.0}};
    const auto g = rober_gradient<rober>(method, q, nde::discrete_adjoint{});
    const vec fd = rober_fd<rober>(method, q, 1e-5);
    std::printf("ROBER trbdf2 discrete adjoint (%zu steps): relative difference to FD %.2e\n",
                g.stats.forward_steps, relative(g.params, fd));
    CHECK(relative(g.params, fd) < 1e-6);
  }
}

TEST_CASE("the discrete adjoint of a fixed-step kvaerno5 solve is the derivative of that map",
          "[solvers][implicit][gradients]") {
  rober_loss p;
  // Start on the slow manifold (ROBER at t = 1): fixed steps of 0.1 through the initial
  // transient would need a Newton iteration with updated Jacobians.
  p.y0 = run(rober{}, nde::kvaerno5{}, 0.0, 1.0, rober_y0(),
             {.controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-16}}, rober_theta())
             .ys.back();
  p.t1 = 10;
  p.ts = {2.55, 5.03, 10.0};  // two outputs from the dense output
  p.controller = nde::constant_step{.dt = 0.1};
  // Newton to 1e-14: the map is then smooth enough for 1e-8 finite differences.
  const nde::kvaerno5 method{.newton = {.rtol = 1e-12, .atol = 1e-20}};
  const auto g = rober_gradient<rober>(method, p, nde::discrete_adjoint{});
  const vec fd = rober_fd<rober>(method, p, 1e-4);
  std::printf(
      "fixed-step kvaerno5 discrete adjoint: (%.12e, %.12e, %.12e), relative difference "
      "to FD %.2e\n",
      g.params[0], g.params[1], g.params[2], relative(g.params, fd));
  CHECK(relative(g.params, fd) < 1e-8);
  const auto g_fwd = rober_gradient<rober>(method, p, nde::forward_sensitivity{});
  CHECK(relative(g_fwd.params, g.params) < 1e-11);
  CHECK(relative(g_fwd.y0, g.y0) < 1e-11);
  // Time gradients (the output times move the dense outputs, t1 the last step).
  for (std::size_t i = 0; i < p.ts.size(); ++i)
    CHECK(g_fwd.ts[i] == Catch::Approx(g.ts[i]).epsilon(1e-10).margin(1e-12));
  // (margins: these are ~1e-8 here, at the cancellation level of gradients ~0.2)
  CHECK(g_fwd.t0 == Catch::Approx(g.t0).epsilon(1e-10).margin(1e-12));
  CHECK(g_fwd.t1 == Catch::Approx(g.t1).epsilon(1e-10).margin(1e-12));
  std::printf(
      "  time gradients (discrete, forward): ts = (%.6e, %.6e, %.6e) vs (%.6e, %.6e, %.6e)\n",
      g.ts[0], g.ts[1], g.ts[2], g_fwd.ts[0], g_fwd.ts[1], g_fwd.ts[2]);
  const auto g_vjp = rober_gradient<rober_vjp_only>(method, p, nde::discrete_adjoint{});
  CHECK(relative(g_vjp.params, g.params) < 1e-11);
  // Binomial checkpointing replays steps from a fresh Jacobian: the same gradient.
  const auto g_binomial =
      rober_gradient<rober>(method, p, nde::discrete_adjoint{.max_checkpoints = 5});
  CHECK(relative(g_binomial.params, g.params) < 1e-11);
}

TEST_CASE("reversed time: integrating from t = 1 back to 0 recovers y(0)", "[solvers][implicit]") {
  const auto s =
      run(smooth{}, with_tolerances<nde::kvaerno5>(1e-10, 1e-12), 1.0, 0.0, smooth::exact(1.0),
          {.save_at = nde::save_at::times({0.5, 0.0}),
           .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
  REQUIRE(s.success());
  CHECK((s.ys[1] - smooth::exact(0.0)).cwiseAbs().maxCoeff() < 1e-8);
  CHECK((s.ys[0] - smooth::exact(0.5)).cwiseAbs().maxCoeff() < 1e-6);  // Hermite, order 3
}

TEST_CASE("a batch (matrix state, one column per sample) shares the steps and the Newton matrix",
          "[solvers][implicit][batch]") {
  // ROBER column by column; the Jacobian (6x6, block diagonal) from finite differences.
  auto f = [](double, const Eigen::MatrixXd& y, Eigen::MatrixXd& dydt) {
    dydt.resize(y.rows(), y.cols());
    for (Eigen::Index j = 0; j < y.cols(); ++j) {
      dydt(0, j) = -0.04 * y(0, j) + 1e4 * y(1, j) * y(2, j);
      dydt(1, j) = 0.04 * y(0, j) - 3e7 * y(1, j) * y(1, j) - 1e4 * y(1, j) * y(2, j);
      dydt(2, j) = 3e7 * y(1, j) * y(1, j);
    }
  };
  Eigen::MatrixXd y0(3, 2);
  y0 << 1, 0.5, 0, 0, 0, 0.5;
  const auto s = nde::solve(f, nde::kvaerno5{.newton = {.rtol = 1e-8, .atol = 1e-14}}, 0.0, 100.0,
                            y0, {.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-14}});
  INFO(s.message);
  REQUIRE(s.success());
  CHECK(s.ys.back()(0, 0) == Catch::Approx(0.617234882396).epsilon(1e-7));
  CHECK(s.ys.back()(1, 0) == Catch::Approx(6.153591274639e-06).epsilon(1e-6));
  CHECK(std::abs(s.ys.back().col(0).sum() - 1) < 1e-13);
  CHECK(std::abs(s.ys.back().col(1).sum() - 1) < 1e-13);
}
