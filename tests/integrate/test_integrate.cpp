// The solve() driver: save_at, dense output, backward solves, batches, float/double,
// sizes, fixed_times replay, evaluation counts, and a status for every bad input.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

// y' = A y with A = [[-0.1, 1], [-1, -0.1]]: a decaying rotation with closed form.
template <class State>
struct spiral {
  template <class T>
  void operator()(T, const State& y, State& dydt) const {
    using s = typename State::Scalar;
    dydt.row(0) = s(-0.1) * y.row(0) + y.row(1);
    dydt.row(1) = -y.row(0) - s(0.1) * y.row(1);
  }
};

Eigen::Vector2d spiral_exact(double t, const Eigen::Vector2d& y0) {
  const double decay = std::exp(-0.1 * t);
  const double c = std::cos(t), s = std::sin(t);
  return decay * Eigen::Vector2d(c * y0[0] + s * y0[1], -s * y0[0] + c * y0[1]);
}

const Eigen::Vector2d y_start(1.0, 0.5);
const nde::pi_controller tight{.rtol = 1e-10, .atol = 1e-12};

}  // namespace

TEST_CASE("save_at: outputs land exactly on the requested times, between steps via dense output",
          "[integrate][save_at]") {
  spiral<Eigen::Vector2d> f;
  const std::vector<double> ts{0.0, 0.013, 0.5, 1.7, 2.2, 4.9, 5.0};
  auto sol =
      nde::solve(f, nde::dopri5{}, 0.0, 5.0, y_start,
                 {.save_at = nde::save_at::times(ts), .controller = tight, .record_steps = true});
  REQUIRE(sol.success());
  REQUIRE(sol.ts.size() == ts.size());
  CHECK(sol.ys.front() == y_start);  // t0 returns y0 exactly
  for (std::size_t i = 0; i < ts.size(); ++i) {
    CHECK(sol.ts[i] == ts[i]);
    CHECK((sol.ys[i] - spiral_exact(ts[i], y_start)).norm() < 1e-9);
  }
  // No step was shortened to hit an output time: same steps as a solve without outputs.
  auto plain =
      nde::solve(f, nde::dopri5{}, 0.0, 5.0, y_start, {.controller = tight, .record_steps = true});
  CHECK(plain.step_times == sol.step_times);
  CHECK(plain.stats.accepted_steps == sol.stats.accepted_steps);
  CHECK(plain.ys.back() == sol.ys.back());
}

TEST_CASE("save_at variants: t0/t1, every step, combined", "[integrate][save_at]") {
  spiral<Eigen::Vector2d> f;
  auto both = nde::solve(f, nde::tsit5{}, 0.0, 2.0, y_start,
                         {.save_at = nde::save_at::initial_and_final()});
  REQUIRE(both.success());
  REQUIRE(both.ts == std::vector<double>{0.0, 2.0});
  CHECK(both.ys[0] == y_start);
  CHECK((both.ys[1] - spiral_exact(2.0, y_start)).norm() < 1e-6);

  auto steps = nde::solve(f, nde::tsit5{}, 0.0, 2.0, y_start,
                          {.save_at = nde::save_at::every_step(), .record_steps = true});
  REQUIRE(steps.success());
  CHECK(steps.ts == steps.step_times);
  CHECK(steps.ts.size() == steps.stats.accepted_steps + 1);
  CHECK(steps.ts.back() == 2.0);

  auto mixed = nde::solve(f, nde::tsit5{}, 0.0, 2.0, y_start,
                          {.save_at = {.t0 = true, .t1 = true, .steps = false, .ts = {0.25, 1.0}}});
  REQUIRE(mixed.ts == std::vector<double>{0.0, 0.25, 1.0, 2.0});
}

