// Exact W2 between empirical sample sets: identity, translation, the 1-D sorted formula,
// symmetry, and bad input.
#include <nde/ot/wasserstein.hpp>

#include <catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace ot = nde::ot;

namespace {

Eigen::MatrixXd gaussian_cloud(Eigen::Index d, Eigen::Index n, std::mt19937_64& rng) {
  Eigen::MatrixXd m(d, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < d; ++i) m(i, j) = nde::nn::standard_normal(rng);
  }
  return m;
}

}  // namespace

TEST_CASE("wasserstein2 of a set with itself or a permutation of it is 0") {
  std::mt19937_64 rng(1);
  const Eigen::MatrixXd x = gaussian_cloud(3, 50, rng);
  CHECK(ot::wasserstein2(x, x) == 0.0);
  Eigen::MatrixXd shuffled = x;
  for (Eigen::Index j = 0; j < 50; ++j) shuffled.col(j) = x.col((7 * j + 3) % 50);
  CHECK(ot::wasserstein2(x, shuffled) == 0.0);
  const Eigen::MatrixXd y = gaussian_cloud(3, 50, rng);
  CHECK(ot::wasserstein2(x, y) > 0.1);
}

TEST_CASE("wasserstein2 of a set and its translate is the length of the shift") {
  // Σ‖x_i − x_σ(i) − c‖² = Σ‖x_i − x_σ(i)‖² + n‖c‖² for every permutation σ (the cross term
  // Σ (x_i − x_σ(i)) vanishes), so the identity is optimal and W2 = ‖c‖.
  std::mt19937_64 rng(2);
  const Eigen::MatrixXd x = gaussian_cloud(2, 80, rng);
  const Eigen::Vector2d c(0.3, -0.4);
  const Eigen::MatrixXd y = x.colwise() + c;
  CHECK(ot::wasserstein2(x, y) == Catch::Approx(0.5).epsilon(1e-12));
  CHECK(ot::wasserstein2(y, x) == Catch::Approx(0.5).epsilon(1e-12));
  // A large shift dominates: still exact.
  const Eigen::MatrixXd far = x.colwise() + Eigen::Vector2d(30.0, 40.0);
  CHECK(ot::wasserstein2(x, far) == Catch::Approx(50.0).epsilon(1e-12));
}

TEST_CASE("wasserstein2 in one dimension equals the sorted-sample formula") {
  // In 1-D the monotone (sorted) matching is optimal for any convex cost.
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 5; ++trial) {
    const Eigen::MatrixXd x = gaussian_cloud(1, 60, rng);
    const Eigen::MatrixXd y = 2.0 * gaussian_cloud(1, 60, rng).array() + 1.0;
    std::vector<double> xs(x.data(), x.data() + 60);
    std::vector<double> ys(y.data(), y.data() + 60);
    std::sort(xs.begin(), xs.end());
    std::sort(ys.begin(), ys.end());
    double sum = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) sum += (xs[i] - ys[i]) * (xs[i] - ys[i]);
    CHECK(ot::wasserstein2(x, y) == Catch::Approx(std::sqrt(sum / 60)).epsilon(1e-12));
  }
}

TEST_CASE("wasserstein2 is symmetric and satisfies the triangle inequality") {
  std::mt19937_64 rng(4);
  const Eigen::MatrixXd x = gaussian_cloud(2, 40, rng);
  const Eigen::MatrixXd y = gaussian_cloud(2, 40, rng).array() + 1.0;
  const Eigen::MatrixXd z = 0.5 * gaussian_cloud(2, 40, rng).array();
  const double xy = ot::wasserstein2(x, y);
  CHECK(xy == Catch::Approx(ot::wasserstein2(y, x)).epsilon(1e-13));
  CHECK(xy <= ot::wasserstein2(x, z) + ot::wasserstein2(z, y) + 1e-12);
  // Two points: W2² = ½·min(matchings) by hand.
  Eigen::MatrixXd a(1, 2);
  a << 0, 1;
  Eigen::MatrixXd b(1, 2);
  b << 3, -1;
  // Matchings (0→3, 1→−1): 9 + 4 = 13; (0→−1, 1→3): 1 + 4 = 5.
  CHECK(ot::wasserstein2(a, b) == Catch::Approx(std::sqrt(2.5)).epsilon(1e-15));
}

TEST_CASE("wasserstein2 rejects mismatched, empty and non-finite sample sets") {
  const Eigen::MatrixXd x = Eigen::MatrixXd::Zero(3, 4);
  REQUIRE_THROWS_WITH(ot::wasserstein2(x, Eigen::MatrixXd::Zero(2, 4)),
                      Catch::Contains("x has 3 rows but y has 2"));
  REQUIRE_THROWS_WITH(ot::wasserstein2(x, Eigen::MatrixXd::Zero(3, 5)),
                      Catch::Contains("x has 4 samples but y has 5"));
  REQUIRE_THROWS_WITH(ot::wasserstein2(Eigen::MatrixXd(3, 0), Eigen::MatrixXd(3, 0)),
                      Catch::Contains("empty"));
  Eigen::MatrixXd bad = x;
  bad(2, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_AS(ot::wasserstein2(bad, x), nde::error);
  REQUIRE_THROWS_WITH(ot::wasserstein2(x, bad), Catch::Contains("non-finite"));
  try {
    (void)ot::wasserstein2(x, Eigen::MatrixXd::Zero(3, 5));
    FAIL("no exception");
  } catch (const nde::error& e) {
    CHECK(e.code() == nde::status::invalid_input);
  }
}
