// A pendulum θ'' = -(g/L) sin θ - friction(θ') whose friction law is unknown. A hybrid model
// (the known gravity term through nde::autodiff_field, plus a small tanh network, summed by
// nde::sum_field: a universal differential equation, Rackauckas et al. 2020) and a pure
// network with the same architecture and no physics are trained on the same data, for
// several training-set sizes, and tested on trajectories from unseen initial states.
//
//   hybrid_physics [--iters 1500] [--seed 0] [--solver dopri5|tsit5|bosh3|rk4]
//                  [--gradient backsolve|checkpointed|discrete] [--sizes 1,2,4,8]
//                  [--out out/hybrid_physics]
//
// Writes <out>/errors.csv, <out>/friction.csv, <out>/loss.csv and, when matplotlib is present,
// <out>/hybrid_physics.png.
#include <nde/nde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/training/fit.hpp>

#include "example_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using state = Eigen::Vector2d;                           // (θ, ω = θ')
using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;  // columns: training windows
using network = nde::nn::mlp<nde::nn::tanh_activation, 2, 32, 2>;

constexpr double gravity_over_length = 9.81;  // g/L for L = 1 m: the known physics
constexpr double t_end = 4.0;                 // each trajectory is sampled on [0, t_end]
constexpr int samples = 41;                   // every 0.1 s

// The friction the models do not know: viscous plus smoothed Coulomb friction.
double true_friction(double omega) { return 0.3 * omega + 0.6 * std::tanh(3.0 * omega); }

void true_field(double, const state& y, state& dydt) {
  dydt[0] = y[1];
  dydt[1] = -gravity_over_length * std::sin(y[0]) - true_friction(y[1]);
}

// The known part, written once over its scalar so autodiff_field derives its vjp.
struct gravity {
  template <class T, class Y, class Theta, class Dydt>
  void operator()(T, const Y& y, const Theta&, Dydt& dydt) const {
    using std::sin;
    dydt[0] = y[1];
    dydt[1] = -gravity_over_length * sin(y[0]);
  }
};

// The two models, as field factories for single states (testing) and batches (training).
struct hybrid_model {
  static constexpr const char* name = "hybrid";
  template <class State>
  static auto field(const network& net) {
    using physics = nde::autodiff_field<State, gravity>;
    using learned = nde::network_field<network, State>;
    return nde::sum_field<physics, learned, State>(physics(gravity{}, 0), learned(net));
  }
};

struct pure_model {
  static constexpr const char* name = "pure";
  template <class State>
  static auto field(const network& net) {
    return nde::network_field<network, State>(net);
  }
};

struct trajectory {
  state y0;                     // the true initial state
  std::vector<state> truth;     // at the sample times
  std::vector<state> observed;  // truth plus noise
};

std::vector<double> sample_times() {
  std::vector<double> ts(samples);
  for (int i = 0; i < samples; ++i) ts[i] = t_end * i / (samples - 1);
  return ts;
}

// Initial states with |θ0|, |ω0| ≤ 2: the pendulum swings but never goes over the top.
std::vector<trajectory> make_trajectories(int count, double noise, std::mt19937_64& engine) {
  const auto ts = sample_times();
  std::vector<trajectory> out;
  for (int k = 0; k < count; ++k) {
    trajectory tr;
    tr.y0 = state(nde::nn::uniform(engine, -2.0, 2.0), nde::nn::uniform(engine, -2.0, 2.0));
    tr.truth =
        nde::solve_or_throw(true_field, nde::dopri5{}, 0.0, t_end, tr.y0,
                            {.save_at = nde::save_at::times(ts),
                             .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}})
            .ys;
    for (const auto& y : tr.truth)
      tr.observed.push_back(
          y + noise * state(nde::nn::standard_normal(engine), nde::nn::standard_normal(engine)));
    out.push_back(std::move(tr));
  }
  return out;
}

struct settings {
  int iters, seed, test_trajectories, batch_size, window, report_every;
  double noise, learning_rate;
  std::vector<int> sizes;
  std::string solver, gradient;
  std::filesystem::path out;
};

