// Second-order neural ODEs q'' = F_θ(t, q, q') (models/second_order.hpp): an exact damped
// oscillator (a linear F) against its closed-form solution, recovering its coefficients by
// training on rollouts, the field's derivatives against central differences, rollout
// gradients by every method, the separable (F(q)) variant, and bad input.
#include <nde/models/second_order.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/nn/time_layers.hpp>
#include <nde/optim/adam.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/rk4.hpp>
#include <nde/step_size/constant_step.hpp>

#include <catch.hpp>

#include <cmath>
#include <random>
#include <span>
#include <vector>

namespace {

constexpr int D = Eigen::Dynamic;
using vec = Eigen::VectorXd;
using matrix = Eigen::MatrixXd;

vec random_vector(Eigen::Index n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  vec v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// q'' = −ω² q − 2ζω q' from (q0, v0): the underdamped closed form.
Eigen::Vector2d damped_oscillator(double t, double omega, double zeta, double q0, double v0) {
  const double wd = omega * std::sqrt(1 - zeta * zeta), s = zeta * omega;
  const double a = q0, b = (v0 + s * q0) / wd;
  const double e = std::exp(-s * t), c = std::cos(wd * t), sn = std::sin(wd * t);
  const double q = e * (a * c + b * sn);
  const double v = e * (-s * (a * c + b * sn) + (-a * wd * sn + b * wd * c));
  return {q, v};
}

// F(q, v) = w_q q + w_v v + b: one linear layer (the mlp with no hidden layer).
using linear_force = nde::nn::mlp<nde::nn::tanh_activation, 2, 1>;
using fixed_state = Eigen::Vector2d;

const double omega = 2.0, zeta = 0.1;

vec true_coefficients() {
  vec theta(3);  // weight {1, 2} column-major: [w_q, w_v], then the bias
  theta << -omega * omega, -2 * zeta * omega, 0.0;
  return theta;
}

}  // namespace

TEST_CASE("second-order model with F = -w^2 q - 2 zeta w q' is the damped oscillator",
          "[hamiltonian][second_order_ode]") {
  using model_type =
      nde::second_order_neural_ode<linear_force, nde::dopri5, nde::discrete_adjoint, fixed_state>;
  model_type model(nde::second_order_field<linear_force, fixed_state>(linear_force{}),
                   true_coefficients(), {},
                   {.controller = nde::pid_controller{.rtol = 1e-11, .atol = 1e-13}});
  const std::vector<double> ts{0.0, 0.5, 1.3, 2.0, 4.0};
  const fixed_state y0 = nde::second_order_state<fixed_state>(Eigen::Matrix<double, 1, 1>(1.0),
                                                              Eigen::Matrix<double, 1, 1>(-0.5));
  const auto& fr = model.forward(y0, ts);
  REQUIRE(fr.success());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const Eigen::Vector2d exact = damped_oscillator(ts[i], omega, zeta, 1.0, -0.5);
    INFO("t = " << ts[i]);
    CHECK((fr.ys[i] - exact).norm() <= 1e-9);
  }
  // The separable form of the field: not separable (F reads q').
  CHECK_FALSE(model.field().separable());
}

TEST_CASE("second-order model recovers the oscillator's coefficients from rollouts",
          "[hamiltonian][second_order_ode][training]") {
  using model_type =
      nde::second_order_neural_ode<linear_force, nde::rk4, nde::discrete_adjoint, fixed_state>;
  vec theta(3);
  theta << -2.0, 0.0, 0.3;  // wrong start
  model_type model(nde::second_order_field<linear_force, fixed_state>(linear_force{}), theta, {},
                   {.controller = nde::constant_step{0.01}});
  std::vector<double> ts;
  std::vector<fixed_state> targets;
  for (int i = 0; i <= 12; ++i) {
    ts.push_back(0.25 * i);
    targets.push_back(damped_oscillator(ts.back(), omega, zeta, 1.0, 0.0));
  }
  const fixed_state y0(1.0, 0.0);
  nde::optim::adam<double> opt(3, {.learning_rate = 0.05});
  double first_loss = 0, loss = 0;
  std::vector<fixed_state> c(ts.size());
  for (int it = 0; it < 800; ++it) {
    if (it == 400) opt = nde::optim::adam<double>(3, {.learning_rate = 0.005});
    const auto& fr = model.forward(y0, ts);
    REQUIRE(fr.success());
    loss = 0;
    for (std::size_t i = 0; i < ts.size(); ++i) {
      c[i] = fr.ys[i] - targets[i];
      loss += 0.5 * c[i].squaredNorm();
    }
    if (it == 0) first_loss = loss;
    const auto g = model.backward_or_throw(std::span<const fixed_state>(c));
    REQUIRE(opt.step(model.params(), g.params) == nde::status::success);
  }
  INFO("loss " << first_loss << " -> " << loss << ", theta " << model.params().transpose());
  CHECK(loss < 1e-6 * first_loss);
  CHECK((model.params() - true_coefficients()).norm() < 1e-2);
}

