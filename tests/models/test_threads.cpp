// Every test that starts threads, in one program so that the tsan preset (ThreadSanitizer)
// runs exactly these: per-sample gradients of a network model for every gradient method and
// thread count (bit-identical to serial), a failed sample, an exception from the loss;
// per-sample time grids (ragged lengths) against single-sample gradients.
#include <nde/nde.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using vec = Eigen::Vector2d;
using params = Eigen::VectorXd;
using net_type = nde::nn::mlp<nde::nn::tanh_activation, 2, 16, 2>;
using field_type = nde::network_field<net_type, vec>;
template <class Gradient>
using model_type = nde::neural_ode<field_type, nde::dopri5, Gradient, vec>;

params initial_params(unsigned seed) {
  net_type net;
  params theta(net.num_params());
  std::mt19937_64 engine(seed);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  return theta;
}

const std::vector<double> output_times{0.0, 0.3, 0.8, 1.5};
const nde::neural_ode_options options{.controller = nde::pi_controller{.rtol = 1e-6, .atol = 1e-8}};

std::vector<vec> starts(int n) {
  std::vector<vec> y0s;
  for (int i = 0; i < n; ++i) y0s.emplace_back(0.1 * i - 0.3, 0.5 - 0.07 * i);
  return y0s;
}

// Sample i weighs its final state by i + 1.
double weighted_loss(std::size_t i, const std::vector<vec>& ys, std::vector<vec>& c) {
  c.back() = ys.back() * double(i + 1);
  return 0.5 * double(i + 1) * ys.back().squaredNorm();
}

}  // namespace

TEMPLATE_TEST_CASE("per-sample parallel gradients are bit-identical to serial ones",
                   "[models][gradients][threads]", nde::backsolve_adjoint, nde::discrete_adjoint,
                   nde::checkpointed_adjoint, nde::forward_sensitivity) {
  model_type<TestType> model(field_type(net_type{}), initial_params(17), {}, options);
  const std::vector<vec> y0s = starts(7);
  const auto serial =
      model.per_sample_gradients(std::span<const vec>(y0s), output_times, weighted_loss, 1);
  REQUIRE(serial.status == nde::status::success);
  for (unsigned threads : {2u, 3u, 8u}) {
    INFO(threads << " threads");
    const auto parallel =
        model.per_sample_gradients(std::span<const vec>(y0s), output_times, weighted_loss, threads);
    CHECK(parallel.params == serial.params);
    CHECK(parallel.loss == serial.loss);
    for (std::size_t i = 0; i < y0s.size(); ++i) CHECK(parallel.y0[i] == serial.y0[i]);
  }
  // Each sample is the model's ordinary gradient.
  const auto& fr = model.forward(y0s[2], output_times);
  std::vector<vec> c(fr.ys.size(), vec::Zero());
  weighted_loss(2, fr.ys, c);
  CHECK(model.backward(std::span<const vec>(c)).y0 == serial.y0[2]);
}

TEST_CASE("an exception thrown by the loss on a worker thread reaches the caller",
          "[models][threads]") {
  model_type<nde::backsolve_adjoint> model(field_type(net_type{}), initial_params(3), {}, options);
  const std::vector<vec> y0s = starts(7);
  auto failing = [](std::size_t i, const std::vector<vec>&, std::vector<vec>&) -> double {
    if (i == 5) throw std::runtime_error("loss failed on sample 5");
    return 0.0;
  };
  for (unsigned threads : {1u, 3u})
    CHECK_THROWS_WITH(
        model.per_sample_gradients(std::span<const vec>(y0s), output_times, failing, threads),
        Catch::Contains("sample 5"));
}

TEST_CASE("a failed sample adds nothing and reports NaN for its dL/dy0", "[models][threads]") {
  using lvec = Eigen::VectorXd;
  nde::neural_ode<nde::linear_field<lvec>, nde::dopri5, nde::discrete_adjoint, lvec> model(
      nde::linear_field<lvec>(2), (lvec(4) << -0.2, -1.0, 1.0, -0.2).finished(), {},
      {.controller = nde::pi_controller{.rtol = 1e-10, .atol = 1e-12}});
  std::vector<lvec> y0s{lvec::Ones(2), lvec::Constant(2, std::numeric_limits<double>::quiet_NaN()),
                        -lvec::Ones(2)};
  const std::vector<double> ts{0.0, 0.4};
  auto loss = [](std::size_t, const std::vector<lvec>& ys, std::vector<lvec>& c) {
    c.back() = ys.back();
    return 0.5 * ys.back().squaredNorm();
  };
  const auto batch = model.per_sample_gradients(std::span<const lvec>(y0s), ts, loss, 2);
  CHECK(batch.status == nde::status::non_finite);
  CHECK_THAT(batch.message, Catch::StartsWith("sample 1:"));
  CHECK(batch.y0[1].array().isNaN().all());
  const std::vector<lvec> good{y0s[0], y0s[2]};
  const auto ok = model.per_sample_gradients(std::span<const lvec>(good), ts, loss, 1);
  CHECK(ok.params == batch.params);
  CHECK(ok.loss == batch.loss);
}

