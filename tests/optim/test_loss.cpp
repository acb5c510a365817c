// Losses: hand values, and gradients against central finite differences.
#include <nde/optim/loss.hpp>

#include <catch.hpp>

#include <cmath>

namespace {

template <class Scalar>
using matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// Central differences of a loss functional, in double whatever the Scalar.
template <class Scalar, class Loss>
matrix<double> central_difference(Loss loss, const matrix<Scalar>& prediction,
                                  const matrix<Scalar>& target) {
  matrix<double> p = prediction.template cast<double>(), t = target.template cast<double>();
  matrix<double> result(p.rows(), p.cols()), scratch;
  const double h = 1e-6;
  for (Eigen::Index k = 0; k < p.size(); ++k) {
    const double saved = p(k);
    p(k) = saved + h;
    const double up = loss(p, t, scratch);
    p(k) = saved - h;
    const double down = loss(p, t, scratch);
    p(k) = saved;
    result(k) = (up - down) / (2 * h);
  }
  return result;
}

template <class Scalar>
double gradient_tolerance() {
  return std::is_same_v<Scalar, float> ? 1e-5 : 1e-8;
}

// Residuals kept away from the kinks (0 for MAE, +-delta for Huber) so FD is valid.
template <class Scalar>
void fill(matrix<Scalar>& prediction, matrix<Scalar>& target) {
  prediction.resize(3, 4);
  target.resize(3, 4);
  for (Eigen::Index k = 0; k < prediction.size(); ++k) {
    target(k) = Scalar(0.1) * static_cast<Scalar>(k % 5);
    const Scalar offsets[] = {Scalar(-2.3), Scalar(-0.45), Scalar(0.2),
                              Scalar(0.7),  Scalar(1.9),   Scalar(-1.1)};
    prediction(k) = target(k) + offsets[k % 6];
  }
}

}  // namespace

TEMPLATE_TEST_CASE("loss values by hand", "[optim][loss]", float, double) {
  using T = TestType;
  Eigen::Matrix<T, 2, 1> p(T(1), T(-2)), y(T(0), T(0));
  {
    const auto mse = nde::optim::mse_loss(p, y);
    CHECK(mse.value == Approx(2.5));
    CHECK(mse.gradient[0] == Approx(1));  // 2 * 1 / 2
    CHECK(mse.gradient[1] == Approx(-2));
    CHECK(nde::optim::mse_loss(p, y, nde::optim::reduction::sum).value == Approx(5));
  }
  {
    const auto mae = nde::optim::mae_loss(p, y);
    CHECK(mae.value == Approx(1.5));
    CHECK(mae.gradient[0] == Approx(0.5));
    CHECK(mae.gradient[1] == Approx(-0.5));
  }
  {
    // |1| <= 1.5: 0.5; |-2| > 1.5: 1.5 * (2 - 0.75) = 1.875; mean = 1.1875.
    const auto huber = nde::optim::huber_loss(p, y, T(1.5));
    CHECK(huber.value == Approx(1.1875));
    CHECK(huber.gradient[0] == Approx(0.5));
    CHECK(huber.gradient[1] == Approx(-0.75));
  }
}

TEMPLATE_TEST_CASE("loss gradients match central differences", "[optim][loss]", float, double) {
  using T = TestType;
  matrix<T> prediction, target, gradient;
  fill(prediction, target);
  const auto mse = [](const auto& p, const auto& t, auto& g) {
    return nde::optim::mse_loss(p, t, g);
  };
  const auto mae = [](const auto& p, const auto& t, auto& g) {
    return nde::optim::mae_loss(p, t, g);
  };
  const auto huber = [](const auto& p, const auto& t, auto& g) {
    return nde::optim::huber_loss(p, t, g, 0.8);
  };
  const auto huber_t = [](const auto& p, const auto& t, auto& g) {
    return nde::optim::huber_loss(p, t, g, T(0.8), nde::optim::reduction::sum);
  };

  nde::optim::mse_loss(prediction, target, gradient);
  CHECK((gradient.template cast<double>() - central_difference(mse, prediction, target))
            .cwiseAbs()
            .maxCoeff() < gradient_tolerance<T>());
  nde::optim::mae_loss(prediction, target, gradient);
  CHECK((gradient.template cast<double>() - central_difference(mae, prediction, target))
            .cwiseAbs()
            .maxCoeff() < gradient_tolerance<T>());
  const auto huber_sum = [](const auto& p, const auto& t, auto& g) {
    return nde::optim::huber_loss(p, t, g, 0.8, nde::optim::reduction::sum);
  };
  huber_t(prediction, target, gradient);
  CHECK((gradient.template cast<double>() - central_difference(huber_sum, prediction, target))
            .cwiseAbs()
            .maxCoeff() < gradient_tolerance<T>() * 12);
  nde::optim::huber_loss(prediction, target, gradient, T(0.8));
  CHECK((gradient.template cast<double>() - central_difference(huber, prediction, target))
            .cwiseAbs()
            .maxCoeff() < gradient_tolerance<T>());
}

TEMPLATE_TEST_CASE("mean absolute error has subgradient 0 at a zero residual", "[optim][loss]",
                   float, double) {
  using T = TestType;
  Eigen::Matrix<T, 3, 1> p(T(1), T(2), T(3));
  const Eigen::Matrix<T, 3, 1> y(T(1), T(0), T(3));
  const auto mae = nde::optim::mae_loss(p, y);
  CHECK(mae.gradient[0] == T(0));
  CHECK(mae.gradient[2] == T(0));
  CHECK(mae.gradient[1] == Approx(1.0 / 3));
  const auto huber = nde::optim::huber_loss(p, y);
  CHECK(huber.gradient[0] == T(0));
}

TEST_CASE("losses write into a block without allocating, and reject bad shapes", "[optim][loss]") {
  Eigen::MatrixXd p = Eigen::MatrixXd::Ones(2, 3), y = Eigen::MatrixXd::Zero(2, 3);
  Eigen::MatrixXd storage = Eigen::MatrixXd::Constant(4, 4, 7.0);
  auto block = storage.block(1, 1, 2, 3);
  const double value = nde::optim::mse_loss(p, y, block);
  CHECK(value == 1.0);
  CHECK(storage(1, 1) == Approx(2.0 / 6));
  CHECK(storage(0, 0) == 7.0);

  Eigen::MatrixXd wrong_target = Eigen::MatrixXd::Zero(3, 2);
  CHECK_THROWS_WITH(nde::optim::mse_loss(p, wrong_target),
                    Catch::Contains("prediction is 2x3 but target is 3x2"));
  auto small = storage.block(0, 0, 1, 1);
  CHECK_THROWS_WITH(nde::optim::mae_loss(p, y, small), Catch::Contains("gradient is 1x1"));
  Eigen::MatrixXd empty(0, 0);
  CHECK_THROWS_WITH(nde::optim::mse_loss(empty, empty), Catch::Contains("empty"));
  CHECK_THROWS_AS(nde::optim::huber_loss(p, y, -1.0), nde::error);
}