TEMPLATE_TEST_CASE("dense solution is evaluable anywhere in [t0, t1] at the method's accuracy",
                   "[integrate][dense]", nde::heun, nde::bosh3, nde::dopri5, nde::tsit5) {
  spiral<Eigen::Vector2d> f;
  const nde::pi_controller controller{.rtol = 1e-8, .atol = 1e-10};
  auto sol =
      nde::solve(f, TestType{}, 0.0, 3.0, y_start, {.controller = controller, .dense = true});
  REQUIRE(sol.success());
  REQUIRE(sol.dense.segments() == sol.stats.accepted_steps);
  double worst = 0;
  Eigen::Vector2d y;
  for (int i = 0; i <= 300; ++i) {
    const double t = 3.0 * i / 300;
    REQUIRE(sol.dense.evaluate(t, y) == nde::status::success);
    worst = std::max(worst, (y - spiral_exact(t, y_start)).norm());
  }
  // Low-order pairs need many steps; the interpolant must keep the solve's accuracy.
  CHECK(worst < 1e-6);
  CHECK(sol.dense(3.0) == sol.ys.back());
  CHECK(sol.dense.evaluate(3.5, y) == nde::status::invalid_input);
  CHECK(sol.dense.evaluate(std::numeric_limits<double>::quiet_NaN(), y) ==
        nde::status::invalid_input);
  CHECK_THROWS_AS(sol.dense(-0.1), nde::error);
}

TEST_CASE("backward in time: adaptive and constant steps, decreasing save_at, dense",
          "[integrate][backward]") {
  spiral<Eigen::Vector2d> f;
  const Eigen::Vector2d y1 = spiral_exact(2.0, y_start);
  auto sol = nde::solve(
      f, nde::dopri5{}, 2.0, 0.0, y1,
      {.save_at = nde::save_at::times({2.0, 1.3, 0.4, 0.0}), .controller = tight, .dense = true});
  REQUIRE(sol.success());
  for (std::size_t i = 0; i < sol.ts.size(); ++i)
    CHECK((sol.ys[i] - spiral_exact(sol.ts[i], y_start)).norm() < 1e-9);
  CHECK((sol.dense(0.77) - spiral_exact(0.77, y_start)).norm() < 1e-9);

  auto fixed =
      nde::solve(f, nde::rk4{}, 2.0, 0.0, y1, {.controller = nde::constant_step{.dt = 0.01}});
  REQUIRE(fixed.success());
  CHECK(fixed.stats.accepted_steps == 200);
  CHECK((fixed.ys.back() - y_start).norm() < 1e-9);

  auto increasing =
      nde::solve(f, nde::dopri5{}, 2.0, 0.0, y1, {.save_at = nde::save_at::times({0.5, 1.0})});
  CHECK(increasing.status == nde::status::invalid_input);
}

TEMPLATE_TEST_CASE("a batch as matrix columns equals column-by-column solves with fixed steps",
                   "[integrate][batch]", nde::rk4, nde::dopri5) {
  using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;
  batch y0(2, 3);
  y0 << 1.0, -0.5, 0.3, 0.5, 2.0, -1.0;
  spiral<batch> f;
  const nde::solve_options options{.save_at = nde::save_at::times({0.35, 1.0}),
                                   .controller = nde::constant_step{.dt = 0.1}};
  auto together = nde::solve(f, TestType{}, 0.0, 1.0, y0, options);
  REQUIRE(together.success());
  spiral<Eigen::Vector2d> g;
  for (Eigen::Index j = 0; j < y0.cols(); ++j) {
    auto alone = nde::solve(g, TestType{}, 0.0, 1.0, Eigen::Vector2d(y0.col(j)), options);
    REQUIRE(alone.success());
    for (std::size_t i = 0; i < alone.ys.size(); ++i)
      CHECK((together.ys[i].col(j) - alone.ys[i]).norm() <= 1e-15);
  }
  // Adaptive: one shared step for the whole batch, still accurate for every column.
  auto adaptive = nde::solve(f, nde::dopri5{}, 0.0, 1.0, y0, {.controller = tight});
  REQUIRE(adaptive.success());
  for (Eigen::Index j = 0; j < y0.cols(); ++j)
    CHECK((adaptive.ys.back().col(j) - spiral_exact(1.0, y0.col(j))).norm() < 1e-9);
}

TEST_CASE("float states with double time agree with double states to float accuracy",
          "[integrate][float]") {
  spiral<Eigen::Vector2f> f;
  const Eigen::Vector2f y0 = y_start.cast<float>();
  auto single = nde::solve(f, nde::dopri5{}, 0.0, 3.0, y0,
                           {.controller = nde::pi_controller{.rtol = 1e-5, .atol = 1e-6}});
  REQUIRE(single.success());
  CHECK((single.ys.back().cast<double>() - spiral_exact(3.0, y_start)).norm() < 1e-4);
  auto fixed =
      nde::solve(f, nde::rk4{}, 0.0f, 3.0f, y0, {.controller = nde::constant_step{.dt = 0.05}});
  REQUIRE(fixed.success());
  CHECK((fixed.ys.back().cast<double>() - spiral_exact(3.0, y_start)).norm() < 1e-5);
}

