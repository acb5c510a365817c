/// \file
/// \brief Störmer–Verlet / leapfrog in kick–drift–kick form: `p½ = p0 + h/2 b(t0, q0)`,
/// `q1 = q0 + h a(t½, p½)`, `p1 = p½ + h/2 b(t1, q1)`; second order, symplectic and
/// time-reversible (symmetric) for separable (q, p) terms (Hairer, Lubich & Wanner 2003,
/// "Geometric numerical integration illustrated by the Störmer–Verlet method", Acta Numerica
/// 12, eq. 1.5; *Geometric Numerical Integration*, 2nd ed., eq. I.1.17). One b (first same as
/// last) and one a per step. Fixed step only.
#pragma once

#include "nde/solvers/splitting.hpp"

#include <array>

namespace nde {

/// \brief Coefficients of kick–drift–kick leapfrog: K(½) D(1) K(½).
struct leapfrog_table {
  static constexpr int order = 2;                          ///< Global error O(h²).
  static constexpr std::array<double, 2> kicks{0.5, 0.5};  ///< d_0, d_1.
  static constexpr std::array<double, 1> drifts{1.0};      ///< c_0.
  static constexpr const char* name = "leapfrog";          ///< For messages.
};

/// \brief Störmer–Verlet (velocity Verlet, kick–drift–kick leapfrog).
using leapfrog = splitting<leapfrog_table>;
/// \brief The same method under its other name.
using stormer_verlet = leapfrog;

}  // namespace nde
