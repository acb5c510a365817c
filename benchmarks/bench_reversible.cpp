// The O(1)-memory reversible adjoint against the discrete adjoint with stored states and with
// binomial checkpointing, on the spiral network of W1 (2-50-2, y0 = (2, 0), t in [0, 25]) with
// a fixed number of RK4-class steps (1e3 and 1e4): the reversible RK wrapper of RK4
// (McCallum & Foster 2024, lambda = 0.999), reversible Heun and MALI with `reversible_adjoint`,
// and RK4 itself with `discrete_adjoint{}` and `discrete_adjoint{.max_checkpoints = 16}`.
//
// Counters (per iteration): forward_s, backward_s (thread CPU seconds of the two passes),
// nfe_forward / nfe_backward / vjps (evaluations), stored_states (gradient_stats'
// peak_stored_states: states held for the backward pass), forward_peak_kib / backward_peak_kib
// (heap peak of each pass above its start, KiB, from an interposed malloc; the forward pass
// includes the tape: step times, stored states), reconstruction_error
// (‖y0_rebuilt − y0‖∞ of the reversible adjoint). Run with --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true for medians.
#include "common/workloads.hpp"

#include <nde/adjoint/differentiable_solve.hpp>
#include <nde/models/neural_ode.hpp>
#include <nde/solvers/mali.hpp>
#include <nde/solvers/reversible_heun.hpp>
#include <nde/solvers/reversible_rk.hpp>
#include <nde/solvers/rk4.hpp>

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <atomic>
#include <span>
#include <vector>

// ---- heap bytes: live and peak (glibc; interposes the malloc family) -------------------------
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<long long> live_bytes{0};
std::atomic<long long> peak_bytes{0};
void account(long long delta) {
  const long long now = live_bytes += delta;
  long long peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}
long long usable(void* p) { return p ? static_cast<long long>(malloc_usable_size(p)) : 0; }
}  // namespace

#if !defined(__SANITIZE_ADDRESS__)
extern "C" {
void* malloc(std::size_t size) {
  void* p = __libc_malloc(size);
  account(usable(p));
  return p;
}
void* calloc(std::size_t count, std::size_t size) {
  void* p = __libc_calloc(count, size);
  account(usable(p));
  return p;
}
void* realloc(void* old, std::size_t size) {
  const long long before = usable(old);
  void* p = __libc_realloc(old, size);
  if (p || size == 0) account(usable(p) - before);
  return p;
}
void free(void* p) {
  account(-usable(p));
  __libc_free(p);
}
}
#endif

namespace {

using vec = Eigen::Vector2d;
using field_type = nde::network_field<bench::spiral_network, vec>;

double t1() { return bench::smoke() ? 1.0 : bench::w1_t1(); }

template <class Method, class Gradient>
void gradient(benchmark::State& st, Method method, Gradient gradient_method) {
  const auto steps = static_cast<std::size_t>(st.range(0));
  const field_type field(bench::make_spiral_network(), 20);
  const Eigen::VectorXd theta = bench::spiral_params(field.network());
  nde::neural_ode<field_type, Method, Gradient, vec> model(
      field, theta, gradient_method,
      {.controller = nde::constant_step{.dt = t1() / static_cast<double>(steps)},
       .max_steps = static_cast<std::int64_t>(2 * steps)},
      method);
  const vec y0(2.0, 0.0);
  const std::vector<double> ts{0.0, t1()};
  std::vector<vec> cotangents{vec::Zero(), vec::Ones()};
  double forward = 0, backward = 0;
  nde::gradient_stats stats;
  long long forward_peak = 0, backward_peak = 0;
  for (auto _ : st) {
    long long base = live_bytes.load();
    peak_bytes = base;
    auto start = bench::thread_seconds();
    const auto& fr = model.forward(y0, ts);
    forward += bench::thread_seconds() - start;
    forward_peak = std::max(forward_peak, peak_bytes.load() - base);
    if (fr.status != nde::status::success) {
      st.SkipWithError(fr.message.c_str());
      break;
    }
    base = live_bytes.load();
    peak_bytes = base;
    start = bench::thread_seconds();
    const auto g = model.backward(std::span<const vec>(cotangents));
    backward += bench::thread_seconds() - start;
    backward_peak = std::max(backward_peak, peak_bytes.load() - base);
    if (g.status != nde::status::success) {
      st.SkipWithError(g.message.c_str());
      break;
    }
    stats = g.stats;
    benchmark::DoNotOptimize(g.params.data());
  }
  const auto n = static_cast<double>(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.counters["forward_s"] = forward / n;
  st.counters["backward_s"] = backward / n;
  st.counters["nfe_forward"] = static_cast<double>(stats.forward_rhs_evals);
  st.counters["nfe_backward"] = static_cast<double>(stats.backward_rhs_evals);
  st.counters["vjps"] = static_cast<double>(stats.backward_vjp_evals);
  st.counters["stored_states"] = static_cast<double>(stats.peak_stored_states);
  st.counters["forward_peak_kib"] = static_cast<double>(forward_peak) / 1024.0;
  st.counters["backward_peak_kib"] = static_cast<double>(backward_peak) / 1024.0;
  st.counters["reconstruction_error"] = stats.reconstruction_error;
}

void reversible_rk4(benchmark::State& st) {
  gradient(st, nde::reversible_rk<nde::rk4_tableau>{}, nde::reversible_adjoint{});
}
void reversible_heun(benchmark::State& st) {
  gradient(st, nde::reversible_heun{}, nde::reversible_adjoint{});
}
void mali(benchmark::State& st) { gradient(st, nde::mali{}, nde::reversible_adjoint{}); }
void rk4_discrete_stored(benchmark::State& st) {
  gradient(st, nde::rk4{}, nde::discrete_adjoint{});
}
void rk4_discrete_checkpointed(benchmark::State& st) {
  gradient(st, nde::rk4{}, nde::discrete_adjoint{.max_checkpoints = 16});
}
void reversible_rk4_stored(benchmark::State& st) {
  gradient(st, nde::reversible_rk<nde::rk4_tableau>{},
           nde::reversible_adjoint{.store_states = true});
}

}  // namespace

BENCHMARK(reversible_rk4)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(reversible_rk4_stored)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(reversible_heun)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(mali)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(rk4_discrete_stored)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(rk4_discrete_checkpointed)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
