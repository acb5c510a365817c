// Conditional flow matching: the loss gradient against central differences, the conditional
// path's end points, target and noise variance, the exact-OT pairing against brute force and
// independent pairing, Sinkhorn's pairing cost near the exact one, a constant field that is the
// exact optimum of a translated coupling, a short training run, the CNF log-density of flows
// with closed forms (translation, linear scaling), and bad input.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>
#include <vector>

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
namespace nn = nde::nn;

using tanh_net = nn::sequential<nn::linear<>, nn::tanh_activation, nn::linear<>,
                                nn::tanh_activation, nn::linear<>>;

tanh_net make_net(Eigen::Index d, Eigen::Index h) {
  return tanh_net(nn::linear<>(d + 1, h), nn::tanh_activation{}, nn::linear<>(h, h),
                  nn::tanh_activation{}, nn::linear<>(h, d));
}

VectorXd init(const tanh_net& net, std::mt19937_64& rng) {
  VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  return theta;
}

// θ of `make_net` with every weight zero and the last bias c: v_θ(t, x) = c.
VectorXd constant_field(const tanh_net& net, const VectorXd& c) {
  VectorXd theta = VectorXd::Zero(net.num_params());
  theta.tail(c.size()) = c;
  return theta;
}

MatrixXd normal(Eigen::Index d, Eigen::Index n, std::mt19937_64& rng) {
  MatrixXd x(d, n);
  for (Eigen::Index j = 0; j < x.size(); ++j) x.data()[j] = nn::standard_normal(rng);
  return x;
}

double pairing_cost(const MatrixXd& x0, const MatrixXd& x1, const std::vector<Eigen::Index>& p) {
  double total = 0;
  for (Eigen::Index i = 0; i < x0.cols(); ++i)
    total += (x0.col(i) - x1.col(p[std::size_t(i)])).squaredNorm();
  return total;
}

}  // namespace

TEST_CASE("flow matching loss gradient matches central differences", "[flow_matching]") {
  std::mt19937_64 rng(1);
  const auto net = make_net(2, 6);
  const VectorXd theta = init(net, rng);
  const MatrixXd x0 = normal(2, 9, rng);
  const MatrixXd x1 = nde::datasets::two_moons(9, rng);
  for (const auto pairing :
       {nde::fm_pairing::independent, nde::fm_pairing::exact_ot, nde::fm_pairing::sinkhorn}) {
    nde::flow_matching fm(net, theta, {.sigma = 0.2, .pairing = pairing});
    // The same seed for every evaluation: the same pairing, t and ε.
    auto loss_at = [&](const VectorXd& th) {
      fm.params() = th;
      std::mt19937_64 r(77);
      return fm.loss_and_gradient(x0, x1, r);
    };
    const auto l = loss_at(theta);
    REQUIRE(l.gradient.size() == theta.size());
    REQUIRE(l.loss > 0);
    double worst = 0;
    const double h = 1e-6;
    for (Eigen::Index k = 0; k < theta.size(); ++k) {
      VectorXd plus = theta, minus = theta;
      plus[k] += h;
      minus[k] -= h;
      const double fd = (loss_at(plus).loss - loss_at(minus).loss) / (2 * h);
      worst = std::max(worst, std::abs(fd - l.gradient[k]) / (1.0 + std::abs(fd)));
    }
    INFO("pairing " << int(pairing) << " worst relative error " << worst);
    CHECK(worst < 1e-7);
  }
}

