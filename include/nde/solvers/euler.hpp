/// \file
/// \brief Forward Euler, order 1 (Euler 1768). No error estimate: use it with
/// `constant_step` or `fixed_times`.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of the forward Euler method.
struct euler_tableau {
  /// \brief Number of stages s.
  static constexpr int stages = 1;
  /// \brief Order of accuracy (global error O(h)).
  static constexpr int order = 1;
  /// \brief Not FSAL: every step evaluates all stages.
  static constexpr bool fsal = false;
  /// \brief Butcher matrix A = (0).
  static constexpr std::array<std::array<double, 1>, 1> a{{{0.0}}};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i (b = 1).
  static constexpr std::array<double, 1> b{1.0};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h (c = 0).
  static constexpr std::array<double, 1> c{0.0};
};

/// \brief Forward Euler: y1 = y0 + h f(t0, y0).
using euler = explicit_rk<euler_tableau>;

}  // namespace nde
