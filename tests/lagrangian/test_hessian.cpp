// nn::scalar_network_curvature: closed-form Hessians against central differences of the
// network's own input gradient (its reverse pass) and against nested dual numbers; the
// third-order directional pass against nested duals run through the layers' reverse pass and
// against differences of the Hessian; batch = columns; float vs double; bad input.
#include <nde/core/dual.hpp>
#include <nde/nn/hessian.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

#include <random>

namespace {

using matrix = Eigen::MatrixXd;
using dd = nde::dual<nde::dual<double>>;

template <class Net>
Eigen::VectorXd random_params(const Net& net, unsigned seed, double gain = 1.0) {
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(seed);
  nde::nn::init_xavier_normal(net.layout(), theta, engine, gain);
  // Non-zero biases so that no symmetry hides an indexing error.
  for (Eigen::Index k = 0; k < theta.size(); ++k)
    if (theta[k] == 0) theta[k] = 0.1 * nde::nn::standard_normal(engine);
  return theta;
}

matrix random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed) {
  std::mt19937_64 engine(seed);
  matrix m(rows, cols);
  for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = nde::nn::standard_normal(engine);
  return m;
}

// ∇ₓL of one column through the network's ordinary reverse pass.
template <class Net>
Eigen::VectorXd input_gradient(const Net& net, const Eigen::VectorXd& theta,
                               const Eigen::VectorXd& x) {
  auto ws = net.template make_workspace<double>(1);
  Eigen::MatrixXd dx, dy = Eigen::MatrixXd::Ones(1, 1);
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  net.vjp(theta, Eigen::MatrixXd(x), dy, dx, dtheta, ws);
  return dx.col(0);
}

// Nested duals: L(x + ε₁a + ε₂b) through the layers; returns the ε₁ε₂ coefficient aᵀHb, and
// (optionally) the θ- and x-cotangents' ε₁ε₂ parts from the reverse pass.
template <class Net>
double nested_dual_pass(const Net& net, const Eigen::VectorXd& theta, const Eigen::VectorXd& x,
                        const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                        Eigen::VectorXd* dtheta_ab = nullptr, Eigen::VectorXd* dx_ab = nullptr) {
  using dvec = Eigen::Matrix<dd, Eigen::Dynamic, Eigen::Dynamic>;
  Eigen::Matrix<dd, Eigen::Dynamic, 1> th = theta.cast<dd>();
  dvec xx(x.size(), 1);
  for (Eigen::Index i = 0; i < x.size(); ++i)
    xx(i, 0) = dd(nde::dual<double>(x[i], a[i]), nde::dual<double>(b[i], 0.0));
  auto ws = net.template make_workspace<dd>(1);
  dvec y;
  net.forward(th, xx, y, ws);
  if (dtheta_ab) {
    dvec dy = dvec::Constant(1, 1, dd(1.0));
    dvec dx;
    Eigen::Matrix<dd, Eigen::Dynamic, 1> dth =
        Eigen::Matrix<dd, Eigen::Dynamic, 1>::Constant(theta.size(), dd(0.0));
    net.backward(th, xx, dy, dx, dth, ws);
    dtheta_ab->resize(theta.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k) (*dtheta_ab)[k] = dth[k].tangent.tangent;
    dx_ab->resize(x.size());
    for (Eigen::Index i = 0; i < x.size(); ++i) (*dx_ab)[i] = dx(i, 0).tangent.tangent;
  }
  return y(0, 0).tangent.tangent;
}

// ∇_θ(∇L·c) and (∇²L)c from one dual-number reverse pass.
template <class Net>
void dual_pass(const Net& net, const Eigen::VectorXd& theta, const Eigen::VectorXd& x,
               const Eigen::VectorXd& c, Eigen::VectorXd& dtheta_c, Eigen::VectorXd& hc) {
  using d1 = nde::dual<double>;
  using dmat = Eigen::Matrix<d1, Eigen::Dynamic, Eigen::Dynamic>;
  Eigen::Matrix<d1, Eigen::Dynamic, 1> th = theta.cast<d1>();
  dmat xx(x.size(), 1);
  for (Eigen::Index i = 0; i < x.size(); ++i) xx(i, 0) = d1(x[i], c[i]);
  auto ws = net.template make_workspace<d1>(1);
  dmat dy = dmat::Constant(1, 1, d1(1.0)), dx;
  Eigen::Matrix<d1, Eigen::Dynamic, 1> dth =
      Eigen::Matrix<d1, Eigen::Dynamic, 1>::Constant(theta.size(), d1(0.0));
  net.vjp(th, xx, dy, dx, dth, ws);
  dtheta_c.resize(theta.size());
  for (Eigen::Index k = 0; k < theta.size(); ++k) dtheta_c[k] = dth[k].tangent;
  hc.resize(x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) hc[i] = dx(i, 0).tangent;
}

