// Exact linear assignment against brute force and its dual certificate; Sinkhorn's marginals,
// its approach to the exact cost as ε → 0; pairings sampled from a plan; bad input.
#include <nde/ot/assignment.hpp>

#include <catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace ot = nde::ot;

namespace {

Eigen::MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937_64& rng,
                              double low = 0.0, double high = 1.0) {
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j) {
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = nde::nn::uniform(rng, low, high);
  }
  return m;
}

double matching_cost(const Eigen::MatrixXd& cost, const std::vector<Eigen::Index>& columns) {
  double total = 0;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    total += cost(static_cast<Eigen::Index>(i), columns[i]);
  }
  return total;
}

// Minimum over all n! permutations.
double brute_force_cost(const Eigen::MatrixXd& cost) {
  std::vector<Eigen::Index> perm(static_cast<std::size_t>(cost.rows()));
  std::iota(perm.begin(), perm.end(), Eigen::Index{0});
  double best = std::numeric_limits<double>::infinity();
  do {
    best = std::min(best, matching_cost(cost, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

bool is_permutation(const std::vector<Eigen::Index>& columns) {
  std::vector<Eigen::Index> sorted = columns;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t k = 0; k < sorted.size(); ++k) {
    if (sorted[k] != static_cast<Eigen::Index>(k)) return false;
  }
  return true;
}

// Dual feasibility u_i + v_j ≤ C_ij (to `slack`), tightness on the matching, and zero
// duality gap: together they prove the matching optimal.
void check_certificate(const Eigen::MatrixXd& cost, const ot::assignment_result& r, double slack) {
  const Eigen::Index n = cost.rows();
  REQUIRE(r.row_potential.size() == n);
  REQUIRE(r.column_potential.size() == n);
  const Eigen::MatrixXd reduced = cost - r.row_potential * Eigen::RowVectorXd::Ones(n) -
                                  Eigen::VectorXd::Ones(n) * r.column_potential.transpose();
  CHECK(reduced.minCoeff() >= -slack);
  for (Eigen::Index i = 0; i < n; ++i) {
    CHECK(std::abs(reduced(i, r.column_of_row[static_cast<std::size_t>(i)])) <= slack);
  }
  CHECK(std::abs(r.row_potential.sum() + r.column_potential.sum() - r.cost) <=
        slack * static_cast<double>(n));
  CHECK(r.cost == Catch::Approx(matching_cost(cost, r.column_of_row)).epsilon(1e-14));
}

}  // namespace

TEST_CASE("linear_assignment matches brute force over all permutations for n up to 7") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    for (Eigen::Index n = 1; n <= 7; ++n) {
      INFO("seed " << seed << ", n " << n);
      // Real costs (a unique optimum almost surely), signed, and small integers (many ties).
      const Eigen::MatrixXd real = random_matrix(n, n, rng, -5.0, 10.0);
      const Eigen::MatrixXd ties = random_matrix(n, n, rng, 0.0, 4.0).array().floor().matrix();
      for (const Eigen::MatrixXd* cost : {&real, &ties}) {
        const auto r = ot::solve_linear_assignment(*cost);
        REQUIRE(r.column_of_row.size() == static_cast<std::size_t>(n));
        CHECK(is_permutation(r.column_of_row));
        CHECK(r.cost == Catch::Approx(brute_force_cost(*cost)).epsilon(1e-12).margin(1e-12));
        CHECK(ot::linear_assignment(*cost) == r.column_of_row);
        check_certificate(*cost, r, 1e-10);
      }
    }
  }
}

