/// \file
/// \brief `nde::rodas4`: RODAS, the stiffly accurate L-stable Rosenbrock method of order 4(3) of
/// Hairer & Wanner (*Solving Ordinary Differential Equations II*, 2nd ed., Springer 1996,
/// Sec. IV.7, Table 7.2 and eq. (7.25); the coefficients of their code `rodas.f`, `METH = 1`,
/// and its third-order dense output `CONTRO`; OrdinaryDiffEq.jl's `Rodas4`).
///
/// Six stages, the last two at t1 with γ_5 = γ_6 = 0. Stiffly accurate: ŷ1 (order 3) is the
/// argument of stage 6 and y1 = ŷ1 + u_6, so the error estimate is u_6 and both solutions are
/// L-stable (R(∞) = 0); good for stiff problems and index-1 DAEs at rtol ~1e-4…1e-8.
/// Cost per step: one J, one ∂f/∂t (non-autonomous terms), one LU, 6 solves, 6 evaluations of
/// f (5 stages + f(t1, y1) for the next step).
#pragma once

#include "nde/solvers/rosenbrock.hpp"

#include <array>
#include <string_view>

namespace nde {

/// \brief RODAS (Hairer & Wanner II, IV.7; `rodas.f`, METH = 1) in the transformed form.
struct rodas4_tableau {
  static constexpr std::string_view name = "rodas4";  ///< For messages.
  static constexpr int stages = 6;                    ///< s.
  static constexpr int order = 4;                     ///< Of y1.
  static constexpr int embedded_order = 3;            ///< Of ŷ1 (the argument of stage 6).
  static constexpr int dense_degree = 3;              ///< Cubic continuous extension.
  static constexpr int dense_order = 3;               ///< Of the interpolant.
  static constexpr double gamma = 0.25;               ///< γ.
  /// \brief a_ij (`rodas.f`: A21…A54; stage 6 = stage 5's argument + u_5).
  static constexpr std::array<std::array<double, 6>, 6> a{{
      {0, 0, 0, 0, 0, 0},
      {1.544, 0, 0, 0, 0, 0},
      {0.9466785280815826, 0.2557011698983284, 0, 0, 0, 0},
      {3.314825187068521, 2.896124015972201, 0.9986419139977817, 0, 0, 0},
      {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 0, 0},
      {1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1, 0},
  }};
  /// \brief c_ij (`rodas.f`: C21…C65).
  static constexpr std::array<std::array<double, 6>, 6> c{{
      {0, 0, 0, 0, 0, 0},
      {-5.6688, 0, 0, 0, 0, 0},
      {-2.430093356833875, -0.2063599157091915, 0, 0, 0, 0},
      {-0.1073529058151375, -9.594562251023355, -20.47028614809616, 0, 0, 0},
      {7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160, 0, 0},
      {8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136,
       -6.058818238834054, 0},
  }};
  /// \brief Nodes (`rodas.f`: C2, C3, C4; stages 5 and 6 at t1).
  static constexpr std::array<double, 6> alpha{0, 0.386, 0.21, 0.63, 1, 1};
  /// \brief γ_i (`rodas.f`: D1…D4).
  static constexpr std::array<double, 6> gamma_sum{0.25, -0.1043, 0.1035, -0.3620000000000023e-01,
                                                   0,    0};
  /// \brief y1 = y0 + Σ a_6j u_j + u_6.
  static constexpr std::array<double, 6> m{
      1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1, 1};
  /// \brief y1 − ŷ1 = u_6.
  static constexpr std::array<double, 6> m_error{0, 0, 0, 0, 0, 1};
  /// \brief `rodas.f`'s dense output (D21…D35): y(θ) = (1 − θ) y0 + θ (y1 + (1 − θ)(q_1 + θ q_2)),
  /// q_j = Σ_i h_ji u_i.
  static constexpr std::array<std::array<double, 6>, 2> hairer_dense{{
      {10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823,
       1.025137723295662, 0},
      {-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386,
       -6.594389125716872, 0},
  }};
  /// \brief The same in monomials of θ.
  static constexpr auto dense = detail::rosenbrock_dense_from_hairer(m, hairer_dense);
};

/// \brief Hairer & Wanner's RODAS: stiffly accurate, L-stable Rosenbrock 4(3) with a cubic dense
/// output (see the file comment).
using rodas4 = rosenbrock<rodas4_tableau>;

}  // namespace nde
