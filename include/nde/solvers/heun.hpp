/// \file
/// \brief Heun's method (explicit trapezoidal rule), order 2, with forward Euler embedded
/// as the order-1 error estimator: the adaptive Heun–Euler 2(1) pair.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of Heun's method with the embedded Euler error estimate.
struct heun_tableau {
  /// \brief Number of stages s.
  static constexpr int stages = 2;
  /// \brief Order of the propagated (trapezoidal) solution.
  static constexpr int order = 2;
  /// \brief Order of the embedded forward Euler solution used for the error estimate.
  static constexpr int error_order = 1;
  /// \brief Not FSAL: every step evaluates all stages.
  static constexpr bool fsal = false;
  /// \brief Butcher matrix A: a_21 = 1 (an Euler predictor).
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {1.0, 0.0}}};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i (trapezoidal rule).
  static constexpr std::array<double, 2> b{0.5, 0.5};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h.
  static constexpr std::array<double, 2> c{0.0, 1.0};
  /// b - b_hat with b_hat = (1, 0), forward Euler.
  static constexpr std::array<double, 2> b_error{-0.5, 0.5};
};

/// \brief Heun's method, adaptive through its Euler 2(1) embedded pair.
using heun = explicit_rk<heun_tableau>;

}  // namespace nde
