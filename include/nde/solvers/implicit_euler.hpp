/// \file
/// \brief `nde::implicit_euler`: the backward Euler method `y1 = y0 + h f(t1, y1)` (Hairer &
/// Wanner, *Solving ODEs II*, IV.3), order 1, L-stable (R(z) = 1/(1 − z)), as an ESDIRK with
/// one implicit stage (γ = 1) over the diagonally implicit engine.
///
/// Error estimate: the difference to the trapezoidal rule, `h/2 (k_1 − k_0)` with k_0 = f(t0, y0)
/// and k_1 = f(t1, y1): it estimates the O(h²) local error of the order-1 solution
/// (`error_order = 1`, controller exponent 1/2). The trapezoidal rule is not L-stable
/// (R(∞) = −1), so the estimate is filtered by (I − hJ̃)⁻¹ (Shampine's filter, Hairer & Wanner
/// IV.8), which keeps it from rejecting large steps on stiff components.
///
/// Cost per step: one implicit stage (its Newton iterations); f(t0, y0) is the previous step's
/// stage. Dense output: cubic Hermite (order 3, more than the method's).
#pragma once

#include "nde/solvers/diagonally_implicit.hpp"

#include <array>

namespace nde {

/// \brief Tableau of backward Euler with an explicit first stage and the trapezoidal embedding.
struct implicit_euler_tableau {
  static constexpr int stages = 2;                ///< k_0 = f(t0, y0), k_1 implicit.
  static constexpr int order = 1;                 ///< Order of y1.
  static constexpr int error_order = 1;           ///< The estimate is O(h²): min(1, 2) + 1.
  static constexpr double gamma = 1.0;            ///< The diagonal.
  static constexpr bool stiffly_accurate = true;  ///< y1 is the implicit stage.
  static constexpr bool filter_error = true;      ///< The trapezoidal rule is not L-stable.
  /// \brief RK matrix (row 0: the explicit stage).
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {0.0, 1.0}}};
  static constexpr std::array<double, 2> b{0.0, 1.0};         ///< Weights.
  static constexpr std::array<double, 2> c{0.0, 1.0};         ///< Nodes.
  static constexpr std::array<double, 2> b_error{-0.5, 0.5};  ///< b − b̂, b̂ the trapezoidal rule.
};

/// \brief Backward Euler (see the file comment).
using implicit_euler = diagonally_implicit<implicit_euler_tableau>;

}  // namespace nde
