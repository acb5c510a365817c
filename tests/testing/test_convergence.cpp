#include <nde/testing/convergence.hpp>

#include <catch.hpp>

#include <cmath>
#include <vector>

TEST_CASE("the fit recovers a known power law and its constant", "[testing][convergence]") {
  std::vector<double> steps, errors;
  for (int k = 0; k < 6; ++k) {
    const double h = 0.5 / std::pow(2.0, k);
    steps.push_back(h);
    errors.push_back(3.0 * std::pow(h, 2.5) *
                     (1 + 0.01 * ((k % 2) ? 1 : -1)));  // small alternating noise
  }
  const auto fit = nde::testing::fit_convergence_order(steps, errors);
  CHECK(fit.order == Approx(2.5).margin(0.02));
  CHECK(fit.constant == Approx(3.0).epsilon(0.05));
  CHECK(nde::testing::convergence_order(steps, errors) == fit.order);
}

TEST_CASE("bad input to the fit throws nde::error", "[testing][convergence]") {
  const std::vector<double> one{0.1};
  const std::vector<double> two{0.1, 0.05};
  const std::vector<double> same{0.1, 0.1};
  const std::vector<double> zero{0.0, 1.0};
  CHECK_THROWS_AS(nde::testing::convergence_order(one, one), nde::error);
  CHECK_THROWS_AS(nde::testing::convergence_order(two, one), nde::error);
  CHECK_THROWS_AS(nde::testing::convergence_order(same, two), nde::error);
  CHECK_THROWS_AS(nde::testing::convergence_order(two, zero), nde::error);
}
