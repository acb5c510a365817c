/// \file
/// \brief What a Butcher tableau is, and the compile-time checks every tableau passes.
///
/// A tableau is a struct with `static constexpr` members (doubles; the engine casts them
/// to the state scalar):
///
/// | member | meaning |
/// |---|---|
/// | `int stages` | s, the number of stages |
/// | `int order` | order p of the propagated solution |
/// | `std::array<std::array<double, s>, s> a` | strictly lower-triangular RK matrix |
/// | `std::array<double, s> b` | weights of the propagated solution |
/// | `std::array<double, s> c` | nodes; `c[i] == sum_j a[i][j]` |
/// | `bool fsal` | first same as last: `a[s-1] == b`, `c[s-1] == 1` |
/// | optional `std::array<double, s> b_error`, `int error_order` | difference weights `b - b_hat` of the embedded method and the order of `b_hat` |
/// | optional `int dense_degree`, `int dense_order`, `std::array<std::array<double, dense_degree>, s + e> dense` | continuous extension `y(t0 + θh) = y0 + h Σ_i Σ_j dense[i][j] θ^(j+1) k_i` |
/// | optional `int extra_stages` (e), `std::array<std::array<double, s + e>, e> a_extra`, `std::array<double, e> c_extra` | stages s..s+e-1 that only the continuous extension reads (DOP853, Verner): `Y_i = y0 + h Σ_{j<i} a_extra[i-s][j] k_j` at `t0 + c_extra[i-s] h`, evaluated only for steps with dense output |
/// | optional `std::array<double, s> b_error_secondary`, `int secondary_error_order` | a second, lower-order embedded method (`b - b_hat2`), combined with the first as DOP853 does (see `explicit_rk`) |
///
/// An extra stage whose row is `b` with node 1 is f(t1, y1); for a method without FSAL the
/// engine takes it from `evaluate_end` instead of evaluating f again (Verner's k11).
/// A user defines a new method the same way and gets `explicit_rk<my_tableau>`;
/// `static_assert(nde::valid_tableau<my_tableau>())` reports a typo at compile time.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>

