// Gradients of a neural ODE whose field is a 2-16-2 tanh MLP: every method against central
// finite differences and against each other; checkpoint budgets; seminorm; batches; bad
// inputs. (Threads: tests/models/test_threads.cpp.)
#include <nde/nde.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

#include <cmath>
#include <random>
#include <vector>

namespace {

using vec = Eigen::Vector2d;
using params = Eigen::VectorXd;
using net_type = nde::nn::mlp<nde::nn::tanh_activation, 2, 16, 2>;
using field_type = nde::network_field<net_type, vec>;

params initial_params(unsigned seed) {
  net_type net;
  params theta(net.num_params());
  std::mt19937_64 engine(seed);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  return theta;
}

const std::vector<double> output_times{0.0, 0.3, 0.8, 1.5};

// L = Σ_i w_i · y(t_i) + 0.5 |y(t_N)|², a loss touching every output.
struct loss_function {
  std::vector<vec> weights;
  loss_function() {
    for (std::size_t i = 0; i < output_times.size(); ++i)
      weights.emplace_back(0.3 + 0.1 * double(i), -0.2 * double(i));
  }
  [[nodiscard]] double value(const std::vector<vec>& ys) const {
    double l = 0.5 * ys.back().squaredNorm();
    for (std::size_t i = 0; i < ys.size(); ++i) l += weights[i].dot(ys[i]);
    return l;
  }
  [[nodiscard]] std::vector<vec> cotangents(const std::vector<vec>& ys) const {
    std::vector<vec> c = weights;
    c.back() += ys.back();
    return c;
  }
};

template <class Gradient, class Method = nde::dopri5>
using model_type = nde::neural_ode<field_type, Method, Gradient, vec>;

const vec y0_value{0.6, -0.4};

template <class Gradient, class Method = nde::dopri5>
nde::gradient_result<vec> gradient(Gradient method, nde::neural_ode_options options,
                                   const params& theta) {
  model_type<Gradient, Method> model(field_type(net_type{}), theta, method, options);
  const auto& fr = model.forward(y0_value, output_times);
  REQUIRE(fr.status == nde::status::success);
  const auto c = loss_function{}.cotangents(fr.ys);
  return model.backward(std::span<const vec>(c));
}

// Central differences of the loss of the computed solution, w.r.t. θ and y0.
template <class Method = nde::dopri5>
std::pair<params, vec> finite_differences(nde::neural_ode_options options, const params& theta,
                                          double h) {
  model_type<nde::discrete_adjoint, Method> model(field_type(net_type{}), theta, {}, options);
  const loss_function loss;
  auto evaluate = [&](const vec& y0) {
    const auto& fr = model.forward(y0, output_times);
    REQUIRE(fr.status == nde::status::success);
    return loss.value(fr.ys);
  };
  params d_theta(theta.size());
  for (Eigen::Index k = 0; k < theta.size(); ++k) {
    const double saved = model.params()[k];
    model.params()[k] = saved + h;
    const double plus = evaluate(y0_value);
    model.params()[k] = saved - h;
    const double minus = evaluate(y0_value);
    model.params()[k] = saved;
    d_theta[k] = (plus - minus) / (2 * h);
  }
  vec d_y0;
  for (int k = 0; k < 2; ++k) {
    vec p = y0_value, m = y0_value;
    p[k] += h;
    m[k] -= h;
    d_y0[k] = (evaluate(p) - evaluate(m)) / (2 * h);
  }
  return {d_theta, d_y0};
}

double relative(const Eigen::VectorXd& x, const Eigen::VectorXd& reference) {
  return (x - reference).norm() / reference.norm();
}

}  // namespace

