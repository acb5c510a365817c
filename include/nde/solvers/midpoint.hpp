/// \file
/// \brief Explicit midpoint rule, order 2 (Runge 1895; Hairer, Nørsett & Wanner I, eq. II.1.3).
/// No error estimate: use it with `constant_step` or `fixed_times`.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of the explicit midpoint rule.
struct midpoint_tableau {
  /// \brief Number of stages s.
  static constexpr int stages = 2;
  /// \brief Order of accuracy (global error O(h²)).
  static constexpr int order = 2;
  /// \brief Not FSAL: every step evaluates all stages.
  static constexpr bool fsal = false;
  /// \brief Butcher matrix A (Hairer, Nørsett & Wanner I, eq. II.1.3): a_21 = 1/2.
  static constexpr std::array<std::array<double, 2>, 2> a{{{0.0, 0.0}, {0.5, 0.0}}};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i: only the midpoint stage
  /// counts.
  static constexpr std::array<double, 2> b{0.0, 1.0};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h.
  static constexpr std::array<double, 2> c{0.0, 0.5};
};

/// \brief Explicit midpoint rule: y1 = y0 + h f(t0 + h/2, y0 + h/2 f(t0, y0)).
using midpoint = explicit_rk<midpoint_tableau>;

}  // namespace nde
