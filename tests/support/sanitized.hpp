// Whether this test program is built with AddressSanitizer (the asan-ubsan preset, -O0, where
// Eigen-heavy code runs about 100x slower than in the dev build). Long-running tests use it to
// shrink their work under the sanitizers: the same code paths run, the dev build keeps the
// full-size checks.
#pragma once

namespace nde_test {
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif
}  // namespace nde_test