using size_one = Eigen::Matrix<double, 1, 1>;
using size_five = Eigen::Matrix<double, 5, 1>;

TEMPLATE_TEST_CASE("sizes 1, fixed, dynamic and 0 all solve", "[integrate][sizes]", size_one,
                   Eigen::Vector3d, Eigen::VectorXd, size_five) {
  // y' = -lambda_i y with lambda_i = i + 1: exact exp(-lambda_i t).
  const Eigen::Index n =
      TestType::RowsAtCompileTime == Eigen::Dynamic ? 4 : TestType::RowsAtCompileTime;
  TestType y0 = TestType::Ones(n);
  auto f = [](double, const TestType& y, TestType& dydt) {
    for (Eigen::Index i = 0; i < y.size(); ++i) dydt[i] = -double(i + 1) * y[i];
  };
  auto sol = nde::solve(f, nde::dopri5{}, 0.0, 1.0, y0, {.controller = tight});
  REQUIRE(sol.success());
  for (Eigen::Index i = 0; i < n; ++i)
    CHECK(std::abs(sol.ys.back()[i] - std::exp(-double(i + 1))) < 1e-9);
  if constexpr (TestType::RowsAtCompileTime == Eigen::Dynamic) {
    auto empty = nde::solve(f, nde::dopri5{}, 0.0, 1.0, Eigen::VectorXd(), {.controller = tight});
    CHECK(empty.success());
    CHECK(empty.ys.back().size() == 0);
  }
}

TEST_CASE("a return-style field gives the same result as the in-place one", "[integrate][field]") {
  spiral<Eigen::VectorXd> in_place;
  auto returning = [](double, const Eigen::VectorXd& y) {
    Eigen::VectorXd d(2);
    d << -0.1 * y[0] + y[1], -y[0] - 0.1 * y[1];
    return d;
  };
  const Eigen::VectorXd y0 = y_start;
  auto a = nde::solve(in_place, nde::tsit5{}, 0.0, 2.0, y0);
  auto b = nde::solve(returning, nde::tsit5{}, 0.0, 2.0, y0);
  auto c = nde::solve(nde::make_in_place(returning), nde::tsit5{}, 0.0, 2.0, y0);
  REQUIRE(a.success());
  CHECK(a.ys.back() == b.ys.back());
  CHECK(a.ys.back() == c.ys.back());
  CHECK(a.stats.rhs_evals == b.stats.rhs_evals);
}

TEST_CASE("fixed_times replays the recorded steps of an adaptive solve exactly",
          "[integrate][fixed_times]") {
  spiral<Eigen::Vector2d> f;
  auto adaptive = nde::solve(
      f, nde::dopri5{}, 0.0, 4.0, y_start,
      {.controller = nde::pi_controller{.rtol = 1e-5, .atol = 1e-8}, .record_steps = true});
  REQUIRE(adaptive.success());
  std::vector<double> times(adaptive.step_times.begin(), adaptive.step_times.end());
  auto replay = nde::solve(f, nde::dopri5{}, 0.0, 4.0, y_start,
                           {.controller = nde::fixed_times{times}, .record_steps = true});
  REQUIRE(replay.success());
  CHECK(replay.step_times == adaptive.step_times);
  CHECK(replay.stats.rejected_steps == 0);
  CHECK(replay.ys.back() == adaptive.ys.back());  // same steps, same stages, same bits
}

TEST_CASE("statistics count every evaluation of f", "[integrate][stats]") {
  std::size_t calls = 0;
  spiral<Eigen::Vector2d> inner;
  auto f = [&](double t, const Eigen::Vector2d& y, Eigen::Vector2d& dydt) {
    ++calls;
    inner(t, y, dydt);
  };
  auto fixed =
      nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start, {.controller = nde::constant_step{.dt = 0.1}});
  CHECK(fixed.stats.accepted_steps == 10);
  CHECK(fixed.stats.rhs_evals == 40);  // 4 per step: f(t1, y1) is the next step's first stage
  CHECK(calls == 40);
  calls = 0;
  auto adaptive = nde::solve(f, nde::dopri5{}, 0.0, 10.0, y_start, {.controller = tight});
  CHECK(adaptive.stats.rhs_evals == calls);
  // FSAL: 6 per attempted step, plus f(t0, y0) and one for the initial-step guess.
  CHECK(adaptive.stats.rhs_evals ==
        6 * (adaptive.stats.accepted_steps + adaptive.stats.rejected_steps) + 2);
}

