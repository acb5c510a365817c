// ODE-RNN, GRU-Δt and latent ODE (Rubanova et al. 2019): gradients against central differences
// (constant-step RK4, so the solves are smooth in θ) and between gradient methods; the
// recurrences against hand-written loops; causality (a prediction never sees observations at
// or after its time); the ELBO's parts in closed form; bad input.
#include <nde/adjoint/methods.hpp>
#include <nde/models/latent_ode.hpp>
#include <nde/models/ode_rnn.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/gru.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/rk4.hpp>

#include <catch.hpp>
#include <sanitized.hpp>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

namespace {

namespace nn = nde::nn;
using net_type = nn::sequential<nn::linear<>, nn::tanh_activation, nn::linear<>>;

net_type make_net(Eigen::Index n, Eigen::Index width) {
  return net_type(nn::linear<>(n, width), nn::tanh_activation{}, nn::linear<>(width, n));
}

Eigen::VectorXd random_vector(Eigen::Index n, unsigned seed, double scale = 0.5) {
  std::mt19937_64 e(seed);
  std::normal_distribution<double> d(0.0, scale);
  Eigen::VectorXd v(n);
  for (Eigen::Index i = 0; i < n; ++i) v[i] = d(e);
  return v;
}

// Two channels at irregular times, the second channel missing at one time.
nde::irregular_sample make_sample() {
  nde::irregular_sample s;
  s.t = {0.1, 0.35, 0.5, 0.9, 1.3};
  s.x.resize(2, 5);
  s.x << 0.3, -0.2, 0.5, 0.1, -0.4,  //
      0.7, 0.2, std::numeric_limits<double>::quiet_NaN(), -0.3, 0.6;
  s.mask = Eigen::MatrixXd::Ones(2, 5);
  s.mask(1, 2) = 0;
  return s;
}

const std::vector<double> queries{0.0, 0.35, 0.6, 0.9, 1.1, 1.6, 2.0};

// A fixed quadratic loss of the predictions: Σ w ⊙ (p − c)² / 2.
struct quadratic_loss {
  Eigen::MatrixXd w, c;
  double operator()(const Eigen::MatrixXd& p, Eigen::MatrixXd& dp) const {
    dp = (w.array() * (p - c).array()).matrix();
    return 0.5 * (w.array() * (p - c).array().square()).sum();
  }
};

quadratic_loss make_loss(Eigen::Index rows, Eigen::Index cols) {
  quadratic_loss l;
  l.w = (random_vector(rows * cols, 91).array().abs() + 0.5).matrix().reshaped(rows, cols);
  l.c = random_vector(rows * cols, 92).reshaped(rows, cols);
  return l;
}

// Every coordinate's central difference (every 7th under the sanitizers, ~100x slower there;
// the others are copied from `reference`, so they compare equal).
template <class F>
Eigen::VectorXd central_differences(F&& f, Eigen::VectorXd theta, const Eigen::VectorXd& reference,
                                    double h = 1e-6) {
  Eigen::VectorXd g = reference;
  for (Eigen::Index k = 0; k < theta.size(); k += nde_test::sanitized ? 7 : 1) {
    const double keep = theta[k];
    theta[k] = keep + h;
    const double up = f(theta);
    theta[k] = keep - h;
    const double down = f(theta);
    theta[k] = keep;
    g[k] = (up - down) / (2 * h);
  }
  return g;
}

double relative_error(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return (a - b).norm() / std::max(1e-300, b.norm());
}

}  // namespace

