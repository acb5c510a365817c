// Continuous normalising flows at FFJORD's `train_toy.py` defaults: 8 gaussians, batch 100, a
// 2-64-64-64-2 tanh concat-squash network, T = 0.5, dopri5 with rtol = atol = 1e-5 forward and
// backward, exact trace, Adam (lr 1e-3, weight decay 1e-5).
//
// - cnf_train_iteration/<gradient>/<divergence>: one training iteration (batch draw, forward
//   solve data → base, backward pass, Adam step) after `warm-up` iterations of training (300 in a
//   full run, as FFJORD's reference NFE 56 forward / 35 backward were read after 300).
//   Counters: nfe_forward (f evaluations), nfe_backward (vjp evaluations of the backward pass;
//   torchdiffeq counts one per evaluation of the augmented adjoint dynamics), f_backward (f
//   evaluations in the backward pass that are not part of a vjp: recomputed stages),
//   speedup_vs_ffjord = 177 ms / (time per iteration): FFJORD's own time per iteration on this
//   machine class (Debian torch, one thread, float32) as quoted in the issue, not measured here;
//   model_heap_kib: heap the model holds between iterations (tape, workspaces), by glibc's
//   allocator statistics — the memory of each gradient method.
// - cnf_divergence/<exact|hutchinson>/D: one field evaluation plus one vjp at batch 100 for
//   D = 2, 16, 64 (same hidden widths): where the exact trace stops paying.
// Run from a release build.
#include <nde/datasets/toy.hpp>
#include <nde/models/cnf.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/optim/adam.hpp>

#include <benchmark/benchmark.h>

#include <ffjord_network.hpp>
#include "common/workloads.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstddef>
#include <random>
#include <string>
#include <type_traits>

namespace {

namespace nn = nde::nn;
using net_type = examples::ffjord_network;

constexpr double ffjord_ms_per_iteration = 177.0;

// Bytes of heap in use (glibc's allocator statistics; 0 elsewhere).
double heap_in_use() {
#if defined(__GLIBC__)
  const auto info = mallinfo2();
  return double(info.uordblks) + double(info.hblkhd);  // heap chunks + mmap-ed blocks
#else
  return 0.0;
#endif
}

template <class Divergence, class Gradient>
void train_iteration(benchmark::State& state, Gradient gradient) {
  std::mt19937_64 rng(0);
  const auto net = examples::make_ffjord_network(2, 64);
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  const nde::cnf_options options{.t1 = 0.5, .rtol = 1e-5, .atol = 1e-5};
  const double heap_before = heap_in_use();
  nde::cnf<net_type, Divergence, nde::dopri5, Gradient> flow(net, theta, {}, options, gradient);
  nde::optim::adam<double> adam(theta.size(), {.learning_rate = 1e-3, .weight_decay = 1e-5});
  auto iterate = [&]() {
    const Eigen::MatrixXd x = nde::datasets::eight_gaussians(100, rng);
    const auto l = flow.loss_and_gradient(x, rng);
    if (!l.success()) return l;
    adam.step(flow.params(), l.gradient);
    return l;
  };
  const int warm = bench::smoke() ? 2 : 300;
  for (int i = 0; i < warm; ++i) {
    if (!iterate().success()) {
      state.SkipWithError("warm-up solve failed");
      return;
    }
  }
  // What the model keeps between iterations: its tape, workspaces and buffers, grown to the
  // largest solve so far.
  const double model_heap = heap_in_use() - heap_before;
  double nfe_forward = 0, nfe_backward = 0, f_backward = 0, nll = 0;
  for (auto _ : state) {
    const auto l = iterate();
    if (!l.success()) {
      state.SkipWithError(l.message.c_str());
      return;
    }
    nfe_forward += double(l.stats.forward_rhs_evals);
    nfe_backward += double(l.stats.backward_vjp_evals);
    // The backsolve adjoint's backward f evaluations are the vjps' own forward passes.
    if (!std::is_same_v<Gradient, nde::backsolve_adjoint>)
      f_backward += double(l.stats.backward_rhs_evals);
    nll += l.nll;
  }
  const double n = double(state.iterations());
  state.counters["nfe_forward"] = nfe_forward / n;
  state.counters["nfe_backward"] = nfe_backward / n;
  state.counters["f_backward"] = f_backward / n;
  state.counters["train_nll"] = nll / n;
  state.counters["model_heap_kib"] = model_heap / 1024.0;
  // 177 ms divided by the time per iteration (kIsIterationInvariantRate: value × iterations /
  // time, so value = 0.177 s gives 0.177 / (time per iteration)).
  state.counters["speedup_vs_ffjord"] = benchmark::Counter(
      ffjord_ms_per_iteration * 1e-3, benchmark::Counter::kIsIterationInvariantRate);
}

template <class Divergence>
void divergence(benchmark::State& state) {
  const auto d = Eigen::Index(state.range(0));
  std::mt19937_64 rng(1);
  const auto net = examples::make_ffjord_network(d, 64);
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  nde::cnf_field<net_type, Divergence> field(net);
  const Eigen::Index batch = 100;
  Eigen::MatrixXd y = Eigen::MatrixXd::Zero(d + 1, batch);
  for (Eigen::Index j = 0; j < batch; ++j)
    for (Eigen::Index i = 0; i < d; ++i) y(i, j) = nn::standard_normal(rng);
  field.draw_probe(batch, rng);
  Eigen::MatrixXd dy, a = Eigen::MatrixXd::Ones(d + 1, batch), a_y;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Zero(theta.size());
  for (auto _ : state) {
    field(0.25, y, theta, dy);
    field.vjp(0.25, y, theta, a, a_y, a_theta);
    benchmark::DoNotOptimize(a_theta.data());
  }
  state.counters["tangents_per_sample"] = double(field.tangents_per_sample());
}

}  // namespace

int main(int argc, char** argv) {
  const nde::backsolve_adjoint backsolve{.controller = {.rtol = 1e-5, .atol = 1e-5}};
  benchmark::RegisterBenchmark("cnf_train_iteration/backsolve/exact", [backsolve](auto& s) {
    train_iteration<nde::exact_trace>(s, backsolve);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("cnf_train_iteration/backsolve/hutchinson", [backsolve](auto& s) {
    train_iteration<nde::hutchinson_trace>(s, backsolve);
  })->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("cnf_train_iteration/discrete/exact", [](auto& s) {
    train_iteration<nde::exact_trace>(s, nde::discrete_adjoint{});
  })->Unit(benchmark::kMillisecond);
  const nde::checkpointed_adjoint checkpointed{.controller = {.rtol = 1e-5, .atol = 1e-5}};
  benchmark::RegisterBenchmark("cnf_train_iteration/checkpointed/exact", [checkpointed](auto& s) {
    train_iteration<nde::exact_trace>(s, checkpointed);
  })->Unit(benchmark::kMillisecond);
  for (const int d : {2, 16, 64}) {
    if (bench::smoke() && d != 2) continue;
    benchmark::RegisterBenchmark("cnf_divergence/exact",
                                 [](auto& s) { divergence<nde::exact_trace>(s); })
        ->Arg(d)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("cnf_divergence/hutchinson",
                                 [](auto& s) { divergence<nde::hutchinson_trace>(s); })
        ->Arg(d)
        ->Unit(benchmark::kMicrosecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