TEST_CASE("t0 == t1 returns y0", "[integrate][status]") {
  spiral<Eigen::Vector2d> f;
  auto sol =
      nde::solve(f, nde::dopri5{}, 1.0, 1.0, y_start, {.save_at = nde::save_at::times({1.0})});
  REQUIRE(sol.success());
  REQUIRE(sol.ys.size() == 1);
  CHECK(sol.ys[0] == y_start);
  CHECK(sol.stats.rhs_evals == 0);
  auto work =
      nde::solve(f, nde::dopri5{}, 1.0, 1.0, y_start, {.save_at = nde::save_at::times({1.0, 2.0})});
  CHECK(work.status == nde::status::invalid_input);
  auto steps =
      nde::solve(f, nde::rk4{}, 1.0, 1.0, y_start, {.controller = nde::fixed_times{{1.0, 1.5}}});
  CHECK(steps.status == nde::status::invalid_input);
}

TEST_CASE("every bad input gets invalid_input with a message", "[integrate][status]") {
  spiral<Eigen::Vector2d> f;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto expect_invalid = [&](const auto& sol) {
    CHECK(sol.status == nde::status::invalid_input);
    CHECK(!sol.message.empty());
    CHECK(sol.ys.empty());
  };
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.save_at = nde::save_at::times({0.5, 0.2})}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.save_at = nde::save_at::times({0.5, 0.5})}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.save_at = nde::save_at::times({0.5, 1.5})}));
  expect_invalid(
      nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start, {.save_at = nde::save_at::times({-0.1})}));
  expect_invalid(
      nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start, {.save_at = nde::save_at::times({nan})}));
  expect_invalid(nde::solve(f, nde::dopri5{}, nan, 1.0, y_start));
  expect_invalid(
      nde::solve(f, nde::dopri5{}, 0.0, std::numeric_limits<double>::infinity(), y_start));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.controller = nde::pi_controller{.rtol = -1e-6}}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.controller = nde::pi_controller{.rtol = 0, .atol = 0}}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.controller = nde::pi_controller{.atol = nan}}));
  expect_invalid(
      nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                 {.controller = nde::pi_controller{.atol = Eigen::Vector3d(1e-6, 1e-6, 1e-6)}}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.controller = nde::pi_controller{.dtmin = 1, .dtmax = 0.1}}));
  expect_invalid(
      nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start, {.controller = nde::constant_step{.dt = 0}}));
  expect_invalid(
      nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start, {.controller = nde::constant_step{.dt = -0.1}}));
  expect_invalid(
      nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start, {.controller = nde::constant_step{.dt = nan}}));
  expect_invalid(
      nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start));  // no error estimate for pi_controller
  expect_invalid(
      nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start, {.controller = nde::fixed_times{{0.1, 1.0}}}));
  expect_invalid(nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start,
                            {.controller = nde::fixed_times{{0.0, 0.6, 0.5, 1.0}}}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start, {.max_steps = 0}));
  expect_invalid(nde::solve(f, nde::dopri5{}, 0.0, 1.0, y_start,
                            {.save_at = {.t0 = false, .t1 = false, .steps = false, .ts = {}}}));
  auto resizing = [](double, const Eigen::VectorXd& y, Eigen::VectorXd& dydt) {
    dydt = Eigen::VectorXd::Zero(y.size() + 1);
  };
  expect_invalid(nde::solve(resizing, nde::dopri5{}, 0.0, 1.0, Eigen::VectorXd(y_start)));
}

TEST_CASE("max_steps_reached returns the partial solution", "[integrate][status]") {
  spiral<Eigen::Vector2d> f;
  auto sol = nde::solve(f, nde::rk4{}, 0.0, 1.0, y_start,
                        {.save_at = nde::save_at::times({0.05, 0.5, 1.0}),
                         .controller = nde::constant_step{.dt = 0.01},
                         .max_steps = 20});
  CHECK(sol.status == nde::status::max_steps_reached);
  CHECK(sol.message.find("max_steps") != std::string::npos);
  CHECK(sol.stats.accepted_steps == 20);
  REQUIRE(sol.ts.size() == 1);  // only 0.05 was reached
  CHECK((sol.ys[0] - spiral_exact(0.05, y_start)).norm() < 1e-10);
}

