/// \file
/// \brief Interpolated control paths X(t) through observations, for neural controlled
/// differential equations (Kidger et al. 2020, "Neural controlled differential equations for
/// irregular time series", eq. 2 and §3.1; Morrill et al. 2021, "Neural CDEs for online
/// prediction tasks", on which interpolations are causal).
///
/// Every path here is built from strictly increasing knot times t_0 < … < t_{N−1} and one C × B
/// matrix of observations per knot (C channels, B samples of a batch that share the knots; NaN
/// is not allowed — see `nde/paths/observations.hpp` for missing values), and answers
///
/// | call | meaning |
/// |---|---|
/// | `evaluate(t, out)` | X(t), C × B |
/// | `derivative(t, out)` | dX/dt(t), C × B (what a CDE solver integrates against) |
/// | `second_derivative(t, out)` | d²X/dt²(t) (the time cotangent of a CDE's gradient) |
/// | `increment(t0, t1)` | X(t1) − X(t0) (so a path can drive `control_term`) |
/// | `derivative_vjp(t, ḡ, x̄)` | x̄_k += (∂X'(t)/∂x_k)ᵀ ḡ for every knot k (gradients with respect to the data) |
/// | `start()`, `end()`, `knots()` | the parameter range and the knots |
/// | `derivative_continuous` | false when X' jumps at the knots: a solver should be given the interior knots as `jump_ts` |
///
/// Each derivative is a weighted sum of the observations with scalar weights that depend on t
/// only (all interpolations are linear in the data), which is how `derivative_vjp` works.
/// Queries cost O(log N) (a binary search for the interval) plus O(C·B) (natural splines: the
/// vjp also solves one scalar tridiagonal system, O(N + N·C·B)). A query outside
/// [start(), end()] throws `nde::error` (invalid_input).
#pragma once

#include "nde/core/format.hpp"
#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace nde {

/// \brief Observations of a path: one C × B matrix (channels × samples) per knot.
template <class S = double>
using path_values = std::vector<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>>;

namespace detail {

/// Checks knots and values; throws nde::error naming `who` and the problem.
template <class S>
void check_path_data(const char* who, const std::vector<double>& times,
                     const path_values<S>& values, std::size_t minimum_knots = 2) {
  if (times.size() < minimum_knots)
    throw error(status::invalid_input, concatenate(who, ": needs at least ", minimum_knots,
                                                   " knots (got ", times.size(), ")"));
  if (values.size() != times.size())
    throw error(status::invalid_input, concatenate(who, ": ", times.size(), " knot times but ",
                                                   values.size(), " value matrices"));
  for (std::size_t k = 0; k < times.size(); ++k) {
    if (!std::isfinite(times[k]))
      throw error(status::invalid_input, concatenate(who, ": knot time ", k, " is not finite"));
    if (k > 0 && !(times[k] > times[k - 1]))
      throw error(status::invalid_input,
                  concatenate(who, ": knot times must be strictly increasing (t[", k - 1,
                              "] = ", times[k - 1], ", t[", k, "] = ", times[k], ")"));
  }
  const auto rows = values[0].rows(), cols = values[0].cols();
  if (rows < 1 || cols < 1)
    throw error(status::invalid_input,
                concatenate(who, ": the value matrices are empty (", rows, " x ", cols, ")"));
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (values[k].rows() != rows || values[k].cols() != cols)
      throw error(
          status::invalid_input,
          concatenate(who, ": value matrix ", k, " is ", values[k].rows(), " x ", values[k].cols(),
                      " but matrix 0 is ", rows, " x ", cols, " (channels x samples must agree)"));
    if (!values[k].allFinite())
      throw error(status::invalid_input,
                  concatenate(who, ": value matrix ", k,
                              " has a NaN or infinite entry (fill missing observations with "
                              "nde::prepare_observations first)"));
  }
}

/// The interval [t_i, t_{i+1}] holding t (the right one at an interior knot), or a throw.
/// Queries a few ulps past an end (times computed as t0 + k·h) count as the end.
inline std::size_t locate_interval(const char* who, const std::vector<double>& times, double t) {
  const double slack = 8 * std::numeric_limits<double>::epsilon() *
                       std::max(std::abs(times.front()), std::abs(times.back()));
  if (!(t >= times.front() - slack && t <= times.back() + slack))
    throw error(status::invalid_input, concatenate(who, ": query at t = ", t, " outside the path [",
                                                   times.front(), ", ", times.back(), "]"));
  const auto it = std::upper_bound(times.begin(), times.end(), t);
  const auto i = static_cast<std::size_t>(it - times.begin());
  return std::min(i == 0 ? 0 : i - 1, times.size() - 2);
}

