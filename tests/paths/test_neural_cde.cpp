// Neural CDEs: the field's vjps and jvp against finite differences, an exact solution
// (a constant F integrates the path's increment), gradients of the model's loss against
// central differences and across gradient methods, jump times for linear paths, bad input.
#include <nde/adjoint/methods.hpp>
#include <nde/models/neural_cde.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/optim/loss.hpp>
#include <nde/paths/interpolation.hpp>
#include <nde/paths/observations.hpp>
#include <nde/solvers/dopri5.hpp>

#include <catch.hpp>
#include <sanitized.hpp>

#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace nn = nde::nn;
using matrix = Eigen::MatrixXd;
using vector = Eigen::VectorXd;

namespace {

using net_type =
    nn::sequential<nn::linear<>, nn::softplus_activation, nn::linear<>, nn::tanh_activation>;
net_type make_net(Eigen::Index hidden, Eigen::Index channels, Eigen::Index width = 6) {
  return net_type(nn::linear<>(hidden, width), nn::softplus_activation{},
                  nn::linear<>(width, hidden * channels), nn::tanh_activation{});
}

// Time + two data channels of spiral-like samples, irregular knots.
struct data {
  std::vector<double> times;
  nde::path_values<> values;
};
data spiral_data(std::size_t n, Eigen::Index batch, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> gap(0.1, 0.4), phase(0, 6.28);
  data d;
  d.times.push_back(0.0);
  for (std::size_t k = 1; k < n; ++k) d.times.push_back(d.times.back() + gap(rng));
  std::vector<double> phases(static_cast<std::size_t>(batch));
  for (auto& p : phases) p = phase(rng);
  for (double t : d.times) {
    matrix x(3, batch);
    for (Eigen::Index b = 0; b < batch; ++b) {
      const double sign = b % 2 == 0 ? 1.0 : -1.0;
      x(0, b) = t;
      x(1, b) = std::cos(t + phases[static_cast<std::size_t>(b)]) / (1 + 0.5 * t);
      x(2, b) = sign * std::sin(t + phases[static_cast<std::size_t>(b)]) / (1 + 0.5 * t);
    }
    d.values.push_back(x);
  }
  return d;
}

vector random_params(Eigen::Index n, std::mt19937_64& rng, double scale = 0.5) {
  std::normal_distribution<double> g(0, scale);
  vector p(n);
  for (Eigen::Index i = 0; i < n; ++i) p[i] = g(rng);
  return p;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const nde::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("cde_field vjp in h, theta and t and its jvp match central differences", "[cde]") {
  std::mt19937_64 rng(11);
  const auto d = spiral_data(9, 3, rng);
  const nde::hermite_cubic_path<> path(d.times, d.values);
  const Eigen::Index n = 4;
  nde::cde_field<net_type, nde::hermite_cubic_path<>> field(make_net(n, 3), n, 3);
  field.set_path(&path);
  const vector theta = random_params(field.num_params(), rng);
  const matrix y = matrix::Random(n, 3), a = matrix::Random(n, 3);
  const double t = 0.77;
  matrix a_y;
  vector a_theta = vector::Zero(theta.size());
  double a_t = 0;
  field.vjp(t, y, theta, a, a_y, a_theta, a_t);
  auto objective = [&](double tt, const matrix& yy, const vector& th) {
    matrix f;
    field(tt, yy, th, f);
    return a.cwiseProduct(f).sum();
  };
  const double h = 1e-6;
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    matrix yp = y, ym = y;
    yp.data()[i] += h;
    ym.data()[i] -= h;
    CHECK(std::abs((objective(t, yp, theta) - objective(t, ym, theta)) / (2 * h) - a_y.data()[i]) <
          1e-8);
  }
  for (Eigen::Index i = 0; i < theta.size(); ++i) {
    vector tp = theta, tm = theta;
    tp[i] += h;
    tm[i] -= h;
    CHECK(std::abs((objective(t, y, tp) - objective(t, y, tm)) / (2 * h) - a_theta[i]) < 1e-8);
  }
  CHECK(std::abs((objective(t + h, y, theta) - objective(t - h, y, theta)) / (2 * h) - a_t) < 1e-7);
  // The stage-cached vjp agrees with the plain one.
  matrix f, c_y;
  vector c_theta = vector::Zero(theta.size());
  double c_t = 0;
  field.evaluate_for_vjp(2, t, y, theta, f);
  field.vjp_from(2, t, y, theta, a, c_y, c_theta, c_t);
  CHECK((c_y - a_y).cwiseAbs().maxCoeff() < 1e-14);
  CHECK((c_theta - a_theta).cwiseAbs().maxCoeff() < 1e-14);
  CHECK(std::abs(c_t - a_t) < 1e-14);
  // jvp.
  const matrix y_dot = matrix::Random(n, 3);
  const vector theta_dot = random_params(theta.size(), rng);
  const double t_dot = 0.3;
  matrix jv;
  field.jvp(t, y, theta, y_dot, theta_dot, t_dot, jv);
  matrix fp, fm;
  field(t + h * t_dot, y + h * y_dot, theta + h * theta_dot, fp);
  field(t - h * t_dot, y - h * y_dot, theta - h * theta_dot, fm);
  CHECK(((fp - fm) / (2 * h) - jv).cwiseAbs().maxCoeff() < 1e-7);
}

TEST_CASE("a constant vector field integrates the path increment exactly", "[cde]") {
  // F(h) = tanh(bias) does not depend on h: h(T) = h(t0) + F (X(T) − X(t0)) for any path.
  std::mt19937_64 rng(12);
  const auto d = spiral_data(12, 4, rng);
  const Eigen::Index n = 3;
  auto net = make_net(n, 3);
  vector theta = vector::Zero(net.num_params());
  theta.tail(n * 3) = random_params(n * 3, rng, 0.7);
  const vector bias = theta.tail(n * 3);
  const vector tanh_bias = bias.array().tanh();
  const Eigen::Map<const matrix> f_const(tanh_bias.data(), n, 3);
  const matrix h0 = matrix::Random(n, 4);
  // The solve is a quadrature at rtol 1e-10 over ~100 steps, some across kinks of X'' or X'
  // (no jump_ts here): 1e-7 is the solver's error; a wrong contraction would be O(1).
  auto check = [&](const auto& path) {
    using path_type = std::remove_cvref_t<decltype(path)>;
    using field_type = nde::cde_field<net_type, path_type>;
    field_type field(make_net(n, 3), n, 3);
    field.set_path(&path);
    nde::neural_ode<field_type, nde::dopri5, nde::discrete_adjoint, matrix> model(
        field, theta, {}, {.controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
    const std::array<double, 2> ts{path.start(), path.end()};
    const matrix hT = model.predict(h0, ts).ys.back();
    matrix x0, x1;
    path.evaluate(path.start(), x0);
    path.evaluate(path.end(), x1);
    const matrix expected = h0 + f_const * (x1 - x0);
    return (hT - expected).cwiseAbs().maxCoeff();
  };
  CHECK(check(nde::hermite_cubic_path<>(d.times, d.values)) < 1e-7);
  CHECK(check(nde::natural_cubic_path<>(d.times, d.values)) < 1e-7);
  CHECK(check(nde::linear_interpolation_path<>(d.times, d.values)) < 1e-7);
  CHECK(check(nde::rectilinear_path<>(d.times, d.values, 0)) < 1e-7);
}

namespace {

template <class Gradient, class Path>
nde::neural_cde_loss cde_loss(const Path& path, const vector& theta, const matrix& labels,
                              double rtol = 1e-10, double atol = 1e-12) {
  const Eigen::Index n = 4;
  Gradient gradient{};
  if constexpr (requires { gradient.controller; })  // continuous adjoints: their own tolerances
    gradient.controller = nde::pid_controller{.rtol = rtol, .atol = atol};
  nde::neural_cde<net_type, Path, nde::dopri5, Gradient> model(
      make_net(n, 3), n, 3, 1, theta, {.rtol = rtol, .atol = atol}, gradient);
  return model.loss_and_gradient(path, [&](const matrix& z, matrix& dz) {
    return nde::optim::binary_cross_entropy_with_logits(z, labels, dz);
  });
}

template <class Gradient, class Path>
void check_model_gradient(const Path& path, const vector& theta, const matrix& labels,
                          double tolerance) {
  const auto r = cde_loss<Gradient>(path, theta, labels);
  REQUIRE(r.status == nde::status::success);
  REQUIRE(r.gradient.size() == theta.size());
  // Central differences of solves at rtol 1e-12: the adaptive step sequence changes with θ,
  // which puts noise of about (tolerance / h) into a difference quotient; h = 1e-3 keeps it near
  // 1e-8 while the truncation error, O(h²), stays near 1e-7 of the gradient. Every third
  // component (each block of θ is hit), then one random direction that covers them all.
  const double h = 1e-3;
  std::vector<vector> directions;
  // (Every 12th under the sanitizers, where each solve at rtol 1e-12 is ~100x slower.)
  for (Eigen::Index i = 0; i < theta.size(); i += nde_test::sanitized ? 12 : 3)
    directions.push_back(vector::Unit(theta.size(), i));
  std::mt19937_64 rng(99);
  directions.push_back(random_params(theta.size(), rng, 1.0).normalized());
  double worst = 0;
  const double scale = r.gradient.cwiseAbs().maxCoeff();
  for (const vector& v : directions) {
    const double fd =
        (cde_loss<nde::discrete_adjoint>(path, theta + h * v, labels, 1e-12, 1e-14).loss -
         cde_loss<nde::discrete_adjoint>(path, theta - h * v, labels, 1e-12, 1e-14).loss) /
        (2 * h);
    worst = std::max(worst, std::abs(fd - r.gradient.dot(v)));
  }
  CHECK(worst < tolerance * scale);
}

}  // namespace

TEST_CASE("neural_cde loss gradient matches central differences", "[cde]") {
  std::mt19937_64 rng(13);
  const auto d = spiral_data(8, 4, rng);
  const Eigen::Index n = 4;
  const auto count = nde::neural_cde<net_type, nde::hermite_cubic_path<>>::parameter_count(
      make_net(n, 3), n, 3, 1);
  const vector theta = random_params(count, rng);
  matrix labels(1, 4);
  labels << 1, 0, 1, 0;
  const nde::hermite_cubic_path<> hermite(d.times, d.values);
  SECTION("discrete adjoint") {
    check_model_gradient<nde::discrete_adjoint>(hermite, theta, labels, 1e-6);
  }
  SECTION("linear path with jump times") {
    check_model_gradient<nde::discrete_adjoint>(nde::linear_interpolation_path<>(d.times, d.values),
                                                theta, labels, 1e-6);
  }
  SECTION("natural cubic path") {
    check_model_gradient<nde::discrete_adjoint>(nde::natural_cubic_path<>(d.times, d.values), theta,
                                                labels, 1e-6);
  }
}

TEST_CASE("gradient methods agree on a neural CDE at working tolerance", "[cde]") {
  std::mt19937_64 rng(14);
  const auto d = spiral_data(nde_test::sanitized ? 8 : 20, 6, rng);
  const Eigen::Index n = 4;
  const auto count = nde::neural_cde<net_type, nde::hermite_cubic_path<>>::parameter_count(
      make_net(n, 3), n, 3, 1);
  const vector theta = random_params(count, rng);
  matrix labels(1, 6);
  labels << 1, 0, 1, 0, 1, 0;
  const nde::hermite_cubic_path<> path(d.times, d.values);
  // The continuous adjoints solve the adjoint equation to the tolerance (1e-10): they agree with
  // the exact discrete gradient to about that, times the kinks of X'' they step across.
  const auto discrete = cde_loss<nde::discrete_adjoint>(path, theta, labels, 1e-10, 1e-12);
  const auto backsolve = cde_loss<nde::backsolve_adjoint>(path, theta, labels, 1e-10, 1e-12);
  const auto checkpointed = cde_loss<nde::checkpointed_adjoint>(path, theta, labels, 1e-10, 1e-12);
  const auto forward = cde_loss<nde::forward_sensitivity>(path, theta, labels, 1e-10, 1e-12);
  const double scale = discrete.gradient.norm();
  // Forward sensitivities differentiate the same discrete solution exactly: round-off apart.
  CHECK((forward.gradient - discrete.gradient).norm() < 1e-9 * scale);
  CHECK((backsolve.gradient - discrete.gradient).norm() < 1e-5 * scale);
  CHECK((checkpointed.gradient - discrete.gradient).norm() < 1e-5 * scale);
  CHECK(discrete.loss == backsolve.loss);
}

TEST_CASE("linear paths hand their knots to the controller as jump times", "[cde]") {
  std::mt19937_64 rng(15);
  const auto d = spiral_data(15, 2, rng);
  const nde::linear_interpolation_path<> path(d.times, d.values);
  const Eigen::Index n = 4;
  const auto count = nde::neural_cde<net_type, nde::linear_interpolation_path<>>::parameter_count(
      make_net(n, 3), n, 3, 1);
  const vector theta = random_params(count, rng);
  matrix labels(1, 2);
  labels << 1, 0;
  auto run = [&](bool jumps) {
    nde::neural_cde<net_type, nde::linear_interpolation_path<>> model(
        make_net(n, 3), n, 3, 1, theta, {.rtol = 1e-8, .atol = 1e-10, .jumps_at_knots = jumps});
    return model.loss_and_gradient(path, [&](const matrix& z, matrix& dz) {
      return nde::optim::binary_cross_entropy_with_logits(z, labels, dz);
    });
  };
  const auto with = run(true), without = run(false);
  REQUIRE(with.status == nde::status::success);
  REQUIRE(without.status == nde::status::success);
  // Same answer; fewer rejected steps (no step straddles a kink of X').
  CHECK(std::abs(with.loss - without.loss) < 1e-6);
  CHECK(with.stats.forward_rejected < without.stats.forward_rejected);
}

TEST_CASE("neural_cde bad input gets a clear error", "[cde]") {
  std::mt19937_64 rng(16);
  const auto d = spiral_data(6, 2, rng);
  const nde::hermite_cubic_path<> path(d.times, d.values);
  const Eigen::Index n = 4;
  using model_type = nde::neural_cde<net_type, nde::hermite_cubic_path<>>;
  const auto count = model_type::parameter_count(make_net(n, 3), n, 3, 1);
  CHECK(error_of([&] {
          model_type(make_net(n, 3), n, 3, 1, vector::Zero(count + 1));
        }).find("needs") != std::string::npos);
  CHECK(error_of([&] {
          model_type(make_net(n, 2), n, 3, 1, vector::Zero(count));
        }).find("needs 4 -> 12") != std::string::npos);
  model_type model(make_net(n, 3), n, 3, 1, random_params(count, rng));
  nde::path_values<> two_channels;
  for (const auto& v : d.values) two_channels.push_back(v.topRows(2));
  const nde::hermite_cubic_path<> wrong(d.times, two_channels);
  using wrong_model = nde::neural_cde<net_type, nde::hermite_cubic_path<>>;
  wrong_model m2(make_net(n, 3), n, 3, 1, random_params(count, rng));
  CHECK(error_of([&] { (void)m2.predict(wrong); }).find("channels") != std::string::npos);
  matrix labels(1, 2);
  labels << 1, 0;
  CHECK(error_of([&] {
          (void)model.loss_and_gradient(path, [&](const matrix&, matrix& dz) {
            dz.setConstant(std::nan(""));
            return 0.0;
          });
        }).find("finite") != std::string::npos);
  const std::array<double, 2> late{0.5, path.end()};
  CHECK(error_of([&] { (void)model.predict_at(path, late); }).find("start") != std::string::npos);
  const vector p = model.predict(path).row(0);
  CHECK(p.size() == 2);
  CHECK(p.allFinite());
}
