// Augmented neural ODEs (Dupont, Doucet & Teh 2019): the gradient of the field's θ, the readout
// and the inputs against central differences for two gradient methods and against each other;
// p = 0 against a plain neural_ode with the same readout; the padded channels; refused input;
// and Dupont's 1-D g(−1) = 1, g(1) = −1, which a 1-D flow cannot represent and an augmented
// one fits.
#include <nde/models/augmented.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/optim/adam.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/terms/network_field.hpp>

#include <catch.hpp>
#include <sanitized.hpp>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

// Training steps of the two fitting tests; under the sanitizers (about 100x slower) only the
// lower bound on the plain model's loss, which holds at any step, is checked.
constexpr int iterations = nde_test::sanitized ? 30 : 400;

using Eigen::MatrixXd;
using Eigen::VectorXd;
namespace nn = nde::nn;

using net_type =
    nn::mlp<nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
using field_type = nde::network_field<net_type, MatrixXd>;
template <class Gradient>
using model_type = nde::augmented_neural_ode<field_type, nde::dopri5, Gradient>;

field_type make_field(Eigen::Index n, Eigen::Index hidden) {
  return field_type(net_type({n, hidden, hidden, n}));
}

MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937_64& rng, double scale = 1.0) {
  MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * nn::standard_normal(rng);
  return m;
}

// Parameters: the field's PyTorch default initialisation, then the readout's.
VectorXd make_params(const field_type& f, const nde::augmented_options& o, std::mt19937_64& rng) {
  VectorXd p(model_type<nde::discrete_adjoint>::param_count(f, o));
  nn::init_pytorch_default(f.network(), p.head(f.num_params()), rng);
  const double bound = 1.0 / std::sqrt(double(o.data_dims + o.augment_dims));
  for (Eigen::Index j = f.num_params(); j < p.size(); ++j) p[j] = nn::uniform(rng, -bound, bound);
  return p;
}

const nde::neural_ode_options tight{.controller =
                                        nde::pid_controller{.rtol = 1e-11, .atol = 1e-12}};

nde::augmented_options shape(Eigen::Index d, Eigen::Index p, Eigen::Index k) {
  return {.data_dims = d, .augment_dims = p, .outputs = k, .t0 = 0.0, .t1 = 0.8, .ode = tight};
}

// A loss that is not the MSE: L = Σ w ⊙ ŷ + ½ Σ ŷ³ / 3 (weights w fixed), dL/dŷ = w + ŷ² / 2.
struct cubic_loss {
  MatrixXd weights;
  double operator()(const MatrixXd& prediction, MatrixXd& g) const {
    g = weights + 0.5 * prediction.array().square().matrix();
    return (weights.array() * prediction.array()).sum() + prediction.array().cube().sum() / 6.0;
  }
};

struct fd_gradient {
  VectorXd params;
  MatrixXd inputs;
};

// Central differences of L(params, x) = loss(predict(x)), step h.
template <class Model, class Loss>
fd_gradient differences(Model& model, const MatrixXd& x, const Loss& loss, double h) {
  const auto value = [&](const MatrixXd& at) {
    const MatrixXd prediction = model.predict(at);
    MatrixXd g(prediction.rows(), prediction.cols());
    return loss(prediction, g);
  };
  fd_gradient fd{VectorXd(model.params().size()), MatrixXd(x.rows(), x.cols())};
  for (Eigen::Index j = 0; j < model.params().size(); ++j) {
    const double keep = model.params()[j];
    model.params()[j] = keep + h;
    const double up = value(x);
    model.params()[j] = keep - h;
    const double down = value(x);
    model.params()[j] = keep;
    fd.params[j] = (up - down) / (2 * h);
  }
  for (Eigen::Index j = 0; j < x.size(); ++j) {
    MatrixXd xp = x, xm = x;
    xp.data()[j] += h;
    xm.data()[j] -= h;
    fd.inputs.data()[j] = (value(xp) - value(xm)) / (2 * h);
  }
  return fd;
}

