/// \file
/// \brief Tsitouras 5(4) with FSAL (Ch. Tsitouras, "Runge–Kutta pairs of order 5(4)
/// satisfying only the first column simplifying assumption", Comput. Math. Appl. 62(2),
/// 770–775, 2011), with the paper's 4th-order continuous extension b_i(θ).
/// Coefficients are the paper's values rounded to double.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

/// \brief Butcher tableau of Tsitouras 5(4).
struct tsit5_tableau {
  /// \brief Number of stages s (6 new evaluations of f per step thanks to FSAL).
  static constexpr int stages = 7;
  /// \brief Order of the propagated solution.
  static constexpr int order = 5;
  /// \brief Order of the embedded solution b_hat used for the error estimate.
  static constexpr int error_order = 4;
  /// \brief First same as last: the last stage f(t1, y1) is the next step's first stage.
  static constexpr bool fsal = true;
  /// \brief Length of the stability interval on the negative real axis: |R(−x)| ≤ 1 for
  /// 0 ≤ x ≤ this (R the stability polynomial of b and A; computed from the tableau, checked in
  /// tests/integrate). Hairer's stiffness test compares h·ρ with it.
  static constexpr double stability_boundary = 3.5068469938049582;
  /// \brief Butcher matrix A (Tsitouras 2011), rounded to double.
  static constexpr std::array<std::array<double, 7>, 7> a{{
      {0, 0, 0, 0, 0, 0, 0},
      {0.161, 0, 0, 0, 0, 0, 0},
      {-0.008480655492356988544, 0.3354806554923569885, 0, 0, 0, 0, 0},
      {2.897153057105493432, -6.359448489975074843, 4.362295432869581411, 0, 0, 0, 0},
      {5.325864828439256604, -11.74888356406282788, 7.495539342889836208, -0.09249506636175524926,
       0, 0, 0},
      {5.861455442946420029, -12.92096931784710929, 8.159367898576158643, -0.07158497328140099722,
       -0.02826905039406838291, 0, 0},
      {0.09646076681806522952, 0.01, 0.4798896504144995748, 1.379008574103741893,
       -3.290069515436080680, 2.324710524099773982, 0},
  }};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i; equal to the last row of A
  /// (FSAL).
  static constexpr std::array<double, 7> b{0.09646076681806522952,
                                           0.01,
                                           0.4798896504144995748,
                                           1.379008574103741893,
                                           -3.290069515436080680,
                                           2.324710524099773982,
                                           0};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h.
  static constexpr std::array<double, 7> c{0, 0.161, 0.327, 0.9, 0.9800255409045096857, 1, 1};
  /// b - b_hat (the embedded 4th-order weights b_hat end with b_hat_7 = 1/66).
  static constexpr std::array<double, 7> b_error{0.001780011052225771443,
                                                 0.0008164344596567469032,
                                                 -0.007880878010261996010,
                                                 0.1447110071732629075,
                                                 -0.5823571654525552250,
                                                 0.4580821059291869467,
                                                 -1.0 / 66};
  /// \brief Degree in θ of the dense-output polynomial b_i(θ).
  static constexpr int dense_degree = 4;
  /// \brief Order of the dense output (Tsitouras 2011's continuous extension).
  static constexpr int dense_order = 4;
  /// b_i(θ) = Σ_j dense[i][j] θ^(j+1), from the paper's interpolant.
  static constexpr std::array<std::array<double, 4>, 7> dense{{
      {1.0, -2.763706197274825911, 2.913255461821912744, -1.053088497729021636},
      {0, 0.1317, -0.2234, 0.1017},
      {0, 3.930296236894751529, -5.941033872131504735, 2.490627285651252793},
      {0, -12.41107716693367698, 30.33818863028232160, -16.54810288924490272},
      {0, 37.50931341651103919, -88.17890489476640110, 47.37952196281928122},
      {0, -27.89652628919728781, 65.09189467479367153, -34.87065786149660974},
      {0, 1.5, -4.0, 2.5},
  }};
};

/// \brief Tsitouras 5(4): adaptive, FSAL, 4th-order dense output.
using tsit5 = explicit_rk<tsit5_tableau>;

}  // namespace nde