namespace {

using force_net = nde::nn::mlp<nde::nn::tanh_activation, D, D, D>;
using field_type = nde::second_order_field<force_net, vec>;

vec field_at(field_type& f, const vec& y, const vec& theta) {
  vec out;
  f(0.0, y, theta, out);
  return out;
}

const std::vector<double> times{0.0, 0.5, 1.2, 2.0};

}  // namespace

TEST_CASE("second-order field derivatives match central differences",
          "[hamiltonian][second_order_ode]") {
  for (const bool velocity : {true, false}) {
    const Eigen::Index half = 2, n = 4;
    field_type f(force_net({velocity ? n : half, 12, half}));
    CHECK(f.separable() == !velocity);
    std::mt19937_64 rng(velocity ? 3 : 4);
    const Eigen::Index p = f.num_params();
    const vec theta = random_vector(p, rng, 0.5);
    const vec y = random_vector(n, rng), a = random_vector(n, rng), v = random_vector(n, rng);
    const vec theta_dir = random_vector(p, rng);
    const double e = 1e-6;
    const vec dydt = field_at(f, y, theta);
    CHECK(dydt.head(half) == y.tail(half));  // dq/dt = v
    vec a_y;
    vec a_theta = vec::Zero(p);
    f.vjp(0.0, y, theta, a, a_y, a_theta);
    const double fd_y =
        a.dot(field_at(f, y + e * v, theta) - field_at(f, y - e * v, theta)) / (2 * e);
    const double fd_t =
        a.dot(field_at(f, y, theta + e * theta_dir) - field_at(f, y, theta - e * theta_dir)) /
        (2 * e);
    CHECK(std::abs(a_y.dot(v) - fd_y) <= 1e-7 * (1 + std::abs(fd_y)));
    CHECK(std::abs(a_theta.dot(theta_dir) - fd_t) <= 1e-7 * (1 + std::abs(fd_t)));
    vec wq, wp;
    vec tq = vec::Zero(p), tp = vec::Zero(p);
    f.vjp_q(0.0, y, theta, a, wq, tq);
    f.vjp_p(0.0, y, theta, a, wp, tp);
    CHECK((wq + wp - a_y).norm() <= 1e-13 * (1 + a_y.norm()));
    CHECK((tq + tp - a_theta).norm() <= 1e-13 * (1 + a_theta.norm()));
    CHECK(tq.norm() == 0.0);  // a = v has no parameters
    vec jv;
    f.jvp(0.0, y, theta, v, theta_dir, 0.0, jv);
    const vec fd_jv = (field_at(f, y + e * v, theta + e * theta_dir) -
                       field_at(f, y - e * v, theta - e * theta_dir)) /
                      (2 * e);
    CHECK((jv - fd_jv).norm() <= 1e-7 * (1 + fd_jv.norm()));
    matrix jac;
    f.jacobian(0.0, y, theta, jac);
    vec jv_y;
    f.jvp(0.0, y, theta, v, vec::Zero(p), 0.0, jv_y);
    CHECK((jac * v - jv_y).norm() <= 1e-12 * (1 + jv_y.norm()));
    const vec fd_jy = (field_at(f, y + e * v, theta) - field_at(f, y - e * v, theta)) / (2 * e);
    CHECK((jac * v - fd_jy).norm() <= 1e-7 * (1 + fd_jy.norm()));
    if (!velocity) {
      // F reads q only: moving v leaves dv/dt unchanged.
      vec moved = y;
      moved.tail(half) += vec::Ones(half);
      CHECK((field_at(f, moved, theta).tail(half) - dydt.tail(half)).norm() == 0.0);
    }
  }
}

