// The double pendulum (unit masses and lengths, g = 9.8; Cranmer et al. 2020, "Lagrangian neural
// networks", Sec. 5) learned by a Lagrangian neural network L_θ(q, q̇) and, for comparison, by an
// unstructured network q̈ = f_θ(q, q̇) with the same hidden widths, both trained on accelerations
// at states taken from true trajectories (as Cranmer et al. do). Each model is then rolled out
// (rk4) from unseen initial states and the true energy of its trajectory is tracked: the LNN
// conserves its own energy Σ q̇ ∂L/∂q̇ − L, so its true-energy error stays small, while the
// baseline's drifts. A training step (loss + gradient over a batch) of the LNN is timed against
// a Hamiltonian network of the same width (nde::hamiltonian_field) and the baseline.
//
//   lagrangian [--iters 4000] [--hidden 128] [--batch 128] [--lr 1e-3] [--trajectories 40]
//              [--t-train 4] [--tests 6] [--t-test 20] [--dt 0.01] [--timing-reps 30]
//              [--seed 0] [--report-every 500] [--out out/lagrangian]
//
// Writes <out>/loss.csv, <out>/energy.csv, <out>/trajectory.csv and, when matplotlib is present,
// <out>/lagrangian.png. Energy drift = mean over test states and output times of
// |E(y_model(t)) − E(y0)| with E the true energy (J).
#include <nde/integrate/save_at.hpp>
#include <nde/models/hamiltonian.hpp>
#include <nde/models/lagrangian.hpp>
#include <nde/nde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/optim/adam.hpp>
#include <nde/optim/clip.hpp>

#include "example_support.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using matrix = Eigen::MatrixXd;
using state = Eigen::Vector4d;  // [θ1, θ2, ω1, ω2]
constexpr int dyn = Eigen::Dynamic;
using scalar_net = nde::nn::mlp<nde::nn::softplus_activation, dyn, dyn, dyn, dyn>;

constexpr double g = 9.8, m1 = 1, m2 = 1, l1 = 1, l2 = 1;

// Euler–Lagrange accelerations of the double pendulum (angles from the vertical).
Eigen::Vector2d true_acceleration(const state& y) {
  const double t1 = y[0], t2 = y[1], w1 = y[2], w2 = y[3];
  const double a1 = (l2 / l1) * (m2 / (m1 + m2)) * std::cos(t1 - t2);
  const double a2 = (l1 / l2) * std::cos(t1 - t2);
  const double f1 =
      -(l2 / l1) * (m2 / (m1 + m2)) * w2 * w2 * std::sin(t1 - t2) - (g / l1) * std::sin(t1);
  const double f2 = (l1 / l2) * w1 * w1 * std::sin(t1 - t2) - (g / l2) * std::sin(t2);
  return {(f1 - a1 * f2) / (1 - a1 * a2), (f2 - a2 * f1) / (1 - a1 * a2)};
}

double true_energy(const state& y) {
  const double t1 = y[0], t2 = y[1], w1 = y[2], w2 = y[3];
  const double kinetic = 0.5 * (m1 + m2) * l1 * l1 * w1 * w1 + 0.5 * m2 * l2 * l2 * w2 * w2 +
                         m2 * l1 * l2 * w1 * w2 * std::cos(t1 - t2);
  const double potential = -(m1 + m2) * g * l1 * std::cos(t1) - m2 * g * l2 * std::cos(t2);
  return kinetic + potential;
}

void true_field(double, const state& y, state& dydt) {
  dydt.head<2>() = y.tail<2>();
  dydt.tail<2>() = true_acceleration(y);
}

// The baseline as a vector field: [q̇; f_θ(q, q̇)].
struct baseline_field {
  explicit baseline_field(scalar_net n) : net(std::move(n)) {}
  scalar_net net;
  decltype(std::declval<const scalar_net&>().make_workspace<double>()) ws =
      net.make_workspace<double>();
  Eigen::VectorXd out;
  [[nodiscard]] Eigen::Index num_params() const { return net.num_params(); }
  void operator()(double, const state& y, nde::params_view<double> theta, state& dydt) {
    net.forward(theta, y, out, ws);
    dydt.head<2>() = y.tail<2>();
    dydt.tail<2>() = out;
  }
};

