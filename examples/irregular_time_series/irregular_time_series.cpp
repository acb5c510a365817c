// Fits a neural ODE to noisy observations of a damped Duffing oscillator taken at random,
// irregular times on [0, T], with the loss at the observation times only, then extrapolates
// to [0, 2T] and compares with the true system and with two baselines fitted to the same data:
// the zero field (y stays at the first observation) and a linear ODE dy/dt = A y.
//
//   irregular_time_series [--iters 6000] [--seed 0] [--solver dopri5|tsit5|bosh3|rk4]
//                         [--gradient backsolve|checkpointed|discrete] [--observations 60]
//                         [--noise 0.05] [--t-train 10] [--out out/irregular_time_series]
//
// Writes <out>/observations.csv, <out>/trajectory.csv, <out>/loss.csv, <out>/params.ndep and,
// when matplotlib is present, <out>/irregular_time_series.png.
#include <nde/io/parameter_file.hpp>
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
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using state = Eigen::Vector2d;
using network = nde::nn::mlp<nde::nn::tanh_activation, 2, 32, 2>;
using neural_field = nde::network_field<network, state>;
using linear_field = nde::linear_field<state>;

// The true system: x'' = -x - β x³ - c x' (a damped, hardening Duffing oscillator), so the
// frequency grows with the amplitude and a linear ODE cannot follow it.
constexpr double cubic = 0.5;
constexpr double damping = 0.1;
const state true_y0(2.0, 0.0);

void true_field(double, const state& y, state& dydt) {
  dydt[0] = y[1];
  dydt[1] = -y[0] - cubic * y[0] * y[0] * y[0] - damping * y[1];
}

std::vector<state> true_solution(std::span<const double> ts) {
  auto sol = nde::solve_or_throw(
      true_field, nde::dopri5{}, 0.0, ts.back(), true_y0,
      {.save_at = nde::save_at::times(std::vector<double>(ts.begin(), ts.end())),
       .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
  return sol.ys;
}

struct settings {
  int iters, seed, observations, report_every;
  double noise, t_train, learning_rate;
  std::string solver, gradient;
  std::filesystem::path out;
};

// Observations: sorted uniform random times in (0, T], the true state plus Gaussian noise.
struct observations {
  std::vector<double> t;  // t[0] = 0 is the initial time (not observed), then the observation times
  std::vector<state> y;   // y[i] observed at t[i + 1]
  std::vector<state> truth;
};

observations make_observations(const settings& s) {
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed));
  observations obs;
  std::vector<double> times;
  while (static_cast<int>(times.size()) < s.observations) {
    const double t = s.t_train * (1.0 - nde::nn::uniform_01(engine));  // in (0, T]
    // forward() needs strictly increasing times; redraw the (practically impossible) repeat.
    if (std::find(times.begin(), times.end(), t) == times.end()) times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  obs.t.push_back(0.0);
  obs.t.insert(obs.t.end(), times.begin(), times.end());
  const auto exact = true_solution(obs.t);
  for (std::size_t i = 1; i < exact.size(); ++i) {
    obs.truth.push_back(exact[i]);
    obs.y.push_back(exact[i] + s.noise * state(nde::nn::standard_normal(engine),
                                               nde::nn::standard_normal(engine)));
  }
  return obs;
}

template <class Method>
nde::neural_ode_options forward_options() {
  nde::neural_ode_options options;
  if constexpr (Method::adaptive) {
    options.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-8};
  } else {
    options.controller = nde::constant_step{.dt = 0.05};
  }
  return options;
}

template <class Gradient>
Gradient make_gradient() {
  Gradient gradient{};
  if constexpr (!std::is_same_v<Gradient, nde::discrete_adjoint>)
    gradient.controller = {.rtol = 1e-6, .atol = 1e-8};
  return gradient;
}

struct fit_result {
  Eigen::VectorXd params;
  state y0;
  std::vector<double> loss;  // MSE over all observations, every 10 iterations
};

