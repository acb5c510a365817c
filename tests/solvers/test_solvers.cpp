// Empirical orders of every explicit RK method (global, dense output, embedded error
// estimate, local error), the determinism of a replayed step, and the tableau checks.
#include <nde/nde.hpp>

#include <unsupported/Eigen/MatrixFunctions>

#include <catch.hpp>

#include <cmath>
#include <vector>

namespace {

// Orders are measured in long double so that round-off stays far below the errors of the
// smallest steps (tsit5 only reaches its asymptotic regime at errors around 1e-13).
using real = long double;

// Non-normal linear system y' = A y with exact solution expm(A t) y0.
struct linear_problem {
  using state = Eigen::Matrix<real, 3, 1>;
  using matrix = Eigen::Matrix<real, 3, 3>;
  matrix a = (matrix() << -0.3, 1.1, 0.2, -1.0, -0.2, 0.5, 0.1, -0.4, -0.6).finished();
  state y0 = state(1.0, 0.5, -0.3);
  void operator()(real, const state& y, state& dydt) const { dydt.noalias() = a * y; }
  [[nodiscard]] state exact(real t) const { return (a * t).exp() * y0; }
};

// Nonlinear and non-autonomous: y1' = -y1^3 / 2 (y1 = 1/sqrt(1 + t)) and y2' = -t y2
// (y2 = exp(-t^2 / 2)).
struct nonlinear_problem {
  using state = Eigen::Matrix<real, 2, 1>;
  state y0 = state(1.0, 1.0);
  void operator()(real t, const state& y, state& dydt) const {
    dydt[0] = -y[0] * y[0] * y[0] / 2;
    dydt[1] = -t * y[1];
  }
  [[nodiscard]] static state exact(real t) {
    return state(1 / std::sqrt(1 + t), std::exp(-t * t / 2));
  }
};

constexpr real t_end = 2.0;
const std::vector<double> interior_times{0.3, 0.77, 1.31, 1.9};

template <class Method>
std::vector<int> step_counts() {
  // Keep errors well above round-off for high orders and the runs short for low ones.
  if constexpr (Method::order >= 4)
    return {32, 64, 128, 256};
  else if constexpr (Method::order == 3)
    return {16, 32, 64, 128, 256};
  else
    return {32, 64, 128, 256, 512};
}

template <class Method, class Problem>
void global_errors(const Problem& problem, std::vector<double>& steps,
                   std::vector<double>& final_errors, std::vector<double>& dense_errors) {
  for (int n : step_counts<Method>()) {
    auto f = problem;
    auto sol =
        nde::solve(f, Method{}, real(0), t_end, problem.y0,
                   {.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = interior_times},
                    .controller = nde::constant_step{.dt = 2.0 / n}});
    REQUIRE(sol.success());
    REQUIRE(sol.stats.accepted_steps == static_cast<std::size_t>(n));
    REQUIRE(sol.ts.size() == interior_times.size() + 1);
    steps.push_back(2.0 / n);
    final_errors.push_back(static_cast<double>(
        (sol.ys.back() - problem.exact(t_end)).template lpNorm<Eigen::Infinity>()));
    double dense = 0;
    for (std::size_t i = 0; i < interior_times.size(); ++i) {
      CHECK(sol.ts[i] == static_cast<real>(interior_times[i]));
      dense = std::max(
          dense, static_cast<double>(
                     (sol.ys[i] - problem.exact(sol.ts[i])).template lpNorm<Eigen::Infinity>()));
    }
    dense_errors.push_back(dense);
  }
}

template <class Method, class Problem>
void check_orders(const Problem& problem) {
  std::vector<double> steps, final_errors, dense_errors;
  global_errors<Method>(problem, steps, final_errors, dense_errors);
  const double order = nde::testing::convergence_order(steps, final_errors);
  const double dense_order = nde::testing::convergence_order(steps, dense_errors);
  // A continuous extension of order q has local error O(h^(q+1)) that does not accumulate.
  const int expected_dense = std::min(Method::order, Method::dense_order + 1);
  INFO("global order " << order << ", dense-output order " << dense_order << ", smallest error "
                       << final_errors.back());
  CHECK(std::abs(order - Method::order) < 0.2);
  CHECK(std::abs(dense_order - expected_dense) < 0.2);
}

}  // namespace

TEMPLATE_TEST_CASE("global and dense-output order on a linear system (expm reference)",
                   "[solvers][order]", nde::euler, nde::midpoint, nde::heun, nde::rk4, nde::rk38,
                   nde::bosh3, nde::dopri5, nde::tsit5) {
  check_orders<TestType>(linear_problem{});
}

TEMPLATE_TEST_CASE("global and dense-output order on a nonlinear non-autonomous problem",
                   "[solvers][order]", nde::euler, nde::midpoint, nde::heun, nde::rk4, nde::rk38,
                   nde::bosh3, nde::dopri5, nde::tsit5) {
  check_orders<TestType>(nonlinear_problem{});
}

