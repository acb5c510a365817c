// nde::lagrangian_field: q̈ of Lagrangians known by hand against their Euler–Lagrange
// accelerations; the vjp (third derivatives of L) against central differences of the forward
// dynamics at several shapes, batch = sum of columns, float vs double; the (q, p) contract;
// energy conservation of rollouts; the discrete-adjoint gradient of a rollout loss against
// central differences; bad input (singular / indefinite velocity Hessian, odd sizes, output
// width ≠ 1).
#include <nde/models/lagrangian.hpp>
#include <nde/models/neural_ode.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/rk4.hpp>
#include <nde/step_size/constant_step.hpp>

#include <Eigen/Eigenvalues>
#include <catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace {

using matrix = Eigen::MatrixXd;

// x ↦ x²: a quadratic Lagrangian is a sum of squares of linear forms.
struct square_activation : nde::nn::activation_layer<square_activation> {
  static constexpr bool vectorised = false;
  template <class S>
  S value(const S& x) const {
    return x * x;
  }
  template <class S>
  S derivative(const S& x, const S&) const {
    return S(2) * x;
  }
  template <class S>
  S second_derivative(const S&) const {
    return S(2);
  }
  template <class S>
  S third_derivative(const S&) const {
    return S(0);
  }
};

// x ↦ x² + cos x (f'' = 2 − cos x ≥ 1).
struct square_cos_activation : nde::nn::activation_layer<square_cos_activation> {
  static constexpr bool vectorised = false;
  template <class S>
  S value(const S& x) const {
    using std::cos;
    return x * x + cos(x);
  }
  template <class S>
  S derivative(const S& x, const S&) const {
    using std::sin;
    return S(2) * x - sin(x);
  }
  template <class S>
  S second_derivative(const S& x) const {
    using std::cos;
    return S(2) - cos(x);
  }
  template <class S>
  S third_derivative(const S& x) const {
    using std::sin;
    return sin(x);
  }
};

template <class Net>
Eigen::VectorXd random_params(const Net& net, unsigned seed, double gain = 1.0) {
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(seed);
  nde::nn::init_xavier_normal(net.layout(), theta, engine, gain);
  for (Eigen::Index k = 0; k < theta.size(); ++k)
    if (theta[k] == 0) theta[k] = 0.1 * nde::nn::standard_normal(engine);
  return theta;
}

matrix random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed, double scale = 1.0) {
  std::mt19937_64 engine(seed);
  matrix m(rows, cols);
  for (Eigen::Index k = 0; k < m.size(); ++k)
    m.data()[k] = scale * nde::nn::standard_normal(engine);
  return m;
}

double relative(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).norm() / (1e-300 + std::max(a.norm(), b.norm()));
}

// Central differences of wᵀ f(y; θ) in θ and in y.
template <class Field, class State>
void finite_differences(Field& field, const State& y, const Eigen::VectorXd& theta, const State& w,
                        Eigen::VectorXd& d_theta, State& d_y, double h = 1e-6) {
  auto loss = [&](const State& yy, const Eigen::VectorXd& th) {
    State out = yy;
    field(0.0, yy, nde::params_view<double>(th), out);
    return w.cwiseProduct(out).sum();
  };
  d_theta.resize(theta.size());
  for (Eigen::Index k = 0; k < theta.size(); ++k) {
    Eigen::VectorXd tp = theta, tm = theta;
    tp[k] += h;
    tm[k] -= h;
    d_theta[k] = (loss(y, tp) - loss(y, tm)) / (2 * h);
  }
  d_y = y;
  for (Eigen::Index k = 0; k < y.size(); ++k) {
    State yp = y, ym = y;
    yp.data()[k] += h;
    ym.data()[k] -= h;
    d_y.data()[k] = (loss(yp, theta) - loss(ym, theta)) / (2 * h);
  }
}

