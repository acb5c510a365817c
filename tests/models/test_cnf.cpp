// Continuous normalising flows: the forward-over-reverse pass against finite differences, the
// exact and Hutchinson divergences against the Jacobian, Hutchinson's mean and variance against
// theory, a linear flow's exact log-density, and the NLL gradient of every applicable gradient
// method against central differences.
#include <nde/models/cnf.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/tsit5.hpp>

#include <catch.hpp>
#include <unsupported/Eigen/MatrixFunctions>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
namespace nn = nde::nn;

// A small FFJORD-style network with every supported layer kind and three activations.
using mixed_net = nn::sequential<nn::concat_squash_linear<>, nn::tanh_activation,
                                 nn::concat_linear<>, nn::softplus_activation, nn::linear<>,
                                 nn::sigmoid_activation, nn::concat_squash_linear<>>;

mixed_net make_mixed(Eigen::Index d) {
  return mixed_net(nn::concat_squash_linear<>(d, 7), nn::tanh_activation{},
                   nn::concat_linear<>(7, 6), nn::softplus_activation{}, nn::linear<>(6, 5),
                   nn::sigmoid_activation{}, nn::concat_squash_linear<>(5, d));
}

using ffjord_net =
    nn::sequential<nn::concat_squash_linear<>, nn::tanh_activation, nn::concat_squash_linear<>,
                   nn::tanh_activation, nn::concat_squash_linear<>>;

ffjord_net make_ffjord(Eigen::Index d, Eigen::Index h) {
  return ffjord_net(nn::concat_squash_linear<>(d, h), nn::tanh_activation{},
                    nn::concat_squash_linear<>(h, h), nn::tanh_activation{},
                    nn::concat_squash_linear<>(h, d));
}

MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937_64& rng, double scale = 1.0) {
  MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = scale * nn::standard_normal(rng);
  return m;
}

double max_abs(const MatrixXd& m) { return m.cwiseAbs().maxCoeff(); }

// The network's own vjp (first order): dx = Jᵀ w, dθ = ∂(w·f)/∂θ, dt = ∂(w·f)/∂t.
template <class Net>
void network_vjp(const Net& net, const VectorXd& theta, double t, const MatrixXd& x,
                 const MatrixXd& w, MatrixXd& dx, VectorXd& dtheta, double& dt) {
  auto ws = net.template make_workspace<double>(x.cols());
  dx.resize(x.rows(), x.cols());
  dtheta.setZero(net.num_params());
  dt = 0;
  net.vjp(theta, t, x, w, dx, dtheta, dt, ws);
}

template <class Net>
MatrixXd network_value(const Net& net, const VectorXd& theta, double t, const MatrixXd& x) {
  auto ws = net.template make_workspace<double>(x.cols());
  MatrixXd y(net.out_size(), x.cols());
  net.forward(theta, t, x, y, ws);
  return y;
}

// The vjp of a field (a_y, a_θ and a_t) against central differences of φ = Σ a ⊙ F(t, y; θ).
template <class Field>
void check_vjp_by_differences(Field& field, double t, const MatrixXd& y, const VectorXd& theta,
                              const MatrixXd& a) {
  const double h = 1e-6;
  MatrixXd a_y;
  VectorXd a_theta = VectorXd::Zero(theta.size());
  double a_t = 0;
  field.vjp(t, y, theta, a, a_y, a_theta, a_t);
  auto phi = [&](const MatrixXd& yy, const VectorXd& th, double tt) {
    MatrixXd out;
    field(tt, yy, th, out);
    return (a.array() * out.array()).sum();
  };
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    MatrixXd yp = y, ym = y;
    yp.data()[i] += h;
    ym.data()[i] -= h;
    CHECK(std::abs(a_y.data()[i] - (phi(yp, theta, t) - phi(ym, theta, t)) / (2 * h)) < 1e-7);
  }
  for (Eigen::Index i = 0; i < theta.size(); ++i) {
    VectorXd tp = theta, tm = theta;
    tp[i] += h;
    tm[i] -= h;
    CHECK(std::abs(a_theta[i] - (phi(y, tp, t) - phi(y, tm, t)) / (2 * h)) < 1e-7);
  }
  CHECK(std::abs(a_t - (phi(y, theta, t + h) - phi(y, theta, t - h)) / (2 * h)) < 1e-7);
}

}  // namespace

