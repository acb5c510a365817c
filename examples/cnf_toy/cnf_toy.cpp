// FFJORD-style continuous normalising flows on 2-D toy data (Grathwohl et al. 2019, the
// authors' train_toy.py): a 2-64-64-64-2 tanh concat-squash network, T = 0.5, dopri5 with
// rtol = atol = 1e-5 forward and backward, the exact trace, the backsolve adjoint, Adam
// (lr 1e-3, weight decay 1e-5), batches of 100 fresh samples per iteration.
//
// For each data set (8 gaussians, two moons) the flow is trained twice: unregularised, and
// with RNODE's kinetic-energy and Jacobian-Frobenius penalties (Finlay et al. 2020; λ_K = λ_J =
// 0.01). Each run reports the test NLL (exact trace, fresh test samples), the data's
// differential entropy (Monte Carlo with the exact log-density for 8 gaussians and
// checkerboard, the quadrature log-density for the moons, a Kozachenko–Leonenko
// nearest-neighbour estimate for the other sets), and the mean NFE per training
// iteration (forward f evaluations + backward vjp evaluations) over the last quarter of training.
//
// Run:  cnf_toy [--iterations 10000] [--datasets 8gaussians,moons] [--regularised both] [--out DIR]
// Writes <dataset>_<run>_{train,density,samples}.csv and cnf_toy.png (plot.py). Last lines:
//   result: dataset=<name> test_nll=<x> entropy=<x> nfe=<x> [regularised=1]
#include <nde/datasets/toy.hpp>
#include <nde/models/cnf.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/optim/adam.hpp>

#include <example_support.hpp>
#include <ffjord_network.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace {

namespace nn = nde::nn;
using net_type = examples::ffjord_network;
using flow_type = nde::cnf<net_type, nde::exact_trace, nde::dopri5, nde::backsolve_adjoint>;

struct settings {
  int iterations = 10000, batch = 100, hidden = 64, report_every = 500, test = 5000, grid = 100;
  double lr = 1e-3, weight_decay = 1e-5, lambda = 0.01, tol = 1e-5;
  unsigned seed = 0;
  std::vector<std::string> datasets{"8gaussians", "moons"};
  std::vector<int> regularised{0, 1};
  std::filesystem::path out;
};

// Kozachenko–Leonenko entropy estimate in 2-D with the nearest neighbour (k = 1):
// H ≈ ψ(n) − ψ(1) + log(π) + (2/n) Σ log ρ_i, ρ_i the distance to the nearest other point
// (Kozachenko & Leonenko 1987; ψ(n) − ψ(1) = H_{n−1}, the harmonic number). O(n²).
double knn_entropy(const Eigen::MatrixXd& x) {
  const Eigen::Index n = x.cols();
  double sum_log = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (Eigen::Index j = 0; j < n; ++j)
      if (j != i) best = std::min(best, (x.col(i) - x.col(j)).squaredNorm());
    sum_log += 0.5 * std::log(best);
  }
  double harmonic = 0;
  for (Eigen::Index k = 1; k < n; ++k) harmonic += 1.0 / double(k);
  return harmonic + std::log(std::numbers::pi) + 2.0 * sum_log / double(n);
}

double entropy(const std::string& name, std::mt19937_64& rng) {
  if (name == "8gaussians") {
    const Eigen::MatrixXd x = nde::datasets::eight_gaussians(200000, rng);
    return -nde::datasets::eight_gaussians_log_density(x).mean();
  }
  if (name == "moons" || name == "two_moons") {
    const Eigen::MatrixXd x = nde::datasets::two_moons(100000, rng);
    return -nde::datasets::two_moons_log_density(x).mean();
  }
  if (name == "checkerboard") {
    const Eigen::MatrixXd x = nde::datasets::checkerboard(200000, rng);
    return -nde::datasets::checkerboard_log_density(x).mean();
  }
  return knn_entropy(nde::datasets::sample(name, 20000, rng));
}