/// Checks a cotangent / output buffer shape and sizes x̄ like the data on first use.
template <class S, class M>
void prepare_values_bar(const char* who, const path_values<S>& values, const M& cotangent,
                        path_values<S>& values_bar) {
  if (cotangent.rows() != values[0].rows() || cotangent.cols() != values[0].cols())
    throw error(status::invalid_input,
                concatenate(who, ": cotangent is ", cotangent.rows(), " x ", cotangent.cols(),
                            " but the path is ", values[0].rows(), " x ", values[0].cols()));
  if (values_bar.size() != values.size()) {
    values_bar.assign(values.size(), Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>::Zero(
                                         values[0].rows(), values[0].cols()));
  }
}

}  // namespace detail

/// \brief Piecewise-linear interpolation through the knots (Kidger et al. 2020, §3.1; Morrill et
/// al. 2021: causal, and with `jump_ts` at the knots as fast as any). X' is piecewise constant
/// and jumps at every interior knot (`derivative_continuous = false`); X'' = 0.
template <class S = double>
class linear_interpolation_path {
 public:
  using scalar = S;                                                 ///< Value scalar.
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  ///< C × B.
  static constexpr bool derivative_continuous = false;              ///< X' jumps at the knots.
  static constexpr int degree = 1;  ///< Reproduces polynomials of degree 1.

  /// \brief The path through `values[k]` at `times[k]` (≥ 2 strictly increasing knots).
  /// \throws nde::error (invalid_input) on bad knots or values.
  linear_interpolation_path(std::vector<double> times, path_values<S> values)
      : m_times(std::move(times)), m_values(std::move(values)) {
    detail::check_path_data("linear_interpolation_path", m_times, m_values);
  }

  /// \brief Channels C.
  [[nodiscard]] Eigen::Index channels() const { return m_values[0].rows(); }
  /// \brief Samples B.
  [[nodiscard]] Eigen::Index batch() const { return m_values[0].cols(); }
  /// \brief t_0.
  [[nodiscard]] double start() const { return m_times.front(); }
  /// \brief t_{N−1}.
  [[nodiscard]] double end() const { return m_times.back(); }
  /// \brief The knot times.
  [[nodiscard]] std::span<const double> knots() const { return m_times; }
  /// \brief The observations.
  [[nodiscard]] const path_values<S>& values() const { return m_values; }

  /// \brief X(t).
  void evaluate(double t, matrix& out) const {
    const auto i = locate(t);
    const S u = static_cast<S>((t - m_times[i]) / (m_times[i + 1] - m_times[i]));
    out = (1 - u) * m_values[i] + u * m_values[i + 1];
  }
  /// \brief X'(t): the slope of t's interval.
  void derivative(double t, matrix& out) const {
    const auto i = locate(t);
    const S inv_h = static_cast<S>(1 / (m_times[i + 1] - m_times[i]));
    out = inv_h * (m_values[i + 1] - m_values[i]);
  }
  /// \brief X''(t) = 0.
  void second_derivative(double t, matrix& out) const {
    (void)locate(t);
    out.setZero(channels(), batch());
  }
  /// \brief X(t1) − X(t0).
  [[nodiscard]] matrix increment(double t0, double t1) const {
    matrix a, b;
    evaluate(t0, a);
    evaluate(t1, b);
    return b - a;
  }
  /// \brief x̄_k += (∂X'(t)/∂x_k)ᵀ ḡ (sizes `values_bar` like the data when it is empty).
  template <class M>
  void derivative_vjp(double t, const M& cotangent, path_values<S>& values_bar) const {
    detail::prepare_values_bar("linear_interpolation_path", m_values, cotangent, values_bar);
    const auto i = locate(t);
    const S inv_h = static_cast<S>(1 / (m_times[i + 1] - m_times[i]));
    values_bar[i] -= inv_h * cotangent;
    values_bar[i + 1] += inv_h * cotangent;
  }

 private:
  std::size_t locate(double t) const {
    return detail::locate_interval("linear_interpolation_path", m_times, t);
  }
  std::vector<double> m_times;
  path_values<S> m_values;
};

