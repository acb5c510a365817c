// Counts heap allocations of the whole process by interposing glibc's malloc family (Eigen's
// aligned allocator calls std::malloc; operator new calls malloc too). Include this header in
// exactly one translation unit of a benchmark binary. Linux/glibc only; elsewhere the counter
// stays at zero and `alloc_counter::available` is false.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace bench {
inline std::atomic<std::uint64_t> heap_allocations{0};
}  // namespace bench

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t size) noexcept {
  bench::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  bench::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, std::size_t size) noexcept {
  bench::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(pointer, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  bench::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  bench::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  bench::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = __libc_memalign(alignment, size);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void free(void* pointer) noexcept { __libc_free(pointer); }
}
namespace bench {
inline constexpr bool alloc_counter_available = true;
}
#else
namespace bench {
inline constexpr bool alloc_counter_available = false;
}
#endif

namespace bench {
/// Allocations since construction.
struct allocation_scope {
  std::uint64_t start = heap_allocations.load(std::memory_order_relaxed);
  [[nodiscard]] std::uint64_t count() const {
    return heap_allocations.load(std::memory_order_relaxed) - start;
  }
};
}  // namespace bench