template <class Net>
void check_hessian(const Net& net, unsigned seed, Eigen::Index cols) {
  const Eigen::VectorXd theta = random_params(net, seed);
  const Eigen::Index d = net.in_size();
  const matrix x = random_matrix(d, cols, seed + 1);
  nde::nn::scalar_network_curvature<Net> curv(net);
  curv.evaluate(theta, x);
  REQUIRE(curv.value().rows() == 1);
  REQUIRE(curv.value().cols() == cols);
  REQUIRE(curv.hessian().rows() == d);
  REQUIRE(curv.hessian().cols() == d * cols);
  auto ws = net.template make_workspace<double>(cols);
  matrix y;
  net.forward(theta, x, y, ws);
  CHECK((curv.value() - y).cwiseAbs().maxCoeff() <= 1e-13 * (1 + y.cwiseAbs().maxCoeff()));
  const double h = 1e-5;
  for (Eigen::Index b = 0; b < cols; ++b) {
    const Eigen::VectorXd xb = x.col(b);
    const Eigen::VectorXd g = input_gradient(net, theta, xb);
    CHECK((curv.gradient().col(b) - g).norm() <= 1e-13 * (1 + g.norm()));
    const matrix hb = curv.hessian().middleCols(b * d, d);
    CHECK((hb - hb.transpose()).norm() <= 1e-13 * (1 + hb.norm()));
    matrix fd(d, d);
    for (Eigen::Index j = 0; j < d; ++j) {
      Eigen::VectorXd xp = xb, xm = xb;
      xp[j] += h;
      xm[j] -= h;
      fd.col(j) = (input_gradient(net, theta, xp) - input_gradient(net, theta, xm)) / (2 * h);
    }
    INFO("column " << b << "\nclosed form\n" << hb << "\ncentral differences\n" << fd);
    CHECK((hb - fd).norm() <= 1e-7 * (1 + hb.norm()));
    // Nested duals: entry (i, j) is the ε₁ε₂ coefficient of L(x + ε₁eᵢ + ε₂eⱼ).
    matrix nested(d, d);
    for (Eigen::Index i = 0; i < d; ++i)
      for (Eigen::Index j = 0; j < d; ++j)
        nested(i, j) = nested_dual_pass(net, theta, xb, Eigen::VectorXd::Unit(d, i),
                                        Eigen::VectorXd::Unit(d, j));
    CHECK((hb - nested).norm() <= 1e-12 * (1 + hb.norm()));
  }
}

}  // namespace

TEST_CASE("closed-form Hessian: central differences of the input gradient and nested duals",
          "[lagrangian][hessian]") {
  SECTION("tanh, 4-16-1, one column") {
    check_hessian(nde::nn::mlp<nde::nn::tanh_activation, 4, 16, 1>{}, 3, 1);
  }
  SECTION("softplus, 2 hidden layers, batch of 3") {
    check_hessian(nde::nn::mlp<nde::nn::softplus_activation, 4, 12, 10, 1>{}, 5, 3);
  }
  SECTION("sigmoid, dynamic widths 6-8-8-1, batch of 2") {
    using net = nde::nn::mlp<nde::nn::sigmoid_activation, Eigen::Dynamic, Eigen::Dynamic,
                             Eigen::Dynamic, Eigen::Dynamic>;
    check_hessian(net({6, 8, 8, 1}), 7, 2);
  }
  SECTION("input size 2, width 1 hidden layer") {
    check_hessian(nde::nn::mlp<nde::nn::tanh_activation, 2, 1, 1>{}, 9, 2);
  }
}

TEST_CASE("closed-form Hessian: batch columns equal single evaluations; float vs double",
          "[lagrangian][hessian]") {
  using net_type = nde::nn::mlp<nde::nn::softplus_activation, 4, 20, 20, 1>;
  const net_type net;
  const Eigen::VectorXd theta = random_params(net, 11);
  const matrix x = random_matrix(4, 5, 12);
  nde::nn::scalar_network_curvature<net_type> batch(net), single(net);
  batch.evaluate(theta, x);
  for (Eigen::Index b = 0; b < x.cols(); ++b) {
    single.evaluate(theta, x.col(b));
    CHECK((batch.hessian().middleCols(4 * b, 4) - single.hessian()).norm() <=
          1e-14 * (1 + single.hessian().norm()));
    CHECK((batch.gradient().col(b) - single.gradient()).norm() <= 1e-14);
  }
  nde::nn::scalar_network_curvature<net_type, float> low(net);
  const Eigen::VectorXf theta_f = theta.cast<float>();
  low.evaluate(theta_f, x.cast<float>());
  const double relative =
      (low.hessian().cast<double>() - batch.hessian()).norm() / batch.hessian().norm();
  INFO("float vs double relative Hessian difference " << relative);
  CHECK(relative <= 1e-5);
  CHECK(relative > 0);  // a genuinely single-precision computation
}

