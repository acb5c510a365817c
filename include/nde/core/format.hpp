/// \file
/// \brief (detail) The one way nde prints numbers into messages: full precision (17
/// significant digits), so that a time or a tolerance in an error message can be pasted back
/// into code and reproduce the failure exactly.
#pragma once

#include <sstream>
#include <string>

namespace nde::detail {

/// Concatenates the parts into one string; floating-point parts are printed with 17
/// significant digits (round-trip precision for double).
template <class... Parts>
std::string concatenate(const Parts&... parts) {
  std::ostringstream stream;
  stream.precision(17);
  (stream << ... << parts);
  return stream.str();
}

/// One number with 17 significant digits.
template <class X>
std::string full_precision(const X& x) {
  return concatenate(x);
}

}  // namespace nde::detail
