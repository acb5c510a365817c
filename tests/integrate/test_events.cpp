// Events: location on the dense output, terminal events, resets that continue (the bouncing
// ball), gradients of event times and states by every gradient method, bad input.
#include <nde/adjoint/differentiable_solve.hpp>
#include <nde/integrate/events.hpp>
#include <nde/solvers/dop853.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/kvaerno5.hpp>
#include <nde/solvers/rodas5.hpp>
#include <nde/solvers/trbdf2.hpp>
#include <nde/solvers/tsit5.hpp>
#include <nde/solvers/vern7.hpp>
#include <nde/terms/autodiff_field.hpp>
#include <nde/terms/ode_term.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace {

using vec = Eigen::VectorXd;

// y = (height, velocity), θ = (gravity, restitution): y'' = -g.
auto free_fall = [](auto, const auto& y, const auto& theta, auto& dydt) {
  dydt[0] = y[1];
  dydt[1] = -theta[0];
};
using fall_field = nde::autodiff_field<vec, decltype(free_fall)>;
using fall_term = nde::ode_term<fall_field>;

auto ground = [](auto, const auto& y, const auto&) { return y[0]; };
auto bounce = [](auto, const auto& y, const auto& theta, auto& out) {
  out = y;
  out[1] = -theta[1] * y[1];
};

fall_term make_term() { return fall_term(fall_field(free_fall, 2)); }
vec state(double x, double v) { return (vec(2) << x, v).finished(); }
vec params(double g, double e) { return (vec(2) << g, e).finished(); }

const nde::pid_controller tight{.rtol = 1e-11, .atol = 1e-12};

// Analytic bounce times of a ball dropped from rest at x0: τ1 = √(2 x0/g), then flights of
// 2 e^k v1 / g.
std::vector<double> analytic_bounces(double x0, double g, double e, int count) {
  std::vector<double> times;
  double tau = std::sqrt(2 * x0 / g), speed = g * tau;
  for (int k = 0; k < count; ++k) {
    times.push_back(tau);
    speed *= e;
    tau += 2 * speed / g;
  }
  return times;
}

template <class Stepper>
nde::event_solution<double, vec> drop(const Stepper& method, double t1, bool terminal,
                                      const vec& y0 = state(10, 0),
                                      const vec& theta = params(8, 0.8),
                                      const nde::adjoint_method& adjoint = nde::inference{}) {
  auto term = make_term();
  nde::event_integrator<Stepper, vec> solver(method, y0);
  nde::event_solution<double, vec> out;
  nde::event_options options{.solve = {.controller = tight, .adjoint = adjoint}};
  if (terminal) {
    solver.solve(term, nde::terminal_event(ground, nde::event_direction::falling), 0.0, t1, y0,
                 theta, options, out);
  } else {
    solver.solve(term, nde::reset_event(ground, bounce, nde::event_direction::falling), 0.0, t1, y0,
                 theta, options, out);
  }
  return out;
}

}  // namespace

TEST_CASE("the first bounce of a dropped ball is located to 1e-9 by every kind of method",
          "[events]") {
  // x0 = 10, g = 8: τ = √2.5 = 1.5811388..., v = -g τ = -12.649111...
  const double tau = std::sqrt(2.5), v = -8 * tau;
  auto check = [&](const auto& method, const char* name, double tol) {
    INFO(name);
    const auto s = drop(method, 5.0, true);
    REQUIRE(s.success());
    REQUIRE(s.event_times.size() == 1);
    CHECK(s.terminated);
    CHECK(s.t_end == s.event_times[0]);
    CHECK(std::abs(s.event_times[0] - tau) < tol);
    CHECK(std::abs(s.y_end[1] - v) < 10 * tol);
    CHECK(std::abs(s.y_end[0]) < 10 * tol);
    // The stop lies on the far side of the crossing (or on it).
    CHECK(s.y_end[0] <= 1e-12);
  };
  check(nde::dopri5{}, "dopri5", 1e-9);
  check(nde::tsit5{}, "tsit5", 1e-9);
  check(nde::dop853{}, "dop853", 1e-9);
  check(nde::vern7{}, "vern7", 1e-9);
  check(nde::kvaerno5{}, "kvaerno5", 1e-8);
  check(nde::rodas5{}, "rodas5", 1e-8);
  check(nde::trbdf2{}, "trbdf2", 1e-6);
}