double relative_error(const MatrixXd& a, const MatrixXd& b) {
  return (a - b).cwiseAbs().maxCoeff() / std::max(1.0, b.cwiseAbs().maxCoeff());
}

template <class Gradient>
void check_against_differences(Gradient gradient, const char* name) {
  INFO(name);
  std::mt19937_64 rng(7);
  const auto o = shape(2, 3, 2);
  const field_type f = make_field(5, 6);
  const VectorXd params = make_params(f, o, rng);
  model_type<Gradient> model(f, params, o, gradient);
  const MatrixXd x = random_matrix(2, 3, rng);
  const MatrixXd target = random_matrix(2, 3, rng);
  const auto mse = [&target](const MatrixXd& prediction, MatrixXd& g) {
    return nde::optim::mse_loss(prediction, target, g);
  };
  const cubic_loss cubic{random_matrix(2, 3, rng)};
  for (int which = 0; which < 2; ++which) {
    INFO((which == 0 ? "MSE" : "cubic loss"));
    const auto l =
        which == 0 ? model.loss_and_gradient(x, target) : model.loss_and_gradient(x, cubic);
    REQUIRE(l.success());
    REQUIRE(l.gradient.size() == params.size());
    REQUIRE(l.inputs.rows() == 2);
    REQUIRE(l.inputs.cols() == 3);
    CHECK(l.gradient.allFinite());
    const fd_gradient fd =
        which == 0 ? differences(model, x, mse, 1e-5) : differences(model, x, cubic, 1e-5);
    const Eigen::Index nf = f.num_params();
    CHECK(relative_error(l.gradient.head(nf), fd.params.head(nf)) < 1e-6);  // field θ
    CHECK(relative_error(l.gradient.tail(params.size() - nf), fd.params.tail(params.size() - nf)) <
          1e-6);                                        // W, b
    CHECK(relative_error(l.inputs, fd.inputs) < 1e-6);  // dL/dx
    // The loss itself is that of the prediction.
    MatrixXd g;
    CHECK(l.loss == (which == 0 ? mse(model.predict(x), g) : cubic(model.predict(x), g)));
  }
}

void require_invalid(const std::function<void()>& call, const std::string& text) {
  try {
    call();
    FAIL("no nde::error thrown (expected one naming: " << text << ")");
  } catch (const nde::error& e) {
    CHECK(e.code() == nde::status::invalid_input);
    CHECK_THAT(std::string(e.what()), Catch::Contains(text));
  }
}

}  // namespace

TEST_CASE("augmented: gradient of theta, readout and inputs against central differences",
          "[models][augmented][gradients]") {
  check_against_differences(nde::discrete_adjoint{}, "discrete_adjoint");
  check_against_differences(nde::backsolve_adjoint{.controller = {.rtol = 1e-11, .atol = 1e-12}},
                            "backsolve_adjoint");
}

TEST_CASE("augmented: discrete, backsolve and checkpointed adjoints agree",
          "[models][augmented][gradients]") {
  std::mt19937_64 rng(11);
  const auto o = shape(3, 2, 1);
  const field_type f = make_field(5, 8);
  const VectorXd params = make_params(f, o, rng);
  const MatrixXd x = random_matrix(3, 6, rng), target = random_matrix(1, 6, rng);
  model_type<nde::discrete_adjoint> discrete(f, params, o);
  model_type<nde::backsolve_adjoint> backsolve(
      f, params, o, nde::backsolve_adjoint{.controller = {.rtol = 1e-11, .atol = 1e-12}});
  model_type<nde::checkpointed_adjoint> checkpointed(
      f, params, o, nde::checkpointed_adjoint{.controller = {.rtol = 1e-11, .atol = 1e-12}});
  const auto a = discrete.loss_and_gradient(x, target);
  const auto b = backsolve.loss_and_gradient(x, target);
  const auto c = checkpointed.loss_and_gradient(x, target);
  REQUIRE(a.success());
  REQUIRE(b.success());
  REQUIRE(c.success());
  CHECK(a.loss == b.loss);  // same forward solve
  CHECK(a.prediction == c.prediction);
  CHECK(relative_error(a.gradient, b.gradient) < 1e-7);
  CHECK(relative_error(a.gradient, c.gradient) < 1e-7);
  CHECK(relative_error(a.inputs, b.inputs) < 1e-7);
  CHECK(relative_error(a.inputs, c.inputs) < 1e-7);
  // The readout's gradient needs no adjoint: identical bits.
  const Eigen::Index nf = f.num_params();
  CHECK(a.gradient.tail(params.size() - nf) == b.gradient.tail(params.size() - nf));
  CHECK(a.forward_nfe() > 0);
  CHECK(a.forward_nfe() == b.forward_nfe());
}

