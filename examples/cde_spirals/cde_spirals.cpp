// Neural CDE classification of irregularly sampled, partially observed spirals (Kidger et al.
// 2020, "Neural controlled differential equations for irregular time series"; the task of
// Diffrax's and torchcde's neural CDE examples, made harder): each sample is a 2-D spiral
// x(t) = (cos(t + φ), ±sin(t + φ)) / (1 + t/2) over t ∈ [0, 4π], clockwise (label 1) or
// anticlockwise (label 0), observed at --length irregular times (uniform order statistics,
// one grid for the data set) with each coordinate of each observation missing with
// probability --missing (independently).
//
// The path: NaN filled forward, time as channel 0 and one observation-intensity channel per
// coordinate (cumulative count / length), Hermite cubic interpolation with backward
// differences (causal). The model: h(0) = ζ(X(0)) (linear), dh = f_θ(h) dX with f a
// hidden-(width)-(width)-(hidden·5) softplus network ending in tanh, readout ℓ(h(4π)) → one
// logit; binary cross-entropy; dopri5 (rtol --tol, atol --tol/100) and the exact discrete
// adjoint; Adam (lr --lr), minibatches of --batch training samples.
//
// Run:  cde_spirals [--iterations 300] [--train 256] [--test 256] [--out DIR]
// Writes train.csv (loss, batch accuracy, forward NFE per iteration; test accuracy at the
// report points), samples.csv (observed points of a few test samples), decision.csv (the
// predicted probability of 'clockwise' as the data arrive, for those samples, after training)
// and cde_spirals.png (plot.py). Last line:
//   result: test_accuracy=<x>
#include <nde/adjoint/methods.hpp>
#include <nde/models/neural_cde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/optim/adam.hpp>
#include <nde/optim/loss.hpp>
#include <nde/paths/interpolation.hpp>
#include <nde/paths/observations.hpp>
#include <nde/solvers/dopri5.hpp>

#include <example_support.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace nn = nde::nn;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using path_type = nde::hermite_cubic_path<>;
using net_type = nn::sequential<nn::linear<>, nn::softplus_activation, nn::linear<>,
                                nn::softplus_activation, nn::linear<>, nn::tanh_activation>;
using model_type = nde::neural_cde<net_type, path_type, nde::dopri5, nde::discrete_adjoint>;

constexpr Eigen::Index data_channels = 2;
constexpr Eigen::Index channels = 1 + 2 * data_channels;  // time, x, y, two intensities

struct settings {
  int iterations = 300, train = 256, test = 256, batch = 32, length = 100, hidden = 8, width = 32,
      report_every = 50, shown = 6;
  double lr = 1e-2, tol = 1e-3, missing = 0.3;
  unsigned seed = 0;
  std::filesystem::path out;
};

struct dataset {
  std::vector<double> times;  // shared irregular grid
  nde::path_values<> raw;     // 2 × samples per knot, NaN where missing
  VectorXd labels;            // 1 = clockwise
};

dataset make_spirals(int samples, const settings& s, const std::vector<double>& times,
                     std::mt19937_64& rng) {
  std::uniform_real_distribution<double> phase(0.0, 2 * std::numbers::pi), u(0.0, 1.0);
  dataset d;
  d.times = times;
  d.labels.resize(samples);
  std::vector<double> phases(static_cast<std::size_t>(samples));
  for (int b = 0; b < samples; ++b) {
    phases[static_cast<std::size_t>(b)] = phase(rng);
    d.labels[b] = b % 2 == 0 ? 1.0 : 0.0;
  }
  for (double t : times) {
    MatrixXd x(data_channels, samples);
    for (int b = 0; b < samples; ++b) {
      const double p = phases[static_cast<std::size_t>(b)], decay = 1 / (1 + 0.5 * t);
      const double sign = d.labels[b] > 0.5 ? -1.0 : 1.0;  // clockwise: the angle decreases
      x(0, b) = std::cos(t + p) * decay;
      x(1, b) = sign * std::sin(t + p) * decay;
      for (Eigen::Index c = 0; c < data_channels; ++c)
        if (u(rng) < s.missing) x(c, b) = std::numeric_limits<double>::quiet_NaN();
    }
    d.raw.push_back(x);
  }
  // (A coordinate never observed in a whole series, probability missing^length, would be an
  // error of prepare_observations: there is nothing to fill it with.)
  return d;
}