TEST_CASE("a reset event continues the integration through 10 bounces with restitution 0.8",
          "[events]") {
  const double x0 = 10, g = 8, e = 0.8;
  const auto expected = analytic_bounces(x0, g, e, 11);
  // 10 bounces before t1, the 11th after it.
  const double t1 = 0.5 * (expected[9] + expected[10]);
  for (const bool implicit : {false, true}) {
    INFO((implicit ? "kvaerno5" : "dopri5"));
    const auto s = implicit ? drop(nde::kvaerno5{}, t1, false) : drop(nde::dopri5{}, t1, false);
    REQUIRE(s.success());
    REQUIRE(s.event_times.size() == 10);
    CHECK_FALSE(s.terminated);
    CHECK(s.t_end == t1);
    for (std::size_t k = 0; k < 10; ++k) {
      INFO("bounce " << k);
      CHECK(std::abs(s.event_times[k] - expected[k]) < (implicit ? 1e-7 : 1e-9));
      CHECK(std::abs(s.after[k][1] + e * s.before[k][1]) < 1e-12);  // the reset was applied
      CHECK(s.after[k][1] > 0);
    }
    // The state at t1 is the free flight after the 10th bounce.
    const double speed = g * std::sqrt(2 * x0 / g) * std::pow(e, 10);
    const double dt = t1 - expected[9];
    CHECK(std::abs(s.y_end[0] - (speed * dt - 0.5 * g * dt * dt)) < (implicit ? 1e-6 : 1e-8));
    CHECK(std::abs(s.y_end[1] - (speed - g * dt)) < (implicit ? 1e-6 : 1e-8));
  }
}

TEST_CASE("outputs of an event solve: save_at.ts across the resets, none past a terminal event",
          "[events]") {
  const std::vector<double> ts{0.5, 1.0, 2.0, 3.0};
  auto term = make_term();
  nde::event_integrator<nde::dopri5, vec> solver;
  nde::event_solution<double, vec> s;
  nde::event_options options{.solve = {.save_at = nde::save_at::times(ts), .controller = tight}};
  const vec y0 = state(10, 0), theta = params(8, 0.8);
  REQUIRE(solver.solve(term, nde::reset_event(ground, bounce, nde::event_direction::falling), 0.0,
                       3.5, y0, theta, options, s) == nde::status::success);
  REQUIRE(s.ts == ts);
  const double tau = std::sqrt(2.5), v_up = 0.8 * 8 * tau;
  CHECK(std::abs(s.ys[0][0] - (10 - 4 * 0.25)) < 1e-9);
  CHECK(std::abs(s.ys[1][0] - (10 - 4 * 1.0)) < 1e-9);
  const double after = 2.0 - tau;  // the flight after the first bounce
  CHECK(std::abs(s.ys[2][0] - (v_up * after - 4 * after * after)) < 1e-8);
  CHECK(std::abs(s.ys[2][1] - (v_up - 8 * after)) < 1e-8);

  REQUIRE(solver.solve(term, nde::terminal_event(ground, nde::event_direction::falling), 0.0, 3.5,
                       y0, theta, options, s) == nde::status::success);
  CHECK(s.ts == std::vector<double>{0.5, 1.0});
  CHECK(s.terminated);

  // A marker event records the crossing and keeps the state: the ball falls through the floor.
  REQUIRE(solver.solve(term, nde::marker_event(ground), 0.0, 3.5, y0, theta, options, s) ==
          nde::status::success);
  REQUIRE(s.event_times.size() == 1);
  CHECK(std::abs(s.ys[3][0] - (10 - 4 * 9.0)) < 1e-8);
}

