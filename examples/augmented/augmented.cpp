// Augmented neural ODEs on Dupont's concentric circles (Dupont, Doucet & Teh 2019, §3 and
// §5.1): 2-D points in the disc r ≤ 0.5 are labelled −1, points in the annulus 1 ≤ r ≤ 1.5 are
// labelled +1. A plain neural ODE (a flow of the plane, 2-32-32-2) must push the disc through
// the annulus to separate them linearly, which a homeomorphism cannot do: its loss plateaus
// and the flow grows stiff (its NFE rises during training). The augmented model (p = 5 zero
// channels, a 7-32-32-7 field) lifts the disc out of the plane and fits with flat NFE.
//
// Both models: T = 1, a linear readout of the whole final state to one output, MSE against
// the ±1 labels, dopri5 with rtol = atol = --tol forward and in the backsolve adjoint, Adam
// (lr --lr), batches of --batch points drawn from a fixed training set, the same data and
// batches for both.
//
// Run:  augmented [--iterations 3000] [--points 1500] [--activation relu|tanh] [--out DIR]
// Writes train.csv (loss and NFE per iteration), {node,anode}_flow.csv (trajectories of test
// points projected on the readout direction and the main orthogonal one),
// {node,anode}_grid.csv (the prediction over the plane) and augmented.png (plot.py). Last line:
//   result: node_loss=<x> anode_loss=<x> node_nfe=<x> anode_nfe=<x>
// (loss: MSE over the whole training set after training; nfe: forward f evaluations per
// iteration, mean over the last 10 % of iterations).
#include <nde/models/augmented.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/optim/adam.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/terms/network_field.hpp>

#include <Eigen/Eigenvalues>
#include <example_support.hpp>

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace nn = nde::nn;
using Eigen::MatrixXd;
using Eigen::VectorXd;

struct settings {
  int iterations = 3000, points = 1500, batch = 64, hidden = 32, augment = 5, report_every = 100,
      grid = 120, test = 10000, flow_points = 200;
  double lr = 1e-3, tol = 1e-3;
  unsigned seed = 0;
  std::string activation = "relu";
  std::filesystem::path out;
};

// n points uniform over the area of the ring r_min ≤ r ≤ r_max (r_min = 0: the disc).
MatrixXd ring(Eigen::Index n, double r_min, double r_max, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  MatrixXd x(2, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    const double r = std::sqrt(r_min * r_min + u(rng) * (r_max * r_max - r_min * r_min));
    const double a = 2 * std::numbers::pi * u(rng);
    x(0, j) = r * std::cos(a);
    x(1, j) = r * std::sin(a);
  }
  return x;
}

// Dupont's concentric circles: a third of the points in the disc (−1), the rest in the annulus
// (+1), shuffled.
struct dataset {
  MatrixXd x, y;
};
dataset concentric(Eigen::Index n, std::mt19937_64& rng) {
  const Eigen::Index inner = n / 3;
  const MatrixXd a = ring(inner, 0.0, 0.5, rng), b = ring(n - inner, 1.0, 1.5, rng);
  std::vector<Eigen::Index> order(static_cast<std::size_t>(n));
  for (Eigen::Index j = 0; j < n; ++j) order[static_cast<std::size_t>(j)] = j;
  std::shuffle(order.begin(), order.end(), rng);
  dataset d{MatrixXd(2, n), MatrixXd(1, n)};
  for (Eigen::Index j = 0; j < n; ++j) {
    const Eigen::Index k = order[static_cast<std::size_t>(j)];
    d.x.col(j) = k < inner ? a.col(k) : b.col(k - inner);
    d.y(0, j) = k < inner ? -1.0 : 1.0;
  }
  return d;
}

struct run_result {
  std::vector<double> loss, forward_nfe, backward_nfe;
  double final_loss = 0, final_nfe = 0, accuracy = 0, seconds = 0;
};

