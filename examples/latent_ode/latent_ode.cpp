// Latent ODE against an ODE-RNN and a GRU-Δt on irregularly sampled damped oscillations
// (Rubanova, Chen & Duvenaud 2019, "Latent ODEs for irregularly-sampled time series", §4.1's
// toy experiment with damping and a spread of frequencies). Each sample is
//   x(t) = A e^{−γt} sin(ωt + φ),  A ~ U(0.5, 1), γ ~ U(0.05, 0.2), ω ~ U(1.5, 2.5), φ ~ U(0, 2π)
// on a grid of --grid points over [0, 10]. A model sees each grid point in [0, 5] with
// probability --observed (noise of standard deviation --noise, at least two points), a
// different irregular subset per sample, and predicts the whole trajectory.
//   interp_mse: mean squared error at the grid points of [0, 5] it did not see;
//   extrap_mse: at every grid point of (5, 10].
// Models (one sample at a time with its own times: no padding; --threads threads per batch):
//   latent ODE: ODE-RNN encoder run backward over the observations → q(z₀) = N(μ, σ²) at t = 0
//     (latent --latent), decoder dz/dt = g(z) and a linear readout; trained on −ELBO (Gaussian
//     likelihood of standard deviation --obs-std over the whole grid, KL warm-up over the first
//     --warmup iterations, one ε per sample); predictions from z₀ = μ.
//   ODE-RNN: dh/dt = f(h) between observations, GRU update at each one, readout of h(t⁻).
//   GRU-Δt: a GRU over observations and query times with the gap to the next one as input.
// All: hidden --hidden, field networks hidden-(width)-hidden with tanh, dopri5 (rtol --tol,
// atol --tol/100) with the exact discrete adjoint, Adam (lr --lr with cosine decay to lr/20),
// minibatches of --batch.
// The baselines train on the squared error over the whole grid.
//
// Run:  latent_ode [--iterations 1500] [--train 512] [--test 256] [--out DIR]
// Writes train.csv (loss of each model per iteration), samples.csv (truth, observations and
// each model's predictions for a few test samples), metrics.csv (the table) and latent_ode.png.
// Last line:
//   result: interp_mse=<x> extrap_mse=<x> odernn_interp_mse=<x> odernn_extrap_mse=<x>
//           gru_interp_mse=<x> gru_extrap_mse=<x>            (one line)
#include <nde/adjoint/methods.hpp>
#include <nde/models/latent_ode.hpp>
#include <nde/models/ode_rnn.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/optim/adam.hpp>
#include <nde/optim/loss.hpp>
#include <nde/optim/schedule.hpp>
#include <nde/solvers/dopri5.hpp>

#include <example_support.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numbers>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace nn = nde::nn;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using net_type = nn::sequential<nn::linear<>, nn::tanh_activation, nn::linear<>>;
using latent_type = nde::latent_ode<net_type, net_type, nde::dopri5, nde::discrete_adjoint>;
using odernn_type = nde::ode_rnn<net_type, nde::dopri5, nde::discrete_adjoint>;
using gru_type = nde::gru_forecaster;

struct settings {
  int iterations = 1500, train = 512, test = 256, batch = 32, grid = 100, hidden = 16, latent = 8,
      width = 32, warmup = 100, report_every = 50, shown = 4, threads = 0;
  double lr = 1e-2, tol = 1e-3, observed = 0.3, noise = 0.02, obs_std = 0.05;
  unsigned seed = 0;
  std::filesystem::path out;
};

struct sample {
  nde::irregular_sample seen;  // the observed subset of [0, 5]
  VectorXd truth;              // noise-free values at every grid time
  VectorXd noisy;              // noisy values at every grid time (training targets)
  std::vector<bool> observed;  // per grid point
};

