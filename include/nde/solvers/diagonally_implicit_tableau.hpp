/// \file
/// \brief What a diagonally implicit Runge–Kutta tableau with an explicit first stage (ESDIRK)
/// is, and the compile-time checks every one passes. It extends the conventions of
/// `butcher_tableau.hpp` (`static constexpr` doubles, `stages`, `order`, `a`, `b`, `c`,
/// `b_error`, `error_order`):
///
/// | member | meaning |
/// |---|---|
/// | `int stages` | s, including the explicit first stage |
/// | `int order` | order p of the propagated solution |
/// | `int error_order` | order of the error estimate's weights: min(p, p̂), the controller's exponent is 1/(error_order + 1) |
/// | `double gamma` | γ, the diagonal a_ii = γ of every implicit stage (i ≥ 1) |
/// | `std::array<std::array<double, s>, s> a` | lower-triangular RK matrix with its diagonal; row 0 is zero (explicit first stage) |
/// | `std::array<double, s> b`, `c` | weights and nodes; `c[i] == sum_j a[i][j]` |
/// | `std::array<double, s> b_error` | `b − b̂` of the embedded method |
/// | `bool stiffly_accurate` | `b == a[s-1]`, `c[s-1] == 1`: y1 is the last stage (and FSAL) |
/// | `bool filter_error` | the estimate is filtered by (I − hγJ̃)⁻¹ (for embedded methods that are not A-stable) |
/// | optional `predictor` (s × s) | initial guesses `k_i ≈ Σ_{j<i} predictor[i][j] k_j` of the Newton iteration (rows sum to 1) |
///
/// `static_assert(nde::valid_diagonally_implicit_tableau<my_tableau>())` checks the structure,
/// the sums and the order conditions of b up to order min(p, 4) and of b̂ up to min(error_order,
/// 4) (Hairer, Nørsett & Wanner I, Table II.2.2); higher orders are checked by the tests'
/// empirical convergence.
#pragma once

#include "nde/solvers/butcher_tableau.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>