TEST_CASE("ode_rnn: gradient against central differences and between gradient methods",
          "[models][ode_rnn]") {
  const Eigen::Index H = 4, D = 2;
  using model_type = nde::ode_rnn<net_type, nde::rk4, nde::discrete_adjoint>;
  const auto n = model_type::parameter_count(make_net(H, 6), H, D);
  const Eigen::VectorXd theta = random_vector(n, 7);
  const nde::ode_rnn_options opts{.dt = 0.05};
  model_type model(make_net(H, 6), H, D, theta, opts);
  const auto s = make_sample();
  const auto loss = make_loss(D, Eigen::Index(queries.size()));
  const auto r = model.loss_and_gradient(s, queries, loss);
  REQUIRE(r.status == nde::status::success);
  const auto fd = central_differences(
      [&](const Eigen::VectorXd& th) {
        model_type m(make_net(H, 6), H, D, th, opts);
        Eigen::MatrixXd dp;
        return loss(m.predict(s, queries), dp);
      },
      theta, r.gradient);
  CHECK(relative_error(r.gradient, fd) < 1e-7);
  Eigen::MatrixXd dp;
  CHECK(r.loss == Catch::Approx(loss(model.predict(s, queries), dp)).epsilon(1e-14));

  // Every exact method of the discrete solve gives the same gradient.
  nde::ode_rnn<net_type, nde::rk4, nde::forward_sensitivity> fs(make_net(H, 6), H, D, theta, opts);
  const auto r2 = fs.loss_and_gradient(s, queries, loss);
  CHECK(relative_error(r2.gradient, r.gradient) < 1e-11);

  // Adaptive dopri5 at a tight tolerance: close to the differences too.
  const nde::ode_rnn_options tight{.rtol = 1e-10, .atol = 1e-12};
  nde::ode_rnn<net_type> adaptive(make_net(H, 6), H, D, theta, tight);
  const auto r3 = adaptive.loss_and_gradient(s, queries, loss);
  REQUIRE(r3.status == nde::status::success);
  CHECK(relative_error(r3.gradient, fd) < 1e-5);
}

TEST_CASE("ode_rnn: a zero field is a GRU over the observations; predictions are causal",
          "[models][ode_rnn]") {
  const Eigen::Index H = 3, D = 2;
  using model_type = nde::ode_rnn<net_type>;
  const auto net = make_net(H, 5);
  const auto n = model_type::parameter_count(net, H, D);
  Eigen::VectorXd theta = random_vector(n, 11);
  theta.head(net.num_params()).setZero();  // f(h) = 0: h constant between observations
  model_type model(net, H, D, theta);
  const auto s = make_sample();
  const Eigen::MatrixXd p = model.predict(s, queries);

  const nn::gru_cell cell(2 * D, H);
  const Eigen::VectorXd th_gru = theta.segment(net.num_params(), cell.num_params());
  const Eigen::Map<const Eigen::MatrixXd> w(theta.data() + net.num_params() + cell.num_params(), D,
                                            H);
  const Eigen::VectorXd c = theta.tail(D);
  for (std::size_t q = 0; q < queries.size(); ++q) {
    Eigen::MatrixXd h = Eigen::MatrixXd::Zero(H, 1), h_new, cache;
    for (std::size_t j = 0; j < s.t.size() && s.t[j] < queries[q]; ++j) {
      Eigen::MatrixXd in(2 * D, 1);
      for (Eigen::Index ch = 0; ch < D; ++ch) {
        in(ch, 0) = s.mask(ch, Eigen::Index(j)) == 1 ? s.x(ch, Eigen::Index(j)) : 0.0;
        in(D + ch, 0) = s.mask(ch, Eigen::Index(j));
      }
      cell.forward(th_gru, in, h, h_new, cache);
      h = h_new;
    }
    const Eigen::VectorXd expect = w * h + c;
    CHECK((p.col(Eigen::Index(q)) - expect).norm() < 1e-13);
  }

  // With a non-zero field, changing the observation at t = 0.9 leaves every prediction at
  // t ≤ 0.9 bit-identical and changes the later ones.
  theta = random_vector(n, 12);
  model_type m2(net, H, D, theta);
  const Eigen::MatrixXd before = m2.predict(s, queries);
  auto s2 = s;
  s2.x(0, 3) += 0.5;
  const Eigen::MatrixXd after = m2.predict(s2, queries);
  for (std::size_t q = 0; q < queries.size(); ++q) {
    if (queries[q] <= 0.9)
      CHECK((after.col(Eigen::Index(q)) - before.col(Eigen::Index(q))).norm() == 0.0);
    else
      CHECK((after.col(Eigen::Index(q)) - before.col(Eigen::Index(q))).norm() > 1e-6);
  }
  // A missing value is ignored whatever it holds.
  auto s3 = s;
  s3.x(1, 2) = 123.0;
  CHECK((m2.predict(s3, queries) - before).norm() == 0.0);
}

