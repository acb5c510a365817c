// The high-order explicit pairs DOP853 and Vern7: empirical orders (global, local, embedded
// estimates, dense output at interior points), their lazy dense-output stages and cost,
// adaptive accuracy against exact solutions at tight tolerances and their work against dopri5,
// and exact gradients through them (discrete adjoint against central differences and against
// forward sensitivities, outputs inside steps included).
#include <nde/nde.hpp>
#include <nde/solvers/dop853.hpp>
#include <nde/solvers/vern7.hpp>

#include <unsupported/Eigen/MatrixFunctions>

#include <catch.hpp>

#include "sanitized.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>
#include <vector>

namespace {

// Orders are measured in long double: round-off must stay far below errors of 1e-15.
using real = long double;
using state3 = Eigen::Matrix<real, 3, 1>;

// Non-normal linear system y' = A y, exact solution expm(A t) y0 (its leading error terms are
// clean, so local orders show already at large steps).
struct linear_problem {
  using matrix = Eigen::Matrix<real, 3, 3>;
  matrix a = (matrix() << -0.3, 1.1, 0.2, -1.0, -0.2, 0.5, 0.1, -0.4, -0.6).finished();
  state3 y0 = state3(1.0, 0.5, -0.3);
  void operator()(real, const state3& y, state3& dydt) const { dydt.noalias() = a * y; }
  [[nodiscard]] state3 exact(real t) const { return (a * t).exp() * y0; }
};

// Nonlinear and non-autonomous, written once over its state type: y1' = cos(t) y1
// (y1 = exp(sin t)), y2' = -y2³/2 (y2 = 1/√(1 + t)), y3' = 1 - y3² (y3 = tanh t).
struct nonlinear_problem {
  template <class T, class State>
  void operator()(T t, const State& y, State& dydt) const {
    using std::cos;
    dydt.resize(3);
    dydt[0] = cos(t) * y[0];
    dydt[1] = -y[1] * y[1] * y[1] / 2;
    dydt[2] = 1 - y[2] * y[2];
  }
  template <class State, class T>
  [[nodiscard]] static State exact(T t) {
    using std::exp;
    using std::sin;
    using std::sqrt;
    using std::tanh;
    State y(3);
    y << exp(sin(t)), 1 / sqrt(1 + t), tanh(t);
    return y;
  }
  state3 y0 = exact<state3>(real(0));
  [[nodiscard]] state3 exact(real t) const { return exact<state3>(t); }
};

template <class State>
double max_error(const State& y, const State& reference) {
  return static_cast<double>((y - reference).template lpNorm<Eigen::Infinity>());
}

// Global errors at t1 = 2 and at interior outputs on constant steps 2/n. The outputs sit at
// θ = 1/3 and 2/3 of the coarsest steps, hence at θ ∈ {1/3, 2/3} of every halved grid too: the
// dense-output error is compared at the same places of a step across the refinement.
template <class Method, class Problem>
void check_global_orders(const Problem& problem, const std::vector<int>& counts) {
  const double coarse = 2.0 / counts.front();
  std::vector<double> interior;
  for (int k = 0; k < counts.front(); ++k)
    for (const double theta : {1.0 / 3, 2.0 / 3}) interior.push_back((k + theta) * coarse);
  std::vector<double> steps, final_errors, dense_errors;
  for (const int n : counts) {
    auto f = problem;
    auto sol = nde::solve(f, Method{}, real(0), real(2), problem.y0,
                          {.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = interior},
                           .controller = nde::constant_step{.dt = 2.0 / n}});
    REQUIRE(sol.success());
    steps.push_back(2.0 / n);
    final_errors.push_back(max_error(sol.ys.back(), problem.exact(real(2))));
    double dense = 0;
    for (std::size_t i = 0; i < interior.size(); ++i)
      dense = std::max(dense, max_error(sol.ys[i], problem.exact(sol.ts[i])));
    dense_errors.push_back(dense);
  }
  const double order = nde::testing::convergence_order(steps, final_errors);
  const double dense_order = nde::testing::convergence_order(steps, dense_errors);
  // The continuous extension's local error O(h^(q+1)) does not accumulate: the interior error
  // is the global error (order p) plus the interpolation error (order q + 1), so its slope lies
  // between the two before the lower one takes over (Vern7 on the nonlinear problem: 7.7).
  const int expected_dense = std::min(Method::order, Method::dense_order + 1);
  const int latest_dense = std::max(Method::order, Method::dense_order + 1);
  INFO("global order " << order << " (errors " << final_errors.front() << " .. "
                       << final_errors.back() << "), dense-output order " << dense_order
                       << " (errors " << dense_errors.front() << " .. " << dense_errors.back()
                       << ")");
  CHECK(std::abs(order - Method::order) < 0.2);
  CHECK(dense_order > expected_dense - 0.2);
  CHECK(dense_order < latest_dense + 0.2);
}