TEST_CASE("jacobian_pass: values, J V and the forward-over-reverse pass match differences") {
  std::mt19937_64 rng(11);
  const Eigen::Index d = 3, n = 4;
  const auto net = make_mixed(d);
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  theta *= 2.0;  // larger weights: stronger curvature
  const double t = 0.37;
  const MatrixXd x = random_matrix(d, n, rng), v = random_matrix(d, n, rng);
  const MatrixXd w = random_matrix(d, n, rng), wdot = random_matrix(d, n, rng);

  nn::jacobian_pass<mixed_net> pass(net);
  pass.forward(theta, t, x, v);
  CHECK(max_abs(pass.value() - network_value(net, theta, t, x)) < 1e-14);

  const double h = 1e-5;
  const MatrixXd jv_fd =
      (network_value(net, theta, t, x + h * v) - network_value(net, theta, t, x - h * v)) / (2 * h);
  CHECK(max_abs(pass.tangent() - jv_fd) < 1e-8);

  MatrixXd rdot;
  VectorXd theta_dot = VectorXd::Zero(net.num_params());
  double t_dot = 0;
  pass.reverse(theta, t, w, wdot, rdot, theta_dot, t_dot);

  // Reference: d/ds of the first-order vjp at x + s v, plus the vjp of ẇ.
  MatrixXd dxp, dxm, dx0;
  VectorXd gp, gm, g0;
  double tp = 0, tm = 0, t0 = 0;
  network_vjp(net, theta, t, x + h * v, w, dxp, gp, tp);
  network_vjp(net, theta, t, x - h * v, w, dxm, gm, tm);
  network_vjp(net, theta, t, x, wdot, dx0, g0, t0);
  const MatrixXd rdot_ref = (dxp - dxm) / (2 * h) + dx0;
  const VectorXd theta_ref = (gp - gm) / (2 * h) + g0;
  const double t_ref = (tp - tm) / (2 * h) + t0;
  CHECK(max_abs(rdot - rdot_ref) < 1e-7 * (1 + max_abs(rdot_ref)));
  CHECK(max_abs(theta_dot - theta_ref) < 1e-7 * (1 + max_abs(theta_ref)));
  CHECK(std::abs(t_dot - t_ref) < 1e-7 * (1 + std::abs(t_ref)));
  // The primal cotangent is the first-order vjp.
  MatrixXd dxw;
  VectorXd gw;
  double tw = 0;
  network_vjp(net, theta, t, x, w, dxw, gw, tw);
  CHECK(max_abs(pass.input_cotangent() - dxw) < 1e-13);
}

TEST_CASE("cnf_field: the exact divergence is the trace of the Jacobian, Hutchinson is J v") {
  std::mt19937_64 rng(3);
  const Eigen::Index d = 3, b = 2;
  const auto net = make_mixed(d);
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  const double t = 0.2;
  MatrixXd y = MatrixXd::Zero(d + 3, b);
  y.topRows(d) = random_matrix(d, b, rng);

  nde::cnf_field<mixed_net> exact(net, {}, {.regularised = true});
  MatrixXd dy;
  exact(t, y, theta, dy);
  REQUIRE(dy.rows() == d + 3);
  const double h = 1e-6;
  for (Eigen::Index s = 0; s < b; ++s) {
    MatrixXd jac(d, d);
    for (Eigen::Index i = 0; i < d; ++i) {
      MatrixXd xp = y.topRows(d).col(s), xm = xp;
      xp(i, 0) += h;
      xm(i, 0) -= h;
      jac.col(i) = (network_value(net, theta, t, xp) - network_value(net, theta, t, xm)) / (2 * h);
    }
    const VectorXd f = network_value(net, theta, t, y.topRows(d).col(s));
    CHECK(max_abs(dy.col(s).head(d) - f) < 1e-14);
    CHECK(std::abs(dy(d, s) + jac.trace()) < 1e-8);
    CHECK(std::abs(dy(d + 1, s) - f.squaredNorm()) < 1e-13);
    CHECK(std::abs(dy(d + 2, s) - jac.squaredNorm()) < 1e-7);
  }

  nde::cnf_field<mixed_net, nde::hutchinson_trace> hutch(net, {.probes = 2}, {.regularised = true});
  const MatrixXd probe = random_matrix(d, 2 * b, rng);
  hutch.set_probe(probe);
  MatrixXd dh;
  hutch(t, y, theta, dh);
  for (Eigen::Index s = 0; s < b; ++s) {
    double est = 0, frob = 0;
    for (Eigen::Index k = 0; k < 2; ++k) {
      const VectorXd e = probe.col(2 * s + k);
      const MatrixXd x = y.topRows(d).col(s);
      const VectorXd jv =
          (network_value(net, theta, t, x + h * e) - network_value(net, theta, t, x - h * e)) /
          (2 * h);
      est += e.dot(jv) / 2;
      frob += jv.squaredNorm() / 2;
    }
    CHECK(std::abs(dh(d, s) + est) < 1e-8);
    CHECK(std::abs(dh(d + 2, s) - frob) < 1e-7);
  }
}