// The CDE's path for samples `index` of `d`: fill forward, time, intensities scaled to [0, 1].
path_type make_path(const dataset& d, const std::vector<int>& index) {
  nde::path_values<> raw;
  for (const auto& x : d.raw) {
    MatrixXd sub(data_channels, static_cast<Eigen::Index>(index.size()));
    for (std::size_t j = 0; j < index.size(); ++j) sub.col(Eigen::Index(j)) = x.col(index[j]);
    raw.push_back(sub);
  }
  auto values = nde::prepare_observations(d.times, raw);
  const double scale = 1.0 / static_cast<double>(d.times.size());
  for (auto& v : values) v.bottomRows(data_channels) *= scale;
  return path_type(d.times, std::move(values));
}

MatrixXd labels_of(const dataset& d, const std::vector<int>& index) {
  MatrixXd y(1, static_cast<Eigen::Index>(index.size()));
  for (std::size_t j = 0; j < index.size(); ++j) y(0, Eigen::Index(j)) = d.labels[index[j]];
  return y;
}

double accuracy(model_type& model, const dataset& d) {
  std::vector<int> all(static_cast<std::size_t>(d.labels.size()));
  std::iota(all.begin(), all.end(), 0);
  const path_type path = make_path(d, all);
  const MatrixXd z = model.predict(path);
  int right = 0;
  for (Eigen::Index b = 0; b < z.cols(); ++b) right += (z(0, b) > 0) == (d.labels[b] > 0.5);
  return double(right) / double(z.cols());
}