TEMPLATE_TEST_CASE("local error is O(h^(p+1)) and the embedded estimate is O(h^(q+1))",
                   "[solvers][order]", nde::euler, nde::midpoint, nde::heun, nde::rk4, nde::rk38,
                   nde::bosh3, nde::dopri5, nde::tsit5) {
  const nonlinear_problem problem;
  const real t0 = 0.5;
  const auto y0 = nonlinear_problem::exact(t0);
  TestType method;
  auto ws = method.make_workspace(y0);
  auto one_step = [&](real h) {
    auto f = problem;
    nonlinear_problem::state y1;
    REQUIRE(method.init(f, t0, y0, ws) == nde::status::success);
    REQUIRE(method.step(f, t0, t0 + h, y0, y1, ws) == nde::status::success);
    return static_cast<double>(
        (y1 - nonlinear_problem::exact(t0 + h)).template lpNorm<Eigen::Infinity>());
  };
  // Step ranges where the leading error term dominates and stays above long-double round-off.
  // For the 5th-order pairs the h^7 term still shows at h ~ 0.05 (Tsitouras minimised the
  // principal error), hence the wider tolerance; their global order is held to 0.2 above.
  const real first = TestType::order >= 5 ? 0.05 : (TestType::order == 4 ? 0.0125 : 0.1);
  const int points = TestType::order >= 5 ? 3 : 4;
  const double tolerance = TestType::order >= 5 ? 0.35 : 0.25;
  std::vector<double> steps, local_errors;
  for (int k = 0; k < points; ++k) {
    const real h = first / std::pow(real(2), k);
    steps.push_back(static_cast<double>(h));
    local_errors.push_back(one_step(h));
  }
  const double local = nde::testing::convergence_order(steps, local_errors);
  INFO("local order " << local);
  CHECK(std::abs(local - (TestType::order + 1)) < tolerance);
  if constexpr (TestType::adaptive) {
    std::vector<double> estimate_steps, estimates;
    for (int k = 0; k < 5; ++k) {
      const real h = real(0.05) / std::pow(real(2), k);
      one_step(h);
      estimate_steps.push_back(static_cast<double>(h));
      estimates.push_back(static_cast<double>(ws.y_error.template lpNorm<Eigen::Infinity>()));
    }
    const double estimate = nde::testing::convergence_order(estimate_steps, estimates);
    INFO("embedded estimate order " << estimate);
    CHECK(std::abs(estimate - (TestType::error_order + 1)) < 0.2);
  }
}

TEMPLATE_TEST_CASE("a step replayed from (t0, t1, y0) reproduces every stage bit for bit",
                   "[solvers][replay]", nde::euler, nde::heun, nde::rk4, nde::bosh3, nde::dopri5,
                   nde::tsit5) {
  TestType method;
  nonlinear_problem f;
  nonlinear_problem::state y = f.y0, y_next, replayed;
  auto ws = method.make_workspace(y);
  auto replay_ws = method.make_workspace(y);
  REQUIRE(method.init(f, real(0), y, ws) == nde::status::success);
  real t = 0;
  for (int i = 0; i < 5; ++i) {
    const real t_next = t + 0.1 * (i + 1);
    REQUIRE(method.step(f, t, t_next, y, y_next, ws) == nde::status::success);
    REQUIRE(method.init(f, t, y, replay_ws) == nde::status::success);
    REQUIRE(method.step(f, t, t_next, y, replayed, replay_ws) == nde::status::success);
    CHECK(replayed == y_next);
    for (int s = 0; s < TestType::stages; ++s) {
      CHECK(replay_ws.k[s] == ws.k[s]);
      // k_s = f(t0 + c_s h, y0 + h Σ_j a_sj k_j), readable from the tableau.
      nonlinear_problem::state argument = y;
      for (int j = 0; j < s; ++j)
        argument += (t_next - t) * real(TestType::tableau::a[s][j]) * ws.k[j];
      nonlinear_problem::state expected;
      f(t + real(TestType::tableau::c[s]) * (t_next - t), argument, expected);
      CHECK((expected - ws.k[s]).norm() <= 1e-15 * (1 + expected.norm()));
    }
    REQUIRE(method.evaluate_end(f, t_next, y_next, ws) == nde::status::success);
    method.advance(ws);
    y = y_next;
    t = t_next;
  }
}

namespace {
// A user-defined tableau: Ralston's second-order method (Ralston 1962), same form as the library's.
struct ralston_tableau {
  static constexpr int stages = 2;
  static constexpr int order = 2;
  static constexpr bool fsal = false;
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {2.0 / 3, 0.0}}};
  static constexpr std::array<double, 2> b{0.25, 0.75};
  static constexpr std::array<double, 2> c{0.0, 2.0 / 3};
};
// Deliberately broken: the second row does not sum to c.
struct broken_tableau {
  static constexpr int stages = 2;
  static constexpr int order = 2;
  static constexpr bool fsal = false;
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {0.6, 0.0}}};
  static constexpr std::array<double, 2> b{0.25, 0.75};
  static constexpr std::array<double, 2> c{0.0, 2.0 / 3};
};
}  // namespace

TEST_CASE("tableaux check themselves at compile time; user tableaux work the same way",
          "[solvers][tableau]") {
  STATIC_REQUIRE(nde::valid_tableau<nde::dopri5_tableau>());
  STATIC_REQUIRE(nde::valid_tableau<nde::tsit5_tableau>());
  STATIC_REQUIRE(nde::valid_tableau<ralston_tableau>());
  STATIC_REQUIRE_FALSE(nde::valid_tableau<broken_tableau>());
  STATIC_REQUIRE(nde::dopri5::stages == 7);
  STATIC_REQUIRE(nde::dopri5::fsal && nde::tsit5::fsal && nde::bosh3::fsal && !nde::rk4::fsal);
  STATIC_REQUIRE(nde::dopri5::tableau::a[6][5] == 11.0 / 84);
  check_orders<nde::explicit_rk<ralston_tableau>>(nonlinear_problem{});
}
