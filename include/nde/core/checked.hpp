/// \file
/// \brief Overflow-checked arithmetic for sizes, offsets and shape products.
///
/// Every size that nde derives from user input or from a file (a block's shape product, an
/// offset plus a size, a byte count) goes through these helpers, so a hostile shape such as
/// `{2^32, 2^32}` (whose product wraps to 0 in 64 bits) or a negative dimension is reported
/// instead of reaching memory. The `std::optional` forms never throw; the `*_or_throw` forms
/// raise `nde::error` (`invalid_input`) with a message naming the quantity. All are O(1),
/// except the shape product, O(rank).
#pragma once

#include "nde/core/status.hpp"

#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace nde {

/// \brief `a + b`, or `std::nullopt` if it overflows `Integer`.
template <std::integral Integer>
[[nodiscard]] constexpr std::optional<Integer> checked_add(Integer a, Integer b) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  Integer result{};
  if (__builtin_add_overflow(a, b, &result)) return std::nullopt;
  return result;
#else
  using limits = std::numeric_limits<Integer>;
  if (b > 0 ? a > limits::max() - b : a < limits::min() - b) return std::nullopt;
  return Integer(a + b);
#endif
}

/// \brief `a * b`, or `std::nullopt` if it overflows `Integer`.
template <std::integral Integer>
[[nodiscard]] constexpr std::optional<Integer> checked_mul(Integer a, Integer b) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  Integer result{};
  if (__builtin_mul_overflow(a, b, &result)) return std::nullopt;
  return result;
#else
  using limits = std::numeric_limits<Integer>;
  if constexpr (std::is_signed_v<Integer>) {  // CERT INT32-C
    const bool overflow = a > 0 ? (b > 0 ? a > limits::max() / b : b < limits::min() / a)
                                : (b > 0 ? a < limits::min() / b : a != 0 && b < limits::max() / a);
    if (overflow) return std::nullopt;
  } else if (b != 0 && a > limits::max() / b) {
    return std::nullopt;
  }
  return Integer(a * b);
#endif
}

/// \brief Number of elements of a tensor of shape `shape` (1 for rank 0), or `std::nullopt`
/// if a dimension is negative or the product exceeds `limit`.
///
/// The product of the **non-zero** dimensions must stay within `limit` too, so that an empty
/// shape such as `{0, 2^62, 2^62}` is refused as well: code that computes strides from the
/// other dimensions could otherwise still overflow. O(rank).
[[nodiscard]] constexpr std::optional<std::int64_t> checked_size(
    std::span<const std::int64_t> shape,
    std::int64_t limit = std::numeric_limits<std::int64_t>::max()) noexcept {
  std::int64_t nonzero = 1;
  bool empty = false;
  for (const std::int64_t dimension : shape) {
    if (dimension < 0) return std::nullopt;
    if (dimension == 0) {
      empty = true;
      continue;
    }
    const auto product = checked_mul(nonzero, dimension);
    if (!product || *product > limit) return std::nullopt;
    nonzero = *product;
  }
  return empty ? 0 : nonzero;
}

/// \brief `a + b`; \throws nde::error (`invalid_input`) `"<what> overflows: a + b"` on overflow.
template <std::integral Integer>
[[nodiscard]] Integer add_or_throw(Integer a, Integer b, std::string_view what) {
  if (const auto sum = checked_add(a, b)) return *sum;
  throw error(status::invalid_input,
              std::string(what) + " overflows: " + std::to_string(a) + " + " + std::to_string(b));
}

/// \brief `a * b`; \throws nde::error (`invalid_input`) `"<what> overflows: a * b"` on overflow.
template <std::integral Integer>
[[nodiscard]] Integer mul_or_throw(Integer a, Integer b, std::string_view what) {
  if (const auto product = checked_mul(a, b)) return *product;
  throw error(status::invalid_input,
              std::string(what) + " overflows: " + std::to_string(a) + " * " + std::to_string(b));
}

/// \brief `"{d0, d1, ...}"`, for messages.
inline std::string shape_to_string(std::span<const std::int64_t> shape) {
  std::string text = "{";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "}";
}

/// \brief Element count of `shape` (see \ref checked_size()).
/// \throws nde::error (`invalid_input`) naming `what`, the shape, and whether a dimension is
/// negative or the product overflows (exceeds `limit`).
[[nodiscard]] inline std::int64_t size_or_throw(
    std::span<const std::int64_t> shape, std::string_view what,
    std::int64_t limit = std::numeric_limits<std::int64_t>::max()) {
  if (const auto size = checked_size(shape, limit)) return *size;
  for (const std::int64_t dimension : shape)
    if (dimension < 0)
      throw error(status::invalid_input, std::string(what) + ": shape " + shape_to_string(shape) +
                                             " has a negative dimension");
  throw error(status::invalid_input, std::string(what) + ": the product of shape " +
                                         shape_to_string(shape) + " overflows (limit " +
                                         std::to_string(limit) + ")");
}

}  // namespace nde