// One step from the exact solution at t0 = 0.5: local errors of y1 and of the dense output at
// interior points, the embedded estimates. `dense_steps`/`local_steps`: step sizes in the
// asymptotic range above long-double round-off (and above the ~1e-17 floor that the
// double-rounded coefficients leave).
struct one_step_errors {
  std::vector<double> steps, local, dense, estimate, secondary, combined;
};

template <class Method>
one_step_errors one_steps(const std::vector<double>& steps) {
  const linear_problem problem;
  const real t0 = 0.5;
  const state3 y0 = problem.exact(t0);
  const Method method;
  auto ws = method.make_workspace(y0);
  auto term = nde::make_ode_term(problem);
  const Eigen::Matrix<real, Eigen::Dynamic, 1> none;
  const nde::params_view<real> theta(none);
  std::array<state3, Method::dense_degree + 1> coefficients;
  one_step_errors e;
  for (const double step : steps) {
    const real h = step;
    state3 y1;
    REQUIRE(method.init(term, t0, y0, theta, ws) == nde::status::success);
    const auto r = method.step(term, t0, t0 + h, y0, theta, ws, y1);
    REQUIRE(r.status == nde::status::success);
    REQUIRE(method.evaluate_end(term, t0 + h, y1, theta, ws) == nde::status::success);
    REQUIRE(method.evaluate_dense_stages(term, t0, t0 + h, y0, theta, ws) == nde::status::success);
    method.dense_coefficients(t0, t0 + h, y0, y1, ws, coefficients);
    double dense = 0;
    for (const real at : {real(0.25), real(0.5), real(0.75)}) {
      state3 value;
      nde::detail::evaluate_polynomial(coefficients, coefficients.size(), at, value);
      dense = std::max(dense, max_error(value, problem.exact(t0 + at * h)));
    }
    e.steps.push_back(step);
    e.local.push_back(max_error(y1, problem.exact(t0 + h)));
    e.dense.push_back(dense);
    e.estimate.push_back(static_cast<double>(r.error->template lpNorm<Eigen::Infinity>()));
    if (r.error_secondary != nullptr) {
      const double low = static_cast<double>(r.error_secondary->norm());
      const double high = static_cast<double>(r.error->norm());
      e.secondary.push_back(
          static_cast<double>(r.error_secondary->template lpNorm<Eigen::Infinity>()));
      e.combined.push_back(high * high / std::sqrt(high * high + 0.01 * low * low));
    }
  }
  return e;
}

double slope(const std::vector<double>& steps, const std::vector<double>& errors, std::size_t from,
             std::size_t count) {
  return nde::testing::convergence_order(std::span(steps).subspan(from, count),
                                         std::span(errors).subspan(from, count));
}

// ---- adaptive solves of the nonlinear problem in double, dynamic size --------------------------
using vec = Eigen::VectorXd;

template <class Method>
nde::solution<double, vec> adaptive(double t0, double t1, double rtol,
                                    const std::vector<double>& ts = {}) {
  const nonlinear_problem f;
  nde::save_at save = nde::save_at::times(ts);
  save.t1 = true;
  return nde::solve(
      f, Method{}, t0, t1, nonlinear_problem::exact<vec>(t0),
      {.save_at = save, .controller = nde::pid_controller{.rtol = rtol, .atol = rtol * 1e-2}});
}

// Largest |y - y*| / (rtol |y*| + atol) over the outputs.
double weighted_error(const nde::solution<double, vec>& sol, double rtol) {
  double worst = 0;
  for (std::size_t i = 0; i < sol.ts.size(); ++i) {
    const vec exact = nonlinear_problem::exact<vec>(sol.ts[i]);
    const vec scale = (rtol * exact.cwiseAbs()).array() + rtol * 1e-2;
    worst = std::max(worst, ((sol.ys[i] - exact).cwiseQuotient(scale)).lpNorm<Eigen::Infinity>());
  }
  return worst;
}

