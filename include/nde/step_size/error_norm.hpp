/// \file
/// \brief Tolerances (scalar or per component) and the scaled error norm of an error
/// estimate: `‖ e_i / (atol_i + rtol_i · max(|y0_i|, |y1_i|)) ‖` (Hairer, Nørsett & Wanner I,
/// eqs. II.4.10–11).
#pragma once

#include "nde/core/concepts.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace nde {

/// \brief Which norm measures the scaled error.
enum class error_norm {
  rms,  ///< sqrt(mean of squares) over all components (and batch columns); Hairer's choice.
  max,  ///< Largest absolute scaled component.
};

/// \brief A user norm of the scaled error matrix (rows: state components, columns: batch).
/// Called once per step with a preallocated matrix (never an empty one: an empty state has
/// error 0); it must return a non-negative number (NaN or a negative number fails the solve).
using custom_error_norm =
    std::function<double(const Eigen::Ref<const Eigen::MatrixXd>& scaled_error)>;

/// \brief A tolerance: one number for every component, or one per state component (row).
///
/// Converts implicitly from a `double` and from an Eigen vector, so controller options read
/// `.rtol = 1e-6` or `.atol = Eigen::Vector2d(1e-8, 1e-3)`.
class tolerance {
 public:
  /// \brief The same tolerance for every component.
  tolerance(double value) : m_scalar(value) {}  // NOLINT(google-explicit-constructor)

  /// \brief One tolerance per state component (row of the state).
  template <class Derived>
  tolerance(const Eigen::MatrixBase<Derived>& per_component)  // NOLINT(google-explicit-constructor)
      : m_per_component(per_component.template cast<double>()), m_is_per_component(true) {}

  /// \brief True when it holds one value per component.
  [[nodiscard]] bool is_per_component() const noexcept { return m_is_per_component; }

  /// \brief Number of per-component values (0 for a scalar tolerance).
  [[nodiscard]] Eigen::Index size() const noexcept {
    return m_is_per_component ? m_per_component.size() : 0;
  }

  /// \brief Tolerance of component (row) `i`.
  [[nodiscard]] double operator[](Eigen::Index i) const {
    return m_is_per_component ? m_per_component[i] : m_scalar;
  }

  /// \brief Smallest value (for validation).
  [[nodiscard]] double min() const {
    return m_is_per_component ? (m_per_component.size() ? m_per_component.minCoeff() : 0.0)
                              : m_scalar;
  }

  /// \brief True when every value is finite.
  [[nodiscard]] bool all_finite() const {
    return m_is_per_component ? m_per_component.allFinite() : std::isfinite(m_scalar);
  }

 private:
  double m_scalar = 0.0;
  Eigen::VectorXd m_per_component;
  bool m_is_per_component = false;
};

namespace detail {

/// Returned by `scaled_error_norm` when a custom norm returned NaN or a negative number for a
/// finite scaled error (the norm is at fault, not the step).
inline constexpr double bad_custom_norm = -1.0;

/// Scaled norm of `error` with the scale taken from `y0` and `y1` and the relative tolerance
/// raised to at least `rtol_floor`. An exact zero error counts as zero even where the scale is
/// zero (a pure relative tolerance on a zero component). When `custom` is set, the scaled error
/// is written into `scratch` (preallocated by the caller) first; a custom result that is NaN or
/// negative gives `bad_custom_norm`. Returns NaN if the error has a NaN (so the caller rejects
/// the step).
template <state State>
double scaled_error_norm(const State& error, const State& y0, const State& y1,
                         const tolerance& rtol, const tolerance& atol, error_norm norm,
                         const custom_error_norm& custom, Eigen::MatrixXd& scratch,
                         double rtol_floor = 0) {
  const Eigen::Index rows = error.rows();
  const Eigen::Index cols = error.cols();
  double accumulated = 0.0;
  bool saw_nan = false;
  for (Eigen::Index j = 0; j < cols; ++j) {
    for (Eigen::Index i = 0; i < rows; ++i) {
      const double size = std::max(std::abs(static_cast<double>(y0(i, j))),
                                   std::abs(static_cast<double>(y1(i, j))));
      const double e = static_cast<double>(error(i, j));
      const double scaled = e == 0 ? 0.0 : e / (atol[i] + std::max(rtol[i], rtol_floor) * size);
      if (std::isnan(scaled)) saw_nan = true;
      if (custom) {
        scratch(i, j) = scaled;
      } else if (norm == error_norm::rms) {
        accumulated += scaled * scaled;
      } else {
        accumulated = std::max(accumulated, std::abs(scaled));
      }
    }
  }
  if (saw_nan) return std::numeric_limits<double>::quiet_NaN();
  if (rows * cols == 0) return 0.0;  // an empty state has no error (nor a custom norm call)
  if (custom) {
    const double value = custom(scratch);
    return value >= 0 ? value : bad_custom_norm;
  }
  if (norm == error_norm::rms) return std::sqrt(accumulated / static_cast<double>(rows * cols));
  return accumulated;
}

}  // namespace detail
}  // namespace nde