template <class Activation>
run_result train(const std::string& tag, Eigen::Index p, const dataset& data, const dataset& test,
                 const settings& s) {
  using net_type =
      nn::mlp<Activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
  using field_type = nde::network_field<net_type, MatrixXd>;
  using model_type = nde::augmented_neural_ode<field_type, nde::dopri5, nde::backsolve_adjoint>;
  const Eigen::Index n = 2 + p;
  field_type field(net_type({n, s.hidden, s.hidden, n}), s.batch);
  const nde::augmented_options options{
      .data_dims = 2,
      .augment_dims = p,
      .outputs = 1,
      .t1 = 1.0,
      .ode = {.controller = nde::pid_controller{.rtol = s.tol, .atol = s.tol}}};
  std::mt19937_64 init(s.seed + 17 * std::uint64_t(p) + 1);
  VectorXd params = VectorXd::Zero(model_type::param_count(field, options));
  nn::init_pytorch_default(field.network(), params.head(field.num_params()), init);
  model_type model(std::move(field), params, options,
                   nde::backsolve_adjoint{.controller = {.rtol = s.tol, .atol = s.tol}});
  model.initialise_readout(init);
  nde::optim::adam<double> adam(model.params().size(), {.learning_rate = s.lr});

  run_result r;
  std::mt19937_64 batches(s.seed + 2);  // the same batches for both models
  std::uniform_int_distribution<Eigen::Index> pick(0, data.x.cols() - 1);
  MatrixXd xb(2, s.batch), yb(1, s.batch);
  const examples::stopwatch clock;
  double window_loss = 0, window_nfe = 0;
  int window = 0;
  for (int it = 1; it <= s.iterations; ++it) {
    for (int j = 0; j < s.batch; ++j) {
      const Eigen::Index k = pick(batches);
      xb.col(j) = data.x.col(k);
      yb(0, j) = data.y(0, k);
    }
    const auto l = model.loss_and_gradient(xb, yb);
    if (!l.success())
      throw nde::error(l.status, tag + ": iteration " + std::to_string(it) + ": " + l.message);
    adam.step(model.params(), l.gradient);
    r.loss.push_back(l.loss);
    r.forward_nfe.push_back(double(l.forward_nfe()));
    r.backward_nfe.push_back(double(l.stats.backward_rhs_evals + l.stats.backward_vjp_evals));
    window_loss += l.loss;
    window_nfe += double(l.forward_nfe());
    ++window;
    if (it % s.report_every == 0 || it == s.iterations) {
      std::printf("  %-5s iter %5d  loss %.4f  forward nfe %5.1f  (%.0f s)\n", tag.c_str(), it,
                  window_loss / window, window_nfe / window, clock.seconds());
      std::fflush(stdout);
      window_loss = window_nfe = 0;
      window = 0;
    }
  }
  r.seconds = clock.seconds();
  const std::size_t from =
      r.forward_nfe.size() - std::max<std::size_t>(1, r.forward_nfe.size() / 10);
  for (std::size_t i = from; i < r.forward_nfe.size(); ++i)
    r.final_nfe += r.forward_nfe[i] / double(r.forward_nfe.size() - from);
  const MatrixXd fit = model.predict(data.x);
  r.final_loss = (fit - data.y).squaredNorm() / double(fit.size());
  const MatrixXd guess = model.predict(test.x);
  int right = 0;
  for (Eigen::Index j = 0; j < guess.cols(); ++j) right += (guess(0, j) > 0) == (test.y(0, j) > 0);
  r.accuracy = double(right) / double(guess.cols());

  // The learned flow: test points at 21 times, projected on the readout direction u = W/‖W‖
  // (the horizontal axis is what the readout sees) and on the main direction of the final
  // features orthogonal to u.
  const Eigen::Index m = std::min<Eigen::Index>(s.flow_points, test.x.cols());
  const MatrixXd xs = test.x.leftCols(m);
  std::vector<double> ts;
  for (int i = 0; i <= 20; ++i) ts.push_back(options.t1 * i / 20.0);
  const auto path = model.trajectory(xs, ts);
  const VectorXd u = model.readout_weight().row(0).transpose().normalized();
  MatrixXd rest = path.back() - u * (u.transpose() * path.back());
  rest.colwise() -= rest.rowwise().mean();
  const Eigen::SelfAdjointEigenSolver<MatrixXd> eig(rest * rest.transpose());
  VectorXd v = eig.eigenvectors().col(n - 1);
  v -= u * u.dot(v);
  v.normalize();
  std::vector<double> col_point, col_t, col_label, col_u, col_v, col_x0, col_x1;
  for (std::size_t i = 0; i < ts.size(); ++i)
    for (Eigen::Index j = 0; j < m; ++j) {
      col_point.push_back(double(j));
      col_t.push_back(ts[i]);
      col_label.push_back(test.y(0, j));
      col_u.push_back(u.dot(path[i].col(j)));
      col_v.push_back(v.dot(path[i].col(j)));
      col_x0.push_back(path[i](0, j));
      col_x1.push_back(path[i](1, j));
    }
  examples::write_csv(s.out / (tag + "_flow.csv"), {"point", "t", "label", "u", "v", "x0", "x1"},
                      {col_point, col_t, col_label, col_u, col_v, col_x0, col_x1});

  // The prediction over [-2, 2]².
  MatrixXd grid(2, s.grid * s.grid);
  for (int i = 0; i < s.grid; ++i)
    for (int j = 0; j < s.grid; ++j) {
      grid(0, i * s.grid + j) = -2 + 4 * (i + 0.5) / s.grid;
      grid(1, i * s.grid + j) = -2 + 4 * (j + 0.5) / s.grid;
    }
  const MatrixXd g = model.predict(grid);
  std::vector<double> gx(grid.row(0).begin(), grid.row(0).end()),
      gy(grid.row(1).begin(), grid.row(1).end()), gp(g.row(0).begin(), g.row(0).end());
  examples::write_csv(s.out / (tag + "_grid.csv"), {"x", "y", "prediction"}, {gx, gy, gp});
  return r;
}