/// \brief Cubic Hermite interpolation with backward differences (torchcde's default for neural
/// CDEs; Morrill et al. 2021, §3): on [t_i, t_{i+1}] the cubic through x_i and x_{i+1} whose
/// slopes at the two ends are the backward differences (x_i − x_{i−1})/(t_i − t_{i−1}) and
/// (x_{i+1} − x_i)/(t_{i+1} − t_i) (the first interval is linear). X is C¹; X'' jumps at the
/// knots. **Causal**: X on [t_i, t_{i+1}] reads only x_{i−1}, x_i, x_{i+1} — nothing observed
/// after t_{i+1}. Reproduces polynomials of degree 1 exactly; the error on smooth data is O(h²).
template <class S = double>
class hermite_cubic_path {
 public:
  using scalar = S;                                                 ///< Value scalar.
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  ///< C × B.
  static constexpr bool derivative_continuous = true;               ///< C¹.
  static constexpr int degree = 1;  ///< Reproduces polynomials of degree 1.

  /// \brief The path through `values[k]` at `times[k]` (≥ 2 strictly increasing knots).
  /// \throws nde::error (invalid_input) on bad knots or values.
  hermite_cubic_path(std::vector<double> times, path_values<S> values)
      : m_times(std::move(times)), m_values(std::move(values)) {
    detail::check_path_data("hermite_cubic_path", m_times, m_values);
  }

  /// \brief Channels C.
  [[nodiscard]] Eigen::Index channels() const { return m_values[0].rows(); }
  /// \brief Samples B.
  [[nodiscard]] Eigen::Index batch() const { return m_values[0].cols(); }
  /// \brief t_0.
  [[nodiscard]] double start() const { return m_times.front(); }
  /// \brief t_{N−1}.
  [[nodiscard]] double end() const { return m_times.back(); }
  /// \brief The knot times.
  [[nodiscard]] std::span<const double> knots() const { return m_times; }
  /// \brief The observations.
  [[nodiscard]] const path_values<S>& values() const { return m_values; }

  /// \brief X(t).
  void evaluate(double t, matrix& out) const { combine(t, 0, out); }
  /// \brief X'(t).
  void derivative(double t, matrix& out) const { combine(t, 1, out); }
  /// \brief X''(t) (from the right at a knot).
  void second_derivative(double t, matrix& out) const { combine(t, 2, out); }
  /// \brief X(t1) − X(t0).
  [[nodiscard]] matrix increment(double t0, double t1) const {
    matrix a, b;
    evaluate(t0, a);
    evaluate(t1, b);
    return b - a;
  }
  /// \brief x̄_k += (∂X'(t)/∂x_k)ᵀ ḡ (three knots: i−1, i, i+1).
  template <class M>
  void derivative_vjp(double t, const M& cotangent, path_values<S>& values_bar) const {
    detail::prepare_values_bar("hermite_cubic_path", m_values, cotangent, values_bar);
    const auto [first, count, w] = weights(t, 1);
    for (std::size_t k = 0; k < count; ++k) values_bar[first + k] += w[k] * cotangent;
  }

 private:
  struct knot_weights {
    std::size_t first;
    std::size_t count;
    std::array<S, 3> w;
  };
  // X^(order)(t) = Σ_k w_k x_{first + k}, from the Hermite basis with the slopes substituted.
  knot_weights weights(double t, int order) const {
    const auto i = detail::locate_interval("hermite_cubic_path", m_times, t);
    const double h = m_times[i + 1] - m_times[i];
    const double u = (t - m_times[i]) / h;
    // Basis H00, H10, H01, H11 (or their u-derivatives), and the chain-rule factor 1/h^order.
    double h00, h10, h01, h11, scale;
    if (order == 0) {
      h00 = (2 * u - 3) * u * u + 1;
      h10 = ((u - 2) * u + 1) * u;
      h01 = (3 - 2 * u) * u * u;
      h11 = (u - 1) * u * u;
      scale = 1;
    } else if (order == 1) {
      h00 = (6 * u - 6) * u;
      h10 = (3 * u - 4) * u + 1;
      h01 = (6 - 6 * u) * u;
      h11 = (3 * u - 2) * u;
      scale = 1 / h;
    } else {
      h00 = 12 * u - 6;
      h10 = 6 * u - 4;
      h01 = 6 - 12 * u;
      h11 = 6 * u - 2;
      scale = 1 / (h * h);
    }
    // X = H00 x_i + H10 h m_i + H01 x_{i+1} + H11 h m_{i+1}, with h m_{i+1} = x_{i+1} − x_i and
    // h m_i = r (x_i − x_{i−1}), r = h / (t_i − t_{i−1}) (for i = 0, h m_0 = x_1 − x_0).
    if (i == 0)
      return {0,
              2,
              {static_cast<S>(scale * (h00 - h11 - h10)), static_cast<S>(scale * (h01 + h11 + h10)),
               S(0)}};
    const double r = h / (m_times[i] - m_times[i - 1]);
    return {i - 1,
            3,
            {static_cast<S>(scale * (-r * h10)), static_cast<S>(scale * (h00 - h11 + r * h10)),
             static_cast<S>(scale * (h01 + h11))}};
  }
  void combine(double t, int order, matrix& out) const {
    const auto [first, count, w] = weights(t, order);
    out = w[0] * m_values[first];
    for (std::size_t k = 1; k < count; ++k) out += w[k] * m_values[first + k];
  }
  std::vector<double> m_times;
  path_values<S> m_values;
};

