// Learns the cubic spiral dy/dt = (y³) A of torchdiffeq's ode_demo.py with a neural ODE whose
// field is a 2-50-2 tanh network applied to y³, trained on random 10-step windows with Adam and
// the mean absolute error, by any of the three gradient methods.
//
//   spiral [--iters 2000] [--seed 0] [--solver dopri5|tsit5|rk4] [--gradient backsolve|checkpointed|discrete]
//          [--out out/spiral] [--load params.ndep]
//
// Writes <out>/trajectory.csv, <out>/loss.csv, <out>/field.csv, <out>/params.ndep and, when
// matplotlib is present, <out>/spiral.png.
#include <nde/io/parameter_file.hpp>
#include <nde/nde.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/training/fit.hpp>

#include "example_support.hpp"
#include "spiral_network.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

using state = Eigen::Vector2d;
using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;

using network = examples::spiral_network;
using examples::make_spiral_network;

// The data: the true spiral, 1000 samples on [0, 25] (torchdiffeq's ode_demo.py).
struct dataset {
  std::vector<double> t;
  std::vector<state> y;
};

void true_field(double, const state& y, state& dydt) {
  // (y³)ᵀ A with A = [[-0.1, 2], [-2, -0.1]], y a row vector as in the demo.
  const state c = y.array().cube();
  dydt[0] = -0.1 * c[0] - 2.0 * c[1];
  dydt[1] = 2.0 * c[0] - 0.1 * c[1];
}

dataset make_data(int size) {
  dataset d;
  for (int i = 0; i < size; ++i) d.t.push_back(25.0 * i / (size - 1));
  auto sol = nde::solve_or_throw(true_field, nde::dopri5{}, 0.0, 25.0, state(2.0, 0.0),
                                 {.save_at = nde::save_at::times(d.t),
                                  .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
  d.y = sol.ys;
  return d;
}

struct settings {
  int iters, seed, batch_time, batch_size, test_every;
  double learning_rate;
  std::string solver, gradient, load;
  std::filesystem::path out;
};

template <class Method, class Gradient>
int train(const settings& s) {
  using field = nde::network_field<network, batch>;
  using model_type = nde::neural_ode<field, Method, Gradient, batch>;
  const dataset data = make_data(1000);
  const network net = make_spiral_network();

  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed));
  // As the demo: weights ~ N(0, 0.1²), biases 0.
  for (const auto& block : net.layout()) {
    const bool weight = block.name.ends_with("weight");
    for (std::int64_t i = 0; i < block.size(); ++i)
      theta[block.offset + i] = weight ? 0.1 * nde::nn::standard_normal(engine) : 0.0;
  }
  if (!s.load.empty()) {
    nde::io::load_parameters(s.load, net.layout(), theta);
    std::printf("loaded parameters from %s\n", s.load.c_str());
  }

  nde::neural_ode_options options;
  if constexpr (Method::adaptive) {
    options.controller = nde::pid_controller{.rtol = 1e-7, .atol = 1e-9};
  } else {
    options.controller = nde::constant_step{.dt = 0.025};
  }
  Gradient gradient{};
  if constexpr (!std::is_same_v<Gradient, nde::discrete_adjoint>)
    gradient.controller = {.rtol = 1e-7, .atol = 1e-9};
  model_type model(field(net, s.batch_size), theta, gradient, options);
  nde::optim::adam<double> optimiser(theta.size(), {.learning_rate = s.learning_rate});

  auto test_loss = [&](std::vector<state>* prediction) {
    nde::neural_ode<nde::network_field<network, state>, Method, nde::inference, state> single(
        nde::network_field<network, state>(net), model.params(), {}, options);
    const auto& fr = single.forward(data.y.front(), data.t);
    if (fr.status != nde::status::success) throw nde::error(fr.status, fr.message);
    double l = 0;
    for (std::size_t i = 0; i < data.t.size(); ++i) l += (fr.ys[i] - data.y[i]).cwiseAbs().sum();
    if (prediction) *prediction = fr.ys;
    return l / (2.0 * double(data.t.size()));
  };

  // Random windows of batch_time points (torchdiffeq's get_batch), the mean absolute error,
  // and a cosine decay to 1% of the rate: the MAE steps of Adam keep the test loss jumping at
  // a constant rate; the decay lets it settle.
  const nde::training::trajectory<state> trajectory{data.t, data.y};
  const nde::training::window_sampler<batch, state> windows(
      std::span(&trajectory, 1), static_cast<std::size_t>(s.batch_time),
      static_cast<std::size_t>(s.batch_size), static_cast<std::uint64_t>(s.seed) + 1);
  std::vector<double> loss_iter, loss_value, nfe_forward, nfe_backward, elapsed;
  const auto fitted = nde::training::fit(
      model, optimiser, windows,
      nde::training::trajectory_loss{.kind = nde::training::loss_kind::mae},
      {.iterations = s.iters,
       .learning_rate = nde::optim::cosine_schedule<double>{.base = s.learning_rate,
                                                            .total_steps = std::max(1, s.iters),
                                                            .minimum = 0.01 * s.learning_rate},
       .report_every = s.test_every,
       .name = "spiral",
       .evaluate = [&] { return test_loss(nullptr); },
       .evaluate_every = s.test_every,
       .callback =
           [&](const nde::training::fit_progress& p) {
             if (p.iteration % s.test_every == 0 || p.iteration == s.iters) {
               loss_iter.push_back(double(p.iteration));
               loss_value.push_back(p.validation);
               nfe_forward.push_back(double(p.forward_evaluations));
               nfe_backward.push_back(double(p.backward_evaluations));
               elapsed.push_back(p.seconds);
             }
             return true;
           }});
  if (!fitted.success()) {
    std::fprintf(stderr, "%s\n", fitted.message.c_str());
    return 1;
  }

  std::filesystem::create_directories(s.out);
  nde::io::save_parameters(s.out / "params.ndep", net.layout(), model.params());
  std::vector<state> prediction;
  const double final_test = test_loss(&prediction);
  std::vector<double> t = data.t, y1, y2, p1, p2;
  for (std::size_t i = 0; i < t.size(); ++i) {
    y1.push_back(data.y[i][0]);
    y2.push_back(data.y[i][1]);
    p1.push_back(prediction[i][0]);
    p2.push_back(prediction[i][1]);
  }
  examples::write_csv(s.out / "trajectory.csv", {"t", "y1", "y2", "pred1", "pred2"},
                      {t, y1, y2, p1, p2});
  examples::write_csv(s.out / "loss.csv",
                      {"iter", "test_loss", "nfe_forward", "nfe_backward", "seconds"},
                      {loss_iter, loss_value, nfe_forward, nfe_backward, elapsed});
  // The learned and the true vector field on a grid over [-2, 2]².
  nde::network_field<network, state> learned(net);
  std::vector<double> gx, gy, lu, lv, tu, tv;
  for (int i = 0; i < 21; ++i)
    for (int j = 0; j < 21; ++j) {
      const state y(-2.0 + 0.2 * i, -2.0 + 0.2 * j);
      state f, ft;
      learned(0.0, y, nde::params_view<double>(model.params()), f);
      true_field(0.0, y, ft);
      gx.push_back(y[0]);
      gy.push_back(y[1]);
      lu.push_back(f[0]);
      lv.push_back(f[1]);
      tu.push_back(ft[0]);
      tv.push_back(ft[1]);
    }
  examples::write_csv(s.out / "field.csv",
                      {"y1", "y2", "learned_u", "learned_v", "true_u", "true_v"},
                      {gx, gy, lu, lv, tu, tv});
  std::printf("final test loss (mean |error| over the 1000-point trajectory): %.6f\n", final_test);
  std::printf("wrote %s/{trajectory,loss,field}.csv and params.ndep\n", s.out.string().c_str());
  std::printf("result: test_loss=%.6f iterations=%lld seconds=%.2f\n", final_test,
              static_cast<long long>(fitted.iterations), fitted.seconds);
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/spiral.png\n", s.out.string().c_str());
  return 0;
}