template <class Activation>
void run(const settings& s) {
  std::mt19937_64 rng(s.seed);
  const dataset data = concentric(s.points, rng);
  const dataset test = concentric(s.test, rng);
  std::printf("concentric circles: %lld training points, batches of %d, %d iterations, %s field\n",
              static_cast<long long>(data.x.cols()), s.batch, s.iterations, s.activation.c_str());
  std::printf("node (2-%d-%d-2):\n", s.hidden, s.hidden);
  const run_result node = train<Activation>("node", 0, data, test, s);
  std::printf("anode (p = %d, %d-%d-%d-%d):\n", s.augment, 2 + s.augment, s.hidden, s.hidden,
              2 + s.augment);
  const run_result anode = train<Activation>("anode", s.augment, data, test, s);
  std::vector<double> iters;
  for (int it = 1; it <= s.iterations; ++it) iters.push_back(it);
  examples::write_csv(s.out / "train.csv",
                      {"iteration", "node_loss", "node_forward_nfe", "node_backward_nfe",
                       "anode_loss", "anode_forward_nfe", "anode_backward_nfe"},
                      {iters, node.loss, node.forward_nfe, node.backward_nfe, anode.loss,
                       anode.forward_nfe, anode.backward_nfe});
  for (const auto& [tag, r] : {std::pair{"node", &node}, std::pair{"anode", &anode}})
    std::printf(
        "%-5s: training-set MSE %.3g, test accuracy %.4f, forward nfe %.1f (first 10 %%: %.1f), "
        "%.0f s\n",
        tag, r->final_loss, r->accuracy, r->final_nfe,
        [&] {
          const std::size_t k = std::max<std::size_t>(1, r->forward_nfe.size() / 10);
          double sum = 0;
          for (std::size_t i = 0; i < k; ++i) sum += r->forward_nfe[i];
          return sum / double(k);
        }(),
        r->seconds);
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/augmented.png\n", s.out.string().c_str());
  std::printf("result: node_loss=%.3g anode_loss=%.3g node_nfe=%.1f anode_nfe=%.1f\n",
              node.final_loss, anode.final_loss, node.final_nfe, anode.final_nfe);
}

}  // namespace

int main(int argc, char** argv) {
  examples::options opt("augmented",
                        "augmented vs plain neural ODEs on Dupont's concentric circles");
  opt.add("iterations", "3000", "training iterations per model")
      .add("points", "1500", "training points (a third in the disc)")
      .add("batch", "64", "points per iteration")
      .add("hidden", "32", "width of the two hidden layers")
      .add("augment", "5", "extra dimensions p of the augmented model")
      .add("activation", "relu", "relu (Dupont's) or tanh")
      .add("lr", "1e-3", "Adam learning rate")
      .add("tol", "1e-3", "dopri5 rtol = atol, forward and adjoint")
      .add("test", "10000", "test points (accuracy; the first 200 draw the flow)")
      .add("grid", "120", "prediction grid points per axis for the figure")
      .add("seed", "0", "random seed")
      .add("report-every", "100", "iterations between progress lines")
      .add("out", "out/augmented", "output directory");
  try {
    if (!opt.parse(argc, argv)) return 0;
    settings s;
    s.iterations = opt.integer("iterations");
    s.points = opt.integer("points");
    s.batch = opt.integer("batch");
    s.hidden = opt.integer("hidden");
    s.augment = opt.integer("augment");
    s.activation = opt.str("activation");
    s.lr = opt.real("lr");
    s.tol = opt.real("tol");
    s.test = opt.integer("test");
    s.grid = opt.integer("grid");
    s.seed = unsigned(opt.integer("seed"));
    s.report_every = opt.integer("report-every");
    s.out = opt.str("out");
    if (s.iterations < 1 || s.points < 3 || s.batch < 1 || s.hidden < 1 || s.augment < 1 ||
        s.test < 3 || s.grid < 1 || s.report_every < 1 || !(s.lr > 0) || !(s.tol > 0))
      throw std::invalid_argument(
          "need --iterations, --batch, --hidden, --augment, --grid, --report-every >= 1, "
          "--points, --test >= 3, --lr > 0 and --tol > 0");
    if (s.activation != "relu" && s.activation != "tanh")
      throw std::invalid_argument("--activation must be relu or tanh");
    std::filesystem::create_directories(s.out);
    if (s.activation == "relu") {
      run<nn::relu_activation>(s);
    } else {
      run<nn::tanh_activation>(s);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "augmented: %s\n", e.what());
    return 1;
  }
  return 0;
}
