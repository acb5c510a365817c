// Inputs that used to reach undefined behaviour or a misleading message (issue 17): a field
// that resizes dydt, extreme controller settings, a custom norm returning NaN, an atol so small
// that the initial-step heuristic overflows, a float state with an unreachable rtol, times that
// collide only in the time type, a y0 of the wrong height, a field that throws nde::error.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {

using vec = Eigen::VectorXd;
using Catch::Matchers::Contains;

// y' = -y + 1 on every component, recording the times it is evaluated at.
struct relaxing {
  std::vector<double>* times = nullptr;
  template <class T, class State>
  void operator()(T t, const State& y, State& dydt) const {
    if (times) times->push_back(static_cast<double>(t));
    dydt = -y + State::Ones(y.rows(), y.cols());
  }
};

}  // namespace

TEST_CASE("a field that changes the size of dydt after the first evaluation is refused",
          "[integrate][edge]") {
  for (const int good_calls : {1, 2, 5, 40}) {
    INFO("size changes after " << good_calls << " evaluations");
    int calls = 0;
    auto f = [&](double, const vec& y, vec& dydt) {
      dydt = -y;
      if (++calls > good_calls) dydt.conservativeResize(y.size() + 1);
    };
    SECTION("adaptive dopri5") {
      const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 3.0, vec(vec::Ones(2)));
      CHECK(sol.status == nde::status::invalid_input);
      CHECK_THAT(sol.message,
                 Contains("wrote a derivative of size 3x1") && Contains("for a state of size 2x1"));
    }
    SECTION("fixed-step rk4") {
      const auto sol = nde::solve(f, nde::rk4{}, 0.0, 3.0, vec(vec::Ones(2)),
                                  {.controller = nde::constant_step{.dt = 0.1}});
      CHECK(sol.status == nde::status::invalid_input);
      CHECK_THAT(sol.message, Contains("wrote a derivative of size 3x1"));
    }
  }
}

// y' = -y with a vjp, shrinking dydt at one evaluation.
struct shrinking_field {
  int* calls;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  template <class T>
  void operator()(T, const vec& y, nde::params_view<double>, vec& dydt) {
    dydt = -y;
    if (++*calls == 7) dydt.resize(1);
  }
  template <class T>
  void vjp(T, const vec&, nde::params_view<double>, const vec& a, vec& a_y,
           nde::params_ref<double>) {
    a_y = -a;
  }
};

TEST_CASE("a field that shrinks dydt inside a differentiable solve is refused",
          "[integrate][edge]") {
  int calls = 0;
  nde::ode_term<shrinking_field> term(shrinking_field{&calls});
  const vec theta = vec::Zero(0);
  const auto out = nde::solve(term, nde::tsit5{}, 0.0, 2.0, vec(vec::Ones(3)), theta,
                              {.adjoint = nde::discrete_adjoint{}});
  CHECK(out.status == nde::status::invalid_input);
  CHECK_THAT(out.message, Contains("size 1x1"));
}

TEST_CASE("pid_controller settings: an infinite max_factor is named, not a later dt0",
          "[integrate][edge]") {
  relaxing f;
  for (const double bad : {std::numeric_limits<double>::infinity(), std::nan(""), 0.5}) {
    const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 1.0, vec(vec::Zero(2)),
                                {.controller = nde::pid_controller{.max_factor = bad}});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message, Contains("max_factor"));
  }
}

TEST_CASE("a custom norm returning NaN is named as the cause", "[integrate][edge]") {
  std::vector<double> times;
  relaxing f{&times};
  for (const bool nan_at_start : {true, false}) {
    times.clear();
    int calls = 0;
    nde::pid_controller c;
    c.custom_norm = [&](const Eigen::Ref<const Eigen::MatrixXd>& e) {
      // In the initial-step heuristic (3 calls) or in the first accepted-step test.
      return ++calls > (nan_at_start ? 0 : 3) ? std::nan("") : e.cwiseAbs().maxCoeff();
    };
    const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 1.0, vec(vec::Zero(2)), {.controller = c});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message, Contains("custom_norm returned NaN"));
    for (const double t : times) {
      CHECK(std::isfinite(t));
      CHECK((t >= 0 && t <= 1));
    }
  }
}