TEST_CASE("gru_forecaster: the recurrence by hand, gradient against central differences",
          "[models][gru]") {
  const Eigen::Index H = 3, D = 2;
  const auto n = nde::gru_forecaster::parameter_count(H, D);
  const Eigen::VectorXd theta = random_vector(n, 21);
  nde::gru_forecaster model(H, D, theta);
  const auto s = make_sample();
  const Eigen::MatrixXd p = model.predict(s, queries);

  // Merged events of the sample and the queries, by hand.
  const std::vector<double> ev{0.0, 0.1, 0.35, 0.5, 0.6, 0.9, 1.1, 1.3, 1.6, 2.0};
  const std::vector<int> obs{-1, 0, 1, 2, -1, 3, -1, 4, -1, -1};
  const nn::gru_cell cell(2 * D + 1, H);
  const Eigen::VectorXd th_gru = theta.head(cell.num_params());
  const Eigen::Map<const Eigen::MatrixXd> w(theta.data() + cell.num_params(), D, H);
  const Eigen::VectorXd c = theta.tail(D);
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(H, 1), h_new, cache;
  std::size_t q = 0;
  for (std::size_t j = 0; j < ev.size(); ++j) {
    if (q < queries.size() && queries[q] == ev[j]) {
      const Eigen::VectorXd expect = w * h + c;
      CHECK((p.col(Eigen::Index(q)) - expect).norm() < 1e-13);
      ++q;
    }
    if (j + 1 == ev.size()) break;
    Eigen::MatrixXd in = Eigen::MatrixXd::Zero(2 * D + 1, 1);
    if (obs[j] >= 0)
      for (Eigen::Index ch = 0; ch < D; ++ch) {
        in(ch, 0) = s.mask(ch, obs[j]) == 1 ? s.x(ch, obs[j]) : 0.0;
        in(D + ch, 0) = s.mask(ch, obs[j]);
      }
    in(2 * D, 0) = ev[j + 1] - ev[j];
    cell.forward(th_gru, in, h, h_new, cache);
    h = h_new;
  }
  CHECK(q == queries.size());

  const auto loss = make_loss(D, Eigen::Index(queries.size()));
  const auto r = model.loss_and_gradient(s, queries, loss);
  const auto fd = central_differences(
      [&](const Eigen::VectorXd& th) {
        nde::gru_forecaster m(H, D, th);
        Eigen::MatrixXd dp;
        return loss(m.predict(s, queries), dp);
      },
      theta, r.gradient);
  CHECK(relative_error(r.gradient, fd) < 1e-8);
}