TEST_CASE("direction: a rising condition fires only on the way up", "[events]") {
  // A ball thrown upward from 0 with v = 8 under g = 8 passes x = 3 upward at t = 0.5 and
  // downward at t = 1.5.
  auto height3 = [](auto, const auto& y, const auto&) { return y[0] - 3.0; };
  auto term = make_term();
  const vec y0 = state(0, 8), theta = params(8, 0.8);
  nde::event_options options{.solve = {.controller = tight}};
  const auto up = nde::solve_events(term, nde::dopri5{},
                                    nde::terminal_event(height3, nde::event_direction::rising), 0.0,
                                    3.0, y0, theta, options);
  const auto down = nde::solve_events(term, nde::dopri5{},
                                      nde::terminal_event(height3, nde::event_direction::falling),
                                      0.0, 3.0, y0, theta, options);
  REQUIRE(up.success());
  REQUIRE(down.success());
  CHECK(std::abs(up.t_end - 0.5) < 1e-10);
  CHECK(std::abs(down.t_end - 1.5) < 1e-10);
  // Both crossings inside one long constant step: only interior samples see the pair.
  nde::event_options one_step{.solve = {.controller = nde::constant_step{.dt = 2.0}}};
  auto either = nde::terminal_event(height3);
  const auto missed = nde::solve_events(term, nde::dopri5{}, either, 0.0, 2.0, y0, theta, one_step);
  REQUIRE(missed.success());
  CHECK(missed.event_times.empty());
  CHECK(missed.message.find("no event fired") != std::string::npos);
  either.samples = 4;
  const auto seen = nde::solve_events(term, nde::dopri5{}, either, 0.0, 2.0, y0, theta, one_step);
  REQUIRE(seen.event_times.size() == 1);
  CHECK(std::abs(seen.t_end - 0.5) < 1e-12);  // the dense output of dopri5 is exact on a parabola
}

TEST_CASE(
    "gradients of the first bounce time by every gradient method: dτ/dx0 = 0.0790569, "
    "dτ/dg = -0.0988212",
    "[events][gradients]") {
  const double tau = std::sqrt(2.5);
  const double dtau_dx0 = 1 / (8 * tau), dtau_dg = -tau / 16;
  CHECK(std::abs(dtau_dx0 - 0.0790569) < 1e-7);
  CHECK(std::abs(dtau_dg + 0.0988212) < 1e-7);
  const std::vector<std::pair<const char*, nde::adjoint_method>> methods{
      {"discrete", nde::discrete_adjoint{}},
      {"backsolve", nde::backsolve_adjoint{.controller = tight}},
      {"checkpointed", nde::checkpointed_adjoint{.controller = tight}},
      {"forward", nde::forward_sensitivity{}}};
  auto term = make_term();
  const auto ev = nde::terminal_event(ground, nde::event_direction::falling);
  for (const auto& [name, method] : methods) {
    INFO(name);
    nde::event_integrator<nde::dopri5, vec> solver;
    nde::event_solution<double, vec> s;
    REQUIRE(solver.solve(term, ev, 0.0, 5.0, state(10, 0), params(8, 0.8),
                         {.solve = {.controller = tight, .adjoint = method}},
                         s) == nde::status::success);
    auto g = solver.backward(term, ev, {.event_times = {1.0}});
    REQUIRE(g.status == nde::status::success);
    CHECK(std::abs(g.y0[0] - dtau_dx0) < 1e-8);
    CHECK(std::abs(g.params[0] - dtau_dg) < 1e-8);
    CHECK(std::abs(g.params[1]) < 1e-12);  // the restitution does not act before the bounce
    // dτ/dv0 = 1/g at v0 = 0 (τ = (v0 + √(v0² + 2 g x0))/g).
    CHECK(std::abs(g.y0[1] - 1 / 8.0) < 1e-8);
    // The velocity at impact, v = -√(2 g x0): dv/dx0 = -g/√(2 g x0), dv/dg = -x0/√(2 g x0).
    const vec dv = (vec(2) << 0, 1).finished();
    auto gv = solver.backward(term, ev, {.y_end = dv});
    REQUIRE(gv.status == nde::status::success);
    CHECK(std::abs(gv.y0[0] + 8 / std::sqrt(160.0)) < 1e-8);
    CHECK(std::abs(gv.params[0] + 10 / std::sqrt(160.0)) < 1e-8);
  }
}

