// The numerical analysis behind a neural ODE, measured with nde:
//  (a) order of accuracy: error against step size of Euler, RK4 and dopri5 (constant steps) on
//      a problem with a known solution, with the fitted slopes (1, 4, 5);
//  (b) adaptivity: function evaluations (NFE) against tolerance of dopri5, tsit5 and bosh3 on a
//      neural field, and the NFE of each input of a batch solved on its own, against one solve of
//      the whole batch with a shared step (as torchdiffeq does);
//  (c) stability: the eigenvalues of ∂f/∂y along a trajectory (from the network's vjp with unit
//      cotangents, checked against finite differences) against the stability region
//      |R(z)| ≤ 1 of the chosen method, R(z) = 1 + z bᵀ(I − zA)⁻¹ 1 (Hairer & Wanner II,
//      eq. IV.2.9), the largest stable step they imply, and constant-step solves just below and
//      just above it.
//
// The neural field is a 2-32-2 tanh network f(y) = W₂ tanh(W₁y + b₁) whose first layer is random
// and whose last layer is tied to it, W₂ = M W₁ᵀ / 32 with M = [[-d, w], [-w, -d]]: then
// f = M ∇V for the convex V(y) = Σ log cosh(W₁y + b₁) / 32, so ∂f/∂y = M ∇²V has eigenvalues
// with negative real part (a damped rotation into one equilibrium) and |λ| grows with d and w.
//
//   numerics [--seed 0] [--solver dopri5] [--damping 10] [--rotation 10] [--samples 256]
//            [--tolerances 9] [--out out/numerics]
//
// Writes <out>/order.csv, tolerance.csv, samples.csv, spectrum.csv, region.csv, check.csv,
// summary.csv and, when matplotlib is present, <out>/numerics.png.
#include <nde/nde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/testing/convergence.hpp>

#include "example_support.hpp"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using network = nde::nn::mlp<nde::nn::tanh_activation, 2, 32, 2>;
using state = Eigen::Vector2d;
using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;
using complex = std::complex<double>;

struct settings {
  int seed, samples, tolerances;
  double damping, rotation;
  std::string solver;
  std::filesystem::path out;
};

// ---- (a) a problem with a known solution ------------------------------------------------
// y₁' = 2 y₁ cos 2t (y₁ = exp(sin 2t)), y₂' = 2 y₂(1 − y₂) (logistic): non-autonomous and
// nonlinear, and fast enough that the errors stay well above rounding over the step ranges used.
void known_field(double t, const state& y, state& dydt) {
  dydt[0] = 2.0 * y[0] * std::cos(2.0 * t);
  dydt[1] = 2.0 * y[1] * (1.0 - y[1]);
}
state known_solution(double t) {
  const double y2_0 = 0.1;
  return state(std::exp(std::sin(2.0 * t)), 1.0 / (1.0 + (1.0 / y2_0 - 1.0) * std::exp(-2.0 * t)));
}

template <class Method>
double order_study(const char* name, int expected, int first, int last,
                   std::vector<double>& column_order, std::vector<double>& column_dt,
                   std::vector<double>& column_error) {
  const double t1 = 4.0;
  const state exact = known_solution(t1);
  std::vector<double> steps, errors;
  for (int n = first; n <= last; n *= 2) {
    const auto sol = nde::solve_or_throw(known_field, Method{}, 0.0, t1, known_solution(0.0),
                                         {.controller = nde::constant_step{.dt = t1 / n}});
    steps.push_back(t1 / n);
    errors.push_back((sol.ys.back() - exact).cwiseAbs().maxCoeff());
    column_order.push_back(expected);
    column_dt.push_back(steps.back());
    column_error.push_back(errors.back());
  }
  const auto fit = nde::testing::fit_convergence_order(steps, errors);
  std::printf("(a) %-7s %4d..%4d steps: error %.2e .. %.2e, fitted order %.2f (theory %d)\n", name,
              first, last, errors.front(), errors.back(), fit.order, expected);
  std::fflush(stdout);
  return fit.order;
}