// Adam on θ and on the initial state together (the first observation is noisy, so y(0) is
// learned too: backward() returns dL/dy0). The horizon grows from T/4 to T over the first half
// of training, a curriculum that keeps a long oscillating fit out of poor local minima.
template <class Method, class Gradient, class Field>
fit_result fit(const char* name, Field field, Eigen::VectorXd theta, const observations& obs,
               const settings& s) {
  nde::neural_ode<Field, Method, Gradient, state> model(
      std::move(field), std::move(theta), make_gradient<Gradient>(), forward_options<Method>());
  state y0 = obs.y.front();
  nde::optim::adam<double> optimiser(model.params().size(), {.learning_rate = s.learning_rate});
  nde::optim::adam<double> y0_optimiser(2, {.learning_rate = s.learning_rate});
  const nde::optim::cosine_schedule<double> schedule{.base = s.learning_rate,
                                                     .total_steps = std::max(1, s.iters),
                                                     .minimum = 0.01 * s.learning_rate};
  const std::size_t total = obs.y.size();
  fit_result result;

  // The first `count` observations from the current (learned) initial state.
  auto prefix = [&](std::size_t count) {
    nde::training::batch<state> b{
        y0, std::vector<double>(obs.t.begin(), obs.t.begin() + count + 1), {y0}};
    b.targets.insert(b.targets.end(), obs.y.begin(), obs.y.begin() + count);
    return b;
  };
  // The horizon grows from T/4 to T over the first half of training.
  auto curriculum = [&](std::int64_t step) {
    const double progress = std::min(1.0, 2.0 * double(step + 1) / std::max(1, s.iters));
    const double horizon = s.t_train * (0.25 + 0.75 * progress);
    const auto count = std::max<std::size_t>(
        std::min<std::size_t>(4, total),
        static_cast<std::size_t>(std::upper_bound(obs.t.begin() + 1, obs.t.end(), horizon) -
                                 obs.t.begin() - 1));
    return prefix(count);
  };
  const nde::training::trajectory_loss mse{};
  auto all_data_loss = [&] {
    const auto b = prefix(total);
    const auto& fr = model.forward(b.y0, b.ts);
    if (!fr.success()) throw std::runtime_error(std::string(name) + ": " + fr.message);
    std::vector<state> unused;
    return mse(std::span<const state>(fr.ys), b, unused);
  };
  std::int64_t step = 0;
  const auto fitted =
      nde::training::fit(model, optimiser, curriculum, mse,
                         {.iterations = s.iters,
                          .learning_rate = schedule,
                          .report_every = s.report_every,
                          .name = name,
                          .evaluate = all_data_loss,
                          .evaluate_every = 10,
                          .callback =
                              [&](const nde::training::fit_progress& p) {
                                if (p.iteration % 10 == 0) result.loss.push_back(p.validation);
                                return true;
                              }},
                         // y(0) is learned too (the first observation is noisy): Adam on dL/dy0.
                         [&](const auto& g) {
                           y0_optimiser.set_learning_rate(schedule(step++));
                           y0_optimiser.step(y0, g.y0);
                         });
  if (!fitted.success()) throw std::runtime_error(std::string(name) + ": " + fitted.message);
  result.params = model.params();
  result.y0 = y0;
  return result;
}

template <class Method, class Field>
std::vector<state> predict(Field field, const fit_result& fitted, std::span<const double> ts) {
  nde::neural_ode<Field, Method, nde::discrete_adjoint, state> model(
      std::move(field), fitted.params, {}, forward_options<Method>());
  const auto& fr = model.forward(fitted.y0, ts);
  if (fr.status != nde::status::success)
    throw std::runtime_error("prediction failed: " + fr.message);
  return fr.ys;
}

double rms(const std::vector<state>& a, const std::vector<state>& b, std::size_t begin,
           std::size_t end) {
  double sum = 0;
  for (std::size_t i = begin; i < end; ++i) sum += (a[i] - b[i]).squaredNorm();
  return std::sqrt(sum / (2.0 * double(end - begin)));
}

