// A K-block residual network h_{k+1} = h_k + (T/K) f_θ(h_k) is forward Euler with K steps on
// dh/dt = f_θ(h) over [0, T] (Haber & Ruthotto 2017; E 2017; Chen et al. 2018, section 2). With
// a fixed random 2-32-2 tanh network f_θ this program
//   1. runs the ResNet as an explicit loop over blocks (the network's forward, nothing else) and
//      nde::solve with nde::euler and constant_step{T/K}, and prints the largest difference
//      between the hidden states and the Euler states;
//   2. shows the K-block network converging to the ODE solution (dopri5 at rtol 1e-12) like 1/K;
//   3. finds how many function evaluations RK4 (fixed steps) and an adaptive method need for the
//      same error as each K-block network (one evaluation = one pass of the network, batched).
//
//   resnet_as_euler [--seed 0] [--solver dopri5|tsit5|bosh3] [--time 10] [--samples 64]
//                   [--max-blocks 4096] [--out out/resnet_as_euler]
//
// Writes <out>/identity.csv, convergence.csv, rk4.csv, adaptive.csv, trajectories.csv,
// summary.csv and, when matplotlib is present, <out>/resnet_as_euler.png.
#include <nde/nde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/testing/convergence.hpp>

#include "example_support.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using network = nde::nn::mlp<nde::nn::tanh_activation, 2, 32, 2>;
using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;
using field_type = nde::network_field<network, batch>;

struct settings {
  int seed, samples, max_blocks;
  double time;
  std::string solver;
  std::filesystem::path out;
};

// The field as nde::solve sees it: f(t, y, dydt) with the parameters bound.
struct bound_field {
  field_type* field;
  const Eigen::VectorXd* theta;
  void operator()(double t, const batch& y, batch& dydt) const {
    (*field)(t, y, nde::params_view<double>(*theta), dydt);
  }
};

// The ResNet, written as what it is: K residual blocks sharing the weights θ.
batch resnet(const network& net, const Eigen::VectorXd& theta, const batch& h0, int blocks,
             double time, std::vector<batch>* hidden = nullptr) {
  auto ws = net.make_workspace<double>(h0.cols());
  const double scale = time / blocks;
  batch h = h0, f(2, h0.cols());
  if (hidden) hidden->assign(1, h);
  for (int k = 0; k < blocks; ++k) {
    net.forward(theta, h, f, ws);
    h += scale * f;
    if (hidden) hidden->push_back(h);
  }
  return h;
}

double max_abs_difference(const batch& a, const batch& b) { return (a - b).cwiseAbs().maxCoeff(); }