template <class Method>
nde::neural_ode_options forward_options() {
  nde::neural_ode_options options;
  if constexpr (Method::adaptive) {
    options.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-8};
  } else {
    options.controller = nde::constant_step{.dt = 0.02};
  }
  options.max_steps = 20000;  // an untrained pure network can be stiff; fail fast instead
  return options;
}

template <class Gradient>
Gradient make_gradient() {
  Gradient gradient{};
  if constexpr (!std::is_same_v<Gradient, nde::discrete_adjoint>)
    gradient.controller = {.rtol = 1e-6, .atol = 1e-8};
  return gradient;
}

struct trained {
  Eigen::VectorXd params;
  std::vector<double> loss;  // batch loss at every iteration
  double test_error = 0;     // RMS over the test trajectories, from their true initial states
};

// RMS error of the model rolled out over [0, t_end] from each test trajectory's true initial
// state; infinity when a roll-out fails (a pure network can blow up away from its data).
template <class Method, class Model>
double test_error(const network& net, const Eigen::VectorXd& params,
                  const std::vector<trajectory>& tests) {
  using field = decltype(Model::template field<state>(net));
  nde::neural_ode<field, Method, nde::discrete_adjoint, state> model(
      Model::template field<state>(net), params, {}, forward_options<Method>());
  const auto ts = sample_times();
  double sum = 0;
  std::size_t count = 0;
  for (const auto& tr : tests) {
    const auto& fr = model.forward(tr.y0, ts);
    if (fr.status != nde::status::success) return std::numeric_limits<double>::infinity();
    for (std::size_t i = 1; i < ts.size(); ++i, ++count)
      sum += (fr.ys[i] - tr.truth[i]).squaredNorm();
  }
  return std::sqrt(sum / (2.0 * double(count)));
}

// Adam on mini-batches of short windows (s.window samples) starting at random observed states:
// short windows keep the loss landscape of an oscillator benign (as torchdiffeq's ode_demo).
template <class Method, class Gradient, class Model>
trained train(const network& net, Eigen::VectorXd theta, const std::vector<trajectory>& data,
              const std::vector<trajectory>& tests, const settings& s) {
  using field = decltype(Model::template field<batch>(net));
  nde::neural_ode<field, Method, Gradient, batch> model(Model::template field<batch>(net),
                                                        std::move(theta), make_gradient<Gradient>(),
                                                        forward_options<Method>());
  nde::optim::adam<double> optimiser(model.params().size(), {.learning_rate = s.learning_rate});
  // The noisy observations on the shared grid; windows of s.window samples.
  const auto ts = sample_times();
  std::vector<nde::training::trajectory<state>> observed;
  for (const auto& tr : data) observed.push_back({ts, tr.observed});
  const nde::training::window_sampler<batch, state> windows(
      observed, static_cast<std::size_t>(s.window), static_cast<std::size_t>(s.batch_size),
      static_cast<std::uint64_t>(s.seed) * 7919 + data.size());
  const auto fitted = nde::training::fit(
      model, optimiser, windows, nde::training::trajectory_loss{},
      {.iterations = s.iters,
       .learning_rate =
           nde::optim::cosine_schedule<double>{
               .base = s.learning_rate, .total_steps = s.iters, .minimum = 0.02 * s.learning_rate},
       .report_every = s.report_every,
       .name =
           "  " + std::string(Model::name) + " " + std::to_string(data.size()) + " trajectories"});
  if (!fitted.success()) throw std::runtime_error(std::string(Model::name) + ": " + fitted.message);
  trained result;
  result.loss = fitted.losses;
  result.params = model.params();
  result.test_error = test_error<Method, Model>(net, result.params, tests);
  return result;
}

// What the model adds to ω' at θ = 0 (where gravity vanishes), with the sign of friction.
template <class Model>
double learned_friction(const network& net, const Eigen::VectorXd& params, double omega) {
  auto field = Model::template field<state>(net);
  state dydt;
  field(0.0, state(0.0, omega), nde::params_view<double>(params), dydt);
  return -dydt[1];
}