TEST_CASE("discrete adjoint is the exact gradient of the discrete map (fixed RK4 steps)",
          "[models][gradients][discrete]") {
  const params theta = initial_params(7);
  const nde::neural_ode_options fixed{.controller = nde::constant_step{.dt = 0.05}};
  const auto g = gradient<nde::discrete_adjoint, nde::rk4>({}, fixed, theta);
  REQUIRE(g.status == nde::status::success);
  const auto [fd_theta, fd_y0] = finite_differences<nde::rk4>(fixed, theta, 1e-5);
  CHECK(relative(g.params, fd_theta) < 1e-7);
  CHECK(relative(g.y0, fd_y0) < 1e-7);
  // One vjp per stage and step, plus one for f(t1, y1) of each step whose Hermite dense output
  // holds an output time strictly inside it (0.3 and 0.8 are not exactly on the 0.05 grid).
  CHECK(g.stats.backward_vjp_evals >= 4 * g.stats.backward_steps);
  CHECK(g.stats.backward_vjp_evals <= 4 * g.stats.backward_steps + 2);
}

TEST_CASE(
    "discrete adjoint through adaptive dopri5 steps matches finite differences of the same steps",
    "[models][gradients][discrete]") {
  const params theta = initial_params(11);
  const nde::neural_ode_options adaptive{.controller =
                                             nde::pi_controller{.rtol = 1e-8, .atol = 1e-10}};
  model_type<nde::discrete_adjoint> model(field_type(net_type{}), theta, {}, adaptive);
  const auto& fr = model.forward(y0_value, output_times);
  REQUIRE(fr.status == nde::status::success);
  const auto c = loss_function{}.cotangents(fr.ys);
  const auto g = model.backward(std::span<const vec>(c));
  REQUIRE(g.stats.forward_steps > 5);
  // Central differences of the adaptive map itself: its step-size decisions are piecewise
  // constant in θ, so it agrees to about the controller's tolerance, not to rounding (the
  // fixed-step test above checks the rounding-level agreement).
  const auto [fd_theta, fd_y0] = finite_differences(adaptive, theta, 1e-7);
  CHECK(relative(g.params, fd_theta) < 1e-4);
  CHECK(relative(g.y0, fd_y0) < 1e-4);
}

TEST_CASE("continuous adjoints approach the reference gradient as tolerances tighten",
          "[models][gradients][adjoint]") {
  const params theta = initial_params(3);
  const nde::pi_controller tightest{.rtol = 1e-12, .atol = 1e-14};
  const auto reference = gradient(nde::discrete_adjoint{}, {.controller = tightest}, theta);
  const auto [fd_theta, fd_y0] = finite_differences({.controller = tightest}, theta, 1e-5);
  REQUIRE(relative(reference.params, fd_theta) < 1e-6);
  REQUIRE(relative(reference.y0, fd_y0) < 1e-6);

  for (const bool interpolating : {false, true}) {
    double previous = 1.0;
    double at_1e10 = 1.0;
    for (const double tol : {1e-4, 1e-7, 1e-10}) {
      const nde::pi_controller c{.rtol = tol, .atol = tol * 1e-2};
      const auto g =
          interpolating
              ? gradient(nde::checkpointed_adjoint{.controller = c}, {.controller = c}, theta)
              : gradient(nde::backsolve_adjoint{.controller = c}, {.controller = c}, theta);
      REQUIRE(g.status == nde::status::success);
      const double e = std::max(relative(g.params, reference.params), relative(g.y0, reference.y0));
      INFO("interpolating = " << interpolating << ", tol = " << tol << ", relative error = " << e);
      CHECK(e < previous);
      previous = e;
      at_1e10 = e;
    }
    CHECK(at_1e10 <= 1e-6);
  }
}

TEST_CASE("seminorm takes fewer backward evaluations for the same gradient",
          "[models][gradients][adjoint]") {
  const params theta = initial_params(5);
  const nde::pi_controller c{.rtol = 1e-6, .atol = 1e-8};
  const auto full = gradient(nde::backsolve_adjoint{.controller = c, .seminorm = false},
                             {.controller = c}, theta);
  const auto semi =
      gradient(nde::backsolve_adjoint{.controller = c, .seminorm = true}, {.controller = c}, theta);
  REQUIRE(full.status == nde::status::success);
  REQUIRE(semi.status == nde::status::success);
  INFO("full norm: " << full.stats.backward_rhs_evals
                     << " evaluations, seminorm: " << semi.stats.backward_rhs_evals);
  CHECK(semi.stats.backward_rhs_evals < full.stats.backward_rhs_evals);
  CHECK(relative(semi.params, full.params) < 1e-4);
  CHECK(relative(semi.y0, full.y0) < 1e-4);
}

