// Conditional flow matching on 2-D toy data (Lipman et al. 2023; Tong et al. 2024, the torchcfm
// notebooks): a [x; t] → v MLP with three hidden layers of 64 units (torchcfm's toy MLP; tanh
// here so the same network gives the exact CNF log-density), σ = 0.1, batches of 256, Adam with
// lr 1e-3, 20,000 steps.
//
// Tasks: "moons" (source 8 gaussians, target two moons: torchcfm's setting) and "gaussians"
// (source N(0, I), target 8 gaussians); the data sets are the library's FFJORD toy densities.
// Each task is trained twice: OT-CFM (exact minibatch OT pairing) and I-CFM (independent
// pairing). Evaluation on fresh samples: W2 between the generated and target samples with ONE
// Euler step and with dopri5 (rtol = atol = 1e-5), and the exact NLL of test targets under the
// flow (the CNF change of variables from t = 1 back to t = 0, with the source's closed-form
// log-density).
//
// Run:  flow_matching [--steps 20000] [--tasks moons,gaussians] [--out DIR]
// Writes <task>_<pairing>_{train,samples,trajectories}.csv and flow_matching.png (plot.py).
// Last lines, one per task and pairing:
//   result: task=<moons|gaussians> pairing=<ot|independent> w2_euler1=<x> w2_adaptive=<x> nll=<x>
#include <nde/datasets/toy.hpp>
#include <nde/models/flow_matching.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/optim/adam.hpp>
#include <nde/ot/wasserstein.hpp>

#include <example_support.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace nn = nde::nn;
constexpr int dyn = Eigen::Dynamic;
using net_type = nn::mlp<nn::tanh_activation, dyn, dyn, dyn, dyn, dyn>;
using model_type = nde::flow_matching<net_type>;

struct settings {
  int steps = 20000, batch = 256, hidden = 64, eval = 1000, trajectories = 40, report_every = 1000;
  double lr = 1e-3, sigma = 0.1, tol = 1e-5;
  unsigned seed = 0;
  std::vector<std::string> tasks{"moons", "gaussians"};
  std::filesystem::path out;
};

Eigen::MatrixXd standard_normal(Eigen::Index n, std::mt19937_64& rng) {
  Eigen::MatrixXd x(2, n);
  for (Eigen::Index j = 0; j < x.size(); ++j) x.data()[j] = nn::standard_normal(rng);
  return x;
}

// Source and target of a task, and the source's log-density.
Eigen::MatrixXd source(const std::string& task, Eigen::Index n, std::mt19937_64& rng) {
  return task == "moons" ? nde::datasets::eight_gaussians(n, rng) : standard_normal(n, rng);
}
Eigen::MatrixXd target(const std::string& task, Eigen::Index n, std::mt19937_64& rng) {
  return task == "moons" ? nde::datasets::two_moons(n, rng)
                         : nde::datasets::eight_gaussians(n, rng);
}
Eigen::VectorXd source_log_density(const std::string& task, const Eigen::MatrixXd& z) {
  return task == "moons" ? nde::datasets::eight_gaussians_log_density(z)
                         : nde::standard_normal_log_density(z);
}

