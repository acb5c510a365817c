/// \file
/// \brief Forward Euler, order 1 (Euler 1768). No error estimate: use it with
/// `constant_step` or `fixed_times`.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of the forward Euler method.
struct euler_tableau {
  static constexpr int stages = 1;
  static constexpr int order = 1;
  static constexpr bool fsal = false;
  static constexpr std::array<std::array<double, 1>, 1> a{{{0.0}}};
  static constexpr std::array<double, 1> b{1.0};
  static constexpr std::array<double, 1> c{0.0};
};

/// \brief Forward Euler: y1 = y0 + h f(t0, y0).
using euler = explicit_rk<euler_tableau>;

}  // namespace nde