template <class Method, class Gradient>
int run(const settings& s) {
  const observations obs = make_observations(s);
  std::printf(
      "%zu observations at random times in (0, %.3g], noise sd %.3g; the first at t = %.3f\n",
      obs.y.size(), s.t_train, s.noise, obs.t[1]);

  const network net;
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed) + 1);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  const fit_result neural = fit<Method, Gradient>("neural ODE", neural_field(net), theta, obs, s);
  // The linear ODE starts from A = 0, i.e. from the zero-field baseline.
  const fit_result linear =
      fit<Method, Gradient>("linear ODE", linear_field(2), Eigen::VectorXd::Zero(4), obs, s);

  // A uniform grid on [0, 2T]: the first half is the training window, the second extrapolation.
  const int grid_size = 401;
  std::vector<double> grid(grid_size);
  for (int i = 0; i < grid_size; ++i) grid[i] = 2.0 * s.t_train * i / (grid_size - 1);
  const std::size_t half = grid_size / 2 + 1;  // grid[half - 1] = T
  const auto truth = true_solution(grid);
  const auto neural_path = predict<Method>(neural_field(net), neural, grid);
  const auto linear_path = predict<Method>(linear_field(2), linear, grid);
  const std::vector<state> constant_path(grid.size(), obs.y.front());
  const auto neural_at_obs = predict<Method>(neural_field(net), neural, obs.t);
  const auto linear_at_obs = predict<Method>(linear_field(2), linear, obs.t);

  auto report = [&](const char* name, const std::vector<state>& path,
                    const std::vector<state>* at_obs) {
    std::vector<state> fitted(obs.y.size(), obs.y.front());
    if (at_obs) fitted.assign(at_obs->begin() + 1, at_obs->end());
    std::printf("  %-34s %9.4f %9.4f %12.4f %14.4f\n", name, rms(fitted, obs.y, 0, obs.y.size()),
                rms(fitted, obs.truth, 0, obs.y.size()), rms(path, truth, 0, half),
                rms(path, truth, half, path.size()));
  };
  std::printf(
      "\nRMS error (per component)          vs data  vs truth   on [0, T]   extrapolated\n");
  std::printf(
      "                                   at obs    at obs    vs truth    (T, 2T] vs truth\n");
  report("constant (zero field, y = y_obs1)", constant_path, nullptr);
  report("linear ODE dy/dt = A y", linear_path, &linear_at_obs);
  report("neural ODE (2-32-2 tanh MLP)", neural_path, &neural_at_obs);
  std::printf("(observation noise sd %.4f: a perfect model scores about that against the data)\n\n",
              s.noise);

  std::filesystem::create_directories(s.out);
  nde::io::save_parameters(s.out / "params.ndep", net.layout(), neural.params);
  std::vector<double> ot(obs.t.begin() + 1, obs.t.end()), o1, o2;
  for (const auto& y : obs.y) {
    o1.push_back(y[0]);
    o2.push_back(y[1]);
  }
  examples::write_csv(s.out / "observations.csv", {"t", "y1", "y2"}, {ot, o1, o2});
  std::vector<std::vector<double>> columns(7);
  columns[0] = grid;
  for (std::size_t i = 0; i < grid.size(); ++i)
    for (int k = 0; k < 2; ++k) {
      columns[1 + k].push_back(truth[i][k]);
      columns[3 + k].push_back(neural_path[i][k]);
      columns[5 + k].push_back(linear_path[i][k]);
    }
  examples::write_csv(s.out / "trajectory.csv",
                      {"t", "true1", "true2", "neural1", "neural2", "linear1", "linear2"}, columns);
  std::vector<double> loss_iter;
  for (std::size_t i = 0; i < neural.loss.size(); ++i)
    loss_iter.push_back(std::min(10.0 * double(i + 1), double(s.iters)));
  examples::write_csv(s.out / "loss.csv", {"iter", "neural_mse", "linear_mse"},
                      {loss_iter, neural.loss, linear.loss});
  std::printf("wrote %s/{observations,trajectory,loss}.csv and params.ndep\n",
              s.out.string().c_str());
  std::printf("result: neural_extrapolation_rms=%.4f linear_extrapolation_rms=%.4f\n",
              rms(neural_path, truth, half, neural_path.size()),
              rms(linear_path, truth, half, linear_path.size()));
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/irregular_time_series.png\n", s.out.string().c_str());
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

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt(
        "irregular_time_series",
        "fit a neural ODE to irregularly sampled noisy data and extrapolate beyond it");
    opt.add("iters", "6000", "training iterations (each model)")
        .add("seed", "0", "random seed (observation times, noise, weights)")
        .add("solver", "dopri5", "dopri5, tsit5, bosh3 (adaptive) or rk4 (fixed step 0.05)")
        .add("gradient", "discrete", "backsolve, checkpointed or discrete")
        .add("observations", "60", "number of observations in (0, T]")
        .add("noise", "0.05", "standard deviation of the observation noise")
        .add("t-train", "10", "end T of the observed window (extrapolation runs to 2T)")
        .add("lr", "0.02", "Adam learning rate (cosine decay to 1%)")
        .add("report-every", "500", "iterations between progress lines")
        .add("out", "out/irregular_time_series", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const settings s{opt.integer("iters"),
                     opt.integer("seed"),
                     opt.integer("observations"),
                     opt.integer("report-every"),
                     opt.real("noise"),
                     opt.real("t-train"),
                     opt.real("lr"),
                     opt.str("solver"),
                     opt.str("gradient"),
                     opt.str("out")};
    if (s.iters < 1 || s.observations < 2 || s.report_every < 1)
      throw std::invalid_argument("need iters >= 1, observations >= 2, report-every >= 1");
    if (s.observations > 100000) throw std::invalid_argument("--observations must be <= 100000");
    if (!(s.noise >= 0) || !std::isfinite(s.noise))
      throw std::invalid_argument("--noise must be finite and >= 0");
    if (!(s.t_train > 0) || !(s.t_train <= 100))
      throw std::invalid_argument("--t-train must be in (0, 100]");
    if (!(s.learning_rate > 0) || !std::isfinite(s.learning_rate))
      throw std::invalid_argument("--lr must be > 0");
    std::printf("irregular_time_series: solver %s, gradient %s, %d iterations, seed %d\n",
                s.solver.c_str(), s.gradient.c_str(), s.iters, s.seed);
    if (s.solver == "dopri5") return with_gradient<nde::dopri5>(s);
    if (s.solver == "tsit5") return with_gradient<nde::tsit5>(s);
    if (s.solver == "bosh3") return with_gradient<nde::bosh3>(s);
    if (s.solver == "rk4") return with_gradient<nde::rk4>(s);
    throw std::invalid_argument("--solver must be dopri5, tsit5, bosh3 or rk4 (got '" + s.solver +
                                "')");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "irregular_time_series: %s\n", e.what());
    return 2;
  }
}