template <class Method, class Gradient>
int run(const settings& s) {
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed));
  const int pool = *std::max_element(s.sizes.begin(), s.sizes.end());
  // Nested training sets: the first n trajectories of one pool, so more data only adds.
  const auto data = make_trajectories(pool, s.noise, engine);
  const auto tests = make_trajectories(s.test_trajectories, 0.0, engine);
  double omega_max = 0;
  for (const auto& tr : data)
    for (const auto& y : tr.truth) omega_max = std::max(omega_max, std::abs(y[1]));

  const network net;
  Eigen::VectorXd theta(net.num_params());
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  // A small last layer: the hybrid starts as the frictionless pendulum, the pure network near 0.
  for (const auto& block : net.layout())
    if (block.name.starts_with("2.")) theta.segment(block.offset, block.size()) *= 0.1;

  std::vector<double> sizes, hybrid_errors, pure_errors, loss_iter, loss_hybrid, loss_pure;
  std::vector<std::vector<double>> friction_columns;
  std::vector<std::string> friction_header{"omega", "true"};
  std::vector<double> omegas;
  for (int i = 0; i <= 100; ++i) omegas.push_back(-omega_max + 2 * omega_max * i / 100);
  friction_columns.push_back(omegas);
  friction_columns.emplace_back();
  for (double w : omegas) friction_columns.back().push_back(true_friction(w));

  const examples::stopwatch clock;
  for (int n : s.sizes) {
    std::printf("training on %d trajector%s (%d observed states each)\n", n, n == 1 ? "y" : "ies",
                samples);
    const std::vector<trajectory> subset(data.begin(), data.begin() + n);
    const trained hybrid = train<Method, Gradient, hybrid_model>(net, theta, subset, tests, s);
    const trained pure = train<Method, Gradient, pure_model>(net, theta, subset, tests, s);
    std::printf("  test RMS error: hybrid %.4f, pure %.4f (%.1f s so far)\n", hybrid.test_error,
                pure.test_error, clock.seconds());
    sizes.push_back(n);
    hybrid_errors.push_back(hybrid.test_error);
    pure_errors.push_back(pure.test_error);
    for (const auto& [model, params] :
         {std::pair{"hybrid", &hybrid.params}, std::pair{"pure", &pure.params}}) {
      friction_header.push_back(std::string(model) + "_" + std::to_string(n));
      friction_columns.emplace_back();
      for (double w : omegas)
        friction_columns.back().push_back(std::string(model) == "hybrid"
                                              ? learned_friction<hybrid_model>(net, *params, w)
                                              : learned_friction<pure_model>(net, *params, w));
    }
    if (n == pool) {
      for (std::size_t i = 0; i < hybrid.loss.size(); ++i) loss_iter.push_back(double(i + 1));
      loss_hybrid = hybrid.loss;
      loss_pure = pure.loss;
    }
  }

  std::printf(
      "\ntest RMS error over %d unseen trajectories on [0, %.0f] s (state (theta, omega), noise sd "
      "%.3g)\n",
      s.test_trajectories, t_end, s.noise);
  std::printf("  trajectories |   hybrid   |    pure    | pure / hybrid\n");
  for (std::size_t i = 0; i < sizes.size(); ++i)
    std::printf("  %12.0f | %10.4f | %10.4f | %8.1f\n", sizes[i], hybrid_errors[i], pure_errors[i],
                pure_errors[i] / hybrid_errors[i]);
  // Friction error of the largest training set over the ω range of its data.
  const std::size_t last = friction_columns.size() - 2;
  double hybrid_friction = 0, pure_friction = 0;
  for (std::size_t i = 0; i < omegas.size(); ++i) {
    hybrid_friction += std::pow(friction_columns[last][i] - friction_columns[1][i], 2);
    pure_friction += std::pow(friction_columns[last + 1][i] - friction_columns[1][i], 2);
  }
  std::printf(
      "learned friction at theta = 0 vs the true law, |omega| <= %.2f, %d trajectories: RMS error "
      "hybrid "
      "%.4f, pure %.4f\n\n",
      omega_max, pool, std::sqrt(hybrid_friction / double(omegas.size())),
      std::sqrt(pure_friction / double(omegas.size())));

  std::filesystem::create_directories(s.out);
  examples::write_csv(s.out / "errors.csv", {"trajectories", "hybrid", "pure"},
                      {sizes, hybrid_errors, pure_errors});
  examples::write_csv(s.out / "friction.csv", friction_header, friction_columns);
  examples::write_csv(s.out / "loss.csv", {"iter", "hybrid", "pure"},
                      {loss_iter, loss_hybrid, loss_pure});
  std::printf("wrote %s/{errors,friction,loss}.csv\n", s.out.string().c_str());
  std::printf("result: trajectories=%.0f hybrid_rms=%.4f pure_rms=%.4f\n", sizes.back(),
              hybrid_errors.back(), pure_errors.back());
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/hybrid_physics.png\n", s.out.string().c_str());
  return 0;
}

