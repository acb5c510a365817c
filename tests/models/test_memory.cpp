// Memory of the backward passes, measured by counting heap bytes. This program interposes
// glibc's malloc family (Eigen allocates with malloc, the standard library with operator new,
// which calls malloc) to track live bytes and their peak. Not built under AddressSanitizer,
// which owns malloc itself.
#include <nde/nde.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <random>

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

namespace {

using state = Eigen::VectorXd;  // dynamic on purpose: every buffer is on the heap
using net_type =
    nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
using field_type = nde::network_field<net_type, state>;

template <class Gradient>
struct measurement {
  long long forward_peak;
  long long backward_peak;
  nde::gradient_stats stats;
};

template <class Gradient>
measurement<Gradient> measure(std::size_t steps, Gradient method) {
  net_type net({2, 16, 2});
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(3);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  const double t1 = 2.0;
  nde::neural_ode<field_type, nde::rk4, Gradient, state> model(
      field_type(net), theta, method, {.controller = nde::constant_step{.dt = t1 / double(steps)}});
  state y0(2);
  y0 << 0.5, -0.2;
  const std::vector<double> ts{0.0, t1};
  const long long before_forward = live_bytes.load();
  peak_bytes = before_forward;
  const auto& fr = model.forward(y0, ts);
  REQUIRE(fr.status == nde::status::success);
  REQUIRE(fr.stats.accepted_steps == steps);
  const long long forward_peak = peak_bytes.load() - before_forward;
  std::vector<state> c{state::Zero(2), fr.ys.back()};
  const long long before_backward = live_bytes.load();
  peak_bytes = before_backward;
  const auto g = model.backward(std::span<const state>(c));
  REQUIRE(g.status == nde::status::success);
  return {forward_peak, peak_bytes.load() - before_backward, g.stats};
}

}  // namespace

TEST_CASE("backsolve adjoint memory does not grow with the number of steps", "[models][memory]") {
  // One-time lazy allocations of the process (Eigen's cache-size query, locale) happen here.
  (void)measure(10, nde::backsolve_adjoint{});
  const auto small =
      measure(1000, nde::backsolve_adjoint{.controller = {.rtol = 1e-6, .atol = 1e-9}});
  const auto large =
      measure(100000, nde::backsolve_adjoint{.controller = {.rtol = 1e-6, .atol = 1e-9}});
  INFO("forward peak bytes: " << small.forward_peak << " (1e3 steps) vs " << large.forward_peak
                              << " (1e5 steps)");
  INFO("backward peak bytes: " << small.backward_peak << " vs " << large.backward_peak);
  // 100x the steps; O(steps) storage would add at least 8 bytes a step (~800 kB).
  CHECK(large.forward_peak <= small.forward_peak + 64);
  CHECK(large.backward_peak <= small.backward_peak + 64);
  CHECK(large.backward_peak < 16 * 1024);
}

TEST_CASE("checkpointed discrete adjoint stays within its state budget", "[models][memory]") {
  const std::size_t budget = 4;
  const auto small = measure(1000, nde::discrete_adjoint{.max_checkpoints = budget});
  const auto large = measure(20000, nde::discrete_adjoint{.max_checkpoints = budget});
  CHECK(small.stats.peak_stored_states <= budget);
  CHECK(large.stats.peak_stored_states <= budget);
  // What grows is the recorded step times: 8 bytes a step, up to 3x while a std::vector
  // reallocates; a stored 2-state would add 16 more.
  const long long per_step = (large.forward_peak - small.forward_peak) / (20000 - 1000);
  INFO("forward bytes per step: " << per_step);
  CHECK(per_step <= 3 * 8);
  const auto unbounded = measure(20000, nde::discrete_adjoint{});
  CHECK(unbounded.stats.peak_stored_states == 19999);  // every step start but the first (an output)
  CHECK(unbounded.forward_peak > large.forward_peak + 20000 * 2 * 8);
}
