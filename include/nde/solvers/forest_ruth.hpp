/// \file
/// \brief The fourth-order Forest–Ruth / Yoshida method: the "triple jump" composition
/// Φ(θh) ∘ Φ((1 − 2θ)h) ∘ Φ(θh) of kick–drift–kick leapfrog Φ with θ = 1/(2 − 2^(1/3))
/// (Forest & Ruth 1990, Physica D 43, 105; Yoshida 1990, Phys. Lett. A 150, 262, eq. 4.4;
/// Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed., eq. II.4.4 and
/// Example V.3.2). Symplectic and symmetric for separable (q, p) terms; three b and three a per
/// step (the last kick's b is the next step's first). Fixed step only.
#pragma once

#include "nde/solvers/splitting.hpp"

#include <array>

namespace nde {

/// \brief Coefficients of Forest–Ruth: K(θ/2) D(θ) K((1−θ)/2) D(1−2θ) K((1−θ)/2) D(θ) K(θ/2).
struct forest_ruth_table {
  /// \brief θ = 1/(2 − 2^(1/3)) to 20 digits.
  static constexpr double theta = 1.3512071919596576340;
  static constexpr int order = 4;  ///< Global error O(h⁴).
  /// \brief d_0 … d_3.
  static constexpr std::array<double, 4> kicks{theta / 2, (1 - theta) / 2, (1 - theta) / 2,
                                               theta / 2};
  /// \brief c_0 … c_2.
  static constexpr std::array<double, 3> drifts{theta, 1 - 2 * theta, theta};
  static constexpr const char* name = "forest_ruth";  ///< For messages.
};

// The triple jump is of order 4 iff 2θ³ + (1 − 2θ)³ = 0 (Yoshida 1990, eq. 4.3).
static_assert(2 * forest_ruth_table::theta * forest_ruth_table::theta * forest_ruth_table::theta +
                          (1 - 2 * forest_ruth_table::theta) * (1 - 2 * forest_ruth_table::theta) *
                              (1 - 2 * forest_ruth_table::theta) <
                      1e-14 &&
                  2 * forest_ruth_table::theta * forest_ruth_table::theta *
                              forest_ruth_table::theta +
                          (1 - 2 * forest_ruth_table::theta) * (1 - 2 * forest_ruth_table::theta) *
                              (1 - 2 * forest_ruth_table::theta) >
                      -1e-14,
              "Forest-Ruth theta must satisfy 2 theta^3 + (1 - 2 theta)^3 = 0");

/// \brief Fourth-order Forest–Ruth (Yoshida triple-jump) symplectic method.
using forest_ruth = splitting<forest_ruth_table>;
/// \brief The same method under Yoshida's name.
using yoshida4 = forest_ruth;

}  // namespace nde