namespace {

// L = Σ_k w_k τ_k + c · y(t1) after the bounces, by finite differences of the whole event solve.
struct bounce_loss {
  double t1;
  std::vector<double> weights;
  vec c;
  double operator()(const vec& y0, const vec& theta) const {
    const auto s = drop(nde::dopri5{}, t1, false, y0, theta);
    REQUIRE(s.success());
    REQUIRE(s.event_times.size() == weights.size());
    double loss = c.dot(s.y_end);
    for (std::size_t k = 0; k < weights.size(); ++k) loss += weights[k] * s.event_times[k];
    return loss;
  }
};

}  // namespace

TEST_CASE(
    "gradients through 6 bounces (event times and the final state) against central finite "
    "differences, by the discrete adjoint, backsolve and forward sensitivities",
    "[events][gradients]") {
  const auto bounces = analytic_bounces(10, 8, 0.8, 7);
  const double t1 = 0.5 * (bounces[5] + bounces[6]);
  const bounce_loss loss{t1, {0.3, -0.2, 0.5, 0.1, -0.4, 0.7}, (vec(2) << 0.6, -0.25).finished()};
  const vec y0 = state(10, 0.5), theta = params(8, 0.8);
  const double delta = 1e-5;
  vec fd_y0(2), fd_theta(2);
  for (Eigen::Index i = 0; i < 2; ++i) {
    vec plus = y0, minus = y0;
    plus[i] += delta;
    minus[i] -= delta;
    fd_y0[i] = (loss(plus, theta) - loss(minus, theta)) / (2 * delta);
    vec tp = theta, tm = theta;
    tp[i] += delta;
    tm[i] -= delta;
    fd_theta[i] = (loss(y0, tp) - loss(y0, tm)) / (2 * delta);
  }
  auto term = make_term();
  const auto ev = nde::reset_event(ground, bounce, nde::event_direction::falling);
  const std::vector<std::pair<const char*, nde::adjoint_method>> methods{
      {"discrete", nde::discrete_adjoint{}},
      {"backsolve", nde::backsolve_adjoint{.controller = tight}},
      {"forward", nde::forward_sensitivity{}}};
  for (const auto& [name, method] : methods) {
    INFO(name);
    nde::event_integrator<nde::dopri5, vec> solver;
    nde::event_solution<double, vec> s;
    REQUIRE(solver.solve(term, ev, 0.0, t1, y0, theta,
                         {.solve = {.controller = tight, .adjoint = method}},
                         s) == nde::status::success);
    REQUIRE(s.event_times.size() == 6);
    auto g = solver.backward(term, ev, {.event_times = loss.weights, .y_end = loss.c});
    REQUIRE(g.status == nde::status::success);
    for (Eigen::Index i = 0; i < 2; ++i) {
      INFO("component " << i << ": y0 " << g.y0[i] << " vs " << fd_y0[i] << ", theta "
                        << g.params[i] << " vs " << fd_theta[i]);
      CHECK(std::abs(g.y0[i] - fd_y0[i]) < 1e-6 * (1 + std::abs(fd_y0[i])));
      CHECK(std::abs(g.params[i] - fd_theta[i]) < 1e-6 * (1 + std::abs(fd_theta[i])));
    }
  }
}

