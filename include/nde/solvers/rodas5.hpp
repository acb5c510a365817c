/// \file
/// \brief `nde::rodas5`: Di Marzo's stiffly accurate Rosenbrock method of order 5(4) (G. Di
/// Marzo, "RODAS5(4) – Méthodes de Rosenbrock d'ordre 5(4) adaptées aux problèmes
/// différentiels-algébriques", Univ. Genève, 1993; see Hairer & Wanner, *Solving ODEs II*,
/// Sec. IV.7), with the fourth-order dense output of OrdinaryDiffEq.jl's `Rodas5`.
/// Coefficients (transformed form, Hairer & Wanner eq. (7.25)) and the dense-output matrix as
/// tabulated in OrdinaryDiffEq.jl, `lib/OrdinaryDiffEqRosenbrockTableaus/src/
/// rosenbrock_tableaus.jl` (RODAS5A, RODAS5C, RODAS5c, RODAS5d, RODAS5H; commit b211787).
///
/// Eight stages, the last three at t1 with γ_6 = γ_7 = γ_8 = 0. Stiffly accurate: the argument
/// of stage 8 is the embedded 4th-order solution, y1 = it + u_8 and the error estimate is u_8.
/// L-stable; the method of choice for stiff problems at rtol ~1e-6…1e-10.
/// Cost per step: one J, one ∂f/∂t (non-autonomous terms), one LU, 8 solves, 8 evaluations of
/// f (7 stages + f(t1, y1) for the next step).
#pragma once

#include "nde/solvers/rosenbrock.hpp"

#include <array>
#include <string_view>

namespace nde {

/// \brief RODAS5(4) (Di Marzo 1993) in the transformed form.
struct rodas5_tableau {
  static constexpr std::string_view name = "rodas5";  ///< For messages.
  static constexpr int stages = 8;                    ///< s.
  static constexpr int order = 5;                     ///< Of y1.
  static constexpr int embedded_order = 4;            ///< Of ŷ1 (the argument of stage 8).
  static constexpr int dense_degree = 4;              ///< Quartic continuous extension.
  static constexpr int dense_order = 4;               ///< Of the interpolant.
  static constexpr double gamma = 0.19;               ///< γ.
  /// \brief a_ij (stages 7 and 8 add u_6 and u_7 to stage 6's argument).
  static constexpr std::array<std::array<double, 8>, 8> a{{
      {0, 0, 0, 0, 0, 0, 0, 0},
      {2.0, 0, 0, 0, 0, 0, 0, 0},
      {3.040894194418781, 1.041747909077569, 0, 0, 0, 0, 0, 0},
      {2.576417536461461, 1.62208306077664, -0.9089668560264532, 0, 0, 0, 0, 0},
      {2.760842080225597, 1.446624659844071, -0.3036980084553738, 0.2877498600325443, 0, 0, 0, 0},
      {-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405,
       24.13215229196062, 0, 0, 0},
      {-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405,
       24.13215229196062, 1, 0, 0},
      {-14.09640773051259, 6.925207756232704, -41.47510893210728, 2.343771018586405,
       24.13215229196062, 1, 1, 0},
  }};
  /// \brief c_ij.
  static constexpr std::array<std::array<double, 8>, 8> c{{
      {0, 0, 0, 0, 0, 0, 0, 0},
      {-10.31323885133993, 0, 0, 0, 0, 0, 0, 0},
      {-21.04823117650003, -7.234992135176716, 0, 0, 0, 0, 0, 0},
      {32.22751541853323, -4.943732386540191, 19.44922031041879, 0, 0, 0, 0, 0},
      {-20.69865579590063, -8.816374604402768, 1.260436877740897, -0.7495647613787146, 0, 0, 0, 0},
      {-46.22004352711257, -17.49534862857472, -289.6389582892057, 93.60855400400906,
       318.3822534212147, 0, 0, 0},
      {34.20013733472935, -14.1553540271769, 57.823356409884, 25.83362985412365, 1.408950972071624,
       -6.551835421242162, 0, 0},
      {42.57076742291101, -13.80770672017997, 93.98938432427124, 18.77919633714503,
       -31.5835918722337, -6.685968952921985, -5.810979938412932, 0},
  }};
  /// \brief Nodes.
  static constexpr std::array<double, 8> alpha{
      0, 0.38, 0.3878509998321533, 0.483971893787384, 0.457047700881958, 1, 1, 1};
  /// \brief γ_i.
  static constexpr std::array<double, 8> gamma_sum{0.19,
                                                   -0.1823079225333714636,
                                                   -0.319231832186874912,
                                                   0.3449828624725343,
                                                   -0.377417564392089818,
                                                   0,
                                                   0,
                                                   0};
  /// \brief y1 = y0 + Σ a_8j u_j + u_8.
  static constexpr std::array<double, 8> m{-14.09640773051259,
                                           6.925207756232704,
                                           -41.47510893210728,
                                           2.343771018586405,
                                           24.13215229196062,
                                           1,
                                           1,
                                           1};
  /// \brief y1 − ŷ1 = u_8.
  static constexpr std::array<double, 8> m_error{0, 0, 0, 0, 0, 0, 0, 1};
  /// \brief OrdinaryDiffEq's RODAS5H: y(θ) = (1 − θ) y0 + θ (y1 + (1 − θ)(q_1 + θ q_2 + θ² q_3)),
  /// q_j = Σ_i h_ji u_i.
  static constexpr std::array<std::array<double, 8>, 3> hairer_dense{{
      {27.354592673333357, -6.925207756232857, 26.40037733258859, 0.5635230501052979,
       -4.699151156849391, -1.6008677469422725, -1.5306074446748028, -1.3929872940716344},
      {44.19024239501722, 1.3677947663381929e-13, 202.93261852171622, -35.5669339789154,
       -181.91095152160645, 3.4116351403665033, 2.5793540257308067, 2.2435122582734066},
      {-44.0988150021747, -5.755396159656812e-13, -181.26175034586677, 56.99302194811676,
       183.21182741427398, -7.480257918273637, -5.792426076169686, -5.32503859794143},
  }};
  /// \brief The same in monomials of θ.
  static constexpr auto dense = detail::rosenbrock_dense_from_hairer(m, hairer_dense);
};

/// \brief Di Marzo's RODAS5(4): stiffly accurate, L-stable Rosenbrock 5(4) with a quartic dense
/// output (see the file comment).
using rodas5 = rosenbrock<rodas5_tableau>;

}  // namespace nde