/// \brief Natural cubic spline through the knots (X'' = 0 at both ends; Kidger et al. 2020,
/// §3.1: C², smooth enough for any solver, but **not causal**: X(t) depends on every
/// observation). The knot second derivatives M solve the spline's tridiagonal system (Thomas
/// algorithm, O(N·C·B) at construction). Reproduces polynomials of degree 1 exactly; O(h⁴)
/// away from the ends on smooth data.
template <class S = double>
class natural_cubic_path {
 public:
  using scalar = S;                                                 ///< Value scalar.
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  ///< C × B.
  static constexpr bool derivative_continuous = true;               ///< C².
  static constexpr int degree = 1;  ///< Reproduces polynomials of degree 1.

  /// \brief The spline through `values[k]` at `times[k]` (≥ 2 strictly increasing knots).
  /// \throws nde::error (invalid_input) on bad knots or values.
  natural_cubic_path(std::vector<double> times, path_values<S> values)
      : m_times(std::move(times)), m_values(std::move(values)) {
    detail::check_path_data("natural_cubic_path", m_times, m_values);
    const std::size_t n = m_times.size();
    m_second.assign(n, matrix::Zero(channels(), batch()));
    if (n < 3) return;
    // Interior equations k = 1..n−2: (h_{k−1}/6) M_{k−1} + ((h_{k−1} + h_k)/3) M_k + (h_k/6) M_{k+1}
    //   = (x_{k+1} − x_k)/h_k − (x_k − x_{k−1})/h_{k−1}; forward sweep, then back substitution.
    std::vector<double> c_prime(n, 0.0);
    for (std::size_t k = 1; k + 1 < n; ++k) {
      const double hl = m_times[k] - m_times[k - 1], hr = m_times[k + 1] - m_times[k];
      const double lower = hl / 6, diagonal = (hl + hr) / 3, upper = hr / 6;
      const double pivot = diagonal - lower * c_prime[k - 1];
      c_prime[k] = upper / pivot;
      m_second[k] = static_cast<S>(1 / hr) * (m_values[k + 1] - m_values[k]) -
                    static_cast<S>(1 / hl) * (m_values[k] - m_values[k - 1]);
      m_second[k] -= static_cast<S>(lower) * m_second[k - 1];
      m_second[k] *= static_cast<S>(1 / pivot);
    }
    for (std::size_t k = n - 2; k-- > 1;)
      m_second[k] -= static_cast<S>(c_prime[k]) * m_second[k + 1];
  }

  /// \brief Channels C.
  [[nodiscard]] Eigen::Index channels() const { return m_values[0].rows(); }
  /// \brief Samples B.
  [[nodiscard]] Eigen::Index batch() const { return m_values[0].cols(); }
  /// \brief t_0.
  [[nodiscard]] double start() const { return m_times.front(); }
  /// \brief t_{N−1}.
  [[nodiscard]] double end() const { return m_times.back(); }
  /// \brief The knot times.
  [[nodiscard]] std::span<const double> knots() const { return m_times; }
  /// \brief The observations.
  [[nodiscard]] const path_values<S>& values() const { return m_values; }
  /// \brief X'' at the knots (M_0 = M_{N−1} = 0).
  [[nodiscard]] const path_values<S>& knot_second_derivatives() const { return m_second; }