TEST_CASE("second-order rollout gradients: discrete adjoint vs central differences, all methods",
          "[hamiltonian][second_order_ode][gradients]") {
  std::mt19937_64 rng(9);
  const vec theta = random_vector(force_net({2, 10, 1}).num_params(), rng, 0.5);
  const vec y0 = (vec(2) << 0.7, -0.2).finished();
  auto gradient = [&]<class Gradient, class Method>(Gradient g, nde::neural_ode_options options,
                                                    Method) {
    nde::second_order_neural_ode<force_net, Method, Gradient, vec> model(
        field_type(force_net({2, 10, 1})), theta, g, options);
    const auto& fr = model.forward(y0, times);
    REQUIRE(fr.success());
    std::vector<vec> c;
    for (const auto& y : fr.ys) c.push_back(y);  // L = Σ ½|y_i|²
    return model.backward_or_throw(std::span<const vec>(c));
  };
  const nde::neural_ode_options fixed{.controller = nde::constant_step{0.05}};
  const auto g = gradient(nde::discrete_adjoint{}, fixed, nde::rk4{});
  nde::second_order_neural_ode<force_net, nde::rk4, nde::inference, vec> model(
      field_type(force_net({2, 10, 1})), theta, {}, fixed);
  auto loss_at = [&](const vec& th, const vec& y) {
    model.params() = th;
    double l = 0;
    for (const auto& yi : model.predict(y, times).ys) l += 0.5 * yi.squaredNorm();
    return l;
  };
  const double e = 1e-6;
  for (int trial = 0; trial < 3; ++trial) {
    const vec dir = random_vector(theta.size(), rng);
    const double fd = (loss_at(theta + e * dir, y0) - loss_at(theta - e * dir, y0)) / (2 * e);
    CHECK(std::abs(g.params.dot(dir) - fd) <= 1e-6 * (1 + std::abs(fd)));
  }
  for (Eigen::Index k = 0; k < 2; ++k) {
    const vec ek = vec::Unit(2, k);
    const double fd = (loss_at(theta, y0 + e * ek) - loss_at(theta, y0 - e * ek)) / (2 * e);
    CHECK(std::abs(g.y0[k] - fd) <= 1e-6 * (1 + std::abs(fd)));
  }
  const auto fs = gradient(nde::forward_sensitivity{}, fixed, nde::rk4{});
  CHECK((fs.params - g.params).norm() <= 1e-10 * (1 + g.params.norm()));
  const nde::neural_ode_options tight{.controller =
                                          nde::pid_controller{.rtol = 1e-9, .atol = 1e-11}};
  const auto dd = gradient(nde::discrete_adjoint{}, tight, nde::dopri5{});
  const auto bs = gradient(nde::backsolve_adjoint{.controller = {.rtol = 1e-9, .atol = 1e-11}},
                           tight, nde::dopri5{});
  const auto cp = gradient(nde::checkpointed_adjoint{.controller = {.rtol = 1e-9, .atol = 1e-11}},
                           tight, nde::dopri5{});
  CHECK((dd.params - g.params).norm() <= 1e-5 * (1 + g.params.norm()));
  CHECK((bs.params - dd.params).norm() <= 1e-6 * (1 + dd.params.norm()));
  CHECK((cp.params - dd.params).norm() <= 1e-6 * (1 + dd.params.norm()));
  CHECK((bs.y0 - dd.y0).norm() <= 1e-6 * (1 + dd.y0.norm()));
}

TEST_CASE("second-order model bad input", "[hamiltonian][second_order_ode][bad_input]") {
  CHECK_THROWS_WITH(field_type(force_net({3, 4, 2})), Catch::Contains("twice"));
  CHECK_THROWS_WITH(field_type(force_net({2, 4, 0})), Catch::Contains("outputs"));
  field_type f(force_net({2, 4, 1}));
  const vec theta = vec::Zero(f.num_params());
  vec out;
  CHECK_THROWS_WITH(f(0.0, vec::Zero(3), theta, out), Catch::Contains("expected 2"));
  vec unsized;
  CHECK_THROWS_WITH(f.vf_p(0.0, vec::Zero(2), theta, unsized), Catch::Contains("shape"));
  CHECK_THROWS_WITH((nde::second_order_state<vec>(vec::Zero(2), vec::Zero(3))),
                    Catch::Contains("differ"));
}

TEST_CASE("time-dependent force F(t, q, q'): time cotangents match central differences",
          "[hamiltonian][second_order_ode]") {
  using time_net = nde::nn::sequential<nde::nn::concat_linear<D, D>, nde::nn::tanh_activation,
                                       nde::nn::linear<D, D>>;
  nde::second_order_field<time_net, vec> f(
      time_net(nde::nn::concat_linear<D, D>(2, 8), {}, nde::nn::linear<D, D>(8, 1)));
  std::mt19937_64 rng(13);
  const vec theta = random_vector(f.num_params(), rng, 0.7);
  const vec y = random_vector(2, rng), a = random_vector(2, rng);
  const double t = 0.7, e = 1e-6;
  auto field = [&](double tt) {
    vec out;
    f(tt, y, theta, out);
    return out;
  };
  const double fd = a.dot(field(t + e) - field(t - e)) / (2 * e);
  vec a_y;
  vec a_theta = vec::Zero(f.num_params());
  double a_t = 0.25;
  f.vjp(t, y, theta, a, a_y, a_theta, a_t);
  CHECK(std::abs((a_t - 0.25) - fd) <= 1e-8 * (1 + std::abs(fd)));
  CHECK(std::abs(fd) > 1e-3);  // the force does depend on t
  double w_t = 0;
  vec w_y;
  vec w_theta = vec::Zero(f.num_params());
  f.vjp_p(t, y, theta, a, w_y, w_theta, w_t);
  f.vjp_q(t, y, theta, a, w_y, w_theta, w_t);  // a = v: adds nothing to w_t
  CHECK(std::abs(w_t - fd) <= 1e-8 * (1 + std::abs(fd)));
}