TEST_CASE("augmented: p = 0 is the plain neural ODE with a linear readout", "[models][augmented]") {
  std::mt19937_64 rng(3);
  const nde::augmented_options o{.data_dims = 2, .augment_dims = 0, .outputs = 3, .t1 = 1.3};
  const field_type f = make_field(2, 10);
  const VectorXd params = make_params(f, o, rng);
  const MatrixXd x = random_matrix(2, 5, rng), target = random_matrix(3, 5, rng);
  model_type<nde::discrete_adjoint> model(f, params, o);
  const auto l = model.loss_and_gradient(x, target);
  REQUIRE(l.success());

  // The same model by hand: neural_ode from x, then W y(T) + b.
  const Eigen::Index nf = f.num_params();
  nde::neural_ode<field_type, nde::dopri5, nde::discrete_adjoint, MatrixXd> plain(f,
                                                                                  params.head(nf));
  const std::array<double, 2> ts{0.0, 1.3};
  const MatrixXd y1 = plain.forward(x, ts).value().ys.back();
  const Eigen::Map<const MatrixXd> w(params.data() + nf, 3, 2);
  MatrixXd prediction = w * y1;
  prediction.colwise() += params.tail(3);
  CHECK(l.prediction == prediction);
  MatrixXd g;
  const double loss = nde::optim::mse_loss(prediction, target, g);
  CHECK(l.loss == loss);
  const std::array<MatrixXd, 2> cot{MatrixXd::Zero(2, 5), w.transpose() * g};
  const auto grad = plain.backward_or_throw(cot);
  CHECK((l.gradient.head(nf) - grad.params).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((l.inputs - grad.y0).cwiseAbs().maxCoeff() <= 1e-12);
  const MatrixXd dw = g * y1.transpose();
  CHECK((l.gradient.segment(nf, 6) - dw.reshaped()).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK((l.gradient.tail(3) - g.rowwise().sum()).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK(l.forward_nfe() == plain.last_forward().stats.rhs_evals);
}

TEST_CASE("augmented: the padded channels start at zero and the readout views the parameters",
          "[models][augmented]") {
  std::mt19937_64 rng(5);
  const auto o = shape(2, 4, 1);
  const field_type f = make_field(6, 5);
  model_type<nde::discrete_adjoint> model(f, make_params(f, o, rng), o);
  const MatrixXd x = random_matrix(2, 7, rng);
  const MatrixXd h0 = model.initial_state(x);
  REQUIRE(h0.rows() == 6);
  CHECK(h0.topRows(2) == x);
  CHECK((h0.bottomRows(4).array() == 0.0).all());
  const std::array<double, 3> ts{0.0, 0.4, 0.8};
  const auto path = model.trajectory(x, ts);
  REQUIRE(path.size() == 3);
  CHECK(path[0] == h0);
  CHECK((path[2].bottomRows(4).array() != 0.0).any());  // the field moves them
  CHECK(model.features(x) == path[2]);
  // The readout reads every channel, the padded ones included.
  CHECK(model.readout_weight().rows() == 1);
  CHECK(model.readout_weight().cols() == 6);
  CHECK(model.readout_weight().data() == model.params().data() + f.num_params());
  CHECK(model.readout_bias().size() == 1);
  MatrixXd expected = model.readout_weight() * path[2];
  expected.array() += model.readout_bias()[0];
  CHECK(model.predict(x) == expected);
  // initialise_readout touches only W and b.
  const VectorXd before = model.params();
  model.initialise_readout(rng);
  CHECK(model.params().head(f.num_params()) == before.head(f.num_params()));
  CHECK(model.params().tail(7) != before.tail(7));
  CHECK(model.params().tail(7).cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(6.0));
}

TEST_CASE("augmented: bad input is refused with a message naming the problem",
          "[models][augmented][errors]") {
  std::mt19937_64 rng(9);
  const auto o = shape(2, 1, 1);
  const field_type f = make_field(3, 4);
  const VectorXd params = make_params(f, o, rng);
  using model = model_type<nde::discrete_adjoint>;

  require_invalid([&] { (void)model::param_count(f, shape(2, -1, 1)); },
                  "augment_dims must be ≥ 0");
  require_invalid([&] { model m(f, params, shape(2, -1, 1)); }, "augment_dims must be ≥ 0");
  require_invalid([&] { model m(f, params, shape(0, 3, 1)); }, "data_dims must be ≥ 1");
  require_invalid([&] { model m(f, params, shape(2, 1, 0)); }, "outputs must be ≥ 1");
  require_invalid([&] { model m(f, params, shape(2, 2, 1)); }, "the field's state has 3 rows");
  require_invalid([&] { model m(f, params.head(params.size() - 1), o); }, "parameter vector has");
  auto same_times = o;
  same_times.t1 = same_times.t0;
  require_invalid([&] { model m(f, params, same_times); }, "t0 and t1");
  VectorXd nan_params = params;
  nan_params[0] = std::numeric_limits<double>::quiet_NaN();
  require_invalid([&] { model m(f, nan_params, o); }, "NaN");

  model m(f, params, o);
  const MatrixXd target = MatrixXd::Zero(1, 4);
  require_invalid([&] { (void)m.loss_and_gradient(MatrixXd::Zero(3, 4), target); },
                  "inputs have 3 rows but the model takes d = 2");
  require_invalid([&] { (void)m.predict(MatrixXd::Zero(1, 4)); }, "inputs have 1 rows");
  require_invalid([&] { (void)m.loss_and_gradient(MatrixXd(2, 0), MatrixXd(1, 0)); },
                  "the batch is empty");
  MatrixXd x = MatrixXd::Zero(2, 4);
  x(1, 2) = std::numeric_limits<double>::quiet_NaN();
  require_invalid([&] { (void)m.loss_and_gradient(x, target); }, "an input contains NaN or Inf");
  x(1, 2) = std::numeric_limits<double>::infinity();
  require_invalid([&] { (void)m.features(x); }, "an input contains NaN or Inf");
  x(1, 2) = 0;
  require_invalid([&] { (void)m.loss_and_gradient(x, MatrixXd::Zero(2, 4)); },
                  "the target is 2x4 but the predictions are 1x4");
  MatrixXd bad_target = target;
  bad_target(0, 0) = std::numeric_limits<double>::quiet_NaN();
  require_invalid([&] { (void)m.loss_and_gradient(x, bad_target); }, "target contains NaN");
  const std::array<double, 2> late{0.5, 0.8};
  require_invalid([&] { (void)m.trajectory(x, late); }, "ts must start at t0");
  require_invalid(
      [&] {
        (void)m.loss_and_gradient(x, [](const MatrixXd&, MatrixXd& g) {
          g.resize(2, 2);
          return 0.0;
        });
      },
      "the loss resized dL/dprediction to 2x2");
  // A NaN loss is a status, not an exception.
  const auto nan_loss = m.loss_and_gradient(
      x, [](const MatrixXd&, MatrixXd&) { return std::numeric_limits<double>::quiet_NaN(); });
  CHECK(nan_loss.status == nde::status::non_finite);
  CHECK_THAT(nan_loss.message, Catch::Contains("NaN"));
  // The parameter vector resized after construction.
  m.params().conservativeResize(params.size() + 2);
  require_invalid([&] { (void)m.loss_and_gradient(x, target); },
                  "the parameter vector has " + std::to_string(params.size() + 2) + " entries");
  require_invalid([&] { (void)m.predict(x); }, "parameter vector has");
}

// Dupont et al. §3: a 1-D flow is an increasing homeomorphism of ℝ, so it keeps h(−1) < h(1)
// and cannot map −1 → 1, 1 → −1 (the best it can do is h(±1) = 0, MSE 1). The readout is held
// at the projection onto the first channel (W = [1, 0, …], b = 0) so that only the flow
// fits g: a trainable W = −1 would solve the 1-D task by itself. With one extra dimension the
// flow rotates the two points around each other in the plane.
TEST_CASE("augmented: 1-D g(-1) = 1, g(1) = -1 is fitted with p = 1, never with p = 0",
          "[models][augmented][training]") {
  const MatrixXd x = (MatrixXd(1, 2) << -1.0, 1.0).finished();
  const MatrixXd y = (MatrixXd(1, 2) << 1.0, -1.0).finished();
  const auto train = [&](Eigen::Index p) {
    std::mt19937_64 rng(1);
    const nde::augmented_options o{
        .data_dims = 1,
        .augment_dims = p,
        .outputs = 1,
        .ode = {.controller = nde::pid_controller{.rtol = 1e-5, .atol = 1e-7}}};
    const field_type f = make_field(1 + p, 16);
    model_type<nde::discrete_adjoint> model(f, make_params(f, o, rng), o);
    const Eigen::Index nf = f.num_params();
    model.readout_weight().setZero();
    model.readout_weight()(0, 0) = 1.0;
    model.readout_bias().setZero();
    nde::optim::adam<double> adam(nf, {.learning_rate = 0.02});
    double loss = 0;
    for (int it = 0; it < iterations; ++it) {
      const auto l = model.loss_and_gradient(x, y);
      REQUIRE(l.success());
      loss = l.loss;
      const VectorXd g = l.gradient.head(nf);  // the readout stays fixed
      REQUIRE(adam.step(model.params().head(nf), g) == nde::status::success);
    }
    return loss;
  };
  const double plain = train(0), augmented = train(1);
  INFO("plain " << plain << ", augmented " << augmented);
  CHECK(plain > 0.99);  // bounded below by 1 for any 1-D flow
  if (!nde_test::sanitized) CHECK(augmented < 0.02);
}

// With a trainable readout an affine map of a monotone flow is monotone, so g(−1) = 1,
// g(0) = −1, g(1) = 1 stays out of reach of a 1-D flow (the best monotone fit, (0, 0, 1), has
// MSE 2/3); one extra dimension fits it.
TEST_CASE(
    "augmented: a 1-D fold g(-1) = g(1) = 1, g(0) = -1 needs p > 0 even with a trained readout",
    "[models][augmented][training]") {
  const MatrixXd x = (MatrixXd(1, 3) << -1.0, 0.0, 1.0).finished();
  const MatrixXd y = (MatrixXd(1, 3) << 1.0, -1.0, 1.0).finished();
  const auto train = [&](Eigen::Index p) {
    std::mt19937_64 rng(2);
    const nde::augmented_options o{
        .data_dims = 1,
        .augment_dims = p,
        .outputs = 1,
        .ode = {.controller = nde::pid_controller{.rtol = 1e-5, .atol = 1e-7}}};
    const field_type f = make_field(1 + p, 16);
    model_type<nde::backsolve_adjoint> model(
        f, make_params(f, o, rng), o,
        nde::backsolve_adjoint{.controller = {.rtol = 1e-5, .atol = 1e-7}});
    nde::optim::adam<double> adam(model.params().size(), {.learning_rate = 0.02});
    double loss = 0;
    for (int it = 0; it < iterations; ++it) {
      const auto l = model.loss_and_gradient(x, y);
      REQUIRE(l.success());
      loss = l.loss;
      REQUIRE(adam.step(model.params(), l.gradient) == nde::status::success);
    }
    return loss;
  };
  const double plain = train(0), augmented = train(1);
  INFO("plain " << plain << ", augmented " << augmented);
  CHECK(plain > 0.66);  // ≥ 2/3 for any monotone flow and affine readout
  if (!nde_test::sanitized) CHECK(augmented < 0.05);
}
