// Second-order passes through scalar networks (nn/second_order.hpp): the forward-over-reverse
// results against central finite differences of the first-order passes, the fast real-GEMM
// pass against the dual-number pass, float against double, and bad input.
#include <nde/nn/mlp.hpp>
#include <nde/nn/second_order.hpp>

#include <catch.hpp>

#include <array>
#include <cmath>
#include <random>

namespace {

constexpr int D = Eigen::Dynamic;
using matrix = Eigen::MatrixXd;
using vector = Eigen::VectorXd;

template <class S>
Eigen::Matrix<S, D, D> random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937_64& rng,
                                     double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::Matrix<S, D, D> m(rows, cols);
  for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = static_cast<S>(normal(rng));
  return m;
}

// ∇ₓH per column (first order, the network's own vjp).
template <class Net>
matrix gradient_x(const Net& net, const vector& theta, const matrix& x) {
  auto ws = net.template make_workspace<double>(x.cols());
  matrix g;
  vector scratch;
  nde::nn::input_gradient(net, theta, x, g, ws, scratch);
  return g;
}
// Σ_columns ∇_θH (first order).
template <class Net>
vector gradient_theta(const Net& net, const vector& theta, const matrix& x) {
  auto ws = net.template make_workspace<double>(x.cols());
  matrix dx;
  vector dtheta = vector::Zero(net.num_params());
  net.vjp(theta, x, Eigen::RowVectorXd::Ones(x.cols()), dx, dtheta, ws);
  return dtheta;
}

template <class Net>
void check_against_finite_differences(const Net& net, Eigen::Index batch, unsigned seed) {
  std::mt19937_64 rng(seed);
  const Eigen::Index n = net.in_size(), p = net.num_params();
  const vector theta = random_matrix<double>(p, 1, rng, 0.5);
  const matrix x = random_matrix<double>(n, batch, rng);
  const matrix u = random_matrix<double>(n, batch, rng);
  const vector theta_dot = random_matrix<double>(p, 1, rng);

  nde::nn::second_order_pass<Net, double> pass(net);
  matrix g, g_dot, h;
  vector dtheta_dot = vector::Zero(p);
  Eigen::Ref<vector> dtheta_ref(dtheta_dot);
  pass.run(theta, &theta_dot, x, u, &h, &g, &g_dot, &dtheta_ref);

  // H and ∇ₓH agree with the first-order passes.
  auto ws = net.template make_workspace<double>(batch);
  matrix y;
  net.forward(theta, x, y, ws);
  CHECK((h - y).norm() <= 1e-13 * (1 + y.norm()));
  CHECK((g - gradient_x(net, theta, x)).norm() <= 1e-13 * (1 + g.norm()));
  // The first-order-only pass gives the same H and ∇ₓH.
  matrix g_first, h_first;
  pass.gradient(theta, x, g_first, &h_first);
  CHECK((g_first - g).norm() <= 1e-14 * (1 + g.norm()));
  CHECK((h_first - h).norm() <= 1e-14 * (1 + h.norm()));

  // Tangent of ∇ₓH along (u, θ̇): central differences of the first-order input gradient.
  const double e = 1e-5;
  const matrix fd_g = (gradient_x(net, theta + e * theta_dot, x + e * u) -
                       gradient_x(net, theta - e * theta_dot, x - e * u)) /
                      (2 * e);
  INFO("g_dot " << g_dot << "\nfd " << fd_g);
  CHECK((g_dot - fd_g).norm() <= 1e-7 * (1 + fd_g.norm()));
  // Tangent of Σ ∇_θH along (u, θ̇).
  const vector fd_theta = (gradient_theta(net, theta + e * theta_dot, x + e * u) -
                           gradient_theta(net, theta - e * theta_dot, x - e * u)) /
                          (2 * e);
  CHECK((dtheta_dot - fd_theta).norm() <= 1e-7 * (1 + fd_theta.norm()));

  // The dual-number pass (the network's own vjp on nde::dual) gives the same numbers.
  nde::nn::dual_second_order<Net, double> reference(net);
  matrix g_ref, g_dot_ref;
  vector dtheta_ref_dot = vector::Zero(p);
  Eigen::Ref<vector> r(dtheta_ref_dot);
  reference.run(theta, &theta_dot, x, u, &g_ref, &g_dot_ref, &r);
  CHECK((g_dot - g_dot_ref).norm() <= 1e-12 * (1 + g_dot.norm()));
  CHECK((dtheta_dot - dtheta_ref_dot).norm() <= 1e-12 * (1 + dtheta_dot.norm()));

  // The vjp of the input gradient (θ̇ = 0): a batch equals the sum over its columns, and
  // dtheta accumulates into what was there.
  matrix hu;
  vector acc = vector::Constant(p, 0.25);
  pass.gradient_vjp(theta, x, u, hu, acc);
  vector sum = vector::Constant(p, 0.25);
  for (Eigen::Index j = 0; j < batch; ++j) {
    matrix hu_j;
    pass.gradient_vjp(theta, x.col(j), u.col(j), hu_j, sum);
    CHECK((hu.col(j) - hu_j).norm() <= 1e-13 * (1 + hu_j.norm()));
  }
  CHECK((acc - sum).norm() <= 1e-12 * (1 + sum.norm()));
  // The Hessian–vector product is symmetric: vᵀ(∇²H u) = uᵀ(∇²H v) per column.
  const matrix v = random_matrix<double>(n, batch, rng);
  matrix hv;
  vector unused = vector::Zero(p);
  pass.gradient_vjp(theta, x, v, hv, unused);
  for (Eigen::Index j = 0; j < batch; ++j)
    CHECK(std::abs(v.col(j).dot(hu.col(j)) - u.col(j).dot(hv.col(j))) <=
          1e-12 * (1 + hu.norm() * v.norm()));
}

}  // namespace