struct run_result {
  double test_nll = 0, nfe = 0, seconds = 0;
};

run_result train(const std::string& name, bool regularised, const settings& s,
                 std::mt19937_64& rng) {
  const auto net = examples::make_ffjord_network(2, s.hidden);
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net.layout(), theta, rng);
  const double lambda = regularised ? s.lambda : 0.0;
  flow_type flow(net, theta, {},
                 {.t1 = 0.5,
                  .rtol = s.tol,
                  .atol = s.tol,
                  .kinetic_weight = lambda,
                  .jacobian_weight = lambda},
                 nde::backsolve_adjoint{.controller = {.rtol = s.tol, .atol = s.tol}});
  nde::optim::adam<double> adam(theta.size(),
                                {.learning_rate = s.lr, .weight_decay = s.weight_decay});
  const std::string tag = name + (regularised ? "_rnode" : "_plain");
  std::vector<double> iters, losses, nlls, nfes;
  const examples::stopwatch clock;
  double window_nfe = 0, window_loss = 0;
  int window = 0;
  for (int it = 1; it <= s.iterations; ++it) {
    const Eigen::MatrixXd x = nde::datasets::sample(name, s.batch, rng);
    const auto l = flow.loss_and_gradient(x, rng);
    if (!l.success())
      throw nde::error(l.status, tag + ": iteration " + std::to_string(it) + ": " + l.message);
    adam.step(flow.params(), l.gradient);
    const double nfe = double(l.stats.forward_rhs_evals + l.stats.backward_vjp_evals);
    iters.push_back(it);
    losses.push_back(l.loss);
    nlls.push_back(l.nll);
    nfes.push_back(nfe);
    window_nfe += nfe;
    window_loss += l.nll;
    ++window;
    if (it % s.report_every == 0 || it == s.iterations) {
      std::printf("  %-18s iter %6d  train nll %.3f  nfe %.1f  (%.0f s)\n", tag.c_str(), it,
                  window_loss / window, window_nfe / window, clock.seconds());
      std::fflush(stdout);
      window_nfe = window_loss = 0;
      window = 0;
    }
  }
  examples::write_csv(s.out / (tag + "_train.csv"), {"iteration", "loss", "nll", "nfe"},
                      {iters, losses, nlls, nfes});
  run_result r;
  r.seconds = clock.seconds();
  const std::size_t from = nfes.size() - std::max<std::size_t>(1, nfes.size() / 4);
  for (std::size_t i = from; i < nfes.size(); ++i) r.nfe += nfes[i] / double(nfes.size() - from);

  // Test NLL: fresh samples, the exact trace, in batches of 1000.
  double total = 0;
  for (int done = 0; done < s.test;) {
    const int n = std::min(1000, s.test - done);
    total -= flow.log_density(nde::datasets::sample(name, n, rng), rng).sum();
    done += n;
  }
  r.test_nll = total / double(s.test);

  // Density on a grid over [-4, 4]², and samples of the flow.
  std::vector<double> gx, gy, gl;
  Eigen::MatrixXd grid(2, s.grid * s.grid);
  for (int i = 0; i < s.grid; ++i)
    for (int j = 0; j < s.grid; ++j) {
      const double px = -4 + 8 * (i + 0.5) / s.grid, py = -4 + 8 * (j + 0.5) / s.grid;
      grid(0, i * s.grid + j) = px;
      grid(1, i * s.grid + j) = py;
    }
  for (Eigen::Index done = 0; done < grid.cols();) {
    const Eigen::Index n = std::min<Eigen::Index>(1000, grid.cols() - done);
    const Eigen::VectorXd lp = flow.log_density(grid.middleCols(done, n), rng);
    for (Eigen::Index k = 0; k < n; ++k) {
      gx.push_back(grid(0, done + k));
      gy.push_back(grid(1, done + k));
      gl.push_back(lp[k]);
    }
    done += n;
  }
  examples::write_csv(s.out / (tag + "_density.csv"), {"x", "y", "logp"}, {gx, gy, gl});
  const Eigen::MatrixXd samples = flow.sample(std::min(2000, s.test), rng);
  const Eigen::MatrixXd data = nde::datasets::sample(name, samples.cols(), rng);
  examples::write_point_sets<Eigen::MatrixXd>(s.out / (tag + "_samples.csv"), {"model", "data"},
                                              {&samples, &data});
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opt("cnf_toy", "FFJORD-style continuous normalising flows on 2-D toy data");
  opt.add("iterations", "10000", "training iterations per run (FFJORD's train_toy: 10000)")
      .add("datasets", "8gaussians,moons",
           "comma-separated: 8gaussians, moons, checkerboard, "
           "pinwheel, 2spirals, circles")
      .add("regularised", "both", "plain, rnode or both (RNODE: lambda_K = lambda_J = --lambda)")
      .add("lambda", "0.01", "RNODE weights")
      .add("batch", "100", "samples per iteration")
      .add("hidden", "64", "width of the three hidden layers")
      .add("lr", "1e-3", "Adam learning rate")
      .add("test", "5000", "test samples for the NLL")
      .add("grid", "100", "density grid points per axis for the figure")
      .add("seed", "0", "random seed")
      .add("report-every", "500", "iterations between progress lines")
      .add("out", "out/cnf_toy", "output directory");
  try {
    if (!opt.parse(argc, argv)) return 0;
    settings s;
    s.iterations = opt.integer("iterations");
    s.datasets = examples::split_list(opt.str("datasets"));
    const std::string reg = opt.str("regularised");
    if (reg == "plain") {
      s.regularised = {0};
    } else if (reg == "rnode") {
      s.regularised = {1};
    } else if (reg != "both") {
      throw std::invalid_argument("--regularised must be plain, rnode or both");
    }
    s.lambda = opt.real("lambda");
    s.batch = opt.integer("batch");
    s.hidden = opt.integer("hidden");
    s.lr = opt.real("lr");
    s.test = opt.integer("test");
    s.grid = opt.integer("grid");
    s.seed = unsigned(opt.integer("seed"));
    s.report_every = opt.integer("report-every");
    s.out = opt.str("out");
    if (s.iterations < 1 || s.batch < 1 || s.hidden < 1 || s.test < 1 || s.grid < 1 ||
        s.report_every < 1 || !(s.lr > 0) || !(s.lambda >= 0) || s.datasets.empty())
      throw std::invalid_argument(
          "need --iterations, --batch, --hidden, --test, --grid, --report-every >= 1, --lr > 0, "
          "--lambda >= 0 and at least one data set");
    for (const auto& name : s.datasets) (void)nde::datasets::toy_from_name(name);  // validates
    std::filesystem::create_directories(s.out);
    std::mt19937_64 rng(s.seed);
    std::vector<std::string> results;
    for (const auto& name : s.datasets) {
      std::mt19937_64 entropy_rng(s.seed + 1);
      const double h = entropy(name, entropy_rng);
      std::printf("%s: differential entropy %.3f nats (Monte Carlo)\n", name.c_str(), h);
      for (const int regularised : s.regularised) {
        const run_result r = train(name, regularised != 0, s, rng);
        std::printf("%s%s: test nll %.3f (entropy %.3f, gap %.3f), nfe %.1f, %.0f s\n",
                    name.c_str(), regularised ? " rnode" : "", r.test_nll, h, r.test_nll - h, r.nfe,
                    r.seconds);
        char line[256];
        std::snprintf(line, sizeof line, "result: dataset=%s test_nll=%.4f entropy=%.4f nfe=%.1f%s",
                      name.c_str(), r.test_nll, h, r.nfe, regularised ? " regularised=1" : "");
        results.emplace_back(line);
      }
    }
    if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
      std::printf("wrote %s/cnf_toy.png\n", s.out.string().c_str());
    for (const auto& line : results) std::printf("%s\n", line.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cnf_toy: %s\n", e.what());
    return 1;
  }
  return 0;
}
