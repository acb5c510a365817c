/// \file
/// \brief `nde::trbdf2`: TR-BDF2, a trapezoidal stage to t0 + γh followed by a BDF2 stage to
/// t1, γ = 2 − √2, written as a 3-stage ESDIRK with diagonal d = γ/2 (M. E. Hosea and L. F.
/// Shampine, "Analysis and implementation of TR-BDF2", Appl. Numer. Math. 20, 21–37, 1996,
/// Sec. 2; R. E. Bank et al., IEEE Trans. CAD 4, 1985). Order 2, L-stable, stiffly accurate.
///
/// Error estimate: the embedded third-order weights of Hosea & Shampine, b̂ = ((1 − w)/3,
/// w + 1/3, d/3), w = √2/4 (`error_order = 2`); the embedded method is not A-stable, so the
/// estimate is filtered by (I − dhJ̃)⁻¹ (Shampine's device for stiff problems, Hairer & Wanner
/// IV.8). Cost per step: two implicit stages sharing
/// one factorisation (the same diagonal d). Dense output: cubic Hermite, order 3.
#pragma once

#include "nde/solvers/diagonally_implicit.hpp"

#include <array>

namespace nde {

/// \brief Tableau of TR-BDF2 (Hosea & Shampine 1996): d = 1 − √2/2, w = √2/4.
struct trbdf2_tableau {
  static constexpr int stages = 3;       ///< f(t0, y0), the TR stage, the BDF2 stage.
  static constexpr int order = 2;        ///< Order of y1.
  static constexpr int error_order = 2;  ///< min(2, 3).
  static constexpr double gamma = 0.29289321881345247560;  ///< d = γ/2 = 1 − √2/2.
  static constexpr bool stiffly_accurate = true;           ///< y1 is the BDF2 stage.
  static constexpr bool filter_error = true;               ///< b̂ is not A-stable.
  /// \brief RK matrix: rows (0), (d, d), (w, w, d).
  static constexpr std::array<std::array<double, 3>, 3> a{
      {{0.0, 0.0, 0.0},
       {0.29289321881345247560, 0.29289321881345247560, 0.0},
       {0.35355339059327376220, 0.35355339059327376220, 0.29289321881345247560}}};
  /// \brief Weights (w, w, d).
  static constexpr std::array<double, 3> b{0.35355339059327376220, 0.35355339059327376220,
                                           0.29289321881345247560};
  /// \brief Nodes (0, γ, 1).
  static constexpr std::array<double, 3> c{0.0, 0.58578643762690495120, 1.0};
  /// \brief b − b̂ = ((4w − 1)/3, −1/3, 2d/3).
  static constexpr std::array<double, 3> b_error{0.13807118745769834960, -0.33333333333333333333,
                                                 0.19526214587563498373};
};

/// \brief TR-BDF2 (see the file comment).
using trbdf2 = diagonally_implicit<trbdf2_tableau>;

}  // namespace nde