TEST_CASE("conditional path end points target and noise", "[flow_matching]") {
  std::mt19937_64 rng(2);
  const auto net = make_net(3, 4);
  const VectorXd theta = init(net, rng);
  const MatrixXd x0 = normal(3, 5, rng), x1 = normal(3, 5, rng);
  const MatrixXd zero = MatrixXd::Zero(3, 5);
  {
    const nde::flow_matching fm(net, theta, {.sigma = 0.0});
    const auto p0 = fm.conditional_path(x0, x1, VectorXd::Zero(5), zero);
    const auto p1 = fm.conditional_path(x0, x1, VectorXd::Ones(5), zero);
    CHECK((p0.xt - x0).cwiseAbs().maxCoeff() == 0.0);
    CHECK((p1.xt - x1).cwiseAbs().maxCoeff() == 0.0);
    CHECK((p0.ut - (x1 - x0)).cwiseAbs().maxCoeff() == 0.0);
    // Random t: x_t − x0 = t (x1 − x0) and t in [0, 1).
    const auto pr = fm.conditional_path(x0, x1, rng);
    CHECK((pr.t.array() >= 0.0).all());
    CHECK((pr.t.array() < 1.0).all());
    const MatrixXd expected = x0 + (x1 - x0) * pr.t.asDiagonal();
    CHECK((pr.xt - expected).cwiseAbs().maxCoeff() < 1e-14);
    CHECK((pr.ut - (x1 - x0)).cwiseAbs().maxCoeff() == 0.0);
  }
  {
    // σ > 0 with x0 = x1 = 0: x_t = σ ε, so the element variance is σ². 30,000 elements:
    // the sample variance has standard deviation σ²·√(2/30000) = 0.00073 at σ = 0.3; the
    // tolerance 0.004 is 5.5 standard deviations (two-sided p < 1e-7).
    const nde::flow_matching fm(net, theta, {.sigma = 0.3});
    const MatrixXd z = MatrixXd::Zero(3, 10000);
    const auto p = fm.conditional_path(z, z, rng);
    const double mean = p.xt.mean();
    const double var = (p.xt.array() - mean).square().mean();
    INFO("variance " << var);
    CHECK(std::abs(var - 0.09) < 0.004);
    CHECK(std::abs(mean) < 0.3 * 5.5 / std::sqrt(30000.0));
    CHECK(p.ut.cwiseAbs().maxCoeff() == 0.0);
  }
}

TEST_CASE("exact OT pairing minimises the total squared distance", "[flow_matching]") {
  std::mt19937_64 rng(3);
  const auto net = make_net(2, 4);
  const VectorXd theta = init(net, rng);
  const nde::flow_matching ot(net, theta, {.pairing = nde::fm_pairing::exact_ot});
  const nde::flow_matching ind(net, theta, {.pairing = nde::fm_pairing::independent});
  for (int trial = 0; trial < 5; ++trial) {
    const MatrixXd x0 = normal(2, 6, rng);
    const MatrixXd x1 = nde::datasets::eight_gaussians(6, rng);
    const auto p = ot.pair(x0, x1, rng);
    std::vector<Eigen::Index> perm(6);
    std::iota(perm.begin(), perm.end(), Eigen::Index(0));
    double best = std::numeric_limits<double>::infinity();
    do {
      best = std::min(best, pairing_cost(x0, x1, perm));
    } while (std::next_permutation(perm.begin(), perm.end()));
    std::vector<Eigen::Index> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == std::vector<Eigen::Index>{0, 1, 2, 3, 4, 5});
    CHECK(pairing_cost(x0, x1, p) == Catch::Approx(best).epsilon(1e-12));
  }
  for (int trial = 0; trial < 20; ++trial) {
    const MatrixXd x0 = normal(2, 40, rng);
    const MatrixXd x1 = nde::datasets::two_moons(40, rng);
    const auto identity = ind.pair(x0, x1, rng);
    for (Eigen::Index i = 0; i < 40; ++i) REQUIRE(identity[std::size_t(i)] == i);
    CHECK(pairing_cost(x0, x1, ot.pair(x0, x1, rng)) <= pairing_cost(x0, x1, identity) + 1e-12);
  }
}