template <class Net, class State>
void check_vjp(const Net& net, const State& y, unsigned seed) {
  using field_type = nde::lagrangian_field<Net, State>;
  field_type field(net);
  const Eigen::VectorXd theta = random_params(net, seed);
  const State w = random_matrix(y.rows(), y.cols(), seed + 7);
  State a_y = y;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Zero(theta.size());
  field.vjp(0.0, y, nde::params_view<double>(theta), w, a_y, nde::params_ref<double>(a_theta));
  Eigen::VectorXd fd_theta;
  State fd_y;
  finite_differences(field, y, theta, w, fd_theta, fd_y);
  INFO("θ-gradient: vjp vs central differences, relative " << relative(a_theta, fd_theta));
  CHECK(relative(a_theta, fd_theta) <= 1e-6);
  INFO("y-gradient: vjp\n" << a_y << "\ncentral differences\n" << fd_y);
  CHECK(relative(a_y, fd_y) <= 1e-6);
  // jvp against central differences along a random direction (ẏ, θ̇), and the duality
  // wᵀ(J ẏ + J_θ θ̇) = a_yᵀẏ + a_θᵀθ̇ with the vjp.
  const State y_dot = random_matrix(y.rows(), y.cols(), seed + 9);
  const Eigen::VectorXd theta_dot = random_matrix(theta.size(), 1, seed + 10);
  State jv = y;
  field.jvp(0.0, y, nde::params_view<double>(theta), y_dot, nde::params_view<double>(theta_dot),
            0.0, jv);
  {
    const double h = 1e-6;
    const State yp = y + h * y_dot, ym = y - h * y_dot;
    const Eigen::VectorXd tp = theta + h * theta_dot, tm = theta - h * theta_dot;
    State fp = y, fm = y;
    field(0.0, yp, nde::params_view<double>(tp), fp);
    field(0.0, ym, nde::params_view<double>(tm), fm);
    const State fd = (fp - fm) / (2 * h);
    INFO("jvp\n" << jv << "\ncentral differences\n" << fd);
    CHECK(relative(jv, fd) <= 1e-6);
    const double lhs = w.cwiseProduct(jv).sum();
    const double rhs = a_y.cwiseProduct(y_dot).sum() + a_theta.dot(theta_dot);
    CHECK(std::abs(lhs - rhs) <= 1e-10 * (1 + std::abs(lhs)));
  }
  // The (q, p) contract: vjp = vjp_q + vjp_p, vjp_q touches no parameter.
  State wq = w, wp = w;
  wq.bottomRows(field.half()).setConstant(std::numeric_limits<double>::quiet_NaN());
  wp.topRows(field.half()).setConstant(std::numeric_limits<double>::quiet_NaN());
  State yq = y, yp = y;
  Eigen::VectorXd tq = Eigen::VectorXd::Zero(theta.size()), tp = tq;
  field.vjp_q(0.0, y, nde::params_view<double>(theta), wq, yq, nde::params_ref<double>(tq));
  field.vjp_p(0.0, y, nde::params_view<double>(theta), wp, yp, nde::params_ref<double>(tp));
  CHECK(tq.isZero(0));
  CHECK(relative(yq + yp, a_y) <= 1e-14);
  CHECK(relative(tp, a_theta) <= 1e-14);
}

}  // namespace

TEST_CASE(
    "lagrangian_field: a quadratic Lagrangian with a gyroscopic term gives its "
    "Euler–Lagrange acceleration",
    "[lagrangian]") {
  // L = ½ q̇ᵀMq̇ + q̇ᵀGq − ½ qᵀKq; by hand: M q̈ = (Gᵀ − G) q̇ − K q.
  Eigen::Matrix2d mass, gyro, stiff;
  mass << 2.0, 0.5, 0.5, 1.0;
  gyro << 0.3, -0.7, 0.2, 0.1;
  stiff << 3.0, -1.0, -1.0, 2.0;
  Eigen::Matrix4d s = Eigen::Matrix4d::Zero();  // L = xᵀ S x, x = [q; q̇]
  s.topLeftCorner<2, 2>() = -0.5 * stiff;
  s.bottomRightCorner<2, 2>() = 0.5 * mass;
  s.bottomLeftCorner<2, 2>() = 0.5 * gyro;
  s.topRightCorner<2, 2>() = 0.5 * gyro.transpose();
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix4d> eig(s);
  // L = Σᵢ λᵢ (uᵢᵀx)² + 0.3: hidden layer W = Uᵀ (no bias), output weights λ.
  using net_type =
      nde::nn::sequential<nde::nn::linear<4, 4>, square_activation, nde::nn::linear<4, 1>>;
  const net_type net{nde::nn::linear<4, 4>{}, square_activation{}, nde::nn::linear<4, 1>{}};
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(net.num_params());
  Eigen::Map<Eigen::Matrix4d>(theta.data()) = eig.eigenvectors().transpose();
  theta.segment<4>(20) = eig.eigenvalues();
  theta[24] = 0.3;
  nde::lagrangian_field<net_type, Eigen::MatrixXd> field(net);
  const matrix y = random_matrix(4, 5, 31);
  matrix out = y;
  field(0.0, y, nde::params_view<double>(theta), out);
  for (Eigen::Index b = 0; b < y.cols(); ++b) {
    const Eigen::Vector2d q = y.col(b).head<2>(), v = y.col(b).tail<2>();
    const Eigen::Vector2d expected = mass.ldlt().solve((gyro.transpose() - gyro) * v - stiff * q);
    CHECK((out.col(b).tail<2>() - expected).norm() <= 1e-12 * (1 + expected.norm()));
    CHECK((out.col(b).head<2>() - v).norm() == 0);
  }
  // The energy q̇·∂L/∂q̇ − L = ½ q̇ᵀMq̇ + ½ qᵀKq − 0.3 (the gyroscopic term does no work).
  const auto e = field.energy(y, nde::params_view<double>(theta));
  for (Eigen::Index b = 0; b < y.cols(); ++b) {
    const Eigen::Vector2d q = y.col(b).head<2>(), v = y.col(b).tail<2>();
    const double expected = 0.5 * v.dot(mass * v) + 0.5 * q.dot(stiff * q) - 0.3;
    CHECK(std::abs(e[b] - expected) <= 1e-12 * (1 + std::abs(expected)));
  }
  // The vjp of a quadratic L (third derivatives vanish) against central differences.
  check_vjp(net, y, 3);
}