TEST_CASE("cnf_field: the vjp of every channel matches central differences in y, theta and t") {
  std::mt19937_64 rng(5);
  const Eigen::Index d = 2, b = 3;
  const auto net = make_mixed(d);
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  theta *= 1.5;
  const double t = 0.6;
  MatrixXd y = random_matrix(d + 3, b, rng);
  MatrixXd a = random_matrix(d + 3, b, rng);

  auto check = [&](auto& field) {
    check_vjp_by_differences(field, t, y, theta, a);
    MatrixXd a_y;
    VectorXd a_theta = VectorXd::Zero(theta.size());
    field.vjp(t, y, theta, a, a_y, a_theta);
    // value_and_vjp gives the same numbers.
    MatrixXd v1, v2, a_y2;
    VectorXd a_theta2 = VectorXd::Zero(theta.size());
    field(t, y, theta, v1);
    field.value_and_vjp(t, y, theta, a, v2, a_y2, a_theta2);
    CHECK(max_abs(v1 - v2) == 0.0);
    CHECK(max_abs(a_y2 - a_y) < 1e-15);
    CHECK((a_theta2 - a_theta).cwiseAbs().maxCoeff() < 1e-15);
  };
  SECTION("exact trace, regularised") {
    nde::cnf_field<mixed_net> field(net, {}, {.regularised = true});
    check(field);
  }
  SECTION("Hutchinson, Gaussian probes, two per sample, regularised") {
    nde::cnf_field<mixed_net, nde::hutchinson_trace> field(
        net, {.distribution = nde::probe_distribution::gaussian, .probes = 2},
        {.regularised = true});
    field.draw_probe(b, rng);
    check(field);
  }
  SECTION("Hutchinson, Rademacher, unregularised") {
    y.conservativeResize(d + 1, b);
    a.conservativeResize(d + 1, b);
    nde::cnf_field<mixed_net, nde::hutchinson_trace> field(net);
    field.draw_probe(b, rng);
    check(field);
  }
}

