// Conditional flow matching at torchcfm's toy settings: a [x; t] → v MLP with three hidden
// layers of 64 units (tanh), batches of 256, σ = 0.1, Adam lr 1e-3, 8 gaussians → two moons.
//
// - fm_train_iteration/<pairing>: one training step (draw both batches, pair, draw the path,
//   forward + reverse pass, Adam step) for independent (I-CFM), exact OT (OT-CFM) and Sinkhorn
//   pairing. Counter pairing_share: the fraction of the step spent in `pair` (timed separately
//   inside the loop), i.e. the O(B³) assignment's share for exact OT.
// - fm_sample/<euler1|dopri5>: generating 1,000 samples from a field trained for 300 steps
//   (20 in a smoke run), one Euler step or dopri5 at rtol = atol = 1e-5. Counter nfe.
// Run from a release build.
#include <nde/datasets/toy.hpp>
#include <nde/models/flow_matching.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/optim/adam.hpp>

#include <benchmark/benchmark.h>

#include "common/workloads.hpp"

#include <chrono>
#include <random>

namespace {

namespace nn = nde::nn;
using net_type = nn::mlp<nn::tanh_activation, 3, 64, 64, 64, 2>;
using model_type = nde::flow_matching<net_type>;

model_type make_model(nde::fm_pairing pairing, std::mt19937_64& rng) {
  const net_type net;
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  return model_type(net, theta, {.sigma = 0.1, .pairing = pairing});
}

void train_iteration(benchmark::State& state, nde::fm_pairing pairing) {
  std::mt19937_64 rng(0);
  auto fm = make_model(pairing, rng);
  nde::optim::adam<double> adam(fm.params().size(), {.learning_rate = 1e-3});
  const Eigen::Index batch = 256;
  double pair_seconds = 0, total_seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const Eigen::MatrixXd x0 = nde::datasets::eight_gaussians(batch, rng);
    const Eigen::MatrixXd x1 = nde::datasets::two_moons(batch, rng);
    // Time the pairing alone on a copy of the generator (loss_and_gradient pairs again).
    std::mt19937_64 copy = rng;
    const auto p0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(fm.pair(x0, x1, copy).data());
    pair_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
    const auto l = fm.loss_and_gradient(x0, x1, rng);
    adam.step(fm.params(), l.gradient);
    benchmark::DoNotOptimize(fm.params().data());
    total_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  // The timed step pairs twice; the share is of one step without the extra pairing.
  const double step = total_seconds - pair_seconds;
  state.counters["pairing_share"] = step > 0 ? pair_seconds / step : 0.0;
}

void sample(benchmark::State& state, nde::fm_sampler method) {
  std::mt19937_64 rng(1);
  auto fm = make_model(nde::fm_pairing::exact_ot, rng);
  nde::optim::adam<double> adam(fm.params().size(), {.learning_rate = 1e-3});
  const int warm = bench::smoke() ? 20 : 300;
  for (int i = 0; i < warm; ++i) {
    const auto l = fm.loss_and_gradient(nde::datasets::eight_gaussians(256, rng),
                                        nde::datasets::two_moons(256, rng), rng);
    adam.step(fm.params(), l.gradient);
  }
  const Eigen::MatrixXd x0 = nde::datasets::eight_gaussians(1000, rng);
  double nfe = 0;
  for (auto _ : state) {
    const auto s = fm.sample(x0, {.method = method, .steps = 1, .rtol = 1e-5, .atol = 1e-5});
    benchmark::DoNotOptimize(s.x.data());
    nfe += double(s.nfe);
  }
  state.counters["nfe"] = benchmark::Counter(nfe, benchmark::Counter::kAvgIterations);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("fm_train_iteration/independent", [](auto& s) {
    train_iteration(s, nde::fm_pairing::independent);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("fm_train_iteration/exact_ot", [](auto& s) {
    train_iteration(s, nde::fm_pairing::exact_ot);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("fm_train_iteration/sinkhorn", [](auto& s) {
    train_iteration(s, nde::fm_pairing::sinkhorn);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("fm_sample/euler1", [](auto& s) {
    sample(s, nde::fm_sampler::euler_steps);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("fm_sample/dopri5", [](auto& s) {
    sample(s, nde::fm_sampler::adaptive);
  })->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
