// GRU cell: its equations at a hand-computed point, the vjp in x, h and θ against central
// differences on a batch, and clear errors on wrong shapes.
#include <nde/nn/gru.hpp>

#include <catch.hpp>

#include <cmath>
#include <random>

namespace {

Eigen::MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937_64& e) {
  std::normal_distribution<double> d(0.0, 0.7);
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index j = 0; j < c; ++j)
    for (Eigen::Index i = 0; i < r; ++i) m(i, j) = d(e);
  return m;
}

double sig(double a) { return 1.0 / (1.0 + std::exp(-a)); }

}  // namespace

TEST_CASE("gru_cell follows PyTorch's GRUCell equations", "[nn][gru]") {
  const nde::nn::gru_cell cell(1, 1);
  REQUIRE(cell.num_params() == 12);
  // weight_ih (r, z, n), weight_hh (r, z, n), bias_ih, bias_hh.
  Eigen::VectorXd th(12);
  th << 0.3, -0.4, 0.9, 0.5, 0.2, -0.7, 0.1, 0.05, -0.2, -0.3, 0.15, 0.4;
  Eigen::MatrixXd x(1, 2), h(1, 2), out, cache;
  x << 0.8, -1.1;
  h << -0.5, 0.6;
  cell.forward(th, x, h, out, cache);
  for (int b = 0; b < 2; ++b) {
    const double xi = x(0, b), hi = h(0, b);
    const double r = sig(0.3 * xi + 0.1 + 0.5 * hi - 0.3);
    const double z = sig(-0.4 * xi + 0.05 + 0.2 * hi + 0.15);
    const double n = std::tanh(0.9 * xi - 0.2 + r * (-0.7 * hi + 0.4));
    CHECK(out(0, b) == Catch::Approx((1 - z) * n + z * hi).epsilon(1e-14));
  }
  // All-zero parameters: r = z = ½, n = 0, so h' = h / 2.
  cell.forward(Eigen::VectorXd::Zero(12), x, h, out, cache);
  CHECK((out - 0.5 * h).norm() == 0.0);
}

TEST_CASE("gru_cell vjp matches central differences in x, h and theta", "[nn][gru]") {
  std::mt19937_64 e(11);
  const Eigen::Index I = 3, H = 4, B = 5;
  const nde::nn::gru_cell cell(I, H);
  const Eigen::VectorXd th = random_matrix(cell.num_params(), 1, e);
  const Eigen::MatrixXd x = random_matrix(I, B, e), h = random_matrix(H, B, e);
  const Eigen::MatrixXd w = random_matrix(H, B, e);  // L = Σ w ⊙ h'
  Eigen::MatrixXd out, cache, dx, dh;
  cell.forward(th, x, h, out, cache);
  Eigen::VectorXd dth = Eigen::VectorXd::Constant(cell.num_params(), 0.25);  // accumulates
  cell.backward(th, x, h, cache, w, dx, dh, dth);
  dth.array() -= 0.25;

  auto loss = [&](const Eigen::VectorXd& t, const Eigen::MatrixXd& xx, const Eigen::MatrixXd& hh) {
    Eigen::MatrixXd o, c;
    cell.forward(t, xx, hh, o, c);
    return (w.array() * o.array()).sum();
  };
  const double eps = 1e-6;
  for (Eigen::Index k = 0; k < th.size(); ++k) {
    Eigen::VectorXd p = th, m = th;
    p(k) += eps;
    m(k) -= eps;
    CHECK(dth(k) == Catch::Approx((loss(p, x, h) - loss(m, x, h)) / (2 * eps)).margin(1e-8));
  }
  for (Eigen::Index k = 0; k < x.size(); ++k) {
    Eigen::MatrixXd p = x, m = x;
    p(k) += eps;
    m(k) -= eps;
    CHECK(dx(k) == Catch::Approx((loss(th, p, h) - loss(th, m, h)) / (2 * eps)).margin(1e-8));
  }
  for (Eigen::Index k = 0; k < h.size(); ++k) {
    Eigen::MatrixXd p = h, m = h;
    p(k) += eps;
    m(k) -= eps;
    CHECK(dh(k) == Catch::Approx((loss(th, x, p) - loss(th, x, m)) / (2 * eps)).margin(1e-8));
  }
}

TEST_CASE("gru_cell rejects wrong shapes with a message", "[nn][gru]") {
  CHECK_THROWS_WITH(nde::nn::gru_cell(0, 3), Catch::Contains("sizes must be positive"));
  const nde::nn::gru_cell cell(2, 3);
  Eigen::MatrixXd out, cache;
  const Eigen::VectorXd th = Eigen::VectorXd::Zero(cell.num_params());
  CHECK_THROWS_WITH(cell.forward(Eigen::VectorXd::Zero(5), Eigen::MatrixXd::Zero(2, 1),
                                 Eigen::MatrixXd::Zero(3, 1), out, cache),
                    Catch::Contains("parameters expected"));
  CHECK_THROWS_WITH(
      cell.forward(th, Eigen::MatrixXd::Zero(2, 2), Eigen::MatrixXd::Zero(3, 1), out, cache),
      Catch::Contains("do not fit"));
  nde::parameter_layout layout;
  cell.append_layout(layout, "gru.", 0);
  REQUIRE(layout.size() == 4);
  CHECK(layout[3].name == "gru.bias_hh");
  CHECK(layout[3].offset + 9 == cell.num_params());
}