TEST_CASE("linear_assignment solves known small problems") {
  // scipy.optimize.linear_sum_assignment's documented example: cost 5 with columns (1, 0, 2).
  Eigen::MatrixXd cost(3, 3);
  cost << 4, 1, 3, 2, 0, 5, 3, 2, 2;
  const auto r = ot::solve_linear_assignment(cost);
  CHECK(r.column_of_row == std::vector<Eigen::Index>{1, 0, 2});
  CHECK(r.cost == 5.0);

  // A permutation matrix of zeros in a sea of ones is found exactly.
  Eigen::MatrixXd ones = Eigen::MatrixXd::Ones(5, 5);
  const std::vector<Eigen::Index> target = {3, 0, 4, 1, 2};
  for (std::size_t i = 0; i < target.size(); ++i) ones(static_cast<Eigen::Index>(i), target[i]) = 0;
  CHECK(ot::linear_assignment(ones) == target);

  // Rearrangement inequality: for increasing a, b the identity maximises Σ a_i b_σ(i), so it
  // minimises the cost −a_i b_j, and the reversal minimises +a_i b_j.
  Eigen::MatrixXd outer(4, 4);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) outer(i, j) = -(i + 1.0) * (j + 1.0);
  }
  CHECK(ot::linear_assignment(outer) == std::vector<Eigen::Index>{0, 1, 2, 3});
  CHECK(ot::linear_assignment(-outer) == std::vector<Eigen::Index>{3, 2, 1, 0});

  // n = 1 and n = 0.
  CHECK(ot::linear_assignment(Eigen::MatrixXd::Constant(1, 1, -3.0)) ==
        std::vector<Eigen::Index>{0});
  const auto empty = ot::solve_linear_assignment(Eigen::MatrixXd(0, 0));
  CHECK(empty.column_of_row.empty());
  CHECK(empty.cost == 0.0);
}

TEST_CASE("linear_assignment is invariant to adding a constant to a row or a column") {
  std::mt19937_64 rng(77);
  for (int trial = 0; trial < 20; ++trial) {
    const Eigen::MatrixXd cost = random_matrix(12, 12, rng);
    const auto base = ot::solve_linear_assignment(cost);
    Eigen::MatrixXd shifted = cost;
    shifted.row(trial % 12).array() += 3.5;
    shifted.col((5 * trial) % 12).array() -= 1.25;
    const auto r = ot::solve_linear_assignment(shifted);
    // Every perfect matching uses each row and each column once: all costs move by 3.5 − 1.25.
    CHECK(r.cost == Catch::Approx(base.cost + 3.5 - 1.25).epsilon(1e-12));
    CHECK(matching_cost(cost, r.column_of_row) == Catch::Approx(base.cost).epsilon(1e-12));
  }
}

TEST_CASE("linear_assignment is certified optimal by its duals for n = 200") {
  std::mt19937_64 rng(2025);
  const Eigen::MatrixXd cost = random_matrix(200, 200, rng, -1.0, 1.0);
  const auto r = ot::solve_linear_assignment(cost);
  CHECK(is_permutation(r.column_of_row));
  check_certificate(cost, r, 1e-10);
  // Squared-Euclidean costs of point clouds (the flow-matching use).
  const Eigen::MatrixXd x = random_matrix(3, 200, rng);
  const Eigen::MatrixXd y = random_matrix(3, 200, rng);
  const Eigen::MatrixXd c = ot::squared_euclidean_cost(x, y);
  const auto s = ot::solve_linear_assignment(c);
  CHECK(is_permutation(s.column_of_row));
  check_certificate(c, s, 1e-10);
  // No single swap of two partners improves it (a weaker, independent optimality check).
  for (Eigen::Index i = 0; i < 200; ++i) {
    for (Eigen::Index k = i + 1; k < 200; ++k) {
      const Eigen::Index a = s.column_of_row[static_cast<std::size_t>(i)];
      const Eigen::Index b = s.column_of_row[static_cast<std::size_t>(k)];
      REQUIRE(c(i, a) + c(k, b) <= c(i, b) + c(k, a) + 1e-12);
    }
  }
}

