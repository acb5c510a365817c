// Measures the three gradient methods on the spiral problem: time, function evaluations,
// stored states and accuracy against a tight reference. Prints the markdown tables of
// docs/choosing-a-gradient-method.md and writes <out>/gradient_methods.csv and, when matplotlib
// is present, <out>/gradient_methods.png. (It measures; it does not train, so it has no fit.)
//
//   gradient_methods [--seed 0] [--repeats 5] [--windows 20] [--rtol 1e-6] [--out out/gradient_methods]
#include <nde/nde.hpp>

#include "example_support.hpp"
#include "spiral_network.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;

using network = examples::spiral_network;
using field = nde::network_field<network, batch>;
using examples::make_spiral_network;

// One workload: initial states, output times, and the loss L = Σ_i Σ_b w_ib · y_b(t_i).
struct workload {
  std::string name;
  batch y0;
  std::vector<double> ts;
  std::vector<batch> weights;
};

struct row {
  std::string method;
  double milliseconds;
  nde::gradient_stats stats;
  double error;
};

template <class Gradient>
row measure(const std::string& name, const workload& w, const Eigen::VectorXd& theta,
            Gradient gradient, double rtol, int repeats, const Eigen::VectorXd* reference) {
  const nde::neural_ode_options options{.controller =
                                            nde::pid_controller{.rtol = rtol, .atol = rtol * 1e-2}};
  nde::neural_ode<field, nde::dopri5, Gradient, batch> model(
      field(make_spiral_network(), w.y0.cols()), theta, gradient, options);
  std::vector<double> times;
  nde::gradient_result<batch> g;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const auto& fr = model.forward(w.y0, w.ts);
    if (fr.status != nde::status::success) throw nde::error(fr.status, fr.message);
    g = model.backward(std::span<const batch>(w.weights));
    if (g.status != nde::status::success) throw nde::error(g.status, g.message);
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  const double error = reference ? (g.params - *reference).norm() / reference->norm() : 0.0;
  return {name, times[times.size() / 2], g.stats, error};
}

