// Memory of the reversible adjoint, measured by counting heap bytes: the backward pass of an
// algebraically reversible solver rebuilds the states instead of storing them, so its heap peak
// does not depend on the number of steps. This program interposes glibc's malloc family (as
// tests/models/test_memory.cpp does, here counting the requested bytes exactly) to track live
// bytes and their peak; not built under AddressSanitizer, which owns malloc itself.
#include <nde/adjoint/differentiable_solve.hpp>
#include <nde/models/neural_ode.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/solvers/mali.hpp>
#include <nde/solvers/reversible_heun.hpp>
#include <nde/solvers/reversible_rk.hpp>
#include <nde/solvers/rk4.hpp>
#include <nde/terms/network_field.hpp>

#include <catch.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

// Exact requested bytes, not malloc_usable_size (which varies by a few bytes with the state of
// glibc's free lists): each block carries a 16-byte header {raw pointer, requested size} just
// before the pointer handed out, so the same sequence of requests gives the same peak.
namespace {
std::atomic<long long> live_bytes{0};
std::atomic<long long> peak_bytes{0};

void account(long long delta) {
  const long long now = live_bytes += delta;
  long long peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}
struct header {
  void* raw;
  std::size_t size;
};
static_assert(sizeof(header) == 16);
void* finish(void* raw, std::size_t offset, std::size_t size) {
  if (raw == nullptr) return nullptr;
  char* out = static_cast<char*>(raw) + offset;
  auto* h = reinterpret_cast<header*>(out - sizeof(header));
  h->raw = raw;
  h->size = size;
  account(static_cast<long long>(size));
  return out;
}
void* aligned(std::size_t alignment, std::size_t size) {
  const std::size_t offset = alignment > sizeof(header) ? alignment : sizeof(header);
  return finish(__libc_memalign(alignment, size + offset), offset, size);
}
const header* header_of(void* p) {
  return reinterpret_cast<const header*>(static_cast<char*>(p) - sizeof(header));
}
}  // namespace

extern "C" {
void* malloc(std::size_t size) { return finish(__libc_malloc(size + 16), 16, size); }
void* calloc(std::size_t count, std::size_t size) {
  void* p = malloc(count * size);
  if (p) std::memset(p, 0, count * size);
  return p;
}
void free(void* p) {
  if (p == nullptr) return;
  const header* h = header_of(p);
  account(-static_cast<long long>(h->size));
  __libc_free(h->raw);
}
void* realloc(void* old, std::size_t size) {
  if (old == nullptr) return malloc(size);
  if (size == 0) {
    free(old);
    return nullptr;
  }
  void* p = malloc(size);
  if (p == nullptr) return nullptr;
  const std::size_t keep = std::min(size, header_of(old)->size);
  std::memcpy(p, old, keep);
  free(old);
  return p;
}
void* memalign(std::size_t alignment, std::size_t size) { return aligned(alignment, size); }
void* aligned_alloc(std::size_t alignment, std::size_t size) { return aligned(alignment, size); }
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  void* p = aligned(alignment, size);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void* valloc(std::size_t size) { return aligned(4096, size); }
void* pvalloc(std::size_t size) { return aligned(4096, (size + 4095) / 4096 * 4096); }
std::size_t malloc_usable_size(void* p) { return p ? header_of(p)->size : 0; }
}

namespace {

using state = Eigen::VectorXd;  // dynamic on purpose: every buffer is on the heap
using net_type =
    nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
using field_type = nde::network_field<net_type, state>;

struct measurement {
  long long forward_peak;
  long long backward_peak;
  nde::gradient_stats stats;
};

template <class Method>
measurement measure(std::size_t steps, Method method, nde::reversible_adjoint gradient = {}) {
  net_type net({2, 16, 2});
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(3);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  const double t1 = 1.0;
  nde::neural_ode<field_type, Method, nde::reversible_adjoint, state> model(
      field_type(net), theta, gradient,
      {.controller = nde::constant_step{.dt = t1 / double(steps)}}, method);
  state y0(2);
  y0 << 0.5, -0.2;
  const std::vector<double> ts{0.0, t1};
  const long long before_forward = live_bytes.load();
  peak_bytes = before_forward;
  const auto& fr = model.forward(y0, ts);
  const long long forward_peak = peak_bytes.load() - before_forward;
  REQUIRE(fr.status == nde::status::success);
  REQUIRE(fr.stats.accepted_steps == steps);
  std::vector<state> c{state::Zero(2), fr.ys.back()};
  const long long before_backward = live_bytes.load();
  peak_bytes = before_backward;
  const auto g = model.backward(std::span<const state>(c));
  // Read before any assertion: a reporter that prints passing ones allocates.
  const long long backward_peak = peak_bytes.load() - before_backward;
  INFO(g.message);
  REQUIRE(g.status == nde::status::success);  // every step was reversed
  REQUIRE(g.stats.backward_steps == steps);
  return {forward_peak, backward_peak, g.stats};
}

template <class Method>
void check_constant_memory(Method method) {
  (void)measure(10, method);  // one-time lazy allocations of the process
  const auto small = measure(1000, method);
  const auto large = measure(100000, method);
  INFO("forward peak bytes: " << small.forward_peak << " (1e3 steps) vs " << large.forward_peak
                              << " (1e5 steps)");
  INFO("backward peak bytes: " << small.backward_peak << " vs " << large.backward_peak);
  CHECK(large.backward_peak == small.backward_peak);
  CHECK(large.backward_peak < 16 * 1024);
  CHECK(large.stats.peak_stored_states == 2);
  // The forward pass records one time and one flag byte per step (vectors at most double).
  CHECK(large.forward_peak - small.forward_peak <= 2 * 9 * 99000 + 4096);
}

}  // namespace

TEST_CASE("reversible Heun: backward heap peak does not grow with the steps",
          "[reversible][memory]") {
  check_constant_memory(nde::reversible_heun{});
}

TEST_CASE("MALI: backward heap peak does not grow with the steps", "[reversible][memory]") {
  check_constant_memory(nde::mali{});
}

TEST_CASE("reversible RK: backward heap peak does not grow with the steps",
          "[reversible][memory]") {
  // λ = 1: no λ^(-steps) growth of the round-off over 1e5 inverse steps (with λ = 0.999 it
  // would reach e^100 and the gradient would be reported as diverged).
  check_constant_memory(nde::reversible_rk<nde::rk4_tableau>(1.0));
}

TEST_CASE("the stored-state reference mode does store the states", "[reversible][memory]") {
  // The measurement sees O(steps) storage when there is some: the reference mode keeps two
  // states a step (in the forward pass).
  (void)measure(10, nde::mali{}, {.store_states = true});
  const auto small = measure(1000, nde::mali{}, {.store_states = true});
  const auto large = measure(100000, nde::mali{}, {.store_states = true});
  CHECK(large.forward_peak - small.forward_peak >= 2 * 16 * 99000);
  CHECK(large.stats.peak_stored_states == 200000);
}