TEST_CASE("sinkhorn pairing at small epsilon costs about the exact OT", "[flow_matching]") {
  std::mt19937_64 rng(4);
  const auto net = make_net(2, 4);
  const VectorXd theta = init(net, rng);
  const nde::flow_matching ot(net, theta, {.pairing = nde::fm_pairing::exact_ot});
  const nde::flow_matching sk(net, theta,
                              {.pairing = nde::fm_pairing::sinkhorn, .sinkhorn_epsilon = 0.005});
  double exact = 0, entropic = 0, independent = 0;
  for (int trial = 0; trial < 10; ++trial) {
    const MatrixXd x0 = normal(2, 32, rng);
    const MatrixXd x1 = nde::datasets::eight_gaussians(32, rng);
    exact += pairing_cost(x0, x1, ot.pair(x0, x1, rng));
    entropic += pairing_cost(x0, x1, sk.pair(x0, x1, rng));
    std::vector<Eigen::Index> id(32);
    std::iota(id.begin(), id.end(), Eigen::Index(0));
    independent += pairing_cost(x0, x1, id);
  }
  INFO("exact " << exact << " sinkhorn " << entropic << " independent " << independent);
  CHECK(std::abs(entropic - exact) < 0.05 * exact);
  CHECK(entropic < 0.5 * independent);
}