TEST_CASE("lagrangian_field: a nonlinear Lagrangian known by hand", "[lagrangian]") {
  // L = c₁ softplus(q̇) + c₂ softplus(q): c₁σ'(q̇) q̈ = c₂σ(q).
  using net_type = nde::nn::mlp<nde::nn::softplus_activation, 2, 2, 1>;
  const net_type net;
  const double c1 = 1.7, c2 = -0.6;
  Eigen::VectorXd theta(net.num_params());
  theta << 0, 1, 1, 0, 0, 0, c1, c2, 0.25;  // W₁ = [[0, 1], [1, 0]], b₁ = 0, W₂ = [c₁, c₂]
  nde::lagrangian_field<net_type, Eigen::Vector2d> field(net);
  auto sigma = [](double x) { return 1 / (1 + std::exp(-x)); };
  for (const auto& y :
       {Eigen::Vector2d(0.3, -0.4), Eigen::Vector2d(-1.2, 2.0), Eigen::Vector2d(2.5, 0.1)}) {
    Eigen::Vector2d out;
    field(0.0, y, nde::params_view<double>(theta), out);
    const double s = sigma(y[1]);
    const double expected = c2 * sigma(y[0]) / (c1 * s * (1 - s));
    CHECK(out[0] == y[1]);
    CHECK(std::abs(out[1] - expected) <= 1e-13 * (1 + std::abs(expected)));
  }
}

TEST_CASE("lagrangian_field: vjp against central differences of the dynamics", "[lagrangian]") {
  SECTION("softplus 4-16-16-1, one state") {
    check_vjp(nde::nn::mlp<nde::nn::softplus_activation, 4, 16, 16, 1>{},
              Eigen::Vector4d(0.3, -0.5, 0.8, 0.2), 41);
  }
  SECTION("tanh, dynamic widths 6-10-1, batch of 3") {
    using net =
        nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
    check_vjp(net({6, 10, 1}), Eigen::MatrixXd(random_matrix(6, 3, 43, 0.7)), 44);
  }
  SECTION("softplus 2-8-8-1 (one degree of freedom), fixed 2 × batch") {
    using state = Eigen::Matrix<double, 2, Eigen::Dynamic>;
    check_vjp(nde::nn::mlp<nde::nn::softplus_activation, 2, 8, 8, 1>{},
              state(random_matrix(2, 4, 45)), 46);
  }
}

