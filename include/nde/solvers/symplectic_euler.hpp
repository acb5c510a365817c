/// \file
/// \brief Symplectic Euler (kick then drift): `p1 = p0 + h b(t0, q0)`, `q1 = q0 + h a(t1, p1)`,
/// first order, symplectic for separable (q, p) terms (Hairer, Lubich & Wanner, *Geometric
/// Numerical Integration*, 2nd ed., Theorem VI.3.3, eq. VI.3.1 with the roles of q and p as
/// here). One b and one a per step. Fixed step only.
#pragma once

#include "nde/solvers/splitting.hpp"

#include <array>

namespace nde {

/// \brief Coefficients of symplectic Euler: K(1) D(1) K(0).
struct symplectic_euler_table {
  static constexpr int order = 1;                          ///< Global error O(h).
  static constexpr std::array<double, 2> kicks{1.0, 0.0};  ///< d_0, d_1.
  static constexpr std::array<double, 1> drifts{1.0};      ///< c_0.
  static constexpr const char* name = "symplectic_euler";  ///< For messages.
};

/// \brief Symplectic Euler for separable (q, p) terms.
using symplectic_euler = splitting<symplectic_euler_table>;

}  // namespace nde
