/// \file
/// \brief `nde::kvaerno5`: Kværnø's ESDIRK 5(4), 7 stages, γ = 0.26 (A. Kværnø, "Singly
/// diagonally implicit Runge–Kutta methods with an explicit first stage", BIT Numer. Math. 44,
/// 489–502, 2004, the 5/4 method; coefficients as printed there, 17 digits). Order 5, L-stable,
/// stiffly accurate; the embedded order-4 method is the sixth stage (A-stable, no filter).
///
/// The third stage has c = 1.2303…: f is evaluated past t1. Newton predictors: those of
/// OrdinaryDiffEq.jl's Kvaerno5 as corrected in Diffrax (α21 = 1). Cost per step: six
/// implicit stages sharing one factorisation. Dense output: cubic Hermite, order 3 (below the
/// method's).
#pragma once

#include "nde/solvers/diagonally_implicit.hpp"

#include <array>

namespace nde {

/// \brief Tableau of Kværnø's 5/4 method.
struct kvaerno5_tableau {
  static constexpr int stages = 7;                ///< f(t0, y0) and six implicit stages.
  static constexpr int order = 5;                 ///< Order of y1.
  static constexpr int error_order = 4;           ///< Order of b̂ (the sixth stage).
  static constexpr double gamma = 0.26;           ///< The diagonal.
  static constexpr bool stiffly_accurate = true;  ///< y1 is the last stage.
  static constexpr bool filter_error = false;     ///< b̂ is A-stable.
  /// \brief RK matrix (Kværnø 2004, the 5/4 method).
  static constexpr std::array<std::array<double, 7>, 7> a{{
      {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
      {0.26, 0.26, 0.0, 0.0, 0.0, 0.0, 0.0},
      {0.13, 0.84033320996790809, 0.26, 0.0, 0.0, 0.0, 0.0},
      {0.22371961478320505, 0.47675532319799699, -0.06470895363112615, 0.26, 0.0, 0.0, 0.0},
      {0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998, 0.26,
       0.0, 0.0},
      {0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676,
       0.26, 0.0},
      {0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046, 0.62993304899016403,
       0.06962479448202728, 0.26},
  }};
  /// \brief Weights: the last row.
  static constexpr std::array<double, 7> b{
      0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046, 0.62993304899016403,
      0.06962479448202728, 0.26};
  /// \brief Nodes (row sums).
  static constexpr std::array<double, 7> c{
      0.0, 0.52, 1.23033320996790809, 0.89576598435007589, 0.43639360985864758, 1.0, 1.0};
  /// \brief b − b̂, b̂ the sixth row.
  static constexpr std::array<double, 7> b_error{
      -0.00195889053627933, 0.0, -0.01251571594786333, -0.06565284626324187, 0.01050265826535727,
      -0.19037520551797272, 0.26};
  /// \brief Newton predictors k_i ≈ Σ_j predictor[i][j] k_j.
  static constexpr std::array<std::array<double, 7>, 7> predictor{{
      {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
      {1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
      {-1.366025403784441, 2.3660254037844357, 0.0, 0.0, 0.0, 0.0, 0.0},
      {-0.19650552613122207, 0.8113579546496623, 0.38514757148155954, 0.0, 0.0, 0.0, 0.0},
      {0.10375304369958693, 0.937994698066431, -0.04174774176601781, 0.0, 0.0, 0.0, 0.0},
      {-0.17281112873898072, 0.6235784481025847, 0.5492326806363959, 0.0, 0.0, 0.0, 0.0},
      {0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676,
       0.26, 0.0},
  }};
};

/// \brief Kværnø's ESDIRK 5(4) (see the file comment).
using kvaerno5 = diagonally_implicit<kvaerno5_tableau>;

}  // namespace nde