TEST_CASE("binomial checkpointing gives the same discrete gradient within its budget",
          "[models][gradients][discrete]") {
  const params theta = initial_params(9);
  const nde::neural_ode_options fixed{.controller = nde::constant_step{.dt = 0.02}};
  const auto all = gradient<nde::discrete_adjoint, nde::rk4>({}, fixed, theta);
  for (const std::size_t budget : {1u, 2u, 3u, 8u}) {
    const auto g =
        gradient<nde::discrete_adjoint, nde::rk4>({.max_checkpoints = budget}, fixed, theta);
    INFO("budget " << budget << ": peak " << g.stats.peak_stored_states << ", recomputed "
                   << g.stats.recomputed_steps);
    CHECK(g.stats.peak_stored_states <= budget);
    CHECK(g.stats.peak_stored_states >= 1);
    // The replayed states are bit-identical to the forward ones, so is the gradient.
    CHECK(g.params == all.params);
    CHECK(g.y0 == all.y0);
    CHECK(g.stats.recomputed_steps > all.stats.recomputed_steps);
  }
  // Without a budget every step start is kept: 15 + 25 + 35 = 75 steps in one solve (output
  // times are not step boundaries any more), less the initial state (an output, not counted).
  CHECK(all.stats.peak_stored_states == 74);
}

TEST_CASE("a batch as matrix columns gives the sum of per-column gradients (fixed steps)",
          "[models][gradients][batch]") {
  using batch_state = Eigen::Matrix<double, 2, Eigen::Dynamic>;
  using batch_field = nde::network_field<net_type, batch_state>;
  const params theta = initial_params(13);
  const nde::neural_ode_options fixed{.controller = nde::constant_step{.dt = 0.05}};
  batch_state y0(2, 3);
  y0 << 0.6, -0.1, 0.3,  //
      -0.4, 0.2, 0.9;
  nde::neural_ode<batch_field, nde::rk4, nde::discrete_adjoint, batch_state> batch(
      batch_field(net_type{}, 3), theta, {}, fixed);
  const auto& fr = batch.forward(y0, output_times);
  REQUIRE(fr.status == nde::status::success);
  std::vector<batch_state> c(fr.ys.size(), batch_state::Zero(2, 3));
  c.back() = fr.ys.back();
  const auto g = batch.backward(std::span<const batch_state>(c));

  Eigen::VectorXd sum = Eigen::VectorXd::Zero(theta.size());
  for (Eigen::Index col = 0; col < 3; ++col) {
    model_type<nde::discrete_adjoint, nde::rk4> single(field_type(net_type{}), theta, {}, fixed);
    const auto& fs = single.forward(y0.col(col), output_times);
    CHECK((fs.ys.back() - fr.ys.back().col(col)).norm() < 1e-13);
    std::vector<vec> cs(fs.ys.size(), vec::Zero());
    cs.back() = fs.ys.back();
    const auto gs = single.backward(std::span<const vec>(cs));
    sum += gs.params;
    CHECK((gs.y0 - g.y0.col(col)).norm() < 1e-13);
  }
  CHECK(relative(g.params, sum) < 1e-12);
}