namespace {

// With air drag, y'' = -g - k y' |y'|... kept smooth: y'' = -g - k y' (θ = g, e, k); the
// dense output is no longer exact and every gradient path is exercised.
auto drag_fall = [](auto, const auto& y, const auto& theta, auto& dydt) {
  dydt[0] = y[1];
  dydt[1] = -theta[0] - theta[2] * y[1];
};
using drag_field = nde::autodiff_field<vec, decltype(drag_fall)>;
using drag_term = nde::ode_term<drag_field>;

template <class Stepper>
double drag_loss(const Stepper& method, const vec& y0, const vec& theta, double t1) {
  auto term = drag_term(drag_field(drag_fall, 3));
  const auto s = nde::solve_events(term, method,
                                   nde::reset_event(ground, bounce, nde::event_direction::falling),
                                   0.0, t1, y0, theta, {.solve = {.controller = tight}});
  REQUIRE(s.success());
  REQUIRE(s.event_times.size() == 4);
  return 0.5 * s.event_times[1] - 0.3 * s.event_times[3] + 0.2 * s.y_end[0] + 0.1 * s.y_end[1] +
         0.4 * s.before[2][1];
}

}  // namespace

TEST_CASE(
    "gradients through 4 bounces with air drag (event times, a pre-event velocity, the final "
    "state) against central finite differences, explicit and implicit",
    "[events][gradients]") {
  const vec y0 = state(10, 1.0), theta = (vec(3) << 8, 0.8, 0.3).finished();
  const double delta = 1e-5;
  auto term = drag_term(drag_field(drag_fall, 3));
  const auto ev = nde::reset_event(ground, bounce, nde::event_direction::falling);
  // t1 halfway between the 4th and 5th bounces, from a first solve.
  const auto first = nde::solve_events(term, nde::dopri5{}, ev, 0.0, 30.0, y0, theta,
                                       {.solve = {.controller = tight}});
  REQUIRE(first.event_times.size() >= 5);
  const double t1 = 0.5 * (first.event_times[3] + first.event_times[4]);
  // The reference: central differences of the dopri5 event solve (its error ~1e-12 keeps the
  // differences' noise near 1e-7).
  vec fd_y0(2), fd_theta(3);
  for (Eigen::Index i = 0; i < 2; ++i) {
    vec plus = y0, minus = y0;
    plus[i] += delta;
    minus[i] -= delta;
    fd_y0[i] =
        (drag_loss(nde::dopri5{}, plus, theta, t1) - drag_loss(nde::dopri5{}, minus, theta, t1)) /
        (2 * delta);
  }
  for (Eigen::Index i = 0; i < 3; ++i) {
    vec plus = theta, minus = theta;
    plus[i] += delta;
    minus[i] -= delta;
    fd_theta[i] =
        (drag_loss(nde::dopri5{}, y0, plus, t1) - drag_loss(nde::dopri5{}, y0, minus, t1)) /
        (2 * delta);
  }
  auto check = [&](const auto& method, const char* name, const nde::adjoint_method& adjoint,
                   double tol) {
    INFO(name);
    using stepper = std::decay_t<decltype(method)>;
    nde::event_integrator<stepper, vec> solver(method, y0);
    nde::event_solution<double, vec> s;
    REQUIRE(solver.solve(term, ev, 0.0, t1, y0, theta,
                         {.solve = {.controller = tight, .adjoint = adjoint}},
                         s) == nde::status::success);
    REQUIRE(s.event_times.size() == 4);
    std::vector<vec> before(4, vec::Zero(2));
    before[2][1] = 0.4;
    auto g = solver.backward(term, ev,
                             {.event_times = {0.0, 0.5, 0.0, -0.3},
                              .before = before,
                              .y_end = (vec(2) << 0.2, 0.1).finished()});
    REQUIRE(g.status == nde::status::success);
    for (Eigen::Index i = 0; i < 2; ++i) {
      INFO("y0[" << i << "] " << g.y0[i] << " vs " << fd_y0[i]);
      CHECK(std::abs(g.y0[i] - fd_y0[i]) < tol * (1 + std::abs(fd_y0[i])));
    }
    for (Eigen::Index i = 0; i < 3; ++i) {
      INFO("theta[" << i << "] " << g.params[i] << " vs " << fd_theta[i]);
      CHECK(std::abs(g.params[i] - fd_theta[i]) < tol * (1 + std::abs(fd_theta[i])));
    }
  };
  check(nde::dopri5{}, "dopri5 discrete", nde::discrete_adjoint{}, 1e-6);
  check(nde::dopri5{}, "dopri5 checkpointed", nde::checkpointed_adjoint{.controller = tight}, 1e-6);
  check(nde::rodas5{}, "rodas5 backsolve", nde::backsolve_adjoint{.controller = tight}, 1e-6);
  // Newton tolerances follow the controller's.
  check(nde::kvaerno5{.newton = {.rtol = 1e-11, .atol = 1e-12}}, "kvaerno5 forward",
        nde::forward_sensitivity{}, 1e-6);
}