// ---- the neural field ------------------------------------------------------------------------
Eigen::VectorXd tied_parameters(const network& net, const settings& s) {
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(net.num_params());
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed));
  const auto& layout = net.layout();
  auto block = [&](const std::string& name) {
    for (const auto& b : layout)
      if (b.name == name) return b;
    throw std::logic_error("no parameter block " + name);
  };
  // Weights are {out, in} blocks stored column-major (see nde/nn/sequential.hpp).
  const auto w1 = block("0.weight"), b1 = block("0.bias"), w2 = block("2.weight");
  Eigen::Map<Eigen::Matrix<double, 32, 2>> first(theta.data() + w1.offset);
  Eigen::Map<Eigen::Matrix<double, 32, 1>> bias(theta.data() + b1.offset);
  Eigen::Map<Eigen::Matrix<double, 2, 32>> last(theta.data() + w2.offset);
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 32; ++i) first(i, j) = nde::nn::standard_normal(engine);
  for (int i = 0; i < 32; ++i) bias[i] = nde::nn::standard_normal(engine);
  Eigen::Matrix2d m;
  m << -s.damping, s.rotation, -s.rotation, -s.damping;
  last = m * first.transpose() / 32.0;
  return theta;
}

struct bound_field {
  nde::network_field<network, state>* field;
  const Eigen::VectorXd* theta;
  void operator()(double t, const state& y, state& dydt) const {
    (*field)(t, y, nde::params_view<double>(*theta), dydt);
  }
};
struct bound_batch_field {
  nde::network_field<network, batch>* field;
  const Eigen::VectorXd* theta;
  void operator()(double t, const batch& y, batch& dydt) const {
    (*field)(t, y, nde::params_view<double>(*theta), dydt);
  }
};

// ---- (c) stability ---------------------------------------------------------------------------
// R(z) = 1 + z bᵀ(I − zA)⁻¹ 1; A is strictly lower triangular, so g = (I − zA)⁻¹ 1 is a forward
// substitution: g_i = 1 + z Σ_{j<i} a_ij g_j.
template <class Method>
complex stability_function(complex z) {
  using tableau = typename Method::tableau;
  std::array<complex, tableau::stages> g{};
  complex sum = 0;
  for (int i = 0; i < tableau::stages; ++i) {
    g[i] = 1.0;
    for (int j = 0; j < i; ++j) g[i] += z * tableau::a[i][j] * g[j];
    sum += tableau::b[i] * g[i];
  }
  return 1.0 + z * sum;
}

// Largest h with |R(h'λ)| ≤ 1 for every h' in (0, h]: scan along the ray, then bisect the first
// crossing. Every explicit method's region lies inside |z| < 8.
template <class Method>
double stable_step(complex lambda) {
  const double reach = 8.0 / std::abs(lambda);
  const int samples = 4000;
  double inside = 0;
  for (int i = 1; i <= samples; ++i) {
    const double h = reach * i / samples;
    if (std::abs(stability_function<Method>(h * lambda)) > 1.0) {
      double outside = h;
      for (int k = 0; k < 60; ++k) {
        const double mid = 0.5 * (inside + outside);
        (std::abs(stability_function<Method>(mid * lambda)) > 1.0 ? outside : inside) = mid;
      }
      return inside;
    }
    inside = h;
  }
  return reach;
}

