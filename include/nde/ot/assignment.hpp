/// \file
/// \brief Discrete optimal transport between sample sets: the exact linear assignment
/// (minimum-cost perfect matching, O(n³) shortest augmenting paths with dual potentials),
/// log-domain entropic OT (Sinkhorn) between uniform marginals, pairings sampled from a
/// transport plan, and the squared-Euclidean cost matrix between two column-sample sets.
///
/// These pair the noise and data samples of a minibatch for optimal-transport flow matching
/// (Tong et al. 2024, "Improving and generalizing flow-based generative models with minibatch
/// optimal transport"; Pooladian et al. 2023, "Multisample flow matching").
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "nde/core/status.hpp"
#include "nde/nn/initialisers.hpp"

namespace nde::ot {

namespace detail {

inline void require_finite_matrix(const char* who, const char* what, const Eigen::MatrixXd& m) {
  for (Eigen::Index j = 0; j < m.cols(); ++j) {
    for (Eigen::Index i = 0; i < m.rows(); ++i) {
      if (!std::isfinite(m(i, j))) {
        throw nde::error(nde::status::invalid_input,
                         std::string(who) + ": " + what + " has a non-finite entry at (" +
                             std::to_string(i) + ", " + std::to_string(j) + ")");
      }
    }
  }
}

}  // namespace detail

/// \brief Squared Euclidean cost between the columns of `x` (d×n) and `y` (d×m):
/// C(i, j) = ‖x_i − y_j‖², an n×m matrix. Each entry is formed from the difference (not from
/// ‖x‖² + ‖y‖² − 2x·y), so C(i, j) = 0 exactly when x_i = y_j. Throws `nde::error`
/// (invalid_input) when the row counts differ or an entry is NaN/Inf. O(n·m·d).
inline Eigen::MatrixXd squared_euclidean_cost(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {
  if (x.rows() != y.rows()) {
    throw nde::error(nde::status::invalid_input, "squared_euclidean_cost: x has " +
                                                     std::to_string(x.rows()) + " rows but y has " +
                                                     std::to_string(y.rows()));
  }
  detail::require_finite_matrix("squared_euclidean_cost", "x", x);
  detail::require_finite_matrix("squared_euclidean_cost", "y", y);
  Eigen::MatrixXd cost(x.cols(), y.cols());
  for (Eigen::Index j = 0; j < y.cols(); ++j) {
    for (Eigen::Index i = 0; i < x.cols(); ++i) cost(i, j) = (x.col(i) - y.col(j)).squaredNorm();
  }
  return cost;
}

/// \brief An optimal assignment with its certificate of optimality.
///
/// The potentials are dual feasible, `row_potential(i) + column_potential(j) <= cost(i, j)`
/// for all i, j (up to rounding), with equality on the matched pairs, so
/// `row_potential.sum() + column_potential.sum() == cost` certifies that no other
/// permutation is cheaper (linear-programming duality).
struct assignment_result {
  /// \brief Row i is matched to column `column_of_row[i]` (a permutation of 0…n−1).
  std::vector<Eigen::Index> column_of_row;
  /// \brief Total cost Σ_i cost(i, column_of_row[i]) of the matching.
  double cost = 0.0;
  Eigen::VectorXd row_potential;     ///< Dual variables u of the rows.
  Eigen::VectorXd column_potential;  ///< Dual variables v of the columns.
};

/// \brief Exact minimum-cost perfect matching of a square n×n cost matrix, with the dual
/// potentials that certify it (see `assignment_result`).
///
/// Shortest augmenting paths with potentials (Kuhn–Munkres in the form of Jonker & Volgenant
/// 1987, "A shortest augmenting path algorithm for dense and sparse linear assignment
/// problems"): each row is added by one Dijkstra-like search over reduced costs, O(n²) per
/// row, O(n³) in all, O(n²) memory. Costs may be negative. n = 0 gives an empty matching.
/// Throws `nde::error` (invalid_input) when the matrix is not square or holds NaN/Inf.
inline assignment_result solve_linear_assignment(const Eigen::MatrixXd& cost) {
  if (cost.rows() != cost.cols()) {
    throw nde::error(nde::status::invalid_input,
                     "linear_assignment: the cost matrix must be square, got " +
                         std::to_string(cost.rows()) + "x" + std::to_string(cost.cols()));
  }
  detail::require_finite_matrix("linear_assignment", "the cost matrix", cost);
  const Eigen::Index n = cost.rows();
  assignment_result result;
  result.column_of_row.assign(static_cast<std::size_t>(n), 0);
  result.row_potential = Eigen::VectorXd::Zero(n);
  result.column_potential = Eigen::VectorXd::Zero(n);
  if (n == 0) return result;

  // Rows and columns are numbered 1…n here; column 0 is a virtual column that holds the row
  // being added. row_of[j] is the row matched to column j (0: none).
  const auto un = static_cast<std::size_t>(n);
  const Eigen::MatrixXd by_row = cost.transpose();  // by_row.col(i) = row i, contiguous
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(un + 1, 0.0);
  std::vector<double> v(un + 1, 0.0);
  std::vector<std::size_t> row_of(un + 1, 0);
  std::vector<std::size_t> previous(un + 1, 0);
  std::vector<double> min_reduced(un + 1, inf);
  std::vector<char> visited(un + 1, 0);
  for (std::size_t row = 1; row <= un; ++row) {
    row_of[0] = row;
    std::size_t j0 = 0;
    std::fill(min_reduced.begin(), min_reduced.end(), inf);
    std::fill(visited.begin(), visited.end(), 0);
    do {
      visited[j0] = 1;
      const std::size_t i0 = row_of[j0];
      const double* costs = by_row.col(static_cast<Eigen::Index>(i0 - 1)).data();
      double delta = inf;
      std::size_t j1 = 0;
      for (std::size_t j = 1; j <= un; ++j) {
        if (visited[j] != 0) continue;
        const double reduced = costs[j - 1] - u[i0] - v[j];
        if (reduced < min_reduced[j]) {
          min_reduced[j] = reduced;
          previous[j] = j0;
        }
        if (min_reduced[j] < delta) {
          delta = min_reduced[j];
          j1 = j;
        }
      }
      for (std::size_t j = 0; j <= un; ++j) {
        if (visited[j] != 0) {
          u[row_of[j]] += delta;
          v[j] -= delta;
        } else {
          min_reduced[j] -= delta;
        }
      }
      j0 = j1;
    } while (row_of[j0] != 0);
    do {  // augment along the shortest path back to the virtual column
      const std::size_t j1 = previous[j0];
      row_of[j0] = row_of[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  for (std::size_t j = 1; j <= un; ++j) {
    const auto i = static_cast<Eigen::Index>(row_of[j] - 1);
    result.column_of_row[static_cast<std::size_t>(i)] = static_cast<Eigen::Index>(j - 1);
    result.column_potential(static_cast<Eigen::Index>(j - 1)) = v[j];
  }
  for (std::size_t i = 1; i <= un; ++i) {
    result.row_potential(static_cast<Eigen::Index>(i - 1)) = u[i];
  }
  for (Eigen::Index i = 0; i < n; ++i) {
    result.cost += cost(i, result.column_of_row[static_cast<std::size_t>(i)]);
  }
  return result;
}

/// \brief Exact minimum-cost perfect matching of a square n×n cost matrix: row i is assigned
/// column `result[i]`. O(n³) (see `solve_linear_assignment`, which also returns the cost and
/// the dual certificate). Throws `nde::error` (invalid_input) on a non-square matrix or
/// NaN/Inf; n = 0 gives an empty vector.
inline std::vector<Eigen::Index> linear_assignment(const Eigen::MatrixXd& cost) {
  return solve_linear_assignment(cost).column_of_row;
}

/// \brief Settings of `sinkhorn`.
struct sinkhorn_options {
  /// \brief Entropic regularisation ε > 0, in the units of the cost. The plan minimises
  /// ⟨P, C⟩ − ε·H(P); smaller ε is closer to exact OT but needs more iterations (a common
  /// choice is ε ≈ 0.05·max C, as POT and torchcfm use with a cost normalised by its maximum).
  double epsilon = 0.05;
  /// \brief At most this many (row, column) update pairs.
  int max_iterations = 1000;
  /// \brief Stop when the row marginal error Σ_i |Σ_j P_ij − 1/n| is at most this (the
  /// column marginals are exact after each iteration).
  double tolerance = 1e-9;
};

/// \brief Result of `sinkhorn`.
struct sinkhorn_result {
  /// \brief The n×m transport plan P_ij = exp((f_i + g_j − C_ij)/ε); its entries sum to 1.
  Eigen::MatrixXd plan;
  Eigen::VectorXd f;            ///< Row dual potentials (cost units).
  Eigen::VectorXd g;            ///< Column dual potentials (cost units).
  double transport_cost = 0.0;  ///< ⟨P, C⟩ = Σ_ij P_ij C_ij.
  double marginal_error = 0.0;  ///< Σ_i |Σ_j P_ij − 1/n| at return.
  int iterations = 0;           ///< Iterations run.
  /// \brief `success` when the tolerance was met, `max_steps_reached` when `max_iterations`
  /// ran out first (the plan is then the last iterate, columns still exact).
  nde::status status = nde::status::success;
};

/// \brief Entropic optimal transport between the uniform marginals a = 1/n (rows) and
/// b = 1/m (columns) of an n×m cost matrix, by Sinkhorn's iterations in the log domain
/// (Cuturi 2013, "Sinkhorn distances"; stabilised as in Peyré & Cuturi 2019, "Computational
/// optimal transport", §4.4): f_i = ε log a_i − ε LSE_j((g_j − C_ij)/ε), then
/// g_j = ε log b_j − ε LSE_i((f_i − C_ij)/ε). Working with potentials instead of the kernel
/// exp(−C/ε) keeps small ε from underflowing. O(n·m) per iteration.
///
/// With uniform marginals, exact OT ≤ ⟨P_ε, C⟩ ≤ exact OT + ε·log(min(n, m)), and ⟨P_ε, C⟩
/// does not decrease with ε. The iterations needed grow quickly as ε falls below about 1% of
/// the cost range (thousands at 1%; use `linear_assignment` for the exact ε → 0 limit). An
/// empty side (n = 0 or m = 0) returns an empty plan.
/// Throws `nde::error` (invalid_input) on ε ≤ 0 or non-finite, max_iterations < 1, a negative
/// or NaN tolerance, or NaN/Inf in the cost.
inline sinkhorn_result sinkhorn(const Eigen::MatrixXd& cost, const sinkhorn_options& options) {
  const double eps = options.epsilon;
  if (!(eps > 0.0) || !std::isfinite(eps)) {
    throw nde::error(nde::status::invalid_input,
                     "sinkhorn: epsilon must be positive and finite, got " + std::to_string(eps));
  }
  if (options.max_iterations < 1) {
    throw nde::error(nde::status::invalid_input,
                     "sinkhorn: max_iterations must be at least 1, got " +
                         std::to_string(options.max_iterations));
  }
  if (!(options.tolerance >= 0.0)) {
    throw nde::error(nde::status::invalid_input, "sinkhorn: tolerance must be non-negative, got " +
                                                     std::to_string(options.tolerance));
  }
  detail::require_finite_matrix("sinkhorn", "the cost matrix", cost);
  const Eigen::Index n = cost.rows();
  const Eigen::Index m = cost.cols();
  sinkhorn_result result;
  result.f = Eigen::VectorXd::Zero(n);
  result.g = Eigen::VectorXd::Zero(m);
  if (n == 0 || m == 0) {
    result.plan = Eigen::MatrixXd::Zero(n, m);
    return result;
  }
  const double log_a = -std::log(static_cast<double>(n));
  const double log_b = -std::log(static_cast<double>(m));
  const Eigen::ArrayXXd scaled = cost.array() / eps;  // C/ε
  Eigen::ArrayXXd work(n, m);
  Eigen::VectorXd& f = result.f;
  Eigen::VectorXd& g = result.g;
  // row_lse(i) = LSE_j((g_j − C_ij)/ε): what the next f-update and the row sums need.
  auto row_lse = [&]() -> Eigen::ArrayXd {
    work = (-scaled).rowwise() + (g.array() / eps).transpose();
    const Eigen::ArrayXd top = work.rowwise().maxCoeff();
    return top + (work.colwise() - top).exp().rowwise().sum().log();
  };
  Eigen::ArrayXd lse = row_lse();
  result.status = nde::status::max_steps_reached;
  for (int it = 1; it <= options.max_iterations; ++it) {
    f = (eps * (log_a - lse)).matrix();
    work = (-scaled).colwise() + f.array() / eps;
    const Eigen::ArrayXd top = work.colwise().maxCoeff().transpose();
    const Eigen::ArrayXd col_lse =
        top + (work.rowwise() - top.transpose()).exp().colwise().sum().log().transpose();
    g = (eps * (log_b - col_lse)).matrix();
    lse = row_lse();
    // Row sums: Σ_j P_ij = exp(f_i/ε + LSE_j((g_j − C_ij)/ε)).
    result.marginal_error = ((f.array() / eps + lse).exp() - std::exp(log_a)).abs().sum();
    result.iterations = it;
    if (result.marginal_error <= options.tolerance) {
      result.status = nde::status::success;
      break;
    }
  }
  result.plan =
      (((-scaled).colwise() + f.array() / eps).rowwise() + (g.array() / eps).transpose()).exp();
  result.transport_cost = (result.plan.array() * cost.array()).sum();
  return result;
}

/// \brief `sinkhorn` with regularisation `epsilon` and the other options at their defaults.
inline sinkhorn_result sinkhorn(const Eigen::MatrixXd& cost, double epsilon) {
  sinkhorn_options options;
  options.epsilon = epsilon;
  return sinkhorn(cost, options);
}

namespace detail {

inline void require_plan(const char* who, const Eigen::MatrixXd& plan) {
  for (Eigen::Index j = 0; j < plan.cols(); ++j) {
    for (Eigen::Index i = 0; i < plan.rows(); ++i) {
      if (!std::isfinite(plan(i, j)) || plan(i, j) < 0.0) {
        throw nde::error(nde::status::invalid_input,
                         std::string(who) + ": the plan entry at (" + std::to_string(i) + ", " +
                             std::to_string(j) + ") is negative or not finite");
      }
    }
  }
}

/// Index k with probability weights[k]/Σ weights, by inverting the cumulative sums.
inline Eigen::Index draw_index(const std::vector<double>& cumulative, std::mt19937_64& rng) {
  const double target = nde::nn::uniform_01(rng) * cumulative.back();
  auto it = std::upper_bound(cumulative.begin(), cumulative.end(), target);
  // target == total only by rounding: take the first entry that reaches the total (positive
  // weight), never a trailing zero-weight one.
  if (it == cumulative.end()) it = std::lower_bound(cumulative.begin(), cumulative.end(), target);
  return static_cast<Eigen::Index>(it - cumulative.begin());
}

}  // namespace detail

/// \brief For each row i of an n×m transport plan, a column drawn with probability
/// plan(i, j)/Σ_j plan(i, j) (the conditional of the plan given the row). Every row keeps
/// exactly one partner, so a minibatch of n sources gets n paired targets. O(n·m).
/// Throws `nde::error` (invalid_input) on a negative or non-finite entry or a row summing to 0.
inline std::vector<Eigen::Index> sample_pairing(const Eigen::MatrixXd& plan, std::mt19937_64& rng) {
  detail::require_plan("sample_pairing", plan);
  std::vector<Eigen::Index> columns(static_cast<std::size_t>(plan.rows()), 0);
  std::vector<double> cumulative(static_cast<std::size_t>(plan.cols()));
  for (Eigen::Index i = 0; i < plan.rows(); ++i) {
    double total = 0.0;
    for (Eigen::Index j = 0; j < plan.cols(); ++j) {
      total += plan(i, j);
      cumulative[static_cast<std::size_t>(j)] = total;
    }
    if (!(total > 0.0)) {
      throw nde::error(nde::status::invalid_input,
                       "sample_pairing: row " + std::to_string(i) + " of the plan has no mass");
    }
    columns[static_cast<std::size_t>(i)] = detail::draw_index(cumulative, rng);
  }
  return columns;
}

/// \brief `count` (row, column) pairs drawn independently, with replacement, with probability
/// plan(i, j)/Σ plan: the joint sampling of torchcfm's `OTPlanSampler` (Tong et al. 2024).
/// Rows may repeat or be missing. O(n·m + count·log(n·m)). Throws `nde::error`
/// (invalid_input) on count < 0, a negative or non-finite entry, or a plan with no mass.
inline std::vector<std::pair<Eigen::Index, Eigen::Index>> sample_pairs(const Eigen::MatrixXd& plan,
                                                                       Eigen::Index count,
                                                                       std::mt19937_64& rng) {
  if (count < 0) {
    throw nde::error(nde::status::invalid_input,
                     "sample_pairs: count = " + std::to_string(count) + " is negative");
  }
  detail::require_plan("sample_pairs", plan);
  std::vector<double> cumulative(static_cast<std::size_t>(plan.size()));
  double total = 0.0;
  for (Eigen::Index k = 0; k < plan.size(); ++k) {  // column-major order: k = i + j·n
    total += plan.data()[k];
    cumulative[static_cast<std::size_t>(k)] = total;
  }
  if (count > 0 && !(total > 0.0)) {
    throw nde::error(nde::status::invalid_input, "sample_pairs: the plan has no mass");
  }
  std::vector<std::pair<Eigen::Index, Eigen::Index>> pairs;
  pairs.reserve(static_cast<std::size_t>(count));
  for (Eigen::Index s = 0; s < count; ++s) {
    const Eigen::Index k = detail::draw_index(cumulative, rng);
    pairs.emplace_back(k % plan.rows(), k / plan.rows());
  }
  return pairs;
}

}  // namespace nde::ot