  /// \brief X(t).
  void evaluate(double t, matrix& out) const {
    const auto [i, h, a, b] = local(t);
    out = static_cast<S>(a) * m_values[i] + static_cast<S>(b) * m_values[i + 1] +
          static_cast<S>((a * a * a - a) * h * h / 6) * m_second[i] +
          static_cast<S>((b * b * b - b) * h * h / 6) * m_second[i + 1];
  }
  /// \brief X'(t).
  void derivative(double t, matrix& out) const {
    const auto [i, h, a, b] = local(t);
    out = static_cast<S>(1 / h) * (m_values[i + 1] - m_values[i]) -
          static_cast<S>((3 * a * a - 1) * h / 6) * m_second[i] +
          static_cast<S>((3 * b * b - 1) * h / 6) * m_second[i + 1];
  }
  /// \brief X''(t).
  void second_derivative(double t, matrix& out) const {
    const auto [i, h, a, b] = local(t);
    out = static_cast<S>(a) * m_second[i] + static_cast<S>(b) * m_second[i + 1];
  }
  /// \brief X(t1) − X(t0).
  [[nodiscard]] matrix increment(double t0, double t1) const {
    matrix x0, x1;
    evaluate(t0, x0);
    evaluate(t1, x1);
    return x1 - x0;
  }
  /// \brief x̄_k += (∂X'(t)/∂x_k)ᵀ ḡ for every knot (one scalar tridiagonal solve, O(N + N·C·B)).
  template <class M>
  void derivative_vjp(double t, const M& cotangent, path_values<S>& values_bar) const {
    detail::prepare_values_bar("natural_cubic_path", m_values, cotangent, values_bar);
    const auto [i, h, a, b] = local(t);
    const std::size_t n = m_times.size();
    // Direct part through x_i, x_{i+1}; the part through M_i, M_{i+1}: λ = T⁻¹ M̄ (T symmetric).
    std::vector<double> w(n, 0.0);
    w[i] -= 1 / h;
    w[i + 1] += 1 / h;
    if (n >= 3) {
      std::vector<double> rhs(n, 0.0), c_prime(n, 0.0);
      if (i >= 1) rhs[i] = -(3 * a * a - 1) * h / 6;
      if (i + 1 <= n - 2) rhs[i + 1] = (3 * b * b - 1) * h / 6;
      for (std::size_t k = 1; k + 1 < n; ++k) {
        const double hl = m_times[k] - m_times[k - 1], hr = m_times[k + 1] - m_times[k];
        const double lower = hl / 6, diagonal = (hl + hr) / 3, upper = hr / 6;
        const double pivot = diagonal - lower * c_prime[k - 1];
        c_prime[k] = upper / pivot;
        rhs[k] = (rhs[k] - lower * rhs[k - 1]) / pivot;
      }
      for (std::size_t k = n - 2; k-- > 1;) rhs[k] -= c_prime[k] * rhs[k + 1];
      // r_k = (x_{k+1} − x_k)/h_k − (x_k − x_{k−1})/h_{k−1}: x̄ from λ = rhs.
      for (std::size_t k = 1; k + 1 < n; ++k) {
        const double hl = m_times[k] - m_times[k - 1], hr = m_times[k + 1] - m_times[k];
        w[k + 1] += rhs[k] / hr;
        w[k] -= rhs[k] * (1 / hr + 1 / hl);
        w[k - 1] += rhs[k] / hl;
      }
    }
    for (std::size_t k = 0; k < n; ++k)
      if (w[k] != 0) values_bar[k] += static_cast<S>(w[k]) * cotangent;
  }

 private:
  struct local_coordinates {
    std::size_t i;
    double h, a, b;  // a = (t_{i+1} − t)/h, b = (t − t_i)/h
  };
  local_coordinates local(double t) const {
    const auto i = detail::locate_interval("natural_cubic_path", m_times, t);
    const double h = m_times[i + 1] - m_times[i];
    const double b = (t - m_times[i]) / h;
    return {i, h, 1 - b, b};
  }
  std::vector<double> m_times;
  path_values<S> m_values;
  path_values<S> m_second;
};

/// \brief Rectilinear interpolation (Morrill et al. 2021, §3.3, for online prediction): between
/// observations the path first moves along the `leading` channel (usually time) with the
/// others held, then along the other channels with the leading one held. The path parameter
/// s runs over [0, 2(N−1)]: s ∈ [2i, 2i+1] is the leading leg from knot i to i+1, s ∈ [2i+1,
/// 2i+2] the data leg. A CDE driven by it has seen x_{i+1} exactly when s reaches 2i+2, and
/// never before: an online model. Piecewise linear in s (`derivative_continuous = false`: its
/// knots s = 1, …, 2N−3 are jump times). Queries and `knots()` are in s, not t.
template <class S = double>
class rectilinear_path {
 public:
  using scalar = S;                                                 ///< Value scalar.
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  ///< C × B.
  static constexpr bool derivative_continuous = false;              ///< Piecewise linear in s.
  static constexpr int degree = 1;                                  ///< Linear on each leg.

