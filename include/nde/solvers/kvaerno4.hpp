/// \file
/// \brief `nde::kvaerno4`: Kværnø's ESDIRK 4(3), 5 stages (A. Kværnø, "Singly diagonally
/// implicit Runge–Kutta methods with an explicit first stage", BIT Numer. Math. 44, 489–502,
/// 2004, the 4/3 method that advances the fourth-order last stage). Order 4, L-stable, stiffly
/// accurate; the embedded order-3 method is the fourth stage (A-stable, no filter needed).
///
/// γ = 0.5728160624821348554… is the root of 24γ⁴ − 96γ³ + 72γ² − 16γ + 1 = 0 that makes it
/// L-stable (Kværnø's other 4/3 variant, advancing the third-order stage, uses another γ); the
/// other coefficients are Kværnø's closed forms in γ, evaluated in 40-digit arithmetic. The
/// second stage has c = 2γ > 1: f is evaluated past t1. Newton predictors: linear
/// extrapolation in c. Cost per step: four implicit stages sharing one factorisation. Dense
/// output: cubic Hermite, order 3 (below the method's).
#pragma once

#include "nde/solvers/diagonally_implicit.hpp"

#include <array>

namespace nde {

/// \brief Tableau of Kværnø's 4/3 method.
struct kvaerno4_tableau {
  static constexpr int stages = 5;                         ///< f(t0, y0) and four implicit stages.
  static constexpr int order = 4;                          ///< Order of y1.
  static constexpr int error_order = 3;                    ///< Order of b̂ (the fourth stage).
  static constexpr double gamma = 0.57281606248213485541;  ///< The diagonal.
  static constexpr bool stiffly_accurate = true;           ///< y1 is the last stage.
  static constexpr bool filter_error = false;              ///< b̂ is A-stable.
  /// \brief RK matrix (Kværnø 2004, the 4/3 method).
  static constexpr std::array<std::array<double, 5>, 5> a{
      {{0.0, 0.0, 0.0, 0.0, 0.0},
       {0.57281606248213485541, 0.57281606248213485541, 0.0, 0.0, 0.0},
       {0.16723546202721075075, -0.14294653685703411324, 0.57281606248213485541, 0.0, 0.0},
       {0.26260329025269581808, -0.31190432742056315302, 0.47648497468573247953,
        0.57281606248213485541, 0.0},
       {0.19721654831283499584, 0.17684378390637218603, 0.81544218135083844740,
        -0.76231857605218048468, 0.57281606248213485541}}};
  /// \brief Weights: the last row.
  static constexpr std::array<double, 5> b{0.19721654831283499584, 0.17684378390637218603,
                                           0.81544218135083844740, -0.76231857605218048468,
                                           0.57281606248213485541};
  /// \brief Nodes (0, 2γ, c_2, 1, 1).
  static constexpr std::array<double, 5> c{0.0, 1.1456321249642697108, 0.59710498765231149292, 1.0,
                                           1.0};
  /// \brief b − b̂, b̂ the fourth row.
  static constexpr std::array<double, 5> b_error{-0.065386741939860822244, 0.48874811132693533906,
                                                 0.33895720666510596786, -1.3351346385343153401,
                                                 0.57281606248213485541};
  /// \brief Newton predictors k_i ≈ Σ_j predictor[i][j] k_j.
  static constexpr std::array<std::array<double, 5>, 5> predictor{
      {{0.0, 0.0, 0.0, 0.0, 0.0},
       {1.0, 0.0, 0.0, 0.0, 0.0},
       {0.47879866962447987640, 0.52120133037552012360, 0.0, 0.0, 0.0},
       {0.0, 0.73450333619237903864, 0.26549666380762096136, 0.0, 0.0},
       {0.26260329025269581808, -0.31190432742056315302, 0.47648497468573247953,
        0.57281606248213485541, 0.0}}};
};

/// \brief Kværnø's ESDIRK 4(3) (see the file comment).
using kvaerno4 = diagonally_implicit<kvaerno4_tableau>;

}  // namespace nde