template <class Method>
concept has_dense_stage_hook = requires(const Method& m,
                                        typename Method::template workspace<vec>& ws,
                                        nde::ode_term<nde::linear_field<vec>>& term, const vec& y) {
  m.evaluate_dense_stages(term, 0.0, 1.0, y, nde::params_view<double>(y), ws);
};

}  // namespace

TEST_CASE("DOP853 and Vern7 tableaux check themselves; their costs and traits",
          "[solvers][high_order][tableau]") {
  STATIC_REQUIRE(nde::valid_tableau<nde::dop853_tableau>());
  STATIC_REQUIRE(nde::valid_tableau<nde::vern7_tableau>());
  STATIC_REQUIRE(nde::dop853::fsal && !nde::vern7::fsal);
  STATIC_REQUIRE(nde::dop853::order == 8 && nde::vern7::order == 7);
  // DOP853's combined estimate behaves like h^8 (‖e5‖²/‖e3‖ with e5 ~ h^6, e3 ~ h^4).
  STATIC_REQUIRE(nde::dop853::error_order == 7 && nde::dop853::secondary_error);
  STATIC_REQUIRE(nde::vern7::error_order == 6 && !nde::vern7::secondary_error);
  STATIC_REQUIRE(nde::dop853::extra_stages == 3 && nde::dop853::dense_evaluations == 3);
  // Vern7's stage 11 is f(t1, y1): taken from evaluate_end, not evaluated again.
  STATIC_REQUIRE(nde::vern7::extra_stages == 6 && nde::vern7::dense_evaluations == 5);
  STATIC_REQUIRE(nde::vern7::is_end_stage(10) && !nde::vern7::is_end_stage(11));
  STATIC_REQUIRE(nde::dop853::tableau::a[12][5] == nde::dop853::tableau::b[5]);
  // Methods without extra stages have no dense-stage hook (the driver calls nothing for them).
  STATIC_REQUIRE(has_dense_stage_hook<nde::dop853> && has_dense_stage_hook<nde::vern7>);
  STATIC_REQUIRE_FALSE(has_dense_stage_hook<nde::dopri5>);
}

TEMPLATE_TEST_CASE("high-order pairs: global and interior dense-output orders",
                   "[solvers][high_order][order]", nde::dop853, nde::vern7) {
  // Step counts where the leading term dominates and the errors stay above ~1e-15.
  const std::vector<int> counts =
      TestType::order == 8 ? std::vector<int>{4, 8, 16} : std::vector<int>{8, 16, 32};
  SECTION("linear system (expm reference)") {
    check_global_orders<TestType>(linear_problem{}, counts);
  }
  SECTION("nonlinear non-autonomous problem") {
    check_global_orders<TestType>(nonlinear_problem{}, counts);
  }
}

TEMPLATE_TEST_CASE("high-order pairs: local error, embedded estimates and dense output per step",
                   "[solvers][high_order][order]", nde::dop853, nde::vern7) {
  const auto e = one_steps<TestType>({0.4, 0.2, 0.1, 0.05});
  const double local = slope(e.steps, e.local, TestType::order == 8 ? 0 : 1, 3);
  const double dense = slope(e.steps, e.dense, 0, 3);
  const double estimate = slope(e.steps, e.estimate, 0, 4);
  INFO("local order " << local << ", dense-output local order " << dense
                      << ", embedded estimate order " << estimate);
  CHECK(std::abs(local - (TestType::order + 1)) < 0.2);
  // A continuous extension of order q = 7: local error O(h^8) at interior points.
  CHECK(std::abs(dense - (TestType::dense_order + 1)) < 0.2);
  CHECK(std::abs(estimate - (TestType::tableau::error_order + 1)) < 0.2);
  if constexpr (TestType::secondary_error) {
    const double secondary = slope(e.steps, e.secondary, 0, 4);
    const double combined = slope(e.steps, e.combined, 0, 4);
    INFO("3rd-order estimate order " << secondary << ", combined estimate order " << combined);
    CHECK(std::abs(secondary - (TestType::tableau::secondary_error_order + 1)) < 0.2);
    CHECK(std::abs(combined - (TestType::error_order + 1)) < 0.3);
  }
}