TEST_CASE("bad inputs to the model give clear errors", "[models][errors]") {
  const params theta = initial_params(1);
  model_type<nde::discrete_adjoint> model(field_type(net_type{}), theta);
  std::vector<vec> c(output_times.size(), vec::Zero());

  SECTION("backward before forward") {
    CHECK_THROWS_WITH(model.backward(std::span<const vec>(c)), Catch::Contains("forward"));
  }
  SECTION("cotangent count") {
    REQUIRE(model.forward(y0_value, output_times).status == nde::status::success);
    c.pop_back();
    CHECK_THROWS_WITH(model.backward(std::span<const vec>(c)),
                      Catch::Contains("3 cotangents for 4 output times"));
  }
  SECTION("NaN cotangent") {
    REQUIRE(model.forward(y0_value, output_times).status == nde::status::success);
    c[1][0] = std::nan("");
    CHECK_THROWS_WITH(model.backward(std::span<const vec>(c)),
                      Catch::Contains("cotangent 1 contains NaN"));
  }
  SECTION("parameter count") {
    CHECK_THROWS_WITH((model_type<nde::discrete_adjoint>(field_type(net_type{}), params::Zero(5))),
                      Catch::Contains("has 82 parameters but the parameter vector has 5"));
    model.params().resize(3);
    CHECK_THROWS_WITH(model.forward(y0_value, output_times),
                      Catch::Contains("parameter vector has 3"));
  }
  SECTION("unsorted, empty or non-finite times") {
    const std::vector<double> unsorted{0.0, 0.5, 0.4};
    CHECK(model.forward(y0_value, unsorted).status == nde::status::invalid_input);
    CHECK(model.forward(y0_value, std::vector<double>{}).status == nde::status::invalid_input);
    CHECK(model.forward(y0_value, std::vector<double>{0.0, std::nan("")}).status ==
          nde::status::invalid_input);
    // backward reports the failed forward pass's own status and message.
    const auto g = model.backward(std::span<const vec>(c));
    CHECK(g.status == nde::status::invalid_input);
    CHECK_THAT(g.message, Catch::Contains("forward") && Catch::Contains("finite"));
  }
  SECTION("NaN initial state") {
    CHECK(model.forward(vec(std::nan(""), 0.0), output_times).status == nde::status::non_finite);
  }
}

TEST_CASE("backward in time and a single output time", "[models][gradients]") {
  const params theta = initial_params(21);
  const nde::neural_ode_options fixed{.controller = nde::constant_step{.dt = 0.05}};
  model_type<nde::discrete_adjoint, nde::rk4> model(field_type(net_type{}), theta, {}, fixed);
  // A single time: y(t0) = y0, so dL/dy0 is the cotangent and dL/dθ = 0.
  const std::vector<double> single{0.7};
  const auto& fr = model.forward(y0_value, single);
  REQUIRE(fr.ys.size() == 1);
  CHECK(fr.ys[0] == y0_value);
  std::vector<vec> c{vec(1.0, 2.0)};
  const auto g = model.backward(std::span<const vec>(c));
  CHECK(g.y0 == vec(1.0, 2.0));
  CHECK(g.params.isZero(0.0));

  // Reversed times: gradient of the map y(1.0) -> y(0.0) agrees with finite differences.
  const std::vector<double> reversed{1.0, 0.4, 0.0};
  model_type<nde::backsolve_adjoint> adaptive(
      field_type(net_type{}), theta,
      {.controller = nde::pi_controller{.rtol = 1e-10, .atol = 1e-12}},
      {.controller = nde::pi_controller{.rtol = 1e-10, .atol = 1e-12}});
  auto loss_at = [&](const vec& y0) {
    const auto& r = adaptive.forward(y0, reversed);
    REQUIRE(r.status == nde::status::success);
    return r.ys.back().sum();
  };
  const vec y1(0.2, 0.1);
  (void)loss_at(y1);
  std::vector<vec> cr(3, vec::Zero());
  cr.back() = vec::Ones();
  const auto gr = adaptive.backward(std::span<const vec>(cr));
  REQUIRE(gr.status == nde::status::success);
  for (int k = 0; k < 2; ++k) {
    vec p = y1, m = y1;
    p[k] += 1e-5;
    m[k] -= 1e-5;
    CHECK(std::abs((loss_at(p) - loss_at(m)) / 2e-5 - gr.y0[k]) < 1e-6);
  }
}