void print_table(const workload& w, const std::vector<row>& rows) {
  std::printf("\n#### %s\n\n", w.name.c_str());
  std::printf(
      "| method | time per gradient (ms, median) | forward NFE + jvp | backward NFE + vjp | stored "
      "states (peak) | "
      "relative error of dL/dθ |\n|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %s | %.2f | %zu + %zu | %zu + %zu | %zu | %.1e |\n", r.method.c_str(),
                r.milliseconds, r.stats.forward_rhs_evals, r.stats.forward_jvp_evals,
                r.stats.backward_rhs_evals, r.stats.backward_vjp_evals, r.stats.peak_stored_states,
                r.error);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt("gradient_methods", "compare the gradient methods on the spiral problem");
    opt.add("seed", "0", "random seed of the weights and windows")
        .add("repeats", "5", "timed repetitions per method (the median is reported)")
        .add("windows", "20", "windows in the batch workload")
        .add("rtol", "1e-6", "relative tolerance of forward and adjoint solves (atol = rtol / 100)")
        .add("out", "out/gradient_methods", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const int repeats = opt.integer("repeats");
    const int windows = opt.integer("windows");
    const double rtol = opt.real("rtol");
    if (repeats < 1 || windows < 1 || !(rtol > 0))
      throw std::invalid_argument("need repeats >= 1, windows >= 1, rtol > 0");

    const network net = make_spiral_network();
    Eigen::VectorXd theta(net.num_params());
    std::mt19937_64 engine(static_cast<std::uint64_t>(opt.integer("seed")));
    for (const auto& block : net.layout())
      for (std::int64_t i = 0; i < block.size(); ++i)
        theta[block.offset + i] =
            block.name.ends_with("weight") ? 0.3 * nde::nn::standard_normal(engine) : 0.0;

    // Workload 1: the training batch of the spiral example (windows of 10 points, dt = 25/999).
    workload short_windows{
        "spiral training batch: " + std::to_string(windows) + " windows x 10 points", {}, {}, {}};
    short_windows.y0.resize(2, windows);
    for (int b = 0; b < windows; ++b)
      short_windows.y0.col(b) =
          Eigen::Vector2d(nde::nn::uniform(engine, -2, 2), nde::nn::uniform(engine, -2, 2));
    for (int i = 0; i < 10; ++i) short_windows.ts.push_back(25.0 * i / 999.0);
    // Workload 2: one long trajectory, 50 outputs on [0, 25] (where re-integrating y backward drifts).
    workload long_run{"one trajectory on [0, 25], 50 outputs", batch(2, 1), {}, {}};
    long_run.y0.col(0) = Eigen::Vector2d(2.0, 0.0);
    for (int i = 0; i < 50; ++i) long_run.ts.push_back(25.0 * i / 49.0);
    for (workload* w : {&short_windows, &long_run})
      for (std::size_t i = 0; i < w->ts.size(); ++i) {
        batch c(2, w->y0.cols());
        for (Eigen::Index k = 0; k < c.size(); ++k)
          c.data()[k] = nde::nn::uniform(engine, -1, 1) / double(c.size());
        w->weights.push_back(c);
      }

    std::vector<double> csv_workload, csv_method, csv_ms, csv_forward, csv_backward, csv_vjp,
        csv_states, csv_error;
    for (const workload* w : {&short_windows, &long_run}) {
      std::printf("measuring: %s\n", w->name.c_str());
      std::fflush(stdout);
      const auto reference =
          measure("reference", *w, theta, nde::discrete_adjoint{}, 1e-12, 1, nullptr);
      nde::neural_ode<field, nde::dopri5, nde::discrete_adjoint, batch> exact(
          field(make_spiral_network(), w->y0.cols()), theta, {},
          {.controller = nde::pid_controller{.rtol = 1e-12, .atol = 1e-14}});
      (void)exact.forward(w->y0, w->ts);
      const Eigen::VectorXd ref = exact.backward(std::span<const batch>(w->weights)).params;
      (void)reference;
      const nde::pid_controller adjoint{.rtol = rtol, .atol = rtol * 1e-2};
      std::vector<row> rows;
      rows.push_back(measure("backsolve adjoint (seminorm)", *w, theta,
                             nde::backsolve_adjoint{.controller = adjoint, .seminorm = true}, rtol,
                             repeats, &ref));
      rows.push_back(measure("backsolve adjoint (full norm)", *w, theta,
                             nde::backsolve_adjoint{.controller = adjoint, .seminorm = false}, rtol,
                             repeats, &ref));
      rows.push_back(measure("checkpointed adjoint", *w, theta,
                             nde::checkpointed_adjoint{.controller = adjoint}, rtol, repeats,
                             &ref));
      rows.push_back(
          measure("discrete adjoint", *w, theta, nde::discrete_adjoint{}, rtol, repeats, &ref));
      rows.push_back(measure("discrete adjoint, 4 checkpoints", *w, theta,
                             nde::discrete_adjoint{.max_checkpoints = 4}, rtol, repeats, &ref));
      rows.push_back(measure("forward sensitivities", *w, theta, nde::forward_sensitivity{}, rtol,
                             repeats, &ref));
      print_table(*w, rows);
      std::printf("result: workload=%d discrete_ms=%.3f backsolve_ms=%.3f discrete_error=%.2e\n",
                  w == &short_windows ? 0 : 1, rows[3].milliseconds, rows[0].milliseconds,
                  rows[3].error);
      for (std::size_t m = 0; m < rows.size(); ++m) {
        csv_workload.push_back(w == &short_windows ? 0 : 1);
        csv_method.push_back(double(m));
        csv_ms.push_back(rows[m].milliseconds);
        csv_forward.push_back(double(rows[m].stats.forward_rhs_evals));
        csv_backward.push_back(double(rows[m].stats.backward_rhs_evals));
        csv_vjp.push_back(double(rows[m].stats.backward_vjp_evals));
        csv_states.push_back(double(rows[m].stats.peak_stored_states));
        csv_error.push_back(rows[m].error);
      }
    }
    const std::filesystem::path out = opt.str("out");
    examples::write_csv(out / "gradient_methods.csv",
                        {"workload", "method", "milliseconds", "forward_nfe", "backward_nfe", "vjp",
                         "peak_states", "relative_error"},
                        {csv_workload, csv_method, csv_ms, csv_forward, csv_backward, csv_vjp,
                         csv_states, csv_error});
    std::printf(
        "\nreference: discrete adjoint at rtol 1e-12 (the exact gradient to ~1e-10); tolerances "
        "rtol %.0e, "
        "atol %.0e\nwrote %s\n",
        rtol, rtol * 1e-2, (out / "gradient_methods.csv").string().c_str());
    if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", out))
      std::printf("wrote %s/gradient_methods.png\n", out.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gradient_methods: %s\n", e.what());
    return 2;
  }
}