std::vector<sample> make_data(int count, const std::vector<double>& grid, const settings& s,
                              std::mt19937_64& rng) {
  std::uniform_real_distribution<double> amp(0.5, 1.0), damp(0.05, 0.2), freq(1.5, 2.5),
      phase(0.0, 2 * std::numbers::pi), u(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, s.noise);
  std::vector<sample> data(static_cast<std::size_t>(count));
  const auto n = Eigen::Index(grid.size());
  for (auto& d : data) {
    const double a = amp(rng), g = damp(rng), w = freq(rng), p = phase(rng);
    d.truth.resize(n);
    d.noisy.resize(n);
    d.observed.assign(grid.size(), false);
    for (Eigen::Index k = 0; k < n; ++k) {
      const double t = grid[std::size_t(k)];
      d.truth[k] = a * std::exp(-g * t) * std::sin(w * t + p);
      d.noisy[k] = d.truth[k] + noise(rng);
    }
    std::vector<std::size_t> first_half;
    for (std::size_t k = 0; k < grid.size(); ++k)
      if (grid[k] <= 5.0) first_half.push_back(k);
    int seen = 0;
    while (seen < 2) {  // redraw until at least two points are seen
      seen = 0;
      for (std::size_t k : first_half) {
        d.observed[k] = u(rng) < s.observed;
        seen += d.observed[k] ? 1 : 0;
      }
    }
    d.seen.x.resize(1, seen);
    int j = 0;
    for (std::size_t k : first_half)
      if (d.observed[k]) {
        d.seen.t.push_back(grid[k]);
        d.seen.x(0, j++) = d.noisy[Eigen::Index(k)];
      }
  }
  return data;
}