template <class Method>
int run(const settings& s) {
  const examples::stopwatch clock;
  const network net;
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed));
  nde::nn::init_pytorch_default(net, theta, engine);
  // Initial states: a ring of radius 1.5 (deterministic, so runs differ only through --seed).
  batch y0(2, s.samples);
  for (int i = 0; i < s.samples; ++i) {
    const double angle = 2.0 * 3.14159265358979323846 * i / s.samples;
    y0.col(i) << 1.5 * std::cos(angle), 1.5 * std::sin(angle);
  }
  field_type field(net, s.samples);
  bound_field f{&field, &theta};

  // ---- reference ---------------------------------------------------------------------
  const auto reference =
      nde::solve_or_throw(f, nde::dopri5{}, 0.0, s.time, y0,
                          {.controller = nde::pid_controller{.rtol = 1e-12, .atol = 1e-12}});
  const batch& y_ref = reference.ys.back();
  std::printf("reference: dopri5 at rtol 1e-12, %zu evaluations (%.2f s)\n",
              reference.stats.rhs_evals, clock.seconds());

  // ---- 1. the ResNet is forward Euler ------------------------------------------------
  std::vector<int> blocks;
  for (int k = 1; k <= s.max_blocks; k *= 2) blocks.push_back(k);
  std::vector<double> id_blocks, id_difference;
  double worst = 0;
  for (int k : {1, 3, 7, 10, 64, 100, 1000, s.max_blocks}) {
    if (k > s.max_blocks) continue;
    std::vector<batch> hidden;
    resnet(net, theta, y0, k, s.time, &hidden);
    // Every hidden state h_k against the Euler state after k steps, not only the output.
    const auto euler = nde::solve_or_throw(f, nde::euler{}, 0.0, s.time, y0,
                                           {.save_at = nde::save_at::every_step(),
                                            .controller = nde::constant_step{.dt = s.time / k}});
    if (euler.ys.size() != hidden.size())
      throw std::logic_error("Euler took a different number of steps");
    double difference = 0;
    for (std::size_t i = 0; i < hidden.size(); ++i)
      difference = std::max(difference, max_abs_difference(hidden[i], euler.ys[i]));
    worst = std::max(worst, difference);
    id_blocks.push_back(k);
    id_difference.push_back(difference);
    std::printf(
        "K = %5d blocks: max |h_k - y_k| over all blocks and inputs = %.3g (Euler: %zu "
        "evaluations)\n",
        k, difference, euler.stats.rhs_evals);
  }
  std::printf("largest difference %.3g = %.1f x machine epsilon x max |y(T)|\n", worst,
              worst / (std::numeric_limits<double>::epsilon() * y_ref.cwiseAbs().maxCoeff()));
  std::fflush(stdout);

  // ---- 2. convergence in K -----------------------------------------------------------
  std::vector<double> conv_blocks, conv_error;
  for (int k : blocks) {
    const double error = max_abs_difference(resnet(net, theta, y0, k, s.time), y_ref);
    conv_blocks.push_back(k);
    conv_error.push_back(error);
    std::printf("K = %5d: max |h_K - y(T)| = %.3e  (%.2f s)\n", k, error, clock.seconds());
  }
  std::fflush(stdout);
  // Fit on the asymptotic range (K >= 8 where available) so the first, pre-asymptotic
  // networks do not bend the slope.
  std::size_t first = 0;
  while (first + 2 < conv_blocks.size() && conv_blocks[first] < 8) ++first;
  const auto fit = nde::testing::fit_convergence_order(std::span(conv_blocks).subspan(first),
                                                       std::span(conv_error).subspan(first));
  std::printf("fitted slope of log(error) against log(K), K >= %d: %.3f (forward Euler: -1)\n",
              int(conv_blocks[first]), fit.order);

  // ---- 3. the cost of the same error with higher-order methods ----------------------
  // RK4 with n constant steps, n = 1, 2, ..., and the adaptive method over a range of
  // tolerances; for each ResNet error, the cheapest run that is at least as accurate.
  std::vector<double> rk4_nfe, rk4_error, adaptive_nfe, adaptive_error, adaptive_rtol;
  for (int n = 1; n <= s.max_blocks; n = n < 16 ? n + 1 : n * 5 / 4) {
    const auto sol = nde::solve(f, nde::rk4{}, 0.0, s.time, y0,
                                {.controller = nde::constant_step{.dt = s.time / n}});
    if (!sol.success()) continue;  // a too-large step can overflow; that run simply does not count
    rk4_nfe.push_back(double(sol.stats.rhs_evals));
    rk4_error.push_back(max_abs_difference(sol.ys.back(), y_ref));
    if (rk4_error.back() < 1e-11) break;
  }
  for (double rtol = 1e-1; rtol >= 1e-10; rtol /= std::sqrt(10.0)) {
    const auto sol =
        nde::solve(f, Method{}, 0.0, s.time, y0,
                   {.controller = nde::pid_controller{.rtol = rtol, .atol = 1e-2 * rtol}});
    if (!sol.success()) continue;
    adaptive_nfe.push_back(double(sol.stats.rhs_evals));
    adaptive_error.push_back(max_abs_difference(sol.ys.back(), y_ref));
    adaptive_rtol.push_back(rtol);
  }
  auto cheapest = [](const std::vector<double>& nfe, const std::vector<double>& error,
                     double target) {
    double best = std::numeric_limits<double>::quiet_NaN();
    for (std::size_t i = 0; i < nfe.size(); ++i)
      if (error[i] <= target && !(nfe[i] >= best)) best = nfe[i];
    return best;
  };
  std::printf("\n%8s %12s %14s %14s\n", "K (NFE)", "error", "RK4 NFE", (s.solver + " NFE").c_str());
  std::vector<double> cost_rk4, cost_adaptive;
  for (std::size_t i = 0; i < conv_blocks.size(); ++i) {
    cost_rk4.push_back(cheapest(rk4_nfe, rk4_error, conv_error[i]));
    cost_adaptive.push_back(cheapest(adaptive_nfe, adaptive_error, conv_error[i]));
    std::printf("%8d %12.3e %14.0f %14.0f\n", int(conv_blocks[i]), conv_error[i], cost_rk4.back(),
                cost_adaptive.back());
  }

  // ---- output --------------------------------------------------------------------------
  std::filesystem::create_directories(s.out);
  examples::write_csv(s.out / "identity.csv", {"blocks", "max_difference"},
                      {id_blocks, id_difference});
  examples::write_csv(s.out / "convergence.csv", {"blocks", "error", "rk4_nfe", "adaptive_nfe"},
                      {conv_blocks, conv_error, cost_rk4, cost_adaptive});
  examples::write_csv(s.out / "summary.csv", {"slope", "first_fitted_blocks", "time"},
                      {{fit.order}, {conv_blocks[first]}, {s.time}});
  examples::write_csv(s.out / "rk4.csv", {"nfe", "error"}, {rk4_nfe, rk4_error});
  examples::write_csv(s.out / "adaptive.csv", {"nfe", "error", "rtol"},
                      {adaptive_nfe, adaptive_error, adaptive_rtol});
  // Hidden states of an 8-block network against the ODE trajectories, for the figure.
  const int shown = std::min(8, s.max_blocks);
  std::vector<batch> hidden;
  resnet(net, theta, y0, shown, s.time, &hidden);
  std::vector<double> ts;
  for (int i = 0; i <= 100; ++i) ts.push_back(s.time * i / 100);
  const auto dense =
      nde::solve_or_throw(f, nde::dopri5{}, 0.0, s.time, y0,
                          {.save_at = nde::save_at::times(ts),
                           .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
  std::vector<double> kind, sample, t_col, y1, y2;
  for (int j = 0; j < s.samples; ++j) {
    for (std::size_t i = 0; i < ts.size(); ++i) {
      kind.push_back(0);
      sample.push_back(j);
      t_col.push_back(ts[i]);
      y1.push_back(dense.ys[i](0, j));
      y2.push_back(dense.ys[i](1, j));
    }
    for (int k = 0; k <= shown; ++k) {
      kind.push_back(1);
      sample.push_back(j);
      t_col.push_back(s.time * k / shown);
      y1.push_back(hidden[k](0, j));
      y2.push_back(hidden[k](1, j));
    }
  }
  examples::write_csv(s.out / "trajectories.csv", {"resnet", "sample", "t", "y1", "y2"},
                      {kind, sample, t_col, y1, y2});
  std::printf("\nwrote %s/{identity,convergence,rk4,adaptive,trajectories,summary}.csv (%.1f s)\n",
              s.out.string().c_str(), clock.seconds());
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/resnet_as_euler.png\n", s.out.string().c_str());
  // At the largest K: the ResNet's cost (K evaluations) against RK4's and the adaptive
  // method's for the same error (NaN where no run of theirs was that coarse).
  std::printf(
      "result: identity_max_difference=%.3g convergence_slope=%.3f blocks=%d resnet_nfe=%d "
      "rk4_nfe=%.0f adaptive_nfe=%.0f\n",
      worst, fit.order, int(conv_blocks.back()), int(conv_blocks.back()), cost_rk4.back(),
      cost_adaptive.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt("resnet_as_euler", "a K-block ResNet is forward Euler with K steps");
    opt.add("seed", "0", "random seed of the network weights")
        .add("solver", "dopri5", "adaptive method to compare with: dopri5, tsit5 or bosh3")
        .add("time", "10", "time horizon T (the ResNet's step is T/K)")
        .add("samples", "64", "initial states (a ring of radius 1.5), solved as one batch")
        .add("max-blocks", "4096", "largest K (powers of two from 1)")
        .add("out", "out/resnet_as_euler", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const settings s{opt.integer("seed"), opt.integer("samples"), opt.integer("max-blocks"),
                     opt.real("time"),    opt.str("solver"),      opt.str("out")};
    if (s.samples < 1 || s.samples > 100000 || s.max_blocks < 4 || s.max_blocks > (1 << 20) ||
        !(s.time > 0) || !std::isfinite(s.time))
      throw std::invalid_argument(
          "need 1 <= samples <= 100000, 4 <= max-blocks <= 2^20 and a positive finite time");
    std::printf(
        "resnet_as_euler: 2-32-2 tanh network (seed %d), T = %g, %d initial states, K up to %d\n",
        s.seed, s.time, s.samples, s.max_blocks);
    if (s.solver == "dopri5") return run<nde::dopri5>(s);
    if (s.solver == "tsit5") return run<nde::tsit5>(s);
    if (s.solver == "bosh3") return run<nde::bosh3>(s);
    throw std::invalid_argument("--solver must be dopri5, tsit5 or bosh3 (got '" + s.solver + "')");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resnet_as_euler: %s\n", e.what());
    return 2;
  }
}
