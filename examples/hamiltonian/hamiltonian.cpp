// Hamiltonian neural networks (Greydanus, Dzamba & Yosinski 2019) on their two toy tasks:
// the ideal mass-spring H = q² + p² and the ideal pendulum H = 3(1 − cos q) + p².
//
// For each system: 50 trajectories from random initial states on [0, 3] (30 samples each,
// Gaussian noise σ = 0.1 on the observed (q, p), exact time derivatives as targets), half for
// training and half for testing, as in the paper. Two models of the same size are trained on
// the time-derivative targets dx/dt (MSE, full batch, Adam lr 1e-3, 2000 steps; the paper's
// setting, except that each step uses a random third of the 750 training points by default,
// --batch 0 for the full batch, to keep the run near 3 minutes on one core): an HNN, a scalar network H_θ(q, p) whose field is (∂H/∂p, −∂H/∂q), and a baseline
// network that outputs (dq/dt, dp/dt) directly. Both are 2 hidden tanh layers of 200 units.
// Then each test trajectory is rolled out from its (noise-free) initial state with RK4 over
// [0, horizon], and the energy error is the mean over time and trajectories of
// (H(x_model(t)) − H(x_true(t)))² under the true H.
//
// Run:  hamiltonian [--steps 2000] [--hidden 200] [--trajectories 50] [--horizon 20] [--out DIR]
// The HNN is also rolled out with the implicit midpoint rule (symplectic for any H) for comparison.
// Writes <system>_loss.csv, <system>_rollout.csv and hamiltonian.png (plot.py).
#include <nde/models/hamiltonian.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/optim/adam.hpp>
#include <nde/solvers/implicit_midpoint.hpp>
#include <nde/solvers/rk4.hpp>
#include <nde/step_size/constant_step.hpp>
#include <nde/terms/network_field.hpp>
#include <nde/terms/ode_term.hpp>

#include <example_support.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int D = Eigen::Dynamic;
using matrix = Eigen::MatrixXd;
using vector = Eigen::VectorXd;
using hnn_net = nde::nn::mlp<nde::nn::tanh_activation, 2, D, D, 1>;
using baseline_net = nde::nn::mlp<nde::nn::tanh_activation, 2, D, D, 2>;
using hnn_field = nde::hamiltonian_field<hnn_net, matrix>;
using baseline_field = nde::network_field<baseline_net, matrix>;

struct system {
  std::string name;
  double radius_low, radius_high;  // initial states on circles of radius in [low, high)
  double (*energy)(double q, double p);
  void (*field)(double q, double p, double& dq, double& dp);
};

const system mass_spring{"mass_spring", 0.1, 1.0, [](double q, double p) { return q * q + p * p; },
                         [](double q, double p, double& dq, double& dp) {
                           dq = 2 * p;
                           dp = -2 * q;
                         }};
const system pendulum{"pendulum", 1.3, 2.3,
                      [](double q, double p) { return 3 * (1 - std::cos(q)) + p * p; },
                      [](double q, double p, double& dq, double& dp) {
                        dq = 2 * p;
                        dp = -3 * std::sin(q);
                      }};

struct settings {
  int steps = 2000, hidden = 200, trajectories = 50, samples = 30, report_every = 200;
  int batch = 250;
  double t_end = 3.0, noise = 0.1, lr = 1e-3, horizon = 20.0, dt = 0.02;
  unsigned seed = 0;
  std::filesystem::path out;
};

// Exact trajectories of the true system (fine RK4 steps on a batch), states at `times`.
std::vector<matrix> true_rollout(const system& sys, const matrix& y0,
                                 const std::vector<double>& times, double dt) {
  auto f = [&sys](double, const matrix& y, matrix& dydt) {
    dydt.resize(y.rows(), y.cols());
    for (Eigen::Index j = 0; j < y.cols(); ++j) sys.field(y(0, j), y(1, j), dydt(0, j), dydt(1, j));
  };
  nde::solve_options options;
  options.controller = nde::constant_step{dt};
  options.save_at = nde::save_at::times(times);
  const auto sol = nde::solve(f, nde::rk4{}, times.front(), times.back(), y0, options);
  if (!sol.success()) throw nde::error(sol.status, sol.message);
  return sol.ys;
}