TEST_CASE("the initial-step heuristic survives a denormal atol and stays inside [t0, t1]",
          "[integrate][edge]") {
  std::vector<double> times;
  relaxing f{&times};
  SECTION("atol = 5e-324 with y0 = (0, 1), for several rtol") {
    // Was "step size 0 too small at t = 0": ‖f0‖ scaled by 5e-324 overflowed, h0 became 0.
    for (const double rtol : {1e-6, 1e-3, 0.0}) {
      times.clear();
      const auto sol =
          nde::solve(f, nde::dopri5{}, 0.0, 1.0, vec(vec::LinSpaced(2, 0, 1)),
                     {.controller = nde::pid_controller{.rtol = rtol, .atol = 5e-324}});
      REQUIRE(sol.status == nde::status::success);
      CHECK(std::abs(sol.ys.back()[0] - (1 - std::exp(-1.0))) < 1e-5);
      CHECK(std::abs(sol.ys.back()[1] - 1) < 1e-12);
      for (const double t : times) CHECK((std::isfinite(t) && t >= 0 && t <= 1));
    }
  }
  SECTION("a short interval: the heuristic's probe and the first step stay inside it") {
    for (const double span : {1e-3, 1e-9, -1e-6}) {
      times.clear();
      const auto sol = nde::solve(f, nde::dopri5{}, 0.0, span, vec(vec::Constant(2, 3.0)),
                                  {.controller = nde::pid_controller{.rtol = 1e-3, .atol = 1e-3}});
      REQUIRE(sol.status == nde::status::success);
      for (const double t : times) CHECK(std::abs(t) <= std::abs(span));
    }
  }
  SECTION("a pure relative tolerance on a component that starts at zero") {
    const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 1.0, vec(vec::Zero(2)),
                                {.controller = nde::pid_controller{.rtol = 1e-6, .atol = 0}});
    REQUIRE(sol.status == nde::status::success);
    CHECK(std::abs(sol.ys.back()[0] - (1 - std::exp(-1.0))) < 1e-5);
  }
}

TEST_CASE("an rtol below 100 epsilon of the state's scalar is raised, and the message says so",
          "[integrate][edge]") {
  // y' = A y, a decaying rotation (closed form), in float with rtol 1e-13.
  auto f = [](double, const Eigen::Vector2f& y, Eigen::Vector2f& dydt) {
    dydt << -0.1f * y[0] + y[1], -y[0] - 0.1f * y[1];
  };
  const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 10.0, Eigen::Vector2f(1, 0),
                              {.controller = nde::pid_controller{.rtol = 1e-13, .atol = 1e-6}});
  REQUIRE(sol.status == nde::status::success);
  CHECK_THAT(sol.message,
             Contains("rtol = 1e-13 was raised to 1.1920928955078125e-05") && Contains("epsilon"));
  // Near float accuracy in a few hundred steps, not 40,000.
  CHECK(sol.stats.accepted_steps < 2000);
  const double decay = std::exp(-1.0);
  CHECK(std::abs(sol.ys.back()[0] - decay * std::cos(10.0)) < 1e-4);
  // A double solve at the same rtol is below its floor (2.2e-14)? No: 1e-13 is above it.
  auto fd = [](double, const Eigen::Vector2d& y, Eigen::Vector2d& dydt) {
    dydt << -0.1 * y[0] + y[1], -y[0] - 0.1 * y[1];
  };
  const auto sold = nde::solve(fd, nde::dopri5{}, 0.0, 1.0, Eigen::Vector2d(1, 0),
                               {.controller = nde::pid_controller{.rtol = 1e-13, .atol = 1e-15}});
  REQUIRE(sold.status == nde::status::success);
  CHECK(sold.message.empty());
}

TEST_CASE("times that collide only in the time type are reported as such", "[integrate][edge]") {
  relaxing f;
  const auto sol = nde::solve(f, nde::dopri5{}, 0.0f, 1.0f, Eigen::Vector2f::Zero().eval(),
                              {.save_at = nde::save_at::times({0.1, 0.1 + 1e-12, 0.5})});
  CHECK(sol.status == nde::status::invalid_input);
  CHECK_THAT(sol.message, Contains("distinct as double but the same time") && Contains("32-bit"));
  // Full precision in the ordinary message too.
  const auto sol2 = nde::solve(f, nde::dopri5{}, 0.0, 1.0, vec(vec::Zero(2)),
                               {.save_at = nde::save_at::times({1e-7, 1e-7})});
  CHECK_THAT(sol2.message, Contains("ts[0] = 9.9999999999999995e-08"));
}