state random_initial_state(std::mt19937_64& engine) {
  return state(nde::nn::uniform(engine, -1.2, 1.2), nde::nn::uniform(engine, -1.2, 1.2),
               nde::nn::uniform(engine, -0.5, 0.5), nde::nn::uniform(engine, -0.5, 0.5));
}

std::vector<double> grid(double t_end, double spacing) {
  const int n = std::max(1, int(std::lround(t_end / spacing)));
  std::vector<double> ts(std::size_t(n) + 1);
  for (int i = 0; i <= n; ++i) ts[std::size_t(i)] = t_end * i / n;
  return ts;
}

std::vector<state> true_trajectory(const state& y0, const std::vector<double>& ts) {
  return nde::solve_or_throw(true_field, nde::dopri5{}, 0.0, ts.back(), y0,
                             {.save_at = nde::save_at::times(ts),
                              .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-10}})
      .ys;
}

Eigen::VectorXd init_params(const scalar_net& net, std::mt19937_64& engine) {
  Eigen::VectorXd theta(net.num_params());
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  return theta;
}

// One training step's loss and gradient (mean squared acceleration error over the batch).
struct lnn_model {
  nde::lagrangian_field<scalar_net, matrix> field;
  matrix out, a_y, w;
  double loss_and_gradient(const matrix& y, const matrix& target, const Eigen::VectorXd& theta,
                           Eigen::VectorXd& grad) {
    field(0.0, y, nde::params_view<double>(theta), out);
    const matrix residual = out.bottomRows(2) - target;
    w.setZero(4, y.cols());
    w.bottomRows(2) = (2.0 / double(y.cols())) * residual;
    grad.setZero();
    field.vjp(0.0, y, nde::params_view<double>(theta), w, a_y, nde::params_ref<double>(grad));
    return residual.squaredNorm() / double(y.cols());
  }
};

struct baseline_model {
  explicit baseline_model(scalar_net n) : net(std::move(n)) {}
  scalar_net net;
  decltype(std::declval<const scalar_net&>().make_workspace<double>(1)) ws =
      net.make_workspace<double>(1);
  matrix out, dx;
  double loss_and_gradient(const matrix& y, const matrix& target, const Eigen::VectorXd& theta,
                           Eigen::VectorXd& grad) {
    if (ws.capacity() < y.cols()) ws = net.make_workspace<double>(y.cols());
    net.forward(theta, y, out, ws);
    const matrix residual = out - target;
    grad.setZero();
    const matrix dy = (2.0 / double(y.cols())) * residual;
    net.backward(theta, y, dy, dx, grad, ws);
    return residual.squaredNorm() / double(y.cols());
  }
};

struct settings {
  int iters, hidden, batch, trajectories, tests, timing_reps, seed, report_every;
  double lr, t_train, t_test, dt;
  std::filesystem::path out;
};

struct training_data {
  matrix states, accelerations;
};

