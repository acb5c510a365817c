/// \file
/// \brief Convergence-order fit: least-squares slope of log(error) against log(step size).
#pragma once

#include "nde/core/status.hpp"

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

namespace nde::testing {

/// \brief Fitted line log(error) = order · log(step) + log(constant).
struct order_fit {
  double order = 0;     ///< Slope: the empirical order of convergence.
  double constant = 0;  ///< exp(intercept): error ≈ constant · step^order.
};

/// \brief Least-squares fit of log(errors) against log(steps) (O(n)).
/// \throws nde::error (invalid_input) if the spans differ in length, have fewer than two
///   points, contain a non-positive or non-finite value, or all steps are equal.
inline order_fit fit_convergence_order(std::span<const double> steps,
                                       std::span<const double> errors) {
  if (steps.size() != errors.size() || steps.size() < 2)
    throw error(status::invalid_input,
                "convergence fit needs at least two (step, error) pairs of equal count");
  double mean_x = 0, mean_y = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!(steps[i] > 0) || !(errors[i] > 0) || !std::isfinite(steps[i]) ||
        !std::isfinite(errors[i]))
      throw error(status::invalid_input,
                  "convergence fit needs positive finite steps and errors (point " +
                      std::to_string(i) + ")");
    mean_x += std::log(steps[i]);
    mean_y += std::log(errors[i]);
  }
  const auto n = static_cast<double>(steps.size());
  mean_x /= n;
  mean_y /= n;
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double dx = std::log(steps[i]) - mean_x;
    sxx += dx * dx;
    sxy += dx * (std::log(errors[i]) - mean_y);
  }
  if (sxx == 0)
    throw error(status::invalid_input, "convergence fit needs at least two distinct step sizes");
  const double slope = sxy / sxx;
  return {slope, std::exp(mean_y - slope * mean_x)};
}

/// \brief The empirical order alone (slope of `fit_convergence_order`).
inline double convergence_order(std::span<const double> steps, std::span<const double> errors) {
  return fit_convergence_order(steps, errors).order;
}

}  // namespace nde::testing
