/// \file
/// \brief Bogacki–Shampine 3(2) pair with FSAL (P. Bogacki, L. F. Shampine, "A 3(2) pair of
/// Runge–Kutta formulas", Appl. Math. Lett. 2(4), 321–325, 1989). Dense output: cubic Hermite.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of the Bogacki–Shampine 3(2) pair.
struct bosh3_tableau {
  static constexpr int stages = 4;
  static constexpr int order = 3;
  static constexpr int error_order = 2;
  static constexpr bool fsal = true;
  static constexpr std::array<std::array<double, 4>, 4> a{{
      {0.0, 0.0, 0.0, 0.0},
      {0.5, 0.0, 0.0, 0.0},
      {0.0, 0.75, 0.0, 0.0},
      {2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0},
  }};
  static constexpr std::array<double, 4> b{2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0};
  static constexpr std::array<double, 4> c{0.0, 0.5, 0.75, 1.0};
  /// b - b_hat with b_hat = (7/24, 1/4, 1/3, 1/8).
  static constexpr std::array<double, 4> b_error{2.0 / 9 - 7.0 / 24, 1.0 / 3 - 1.0 / 4,
                                                 4.0 / 9 - 1.0 / 3, -1.0 / 8};
};

/// \brief Bogacki–Shampine 3(2), adaptive, FSAL.
using bosh3 = explicit_rk<bosh3_tableau>;

}  // namespace nde