namespace nde {

/// \brief The members every ESDIRK tableau has (see the file comment).
template <class Tableau>
concept diagonally_implicit_tableau = requires {
  { Tableau::stages } -> std::convertible_to<int>;
  { Tableau::order } -> std::convertible_to<int>;
  { Tableau::error_order } -> std::convertible_to<int>;
  { Tableau::gamma } -> std::convertible_to<double>;
  { Tableau::stiffly_accurate } -> std::convertible_to<bool>;
  { Tableau::filter_error } -> std::convertible_to<bool>;
  Tableau::a[0][0];
  Tableau::b[0];
  Tableau::b_error[0];
  Tableau::c[0];
}
&&(Tableau::stages >= 2) && (std::tuple_size_v<std::remove_cvref_t<decltype(Tableau::b)>> ==
                             static_cast<std::size_t>(Tableau::stages));

/// \brief The tableau has Newton predictors (`predictor[i][j]`, rows sum to 1).
template <class Tableau>
concept predicted_tableau = diagonally_implicit_tableau<Tableau> && requires {
  Tableau::predictor[0][0];
};

namespace detail {

template <int S>
using coefficients = std::array<double, static_cast<std::size_t>(S)>;

/// Σ_i w_i v_i.
template <int S>
constexpr double dot(const coefficients<S>& w, const coefficients<S>& v) {
  double sum = 0;
  for (std::size_t i = 0; i < w.size(); ++i) sum += w[i] * v[i];
  return sum;
}
/// (A v)_i.
template <class Tableau>
constexpr coefficients<Tableau::stages> times_a(const coefficients<Tableau::stages>& v) {
  coefficients<Tableau::stages> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    for (std::size_t j = 0; j < out.size(); ++j) out[i] += Tableau::a[i][j] * v[j];
  return out;
}
template <int S>
constexpr coefficients<S> product(const coefficients<S>& u, const coefficients<S>& v) {
  coefficients<S> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = u[i] * v[i];
  return out;
}

/// The order conditions of the weights `w` up to order min(p, 4) (trees of Hairer, Nørsett &
/// Wanner I, Table II.2.2): Σ w = 1, Σ w c = 1/2, Σ w c² = 1/3, Σ w A c = 1/6, Σ w c³ = 1/4,
/// Σ w c A c = 1/8, Σ w A c² = 1/12, Σ w A A c = 1/24.
template <class Tableau>
constexpr bool order_conditions(const coefficients<Tableau::stages>& w, int p) {
  constexpr int S = Tableau::stages;
  const auto& c = Tableau::c;
  const double tol = tableau_tolerance * 64;
  auto near = [tol](double x, double y) { return absolute(x - y) <= tol; };
  coefficients<S> one{};
  for (auto& x : one) x = 1;
  bool ok = near(dot<S>(w, one), 1.0);
  if (p >= 2) ok = ok && near(dot<S>(w, c), 0.5);
  if (p >= 3) {
    ok = ok && near(dot<S>(w, product<S>(c, c)), 1.0 / 3) &&
         near(dot<S>(w, times_a<Tableau>(c)), 1.0 / 6);
  }
  if (p >= 4) {
    const auto c2 = product<S>(c, c);
    const auto ac = times_a<Tableau>(c);
    ok = ok && near(dot<S>(w, product<S>(c2, c)), 0.25) &&
         near(dot<S>(w, product<S>(c, ac)), 0.125) &&
         near(dot<S>(w, times_a<Tableau>(c2)), 1.0 / 12) &&
         near(dot<S>(w, times_a<Tableau>(ac)), 1.0 / 24);
  }
  return ok;
}

template <class Tableau>
constexpr bool esdirk_structure() {
  constexpr auto s = static_cast<std::size_t>(Tableau::stages);
  if (Tableau::c[0] != 0.0) return false;
  for (std::size_t i = 0; i < s; ++i) {
    for (std::size_t j = i + 1; j < s; ++j)
      if (Tableau::a[i][j] != 0.0) return false;
    if (Tableau::a[i][i] != (i == 0 ? 0.0 : Tableau::gamma)) return false;
  }
  return Tableau::gamma > 0;
}

template <class Tableau>
constexpr bool esdirk_rows_sum_to_nodes() {
  constexpr auto s = static_cast<std::size_t>(Tableau::stages);
  for (std::size_t i = 0; i < s; ++i) {
    double sum = 0;
    for (std::size_t j = 0; j < s; ++j) sum += Tableau::a[i][j];
    if (absolute(sum - Tableau::c[i]) > tableau_tolerance * 16) return false;
  }
  return true;
}

template <class Tableau>
constexpr bool stiffly_accurate_consistent() {
  if constexpr (!Tableau::stiffly_accurate) {
    return true;
  } else {
    constexpr auto last = static_cast<std::size_t>(Tableau::stages - 1);
    if (Tableau::c[last] != 1.0) return false;
    for (std::size_t j = 0; j <= last; ++j)
      if (Tableau::a[last][j] != Tableau::b[j]) return false;
    return true;
  }
}

template <class Tableau>
constexpr bool predictor_consistent() {
  if constexpr (!predicted_tableau<Tableau>) {
    return true;
  } else {
    constexpr auto s = static_cast<std::size_t>(Tableau::stages);
    for (std::size_t i = 1; i < s; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < s; ++j) {
        if (j >= i && Tableau::predictor[i][j] != 0.0) return false;
        sum += Tableau::predictor[i][j];
      }
      if (absolute(sum - 1.0) > tableau_tolerance * 16) return false;
    }
    return true;
  }
}

template <class Tableau>
constexpr coefficients<Tableau::stages> embedded_weights() {
  coefficients<Tableau::stages> w{};
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = Tableau::b[i] - Tableau::b_error[i];
  return w;
}

constexpr int at_most_four(int p) { return p < 4 ? p : 4; }

}  // namespace detail

/// \brief True when an ESDIRK tableau passes every check: explicit first stage, diagonal γ,
/// lower triangular, rows sum to c, b sums to 1 and b_error to 0, the order conditions of b and
/// b̂ (up to order 4), stiff accuracy where claimed, predictor rows summing to 1.
template <diagonally_implicit_tableau Tableau>
constexpr bool valid_diagonally_implicit_tableau() {
  return detail::esdirk_structure<Tableau>() && detail::esdirk_rows_sum_to_nodes<Tableau>() &&
         detail::order_conditions<Tableau>(Tableau::b, detail::at_most_four(Tableau::order)) &&
         detail::absolute(detail::sum_of<Tableau>(Tableau::b_error)) <=
             detail::tableau_tolerance * 16 &&
         Tableau::error_order >= 1 && Tableau::error_order <= Tableau::order &&
         detail::order_conditions<Tableau>(detail::embedded_weights<Tableau>(),
                                           detail::at_most_four(Tableau::error_order)) &&
         detail::stiffly_accurate_consistent<Tableau>() && detail::predictor_consistent<Tableau>();
}

}  // namespace nde