TEST_CASE("cnf_field with the time as the last network input: divergence and vjp") {
  using time_net = nn::sequential<nn::linear<>, nn::tanh_activation, nn::linear<>,
                                  nn::softplus_activation, nn::linear<>>;
  std::mt19937_64 rng(21);
  const Eigen::Index d = 2, b = 2;
  const time_net net(nn::linear<>(d + 1, 7), nn::tanh_activation{}, nn::linear<>(7, 5),
                     nn::softplus_activation{}, nn::linear<>(5, d));
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  theta *= 1.5;
  const double t = 0.3, h = 1e-6;
  const MatrixXd y = random_matrix(d + 3, b, rng), a = random_matrix(d + 3, b, rng);
  nde::cnf_field<time_net> field(net, {}, {.regularised = true, .time_input = true});
  REQUIRE(field.dimension() == d);
  REQUIRE(field.state_rows() == d + 3);
  auto with_time = [&](const MatrixXd& z, double tt) {
    MatrixXd in(d + 1, z.cols());
    in.topRows(d) = z;
    in.row(d).setConstant(tt);
    return network_value(net, theta, 0.0, in);
  };
  MatrixXd dy;
  field(t, y, theta, dy);
  for (Eigen::Index s = 0; s < b; ++s) {
    double trace = 0;
    for (Eigen::Index i = 0; i < d; ++i) {
      MatrixXd zp = y.topRows(d).col(s), zm = zp;
      zp(i, 0) += h;
      zm(i, 0) -= h;
      trace += (with_time(zp, t) - with_time(zm, t))(i, 0) / (2 * h);
    }
    CHECK(max_abs(dy.col(s).head(d) - with_time(y.topRows(d).col(s), t)) < 1e-14);
    CHECK(std::abs(dy(d, s) + trace) < 1e-8);
  }
  check_vjp_by_differences(field, t, y, theta, a);
  REQUIRE_THROWS_WITH(nde::cnf_field<time_net>(net), Catch::Contains("D → D"));
}

// Hutchinson on a fixed matrix A (the field f = A z): the estimate εᵀAε = εᵀSε has mean tr A and
// variance 2‖S‖²_F (Gaussian) or 2Σ_{i≠j} S_ij² (Rademacher), S = (A + Aᵀ)/2. M draws: the mean
// is checked within 4 standard errors (two-sided, p ≈ 6e-5), the variance within 4 standard
// errors of the sample variance (estimated from the sample's fourth central moment).
TEST_CASE("Hutchinson estimator: unbiased, with the variance theory predicts") {
  using lin_net = nn::sequential<nn::linear<>>;
  std::mt19937_64 rng(2024);
  const Eigen::Index d = 5, m = 40000;
  const lin_net net{nn::linear<>(d, d)};
  const MatrixXd A = random_matrix(d, d, rng);
  VectorXd theta = VectorXd::Zero(net.num_params());
  theta.head(d * d) = Eigen::Map<const VectorXd>(A.data(), d * d);
  const MatrixXd S = (A + A.transpose()) / 2;
  const double frob = S.squaredNorm();
  const double off_diagonal = frob - S.diagonal().squaredNorm();
  MatrixXd y = MatrixXd::Zero(d + 1, m);
  y.topRows(d) = random_matrix(d, m, rng);  // the estimate of a linear field ignores z

  for (auto dist : {nde::probe_distribution::gaussian, nde::probe_distribution::rademacher}) {
    nde::cnf_field<lin_net, nde::hutchinson_trace> field(net, {.distribution = dist});
    field.draw_probe(m, rng);
    if (dist == nde::probe_distribution::rademacher)
      CHECK((field.probe().array().abs() == 1.0).all());
    MatrixXd dy;
    field(0.0, y, theta, dy);
    const VectorXd est = -dy.row(d).transpose();
    const double mean = est.mean();
    const VectorXd c = est.array() - mean;
    const double var = c.squaredNorm() / double(m - 1);
    const double m4 = c.array().pow(4).mean();
    const double expected_var =
        dist == nde::probe_distribution::gaussian ? 2 * frob : 2 * off_diagonal;
    INFO("distribution " << int(dist) << " mean " << mean << " trace " << A.trace() << " var "
                         << var << " theory " << expected_var);
    CHECK(std::abs(mean - A.trace()) < 4 * std::sqrt(expected_var / double(m)));
    CHECK(std::abs(var - expected_var) < 4 * std::sqrt((m4 - var * var) / double(m)));
  }
}

