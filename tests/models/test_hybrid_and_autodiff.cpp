// Known physics plus a network (a universal differential equation) trains; forward-mode
// dual numbers give a field's vjp.
#include <nde/nde.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

#include <cmath>
#include <random>

namespace {

using vec = Eigen::Vector2d;

// Known part: the undamped oscillator y1' = y2, y2' = -ω² y1 with ω² a trainable parameter.
auto oscillator = [](auto /*t*/, const auto& y, const auto& theta, auto& dydt) {
  dydt[0] = y[1];
  dydt[1] = -theta[0] * y[0];
};
using physics_field = nde::autodiff_field<vec, decltype(oscillator)>;

}  // namespace

TEST_CASE("autodiff_field's vjp equals the analytic Jacobian products", "[models][autodiff]") {
  // f(y; θ) = [θ0 y1 sin(y0), y0² + θ1 y1 + θ0 θ1]
  auto fn = [](auto, const auto& y, const auto& theta, auto& dydt) {
    using std::sin;
    dydt[0] = theta[0] * y[1] * sin(y[0]);
    dydt[1] = y[0] * y[0] + theta[1] * y[1] + theta[0] * theta[1];
  };
  nde::autodiff_field<vec, decltype(fn)> field(fn, 2);
  const vec y(0.7, -1.3);
  const Eigen::Vector2d theta(0.4, 2.5);
  const vec a(0.3, -0.8);
  vec f;
  field(0.0, y, theta, f);
  CHECK(f[0] == Catch::Approx(0.4 * -1.3 * std::sin(0.7)));
  vec a_y;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Constant(2, 1.0);  // vjp accumulates
  field.vjp(0.0, y, theta, a, a_y, a_theta);
  const double dy0 = a[0] * theta[0] * y[1] * std::cos(y[0]) + a[1] * 2 * y[0];
  const double dy1 = a[0] * theta[0] * std::sin(y[0]) + a[1] * theta[1];
  CHECK(a_y[0] == Catch::Approx(dy0).epsilon(1e-14));
  CHECK(a_y[1] == Catch::Approx(dy1).epsilon(1e-14));
  CHECK(a_theta[0] ==
        Catch::Approx(1 + a[0] * y[1] * std::sin(y[0]) + a[1] * theta[1]).epsilon(1e-14));
  CHECK(a_theta[1] == Catch::Approx(1 + a[1] * (y[1] + theta[0])).epsilon(1e-14));
}

TEST_CASE("a hybrid field (known physics + MLP) trains: loss falls by 100x", "[models][hybrid]") {
  // Truth: y1' = y2, y2' = -y1 - 0.4 y2 (friction the model does not know).
  auto truth = [](double, const vec& y, vec& dydt) {
    dydt[0] = y[1];
    dydt[1] = -y[0] - 0.4 * y[1];
  };
  const std::vector<double> ts{0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0};
  const std::vector<vec> starts{vec(1.0, 0.0), vec(-0.5, 0.8), vec(0.3, -0.9)};
  std::vector<std::vector<vec>> data;
  for (const auto& y0 : starts) {
    auto sol = nde::solve(truth, nde::dopri5{}, 0.0, 3.0, y0,
                          {.save_at = nde::save_at::times(ts),
                           .controller = nde::pi_controller{.rtol = 1e-10, .atol = 1e-12}});
    REQUIRE(sol.success());
    data.push_back(sol.ys);
  }

  using net_type = nde::nn::mlp<nde::nn::tanh_activation, 2, 8, 2>;
  using network = nde::network_field<net_type, vec>;
  using hybrid = nde::sum_field<physics_field, network, vec>;
  net_type net;
  Eigen::VectorXd theta(1 + net.num_params());
  theta[0] = 0.8;  // ω² starts wrong too (truth: 1)
  std::mt19937_64 engine(42);
  nde::nn::init_pytorch_default(net.layout(), theta.tail(net.num_params()), engine);
  theta.tail(net.num_params()) *= 0.1;

  nde::neural_ode<hybrid, nde::rk4, nde::discrete_adjoint, vec> model(
      hybrid(physics_field(oscillator, 1), network(net)), theta, {},
      {.controller = nde::constant_step{.dt = 0.05}});
  nde::optim::adam<double> optimiser(theta.size(), {.learning_rate = 0.02});

  auto epoch = [&](bool update) {
    double loss = 0;
    Eigen::VectorXd grad = Eigen::VectorXd::Zero(theta.size());
    for (std::size_t s = 0; s < starts.size(); ++s) {
      const auto& fr = model.forward(starts[s], ts);
      REQUIRE(fr.status == nde::status::success);
      std::vector<vec> c(ts.size());
      for (std::size_t i = 0; i < ts.size(); ++i) {
        const vec r = fr.ys[i] - data[s][i];
        loss += r.squaredNorm();
        c[i] = 2 * r;
      }
      grad += model.backward(std::span<const vec>(c)).params;
    }
    if (update) optimiser.step(model.params(), grad);
    return loss;
  };
  const double initial = epoch(false);
  for (int it = 0; it < 400; ++it) epoch(true);
  const double final_loss = epoch(false);
  INFO("loss " << initial << " -> " << final_loss << ", learned omega^2 = " << model.params()[0]);
  CHECK(final_loss < initial / 100);
}
