/// \file
/// \brief Bogacki–Shampine 3(2) pair with FSAL (P. Bogacki, L. F. Shampine, "A 3(2) pair of
/// Runge–Kutta formulas", Appl. Math. Lett. 2(4), 321–325, 1989). Dense output: cubic Hermite.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of the Bogacki–Shampine 3(2) pair.
struct bosh3_tableau {
  /// \brief Number of stages s (3 new evaluations of f per step thanks to FSAL).
  static constexpr int stages = 4;
  /// \brief Order of the propagated solution.
  static constexpr int order = 3;
  /// \brief Order of the embedded solution b_hat used for the error estimate.
  static constexpr int error_order = 2;
  /// \brief First same as last: the last stage f(t1, y1) is the next step's first stage.
  static constexpr bool fsal = true;
  /// \brief Butcher matrix A (Bogacki & Shampine 1989); its last row equals `b` (FSAL).
  static constexpr std::array<std::array<double, 4>, 4> a{{
      {0.0, 0.0, 0.0, 0.0},
      {0.5, 0.0, 0.0, 0.0},
      {0.0, 0.75, 0.0, 0.0},
      {2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0},
  }};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i (Bogacki & Shampine 1989).
  static constexpr std::array<double, 4> b{2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h.
  static constexpr std::array<double, 4> c{0.0, 0.5, 0.75, 1.0};
  /// b - b_hat with b_hat = (7/24, 1/4, 1/3, 1/8).
  static constexpr std::array<double, 4> b_error{2.0 / 9 - 7.0 / 24, 1.0 / 3 - 1.0 / 4,
                                                 4.0 / 9 - 1.0 / 3, -1.0 / 8};
};

/// \brief Bogacki–Shampine 3(2), adaptive, FSAL.
using bosh3 = explicit_rk<bosh3_tableau>;

}  // namespace nde