// Mean over samples of per-sample (loss, gradient), each computed by `fn(model, i)` on a
// model copy per thread, reduced in sample order (the same for any thread count).
template <class Model, class Fn>
double batch_gradient(std::vector<Model>& models, const std::vector<const sample*>& batch, Fn&& fn,
                      VectorXd& gradient) {
  const std::size_t threads = models.size(), count = batch.size();
  std::vector<double> losses(count);
  std::vector<VectorXd> grads(count);
  std::vector<std::string> errors(threads);
  auto work = [&](std::size_t w) {
    try {
      for (std::size_t i = w; i < count; i += threads) {
        auto r = fn(models[w], i);
        losses[i] = r.first;
        grads[i] = std::move(r.second);
      }
    } catch (const std::exception& e) {
      errors[w] = e.what();
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < threads; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  gradient.setZero();
  double loss = 0;
  for (std::size_t i = 0; i < count; ++i) {
    loss += losses[i];
    gradient += grads[i];
  }
  gradient /= double(count);
  return loss / double(count);
}

struct errors {
  double interp = 0, extrap = 0;
};

errors score(const std::vector<sample>& data, const std::vector<double>& grid,
             const std::function<VectorXd(const sample&)>& predict) {
  double si = 0, se = 0;
  std::size_t ni = 0, ne = 0;
  for (const auto& d : data) {
    const VectorXd p = predict(d);
    for (std::size_t k = 0; k < grid.size(); ++k) {
      const double e2 = std::pow(p[Eigen::Index(k)] - d.truth[Eigen::Index(k)], 2);
      if (grid[k] <= 5.0) {
        if (!d.observed[k]) {
          si += e2;
          ++ni;
        }
      } else {
        se += e2;
        ++ne;
      }
    }
  }
  return {si / double(ni), se / double(ne)};
}

VectorXd init_params(Eigen::Index n, std::mt19937_64& rng, double scale) {
  std::uniform_real_distribution<double> u(-scale, scale);
  VectorXd v(n);
  for (Eigen::Index i = 0; i < n; ++i) v[i] = u(rng);
  return v;
}

net_type make_net(Eigen::Index n, Eigen::Index width) {
  return net_type(nn::linear<>(n, width), nn::tanh_activation{}, nn::linear<>(width, n));
}

// θ of a field network: PyTorch's default initialisation, scaled down so the initial flow is
// gentle (a common choice for neural ODE fields).
VectorXd field_params(const net_type& net, std::mt19937_64& rng, double gain) {
  VectorXd f(net.num_params());
  nn::init_pytorch_default(net.layout(), f, rng);
  return gain * f;
}

void run(const settings& s) {
  std::mt19937_64 rng(s.seed);
  std::vector<double> grid(static_cast<std::size_t>(s.grid));
  for (int k = 0; k < s.grid; ++k) grid[std::size_t(k)] = 10.0 * k / (s.grid - 1);
  const auto train = make_data(s.train, grid, s, rng);
  const auto test = make_data(s.test, grid, s, rng);
  double seen = 0;
  for (const auto& d : train) seen += double(d.seen.t.size());
  const std::size_t threads =
      s.threads > 0 ? std::size_t(s.threads) : std::max(1u, std::thread::hardware_concurrency());
  std::printf(
      "latent_ode: %d training and %d test damped oscillations, %d grid points on [0, 10], "
      "%.1f observed points per sample on [0, 5] on average; %zu threads\n",
      s.train, s.test, s.grid, seen / double(s.train), threads);

  const Eigen::Index H = s.hidden, L = s.latent, D = 1;
  const nde::ode_rnn_options solve{.rtol = s.tol, .atol = s.tol / 100};
  // Latent ODE: [encoder field | GRU | head | decoder field | readout].
  const net_type enc = make_net(H, s.width), dec = make_net(L, s.width);
  VectorXd th_latent(latent_type::parameter_count(enc, dec, H, L, D));
  {
    const Eigen::Index ng = nn::gru_cell(2 * D, H).num_params();
    Eigen::Index at = 0;
    th_latent.segment(at, enc.num_params()) = field_params(enc, rng, 0.5);
    at += enc.num_params();
    th_latent.segment(at, ng) = init_params(ng, rng, 1 / std::sqrt(double(H)));
    at += ng;
    th_latent.segment(at, 2 * L * (H + 1)) =
        init_params(2 * L * (H + 1), rng, 1 / std::sqrt(double(H)));
    at += 2 * L * (H + 1);
    th_latent.segment(at, dec.num_params()) = field_params(dec, rng, 0.5);
    at += dec.num_params();
    th_latent.tail(th_latent.size() - at) =
        init_params(th_latent.size() - at, rng, 1 / std::sqrt(double(L)));
  }
  VectorXd th_odernn(odernn_type::parameter_count(enc, H, D));
  {
    const Eigen::Index ng = nn::gru_cell(2 * D, H).num_params();
    th_odernn.head(enc.num_params()) = field_params(enc, rng, 0.5);
    th_odernn.tail(ng + D * (H + 1)) = init_params(ng + D * (H + 1), rng, 1 / std::sqrt(double(H)));
  }
  VectorXd th_gru = init_params(gru_type::parameter_count(H, D), rng, 1 / std::sqrt(double(H)));

  std::vector<latent_type> latent_models;
  std::vector<odernn_type> odernn_models;
  std::vector<gru_type> gru_models;
  for (std::size_t w = 0; w < threads; ++w) {
    latent_models.emplace_back(enc, dec, H, L, D, th_latent, solve);
    odernn_models.emplace_back(enc, H, D, th_odernn, solve);
    gru_models.emplace_back(H, D, th_gru);
  }
  std::printf(
      "models: latent ODE %ld parameters (hidden %ld, latent %ld), ODE-RNN %ld, GRU-Dt %ld\n",
      long(th_latent.size()), long(H), long(L), long(th_odernn.size()), long(th_gru.size()));
  nde::optim::adam<double> adam_latent(th_latent.size(), {.learning_rate = s.lr});
  nde::optim::adam<double> adam_odernn(th_odernn.size(), {.learning_rate = s.lr});
  nde::optim::adam<double> adam_gru(th_gru.size(), {.learning_rate = s.lr});
  const nde::optim::cosine_schedule<> schedule{
      .base = s.lr, .total_steps = s.iterations, .minimum = s.lr / 20};
  const std::span<const double> all_ts(grid);
  const MatrixXd no_mask;

  std::ofstream log(s.out / "train.csv");
  log << "iteration,latent_neg_elbo,latent_mse,odernn_mse,gru_mse\n";
  std::vector<std::size_t> order(train.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::size_t cursor = order.size();
  examples::stopwatch clock;
  VectorXd g_latent(th_latent.size()), g_odernn(th_odernn.size()), g_gru(th_gru.size());
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int it = 1; it <= s.iterations; ++it) {
    if (cursor + std::size_t(s.batch) > order.size()) {
      std::shuffle(order.begin(), order.end(), rng);
      cursor = 0;
    }
    std::vector<const sample*> batch;
    std::vector<VectorXd> eps;
    for (int b = 0; b < s.batch; ++b) {
      batch.push_back(&train[order[cursor++]]);
      VectorXd e(L);
      for (Eigen::Index i = 0; i < L; ++i) e[i] = normal(rng);
      eps.push_back(e);
    }
    const double beta = s.warmup > 0 ? std::min(1.0, double(it) / s.warmup) : 1.0;
    for (auto& m : latent_models) m.params() = th_latent;
    for (auto& m : odernn_models) m.params() = th_odernn;
    for (auto& m : gru_models) m.params() = th_gru;
    double latent_mse = 0;
    std::vector<double> mse_of(batch.size());
    const double neg_elbo = batch_gradient(
        latent_models, batch,
        [&](latent_type& m, std::size_t b) {
          const sample& d = *batch[b];
          auto r = m.elbo_and_gradient(d.seen, 0.0, all_ts, d.noisy.transpose(), no_mask, eps[b],
                                       {.obs_std = s.obs_std, .beta = beta});
          if (r.status != nde::status::success) throw nde::error(r.status, r.message);
          mse_of[b] =
              (r.prediction.row(0).transpose() - d.noisy).squaredNorm() / double(d.noisy.size());
          return std::pair<double, VectorXd>(r.loss / double(d.noisy.size()),
                                             r.gradient / double(d.noisy.size()));
        },
        g_latent);
    for (double v : mse_of) latent_mse += v / double(batch.size());
    auto mse = [](const MatrixXd& p, const VectorXd& y, MatrixXd& dp) {
      return nde::optim::mse_loss(p, y.transpose(), dp);
    };
    const double odernn_mse = batch_gradient(
        odernn_models, batch,
        [&](odernn_type& m, std::size_t b) {
          const sample& d = *batch[b];
          auto r = m.loss_and_gradient(
              d.seen, all_ts, [&](const MatrixXd& p, MatrixXd& dp) { return mse(p, d.noisy, dp); });
          if (r.status != nde::status::success) throw nde::error(r.status, r.message);
          return std::pair<double, VectorXd>(r.loss, std::move(r.gradient));
        },
        g_odernn);
    const double gru_mse = batch_gradient(
        gru_models, batch,
        [&](gru_type& m, std::size_t b) {
          const sample& d = *batch[b];
          auto r = m.loss_and_gradient(
              d.seen, all_ts, [&](const MatrixXd& p, MatrixXd& dp) { return mse(p, d.noisy, dp); });
          return std::pair<double, VectorXd>(r.loss, std::move(r.gradient));
        },
        g_gru);
    const double lr = schedule(it - 1);
    adam_latent.set_learning_rate(lr);
    adam_odernn.set_learning_rate(lr);
    adam_gru.set_learning_rate(lr);
    adam_latent.step(th_latent, g_latent);
    adam_odernn.step(th_odernn, g_odernn);
    adam_gru.step(th_gru, g_gru);
    log << it << ',' << neg_elbo << ',' << latent_mse << ',' << odernn_mse << ',' << gru_mse
        << '\n';
    if (it % s.report_every == 0 || it == s.iterations)
      std::printf(
          "iteration %4d  latent ODE -ELBO/point %.4f (mse %.5f, beta %.2f)  ODE-RNN mse %.5f  "
          "GRU-Dt mse %.5f  (%.1f s)\n",
          it, neg_elbo, latent_mse, beta, odernn_mse, gru_mse, clock.seconds());
  }
  log.close();

  latent_type& latent = latent_models[0];
  odernn_type& odernn = odernn_models[0];
  gru_type& gru = gru_models[0];
  latent.params() = th_latent;
  odernn.params() = th_odernn;
  gru.params() = th_gru;
  auto p_latent = [&](const sample& d) -> VectorXd {
    return latent.predict(d.seen, 0.0, all_ts).row(0).transpose();
  };
  auto p_odernn = [&](const sample& d) -> VectorXd {
    return odernn.predict(d.seen, all_ts).row(0).transpose();
  };
  auto p_gru = [&](const sample& d) -> VectorXd {
    return gru.predict(d.seen, all_ts).row(0).transpose();
  };
  const errors e_latent = score(test, grid, p_latent), e_odernn = score(test, grid, p_odernn),
               e_gru = score(test, grid, p_gru);
  std::printf("\ntest MSE on %d samples     interpolation   extrapolation\n", s.test);
  std::printf("  latent ODE               %.5f         %.5f\n", e_latent.interp, e_latent.extrap);
  std::printf("  ODE-RNN                  %.5f         %.5f\n", e_odernn.interp, e_odernn.extrap);
  std::printf("  GRU-Dt                   %.5f         %.5f\n", e_gru.interp, e_gru.extrap);
  {
    std::ofstream f(s.out / "metrics.csv");
    f << "model,interp_mse,extrap_mse\n";
    f << "latent ODE," << e_latent.interp << ',' << e_latent.extrap << '\n';
    f << "ODE-RNN," << e_odernn.interp << ',' << e_odernn.extrap << '\n';
    f << "GRU-Dt," << e_gru.interp << ',' << e_gru.extrap << '\n';
  }
  {
    std::ofstream f(s.out / "samples.csv");
    f << "sample,t,truth,observed,value,latent_ode,ode_rnn,gru\n";
    for (int b = 0; b < std::min(s.shown, s.test); ++b) {
      const auto& d = test[std::size_t(b)];
      const VectorXd a = p_latent(d), o = p_odernn(d), g = p_gru(d);
      for (std::size_t k = 0; k < grid.size(); ++k)
        f << b << ',' << grid[k] << ',' << d.truth[Eigen::Index(k)] << ',' << int(d.observed[k])
          << ',' << d.noisy[Eigen::Index(k)] << ',' << a[Eigen::Index(k)] << ','
          << o[Eigen::Index(k)] << ',' << g[Eigen::Index(k)] << '\n';
    }
  }
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/latent_ode.png\n", s.out.string().c_str());
  std::printf(
      "result: interp_mse=%.5f extrap_mse=%.5f odernn_interp_mse=%.5f odernn_extrap_mse=%.5f "
      "gru_interp_mse=%.5f gru_extrap_mse=%.5f\n",
      e_latent.interp, e_latent.extrap, e_odernn.interp, e_odernn.extrap, e_gru.interp,
      e_gru.extrap);
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opt(
      "latent_ode", "latent ODE vs ODE-RNN vs GRU-Dt on irregularly sampled damped oscillations");
  opt.add("iterations", "1500", "training iterations (all three models)")
      .add("train", "512", "training samples")
      .add("test", "256", "test samples")
      .add("batch", "32", "samples per iteration")
      .add("grid", "100", "grid points on [0, 10]")
      .add("observed", "0.3", "probability that a grid point of [0, 5] is observed")
      .add("noise", "0.02", "standard deviation of the observation noise")
      .add("hidden", "16", "hidden size of the encoder, the ODE-RNN and the GRU")
      .add("latent", "8", "latent size of the latent ODE")
      .add("width", "32", "hidden width of the field networks")
      .add("obs-std", "0.05", "likelihood standard deviation of the latent ODE")
      .add("warmup", "100", "KL warm-up iterations (beta rises linearly to 1)")
      .add("lr", "1e-2", "Adam learning rate")
      .add("tol", "1e-3", "dopri5 rtol (atol = tol / 100)")
      .add("threads", "0", "threads per batch (0: all cores)")
      .add("seed", "0", "random seed")
      .add("report-every", "50", "iterations between progress lines")
      .add("out", "out/latent_ode", "output directory");
  try {
    if (!opt.parse(argc, argv)) return 0;
    settings s;
    s.iterations = opt.integer("iterations");
    s.train = opt.integer("train");
    s.test = opt.integer("test");
    s.batch = opt.integer("batch");
    s.grid = opt.integer("grid");
    s.observed = opt.real("observed");
    s.noise = opt.real("noise");
    s.hidden = opt.integer("hidden");
    s.latent = opt.integer("latent");
    s.width = opt.integer("width");
    s.obs_std = opt.real("obs-std");
    s.warmup = opt.integer("warmup");
    s.lr = opt.real("lr");
    s.tol = opt.real("tol");
    s.threads = opt.integer("threads");
    s.seed = unsigned(opt.integer("seed"));
    s.report_every = opt.integer("report-every");
    s.out = opt.str("out");
    if (s.iterations < 1 || s.train < 1 || s.test < 1 || s.batch < 1 || s.batch > s.train ||
        s.grid < 4 || s.hidden < 1 || s.latent < 1 || s.width < 1 || s.report_every < 1 ||
        s.warmup < 0 || s.threads < 0 || !(s.lr > 0) || !(s.tol > 0) || !(s.obs_std > 0) ||
        !(s.noise >= 0) || !(s.observed > 0 && s.observed < 1))
      throw std::invalid_argument(
          "need --iterations, --train, --test, --hidden, --latent, --width, --report-every >= 1, "
          "1 <= --batch <= --train, --grid >= 4, --warmup >= 0, --threads >= 0, --lr, --tol, "
          "--obs-std > 0, --noise >= 0, 0 < --observed < 1");
    std::filesystem::create_directories(s.out);
    run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latent_ode: %s\n", e.what());
    return 1;
  }
  return 0;
}