  /// \brief The rectilinear path through `values[k]` (observed at `times[k]`, strictly
  /// increasing) with channel `leading` moving first.
  /// \throws nde::error (invalid_input) on bad knots, values or channel.
  rectilinear_path(const std::vector<double>& times, const path_values<S>& values,
                   Eigen::Index leading = 0)
      : m_leading(leading), m_linear(parameters(times, values, leading), legs(values, leading)) {}

  /// \brief Channels C.
  [[nodiscard]] Eigen::Index channels() const { return m_linear.channels(); }
  /// \brief Samples B.
  [[nodiscard]] Eigen::Index batch() const { return m_linear.batch(); }
  /// \brief s = 0.
  [[nodiscard]] double start() const { return m_linear.start(); }
  /// \brief s = 2(N − 1).
  [[nodiscard]] double end() const { return m_linear.end(); }
  /// \brief The knots in s: 0, 1, …, 2(N − 1).
  [[nodiscard]] std::span<const double> knots() const { return m_linear.knots(); }
  /// \brief The channel that moves first.
  [[nodiscard]] Eigen::Index leading_channel() const noexcept { return m_leading; }

  /// \brief X(s).
  void evaluate(double s, matrix& out) const { m_linear.evaluate(s, out); }
  /// \brief dX/ds.
  void derivative(double s, matrix& out) const { m_linear.derivative(s, out); }
  /// \brief d²X/ds² = 0.
  void second_derivative(double s, matrix& out) const { m_linear.second_derivative(s, out); }
  /// \brief X(s1) − X(s0).
  [[nodiscard]] matrix increment(double s0, double s1) const { return m_linear.increment(s0, s1); }
  /// \brief x̄_k += (∂X'(s)/∂x_k)ᵀ ḡ, with respect to the N original observations.
  template <class M>
  void derivative_vjp(double s, const M& cotangent, path_values<S>& values_bar) const {
    path_values<S> leg_bar(m_linear.values().size(), matrix::Zero(channels(), batch()));
    m_linear.derivative_vjp(s, cotangent, leg_bar);
    const std::size_t n = (leg_bar.size() + 1) / 2;
    if (values_bar.size() != n) values_bar.assign(n, matrix::Zero(channels(), batch()));
    // Leg knot 2i is x_i; leg knot 2i+1 is x_i with the leading channel of x_{i+1}.
    for (std::size_t i = 0; i < n; ++i) {
      values_bar[i] += leg_bar[2 * i];
      if (2 * i + 1 < leg_bar.size()) {
        values_bar[i] += leg_bar[2 * i + 1];
        values_bar[i].row(m_leading) -= leg_bar[2 * i + 1].row(m_leading);
        values_bar[i + 1].row(m_leading) += leg_bar[2 * i + 1].row(m_leading);
      }
    }
  }

 private:
  static std::vector<double> parameters(const std::vector<double>& times,
                                        const path_values<S>& values, Eigen::Index leading) {
    detail::check_path_data("rectilinear_path", times, values);
    if (leading < 0 || leading >= values[0].rows())
      throw error(status::invalid_input,
                  detail::concatenate("rectilinear_path: leading channel ", leading,
                                      " is not one of the ", values[0].rows(), " channels"));
    std::vector<double> s(2 * times.size() - 1);
    for (std::size_t j = 0; j < s.size(); ++j) s[j] = static_cast<double>(j);
    return s;
  }
  static path_values<S> legs(const path_values<S>& values, Eigen::Index leading) {
    // (Argument evaluation order is unspecified: check here too, before any row is read.)
    if (values.empty() || leading < 0 || leading >= values[0].rows())
      throw error(
          status::invalid_input,
          detail::concatenate("rectilinear_path: leading channel ", leading, " is not one of the ",
                              values.empty() ? Eigen::Index{0} : values[0].rows(), " channels"));
    path_values<S> out;
    out.reserve(2 * values.size() - 1);
    for (std::size_t i = 0; i < values.size(); ++i) {
      out.push_back(values[i]);
      if (i + 1 < values.size()) {
        out.push_back(values[i]);
        out.back().row(leading) = values[i + 1].row(leading);
      }
    }
    return out;
  }
  Eigen::Index m_leading;
  linear_interpolation_path<S> m_linear;
};

}  // namespace nde