std::string run(const std::string& task, nde::fm_pairing pairing, const settings& s,
                std::mt19937_64& rng) {
  const std::string pname = pairing == nde::fm_pairing::exact_ot ? "ot" : "independent";
  const std::string tag = task + "_" + pname;
  const net_type net({3, s.hidden, s.hidden, s.hidden, 2});
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  model_type fm(net, theta, {.sigma = s.sigma, .pairing = pairing});
  nde::optim::adam<double> adam(theta.size(), {.learning_rate = s.lr});
  const examples::stopwatch clock;
  std::vector<double> iters, losses;
  double window = 0;
  int count = 0;
  for (int it = 1; it <= s.steps; ++it) {
    const Eigen::MatrixXd x0 = source(task, s.batch, rng);
    const Eigen::MatrixXd x1 = target(task, s.batch, rng);
    const auto l = fm.loss_and_gradient(x0, x1, rng);
    adam.step(fm.params(), l.gradient);
    iters.push_back(it);
    losses.push_back(l.loss);
    window += l.loss;
    ++count;
    if (it % s.report_every == 0 || it == s.steps) {
      std::printf("  %-22s step %6d  loss %.4f  (%.1f s)\n", tag.c_str(), it, window / count,
                  clock.seconds());
      std::fflush(stdout);
      window = 0;
      count = 0;
    }
  }
  examples::write_csv(s.out / (tag + "_train.csv"), {"step", "loss"}, {iters, losses});

  // W2 of generated against fresh target samples, one Euler step and dopri5.
  const Eigen::MatrixXd x0 = source(task, s.eval, rng);
  const Eigen::MatrixXd truth = target(task, s.eval, rng);
  const auto euler = fm.sample(x0, {.method = nde::fm_sampler::euler_steps, .steps = 1});
  const auto adaptive =
      fm.sample(x0, {.method = nde::fm_sampler::adaptive, .rtol = s.tol, .atol = s.tol});
  const double w2_euler = nde::ot::wasserstein2(euler.x, truth);
  const double w2_adaptive = nde::ot::wasserstein2(adaptive.x, truth);
  // Exact NLL of fresh test targets.
  const Eigen::MatrixXd test = target(task, s.eval, rng);
  const double nll =
      -fm.log_density(
             test, [&](const Eigen::MatrixXd& z) { return source_log_density(task, z); }, rng,
             s.tol, s.tol)
           .mean();
  std::printf("%s: w2 one Euler step %.4f, w2 dopri5 %.4f (%lld NFE), nll %.4f nats, %.1f s\n",
              tag.c_str(), w2_euler, w2_adaptive, static_cast<long long>(adaptive.nfe), nll,
              clock.seconds());
  examples::write_point_sets<Eigen::MatrixXd>(s.out / (tag + "_samples.csv"),
                                              {"source", "euler1", "adaptive", "target"},
                                              {&x0, &euler.x, &adaptive.x, &truth});

  // Trajectories of a few samples at 21 times (dopri5).
  std::vector<double> times;
  for (int k = 0; k <= 20; ++k) times.push_back(k / 20.0);
  const Eigen::MatrixXd start = x0.leftCols(std::min<Eigen::Index>(s.trajectories, s.eval));
  const auto traj = fm.sample(
      start,
      {.method = nde::fm_sampler::adaptive, .rtol = s.tol, .atol = s.tol, .save_times = times});
  std::vector<double> id, tt, px, py;
  for (std::size_t k = 0; k < traj.ts.size(); ++k)
    for (Eigen::Index j = 0; j < start.cols(); ++j) {
      id.push_back(double(j));
      tt.push_back(traj.ts[k]);
      px.push_back(traj.trajectory[k](0, j));
      py.push_back(traj.trajectory[k](1, j));
    }
  examples::write_csv(s.out / (tag + "_trajectories.csv"), {"sample", "t", "x", "y"},
                      {id, tt, px, py});

  char line[256];
  std::snprintf(line, sizeof line,
                "result: task=%s pairing=%s w2_euler1=%.4f w2_adaptive=%.4f nll=%.4f", task.c_str(),
                pname.c_str(), w2_euler, w2_adaptive, nll);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opt("flow_matching",
                        "conditional flow matching (OT-CFM vs I-CFM) on 2-D toy data");
  opt.add("steps", "20000", "training steps per run (torchcfm's notebooks: 20000)")
      .add("tasks", "moons,gaussians",
           "comma-separated: moons (8 gaussians -> moons), gaussians (N(0, I) -> 8 gaussians)")
      .add("sigma", "0.1", "path noise sigma (torchcfm's notebooks: 0.1)")
      .add("batch", "256", "samples per step")
      .add("hidden", "64", "width of the three hidden layers")
      .add("lr", "1e-3", "Adam learning rate")
      .add("eval", "1000", "samples for W2 and the NLL")
      .add("trajectories", "40", "trajectories written for the figure")
      .add("seed", "0", "random seed")
      .add("report-every", "1000", "steps between progress lines")
      .add("out", "out/flow_matching", "output directory");
  try {
    if (!opt.parse(argc, argv)) return 0;
    settings s;
    s.steps = opt.integer("steps");
    s.tasks = examples::split_list(opt.str("tasks"));
    s.sigma = opt.real("sigma");
    s.batch = opt.integer("batch");
    s.hidden = opt.integer("hidden");
    s.lr = opt.real("lr");
    s.eval = opt.integer("eval");
    s.trajectories = opt.integer("trajectories");
    s.seed = unsigned(opt.integer("seed"));
    s.report_every = opt.integer("report-every");
    s.out = opt.str("out");
    if (s.steps < 1 || s.batch < 1 || s.hidden < 1 || s.eval < 1 || s.trajectories < 1 ||
        s.report_every < 1 || !(s.lr > 0) || !(s.sigma >= 0) || s.tasks.empty())
      throw std::invalid_argument(
          "need --steps, --batch, --hidden, --eval, --trajectories, --report-every >= 1, "
          "--lr > 0, --sigma >= 0 and at least one task");
    for (const auto& t : s.tasks)
      if (t != "moons" && t != "gaussians")
        throw std::invalid_argument("unknown task '" + t + "' (moons or gaussians)");
    std::filesystem::create_directories(s.out);
    std::mt19937_64 rng(s.seed);
    std::vector<std::string> results;
    for (const auto& task : s.tasks)
      for (const auto pairing : {nde::fm_pairing::exact_ot, nde::fm_pairing::independent})
        results.push_back(run(task, pairing, s, rng));
    if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
      std::printf("wrote %s/flow_matching.png\n", s.out.string().c_str());
    for (const auto& line : results) std::printf("%s\n", line.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flow_matching: %s\n", e.what());
    return 1;
  }
  return 0;
}