TEST_CASE("linear_assignment rejects non-square and non-finite costs") {
  REQUIRE_THROWS_AS(ot::linear_assignment(Eigen::MatrixXd::Zero(2, 3)), nde::error);
  REQUIRE_THROWS_WITH(ot::linear_assignment(Eigen::MatrixXd::Zero(2, 3)),
                      Catch::Contains("must be square, got 2x3"));
  Eigen::MatrixXd bad = Eigen::MatrixXd::Zero(3, 3);
  bad(1, 2) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(ot::linear_assignment(bad), Catch::Contains("non-finite entry at (1, 2)"));
  bad(1, 2) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(ot::linear_assignment(bad), Catch::Contains("non-finite"));
  try {
    (void)ot::linear_assignment(bad);
    FAIL("no exception");
  } catch (const nde::error& e) {
    CHECK(e.code() == nde::status::invalid_input);
  }
}

TEST_CASE("squared_euclidean_cost is the matrix of squared distances between columns") {
  Eigen::MatrixXd x(2, 2);
  x << 0, 1, 0, 2;  // points (0, 0) and (1, 2)
  Eigen::MatrixXd y(2, 3);
  y << 3, 0, 1, 4, 0, 2;  // points (3, 4), (0, 0), (1, 2)
  const Eigen::MatrixXd c = ot::squared_euclidean_cost(x, y);
  REQUIRE(c.rows() == 2);
  REQUIRE(c.cols() == 3);
  Eigen::MatrixXd expected(2, 3);
  expected << 25, 0, 5, 8, 5, 0;
  CHECK(c == expected);
  REQUIRE_THROWS_WITH(ot::squared_euclidean_cost(x, Eigen::MatrixXd::Zero(3, 2)),
                      Catch::Contains("x has 2 rows but y has 3"));
  x(1, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(ot::squared_euclidean_cost(x, y), Catch::Contains("x has a non-finite"));
  CHECK(ot::squared_euclidean_cost(Eigen::MatrixXd(2, 0), y).size() == 0);
}

TEST_CASE("sinkhorn matches both uniform marginals to its tolerance") {
  std::mt19937_64 rng(8);
  const Eigen::MatrixXd cost =
      ot::squared_euclidean_cost(random_matrix(2, 30, rng), random_matrix(2, 20, rng));
  ot::sinkhorn_options options;
  options.epsilon = 0.01;
  options.tolerance = 1e-10;
  options.max_iterations = 5000;
  const auto r = ot::sinkhorn(cost, options);
  REQUIRE(r.status == nde::status::success);
  INFO("iterations " << r.iterations);
  CHECK(r.iterations > 1);
  CHECK(r.marginal_error <= 1e-10);
  REQUIRE(r.plan.rows() == 30);
  REQUIRE(r.plan.cols() == 20);
  CHECK(r.plan.minCoeff() >= 0.0);
  CHECK((r.plan.rowwise().sum().array() - 1.0 / 30).abs().sum() <= 1e-10);
  CHECK((r.plan.colwise().sum().array() - 1.0 / 20).abs().maxCoeff() <= 1e-14);
  CHECK(r.plan.sum() == Catch::Approx(1.0).epsilon(1e-10));
  CHECK(r.transport_cost == Catch::Approx((r.plan.array() * cost.array()).sum()).epsilon(1e-14));
  // The plan is the Gibbs form of its potentials.
  CHECK(r.plan(3, 7) == Catch::Approx(std::exp((r.f(3) + r.g(7) - cost(3, 7)) / 0.01)));
  // Stopping early reports it, with the column marginals still exact.
  options.max_iterations = 2;
  const auto early = ot::sinkhorn(cost, options);
  CHECK(early.status == nde::status::max_steps_reached);
  CHECK(early.iterations == 2);
  CHECK(early.marginal_error > 1e-10);
  CHECK((early.plan.colwise().sum().array() - 1.0 / 20).abs().maxCoeff() <= 1e-14);
}

TEST_CASE("sinkhorn cost decreases to the exact assignment cost as epsilon goes to 0") {
  std::mt19937_64 rng(31);
  const Eigen::Index n = 16;
  const Eigen::MatrixXd cost =
      ot::squared_euclidean_cost(random_matrix(2, n, rng), random_matrix(2, n, rng));
  // Exact OT between uniform marginals: an optimal plan is a permutation / n (Birkhoff).
  const double exact = ot::solve_linear_assignment(cost).cost / static_cast<double>(n);
  double previous = std::numeric_limits<double>::infinity();
  // Below ε ≈ 0.01 (1% of the cost range) Sinkhorn needs far more iterations (measured: 1980 at
  // ε = 0.01 for this tolerance; ε = 0.003 still had a marginal error of 1.5e-5 after 20000).
  for (const double eps : {1.0, 0.3, 0.1, 0.03, 0.01}) {
    ot::sinkhorn_options options;
    options.epsilon = eps;
    options.tolerance = 1e-12;
    options.max_iterations = 5000;
    const auto r = ot::sinkhorn(cost, options);
    INFO("epsilon " << eps << ": cost " << r.transport_cost << ", exact " << exact
                    << ", iterations " << r.iterations);
    REQUIRE(r.status == nde::status::success);
    REQUIRE(r.plan.allFinite());
    // exact ≤ ⟨P_ε, C⟩ ≤ exact + ε log n (entropy of a coupling of two uniform n-point marginals
    // lies in [log n, 2 log n]); slack 1e-10 for the marginal error (≤ 1e-12 · max C).
    CHECK(r.transport_cost >= exact - 1e-10);
    CHECK(r.transport_cost <= exact + eps * std::log(static_cast<double>(n)) + 1e-10);
    // ⟨P_ε, C⟩ is non-decreasing in ε.
    CHECK(r.transport_cost <= previous + 1e-10);
    previous = r.transport_cost;
  }
}

TEST_CASE("sinkhorn in the log domain does not underflow for a tiny epsilon") {
  // exp(−C/ε) underflows to 0 for C/ε > 745: here C/ε reaches 1e5 and a kernel-based Sinkhorn
  // would divide 0 by 0. The log-domain iterations converge to a finite plan.
  Eigen::MatrixXd cost(3, 3);
  cost << 0, 50, 100, 50, 0, 50, 100, 50, 0;
  const auto r = ot::sinkhorn(cost, 1e-3);
  REQUIRE(r.status == nde::status::success);
  CHECK(r.plan.allFinite());
  CHECK((r.plan - Eigen::MatrixXd::Identity(3, 3) / 3.0).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(r.transport_cost == Catch::Approx(0.0).margin(1e-9));
  // Empty sides give an empty plan.
  CHECK(ot::sinkhorn(Eigen::MatrixXd(0, 4), 0.1).plan.size() == 0);
}

TEST_CASE("sinkhorn rejects bad epsilon, options and costs") {
  const Eigen::MatrixXd cost = Eigen::MatrixXd::Ones(2, 2);
  REQUIRE_THROWS_WITH(ot::sinkhorn(cost, 0.0), Catch::Contains("epsilon must be positive"));
  REQUIRE_THROWS_WITH(ot::sinkhorn(cost, -1.0), Catch::Contains("epsilon"));
  REQUIRE_THROWS_AS(ot::sinkhorn(cost, std::numeric_limits<double>::quiet_NaN()), nde::error);
  REQUIRE_THROWS_AS(ot::sinkhorn(cost, std::numeric_limits<double>::infinity()), nde::error);
  ot::sinkhorn_options options;
  options.max_iterations = 0;
  REQUIRE_THROWS_WITH(ot::sinkhorn(cost, options), Catch::Contains("max_iterations"));
  options = {};
  options.tolerance = -1;
  REQUIRE_THROWS_WITH(ot::sinkhorn(cost, options), Catch::Contains("tolerance"));
  Eigen::MatrixXd bad = cost;
  bad(0, 1) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(ot::sinkhorn(bad, 0.1), Catch::Contains("non-finite entry at (0, 1)"));
}

TEST_CASE("sample_pairing draws each row's partner from the plan") {
  std::mt19937_64 rng(4);
  // A permutation plan gives back the permutation.
  Eigen::MatrixXd perm = Eigen::MatrixXd::Zero(4, 4);
  perm(0, 2) = perm(1, 0) = perm(2, 3) = perm(3, 1) = 0.25;
  CHECK(ot::sample_pairing(perm, rng) == std::vector<Eigen::Index>{2, 0, 3, 1});
  // Conditional frequencies: row 0 ∝ (1, 2, 1), row 1 ∝ (0, 0, 3). Each frequency within 5
  // binomial SEs of its probability (two-sided, p ≈ 6e-7 per check).
  Eigen::MatrixXd plan(2, 3);
  plan << 1, 2, 1, 0, 0, 3;
  const int draws = 40000;
  std::vector<double> counts(3, 0.0);
  for (int d = 0; d < draws; ++d) {
    const auto c = ot::sample_pairing(plan, rng);
    REQUIRE(c.size() == 2);
    REQUIRE(c[1] == 2);
    counts[static_cast<std::size_t>(c[0])] += 1;
  }
  for (std::size_t j = 0; j < 3; ++j) {
    const double p = plan(0, static_cast<Eigen::Index>(j)) / 4.0;
    CHECK(std::abs(counts[j] / draws - p) <= 5 * std::sqrt(p * (1 - p) / draws));
  }
  // Bad plans.
  plan(1, 2) = 0;
  REQUIRE_THROWS_WITH(ot::sample_pairing(plan, rng),
                      Catch::Contains("row 1 of the plan has no mass"));
  plan(1, 2) = -1;
  REQUIRE_THROWS_WITH(ot::sample_pairing(plan, rng), Catch::Contains("negative or not finite"));
  CHECK(ot::sample_pairing(Eigen::MatrixXd(0, 3), rng).empty());
}

TEST_CASE("sample_pairs draws pairs from the joint plan as torchcfm does") {
  std::mt19937_64 rng(6);
  Eigen::MatrixXd plan(2, 2);
  plan << 0.1, 0.4, 0.3, 0.2;
  const int draws = 50000;
  std::map<std::pair<Eigen::Index, Eigen::Index>, double> counts;
  for (const auto& pair : ot::sample_pairs(plan, draws, rng)) counts[pair] += 1;
  for (Eigen::Index i = 0; i < 2; ++i) {
    for (Eigen::Index j = 0; j < 2; ++j) {
      const double p = plan(i, j);
      INFO("pair " << i << ", " << j);
      CHECK(std::abs(counts[{i, j}] / draws - p) <= 5 * std::sqrt(p * (1 - p) / draws));
    }
  }
  CHECK(ot::sample_pairs(plan, 0, rng).empty());
  REQUIRE_THROWS_WITH(ot::sample_pairs(plan, -1, rng), Catch::Contains("count = -1"));
  REQUIRE_THROWS_WITH(ot::sample_pairs(Eigen::MatrixXd::Zero(2, 2), 3, rng),
                      Catch::Contains("no mass"));
  // With a Sinkhorn plan between a set and itself at small ε, pairs are (nearly) the diagonal.
  std::mt19937_64 pts(9);
  const Eigen::MatrixXd x = random_matrix(2, 10, pts);
  const auto r = ot::sinkhorn(ot::squared_euclidean_cost(x, x), 1e-4);
  REQUIRE(r.status == nde::status::success);
  for (const auto& [i, j] : ot::sample_pairs(r.plan, 200, rng)) CHECK(i == j);
  const auto rows = ot::sample_pairing(r.plan, rng);
  for (std::size_t i = 0; i < rows.size(); ++i) CHECK(rows[i] == static_cast<Eigen::Index>(i));
}
