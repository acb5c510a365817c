/// \file
/// \brief Exact 2-Wasserstein distance between two equal-size empirical distributions, by the
/// optimal assignment of their samples.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>

#include "nde/core/status.hpp"
#include "nde/ot/assignment.hpp"

namespace nde::ot {

/// \brief Exact W2 distance between the empirical distributions of the columns of `x` and
/// `y` (both d×n, equal weights 1/n): W2 = sqrt((1/n)·min_σ Σ_i ‖x_i − y_σ(i)‖²), the minimum
/// over permutations σ found by `linear_assignment` on the squared-Euclidean cost (for equal
/// uniform weights an optimal coupling is a permutation, Birkhoff–von Neumann). Same units as
/// the samples. O(n³ + n²·d) time, O(n²) memory. Throws `nde::error` (invalid_input) when the
/// dimensions or sample counts differ, a set is empty, or an entry is NaN/Inf.
inline double wasserstein2(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {
  if (x.rows() != y.rows()) {
    throw nde::error(nde::status::invalid_input, "wasserstein2: x has " + std::to_string(x.rows()) +
                                                     " rows but y has " + std::to_string(y.rows()));
  }
  if (x.cols() != y.cols()) {
    throw nde::error(nde::status::invalid_input,
                     "wasserstein2: x has " + std::to_string(x.cols()) + " samples but y has " +
                         std::to_string(y.cols()) + " (equal sizes are required)");
  }
  if (x.cols() == 0 || x.rows() == 0) {
    throw nde::error(nde::status::invalid_input, "wasserstein2: the sample sets are empty (" +
                                                     std::to_string(x.rows()) + "x" +
                                                     std::to_string(x.cols()) + ")");
  }
  const auto matching = solve_linear_assignment(squared_euclidean_cost(x, y));
  return std::sqrt(std::max(0.0, matching.cost) / static_cast<double>(x.cols()));
}

}  // namespace nde::ot