template <class Model>
std::vector<double> train(Model& model, Eigen::VectorXd& theta, const training_data& data,
                          const settings& s, const char* name, int& skipped) {
  nde::optim::adam<double> optimiser(theta.size(), {.learning_rate = s.lr});
  std::mt19937_64 engine(std::uint64_t(s.seed) + 17);
  std::uniform_int_distribution<Eigen::Index> pick(0, data.states.cols() - 1);
  matrix y(4, s.batch), target(2, s.batch);
  Eigen::VectorXd grad(theta.size());
  std::vector<double> losses;
  skipped = 0;
  const examples::stopwatch clock;
  for (int it = 1; it <= s.iters; ++it) {
    // Cosine decay of the learning rate to 1% of its start.
    const double progress = double(it - 1) / double(std::max(1, s.iters - 1));
    optimiser.set_learning_rate(s.lr *
                                (0.01 + 0.99 * 0.5 * (1 + std::cos(std::numbers::pi * progress))));
    for (int b = 0; b < s.batch; ++b) {
      const Eigen::Index k = pick(engine);
      y.col(b) = data.states.col(k);
      target.col(b) = data.accelerations.col(k);
    }
    double loss = 0;
    try {
      loss = model.loss_and_gradient(y, target, theta, grad);
    } catch (const nde::error& e) {
      // A batch where the learned velocity Hessian is singular: skip it, and say so.
      ++skipped;
      if (skipped <= 3) std::printf("  %s: step %d skipped: %s\n", name, it, e.what());
      continue;
    }
    nde::optim::clip_by_global_norm(grad, 100.0);
    if (optimiser.step(theta, grad) != nde::status::success) {
      ++skipped;
      continue;
    }
    losses.push_back(loss);
    if (it % s.report_every == 0 || it == s.iters)
      std::printf("  %-8s iter %5d  loss %.4e  (%.1f s)\n", name, it, loss, clock.seconds());
  }
  return losses;
}