TEST_CASE("an implicit method differentiates through events too (kvaerno5, discrete adjoint)",
          "[events][gradients]") {
  auto term = make_term();
  const auto ev = nde::terminal_event(ground, nde::event_direction::falling);
  nde::event_integrator<nde::kvaerno5, vec> solver;
  nde::event_solution<double, vec> s;
  REQUIRE(solver.solve(term, ev, 0.0, 5.0, state(10, 0), params(8, 0.8),
                       {.solve = {.controller = tight, .adjoint = nde::discrete_adjoint{}}},
                       s) == nde::status::success);
  auto g = solver.backward(term, ev, {.event_times = {1.0}});
  REQUIRE(g.status == nde::status::success);
  const double tau = std::sqrt(2.5);
  CHECK(std::abs(g.y0[0] - 1 / (8 * tau)) < 1e-7);
  CHECK(std::abs(g.params[0] + tau / 16) < 1e-7);
}

TEST_CASE("bad input to an event solve is a status with a message", "[events][bad_input]") {
  auto term = make_term();
  const vec y0 = state(10, 0), theta = params(8, 0.8);
  nde::event_options options{.solve = {.controller = tight}};
  auto contains = [](const std::string& s, const char* what) {
    return s.find(what) != std::string::npos;
  };
  SECTION("a NaN condition") {
    auto nan_condition = [](auto t, const auto& y, const auto&) {
      return t > 1.0 ? y[0] * std::numeric_limits<double>::quiet_NaN() : y[0];
    };
    const auto s = nde::solve_events(term, nde::dopri5{}, nde::terminal_event(nan_condition), 0.0,
                                     5.0, y0, theta, options);
    CHECK(s.status == nde::status::non_finite);
    CHECK(contains(s.message, "event condition is NaN"));
  }
  SECTION("an event that never fires") {
    auto never = [](auto, const auto& y, const auto&) { return y[0] + 1000.0; };
    const auto s = nde::solve_events(term, nde::dopri5{}, nde::terminal_event(never), 0.0, 1.0, y0,
                                     theta, options);
    CHECK(s.success());
    CHECK(s.event_times.empty());
    CHECK(contains(s.message, "no event fired"));
    CHECK(s.t_end == 1.0);
  }
  SECTION("a reset that leaves the state on the crossing: zero-length segments") {
    auto stay = [](auto, const auto& y, const auto&, auto& out) {
      out = y;
      out[0] = 1e-300;  // just above the floor, still falling
    };
    const auto s = nde::solve_events(term, nde::dopri5{},
                                     nde::reset_event(ground, stay, nde::event_direction::falling),
                                     0.0, 5.0, y0, theta, options);
    CHECK_FALSE(s.success());
    INFO(s.message);
    CHECK((contains(s.message, "zero-length") || contains(s.message, "max_events")));
  }
  SECTION("a reset that returns NaN") {
    auto broken = [](auto, const auto& y, const auto&, auto& out) {
      out = y;
      out[1] = y[1] * std::numeric_limits<double>::quiet_NaN();
    };
    const auto s = nde::solve_events(
        term, nde::dopri5{}, nde::reset_event(ground, broken, nde::event_direction::falling), 0.0,
        5.0, y0, theta, options);
    CHECK(s.status == nde::status::non_finite);
    CHECK(contains(s.message, "reset"));
  }
  SECTION("Zeno: the event budget") {
    nde::event_options few = options;
    few.max_events = 3;
    const auto s = nde::solve_events(
        term, nde::dopri5{}, nde::reset_event(ground, bounce, nde::event_direction::falling), 0.0,
        50.0, y0, theta, few);
    CHECK(s.status == nde::status::max_steps_reached);
    CHECK(contains(s.message, "max_events"));
    CHECK(s.event_times.size() == 3);
  }
  SECTION("options an event solve does not support") {
    nde::event_options dense = options;
    dense.solve.dense = true;
    const auto s = nde::solve_events(term, nde::dopri5{}, nde::terminal_event(ground), 0.0, 5.0, y0,
                                     theta, dense);
    CHECK(s.status == nde::status::invalid_input);
    CHECK(contains(s.message, "dense"));
    nde::event_options bad_times = options;
    bad_times.solve.save_at = nde::save_at::times({7.0});
    const auto t = nde::solve_events(term, nde::dopri5{}, nde::terminal_event(ground), 0.0, 5.0, y0,
                                     theta, bad_times);
    CHECK(t.status == nde::status::invalid_input);
    auto wrong_samples = nde::terminal_event(ground);
    wrong_samples.samples = -1;
    CHECK(nde::solve_events(term, nde::dopri5{}, wrong_samples, 0.0, 5.0, y0, theta, options)
              .status == nde::status::invalid_input);
  }
  SECTION("backward: before a differentiable solve, and with cotangents of the wrong count") {
    nde::event_integrator<nde::dopri5, vec> solver;
    nde::event_solution<double, vec> s;
    const auto ev = nde::terminal_event(ground, nde::event_direction::falling);
    REQUIRE(solver.solve(term, ev, 0.0, 5.0, y0, theta, options, s) == nde::status::success);
    CHECK_THROWS_WITH(solver.backward(term, ev, {}), Catch::Contains("gradient method"));
    REQUIRE(solver.solve(term, ev, 0.0, 5.0, y0, theta,
                         {.solve = {.controller = tight, .adjoint = nde::discrete_adjoint{}}},
                         s) == nde::status::success);
    CHECK_THROWS_WITH(solver.backward(term, ev, {.event_times = {1.0, 2.0}}),
                      Catch::Contains("event-time"));
    CHECK_THROWS_WITH(solver.backward(term, ev, {.y_end = state(1, 1).head(1)}),
                      Catch::Contains("shape"));
  }
  SECTION("an event on the velocity: the top of the flight") {
    auto top = [](auto, const auto& y, const auto&) { return y[1]; };  // v = 0 at the top
    nde::event_integrator<nde::dopri5, vec> solver;
    nde::event_solution<double, vec> s;
    // g = v crosses zero at the top with dg/dt = -g ≠ 0: a proper event...
    const auto ev = nde::terminal_event(top, nde::event_direction::falling);
    REQUIRE(solver.solve(term, ev, 0.0, 5.0, state(0, std::sqrt(80.0)), theta,
                         {.solve = {.controller = tight, .adjoint = nde::discrete_adjoint{}}},
                         s) == nde::status::success);
    auto g = solver.backward(term, ev, {.event_times = {1.0}});
    REQUIRE(g.status == nde::status::success);
    // ...whose time v0/g has dτ/dv0 = 1/g, dτ/dg = -v0/g².
    CHECK(std::abs(g.y0[1] - 1 / 8.0) < 1e-8);
    CHECK(std::abs(g.params[0] + std::sqrt(80.0) / 64) < 1e-8);
  }
}
