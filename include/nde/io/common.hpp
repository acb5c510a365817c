/// \file
/// \brief Shared vocabulary of the file readers: the status-and-message result type
/// and the scalar type codes.
///
/// Every reader in `nde::io` comes in two forms: a non-throwing one that returns an
/// \ref nde::io::io_status (a status code plus a message that names exactly what is
/// wrong, e.g. `"truncated: ..."`, `"checksum mismatch: ..."`), and a throwing wrapper
/// that raises `nde::error` with the same message prefixed by the file name.
#pragma once

#include "nde/core/status.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace nde::io {

/// \brief IEEE-754 scalar types a file may store.
enum class scalar_type : std::uint8_t {
  float32 = 1,  ///< binary32 (`float`, NumPy `<f4`).
  float64 = 2,  ///< binary64 (`double`, NumPy `<f8`).
};

/// \brief `"float32"` or `"float64"`.
constexpr std::string_view to_string(scalar_type type) noexcept {
  return type == scalar_type::float32   ? "float32"
         : type == scalar_type::float64 ? "float64"
                                        : "unknown";
}

/// \brief The `nde::io::scalar_type` of `float` or `double`.
template <class Scalar>
constexpr scalar_type scalar_type_of() noexcept {
  static_assert(std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>,
                "nde::io stores float or double parameters only");
  return std::is_same_v<Scalar, float> ? scalar_type::float32 : scalar_type::float64;
}

/// \brief Outcome of a read: `code == status::success`, or a failure code
/// (`status::invalid_input` for every malformed, truncated or mismatched input and
/// for I/O errors) with a message naming the problem. `[[nodiscard]]`: a read or write whose
/// status is ignored is a compiler warning.
struct [[nodiscard]] io_status {
  status code = status::success;  ///< `success` or the failure class.
  std::string message;            ///< Empty on success; otherwise what is wrong, and where.

  /// \brief True on success.
  [[nodiscard]] bool ok() const noexcept { return code == status::success; }
  /// \brief True on success.
  explicit operator bool() const noexcept { return ok(); }

  /// \brief A failure with code `invalid_input`.
  [[nodiscard]] static io_status failure(std::string what) {
    return {status::invalid_input, std::move(what)};
  }

  /// \brief Throws `nde::error(code, context + ": " + message)` unless this is a success.
  void throw_if_error(std::string_view context) const {
    if (!ok()) throw error(code, std::string(context) + ": " + message);
  }
};

}  // namespace nde::io