TEST_CASE("lagrangian_field: batch = sum of columns; float vs double", "[lagrangian]") {
  using net_type = nde::nn::mlp<nde::nn::softplus_activation, 4, 24, 24, 1>;
  const net_type net;
  const Eigen::VectorXd theta = random_params(net, 51);
  const matrix y = random_matrix(4, 4, 52), w = random_matrix(4, 4, 53);
  nde::lagrangian_field<net_type, Eigen::MatrixXd> batch(net);
  nde::lagrangian_field<net_type, Eigen::Vector4d> single(net);
  matrix out = y, a_y = y;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Zero(theta.size()), sum = a_theta;
  batch(0.0, y, nde::params_view<double>(theta), out);
  batch.vjp(0.0, y, nde::params_view<double>(theta), w, a_y, nde::params_ref<double>(a_theta));
  for (Eigen::Index b = 0; b < y.cols(); ++b) {
    const Eigen::Vector4d yb = y.col(b), wb = w.col(b);
    Eigen::Vector4d ob, ab;
    single(0.0, yb, nde::params_view<double>(theta), ob);
    single.vjp(0.0, yb, nde::params_view<double>(theta), wb, ab, nde::params_ref<double>(sum));
    CHECK((out.col(b) - ob).norm() <= 1e-13 * (1 + ob.norm()));
    CHECK((a_y.col(b) - ab).norm() <= 1e-12 * (1 + ab.norm()));
  }
  CHECK(relative(a_theta, sum) <= 1e-12);

  nde::lagrangian_field<net_type, Eigen::MatrixXf> low(net);
  const Eigen::VectorXf theta_f = theta.cast<float>();
  const Eigen::MatrixXf y_f = y.cast<float>(), w_f = w.cast<float>();
  Eigen::MatrixXf out_f = y_f, a_y_f = y_f;
  Eigen::VectorXf a_theta_f = Eigen::VectorXf::Zero(theta.size());
  low(0.0, y_f, nde::params_view<float>(theta_f), out_f);
  low.vjp(0.0, y_f, nde::params_view<float>(theta_f), w_f, a_y_f,
          nde::params_ref<float>(a_theta_f));
  INFO("float vs double: q̈ " << relative(out_f.cast<double>(), out) << ", a_y "
                             << relative(a_y_f.cast<double>(), a_y) << ", a_θ "
                             << relative(a_theta_f.cast<double>(), a_theta));
  CHECK(relative(out_f.cast<double>(), out) <= 1e-4);
  CHECK(relative(a_y_f.cast<double>(), a_y) <= 1e-3);
  CHECK(relative(a_theta_f.cast<double>(), a_theta) <= 1e-3);
}

TEST_CASE("lagrangian_field: the (q, p) blocks and the term interface", "[lagrangian]") {
  using net_type = nde::nn::mlp<nde::nn::tanh_activation, 4, 12, 1>;
  nde::lagrangian_field<net_type, Eigen::Vector4d> field{net_type{}};
  const Eigen::VectorXd theta = random_params(net_type{}, 61);
  const Eigen::Vector4d y(0.1, 0.2, -0.3, 0.4);
  static_assert(!decltype(field)::separable());
  CHECK(field.half() == 2);
  CHECK(field.state_rows() == 4);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Eigen::Vector4d full, top = Eigen::Vector4d::Constant(nan), bottom = top;
  field.vf(0.0, y, nde::params_view<double>(theta), full);
  field.vf_q(0.0, y, nde::params_view<double>(theta), top);
  field.vf_p(0.0, y, nde::params_view<double>(theta), bottom);
  CHECK(top.head<2>() == full.head<2>());
  CHECK(top.tail<2>().array().isNaN().all());
  CHECK(bottom.tail<2>() == full.tail<2>());
  CHECK(bottom.head<2>().array().isNaN().all());
  CHECK(full.head<2>() == y.tail<2>());
}