TEST_CASE("third-order directional pass: nested duals through the layers and differences",
          "[lagrangian][hessian]") {
  using net_type = nde::nn::mlp<nde::nn::tanh_activation, 4, 9, 7, 1>;
  const net_type net;
  const Eigen::VectorXd theta = random_params(net, 21);
  const Eigen::Index cols = 3;
  const matrix x = random_matrix(4, cols, 22), a = random_matrix(4, cols, 23),
               b = random_matrix(4, cols, 24), c = random_matrix(4, cols, 25);
  nde::nn::scalar_network_curvature<net_type> curv(net);
  Eigen::VectorXd dtheta = Eigen::VectorXd::Constant(theta.size(), 0.5);  // accumulated onto
  curv.directional_gradients(theta, x, a, b, c, dtheta);
  Eigen::VectorXd expected = Eigen::VectorXd::Constant(theta.size(), 0.5);
  for (Eigen::Index k = 0; k < cols; ++k) {
    Eigen::VectorXd dth_ab, dx_ab, dth_c, hc;
    nested_dual_pass(net, theta, x.col(k), a.col(k), b.col(k), &dth_ab, &dx_ab);
    dual_pass(net, theta, x.col(k), c.col(k), dth_c, hc);
    expected += dth_c - dth_ab;
    CHECK((curv.third_ab().col(k) - dx_ab).norm() <= 1e-12 * (1 + dx_ab.norm()));
    CHECK((curv.hessian_c().col(k) - hc).norm() <= 1e-12 * (1 + hc.norm()));
    // H a and H b against the closed-form Hessian.
    nde::nn::scalar_network_curvature<net_type> one(net);
    one.evaluate(theta, x.col(k));
    CHECK((curv.hessian_a().col(k) - one.hessian() * a.col(k)).norm() <= 1e-12);
    CHECK((curv.hessian_b().col(k) - one.hessian() * b.col(k)).norm() <= 1e-12);
    CHECK((curv.taylor_gradient().col(k) - one.gradient()).norm() <= 1e-13);
    // ∇ₓ(aᵀHb) by central differences of the closed-form Hessian.
    const double h = 1e-5;
    Eigen::VectorXd fd(4);
    for (Eigen::Index j = 0; j < 4; ++j) {
      Eigen::VectorXd xp = x.col(k), xm = x.col(k);
      xp[j] += h;
      xm[j] -= h;
      one.evaluate(theta, xp);
      const double plus = a.col(k).dot(one.hessian() * b.col(k));
      one.evaluate(theta, xm);
      const double minus = a.col(k).dot(one.hessian() * b.col(k));
      fd[j] = (plus - minus) / (2 * h);
    }
    CHECK((curv.third_ab().col(k) - fd).norm() <= 1e-7 * (1 + fd.norm()));
  }
  INFO("directional θ-gradient\n"
       << dtheta.transpose() << "\nnested duals\n"
       << expected.transpose());
  CHECK((dtheta - expected).norm() <= 1e-12 * (1 + expected.norm()));
}

TEST_CASE("scalar_network_curvature: bad input", "[lagrangian][hessian]") {
  using two_out = nde::nn::mlp<nde::nn::tanh_activation, 4, 8, 2>;
  CHECK_THROWS_WITH(nde::nn::scalar_network_curvature<two_out>(two_out{}),
                    Catch::Contains("one output"));
  using net_type = nde::nn::mlp<nde::nn::tanh_activation, 4, 8, 1>;
  nde::nn::scalar_network_curvature<net_type> curv{net_type{}};
  const Eigen::VectorXd theta = Eigen::VectorXd::Zero(net_type{}.num_params());
  CHECK_THROWS_WITH(curv.evaluate(theta, Eigen::MatrixXd::Zero(3, 2)), Catch::Contains("3 rows"));
  CHECK_THROWS_WITH(curv.evaluate(Eigen::VectorXd::Zero(5), Eigen::MatrixXd::Zero(4, 2)),
                    Catch::Contains("θ has 5 entries"));
}