TEST_CASE(
    "latent_ode: ELBO parts in closed form; reparameterisation gradient against central "
    "differences",
    "[models][latent_ode]") {
  const Eigen::Index H = 4, L = 3, D = 2;
  using model_type = nde::latent_ode<net_type, net_type, nde::rk4, nde::discrete_adjoint>;
  const auto n = model_type::parameter_count(make_net(H, 5), make_net(L, 6), H, L, D);
  const Eigen::VectorXd theta = random_vector(n, 31);
  const nde::ode_rnn_options opts{.dt = 0.05};
  model_type model(make_net(H, 5), make_net(L, 6), H, L, D, theta, opts);
  const auto s = make_sample();
  const std::vector<double> targets_t{0.0, 0.1, 0.5, 0.8, 1.3, 2.0};
  const auto q = Eigen::Index(targets_t.size());
  Eigen::MatrixXd targets = random_vector(D * q, 41).reshaped(D, q);
  Eigen::MatrixXd tmask = Eigen::MatrixXd::Ones(D, q);
  tmask(0, 2) = 0;
  targets(0, 2) = std::numeric_limits<double>::quiet_NaN();
  const Eigen::VectorXd eps = random_vector(L, 51, 1.0);
  const nde::latent_ode_elbo_options eo{.obs_std = 0.3, .beta = 0.7};
  const auto r = model.elbo_and_gradient(s, 0.0, targets_t, targets, tmask, eps, eo);
  REQUIRE(r.status == nde::status::success);

  // KL of a diagonal Gaussian against N(0, I), and the masked Gaussian likelihood of the
  // decoded values at z0 = μ + σ ε.
  const Eigen::ArrayXd var = r.log_variance.array().exp();
  const double kl = 0.5 * (var + r.mean.array().square() - 1 - r.log_variance.array()).sum();
  CHECK(r.kl == Catch::Approx(kl).epsilon(1e-14));
  const Eigen::VectorXd z0 = r.mean + (var.sqrt() * eps.array()).matrix();
  const Eigen::MatrixXd decoded = model.decode(z0, 0.0, targets_t);
  CHECK((decoded - r.prediction).norm() < 1e-13);
  double ll = 0;
  for (Eigen::Index j = 0; j < q; ++j)
    for (Eigen::Index c = 0; c < D; ++c)
      if (tmask(c, j) == 1)
        ll += -0.5 * std::log(2 * std::numbers::pi * 0.09) -
              0.5 * std::pow(targets(c, j) - decoded(c, j), 2) / 0.09;
  CHECK(r.log_likelihood == Catch::Approx(ll).epsilon(1e-13));
  CHECK(r.loss == Catch::Approx(-(ll - 0.7 * kl)).epsilon(1e-13));
  // The posterior mean is what `encode` reports and `predict` decodes.
  const auto [mu, logvar] = model.encode(s, 0.0);
  CHECK((mu - r.mean).norm() == 0.0);
  CHECK((model.predict(s, 0.0, targets_t) - model.decode(mu, 0.0, targets_t)).norm() == 0.0);

  const auto fd = central_differences(
      [&](const Eigen::VectorXd& th) {
        model_type m(make_net(H, 5), make_net(L, 6), H, L, D, th, opts);
        return m.elbo_and_gradient(s, 0.0, targets_t, targets, tmask, eps, eo).loss;
      },
      theta, r.gradient);
  CHECK(relative_error(r.gradient, fd) < 1e-7);

  nde::latent_ode<net_type, net_type, nde::rk4, nde::forward_sensitivity> fs(
      make_net(H, 5), make_net(L, 6), H, L, D, theta, opts);
  const auto r2 = fs.elbo_and_gradient(s, 0.0, targets_t, targets, tmask, eps, eo);
  CHECK(relative_error(r2.gradient, r.gradient) < 1e-11);
}

TEST_CASE("latent_ode: the encoder reads the sample backward in time; t0 before the data",
          "[models][latent_ode]") {
  const Eigen::Index H = 3, L = 2, D = 2;
  using model_type = nde::latent_ode<net_type, net_type>;
  const auto n = model_type::parameter_count(make_net(H, 4), make_net(L, 4), H, L, D);
  Eigen::VectorXd theta = random_vector(n, 61);
  // A zero encoder field: h_enc = GRU over the observations from the last to the first.
  const auto enc_n = make_net(H, 4).num_params();
  theta.head(enc_n).setZero();
  model_type model(make_net(H, 4), make_net(L, 4), H, L, D, theta);
  const auto s = make_sample();
  const auto [mu, logvar] = model.encode(s, -0.5);
  const nn::gru_cell cell(2 * D, H);
  const Eigen::VectorXd th_gru = theta.segment(enc_n, cell.num_params());
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(H, 1), h_new, cache;
  for (Eigen::Index j = Eigen::Index(s.t.size()) - 1; j >= 0; --j) {
    Eigen::MatrixXd in(2 * D, 1);
    for (Eigen::Index ch = 0; ch < D; ++ch) {
      in(ch, 0) = s.mask(ch, j) == 1 ? s.x(ch, j) : 0.0;
      in(D + ch, 0) = s.mask(ch, j);
    }
    cell.forward(th_gru, in, h, h_new, cache);
    h = h_new;
  }
  const Eigen::Index at = enc_n + cell.num_params();
  const Eigen::Map<const Eigen::MatrixXd> a(theta.data() + at, 2 * L, H);
  const Eigen::VectorXd head = a * h + theta.segment(at + 2 * L * H, 2 * L);
  CHECK((mu - head.head(L)).norm() < 1e-13);
  CHECK((logvar - head.tail(L)).norm() < 1e-13);
  // A target list that is only t0 needs no decoder solve.
  const std::vector<double> only{-0.5};
  const Eigen::MatrixXd x0 = model.predict(s, -0.5, only);
  const Eigen::Index read_at = n - D * (L + 1);
  const Eigen::Map<const Eigen::MatrixXd> wr(theta.data() + read_at, D, L);
  CHECK((x0.col(0) - (wr * mu + theta.tail(D))).norm() < 1e-13);
}