TEMPLATE_TEST_CASE("the extra dense-output stages are evaluated only for steps with outputs",
                   "[solvers][high_order][dense]", nde::dop853, nde::vern7) {
  const nonlinear_problem f;
  const vec y0 = nonlinear_problem::exact<vec>(0.0);
  const auto run = [&](const std::vector<double>& ts, bool dense) {
    nde::save_at save = nde::save_at::times(ts);
    save.t1 = true;
    return nde::solve(
        f, TestType{}, 0.0, 1.0, y0,
        {.save_at = save, .controller = nde::constant_step{.dt = 0.1}, .dense = dense});
  };
  const auto plain = run({}, false);
  const auto outputs = run({0.05, 0.07, 0.33, 0.85}, false);  // inside 3 steps, not the last
  const auto full = run({}, true);
  REQUIRE(plain.success());
  REQUIRE(outputs.success());
  REQUIRE(full.success());
  // f(t0, y0), then per step the new stages (and f(t1, y1) before the next step without FSAL).
  const std::size_t per_step = TestType::stages - 1 + (TestType::fsal ? 0 : 1);
  const std::size_t base = 1 + 10 * per_step - (TestType::fsal ? 0 : 1);
  CHECK(plain.stats.rhs_evals == base);
  CHECK(outputs.stats.rhs_evals == base + 3 * TestType::dense_evaluations);
  // A dense solution holds every step: the last step needs its f(t1, y1) too (Vern7).
  CHECK(full.stats.rhs_evals == base + 10 * TestType::dense_evaluations + (TestType::fsal ? 0 : 1));
  CHECK(plain.ys.back() == outputs.ys.back());
  CHECK(plain.ys.back() == full.ys.back());
  // The stored dense solution and the outputs read the same interpolant.
  for (std::size_t i = 0; i + 1 < outputs.ts.size(); ++i) {
    vec value = y0;
    REQUIRE(full.dense.evaluate(outputs.ts[i], value) == nde::status::success);
    CHECK((value - outputs.ys[i]).norm() <= 1e-15 * (1 + value.norm()));
    CHECK(max_error(value, nonlinear_problem::exact<vec>(outputs.ts[i])) < 1e-9);
  }
}

TEMPLATE_TEST_CASE(
    "adaptive solves at rtol 1e-10..1e-12 meet the exact solution, forward and "
    "backward in time",
    "[solvers][high_order][adaptive]", nde::dop853, nde::vern7) {
  const std::vector<double> ts{0.3, 1.1, 2.35, 3.7};
  // Backward from t = 1.5 only: y3 = tanh t is repelling backward in time (errors grow like
  // cosh² t), which would measure the problem's conditioning rather than the solver.
  const std::vector<double> back{1.1, 0.3};
  const std::vector<double> tolerances =
      nde_test::sanitized ? std::vector<double>{1e-10} : std::vector<double>{1e-10, 1e-11, 1e-12};
  for (const double rtol : tolerances) {
    const auto forward = adaptive<TestType>(0.0, 4.0, rtol, ts);
    const auto backward = adaptive<TestType>(1.5, 0.0, rtol, back);
    REQUIRE(forward.success());
    REQUIRE(backward.success());
    const double e_forward = weighted_error(forward, rtol);
    const double e_backward = weighted_error(backward, rtol);
    INFO("rtol " << rtol << ": weighted error " << e_forward << " forward, " << e_backward
                 << " backward, " << forward.stats.rhs_evals << " evaluations");
    // The local tolerance, accumulated over a few dozen steps and carried by the flow (y3 =
    // tanh t crosses 0 at t = 0, where only atol = rtol/100 scales it), the interior outputs read
    // from the dense output.
    CHECK(e_forward < 25);
    CHECK(e_backward < 25);
  }
}