TEST_CASE("a finite-time blow-up ends in a failure status with the partial solution, not a hang",
          "[integrate][status]") {
  // y' = y^2, y(0) = 1: y = 1 / (1 - t) blows up at t = 1.
  auto f = [](double, const Eigen::Matrix<double, 1, 1>& y, Eigen::Matrix<double, 1, 1>& dydt) {
    dydt = y * y;
  };
  const Eigen::Matrix<double, 1, 1> y0(1.0);
  auto sol =
      nde::solve(f, nde::dopri5{}, 0.0, 2.0, y0, {.save_at = nde::save_at::times({0.5, 0.9, 1.5})});
  CHECK((sol.status == nde::status::step_size_too_small || sol.status == nde::status::non_finite ||
         sol.status == nde::status::max_steps_reached));
  CHECK(!sol.message.empty());
  REQUIRE(sol.ts.size() == 2);
  CHECK(std::abs(sol.ys[1][0] - 10.0) < 1e-4);
}

TEST_CASE("dtmin: a step below it is step_size_too_small", "[integrate][status]") {
  // Stiff decay: an explicit method needs |dt| < ~2.8/1000 for stability.
  auto f = [](double, const Eigen::Matrix<double, 1, 1>& y, Eigen::Matrix<double, 1, 1>& dydt) {
    dydt = -1000.0 * y;
  };
  const Eigen::Matrix<double, 1, 1> y0(1.0);
  auto sol =
      nde::solve(f, nde::dopri5{}, 0.0, 1.0, y0, {.controller = nde::pi_controller{.dtmin = 0.01}});
  CHECK(sol.status == nde::status::step_size_too_small);
  CHECK(sol.message.find("dtmin") != std::string::npos);
}

TEST_CASE("NaN or Inf: rejected and shrunk when a smaller step avoids it, non_finite otherwise",
          "[integrate][status]") {
  using s1 = Eigen::Matrix<double, 1, 1>;
  // f is undefined (NaN) for y < 0; a huge first step overshoots into y < 0.
  auto sqrt_decay = [](double, const s1& y, s1& dydt) { dydt[0] = -std::sqrt(y[0]); };
  auto recovered =
      nde::solve(sqrt_decay, nde::dopri5{}, 0.0, 1.0, s1(1.0),
                 {.controller = nde::pi_controller{.rtol = 1e-8, .atol = 1e-10, .dt0 = 50.0}});
  REQUIRE(recovered.success());
  CHECK(recovered.stats.rejected_steps >= 1);
  CHECK(std::abs(recovered.ys.back()[0] - 0.25) < 1e-7);  // y = (1 - t/2)^2

  // f turns NaN at t > 0.5 whatever the step: the solve stops there.
  auto poisoned = [](double t, const s1& y, s1& dydt) {
    dydt[0] = t > 0.5 ? std::numeric_limits<double>::quiet_NaN() : -y[0];
  };
  auto failed = nde::solve(poisoned, nde::dopri5{}, 0.0, 1.0, s1(1.0),
                           {.save_at = nde::save_at::times({0.25, 1.0})});
  CHECK(failed.status == nde::status::non_finite);
  CHECK(failed.message.find("NaN") != std::string::npos);
  REQUIRE(failed.ts.size() == 1);
  CHECK(std::abs(failed.ys[0][0] - std::exp(-0.25)) < 1e-6);
  auto fixed = nde::solve(poisoned, nde::rk4{}, 0.0, 1.0, s1(1.0),
                          {.controller = nde::constant_step{.dt = 0.1}});
  CHECK(fixed.status == nde::status::non_finite);
  CHECK(fixed.stats.accepted_steps == 5);

  auto bad_start =
      nde::solve(poisoned, nde::dopri5{}, 0.0, 1.0, s1(std::numeric_limits<double>::infinity()));
  CHECK(bad_start.status == nde::status::non_finite);
  auto bad_field = nde::solve(poisoned, nde::dopri5{}, 0.75, 1.0, s1(1.0));
  CHECK(bad_field.status == nde::status::non_finite);
}

