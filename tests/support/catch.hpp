// Catch2 compatibility: the tests include this one header and build against
// Catch2 v2 (Debian's 2.13, single header) or Catch2 v3 (split headers).
// Tests spell `Catch::Approx` and `Catch::Contains`, which exist in both through this header.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
namespace Catch {
using Matchers::ContainsSubstring;
inline auto Contains(const std::string& text) { return Matchers::ContainsSubstring(text); }
}  // namespace Catch
#else
#include <catch2/catch.hpp>
namespace Catch {
using Detail::Approx;
}  // namespace Catch
#endif