TEST_CASE("a constant field is the exact optimum of a translated coupling", "[flow_matching]") {
  // x1 = x0 + c: every conditional target is c, so v = c has loss 0 and gradient 0 under any
  // σ (the noise moves x_t, not u_t), and exact OT pairs each point with its own translate
  // (Σ‖x0_i − x0_π(i) − c‖² = Σ‖x0_i − x0_π(i)‖² + B‖c‖², smallest for π = id).
  std::mt19937_64 rng(5);
  const auto net = make_net(2, 5);
  const VectorXd c = (VectorXd(2) << 1.5, -0.75).finished();
  const MatrixXd x0 = normal(2, 50, rng);
  const MatrixXd x1 = x0.colwise() + c;
  for (const double sigma : {0.0, 0.5}) {
    for (const auto pairing : {nde::fm_pairing::independent, nde::fm_pairing::exact_ot}) {
      nde::flow_matching fm(net, constant_field(net, c), {.sigma = sigma, .pairing = pairing});
      const auto p = fm.pair(x0, x1, rng);
      for (Eigen::Index i = 0; i < 50; ++i) CHECK(p[std::size_t(i)] == i);
      const auto l = fm.loss_and_gradient(x0, x1, rng);
      CHECK(l.loss < 1e-28);
      CHECK(l.gradient.cwiseAbs().maxCoeff() < 1e-14);
      // A different constant d has loss exactly ‖c − d‖².
      const VectorXd d = (VectorXd(2) << 0.5, 0.25).finished();
      fm.params() = constant_field(net, d);
      CHECK(fm.loss_and_gradient(x0, x1, rng).loss == Catch::Approx((c - d).squaredNorm()));
    }
  }
  // One Euler step and dopri5 of v = c both translate by c.
  nde::flow_matching fm(net, constant_field(net, c));
  const auto e = fm.sample(x0, {.method = nde::fm_sampler::euler_steps, .steps = 1});
  CHECK(e.nfe == 1);
  CHECK((e.x - x1).cwiseAbs().maxCoeff() < 1e-14);
  const auto a = fm.sample(x0, {.method = nde::fm_sampler::adaptive});
  CHECK((a.x - x1).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((fm.velocity(0.3, x0).colwise() - c).cwiseAbs().maxCoeff() < 1e-15);
}

TEST_CASE("training moves N(0 I) to a shifted gaussian", "[flow_matching]") {
  // OT-CFM from N(0, I) to N(μ, I) in 2-D: the OT map is the translation, the field tends to
  // v = μ. 400 Adam steps on batches of 64.
  std::mt19937_64 rng(6);
  const auto net = make_net(2, 16);
  const VectorXd mu = (VectorXd(2) << 2.0, -1.0).finished();
  nde::flow_matching fm(net, init(net, rng), {.sigma = 0.0, .pairing = nde::fm_pairing::exact_ot});
  nde::optim::adam<double> adam(fm.params().size(), {.learning_rate = 1e-2});
  // The loss on one fixed evaluation batch (same seed: same pairing, t) before and after.
  const MatrixXd e0 = normal(2, 256, rng);
  const MatrixXd e1 = normal(2, 256, rng).colwise() + mu;
  auto eval_loss = [&]() {
    std::mt19937_64 r(99);
    return fm.loss_and_gradient(e0, e1, r).loss;
  };
  const double before = eval_loss();
  for (int it = 0; it < 400; ++it) {
    const MatrixXd x0 = normal(2, 64, rng);
    const MatrixXd x1 = normal(2, 64, rng).colwise() + mu;
    adam.step(fm.params(), fm.loss_and_gradient(x0, x1, rng).gradient);
  }
  const double after = eval_loss();
  INFO("evaluation loss before " << before << " after " << after);
  CHECK(after < 0.2 * before);
  // 2,000 test points: the sample mean's standard error is 1/√2000 = 0.022 per coordinate; the
  // tolerance 0.15 allows that (6.7 standard errors) plus the fit's bias.
  const MatrixXd z = normal(2, 2000, rng);
  const auto s = fm.sample(z, {.method = nde::fm_sampler::euler_steps, .steps = 1});
  const VectorXd mean = s.x.rowwise().mean();
  INFO("one-step mean " << mean.transpose());
  CHECK((mean - mu).cwiseAbs().maxCoeff() < 0.15);
  const MatrixXd centred = s.x.colwise() - mean;
  const MatrixXd cov = centred * centred.transpose() / 1999.0;
  INFO("one-step covariance " << cov);
  CHECK((cov - MatrixXd::Identity(2, 2)).cwiseAbs().maxCoeff() < 0.3);
}

TEST_CASE("CNF log density of flows with closed forms", "[flow_matching]") {
  std::mt19937_64 rng(7);
  const MatrixXd x = normal(2, 30, rng) * 1.3;
  {
    // v = c: the flow is a translation, log-det 0: log q1(x) = log N(x − c).
    const auto net = make_net(2, 5);
    const VectorXd c = (VectorXd(2) << -0.4, 0.9).finished();
    const nde::flow_matching fm(net, constant_field(net, c));
    const VectorXd logq = fm.log_density(x, nde::standard_normal_log_density, rng);
    const VectorXd expected = nde::standard_normal_log_density(x.colwise() - c);
    INFO("max error " << (logq - expected).cwiseAbs().maxCoeff());
    CHECK((logq - expected).cwiseAbs().maxCoeff() < 1e-8);
  }
  {
    // v = a x (one linear layer, the time weight 0): x(1) = e^a x(0), so
    // log q1(x) = log q0(e^{−a} x) − D a. A non-Gaussian source (8 gaussians) checks that the
    // user's log-density is applied at z.
    using lin_net = nn::sequential<nn::linear<>>;
    const lin_net net(nn::linear<>(3, 2));
    const double a = 0.35;
    VectorXd theta = VectorXd::Zero(net.num_params());  // weight {2, 3} column-major, bias 2
    theta[0] = a;
    theta[3] = a;
    const nde::flow_matching fm(net, theta);
    const VectorXd logq =
        fm.log_density(x, nde::datasets::eight_gaussians_log_density, rng, 1e-9, 1e-9);
    const VectorXd expected =
        nde::datasets::eight_gaussians_log_density(x * std::exp(-a)).array() - 2.0 * a;
    INFO("max error " << (logq - expected).cwiseAbs().maxCoeff());
    CHECK((logq - expected).cwiseAbs().maxCoeff() < 1e-6);
    // Sampling the same flow: Euler gives (1 + a) x, dopri5 e^a x.
    nde::flow_matching fm2(net, theta);
    CHECK((fm2.sample(x, {.method = nde::fm_sampler::euler_steps, .steps = 1}).x - (1 + a) * x)
              .cwiseAbs()
              .maxCoeff() < 1e-14);
    const auto s = fm2.sample(
        x, {.method = nde::fm_sampler::adaptive, .rtol = 1e-9, .atol = 1e-9, .save_times = {0.5}});
    CHECK((s.x - std::exp(a) * x).cwiseAbs().maxCoeff() < 1e-7);
    REQUIRE(s.trajectory.size() == 2);
    CHECK(s.ts.front() == 0.5);
    CHECK((s.trajectory.front() - std::exp(0.5 * a) * x).cwiseAbs().maxCoeff() < 1e-7);
    CHECK(s.nfe > 6);
  }
}

TEST_CASE("flow matching rejects bad input", "[flow_matching]") {
  std::mt19937_64 rng(8);
  const auto net = make_net(2, 4);
  const VectorXd theta = init(net, rng);
  REQUIRE_THROWS_WITH(nde::flow_matching(net, theta, {.sigma = -0.1}), Catch::Contains("sigma"));
  REQUIRE_THROWS_WITH(
      nde::flow_matching(net, theta, {.sigma = std::numeric_limits<double>::quiet_NaN()}),
      Catch::Contains("sigma"));
  REQUIRE_THROWS_WITH(nde::flow_matching(net, theta, {.sinkhorn_epsilon = 0.0}),
                      Catch::Contains("zero or negative"));
  REQUIRE_THROWS_WITH(nde::flow_matching(net, theta, {.sinkhorn_epsilon = -1.0}),
                      Catch::Contains("zero or negative"));
  REQUIRE_THROWS_WITH(nde::flow_matching(net, VectorXd::Zero(3)), Catch::Contains("theta"));
  const tanh_net square(nn::linear<>(2, 4), nn::tanh_activation{}, nn::linear<>(4, 4),
                        nn::tanh_activation{}, nn::linear<>(4, 2));
  VectorXd th2 = VectorXd::Zero(square.num_params());
  REQUIRE_THROWS_WITH(nde::flow_matching(square, th2), Catch::Contains("D + 1 inputs"));

  nde::flow_matching fm(net, theta, {.pairing = nde::fm_pairing::exact_ot});
  const MatrixXd x0 = normal(2, 8, rng), x1 = normal(2, 8, rng);
  MatrixXd bad = x1;
  bad(1, 3) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(fm.loss_and_gradient(x0, bad, rng), Catch::Contains("NaN"));
  bad(1, 3) = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(fm.pair(bad, x0, rng), Catch::Contains("NaN or Inf"));
  REQUIRE_THROWS_WITH(fm.loss_and_gradient(MatrixXd(2, 0), MatrixXd(2, 0), rng),
                      Catch::Contains("empty"));
  REQUIRE_THROWS_WITH(fm.loss_and_gradient(x0, normal(2, 7, rng), rng),
                      Catch::Contains("batch sizes differ"));
  REQUIRE_THROWS_WITH(fm.pair(x0, normal(2, 9, rng), rng), Catch::Contains("batch sizes differ"));
  REQUIRE_THROWS_WITH(fm.loss_and_gradient(x0, normal(3, 8, rng), rng), Catch::Contains("rows"));
  REQUIRE_THROWS_WITH(fm.velocity(0.5, normal(3, 8, rng)), Catch::Contains("rows"));
  REQUIRE_THROWS_WITH(fm.velocity(std::numeric_limits<double>::quiet_NaN(), x0),
                      Catch::Contains("t is not finite"));
  REQUIRE_THROWS_WITH(fm.sample(x0, {.method = nde::fm_sampler::euler_steps, .steps = 0}),
                      Catch::Contains("steps"));
  REQUIRE_THROWS_WITH(fm.sample(x0, {.rtol = 0.0}), Catch::Contains("rtol"));
  REQUIRE_THROWS_WITH(fm.sample(x0, {.save_times = {1.5}}), Catch::Contains("save_times"));
  REQUIRE_THROWS_WITH(fm.sample(MatrixXd(2, 0)), Catch::Contains("empty"));
  REQUIRE_THROWS_WITH(fm.log_density(normal(3, 4, rng), nde::standard_normal_log_density, rng),
                      Catch::Contains("rows"));
  REQUIRE_THROWS_WITH(fm.log_density(
                          x0, [](const MatrixXd&) { return VectorXd::Zero(1).eval(); }, rng),
                      Catch::Contains("log_source"));
  REQUIRE_THROWS_WITH(fm.conditional_path(x0, x1, VectorXd::Constant(8, 1.5), MatrixXd::Zero(2, 8)),
                      Catch::Contains("[0, 1]"));
}
