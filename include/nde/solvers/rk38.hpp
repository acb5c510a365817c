/// \file
/// \brief Kutta's 3/8 rule, order 4 (Kutta 1901; Hairer, Nørsett & Wanner I,
/// Table II.1.2, right). No error estimate: use it with `constant_step` or `fixed_times`.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of Kutta's 3/8 rule.
struct rk38_tableau {
  /// \brief Number of stages s.
  static constexpr int stages = 4;
  /// \brief Order of accuracy (global error O(h⁴)).
  static constexpr int order = 4;
  /// \brief Not FSAL: every step evaluates all stages.
  static constexpr bool fsal = false;
  /// \brief Butcher matrix A (Hairer, Nørsett & Wanner I, Table II.1.2, right).
  static constexpr std::array<std::array<double, 4>, 4> a{{
      {0.0, 0.0, 0.0, 0.0},
      {1.0 / 3, 0.0, 0.0, 0.0},
      {-1.0 / 3, 1.0, 0.0, 0.0},
      {1.0, -1.0, 1.0, 0.0},
  }};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i (1/8, 3/8, 3/8, 1/8).
  static constexpr std::array<double, 4> b{1.0 / 8, 3.0 / 8, 3.0 / 8, 1.0 / 8};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h.
  static constexpr std::array<double, 4> c{0.0, 1.0 / 3, 2.0 / 3, 1.0};
};

/// \brief Kutta's 3/8 rule.
using rk38 = explicit_rk<rk38_tableau>;

}  // namespace nde