// Median wall time (ms) of one loss + gradient over a batch.
template <class Step>
double time_step(Step&& step, int reps) {
  std::vector<double> ms;
  for (int r = 0; r < reps + 2; ++r) {
    const auto start = std::chrono::steady_clock::now();
    step();
    const auto stop = std::chrono::steady_clock::now();
    if (r >= 2) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

struct rollout_result {
  std::vector<state> ys;
  bool ok = true;
  std::string message;
};

template <class Field>
rollout_result rollout(Field& field, const Eigen::VectorXd& theta, const state& y0,
                       const std::vector<double>& ts, double dt) {
  const auto sol = nde::solve(field, nde::rk4{}, 0.0, ts.back(), y0, theta,
                              {.save_at = nde::save_at::times(ts),
                               .controller = nde::constant_step{.dt = dt},
                               .max_steps = 10000000});
  return {sol.ys, sol.status == nde::status::success, sol.message};
}

}  // namespace

int main(int argc, char** argv) try {
  examples::options opts("lagrangian",
                         "double pendulum: Lagrangian neural network vs unstructured baseline");
  opts.add("iters", "4000", "Adam steps per model")
      .add("hidden", "128", "width of both hidden layers (all models)")
      .add("batch", "128", "states per training step")
      .add("lr", "1e-3", "initial Adam learning rate (cosine decay to 1%)")
      .add("trajectories", "40", "training trajectories")
      .add("t-train", "4", "length of each training trajectory (s)")
      .add("tests", "6", "test initial states (rollouts)")
      .add("t-test", "20", "rollout length (s)")
      .add("dt", "0.01", "rk4 step of the rollouts (s)")
      .add("timing-reps", "30", "repetitions of the timed training step")
      .add("seed", "0", "random seed")
      .add("report-every", "500", "progress line every N steps")
      .add("out", "out/lagrangian", "output folder");
  if (!opts.parse(argc, argv)) return 0;
  const settings s{opts.integer("iters"), opts.integer("hidden"),
                   opts.integer("batch"), opts.integer("trajectories"),
                   opts.integer("tests"), opts.integer("timing-reps"),
                   opts.integer("seed"),  std::max(1, opts.integer("report-every")),
                   opts.real("lr"),       opts.real("t-train"),
                   opts.real("t-test"),   opts.real("dt"),
                   opts.str("out")};
  if (s.iters < 1 || s.hidden < 1 || s.batch < 1 || s.trajectories < 1 || s.tests < 1 ||
      s.timing_reps < 1 || !(s.t_train > 0) || !(s.t_test > 0) || !(s.dt > 0))
    throw std::invalid_argument("sizes, counts and times must be positive");
  std::mt19937_64 engine(std::uint64_t(s.seed));

  // Training data: states along true trajectories and their accelerations.
  std::printf("data: %d trajectories of %.1f s (dopri5, rtol 1e-10)\n", s.trajectories, s.t_train);
  const auto train_ts = grid(s.t_train, 0.05);
  training_data data;
  data.states.resize(4, Eigen::Index(s.trajectories) * Eigen::Index(train_ts.size()));
  data.accelerations.resize(2, data.states.cols());
  Eigen::Index column = 0;
  for (int k = 0; k < s.trajectories; ++k) {
    for (const auto& y : true_trajectory(random_initial_state(engine), train_ts)) {
      data.states.col(column) = y;
      data.accelerations.col(column++) = true_acceleration(y);
    }
  }

  const Eigen::Index h = s.hidden;
  const scalar_net lagrangian_net({4, h, h, 1}), baseline_net({4, h, h, 2});
  Eigen::VectorXd theta_lnn = init_params(lagrangian_net, engine);
  Eigen::VectorXd theta_base = init_params(baseline_net, engine);
  std::printf(
      "models: LNN L(q, q̇) 4-%ld-%ld-1 (%ld parameters), baseline q̈ = f(q, q̇) "
      "4-%ld-%ld-2 (%ld parameters), softplus\n",
      long(h), long(h), long(theta_lnn.size()), long(h), long(h), long(theta_base.size()));

  lnn_model lnn{nde::lagrangian_field<scalar_net, matrix>(lagrangian_net), {}, {}, {}};
  baseline_model base(baseline_net);
  int skipped_lnn = 0, skipped_base = 0;
  std::printf("training on accelerations (%d steps, batch %d)\n", s.iters, s.batch);
  const auto loss_lnn = train(lnn, theta_lnn, data, s, "LNN", skipped_lnn);
  const auto loss_base = train(base, theta_base, data, s, "baseline", skipped_base);
  if (skipped_lnn + skipped_base > 0)
    std::printf("skipped steps: LNN %d, baseline %d\n", skipped_lnn, skipped_base);

  // Time per training step on one batch: LNN, HNN of the same width, baseline.
  matrix y_batch = data.states.leftCols(std::min<Eigen::Index>(s.batch, data.states.cols()));
  matrix t_batch = data.accelerations.leftCols(y_batch.cols());
  Eigen::VectorXd grad_lnn(theta_lnn.size()), grad_base(theta_base.size());
  const double step_lnn = time_step(
      [&] { lnn.loss_and_gradient(y_batch, t_batch, theta_lnn, grad_lnn); }, s.timing_reps);
  const double step_base = time_step(
      [&] { base.loss_and_gradient(y_batch, t_batch, theta_base, grad_base); }, s.timing_reps);
  nde::hamiltonian_field<scalar_net, matrix> hnn(lagrangian_net);
  matrix h_out, h_w, h_ay;
  Eigen::VectorXd grad_hnn(theta_lnn.size());
  const double step_hnn = time_step(
      [&] {
        hnn(0.0, y_batch, nde::params_view<double>(theta_lnn), h_out);
        h_w = matrix::Zero(4, y_batch.cols());
        h_w.bottomRows(2) = (2.0 / double(y_batch.cols())) * (h_out.bottomRows(2) - t_batch);
        grad_hnn.setZero();
        hnn.vjp(0.0, y_batch, nde::params_view<double>(theta_lnn), h_w, h_ay,
                nde::params_ref<double>(grad_hnn));
      },
      s.timing_reps);
  std::printf(
      "time per training step (batch %ld, median of %d): LNN %.3f ms, HNN %.3f ms, "
      "baseline %.3f ms\n",
      long(y_batch.cols()), s.timing_reps, step_lnn, step_hnn, step_base);

  // Long rollouts from unseen initial states: true energy of each model's trajectory.
  const auto test_ts = grid(s.t_test, 0.05);
  nde::lagrangian_field<scalar_net, state> lnn_field(lagrangian_net);
  nde::ode_term<baseline_field> base_field{baseline_field(baseline_net)};
  std::vector<double> err_lnn(test_ts.size(), 0), err_base(test_ts.size(), 0);
  std::vector<std::vector<double>> traj(7, std::vector<double>(test_ts.size()));
  std::vector<double> e_truth0(test_ts.size()), e_lnn0(test_ts.size()), e_base0(test_ts.size());
  double drift_lnn = 0, drift_base = 0;
  int failed_lnn = 0, failed_base = 0;
  for (int k = 0; k < s.tests; ++k) {
    const state y0 = random_initial_state(engine);
    const double e0 = true_energy(y0);
    const auto truth = true_trajectory(y0, test_ts);
    const auto a = rollout(lnn_field, theta_lnn, y0, test_ts, s.dt);
    const auto b = rollout(base_field, theta_base, y0, test_ts, s.dt);
    if (!a.ok) {
      ++failed_lnn;
      std::printf("  test %d: LNN rollout stopped: %s\n", k, a.message.c_str());
    }
    if (!b.ok) {
      ++failed_base;
      std::printf("  test %d: baseline rollout stopped: %s\n", k, b.message.c_str());
    }
    double dl = 0, db = 0;
    for (std::size_t i = 0; i < test_ts.size(); ++i) {
      // A rollout that stopped counts with its last state's error from then on.
      const state& ya = a.ys[std::min(i, a.ys.size() - 1)];
      const state& yb = b.ys[std::min(i, b.ys.size() - 1)];
      const double el = std::abs(true_energy(ya) - e0), eb = std::abs(true_energy(yb) - e0);
      err_lnn[i] += el / s.tests;
      err_base[i] += eb / s.tests;
      dl += el / double(test_ts.size());
      db += eb / double(test_ts.size());
      if (k == 0) {
        traj[0][i] = test_ts[i];
        traj[1][i] = truth[i][0];
        traj[2][i] = truth[i][1];
        traj[3][i] = ya[0];
        traj[4][i] = ya[1];
        traj[5][i] = yb[0];
        traj[6][i] = yb[1];
        e_truth0[i] = true_energy(truth[i]);
        e_lnn0[i] = true_energy(ya);
        e_base0[i] = true_energy(yb);
      }
    }
    std::printf("  test %d: E0 = %8.4f J, mean |ΔE|: LNN %.4e, baseline %.4e\n", k, e0, dl, db);
    drift_lnn += dl / s.tests;
    drift_base += db / s.tests;
  }

  std::vector<double> it_lnn(loss_lnn.size()), it_base(loss_base.size());
  for (std::size_t i = 0; i < it_lnn.size(); ++i) it_lnn[i] = double(i + 1);
  std::vector<double> loss_base_aligned(loss_lnn.size(), NAN);
  for (std::size_t i = 0; i < std::min(loss_lnn.size(), loss_base.size()); ++i)
    loss_base_aligned[i] = loss_base[i];
  examples::write_csv(s.out / "loss.csv", {"step", "lnn", "baseline"},
                      {it_lnn, loss_lnn, loss_base_aligned});
  examples::write_csv(s.out / "energy.csv",
                      {"t", "mean_abs_error_lnn", "mean_abs_error_baseline", "truth_test0",
                       "lnn_test0", "baseline_test0"},
                      {traj[0], err_lnn, err_base, e_truth0, e_lnn0, e_base0});
  examples::write_csv(
      s.out / "trajectory.csv",
      {"t", "truth_q1", "truth_q2", "lnn_q1", "lnn_q2", "baseline_q1", "baseline_q2"}, traj);
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("figure: %s\n", (s.out / "lagrangian.png").string().c_str());
  std::printf(
      "result: energy_drift_lnn=%.4e energy_drift_baseline=%.4e step_ms_lnn=%.3f "
      "step_ms_hnn=%.3f step_ms_baseline=%.3f failed_rollouts_lnn=%d "
      "failed_rollouts_baseline=%d\n",
      drift_lnn, drift_base, step_lnn, step_hnn, step_base, failed_lnn, failed_base);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "lagrangian: %s\n", e.what());
  return 1;
}
