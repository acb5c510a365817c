/// \file
/// \brief `nde::kvaerno3`: Kværnø's ESDIRK 3(2), 4 stages (A. Kværnø, "Singly diagonally
/// implicit Runge–Kutta methods with an explicit first stage", BIT Numer. Math. 44, 489–502,
/// 2004, the 3/2 method). Order 3, L-stable, stiffly accurate; the embedded order-2 method is
/// the third stage (also stiffly accurate, A-stable), so the estimate needs no filter.
///
/// γ = 0.4358665215084589994… is the root of 6γ³ − 18γ² + 9γ − 1 = 0 that makes the method
/// L-stable; the other coefficients are Kværnø's closed forms in γ, evaluated in 40-digit
/// arithmetic. Newton predictors: linear extrapolation of the stage derivatives in c (as in
/// Diffrax). Cost per step: three implicit stages sharing one factorisation. Dense output:
/// cubic Hermite, order 3.
#pragma once

#include "nde/solvers/diagonally_implicit.hpp"

#include <array>

namespace nde {

/// \brief Tableau of Kværnø's 3/2 method.
struct kvaerno3_tableau {
  static constexpr int stages = 4;                         ///< f(t0, y0) and three implicit stages.
  static constexpr int order = 3;                          ///< Order of y1.
  static constexpr int error_order = 2;                    ///< Order of b̂ (the third stage).
  static constexpr double gamma = 0.43586652150845899942;  ///< The diagonal.
  static constexpr bool stiffly_accurate = true;           ///< y1 is the last stage.
  static constexpr bool filter_error = false;              ///< b̂ is A-stable.
  /// \brief RK matrix (Kværnø 2004, the 3/2 method).
  static constexpr std::array<std::array<double, 4>, 4> a{
      {{0.0, 0.0, 0.0, 0.0},
       {0.43586652150845899942, 0.43586652150845899942, 0.0, 0.0},
       {0.49056338842178057063, 0.073570090069760429956, 0.43586652150845899942, 0.0},
       {0.30880996997674652335, 1.4905633884217805706, -1.2352398799069860934,
        0.43586652150845899942}}};
  /// \brief Weights: the last row.
  static constexpr std::array<double, 4> b{0.30880996997674652335, 1.4905633884217805706,
                                           -1.2352398799069860934, 0.43586652150845899942};
  /// \brief Nodes (0, 2γ, 1, 1).
  static constexpr std::array<double, 4> c{0.0, 0.87173304301691799883, 1.0, 1.0};
  /// \brief b − b̂, b̂ the third row.
  static constexpr std::array<double, 4> b_error{-0.18175341844503404728, 1.4169932983520201407,
                                                 -1.6711064014154450928, 0.43586652150845899942};
  /// \brief Newton predictors k_i ≈ Σ_j predictor[i][j] k_j.
  static constexpr std::array<std::array<double, 4>, 4> predictor{
      {{0.0, 0.0, 0.0, 0.0},
       {1.0, 0.0, 0.0, 0.0},
       {-0.14714018013952085991, 1.1471401801395208599, 0.0, 0.0},
       {0.49056338842178057063, 0.073570090069760429956, 0.43586652150845899942, 0.0}}};
};

/// \brief Kværnø's ESDIRK 3(2) (see the file comment).
using kvaerno3 = diagonally_implicit<kvaerno3_tableau>;

}  // namespace nde