void run(const settings& s) {
  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<double> u(0.0, 4 * std::numbers::pi);
  std::vector<double> times(static_cast<std::size_t>(s.length));
  for (auto& t : times) t = u(rng);
  std::sort(times.begin(), times.end());
  times.front() = 0.0;  // the series starts at 0
  times.erase(std::unique(times.begin(), times.end()), times.end());
  const dataset train = make_spirals(s.train, s, times, rng);
  const dataset test = make_spirals(s.test, s, times, rng);
  std::size_t missing = 0, total = 0;
  for (const auto& x : train.raw) {
    missing += static_cast<std::size_t>(x.array().isNaN().count());
    total += static_cast<std::size_t>(x.size());
  }
  std::printf(
      "cde_spirals: %d training and %d test spirals, %zu irregular times on [0, 4pi], "
      "%.1f %% of coordinates missing\n",
      s.train, s.test, times.size(), 100.0 * double(missing) / double(total));

  const Eigen::Index n = s.hidden;
  net_type net(nn::linear<>(n, s.width), nn::softplus_activation{}, nn::linear<>(s.width, s.width),
               nn::softplus_activation{}, nn::linear<>(s.width, n * channels),
               nn::tanh_activation{});
  VectorXd theta = VectorXd::Zero(model_type::parameter_count(net, n, channels, 1));
  {
    // ζ and the readout: PyTorch's default uniform(±1/sqrt(fan_in)); f: its layers' default.
    std::uniform_real_distribution<double> init(-1.0, 1.0);
    for (Eigen::Index i = 0; i < n * channels + n; ++i)
      theta[i] = init(rng) / std::sqrt(double(channels));
    VectorXd f(net.num_params());
    nn::init_pytorch_default(net.layout(), f, rng);
    theta.segment(n * channels + n, net.num_params()) = f;
    for (Eigen::Index i = n * channels + n + net.num_params(); i < theta.size(); ++i)
      theta[i] = init(rng) / std::sqrt(double(n));
  }
  model_type model(net, n, channels, 1, theta, {.rtol = s.tol, .atol = s.tol / 100});
  nde::optim::adam<double> adam(theta.size(), {.learning_rate = s.lr});
  std::printf("model: hidden %ld, field %ld-%d-%d-%ld, %ld parameters\n", long(n), long(n), s.width,
              s.width, long(n * channels), long(theta.size()));

  std::ofstream log(s.out / "train.csv");
  log << "iteration,loss,batch_accuracy,forward_nfe,test_accuracy\n";
  std::vector<int> order(static_cast<std::size_t>(s.train));
  std::iota(order.begin(), order.end(), 0);
  std::size_t cursor = order.size();
  examples::stopwatch clock;
  double test_accuracy = 0;
  for (int it = 1; it <= s.iterations; ++it) {
    if (cursor + static_cast<std::size_t>(s.batch) > order.size()) {
      std::shuffle(order.begin(), order.end(), rng);
      cursor = 0;
    }
    const std::vector<int> index(order.begin() + std::ptrdiff_t(cursor),
                                 order.begin() + std::ptrdiff_t(cursor) + s.batch);
    cursor += static_cast<std::size_t>(s.batch);
    const path_type path = make_path(train, index);
    const MatrixXd y = labels_of(train, index);
    auto r = model.loss_and_gradient(path, [&](const MatrixXd& z, MatrixXd& dz) {
      return nde::optim::binary_cross_entropy_with_logits(z, y, dz);
    });
    if (r.status != nde::status::success) throw nde::error(r.status, r.message);
    int right = 0;
    for (Eigen::Index b = 0; b < y.cols(); ++b)
      right += (r.prediction(0, b) > 0) == (y(0, b) > 0.5);
    adam.step(model.params(), r.gradient);
    const bool report = it % s.report_every == 0 || it == s.iterations;
    if (report) test_accuracy = accuracy(model, test);
    log << it << ',' << r.loss << ',' << double(right) / double(y.cols()) << ','
        << r.stats.forward_rhs_evals << ',';
    if (report) log << test_accuracy;
    log << '\n';
    if (report)
      std::printf(
          "iteration %4d  loss %.4f  batch accuracy %.3f  forward NFE %zu  test accuracy "
          "%.4f  (%.1f s)\n",
          it, r.loss, double(right) / double(y.cols()), r.stats.forward_rhs_evals, test_accuracy,
          clock.seconds());
  }

  // A few test samples: their observations and the probability of 'clockwise' as data arrive.
  std::vector<int> shown(static_cast<std::size_t>(std::min(s.shown, s.test)));
  std::iota(shown.begin(), shown.end(), 0);
  {
    std::ofstream f(s.out / "samples.csv");
    f << "sample,label,t,x,y\n";
    for (int b : shown)
      for (std::size_t k = 0; k < times.size(); ++k)
        f << b << ',' << test.labels[b] << ',' << times[k] << ',' << test.raw[k](0, b) << ','
          << test.raw[k](1, b) << '\n';
  }
  {
    const path_type path = make_path(test, shown);
    std::vector<double> ts;
    for (int i = 0; i <= 100; ++i) ts.push_back(path.end() * i / 100.0);
    const auto z = model.predict_at(path, ts);
    std::ofstream f(s.out / "decision.csv");
    f << "t";
    for (int b : shown) f << ",p" << b;
    f << '\n';
    for (std::size_t i = 0; i < ts.size(); ++i) {
      f << ts[i];
      for (Eigen::Index b = 0; b < z[i].cols(); ++b) f << ',' << 1 / (1 + std::exp(-z[i](0, b)));
      f << '\n';
    }
  }
  log.close();
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/cde_spirals.png\n", s.out.string().c_str());
  std::printf("result: test_accuracy=%.4f\n", test_accuracy);
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opt("cde_spirals",
                        "neural CDE on irregularly sampled spirals with missing observations");
  opt.add("iterations", "300", "training iterations")
      .add("train", "256", "training spirals (half clockwise)")
      .add("test", "256", "test spirals")
      .add("batch", "32", "spirals per iteration")
      .add("length", "100", "observation times per spiral (one irregular grid)")
      .add("missing", "0.3", "probability that a coordinate of an observation is missing")
      .add("hidden", "8", "hidden state size of the CDE")
      .add("width", "32", "width of the field's two hidden layers")
      .add("lr", "1e-2", "Adam learning rate")
      .add("tol", "1e-3", "dopri5 rtol (atol = tol / 100)")
      .add("seed", "0", "random seed")
      .add("report-every", "50", "iterations between progress lines (and test accuracies)")
      .add("out", "out/cde_spirals", "output directory");
  try {
    if (!opt.parse(argc, argv)) return 0;
    settings s;
    s.iterations = opt.integer("iterations");
    s.train = opt.integer("train");
    s.test = opt.integer("test");
    s.batch = opt.integer("batch");
    s.length = opt.integer("length");
    s.missing = opt.real("missing");
    s.hidden = opt.integer("hidden");
    s.width = opt.integer("width");
    s.lr = opt.real("lr");
    s.tol = opt.real("tol");
    s.seed = unsigned(opt.integer("seed"));
    s.report_every = opt.integer("report-every");
    s.out = opt.str("out");
    if (s.iterations < 1 || s.train < 2 || s.test < 1 || s.batch < 1 || s.batch > s.train ||
        s.length < 4 || s.hidden < 1 || s.width < 1 || s.report_every < 1 || !(s.lr > 0) ||
        !(s.tol > 0) || !(s.missing >= 0 && s.missing < 0.9))
      throw std::invalid_argument(
          "need --iterations, --test, --hidden, --width, --report-every >= 1, --train >= 2, "
          "1 <= --batch <= --train, --length >= 4, --lr > 0, --tol > 0, 0 <= --missing < 0.9");
    std::filesystem::create_directories(s.out);
    run(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cde_spirals: %s\n", e.what());
    return 1;
  }
  return 0;
}