template <class Method>
int with_gradient(const settings& s) {
  if (s.gradient == "backsolve") return run<Method, nde::backsolve_adjoint>(s);
  if (s.gradient == "checkpointed") return run<Method, nde::checkpointed_adjoint>(s);
  if (s.gradient == "discrete") return run<Method, nde::discrete_adjoint>(s);
  throw std::invalid_argument("--gradient must be backsolve, checkpointed or discrete (got '" +
                              s.gradient + "')");
}

std::vector<int> integer_list(const std::string& name, const std::string& text) {
  std::vector<int> values;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');)
    values.push_back(examples::options::to_integer(name, item));
  if (values.empty())
    throw std::invalid_argument("--" + name + " needs a comma-separated list of integers");
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt(
        "hybrid_physics",
        "learn a pendulum's unknown friction: known physics + network vs a pure network");
    opt.add("iters", "1500", "training iterations per model and training-set size")
        .add("seed", "0", "random seed (trajectories, noise, weights, batches)")
        .add("solver", "dopri5", "dopri5, tsit5, bosh3 (adaptive) or rk4 (fixed step 0.02)")
        .add("gradient", "discrete", "backsolve, checkpointed or discrete")
        .add("sizes", "1,2,4,8", "training-set sizes (numbers of trajectories), comma-separated")
        .add("test-trajectories", "16", "unseen trajectories for the test error")
        .add("noise", "0.01", "standard deviation of the observation noise")
        .add("lr", "0.03", "Adam learning rate (cosine decay to 2%)")
        .add("batch-size", "16", "windows per batch")
        .add("window", "10", "observed states per window (0.1 s apart)")
        .add("report-every", "500", "iterations between progress lines")
        .add("out", "out/hybrid_physics", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    settings s{
        opt.integer("iters"),      opt.integer("seed"),   opt.integer("test-trajectories"),
        opt.integer("batch-size"), opt.integer("window"), opt.integer("report-every"),
        opt.real("noise"),         opt.real("lr"),        integer_list("sizes", opt.str("sizes")),
        opt.str("solver"),         opt.str("gradient"),   opt.str("out")};
    if (s.iters < 1 || s.test_trajectories < 1 || s.batch_size < 1 || s.report_every < 1)
      throw std::invalid_argument(
          "need iters, test-trajectories, batch-size and report-every >= 1");
    if (s.batch_size > 4096 || s.test_trajectories > 4096)
      throw std::invalid_argument("--batch-size and --test-trajectories must be <= 4096");
    if (s.window < 2 || s.window > samples)
      throw std::invalid_argument("--window must be in [2, " + std::to_string(samples) + "]");
    for (int n : s.sizes)
      if (n < 1 || n > 256) throw std::invalid_argument("--sizes: each size must be in [1, 256]");
    if (s.noise < 0) throw std::invalid_argument("--noise must be >= 0");
    if (s.learning_rate <= 0) throw std::invalid_argument("--lr must be > 0");
    std::printf("hybrid_physics: solver %s, gradient %s, %d iterations per model, seed %d\n",
                s.solver.c_str(), s.gradient.c_str(), s.iters, s.seed);
    if (s.solver == "dopri5") return with_gradient<nde::dopri5>(s);
    if (s.solver == "tsit5") return with_gradient<nde::tsit5>(s);
    if (s.solver == "bosh3") return with_gradient<nde::bosh3>(s);
    if (s.solver == "rk4") return with_gradient<nde::rk4>(s);
    throw std::invalid_argument("--solver must be dopri5, tsit5, bosh3 or rk4 (got '" + s.solver +
                                "')");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hybrid_physics: %s\n", e.what());
    return 2;
  }
}