TEST_CASE("at rtol 1e-10 DOP853 and Vern7 need fewer evaluations of f than dopri5",
          "[solvers][high_order][adaptive]") {
  const auto d5 = adaptive<nde::dopri5>(0.0, 4.0, 1e-10);
  const auto d8 = adaptive<nde::dop853>(0.0, 4.0, 1e-10);
  const auto v7 = adaptive<nde::vern7>(0.0, 4.0, 1e-10);
  REQUIRE(d5.success());
  REQUIRE(d8.success());
  REQUIRE(v7.success());
  INFO("evaluations: dopri5 " << d5.stats.rhs_evals << ", dop853 " << d8.stats.rhs_evals
                              << ", vern7 " << v7.stats.rhs_evals << "; weighted errors "
                              << weighted_error(d5, 1e-10) << ", " << weighted_error(d8, 1e-10)
                              << ", " << weighted_error(v7, 1e-10));
  CHECK(d8.stats.rhs_evals < d5.stats.rhs_evals);
  CHECK(v7.stats.rhs_evals < d5.stats.rhs_evals);
  CHECK(weighted_error(d8, 1e-10) < 10);
  CHECK(weighted_error(v7, 1e-10) < 10);
}

namespace {

// ---- gradients: a forced damped pendulum with parameters, time-dependent -------------------
struct pendulum_fn {
  template <class Time, class Y, class P, class D>
  void operator()(Time t, const Y& y, const P& theta, D& dydt) const {
    using std::cos;
    using std::sin;
    dydt[0] = y[1];
    dydt[1] = -theta[0] * sin(y[0]) - theta[1] * y[1] + theta[2] * cos(t);
  }
};
using pendulum = nde::autodiff_field<vec, pendulum_fn>;

struct gradient_case {
  vec theta = (vec(3) << 1.3, 0.2, 0.5).finished();
  vec y0 = (vec(2) << 0.7, -0.3).finished();
  double t0 = 0.0, t1 = 1.03;
  std::vector<double> ts{0.25, 0.62, 0.97};  // inside steps of dt = 0.1 (dense output)
};

std::vector<vec> weights() {
  return {(vec(2) << 0.4, -1.0).finished(), (vec(2) << 1.1, 0.3).finished(),
          (vec(2) << -0.6, 0.8).finished(), (vec(2) << 0.5, 0.5).finished()};  // + t1
}

template <class Method>
auto solve_case(const gradient_case& p, nde::solve_options o) {
  o.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = p.ts};
  return nde::solve(nde::ode_term<pendulum>{pendulum(pendulum_fn{}, 3)}, Method{}, p.t0, p.t1, p.y0,
                    p.theta, o);
}

template <class Method>
double loss(const gradient_case& p, const nde::solve_options& o) {
  auto s = solve_case<Method>(p, o);
  REQUIRE(s.success());
  const auto w = weights();
  double l = 0;
  for (std::size_t i = 0; i < s.ys.size(); ++i) l += w[i].dot(s.ys[i]);
  return l;
}

// dL/dθ (3), dL/dy0 (2), dL/dt0, dL/dt1, dL/dts (3).
vec flatten(const nde::gradient_result<vec>& g) {
  vec d(10);
  d << g.params, g.y0, g.t0, g.t1, g.ts[0], g.ts[1], g.ts[2];
  return d;
}

template <class Method>
vec central_differences(const gradient_case& p, const nde::solve_options& o, double h) {
  vec d(10);
  Eigen::Index k = 0;
  auto diff = [&](auto&& perturb) {
    gradient_case plus = p, minus = p;
    perturb(plus, h);
    perturb(minus, -h);
    d[k++] = (loss<Method>(plus, o) - loss<Method>(minus, o)) / (2 * h);
  };
  for (Eigen::Index i = 0; i < 3; ++i) diff([i](gradient_case& c, double e) { c.theta[i] += e; });
  for (Eigen::Index i = 0; i < 2; ++i) diff([i](gradient_case& c, double e) { c.y0[i] += e; });
  diff([](gradient_case& c, double e) { c.t0 += e; });
  diff([](gradient_case& c, double e) { c.t1 += e; });
  for (std::size_t i = 0; i < 3; ++i) diff([i](gradient_case& c, double e) { c.ts[i] += e; });
  return d;
}

template <class Method>
nde::gradient_result<vec> gradient(const gradient_case& p, nde::solve_options o,
                                   nde::adjoint_method method) {
  o.adjoint = method;
  auto s = solve_case<Method>(p, o);
  REQUIRE(s.success());
  return s.backward(weights());
}

double relative(const vec& x, const vec& reference) {
  return (x - reference).norm() / reference.norm();
}

}  // namespace