TEST_CASE("lagrangian_field: a rollout conserves the network's own energy", "[lagrangian]") {
  // L = Σ_{i<8} wᵢ f(uᵢᵀx + bᵢ) − Σ_{i≥8} wᵢ f(kᵢᵀq + bᵢ), f(s) = s² + cos s (f'' ≥ 1), wᵢ > 0:
  // M = Σ_{i<8} wᵢ f''(·) uᵢ,q̇ uᵢ,q̇ᵀ is positive definite everywhere and the motion bounded,
  // with nonlinear q–q̇ coupling through the first eight units.
  using net_type =
      nde::nn::sequential<nde::nn::linear<4, 16>, square_cos_activation, nde::nn::linear<16, 1>>;
  const net_type net{nde::nn::linear<4, 16>{}, square_cos_activation{}, nde::nn::linear<16, 1>{}};
  Eigen::VectorXd theta = random_params(net, 71);
  Eigen::Map<Eigen::Matrix<double, 16, 4>> w1(theta.data());
  w1.topLeftCorner<8, 2>() *= 0.3;
  w1.bottomRightCorner<8, 2>().setZero();
  theta.segment(80, 8) = 0.5 * theta.segment(80, 8).cwiseAbs();
  theta.segment(88, 8) = -0.5 * theta.segment(88, 8).cwiseAbs();
  using field_type = nde::lagrangian_field<net_type, Eigen::Vector4d>;
  field_type field(net, {.factorisation = nde::mass_matrix_factorisation::cholesky});
  const Eigen::Vector4d y0(0.4, -0.3, 0.2, 0.5);
  const auto sol = nde::solve(field, nde::dopri5{}, 0.0, 5.0, y0, theta,
                              {.save_at = nde::save_at::times({0.0, 1.0, 2.5, 5.0}),
                               .controller = nde::pid_controller{.rtol = 1e-11, .atol = 1e-12}});
  INFO(sol.message);
  REQUIRE(sol.status == nde::status::success);
  const double e0 = field.energy(y0, nde::params_view<double>(theta))[0];
  double drift = 0, motion = 0;
  for (const auto& y : sol.ys) {
    drift = std::max(drift, std::abs(field.energy(y, nde::params_view<double>(theta))[0] - e0));
    motion = std::max(motion, (y - y0).norm());
  }
  INFO("energy " << e0 << ", largest change " << drift << ", largest |y − y0| " << motion);
  CHECK(motion > 0.1);  // the state really moves
  CHECK(drift <= 1e-8 * (1 + std::abs(e0)));
}

TEST_CASE("lagrangian_field: discrete-adjoint gradient of a rollout loss vs central differences",
          "[lagrangian]") {
  using net_type = nde::nn::mlp<nde::nn::softplus_activation, 4, 12, 12, 1>;
  using field_type = nde::lagrangian_field<net_type, Eigen::Vector4d>;
  const net_type net;
  const Eigen::VectorXd theta = random_params(net, 81);
  const std::vector<double> ts{0.0, 0.2, 0.5};
  const Eigen::Vector4d y0(0.3, -0.2, 0.4, 0.1);
  const std::vector<Eigen::Vector4d> weights{Eigen::Vector4d::Zero(),
                                             Eigen::Vector4d(0.5, -1.0, 0.3, 0.2),
                                             Eigen::Vector4d(-0.4, 0.7, 1.1, -0.6)};
  nde::neural_ode_options options;
  options.controller = nde::constant_step{.dt = 0.05};
  using model_type = nde::neural_ode<field_type, nde::rk4, nde::discrete_adjoint, Eigen::Vector4d>;
  model_type model(field_type(net), theta, {}, options);
  auto loss = [&](const Eigen::Vector4d& y_init) {
    const auto& fr = model.forward(y_init, ts);
    REQUIRE(fr.status == nde::status::success);
    double l = 0;
    for (std::size_t i = 0; i < ts.size(); ++i) l += weights[i].dot(fr.ys[i]);
    return l;
  };
  loss(y0);
  const auto grad = model.backward(std::span<const Eigen::Vector4d>(weights));
  REQUIRE(grad.status == nde::status::success);
  const double h = 1e-6;
  Eigen::VectorXd fd(theta.size());
  for (Eigen::Index k = 0; k < theta.size(); ++k) {
    const double saved = model.params()[k];
    model.params()[k] = saved + h;
    const double plus = loss(y0);
    model.params()[k] = saved - h;
    const double minus = loss(y0);
    model.params()[k] = saved;
    fd[k] = (plus - minus) / (2 * h);
  }
  Eigen::Vector4d fd_y0;
  for (int k = 0; k < 4; ++k) {
    Eigen::Vector4d yp = y0, ym = y0;
    yp[k] += h;
    ym[k] -= h;
    fd_y0[k] = (loss(yp) - loss(ym)) / (2 * h);
  }
  INFO("θ: relative " << relative(grad.params, fd) << "; y0: relative "
                      << relative(grad.y0, fd_y0));
  CHECK(relative(grad.params, fd) <= 1e-6);
  CHECK(relative(grad.y0, fd_y0) <= 1e-6);
  CHECK(fd.norm() > 1e-3);  // the loss depends on θ
  // Forward sensitivities (the field's jvp) give the same exact discrete gradient.
  using forward_model =
      nde::neural_ode<field_type, nde::rk4, nde::forward_sensitivity, Eigen::Vector4d>;
  forward_model fwd(field_type(net), theta, {}, options);
  REQUIRE(fwd.forward(y0, ts).status == nde::status::success);
  const auto grad_fwd = fwd.backward(std::span<const Eigen::Vector4d>(weights));
  REQUIRE(grad_fwd.status == nde::status::success);
  CHECK(relative(grad_fwd.params, grad.params) <= 1e-10);
  CHECK(relative(grad_fwd.y0, grad.y0) <= 1e-10);
}

