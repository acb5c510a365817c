/// \file
/// \brief The classic fourth-order Runge–Kutta method (Kutta 1901; Hairer, Nørsett & Wanner I,
/// Table II.1.2, left). No error estimate: use it with `constant_step` or `fixed_times`.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of the classic RK4 method.
struct rk4_tableau {
  static constexpr int stages = 4;
  static constexpr int order = 4;
  static constexpr bool fsal = false;
  static constexpr std::array<std::array<double, 4>, 4> a{{
      {0.0, 0.0, 0.0, 0.0},
      {0.5, 0.0, 0.0, 0.0},
      {0.0, 0.5, 0.0, 0.0},
      {0.0, 0.0, 1.0, 0.0},
  }};
  static constexpr std::array<double, 4> b{1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6};
  static constexpr std::array<double, 4> c{0.0, 0.5, 0.5, 1.0};
};

/// \brief Classic fourth-order Runge–Kutta.
using rk4 = explicit_rk<rk4_tableau>;

}  // namespace nde
