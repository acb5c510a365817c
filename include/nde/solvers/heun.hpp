/// \file
/// \brief Heun's method (explicit trapezoidal rule), order 2, with forward Euler embedded
/// as the order-1 error estimator: the adaptive Heun–Euler 2(1) pair.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of Heun's method with the embedded Euler error estimate.
struct heun_tableau {
  static constexpr int stages = 2;
  static constexpr int order = 2;
  static constexpr int error_order = 1;
  static constexpr bool fsal = false;
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {1.0, 0.0}}};
  static constexpr std::array<double, 2> b{0.5, 0.5};
  static constexpr std::array<double, 2> c{0.0, 1.0};
  /// b - b_hat with b_hat = (1, 0), forward Euler.
  static constexpr std::array<double, 2> b_error{-0.5, 0.5};
};

/// \brief Heun's method, adaptive through its Euler 2(1) embedded pair.
using heun = explicit_rk<heun_tableau>;

}  // namespace nde