// Learned rollouts: the same RK4 on the learned field, all trajectories as one batch.
template <class Term, class Method = nde::rk4>
std::vector<matrix> model_rollout(Term& term, const vector& theta, const matrix& y0,
                                  const std::vector<double>& times, double dt, Method method = {}) {
  nde::solve_options options;
  options.controller = nde::constant_step{dt};
  options.save_at = nde::save_at::times(times);
  const auto sol = nde::solve(term, method, times.front(), times.back(), y0,
                              nde::params_view<double>(theta), options);
  if (!sol.success()) throw nde::error(sol.status, sol.message);
  return {sol.ys.begin(), sol.ys.end()};
}

struct dataset {
  matrix x, dxdt;  // 2 × N observed states (noisy) and their exact derivatives
  matrix y0;       // 2 × M noise-free initial states
};

// Greydanus's data: initial states on circles of random radius, 30 samples on [0, 3], noise on
// the observed states only (the derivative targets are exact at the noise-free states).
dataset make_data(const system& sys, int count, const settings& s, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uniform(-1.0, 1.0), unit(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, s.noise);
  dataset d;
  d.y0.resize(2, count);
  for (int j = 0; j < count; ++j) {
    Eigen::Vector2d y(uniform(rng), uniform(rng));
    while (y.norm() < 1e-3) y = Eigen::Vector2d(uniform(rng), uniform(rng));
    const double radius = sys.radius_low + (sys.radius_high - sys.radius_low) * unit(rng);
    d.y0.col(j) = y / y.norm() * radius;
  }
  std::vector<double> times;
  for (int i = 0; i < s.samples; ++i) times.push_back(s.t_end * i / (s.samples - 1));
  const auto ys = true_rollout(sys, d.y0, times, s.t_end / (s.samples - 1) / 20);
  d.x.resize(2, count * s.samples);
  d.dxdt.resize(2, count * s.samples);
  Eigen::Index k = 0;
  for (int j = 0; j < count; ++j)
    for (int i = 0; i < s.samples; ++i, ++k) {
      const double q = ys[std::size_t(i)](0, j), p = ys[std::size_t(i)](1, j);
      sys.field(q, p, d.dxdt(0, k), d.dxdt(1, k));
      d.x(0, k) = q + normal(rng);
      d.x(1, k) = p + normal(rng);
    }
  return d;
}

// MSE of the predicted derivatives and its gradient (a = dL/df, then the field's vjp).
template <class Field>
double derivative_loss(Field& field, const vector& theta, const matrix& x, const matrix& dxdt,
                       vector* grad) {
  matrix f, a_y;
  field(0.0, x, theta, f);
  const matrix residual = f - dxdt;
  const double n = double(residual.size());
  if (grad) {
    grad->setZero(theta.size());
    const matrix a = (2.0 / n) * residual;
    field.vjp(0.0, x, theta, a, a_y, *grad);
  }
  return residual.squaredNorm() / n;
}

template <class Field>
std::vector<double> train(Field& field, vector& theta, const dataset& train_set,
                          const dataset& test_set, const settings& s, const char* label,
                          std::mt19937_64& rng) {
  nde::optim::adam<double> opt(theta.size(), {.learning_rate = s.lr});
  std::vector<double> losses;
  vector grad(theta.size());
  const examples::stopwatch clock;
  const Eigen::Index points = train_set.x.cols();
  const Eigen::Index batch = s.batch <= 0 ? points : std::min<Eigen::Index>(s.batch, points);
  std::vector<Eigen::Index> order(static_cast<std::size_t>(points));
  for (Eigen::Index k = 0; k < points; ++k) order[std::size_t(k)] = k;
  matrix xb(2, batch), db(2, batch);
  for (int step = 1; step <= s.steps; ++step) {
    // A random subset of `batch` points (all of them when batch = points): partial shuffle.
    for (Eigen::Index k = 0; k < batch; ++k) {
      std::uniform_int_distribution<Eigen::Index> pick(k, points - 1);
      std::swap(order[std::size_t(k)], order[std::size_t(batch < points ? pick(rng) : k)]);
      xb.col(k) = train_set.x.col(order[std::size_t(k)]);
      db.col(k) = train_set.dxdt.col(order[std::size_t(k)]);
    }
    const double loss = derivative_loss(field, theta, xb, db, &grad);
    losses.push_back(loss);
    if (opt.step(theta, grad) != nde::status::success)
      throw nde::error(nde::status::invalid_input, "adam: non-finite gradient");
    if (step % s.report_every == 0 || step == s.steps)
      std::printf("  %-8s step %5d  train loss %.3e  test loss %.3e  (%.1f s)\n", label, step, loss,
                  derivative_loss(field, theta, test_set.x, test_set.dxdt, nullptr),
                  clock.seconds());
  }
  return losses;
}