TEST_CASE("a y0 of the wrong height is named as y0, for a network model and a linear field",
          "[integrate][models][edge]") {
  using net_type =
      nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
  using field_type = nde::network_field<net_type, vec>;
  const net_type net({2, 8, 2});
  nde::neural_ode<field_type, nde::dopri5, nde::discrete_adjoint, vec> model(
      field_type(net), vec::Constant(net.num_params(), 0.1));
  const std::vector<double> ts{0.0, 1.0};
  const auto& out = model.forward(vec(vec::Ones(3)), ts);
  CHECK(out.status == nde::status::invalid_input);
  CHECK_THAT(out.message, Contains("y0 has 3 rows but the vector field takes 2"));
  const auto g = model.backward(std::vector<vec>(2, vec(vec::Zero(3))));
  CHECK(g.status == nde::status::invalid_input);

  nde::ode_term<nde::linear_field<vec>> term(nde::linear_field<vec>(2));
  const vec theta = vec(vec::Zero(4));
  const auto sol = nde::solve(term, nde::dopri5{}, 0.0, 1.0, vec(vec::Ones(5)), theta, {});
  CHECK(sol.status == nde::status::invalid_input);
  CHECK_THAT(sol.message, Contains("y0 has 5 rows"));
}

TEST_CASE("an nde::error thrown by a field mid-solve becomes a status", "[integrate][edge]") {
  int calls = 0;
  auto f = [&](double t, const vec& y, vec& dydt) {
    if (++calls == 20)
      throw nde::error(nde::status::invalid_input,
                       "my field cannot go past t = " + nde::detail::full_precision(t));
    dydt = -y;
  };
  const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 5.0, vec(vec::Ones(2)));
  CHECK(sol.status == nde::status::invalid_input);
  CHECK_THAT(sol.message, Contains("the vector field failed: my field cannot go past t = "));
  CHECK(sol.ys.size() == sol.ts.size());
}

// y' = -y whose vjp writes a cotangent one row too long.
struct bad_vjp_field {
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  template <class T>
  void operator()(T, const vec& y, nde::params_view<double>, vec& dydt) {
    dydt = -y;
  }
  template <class T>
  void vjp(T, const vec& y, nde::params_view<double>, const vec&, vec& a_y,
           nde::params_ref<double>) {
    a_y = vec::Zero(y.size() + 1);
  }
};

TEST_CASE("a vjp of the wrong shape during backward gives a status, for every adjoint",
          "[integrate][gradients][edge]") {
  nde::ode_term<bad_vjp_field> term{bad_vjp_field{}};
  const vec theta = vec::Zero(0);
  for (const nde::adjoint_method& method :
       {nde::adjoint_method{nde::discrete_adjoint{}}, nde::adjoint_method{nde::backsolve_adjoint{}},
        nde::adjoint_method{nde::checkpointed_adjoint{}}}) {
    auto sol =
        nde::solve(term, nde::dopri5{}, 0.0, 1.0, vec(vec::Ones(2)), theta, {.adjoint = method});
    REQUIRE(sol.status == nde::status::success);
    const auto g = sol.backward(std::vector<vec>{vec(vec::Ones(2))});
    CHECK(g.status == nde::status::invalid_input);
    CHECK_THAT(g.message, Contains("wrote a vjp of size 3x1"));
  }
}

TEST_CASE("outputs of a failed solve are checked through at() and value()", "[integrate][edge]") {
  auto f = [](double, const vec& y, vec& dydt) {
    dydt = y.array().square().matrix();
  };  // blows up at t = 1
  const auto sol = nde::solve(f, nde::dopri5{}, 0.0, 2.0, vec(vec::Ones(1)),
                              {.save_at = nde::save_at::times({0.5, 1.5, 2.0})});
  REQUIRE_FALSE(sol.success());
  REQUIRE(sol.ys.size() < 3);
  CHECK(sol.at(0).size() == 1);
  try {
    (void)sol.at(2);
    FAIL("at(2) did not throw");
  } catch (const nde::error& e) {
    CHECK(e.code() == sol.status);
    CHECK_THAT(e.what(), Contains("output 2 requested") && Contains("it failed"));
  }
  CHECK_THROWS_AS(sol.value(), nde::error);
  const auto ok = nde::solve(f, nde::dopri5{}, 0.0, 0.5, vec(vec::Ones(1)));
  CHECK_NOTHROW(ok.value());
  CHECK_THROWS_WITH(ok.at(1), Contains("has 1 outputs"));
}

TEST_CASE("the model's throwing variants carry the status and message", "[models][edge]") {
  nde::neural_ode<nde::linear_field<vec>, nde::dopri5, nde::discrete_adjoint, vec> model(
      nde::linear_field<vec>(2), vec::Zero(4), {}, {.max_steps = 1});
  const std::vector<double> ts{0.0, 5.0};
  try {
    (void)model.forward_or_throw(vec(vec::Ones(2)), ts);
    FAIL("forward_or_throw did not throw");
  } catch (const nde::error& e) {
    CHECK(e.code() == nde::status::max_steps_reached);
  }
  CHECK_THROWS_WITH(model.backward_or_throw(std::vector<vec>(2, vec(vec::Zero(2)))),
                    Contains("forward solve failed"));
}