// ∂f/∂y row by row: row i is e_iᵀ ∂f/∂y, the vjp with the unit cotangent e_i.
Eigen::Matrix2d jacobian(nde::network_field<network, state>& field, const Eigen::VectorXd& theta,
                         const state& y) {
  Eigen::Matrix2d j;
  Eigen::VectorXd unused = Eigen::VectorXd::Zero(theta.size());
  for (int i = 0; i < 2; ++i) {
    state row;
    field.vjp(0.0, y, nde::params_view<double>(theta), state::Unit(i), row,
              nde::params_ref<double>(unused));
    j.row(i) = row.transpose();
  }
  return j;
}
Eigen::Matrix2d finite_difference_jacobian(nde::network_field<network, state>& field,
                                           const Eigen::VectorXd& theta, const state& y) {
  Eigen::Matrix2d j;
  const double eps = 1e-6;
  for (int k = 0; k < 2; ++k) {
    state plus, minus;
    field(0.0, state(y + eps * state::Unit(k)), nde::params_view<double>(theta), plus);
    field(0.0, state(y - eps * state::Unit(k)), nde::params_view<double>(theta), minus);
    j.col(k) = (plus - minus) / (2 * eps);
  }
  return j;
}

template <class Method>
int run(const settings& s) {
  const examples::stopwatch clock;

  // ---- (a) --------------------------------------------------------------------------------
  std::vector<double> order_id, order_dt, order_error;
  // Step ranges in each method's asymptotic regime, above rounding error.
  const double euler_order =
      order_study<nde::euler>("euler", 1, 128, 8192, order_id, order_dt, order_error);
  const double rk4_order =
      order_study<nde::rk4>("rk4", 4, 64, 1024, order_id, order_dt, order_error);
  const double dopri5_order =
      order_study<nde::dopri5>("dopri5", 5, 64, 512, order_id, order_dt, order_error);

  // ---- (b) --------------------------------------------------------------------------------
  const network net;
  const Eigen::VectorXd theta = tied_parameters(net, s);
  nde::network_field<network, state> field(net);
  bound_field f{&field, &theta};
  const state y_start(2.0, -1.0);
  const double t_adapt = 2.0;
  const auto reference =
      nde::solve_or_throw(f, nde::dopri5{}, 0.0, t_adapt, y_start,
                          {.controller = nde::pid_controller{.rtol = 1e-12, .atol = 1e-12}});
  std::vector<double> tol_rtol, tol_nfe[3], tol_error[3];
  std::printf("(b) NFE against tolerance (atol = rtol / 100), y0 = (2, -1), t in [0, %g]:\n",
              t_adapt);
  std::printf("    %8s %16s %16s %16s\n", "rtol", "dopri5 NFE (err)", "tsit5 NFE (err)",
              "bosh3 NFE (err)");
  for (int i = 0; i < s.tolerances; ++i) {
    const double rtol = std::pow(10.0, -2.0 - i);
    const nde::solve_options options{.controller =
                                         nde::pid_controller{.rtol = rtol, .atol = rtol / 100}};
    const auto a = nde::solve_or_throw(f, nde::dopri5{}, 0.0, t_adapt, y_start, options);
    const auto b = nde::solve_or_throw(f, nde::tsit5{}, 0.0, t_adapt, y_start, options);
    const auto c = nde::solve_or_throw(f, nde::bosh3{}, 0.0, t_adapt, y_start, options);
    tol_rtol.push_back(rtol);
    int k = 0;
    for (const auto* sol : {&a, &b, &c}) {
      tol_nfe[k].push_back(double(sol->stats.rhs_evals));
      tol_error[k].push_back((sol->ys.back() - reference.ys.back()).cwiseAbs().maxCoeff());
      ++k;
    }
    std::printf("    %8.0e %7zu (%7.1e) %7zu (%7.1e) %7zu (%7.1e)\n", rtol, a.stats.rhs_evals,
                tol_error[0].back(), b.stats.rhs_evals, tol_error[1].back(), c.stats.rhs_evals,
                tol_error[2].back());
    std::fflush(stdout);
  }

  // Per-sample solves of a batch of initial states, and the same batch as one solve.
  std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed) + 1);
  batch y0s(2, s.samples);
  for (int j = 0; j < s.samples; ++j)
    for (int i = 0; i < 2; ++i) y0s(i, j) = nde::nn::uniform(engine, -3.0, 3.0);
  const nde::solve_options per_sample{.controller =
                                          nde::pid_controller{.rtol = 1e-6, .atol = 1e-8}};
  std::vector<double> sample_y1, sample_y2, sample_nfe;
  // One integrator reused for every sample: its workspace and the solution are allocated once.
  // (The explicit shape avoids the default argument State{}, an uninitialised fixed-size
  // vector that g++ 12 -O1 flags with -Wmaybe-uninitialized.)
  nde::integrator<nde::dopri5, state> integrator(nde::dopri5{}, state::Zero());
  nde::solution<double, state> sol;
  for (int j = 0; j < s.samples; ++j) {
    const state y0 = y0s.col(j);
    if (integrator.solve(f, 0.0, t_adapt, y0, per_sample, sol) != nde::status::success)
      throw std::runtime_error("per-sample solve failed: " + sol.message);
    sample_y1.push_back(y0[0]);
    sample_y2.push_back(y0[1]);
    sample_nfe.push_back(double(sol.stats.rhs_evals));
  }
  nde::network_field<network, batch> batch_field(net, s.samples);
  const auto batched = nde::solve_or_throw(bound_batch_field{&batch_field, &theta}, nde::dopri5{},
                                           0.0, t_adapt, y0s, per_sample);
  const auto [low, high] = std::minmax_element(sample_nfe.begin(), sample_nfe.end());
  double mean = 0;
  for (double n : sample_nfe) mean += n / s.samples;
  std::printf(
      "(b) %d initial states in [-3, 3]^2, dopri5 rtol 1e-6: per-sample NFE min %.0f, mean %.1f, "
      "max %.0f; "
      "one batched solve (shared step): %zu NFE for all\n",
      s.samples, *low, mean, *high, batched.stats.rhs_evals);
  std::fflush(stdout);

  // ---- (c) --------------------------------------------------------------------------------
  // The trajectory from y_start over a long interval (it settles at the equilibrium, where the
  // spectrum is widest), and the spectrum of ∂f/∂y at 400 points along it.
  const double t_long = 20.0;
  std::vector<double> times;
  for (int i = 0; i <= 400; ++i)
    times.push_back(t_long * std::pow(double(i) / 400, 2.0));  // dense early
  const auto path =
      nde::solve_or_throw(f, nde::dopri5{}, 0.0, t_long, y_start,
                          {.save_at = nde::save_at::times(times),
                           .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}});
  std::vector<double> spec_t, spec_re, spec_im;
  double h_max = std::numeric_limits<double>::infinity(), t_binding = 0, fd_difference = 0;
  std::size_t i_binding = 0;
  complex lambda_binding = 0;
  int skipped = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const Eigen::Matrix2d j = jacobian(field, theta, path.ys[i]);
    fd_difference =
        std::max(fd_difference,
                 (j - finite_difference_jacobian(field, theta, path.ys[i])).cwiseAbs().maxCoeff());
    const Eigen::EigenSolver<Eigen::Matrix2d> eigen(j, false);
    for (int k = 0; k < 2; ++k) {
      const complex lambda = eigen.eigenvalues()[k];
      spec_t.push_back(times[i]);
      spec_re.push_back(lambda.real());
      spec_im.push_back(lambda.imag());
      if (lambda.real() >= 0) {  // the ODE itself does not contract there: no step is stable
        ++skipped;
        continue;
      }
      if (const double h = stable_step<Method>(lambda); h < h_max) {
        h_max = h;
        t_binding = times[i];
        i_binding = i;
        lambda_binding = lambda;
      }
    }
  }
  std::printf("(c) Jacobian from vjp vs central differences: max difference %.1e\n", fd_difference);
  std::printf(
      "(c) eigenvalues of df/dy along the trajectory: real part in [%.2f, %.2f], |imag| up to "
      "%.2f%s\n",
      *std::min_element(spec_re.begin(), spec_re.end()),
      *std::max_element(spec_re.begin(), spec_re.end()),
      std::max(std::abs(*std::min_element(spec_im.begin(), spec_im.end())),
               *std::max_element(spec_im.begin(), spec_im.end())),
      skipped ? " (some with real part >= 0 skipped)" : "");
  if (!std::isfinite(h_max))
    throw std::runtime_error("no contracting eigenvalue on the trajectory");
  std::printf("(c) %s: largest stable step h_max = %.5f, set by lambda = %.3f%+.3fi at t = %.2f\n",
              s.solver.c_str(), h_max, lambda_binding.real(), lambda_binding.imag(), t_binding);

  // Constant steps just below and just above h_max. Linear stability is about how a small
  // perturbation evolves, so the solves start where the binding eigenvalue was found (there
  // the state is close to the equilibrium y*); from the far-away start, steps this large jump
  // several units through the saturated field and can land on spurious cycles of the
  // numerical map, which no eigenvalue predicts.
  std::vector<double> check_which, check_t, check_deviation;
  const state equilibrium = path.ys.back();
  const state check_start = path.ys[i_binding];
  const double check_length = 100 * h_max;
  std::printf("(c) the trajectory settles at the equilibrium y* = (%.4f, %.4f)\n", equilibrium[0],
              equilibrium[1]);
  std::printf("(c) check: constant steps over [%.2f, %.2f] from y(%.2f), |y - y*| = %.2e there:\n",
              t_binding, t_binding + check_length, t_binding, (check_start - equilibrium).norm());
  for (const double factor : {0.95, 1.05}) {
    const double h = factor * h_max;
    const double growth = std::abs(stability_function<Method>(h * lambda_binding));
    const auto run_sol = nde::solve(
        f, Method{}, t_binding, t_binding + check_length, check_start,
        {.save_at = nde::save_at::every_step(), .controller = nde::constant_step{.dt = h}});
    double last = std::numeric_limits<double>::quiet_NaN(), largest = 0;
    for (std::size_t i = 0; i < run_sol.ys.size(); ++i) {
      last = (run_sol.ys[i] - equilibrium).norm();
      largest = std::max(largest, last);
      check_which.push_back(factor);
      check_t.push_back(run_sol.ts[i]);
      check_deviation.push_back(last);
    }
    std::printf(
        "    step %.5f = %.2f h_max, |R(h lambda)| = %.3f: %s after %zu steps, |y - y*| = %.2e at "
        "the end, "
        "%.2e at most\n",
        h, factor, growth,
        run_sol.success() ? "finished" : ("failed (" + run_sol.message + ")").c_str(),
        run_sol.stats.accepted_steps, last, largest);
  }
  std::fflush(stdout);

  // Stability region on a grid, for the figure.
  std::vector<double> region_x, region_y, region_abs;
  for (int i = 0; i <= 200; ++i)
    for (int k = 0; k <= 200; ++k) {
      const complex z(-6.0 + 8.0 * i / 200, -4.5 + 9.0 * k / 200);
      region_x.push_back(z.real());
      region_y.push_back(z.imag());
      region_abs.push_back(std::abs(stability_function<Method>(z)));
    }

  // ---- output -----------------------------------------------------------------------------
  std::filesystem::create_directories(s.out);
  examples::write_csv(s.out / "order.csv", {"order", "dt", "error"},
                      {order_id, order_dt, order_error});
  examples::write_csv(
      s.out / "tolerance.csv",
      {"rtol", "dopri5_nfe", "tsit5_nfe", "bosh3_nfe", "dopri5_error", "tsit5_error",
       "bosh3_error"},
      {tol_rtol, tol_nfe[0], tol_nfe[1], tol_nfe[2], tol_error[0], tol_error[1], tol_error[2]});
  examples::write_csv(s.out / "samples.csv", {"y1", "y2", "nfe"},
                      {sample_y1, sample_y2, sample_nfe});
  examples::write_csv(s.out / "spectrum.csv", {"t", "re", "im"}, {spec_t, spec_re, spec_im});
  examples::write_csv(s.out / "region.csv", {"re", "im", "abs_r"},
                      {region_x, region_y, region_abs});
  examples::write_csv(s.out / "check.csv", {"factor", "t", "deviation"},
                      {check_which, check_t, check_deviation});
  examples::write_csv(s.out / "summary.csv",
                      {"h_max", "binding_re", "binding_im", "batch_nfe", "euler_order", "rk4_order",
                       "dopri5_order", "equilibrium_y1", "equilibrium_y2"},
                      {{h_max},
                       {lambda_binding.real()},
                       {lambda_binding.imag()},
                       {double(batched.stats.rhs_evals)},
                       {euler_order},
                       {rk4_order},
                       {dopri5_order},
                       {equilibrium[0]},
                       {equilibrium[1]}});
  std::ofstream(s.out / "solver.txt") << s.solver << '\n';  // the figure's labels
  std::printf("wrote %s/{order,tolerance,samples,spectrum,region,check,summary}.csv (%.1f s)\n",
              s.out.string().c_str(), clock.seconds());
  if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
    std::printf("wrote %s/numerics.png\n", s.out.string().c_str());
  std::printf(
      "result: euler_order=%.3f rk4_order=%.3f dopri5_order=%.3f h_max=%.5f batch_nfe=%zu\n",
      euler_order, rk4_order, dopri5_order, h_max, batched.stats.rhs_evals);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt("numerics",
                          "order, adaptivity and stability of the solvers on a neural field");
    opt.add("seed", "0",
            "random seed of the network's first layer and of the batch of initial states")
        .add("solver", "dopri5",
             "method for the stability study: euler, midpoint, heun, rk4, rk38, bosh3, dopri5, "
             "tsit5")
        .add("damping", "10", "d in M = [[-d, w], [-w, -d]] (the field's contraction)")
        .add("rotation", "10", "w in M (the field's rotation)")
        .add("samples", "256", "initial states solved one by one in (b)")
        .add("tolerances", "9", "tolerances in (b): rtol = 1e-2, 1e-3, ...")
        .add("out", "out/numerics", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const settings s{opt.integer("seed"), opt.integer("samples"), opt.integer("tolerances"),
                     opt.real("damping"), opt.real("rotation"),   opt.str("solver"),
                     opt.str("out")};
    if (s.samples < 1 || s.samples > 100000 || s.tolerances < 1 || s.tolerances > 11 ||
        !(s.damping > 0) || !std::isfinite(s.damping) || !std::isfinite(s.rotation))
      throw std::invalid_argument(
          "need 1 <= samples <= 100000, 1 <= tolerances <= 11, a positive finite damping and a "
          "finite rotation");
    std::printf(
        "numerics: tied 2-32-2 tanh field (seed %d, damping %g, rotation %g), stability of %s\n",
        s.seed, s.damping, s.rotation, s.solver.c_str());
    if (s.solver == "euler") return run<nde::euler>(s);
    if (s.solver == "midpoint") return run<nde::midpoint>(s);
    if (s.solver == "heun") return run<nde::heun>(s);
    if (s.solver == "rk4") return run<nde::rk4>(s);
    if (s.solver == "rk38") return run<nde::rk38>(s);
    if (s.solver == "bosh3") return run<nde::bosh3>(s);
    if (s.solver == "dopri5") return run<nde::dopri5>(s);
    if (s.solver == "tsit5") return run<nde::tsit5>(s);
    throw std::invalid_argument(
        "--solver must be euler, midpoint, heun, rk4, rk38, bosh3, dopri5 or tsit5 (got '" +
        s.solver + "')");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "numerics: %s\n", e.what());
    return 2;
  }
}