struct evaluation {
  double energy_mse = 0;
  std::vector<matrix> ys;
};

evaluation energy_error(const system& sys, const std::vector<matrix>& truth,
                        std::vector<matrix> ys) {
  evaluation e;
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < ys.size(); ++i)
    for (Eigen::Index j = 0; j < ys[i].cols(); ++j) {
      const double de =
          sys.energy(ys[i](0, j), ys[i](1, j)) - sys.energy(truth[i](0, j), truth[i](1, j));
      sum += std::isfinite(de) ? de * de : 1e300;
      ++count;
    }
  e.energy_mse = sum / double(count);
  e.ys = std::move(ys);
  return e;
}

std::string format(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4e", x);
  return buffer;
}

// Trains both models on one system, evaluates and writes its CSVs; returns its result line.
std::string run(const system& sys, const settings& s, std::mt19937_64& rng) {
  std::printf("\n== %s: %d trajectories on [0, %g] (%d samples each, noise sd %g), hidden %d x 2\n",
              sys.name.c_str(), s.trajectories, s.t_end, s.samples, s.noise, s.hidden);
  const int n_train = s.trajectories / 2, n_test = s.trajectories - n_train;
  const dataset train_set = make_data(sys, n_train, s, rng);
  const dataset test_set = make_data(sys, n_test, s, rng);

  const Eigen::Index h = s.hidden;
  hnn_field hnn(hnn_net({2, h, h, 1}));
  nde::ode_term<baseline_field> baseline(baseline_field(baseline_net({2, h, h, 2})));
  vector theta_hnn(hnn.num_params()), theta_base(baseline.num_params());
  nde::nn::init_pytorch_default(hnn.network().layout(), theta_hnn, rng);
  nde::nn::init_pytorch_default(baseline.field().network().layout(), theta_base, rng);
  std::printf("  parameters: HNN %ld, baseline %ld\n", long(theta_hnn.size()),
              long(theta_base.size()));

  const auto loss_hnn = train(hnn, theta_hnn, train_set, test_set, s, "HNN", rng);
  const auto loss_base =
      train(baseline.field(), theta_base, train_set, test_set, s, "baseline", rng);

  std::vector<double> times;
  const int points = std::max(2, int(std::lround(s.horizon / 0.05)) + 1);
  for (int i = 0; i < points; ++i) times.push_back(s.horizon * i / (points - 1));
  const auto truth = true_rollout(sys, test_set.y0, times, s.dt);
  const auto eval_hnn =
      energy_error(sys, truth, model_rollout(hnn, theta_hnn, test_set.y0, times, s.dt));
  const auto eval_base =
      energy_error(sys, truth, model_rollout(baseline, theta_base, test_set.y0, times, s.dt));
  // The same HNN integrated by the implicit midpoint rule (symplectic for any H).
  const examples::stopwatch midpoint_clock;
  const auto eval_midpoint = energy_error(
      sys, truth,
      model_rollout(hnn, theta_hnn, test_set.y0, times, s.dt, nde::implicit_midpoint{}));
  const double midpoint_seconds = midpoint_clock.seconds();
  // The HNN conserves its own learned energy H_θ along its rollout (up to RK4's error).
  const auto h_start = hnn.energy(eval_hnn.ys.front(), theta_hnn);
  const auto h_end = hnn.energy(eval_hnn.ys.back(), theta_hnn);
  std::printf("  rollouts of %d test trajectories on [0, %g], RK4 dt = %g\n", n_test, s.horizon,
              s.dt);
  std::printf("  energy MSE (true H along the rollout vs the truth): HNN %.3e, baseline %.3e\n",
              eval_hnn.energy_mse, eval_base.energy_mse);
  std::printf("  HNN integrated by the implicit midpoint rule instead: energy MSE %.3e (%.1f s)\n",
              eval_midpoint.energy_mse, midpoint_seconds);
  std::printf("  learned H_theta drift along the HNN rollouts: max |H(T) - H(0)| = %.2e\n",
              (h_end - h_start).cwiseAbs().maxCoeff());

  std::vector<double> steps;
  for (std::size_t i = 0; i < loss_hnn.size(); ++i) steps.push_back(double(i + 1));
  examples::write_csv(s.out / (sys.name + "_loss.csv"), {"step", "hnn", "baseline"},
                      {steps, loss_hnn, loss_base});
  std::vector<std::vector<double>> columns(12);
  for (std::size_t i = 0; i < times.size(); ++i) {
    const auto& yt = truth[i];
    const auto& yh = eval_hnn.ys[i];
    const auto& yb = eval_base.ys[i];
    const double values[] = {times[i],
                             yt(0, 0),
                             yt(1, 0),
                             yh(0, 0),
                             yh(1, 0),
                             yb(0, 0),
                             yb(1, 0),
                             sys.energy(yt(0, 0), yt(1, 0)),
                             sys.energy(yh(0, 0), yh(1, 0)),
                             sys.energy(yb(0, 0), yb(1, 0))};
    for (std::size_t c = 0; c < 10; ++c) columns[c].push_back(values[c]);
    // Mean squared energy error over all test trajectories at this time.
    double mse_h = 0, mse_b = 0;
    for (Eigen::Index j = 0; j < yt.cols(); ++j) {
      const double e0 = sys.energy(yt(0, j), yt(1, j));
      mse_h += std::pow(sys.energy(yh(0, j), yh(1, j)) - e0, 2) / double(yt.cols());
      mse_b += std::pow(sys.energy(yb(0, j), yb(1, j)) - e0, 2) / double(yt.cols());
    }
    columns[10].push_back(mse_h);
    columns[11].push_back(mse_b);
  }
  examples::write_csv(
      s.out / (sys.name + "_rollout.csv"),
      {"t", "q_true", "p_true", "q_hnn", "p_hnn", "q_baseline", "p_baseline", "energy_true",
       "energy_hnn", "energy_baseline", "energy_mse_hnn", "energy_mse_baseline"},
      columns);
  return "result: system=" + sys.name + " energy_mse_hnn=" + format(eval_hnn.energy_mse) +
         " energy_mse_baseline=" + format(eval_base.energy_mse);
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opt(
      "hamiltonian", "Hamiltonian neural networks vs a baseline network (Greydanus et al. 2019)");
  opt.add("steps", "2000", "Adam steps per model")
      .add("hidden", "200", "units in each of the two hidden tanh layers (both models)")
      .add("trajectories", "50", "trajectories per system (half train, half test)")
      .add("horizon", "20", "length of the evaluation rollouts")
      .add("lr", "1e-3", "Adam learning rate")
      .add("batch", "250", "training points per Adam step (0: all of them, Greydanus's full batch)")
      .add("noise", "0.1", "standard deviation of the noise on the observed states")
      .add("seed", "0", "random seed (data, noise, weights)")
      .add("report-every", "200", "steps between progress lines")
      .add("out", "out/hamiltonian", "output directory");
  try {
    if (!opt.parse(argc, argv)) return 0;
    settings s;
    s.steps = opt.integer("steps");
    s.hidden = opt.integer("hidden");
    s.trajectories = opt.integer("trajectories");
    s.horizon = opt.real("horizon");
    s.lr = opt.real("lr");
    s.batch = opt.integer("batch");
    s.noise = opt.real("noise");
    s.seed = unsigned(opt.integer("seed"));
    s.report_every = opt.integer("report-every");
    s.out = opt.str("out");
    if (s.steps < 1 || s.hidden < 1 || s.trajectories < 2 || s.report_every < 1 ||
        !(s.horizon > 0) || !(s.lr > 0) || s.noise < 0)
      throw std::invalid_argument(
          "need --steps >= 1, --hidden >= 1, --trajectories >= 2, --report-every >= 1, "
          "--horizon > 0, --lr > 0, --noise >= 0");
    std::filesystem::create_directories(s.out);
    std::mt19937_64 rng(s.seed);
    const examples::stopwatch clock;
    const std::string spring = run(mass_spring, s, rng);
    const std::string swing = run(pendulum, s, rng);
    std::printf("\ntotal %.1f s; wrote %s/{mass_spring,pendulum}_{loss,rollout}.csv\n",
                clock.seconds(), s.out.string().c_str());
    if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
      std::printf("wrote %s/hamiltonian.png\n", s.out.string().c_str());
    std::printf("%s\n%s\n", spring.c_str(), swing.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hamiltonian: %s\n", e.what());
    return 1;
  }
  return 0;
}