template <class Method>
int with_gradient(const settings& s) {
  if (s.gradient == "backsolve") return train<Method, nde::backsolve_adjoint>(s);
  if (s.gradient == "checkpointed") return train<Method, nde::checkpointed_adjoint>(s);
  if (s.gradient == "discrete") return train<Method, nde::discrete_adjoint>(s);
  throw std::invalid_argument("--gradient must be backsolve, checkpointed or discrete (got '" +
                              s.gradient + "')");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt("spiral", "learn the cubic spiral dy/dt = (y^3) A with a neural ODE");
    opt.add("iters", "2000", "training iterations")
        .add("seed", "0", "random seed (weights and batches)")
        .add("solver", "dopri5", "dopri5, tsit5 (adaptive) or rk4 (fixed step 0.025)")
        .add("gradient", "backsolve", "backsolve, checkpointed or discrete")
        .add("lr", "0.001", "Adam learning rate (cosine decay to 1% over the run)")
        .add("batch-size", "20", "windows per batch")
        .add("batch-time", "10", "points per window")
        .add("test-every", "100", "iterations between progress lines")
        .add("load", "", "start from a saved parameter file")
        .add("out", "out/spiral", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const settings s{opt.integer("iters"),      opt.integer("seed"),
                     opt.integer("batch-time"), opt.integer("batch-size"),
                     opt.integer("test-every"), opt.real("lr"),
                     opt.str("solver"),         opt.str("gradient"),
                     opt.str("load"),           opt.str("out")};
    if (s.iters < 0 || s.batch_size < 1 || s.batch_time < 2 || s.test_every < 1)
      throw std::invalid_argument(
          "need iters >= 0, batch-size >= 1, batch-time >= 2, test-every >= 1");
    std::printf("spiral: solver %s, gradient %s, %d iterations, batch %d x %d, seed %d\n",
                s.solver.c_str(), s.gradient.c_str(), s.iters, s.batch_size, s.batch_time, s.seed);
    if (s.solver == "dopri5") return with_gradient<nde::dopri5>(s);
    if (s.solver == "tsit5") return with_gradient<nde::tsit5>(s);
    if (s.solver == "rk4") return with_gradient<nde::rk4>(s);
    throw std::invalid_argument("--solver must be dopri5, tsit5 or rk4 (got '" + s.solver + "')");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spiral: %s\n", e.what());
    return 2;
  }
}