namespace nde {

/// \brief The members every explicit Runge–Kutta tableau has (see the file comment).
template <class Tableau>
concept butcher_tableau = requires {
  { Tableau::stages } -> std::convertible_to<int>;
  { Tableau::order } -> std::convertible_to<int>;
  { Tableau::fsal } -> std::convertible_to<bool>;
  Tableau::a[0][0];
  Tableau::b[0];
  Tableau::c[0];
}
&&(Tableau::stages >= 1) && (std::tuple_size_v<std::remove_cvref_t<decltype(Tableau::b)>> ==
                             static_cast<std::size_t>(Tableau::stages));

/// \brief The tableau has an embedded method: `b_error` (= b - b_hat) and `error_order`.
template <class Tableau>
concept embedded_tableau = butcher_tableau<Tableau> && requires {
  Tableau::b_error[0];
  { Tableau::error_order } -> std::convertible_to<int>;
};

/// \brief The tableau has its own continuous extension (`dense_degree`, `dense`).
template <class Tableau>
concept dense_tableau = butcher_tableau<Tableau> && requires {
  { Tableau::dense_degree } -> std::convertible_to<int>;
  { Tableau::dense_order } -> std::convertible_to<int>;
  Tableau::dense[0][0];
};

/// \brief The continuous extension also reads extra stages (`extra_stages`, `a_extra`,
/// `c_extra`), evaluated only for the steps that need dense output.
template <class Tableau>
concept extra_stage_tableau = dense_tableau<Tableau> && requires {
  { Tableau::extra_stages } -> std::convertible_to<int>;
  Tableau::a_extra[0][0];
  Tableau::c_extra[0];
};

/// \brief The tableau has a second, lower-order embedded method (`b_error_secondary`,
/// `secondary_error_order`) for DOP853's combined error estimate.
template <class Tableau>
concept secondary_error_tableau = embedded_tableau<Tableau> && requires {
  Tableau::b_error_secondary[0];
  { Tableau::secondary_error_order } -> std::convertible_to<int>;
};

namespace detail {

/// A stage or coefficient index (an `int`, as `Tableau::stages` is) as a `std::array` subscript.
constexpr std::size_t idx(int i) noexcept { return static_cast<std::size_t>(i); }

constexpr double absolute(double x) { return x < 0 ? -x : x; }

/// Coefficients are given to ~17 significant digits, so sums agree to a few ulp of
/// the largest coefficient (tsit5's are ~12).
constexpr double tableau_tolerance = 1e-13;

template <class Tableau>
constexpr bool rows_sum_to_nodes() {
  for (int i = 0; i < Tableau::stages; ++i) {
    double sum = 0;
    for (int j = 0; j < Tableau::stages; ++j) sum += Tableau::a[idx(i)][idx(j)];
    if (absolute(sum - Tableau::c[idx(i)]) > tableau_tolerance * 16) return false;
  }
  return true;
}

template <class Tableau>
constexpr bool strictly_lower_triangular() {
  for (int i = 0; i < Tableau::stages; ++i)
    for (int j = i; j < Tableau::stages; ++j)
      if (Tableau::a[idx(i)][idx(j)] != 0.0) return false;
  return Tableau::c[0] == 0.0;
}

template <class Tableau>
constexpr double sum_of(const std::array<double, Tableau::stages>& w) {
  double sum = 0;
  for (double x : w) sum += x;
  return sum;
}

template <class Tableau>
constexpr bool fsal_consistent() {
  if constexpr (!Tableau::fsal) {
    return true;
  } else {
    constexpr int last = Tableau::stages - 1;
    if (Tableau::c[idx(last)] != 1.0) return false;
    for (int j = 0; j < Tableau::stages; ++j)
      if (Tableau::a[idx(last)][idx(j)] != Tableau::b[idx(j)]) return false;
    return true;
  }
}

template <class Tableau>
constexpr int extra_stage_count() {
  if constexpr (extra_stage_tableau<Tableau>) {
    return Tableau::extra_stages;
  } else {
    return 0;
  }
}

/// Extra stages: explicit (row i reads only the stages before it), rows sum to their nodes,
/// one row and one node per extra stage.
template <class Tableau>
constexpr bool extra_stages_consistent() {
  if constexpr (!extra_stage_tableau<Tableau>) {
    return true;
  } else {
    constexpr int s = Tableau::stages;
    constexpr int e = Tableau::extra_stages;
    if (e < 1 || Tableau::a_extra.size() != idx(e) || Tableau::c_extra.size() != idx(e) ||
        Tableau::a_extra[0].size() != idx(s + e) || Tableau::dense.size() != idx(s + e))
      return false;
    for (int i = 0; i < e; ++i) {
      double sum = 0;
      for (int j = 0; j < s + e; ++j) {
        const double a = Tableau::a_extra[idx(i)][idx(j)];
        if (j >= s + i && a != 0.0) return false;
        sum += a;
      }
      if (absolute(sum - Tableau::c_extra[idx(i)]) > tableau_tolerance * 16) return false;
    }
    return true;
  }
}

/// The continuous extension must reproduce the step's end (b_i(1) = b_i, 0 for the extra
/// stages) and be consistent (Σ_i b_i(θ) = θ, i.e. exact for constant f).
template <class Tableau>
constexpr bool dense_consistent() {
  if constexpr (!dense_tableau<Tableau>) {
    return true;
  } else {
    constexpr int rows = Tableau::stages + extra_stage_count<Tableau>();
    if (Tableau::dense.size() != idx(rows)) return false;
    for (int i = 0; i < rows; ++i) {
      double at_one = 0;
      for (int j = 0; j < Tableau::dense_degree; ++j) at_one += Tableau::dense[idx(i)][idx(j)];
      const double expected = i < Tableau::stages ? Tableau::b[idx(i)] : 0.0;
      if (absolute(at_one - expected) > tableau_tolerance * 256) return false;
    }
    for (int j = 0; j < Tableau::dense_degree; ++j) {
      double column = 0;
      for (int i = 0; i < rows; ++i) column += Tableau::dense[idx(i)][idx(j)];
      if (absolute(column - (j == 0 ? 1.0 : 0.0)) > tableau_tolerance * 256) return false;
    }
    return true;
  }
}

}  // namespace detail

/// \brief True when a tableau passes every structural check: explicit (strictly lower
/// triangular, c[0] = 0), rows sum to c, weights sum to 1, error weights sum to 0,
/// FSAL consistent, extra stages explicit with rows summing to their nodes, dense output
/// consistent. Used in a `static_assert` by `explicit_rk`.
template <butcher_tableau Tableau>
constexpr bool valid_tableau() {
  bool ok =
      detail::strictly_lower_triangular<Tableau>() && detail::rows_sum_to_nodes<Tableau>() &&
      detail::absolute(detail::sum_of<Tableau>(Tableau::b) - 1.0) <= detail::tableau_tolerance &&
      detail::fsal_consistent<Tableau>() && detail::extra_stages_consistent<Tableau>() &&
      detail::dense_consistent<Tableau>();
  if constexpr (secondary_error_tableau<Tableau>) {
    ok = ok &&
         detail::absolute(detail::sum_of<Tableau>(Tableau::b_error_secondary)) <=
             detail::tableau_tolerance &&
         Tableau::secondary_error_order >= 1 &&
         Tableau::secondary_error_order < Tableau::error_order;
  }
  if constexpr (embedded_tableau<Tableau>) {
    ok = ok &&
         detail::absolute(detail::sum_of<Tableau>(Tableau::b_error)) <= detail::tableau_tolerance &&
         Tableau::error_order >= 1 && Tableau::error_order < Tableau::order + 1;
  }
  return ok;
}

}  // namespace nde