TEST_CASE("sequence models: bad input gives clear errors", "[models][ode_rnn][latent_ode]") {
  const Eigen::Index H = 3, L = 2, D = 2;
  using ode_rnn_type = nde::ode_rnn<net_type>;
  const auto n = ode_rnn_type::parameter_count(make_net(H, 4), H, D);
  ode_rnn_type model(make_net(H, 4), H, D, random_vector(n, 1));
  const auto good = make_sample();
  auto expect_error = [&](const nde::irregular_sample& s, const std::vector<double>& qs,
                          const char* needle) {
    try {
      (void)model.predict(s, qs);
      FAIL("no error for: " << needle);
    } catch (const nde::error& e) {
      CHECK(e.code() == nde::status::invalid_input);
      CHECK_THAT(e.what(), Catch::Contains(needle));
    }
  };
  auto s = good;
  s.t = {};
  s.x.resize(2, 0);
  s.mask.resize(0, 0);
  expect_error(s, queries, "no observations");
  s = good;
  std::swap(s.t[1], s.t[2]);
  expect_error(s, queries, "increase strictly");
  s = good;
  s.x.resize(3, 5);
  s.x.setZero();
  expect_error(s, queries, "channels");
  s = good;
  s.mask(0, 0) = 0.5;
  expect_error(s, queries, "0 or 1");
  s = good;
  s.x(0, 1) = std::numeric_limits<double>::quiet_NaN();
  expect_error(s, queries, "not finite");
  s = good;
  s.mask.resize(2, 4);
  expect_error(s, queries, "mask");
  expect_error(good, {0.5, 0.2}, "query times must increase");
  expect_error(good, {}, "no query times");
  CHECK_THROWS_WITH(ode_rnn_type(make_net(H, 4), H, D, Eigen::VectorXd::Zero(n + 1)),
                    Catch::Contains("entries but this model needs"));
  CHECK_THROWS_WITH(ode_rnn_type(make_net(H + 1, 4), H, D, Eigen::VectorXd::Zero(n)),
                    Catch::Contains("hidden size"));
  CHECK_THROWS_WITH(nde::gru_forecaster(H, 0, Eigen::VectorXd::Zero(3)),
                    Catch::Contains("channels must be positive"));

  using latent_type = nde::latent_ode<net_type, net_type>;
  const auto nl = latent_type::parameter_count(make_net(H, 4), make_net(L, 4), H, L, D);
  latent_type lat(make_net(H, 4), make_net(L, 4), H, L, D, random_vector(nl, 2));
  CHECK_THROWS_WITH(lat.encode(good, 0.2), Catch::Contains("not after the first observation"));
  const std::vector<double> ts{0.0, 1.0};
  const Eigen::MatrixXd tg = Eigen::MatrixXd::Zero(D, 2);
  CHECK_THROWS_WITH(lat.elbo_and_gradient(good, 0.0, ts, Eigen::MatrixXd::Zero(D, 3), {},
                                          Eigen::VectorXd::Zero(L)),
                    Catch::Contains("targets are"));
  CHECK_THROWS_WITH(lat.elbo_and_gradient(good, 0.0, ts, tg, {}, Eigen::VectorXd::Zero(L + 1)),
                    Catch::Contains("eps must be"));
  CHECK_THROWS_WITH(
      lat.elbo_and_gradient(good, 0.0, ts, tg, {}, Eigen::VectorXd::Zero(L), {.obs_std = 0.0}),
      Catch::Contains("obs_std"));
  const std::vector<double> early{-1.0, 1.0};
  CHECK_THROWS_WITH(lat.predict(good, 0.0, early), Catch::Contains("before t0"));
  CHECK_THROWS_WITH(lat.decode(Eigen::VectorXd::Zero(L + 1), 0.0, ts), Catch::Contains("z0"));
  // The step budget is a status, not an exception.
  lat.options().max_steps = 1;
  lat.options().rtol = 1e-12;
  lat.options().atol = 1e-14;
  const auto r = lat.elbo_and_gradient(good, 0.0, ts, tg, {}, Eigen::VectorXd::Zero(L));
  CHECK(r.status != nde::status::success);
  CHECK(!r.message.empty());
}