TEST_CASE("solve_or_throw throws nde::error carrying the status", "[integrate][status]") {
  spiral<Eigen::Vector2d> f;
  CHECK_NOTHROW(nde::solve_or_throw(f, nde::dopri5{}, 0.0, 1.0, y_start));
  try {
    (void)nde::solve_or_throw(f, nde::dopri5{}, 0.0, 1.0, y_start, {.max_steps = 3});
    FAIL("expected nde::error");
  } catch (const nde::error& e) {
    CHECK(e.code() == nde::status::max_steps_reached);
    CHECK(std::string(e.what()).find("max_steps") != std::string::npos);
  }
}

TEST_CASE("Hairer's stiffness test flags Van der Pol at mu = 1000, not a harmonic oscillator",
          "[integrate][stiffness]") {
  using vec = Eigen::Vector2d;
  const double mu = 1000;
  auto van_der_pol = [mu](double, const vec& y) -> vec {
    return {y[1], mu * ((1 - y[0] * y[0]) * y[1] - y[0])};
  };
  auto oscillator = [](double, const vec& y) -> vec { return {y[1], -y[0]}; };
  const vec y0(2.0, 0.0);
  const nde::solve_options options{.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-8}};
  const auto check_method = [&](const auto& method) {
    const auto stiff = nde::solve(van_der_pol, method, 0.0, 2.0, y0, options);
    REQUIRE(stiff.success());
    CHECK(stiff.stiff);
    CHECK(stiff.stiff_from > 0.0);
    CHECK(stiff.stiff_from < 0.1);
    // Most steps are limited by stability: h·ρ above the boundary.
    CHECK(stiff.stats.stiff_steps > stiff.stats.accepted_steps / 4);
    CHECK_THAT(stiff.message, Catch::Contains("seems stiff"));
    const auto smooth = nde::solve(oscillator, method, 0.0, 20.0, y0, options);
    REQUIRE(smooth.success());
    CHECK_FALSE(smooth.stiff);
    CHECK(smooth.stats.stiff_steps == 0);
    CHECK(smooth.message.empty());
    nde::solve_options quiet = options;
    quiet.detect_stiffness = false;
    const auto unchecked = nde::solve(van_der_pol, method, 0.0, 2.0, y0, quiet);
    CHECK_FALSE(unchecked.stiff);
    CHECK(unchecked.stats.stiff_steps == 0);
    CHECK(unchecked.message.empty());
    CHECK(unchecked.ys.back() == stiff.ys.back());  // the test never changes the steps
  };
  check_method(nde::dopri5{});
  check_method(nde::tsit5{});
  static_assert(nde::dopri5::stiffness_detection && nde::tsit5::stiffness_detection);
  static_assert(!nde::bosh3::stiffness_detection);  // FSAL, but its last two stages differ in c
}

namespace {
// |R(−x)| of an explicit tableau, R(z) = 1 + z bᵀ (I − zA)⁻¹ 1.
template <class Tableau>
double stability_modulus(double x) {
  constexpr int s = Tableau::stages;
  Eigen::MatrixXd a(s, s);
  Eigen::VectorXd b(s);
  for (int i = 0; i < s; ++i) {
    b[i] = Tableau::b[static_cast<std::size_t>(i)];
    for (int j = 0; j < s; ++j)
      a(i, j) = Tableau::a[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
  }
  const Eigen::MatrixXd m = Eigen::MatrixXd::Identity(s, s) + x * a;
  return std::abs(1 - x * b.dot(m.partialPivLu().solve(Eigen::VectorXd::Ones(s))));
}
}  // namespace

TEST_CASE("the stated stability boundaries are where |R(-x)| reaches 1", "[integrate][stiffness]") {
  const auto check_boundary = [](auto tag) {
    using tableau = typename decltype(tag)::type;
    const double x = tableau::stability_boundary;
    CHECK(std::abs(stability_modulus<tableau>(x) - 1) < 1e-12);
    CHECK(stability_modulus<tableau>(x * (1 - 1e-6)) < 1);
    CHECK(stability_modulus<tableau>(x * (1 + 1e-6)) > 1);
    for (double f = 0.05; f < 1; f += 0.05) CHECK(stability_modulus<tableau>(x * f) <= 1);
  };
  check_boundary(std::type_identity<nde::dopri5_tableau>{});
  check_boundary(std::type_identity<nde::tsit5_tableau>{});
}
