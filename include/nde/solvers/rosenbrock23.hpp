/// \file
/// \brief `nde::rosenbrock23`: the L-stable second-order Rosenbrock method of MATLAB's `ode23s`
/// (L. F. Shampine & M. W. Reichelt, "The MATLAB ODE Suite", SIAM J. Sci. Comput. 18(1),
/// 1–22, 1997, Sec. 3.1; OrdinaryDiffEq.jl's `Rosenbrock23`), with its third-order error
/// estimate and its second-order continuous extension. For loose tolerances (rtol ≳ 1e-3) on
/// stiff problems; rodas4/rodas5 are far cheaper at tight ones.
///
/// The paper's scheme, with d = 1/(2 + √2), e32 = 6 + √2, W = I − h d J, T = ∂f/∂t:
///
///     k1 = W⁻¹(f(t0, y0) + h d T),   k2 = W⁻¹(f(t0 + h/2, y0 + h k1/2) − k1) + k1,
///     y1 = y0 + h k2,   k3 = W⁻¹(f(t1, y1) − e32 (k2 − F1) − 2 (k1 − F0) + h d T),
///     error = h (k1 − 2 k2 + k3) / 6,   y(t0 + θh) = y0 + h (θ(1−θ) k1 + θ(θ−2d) k2) / (1 − 2d).
///
/// Written as a 3-stage Rosenbrock method (Γ = [[d], [−d, d], [d(e32−2), −d e32, d]],
/// α21 = 1/2, α32 = 1, b = (0, 1, 0), b̂ = (1, 4, 1)/6) and transformed as in
/// `solvers/rosenbrock.hpp` (u_i = Σ_j γ_ij h k_j). The third stage is evaluated at (t1, y1):
/// f(t1, y1) is the next step's first stage (FSAL). L-stable; y1 of order 2, the embedded
/// solution of order 3.
/// Cost per step: one J, one ∂f/∂t (non-autonomous terms), one LU, 3 solves, 2 evaluations of f.
#pragma once

#include "nde/solvers/rosenbrock.hpp"

#include <array>
#include <string_view>

namespace nde {

/// \brief Coefficients of Shampine & Reichelt's ode23s formula in the transformed form.
struct rosenbrock23_tableau {
  static constexpr std::string_view name = "rosenbrock23";  ///< For messages.
  static constexpr int stages = 3;                          ///< s.
  static constexpr int order = 2;                           ///< Of y1.
  static constexpr int embedded_order = 3;                  ///< Of ŷ1 (the error estimate).
  static constexpr int dense_degree = 2;                    ///< Quadratic continuous extension.
  static constexpr int dense_order = 2;                     ///< Of the interpolant.
  /// \brief d = 1/(2 + √2), the diagonal γ.
  static constexpr double gamma = 0.29289321881345247559915563789515096;
  /// \brief e32 = 6 + √2.
  static constexpr double e32 = 7.4142135623730950488016887242096981;
  /// \brief Stage arguments y0 + Σ a_ij u_j: y0 + h k1/2 and y0 + h k2 = y1.
  static constexpr std::array<std::array<double, 3>, 3> a{{
      {0, 0, 0},
      {1.0 / (2 * gamma), 0, 0},
      {1.0 / gamma, 1.0 / gamma, 0},
  }};
  /// \brief Couplings c = diag(1/γ) − Γ⁻¹ (Γ⁻¹ = [[1], [1, 1], [2, e32, 1]] / d).
  static constexpr std::array<std::array<double, 3>, 3> c{{
      {0, 0, 0},
      {-1.0 / gamma, 0, 0},
      {-2.0 / gamma, -e32 / gamma, 0},
  }};
  /// \brief Nodes: stage 2 at t0 + h/2, stage 3 at t1.
  static constexpr std::array<double, 3> alpha{0, 0.5, 1};
  /// \brief γ_i = Σ_j γ_ij: the ∂f/∂t terms +d, 0 and −d of k1, k2 and k3.
  static constexpr std::array<double, 3> gamma_sum{gamma, 0, -gamma};
  /// \brief y1 = y0 + h k2 = y0 + (u1 + u2)/d.
  static constexpr std::array<double, 3> m{1.0 / gamma, 1.0 / gamma, 0};
  /// \brief y1 − ŷ1 = −h (k1 − 2 k2 + k3)/6 = −(u1 + (e32 − 2) u2 + u3)/(6d).
  static constexpr std::array<double, 3> m_error{-1.0 / (6 * gamma), -(e32 - 2) / (6 * gamma),
                                                 -1.0 / (6 * gamma)};
  /// \brief The paper's interpolant in monomials: θ (u1/d − 2 u2/(1 − 2d)) + θ² u2/(d(1 − 2d)).
  static constexpr std::array<std::array<double, 3>, 2> dense{{
      {1.0 / gamma, -2.0 / (1 - 2 * gamma), 0},
      {0, 1.0 / (gamma * (1 - 2 * gamma)), 0},
  }};
};

/// \brief Shampine & Reichelt's ode23s method: L-stable Rosenbrock 2(3), FSAL, quadratic dense
/// output (see the file comment).
using rosenbrock23 = rosenbrock<rosenbrock23_tableau>;

}  // namespace nde