namespace {

// Sample i starts at 0.1 i and is saved at i + 1 irregular times (lengths 1 … n; sample 0 is
// its initial state alone).
std::vector<std::vector<double>> ragged_grids(int n) {
  std::vector<std::vector<double>> grids;
  for (int i = 0; i < n; ++i) {
    std::vector<double> ts{0.1 * i};
    for (int k = 1; k < i + 1; ++k) ts.push_back(ts.back() + 0.05 + 0.11 * ((k * 7 + i) % 5));
    grids.push_back(std::move(ts));
  }
  return grids;
}

// Every saved point of every sample counts: L_i = Σ_k ½ (k + 1) |y_k|².
double all_points_loss(std::size_t, const std::vector<vec>& ys, std::vector<vec>& c) {
  double l = 0;
  for (std::size_t k = 0; k < ys.size(); ++k) {
    c[k] = ys[k] * double(k + 1);
    l += 0.5 * double(k + 1) * ys[k].squaredNorm();
  }
  return l;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "per-sample time grids: the batch gradient is the sum of the single-sample "
    "gradients, for any thread count",
    "[models][gradients][threads]", nde::discrete_adjoint, nde::backsolve_adjoint) {
  model_type<TestType> model(field_type(net_type{}), initial_params(29), {}, options);
  const std::vector<vec> y0s = starts(9);
  const std::vector<std::vector<double>> grids = ragged_grids(9);
  const std::span<const std::vector<double>> ts(grids);
  const auto serial = model.per_sample_gradients(std::span<const vec>(y0s), ts, all_points_loss, 1);
  REQUIRE(serial.status == nde::status::success);

  // Reference: each sample solved and differentiated alone on its own grid.
  params sum = params::Zero(model.params().size());
  double loss_sum = 0;
  for (std::size_t i = 0; i < y0s.size(); ++i) {
    const auto& fr = model.forward(y0s[i], grids[i]);
    REQUIRE(fr.success());
    REQUIRE(fr.ys.size() == grids[i].size());
    std::vector<vec> c(fr.ys.size(), vec::Zero());
    loss_sum += all_points_loss(i, fr.ys, c);
    const auto g = model.backward(std::span<const vec>(c));
    REQUIRE(g.status == nde::status::success);
    sum += g.params;
    CHECK((g.y0 - serial.y0[i]).norm() <= 1e-12 * (1 + g.y0.norm()));
  }
  CHECK((serial.params - sum).norm() <= 1e-12 * (1 + sum.norm()));
  CHECK(std::abs(serial.loss - loss_sum) <= 1e-12 * (1 + loss_sum));

  for (unsigned threads : {2u, 8u}) {
    INFO(threads << " threads");
    const auto parallel =
        model.per_sample_gradients(std::span<const vec>(y0s), ts, all_points_loss, threads);
    CHECK(parallel.params == serial.params);
    CHECK(parallel.loss == serial.loss);
    for (std::size_t i = 0; i < y0s.size(); ++i) CHECK(parallel.y0[i] == serial.y0[i]);
  }

  // Padding every sample to one grid would change the answer: the grids really differ.
  const auto common =
      model.per_sample_gradients(std::span<const vec>(y0s), output_times, all_points_loss, 1);
  CHECK((common.params - serial.params).norm() > 1e-3 * serial.params.norm());
}

TEST_CASE("per-sample time grids: a bad grid fails its sample, a count mismatch throws",
          "[models][threads]") {
  model_type<nde::discrete_adjoint> model(field_type(net_type{}), initial_params(5), {}, options);
  const std::vector<vec> y0s = starts(3);
  std::vector<std::vector<double>> grids = ragged_grids(3);
  grids[1] = {0.5, 0.2, 0.9};  // not increasing
  const auto batch = model.per_sample_gradients(
      std::span<const vec>(y0s), std::span<const std::vector<double>>(grids), all_points_loss, 2);
  CHECK(batch.status != nde::status::success);
  CHECK_THAT(batch.message, Catch::StartsWith("sample 1:"));
  CHECK(batch.y0[1].array().isNaN().all());
  CHECK(batch.y0[0].allFinite());
  CHECK(batch.y0[2].allFinite());

  const std::vector<std::vector<double>> two = ragged_grids(2);
  CHECK_THROWS_WITH(
      model.per_sample_gradients(std::span<const vec>(y0s),
                                 std::span<const std::vector<double>>(two), all_points_loss, 1),
      Catch::Contains("3 samples but 2 time grids"));
}