TEMPLATE_TEST_CASE(
    "high-order pairs: the discrete adjoint is the exact gradient of the "
    "fixed-step map through the dense output, and forward sensitivities agree",
    "[solvers][high_order][adjoint]", nde::dop853, nde::vern7) {
  const gradient_case p;
  const nde::solve_options o{.controller = nde::constant_step{.dt = 0.1}};
  const vec fd = central_differences<TestType>(p, o, 1e-6);
  const auto discrete = gradient<TestType>(p, o, nde::discrete_adjoint{});
  const auto forward = gradient<TestType>(p, o, nde::forward_sensitivity{});
  REQUIRE(discrete.status == nde::status::success);
  REQUIRE(forward.status == nde::status::success);
  REQUIRE(discrete.time_gradients);
  INFO("fd       " << fd.transpose());
  INFO("discrete " << flatten(discrete).transpose());
  INFO("forward  " << flatten(forward).transpose());
  CHECK(relative(flatten(discrete), fd) < 1e-7);
  CHECK(relative(flatten(forward), flatten(discrete)) < 1e-10);
  for (Eigen::Index i = 0; i < fd.size(); ++i)
    CHECK(std::abs(flatten(discrete)[i] - fd[i]) < 1e-6 * (1 + std::abs(fd[i])));
  // The dense outputs cost one replay of the extra stages and their vjps, per step holding one.
  CHECK(discrete.stats.backward_vjp_evals > 0);
  const auto budget = gradient<TestType>(p, o, nde::discrete_adjoint{.max_checkpoints = 2});
  CHECK(flatten(budget) == flatten(discrete));
}

TEMPLATE_TEST_CASE(
    "high-order pairs: adaptive steps, outputs inside steps and on t1: forward "
    "sensitivities match the discrete adjoint, and both the exact-flow gradient",
    "[solvers][high_order][adjoint]", nde::dop853, nde::vern7) {
  gradient_case p;
  p.ts = {0.25, 0.62, 1.03};  // the last one is t1 itself: a dense output at θ = 1
  const nde::solve_options o{.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-10}};
  const auto discrete = gradient<TestType>(p, o, nde::discrete_adjoint{});
  const auto forward = gradient<TestType>(p, o, nde::forward_sensitivity{});
  REQUIRE(discrete.status == nde::status::success);
  REQUIRE(forward.status == nde::status::success);
  INFO("discrete " << flatten(discrete).transpose());
  INFO("forward  " << flatten(forward).transpose());
  CHECK(relative(flatten(forward), flatten(discrete)) < 1e-10);
  // Against the gradient of the exact flow (a tight dopri5 discrete adjoint).
  const auto accurate =
      gradient<nde::dopri5>(p, {.controller = nde::pid_controller{.rtol = 1e-12, .atol = 1e-14}},
                            nde::discrete_adjoint{});
  CHECK(relative(flatten(discrete), flatten(accurate)) < 1e-6);
  if (!nde_test::sanitized) {
    // The checkpointed continuous adjoint re-solves segments with the dense output.
    const nde::pid_controller tight{.rtol = 1e-11, .atol = 1e-13};
    const auto checkpointed =
        gradient<TestType>(p, {.controller = tight},
                           nde::checkpointed_adjoint{.controller = tight, .checkpoint_every = 3});
    REQUIRE(checkpointed.status == nde::status::success);
    CHECK(relative(flatten(checkpointed), flatten(accurate)) < 1e-7);
  }
}

TEMPLATE_TEST_CASE(
    "an output time of save_at.ts on t1 itself: forward sensitivities read "
    "f(t1, y1), also for methods without FSAL",
    "[solvers][high_order][adjoint]", nde::rk4, nde::vern7) {
  // Until the driver evaluated f(t1, y1) for such an output, a method without FSAL left the
  // previous step's end derivative in its workspace, and dL/dt1, dL/dts of that output were
  // wrong under forward sensitivities (rk4 at 772c7f0: dL/dt0 and dL/dts_3 off by 0.02).
  gradient_case p;
  p.ts = {0.25, 0.62, 1.03};
  const nde::solve_options o{.controller = nde::constant_step{.dt = 0.1}};
  const auto discrete = gradient<TestType>(p, o, nde::discrete_adjoint{});
  const auto forward = gradient<TestType>(p, o, nde::forward_sensitivity{});
  INFO("discrete " << flatten(discrete).transpose());
  INFO("forward  " << flatten(forward).transpose());
  CHECK(relative(flatten(forward), flatten(discrete)) < 1e-10);
}