TEST_CASE("lagrangian_field: bad input", "[lagrangian]") {
  using net_type = nde::nn::mlp<nde::nn::tanh_activation, 4, 8, 1>;
  const net_type net;
  Eigen::VectorXd theta = random_params(net, 91);
  const Eigen::Vector4d y(0.1, 0.2, 0.3, 0.4);
  Eigen::Vector4d out;

  SECTION("L does not depend on q̇: singular velocity Hessian") {
    // The first layer's weight is {8, 4} column-major: columns 2 and 3 multiply q̇.
    theta.segment(16, 16).setZero();
    nde::lagrangian_field<net_type, Eigen::Vector4d> field(net);
    CHECK_THROWS_WITH(field(0.0, y, nde::params_view<double>(theta), out),
                      Catch::Contains("singular") && Catch::Contains("q̇"));
    try {
      field(0.0, y, nde::params_view<double>(theta), out);
    } catch (const nde::error& e) {
      CHECK(e.code() == nde::status::invalid_input);
    }
    // Inside a solve, the failure is the solve's status, with the reason.
    const auto sol = nde::solve(field, nde::rk4{}, 0.0, 1.0, y, theta,
                                {.controller = nde::constant_step{.dt = 0.1}});
    CHECK(sol.status == nde::status::invalid_input);
    CHECK_THAT(sol.message, Catch::Contains("singular"));
    // Cholesky names the other failure.
    nde::lagrangian_field<net_type, Eigen::Vector4d> chol(
        net, {.factorisation = nde::mass_matrix_factorisation::cholesky});
    CHECK_THROWS(chol(0.0, y, nde::params_view<double>(theta), out));
  }
  SECTION("negative definite velocity Hessian: LU accepts it, Cholesky names it") {
    // L = −softplus-sum of q̇ terms: concave in q̇.
    using sp = nde::nn::mlp<nde::nn::softplus_activation, 2, 2, 1>;
    Eigen::VectorXd th(sp{}.num_params());
    th << 0, 1, 1, 0, 0, 0, -1.0, 0.5, 0;
    nde::lagrangian_field<sp, Eigen::Vector2d> lu{sp{}};
    nde::lagrangian_field<sp, Eigen::Vector2d> chol(
        sp{}, {.factorisation = nde::mass_matrix_factorisation::cholesky});
    Eigen::Vector2d o;
    CHECK_NOTHROW(lu(0.0, Eigen::Vector2d(0.2, 0.3), nde::params_view<double>(th), o));
    CHECK(std::isfinite(o[1]));
    CHECK_THROWS_WITH(chol(0.0, Eigen::Vector2d(0.2, 0.3), nde::params_view<double>(th), o),
                      Catch::Contains("not positive definite"));
  }
  SECTION("non-finite input") {
    nde::lagrangian_field<net_type, Eigen::Vector4d> field(net);
    const Eigen::Vector4d bad(0.1, std::numeric_limits<double>::quiet_NaN(), 0.3, 0.4);
    try {
      field(0.0, bad, nde::params_view<double>(theta), out);
      FAIL("a NaN state was accepted");
    } catch (const nde::error& e) {
      CHECK(e.code() == nde::status::non_finite);
    }
  }
  SECTION("odd sizes and output width") {
    using odd = nde::nn::mlp<nde::nn::tanh_activation, 3, 8, 1>;
    CHECK_THROWS_WITH((nde::lagrangian_field<odd, Eigen::VectorXd>(odd{})), Catch::Contains("odd"));
    using wide = nde::nn::mlp<nde::nn::tanh_activation, 4, 8, 2>;
    CHECK_THROWS_WITH((nde::lagrangian_field<wide, Eigen::VectorXd>(wide{})),
                      Catch::Contains("one output"));
    nde::lagrangian_field<net_type, Eigen::VectorXd> field(net);
    Eigen::VectorXd y5 = Eigen::VectorXd::Zero(5), o5;
    CHECK_THROWS_WITH(field(0.0, y5, nde::params_view<double>(theta), o5),
                      Catch::Contains("5 rows"));
    CHECK_THROWS_WITH((nde::lagrangian_field<net_type, Eigen::VectorXd>(net, {.min_rcond = -1})),
                      Catch::Contains("min_rcond"));
  }
}
