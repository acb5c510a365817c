/// \file
/// \brief Dormand–Prince 5(4) with FSAL (J. R. Dormand, P. J. Prince, "A family of embedded
/// Runge–Kutta formulae", J. Comp. Appl. Math. 6(1), 19–26, 1980; Hairer, Nørsett & Wanner I,
/// Table II.5.2). Dense output: Shampine's 4th-order continuous extension (L. F. Shampine,
/// "Some practical Runge–Kutta formulas", Math. Comp. 46, 135–150, 1986), as used by Hairer's
/// DOPRI5 code. The default adaptive method.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>

namespace nde {

namespace detail {

/// Shampine's d_i (coefficient of θ²(1-θ)² in Hairer's DOPRI5 `CONTD5` form).
inline constexpr std::array<double, 7> dopri5_shampine_d{
    -12715105075.0 / 11282082432.0,  0.0,
    87487479700.0 / 32700410799.0,   -10690763975.0 / 1880347072.0,
    701980252875.0 / 199316789632.0, -1453857185.0 / 822651844.0,
    69997945.0 / 29380423.0};

/// Converts Hairer's form y0 + θΔ + θ(1-θ)(h k1 - Δ) + θ²(1-θ)(2Δ - h k1 - h k7)
/// + θ²(1-θ)² h Σ d_i k_i, with Δ = h Σ b_i k_i, into monomial weights of θ, θ², θ³, θ⁴.
constexpr std::array<std::array<double, 4>, 7> dopri5_dense(const std::array<double, 7>& b) {
  std::array<std::array<double, 4>, 7> w{};
  for (std::size_t i = 0; i < 7; ++i) {
    const double first = i == 0 ? 1.0 : 0.0;
    const double last = i == 6 ? 1.0 : 0.0;
    const double d = dopri5_shampine_d[i];
    w[i][0] = first;
    w[i][1] = 3 * b[i] - 2 * first - last + d;
    w[i][2] = -(2 * b[i] - first - last) - 2 * d;
    w[i][3] = d;
  }
  return w;
}

}  // namespace detail

/// \brief Butcher tableau of Dormand–Prince 5(4).
struct dopri5_tableau {
  /// \brief Number of stages s (6 new evaluations of f per step thanks to FSAL).
  static constexpr int stages = 7;
  /// \brief Order of the propagated solution (local extrapolation: the 5th-order weights advance).
  static constexpr int order = 5;
  /// \brief Order of the embedded solution b_hat used for the error estimate.
  static constexpr int error_order = 4;
  /// \brief First same as last: the last stage f(t1, y1) is the next step's first stage.
  static constexpr bool fsal = true;
  /// \brief Length of the stability interval on the negative real axis: |R(−x)| ≤ 1 for
  /// 0 ≤ x ≤ this (R the stability polynomial of b and A; computed from the tableau, checked in
  /// tests/integrate). Hairer's stiffness test compares h·ρ with it.
  static constexpr double stability_boundary = 3.3065678926349467;
  /// \brief Butcher matrix A (Dormand & Prince 1980; Hairer, Nørsett & Wanner I, Table II.5.2).
  static constexpr std::array<std::array<double, 7>, 7> a{{
      {0, 0, 0, 0, 0, 0, 0},
      {1.0 / 5, 0, 0, 0, 0, 0, 0},
      {3.0 / 40, 9.0 / 40, 0, 0, 0, 0, 0},
      {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0, 0, 0},
      {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0, 0, 0},
      {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656, 0, 0},
      {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0},
  }};
  /// \brief Weights b of the propagated solution y1 = y0 + h Σ b_i k_i; equal to the last row of A
  /// (FSAL).
  static constexpr std::array<double, 7> b{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784,
                                           11.0 / 84,  0};
  /// \brief Nodes c: stage i is evaluated at t0 + c_i h.
  static constexpr std::array<double, 7> c{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
  /// b - b_hat, b_hat = (5179/57600, 0, 7571/16695, 393/640, -92097/339200, 187/2100, 1/40).
  static constexpr std::array<double, 7> b_error{
      71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40};
  /// \brief Degree in θ of the dense-output polynomial.
  static constexpr int dense_degree = 4;
  /// \brief Order of the dense output (Shampine 1986).
  static constexpr int dense_order = 4;
  /// \brief Dense weights b_i(θ) = Σ_j dense[i][j] θ^(j+1) (Shampine 1986, Hairer's CONTD5 in
  /// monomial form).
  static constexpr std::array<std::array<double, 4>, 7> dense = detail::dopri5_dense(b);
};

/// \brief Dormand–Prince 5(4): adaptive, FSAL, 4th-order dense output.
using dopri5 = explicit_rk<dopri5_tableau>;

}  // namespace nde