TEST_CASE("A linear flow has the exact log-density, by the exact trace and by Hutchinson") {
  using lin_net = nn::sequential<nn::linear<>>;
  std::mt19937_64 rng(8);
  const Eigen::Index d = 3, b = 4;
  const lin_net net{nn::linear<>(d, d)};
  MatrixXd A = random_matrix(d, d, rng, 0.5);
  VectorXd theta = VectorXd::Zero(net.num_params());  // zero bias
  theta.head(d * d) = Eigen::Map<const VectorXd>(A.data(), d * d);
  const double T = 0.8;
  const nde::cnf_options opts{.t1 = T, .rtol = 1e-11, .atol = 1e-12};
  const MatrixXd x = random_matrix(d, b, rng);
  const MatrixXd z = (A * T).exp() * x;
  VectorXd expected(b);
  for (Eigen::Index s = 0; s < b; ++s)
    expected[s] = -0.5 * double(d) * std::log(2 * std::numbers::pi) - 0.5 * z.col(s).squaredNorm() +
                  T * A.trace();  // log det e^{AT} = T tr A

  nde::cnf<lin_net, nde::exact_trace> flow(net, theta, {}, opts);
  const VectorXd logp = flow.log_density(x, rng);
  CHECK((logp - expected).cwiseAbs().maxCoeff() < 1e-8);
  // The sampling direction inverts the flow: z ↦ e^{−AT} z.
  CHECK(max_abs(flow.transform_from_base(z, rng) - x) < 1e-8);
  // to_base: the same map and ℓ(T) = −T tr A.
  const auto base = flow.to_base(x, rng);
  CHECK(max_abs(base.z - z) < 1e-8);
  CHECK((base.delta_logp.array() + T * A.trace()).abs().maxCoeff() < 1e-8);
  // Data at t0 = T, base at t1 = 0 (integrating backward): z = e^{−AT} x, log det = −T tr A.
  nde::cnf<lin_net, nde::exact_trace> backward(net, theta, {},
                                               {.t0 = T, .t1 = 0.0, .rtol = 1e-11, .atol = 1e-12});
  const auto back = backward.to_base(x, rng);
  CHECK(max_abs(back.z - (-A * T).exp() * x) < 1e-8);
  CHECK((back.delta_logp.array() - T * A.trace()).abs().maxCoeff() < 1e-8);

  // Hutchinson: ℓ(T) = −T εᵀAε exactly for one probe; over many probes its mean is −T tr A.
  // (dℓ/dt = −εᵀAε is constant, so ℓ is exact at any tolerance; z needs only a loose one.)
  nde::cnf<lin_net, nde::hutchinson_trace> hflow(net, theta, {},
                                                 {.t1 = T, .rtol = 1e-7, .atol = 1e-9});
  const Eigen::Index many = 20000;
  MatrixXd xs(d, many);
  for (Eigen::Index s = 0; s < many; ++s) xs.col(s) = x.col(0);
  const VectorXd lp = hflow.log_density(xs, rng);
  const VectorXd trace_est = (lp.array() - lp.mean()).matrix();
  const double sd = std::sqrt(trace_est.squaredNorm() / double(many - 1));
  // 4 standard errors (p ≈ 6e-5).
  CHECK(std::abs(lp.mean() - expected[0]) < 4 * sd / std::sqrt(double(many)));
  CHECK(sd > 0.0);
}

