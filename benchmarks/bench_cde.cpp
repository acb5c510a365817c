// Neural CDE training steps (forward solve + exact discrete adjoint) against the equivalent
// neural ODE. Workload: the cde_spirals model (hidden 8, field 8-32-32-40 softplus/tanh, 5
// channels), a batch of 32 spirals on 100 irregular knots over [0, 4π], dopri5 rtol 1e-3,
// atol 1e-5 (smoke: batch 4, 10 knots).
//
// - cde_step/<hermite|linear|natural>: one loss_and_gradient for each interpolation (linear
//   with its knots as jump_ts). Counters: nfe (forward f evaluations), ns_per_eval (time over
//   forward evaluations plus backward vjps).
// - ode_step: the same model, network and batch driven by a straight-line path X(t) = X0 + t·v
//   (a constant X', so the CDE is the ODE dh/dt = F(h) v: no path lookups, a smooth field).
//   ns_per_eval against cde_step's is the cost of reading the interpolated path.
// Run from a release build.
#include <nde/adjoint/methods.hpp>
#include <nde/models/neural_cde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/optim/loss.hpp>
#include <nde/paths/interpolation.hpp>
#include <nde/paths/observations.hpp>
#include <nde/solvers/dopri5.hpp>

#include <benchmark/benchmark.h>

#include "common/workloads.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace {

namespace nn = nde::nn;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using net_type = nn::sequential<nn::linear<>, nn::softplus_activation, nn::linear<>,
                                nn::softplus_activation, nn::linear<>, nn::tanh_activation>;
constexpr Eigen::Index hidden = 8, channels = 5, width = 32;

net_type make_net() {
  return net_type(nn::linear<>(hidden, width), nn::softplus_activation{},
                  nn::linear<>(width, width), nn::softplus_activation{},
                  nn::linear<>(width, hidden * channels), nn::tanh_activation{});
}

struct workload {
  std::vector<double> times;
  nde::path_values<> values;  // prepared: time, x, y, two intensities
  MatrixXd labels;
};

workload make_workload() {
  const Eigen::Index batch = bench::smoke() ? 4 : 32;
  const std::size_t knots = bench::smoke() ? 10 : 100;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0.0, 4 * std::numbers::pi), unit(0.0, 1.0);
  workload w;
  w.times.resize(knots);
  for (auto& t : w.times) t = u(rng);
  std::sort(w.times.begin(), w.times.end());
  w.times.front() = 0;
  nde::path_values<> raw;
  w.labels.resize(1, batch);
  for (double t : w.times) {
    MatrixXd x(2, batch);
    for (Eigen::Index b = 0; b < batch; ++b) {
      const double sign = b % 2 == 0 ? -1.0 : 1.0, p = 0.7 * double(b);
      x(0, b) = std::cos(t + p) / (1 + 0.5 * t);
      x(1, b) = sign * std::sin(t + p) / (1 + 0.5 * t);
      for (Eigen::Index c = 0; c < 2; ++c)
        if (unit(rng) < 0.3 && t > 0) x(c, b) = std::nan("");
    }
    raw.push_back(x);
  }
  for (Eigen::Index b = 0; b < batch; ++b) w.labels(0, b) = b % 2 == 0 ? 1.0 : 0.0;
  w.values = nde::prepare_observations(w.times, raw);
  for (auto& v : w.values) v.bottomRows(2) /= double(knots);
  return w;
}

template <class Path>
void step(benchmark::State& state, const Path& path, const MatrixXd& labels) {
  std::mt19937_64 rng(5);
  const net_type net = make_net();
  using model_type = nde::neural_cde<net_type, Path, nde::dopri5, nde::discrete_adjoint>;
  VectorXd theta(model_type::parameter_count(net, hidden, channels, 1));
  std::uniform_real_distribution<double> init(-0.4, 0.4);
  for (Eigen::Index i = 0; i < theta.size(); ++i) theta[i] = init(rng);
  VectorXd f(net.num_params());
  nn::init_pytorch_default(net.layout(), f, rng);
  theta.segment(hidden * channels + hidden, net.num_params()) = f;
  model_type model(net, hidden, channels, 1, theta, {.rtol = 1e-3, .atol = 1e-5});
  double nfe = 0, evals = 0, seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto r = model.loss_and_gradient(path, [&](const MatrixXd& z, MatrixXd& dz) {
      return nde::optim::binary_cross_entropy_with_logits(z, labels, dz);
    });
    if (r.status != nde::status::success) {
      state.SkipWithError(r.message.c_str());
      return;
    }
    benchmark::DoNotOptimize(r.gradient.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nfe += double(r.stats.forward_rhs_evals);
    evals += double(r.stats.forward_rhs_evals + r.stats.backward_vjp_evals);
  }
  state.counters["nfe"] = benchmark::Counter(nfe, benchmark::Counter::kAvgIterations);
  state.counters["ns_per_eval"] = evals > 0 ? 1e9 * seconds / evals : 0.0;
}

void cde_hermite(benchmark::State& state) {
  const auto w = make_workload();
  step(state, nde::hermite_cubic_path<>(w.times, w.values), w.labels);
}
void cde_linear(benchmark::State& state) {
  const auto w = make_workload();
  step(state, nde::linear_interpolation_path<>(w.times, w.values), w.labels);
}
void cde_natural(benchmark::State& state) {
  const auto w = make_workload();
  step(state, nde::natural_cubic_path<>(w.times, w.values), w.labels);
}
void ode_equivalent(benchmark::State& state) {
  const auto w = make_workload();
  // X(t) = X(0) + t·v with v the mean slope of the data path: X' = v everywhere.
  const double t1 = w.times.back();
  const MatrixXd v = (w.values.back() - w.values.front()) / t1;
  const nde::linear_interpolation_path<> line({0.0, t1},
                                              {w.values.front(), w.values.front() + t1 * v});
  step(state, line, w.labels);
}

}  // namespace

BENCHMARK(cde_hermite)->Name("cde_step/hermite")->Unit(benchmark::kMillisecond);
BENCHMARK(cde_linear)->Name("cde_step/linear")->Unit(benchmark::kMillisecond);
BENCHMARK(cde_natural)->Name("cde_step/natural")->Unit(benchmark::kMillisecond);
BENCHMARK(ode_equivalent)->Name("ode_step")->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