TEST_CASE("second-order pass matches finite differences: tanh, one hidden layer",
          "[hamiltonian][second_order]") {
  for (const Eigen::Index width : {1, 5, 16})
    for (const Eigen::Index batch : {1, 3}) {
      const nde::nn::mlp<nde::nn::tanh_activation, D, D, D> net({2, width, 1});
      check_against_finite_differences(net, batch, 10 + unsigned(width + batch));
    }
}

TEST_CASE("second-order pass matches finite differences: softplus, two hidden layers",
          "[hamiltonian][second_order]") {
  for (const Eigen::Index width : {3, 12})
    for (const Eigen::Index in : {2, 4}) {
      const nde::nn::mlp<nde::nn::softplus_activation, D, D, D, D> net({in, width, width + 1, 1});
      check_against_finite_differences(net, 4, 20 + unsigned(width + in));
    }
}

TEST_CASE("second-order pass matches finite differences: fixed sizes, three hidden layers",
          "[hamiltonian][second_order]") {
  const nde::nn::mlp<nde::nn::tanh_activation, 6, 7, 5, 4, 1> net;
  check_against_finite_differences(net, 2, 33);
  const nde::nn::mlp<nde::nn::softplus_activation, 2, 1> affine;  // no hidden layer: ∇²H = 0
  check_against_finite_differences(affine, 2, 34);
}

TEST_CASE("second-order pass in float agrees with double", "[hamiltonian][second_order]") {
  using netd = nde::nn::mlp<nde::nn::tanh_activation, D, D, D, D>;
  const netd net({4, 10, 10, 1});
  std::mt19937_64 rng(5);
  const vector theta = random_matrix<double>(net.num_params(), 1, rng, 0.5);
  const matrix x = random_matrix<double>(4, 3, rng), u = random_matrix<double>(4, 3, rng);
  nde::nn::second_order_pass<netd, double> pd(net);
  nde::nn::second_order_pass<netd, float> pf(net);
  matrix hu, g;
  vector dtheta = vector::Zero(net.num_params());
  pd.gradient_vjp(theta, x, u, hu, dtheta, &g);
  Eigen::MatrixXf huf, gf;
  Eigen::VectorXf dthetaf = Eigen::VectorXf::Zero(net.num_params());
  const Eigen::VectorXf thetaf = theta.cast<float>();
  const Eigen::MatrixXf xf = x.cast<float>(), uf = u.cast<float>();
  pf.gradient_vjp(thetaf, xf, uf, huf, dthetaf, &gf);
  CHECK((gf.cast<double>() - g).norm() <= 1e-5 * (1 + g.norm()));
  CHECK((huf.cast<double>() - hu).norm() <= 1e-5 * (1 + hu.norm()));
  CHECK((dthetaf.cast<double>() - dtheta).norm() <= 1e-5 * (1 + dtheta.norm()));
  // And float is not secretly double: the difference is at float's rounding level, not 0.
  CHECK((huf.cast<double>() - hu).norm() > 0.0);
}

TEST_CASE("second-order passes refuse a non-scalar network and mismatched shapes",
          "[hamiltonian][second_order][bad_input]") {
  using netd = nde::nn::mlp<nde::nn::tanh_activation, D, D, D>;
  const netd two_outputs({2, 4, 2});
  CHECK_THROWS_WITH((nde::nn::second_order_pass<netd, double>(two_outputs)),
                    Catch::Contains("one output"));
  CHECK_THROWS_WITH((nde::nn::dual_second_order<netd, double>(two_outputs)),
                    Catch::Contains("one output"));
  auto ws = two_outputs.make_workspace<double>(1);
  matrix g;
  vector scratch;
  CHECK_THROWS_WITH(nde::nn::input_gradient(two_outputs, vector::Zero(two_outputs.num_params()),
                                            matrix::Zero(2, 1), g, ws, scratch),
                    Catch::Contains("one output"));

  const netd net({2, 4, 1});
  nde::nn::second_order_pass<netd, double> pass(net);
  const vector theta = vector::Zero(net.num_params());
  matrix hu;
  vector dtheta = vector::Zero(net.num_params());
  CHECK_THROWS_WITH(pass.gradient_vjp(theta, matrix::Zero(3, 1), matrix::Zero(3, 1), hu, dtheta),
                    Catch::Contains("rows"));
  CHECK_THROWS_WITH(pass.gradient_vjp(theta, matrix::Zero(2, 2), matrix::Zero(2, 1), hu, dtheta),
                    Catch::Contains("shape"));
  CHECK_THROWS_WITH(
      pass.gradient_vjp(vector::Zero(3), matrix::Zero(2, 1), matrix::Zero(2, 1), hu, dtheta),
      Catch::Contains("theta"));
  vector short_dtheta = vector::Zero(2);
  CHECK_THROWS_WITH(
      pass.gradient_vjp(theta, matrix::Zero(2, 1), matrix::Zero(2, 1), hu, short_dtheta),
      Catch::Contains("dtheta_dot"));
}