TEST_CASE("The NLL gradient of every gradient method matches central differences") {
  std::mt19937_64 init(17);
  const Eigen::Index d = 2, b = 3;
  const auto net = make_ffjord(d, 6);
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, init);
  const MatrixXd x = random_matrix(d, b, init);
  const nde::cnf_options opts{
      .t1 = 0.5, .rtol = 1e-10, .atol = 1e-10, .kinetic_weight = 0.1, .jacobian_weight = 0.2};
  const nde::pid_controller tight{.rtol = 1e-11, .atol = 1e-11};

  // Directional central differences of the loss along four random directions (the probe is
  // the same in every solve: the same seed).
  std::vector<VectorXd> directions;
  for (int k = 0; k < 4; ++k) directions.push_back(random_matrix(theta.size(), 1, init));
  auto loss_at = [&](auto& flow, const VectorXd& th) {
    flow.params() = th;
    std::mt19937_64 r(99);
    return flow.loss_and_gradient(x, r).loss;
  };
  auto check = [&](auto flow, const char* name) {
    std::mt19937_64 r(99);  // the same probe as the differences use
    const auto l = flow.loss_and_gradient(x, r);
    REQUIRE(l.success());
    CHECK(l.kinetic > 0);
    CHECK(l.jacobian > 0);
    CHECK(std::abs(l.loss - (l.nll + 0.1 * l.kinetic + 0.2 * l.jacobian)) < 1e-12);
    const double h = 1e-5;
    for (const VectorXd& v : directions) {
      const double fd = (loss_at(flow, theta + h * v) - loss_at(flow, theta - h * v)) / (2 * h);
      const double ad = l.gradient.dot(v);
      INFO(name << ": directional derivative " << ad << " vs central difference " << fd);
      CHECK(std::abs(ad - fd) < 2e-6 * l.gradient.norm() * v.norm());
    }
    flow.params() = theta;
  };
  check(nde::cnf<ffjord_net, nde::exact_trace, nde::dopri5, nde::discrete_adjoint>(net, theta, {},
                                                                                   opts),
        "discrete, exact");
  check(nde::cnf<ffjord_net, nde::hutchinson_trace, nde::dopri5, nde::discrete_adjoint>(net, theta,
                                                                                        {}, opts),
        "discrete, Hutchinson");
  check(nde::cnf<ffjord_net, nde::exact_trace, nde::dopri5, nde::backsolve_adjoint>(
            net, theta, {}, opts, {.controller = tight}),
        "backsolve, exact");
  check(nde::cnf<ffjord_net, nde::hutchinson_trace, nde::tsit5, nde::checkpointed_adjoint>(
            net, theta, {}, opts, {.controller = tight}),
        "checkpointed, Hutchinson");
}

TEST_CASE("CNF bad input gets clear errors") {
  std::mt19937_64 rng(1);
  const auto net = make_ffjord(2, 4);
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  nde::cnf<ffjord_net, nde::hutchinson_trace> flow(net, theta);
  MatrixXd x = random_matrix(2, 3, rng);
  x(1, 2) = std::nan("");
  REQUIRE_THROWS_WITH(flow.loss_and_gradient(x, rng), Catch::Contains("NaN"));
  REQUIRE_THROWS_WITH(flow.log_density(MatrixXd(2, 0), rng), Catch::Contains("empty"));
  REQUIRE_THROWS_WITH(flow.log_density(MatrixXd::Zero(3, 2), rng), Catch::Contains("rows"));
  REQUIRE_THROWS_WITH(flow.sample(0, rng), Catch::Contains("n must be"));
  REQUIRE_THROWS_WITH(flow.field().set_probe(MatrixXd::Ones(3, 2)), Catch::Contains("probe"));

  nde::cnf_field<ffjord_net, nde::hutchinson_trace> field(net);
  field.draw_probe(4, rng);
  MatrixXd y = MatrixXd::Zero(3, 2), dy;  // a batch of 2 with a probe drawn for 4
  REQUIRE_THROWS_WITH(field(0.0, y, theta, dy), Catch::Contains("draw_probe"));
  REQUIRE_THROWS_WITH(field(0.0, MatrixXd::Zero(4, 4), theta, dy), Catch::Contains("rows"));
  const ffjord_net not_square(nn::concat_squash_linear<>(2, 4), nn::tanh_activation{},
                              nn::concat_squash_linear<>(4, 4), nn::tanh_activation{},
                              nn::concat_squash_linear<>(4, 3));
  REQUIRE_THROWS_WITH(nde::cnf_field<ffjord_net>(not_square), Catch::Contains("D → D"));
  REQUIRE_THROWS_AS((nde::cnf_field<ffjord_net, nde::hutchinson_trace>(net, {.probes = 0})),
                    nde::error);
  REQUIRE_THROWS_AS((nde::cnf<ffjord_net>(net, theta, {}, {.kinetic_weight = -1.0})), nde::error);
  REQUIRE_THROWS_AS((nde::cnf<ffjord_net>(net, VectorXd::Zero(3))), nde::error);
  REQUIRE_THROWS_AS((nde::cnf<ffjord_net>(net, theta, {}, {.t1 = 0.0})), nde::error);
  REQUIRE_THROWS_AS((nde::cnf<ffjord_net>(net, theta, {}, {.t0 = std::nan("")})), nde::error);
}
