// stiff_chemistry: learn the three rate constants of Robertson's chemical kinetics (ROBER,
// k = 0.04, 3e7, 1e4; Hairer & Wanner II, §IV.1) from noisy concentrations on a log time axis,
// with an implicit solver (kvaerno5) and forward sensitivities (or its discrete adjoint) — and count the steps an
// explicit method (dopri5) would have needed for one solve.
//
//   y1' = -k1 y1 + k3 y2 y3,  y2' = k1 y1 - k2 y2² - k3 y2 y3,  y3' = k2 y2²,  y(0) = (1, 0, 0)
//
// The rates are learned as log k (they span nine decades); the loss scales each species by
// its largest observed value (y2 is ~1e-5 of the others), as Kim et al. 2021 ("Stiff neural
// ordinary differential equations") scale the outputs of stiff systems.
//
// Writes <out>/data.csv, fit.csv, loss.csv and, when matplotlib is present, stiff_chemistry.png.
// Last line: result: rate_rel_error=<x> dopri5_steps=<n> implicit_steps=<n>.
#include "example_support.hpp"

#include <nde/adjoint/differentiable_solve.hpp>
#include <nde/optim/adam.hpp>
#include <nde/optim/schedule.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/kvaerno5.hpp>
#include <nde/terms/autodiff_field.hpp>
#include <nde/terms/ode_term.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using vec = Eigen::VectorXd;

// ROBER over its scalar (θ = log k): autodiff_field gives the Jacobian for Newton and the vjp for
// the adjoint.
auto rober = [](auto, const auto& y, const auto& theta, auto& dydt) {
  using std::exp;
  const auto k1 = exp(theta[0]), k2 = exp(theta[1]), k3 = exp(theta[2]);
  dydt[0] = -k1 * y[0] + k3 * y[1] * y[2];
  dydt[1] = k1 * y[0] - k2 * y[1] * y[1] - k3 * y[1] * y[2];
  dydt[2] = k2 * y[1] * y[1];
};
using rober_field = nde::autodiff_field<vec, decltype(rober)>;
using rober_term = nde::ode_term<rober_field>;

rober_term make_term() { return rober_term(rober_field(rober, 3)); }
vec initial_state() { return (vec(3) << 1, 0, 0).finished(); }
vec true_log_rates() { return (vec(3) << std::log(0.04), std::log(3e7), std::log(1e4)).finished(); }

// Watches dopri5's accepted steps: where it got to, and its last step size.
struct last_step {
  double t = 0, h = 1;
  template <class... A>
  void begin(const A&...) {}
  template <class Step>
  void step(const Step& step) {
    t = step.t1;
    h = step.t1 - step.t0;
  }
  template <class... A>
  void output(const A&...) {}
};

struct settings {
  int iters, observations, report_every, seed;
  long dopri5_max_steps;
  double noise, lr, rtol, t_end;
  std::string gradient;
  std::filesystem::path out;
};

nde::kvaerno5 implicit_method(double rtol) {
  return nde::kvaerno5{.newton = {.rtol = rtol, .atol = rtol * 1e-6}};
}
nde::pid_controller controller(double rtol) { return {.rtol = rtol, .atol = rtol * 1e-6}; }

// Log-spaced observation times on [t_end·1e-10, t_end].
std::vector<double> observation_times(const settings& s) {
  std::vector<double> ts;
  for (int i = 0; i < s.observations; ++i)
    ts.push_back(s.t_end * std::pow(10.0, -10.0 + 10.0 * i / (s.observations - 1)));
  return ts;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt("stiff_chemistry",
                          "learn ROBER's rate constants from noisy data with an implicit solver");
    opt.add("iters", "300", "Adam iterations (cosine decay to 2%)")
        .add("observations", "40", "log-spaced observation times on [1e-5, t-end]")
        .add("noise", "0.01", "relative (multiplicative) observation noise")
        .add("lr", "0.1", "Adam learning rate on log k")
        .add("rtol", "1e-6", "solver tolerance (atol = rtol * 1e-6)")
        .add("t-end", "1e5", "last observation time")
        .add("dopri5-max-steps", "20000000", "step budget of the explicit comparison solve")
        .add("report-every", "25", "iterations between progress lines")
        .add("gradient", "forward", "forward (sensitivities), discrete or checkpointed")
        .add("seed", "0", "random seed (noise, initial guess)")
        .add("out", "out/stiff_chemistry", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const settings s{opt.integer("iters"),
                     opt.integer("observations"),
                     opt.integer("report-every"),
                     opt.integer("seed"),
                     static_cast<long>(opt.real("dopri5-max-steps")),
                     opt.real("noise"),
                     opt.real("lr"),
                     opt.real("rtol"),
                     opt.real("t-end"),
                     opt.str("gradient"),
                     opt.str("out")};
    nde::adjoint_method gradient = nde::forward_sensitivity{};
    if (s.gradient == "discrete") {
      gradient = nde::discrete_adjoint{};
    } else if (s.gradient == "checkpointed") {
      gradient = nde::checkpointed_adjoint{.controller = controller(s.rtol)};
    } else if (s.gradient != "forward") {
      throw std::invalid_argument("--gradient must be forward, discrete or checkpointed (got '" +
                                  s.gradient + "')");
    }
    if (s.iters < 1 || s.report_every < 1)
      throw std::invalid_argument("need iters, report-every >= 1");
    if (s.observations < 2 || s.observations > 10000)
      throw std::invalid_argument("--observations must lie in [2, 10000]");
    if (!(s.noise >= 0 && s.noise < 0.5))
      throw std::invalid_argument("--noise must lie in [0, 0.5)");
    if (!(s.lr > 0) || !(s.rtol > 0 && s.rtol < 0.1) || !(s.t_end > 0))
      throw std::invalid_argument("--lr, --rtol (< 0.1) and --t-end must be positive");
    if (s.dopri5_max_steps < 1) throw std::invalid_argument("--dopri5-max-steps must be >= 1");
    std::filesystem::create_directories(s.out);
    examples::stopwatch clock;
    auto term = make_term();
    const auto ts = observation_times(s);
    const vec y0 = initial_state(), truth = true_log_rates();

    // ---- data: the true system at a tight tolerance, with multiplicative noise ------------
    const double tight = 1e-10;
    auto reference =
        nde::solve(term, implicit_method(tight), 0.0, s.t_end, y0, truth,
                   {.save_at = nde::save_at::times(ts), .controller = controller(tight)});
    if (!reference.success()) throw std::runtime_error("reference solve: " + reference.message);
    std::mt19937_64 engine(static_cast<std::uint64_t>(s.seed) * 7919 + 17);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<vec> data;
    vec scale = vec::Zero(3);
    for (const auto& y : reference.ys) {
      vec d = y;
      for (Eigen::Index j = 0; j < 3; ++j) d[j] *= 1 + s.noise * normal(engine);
      scale = scale.cwiseMax(d.cwiseAbs());
      data.push_back(d);
    }
    std::printf(
        "stiff_chemistry: %d observations on [%.0e, %.0e], noise %.1f%%, kvaerno5 at "
        "rtol %.0e, gradient: %s, %d Adam iterations\n",
        s.observations, ts.front(), ts.back(), 100 * s.noise, s.rtol, s.gradient.c_str(), s.iters);

    const double weight = 1.0 / (3.0 * s.observations);
    auto loss_of = [&](const std::vector<vec>& ys) {
      double total = 0;
      for (std::size_t i = 0; i < ts.size(); ++i)
        total += weight * (ys[i] - data[i]).cwiseQuotient(scale).squaredNorm();
      return total;
    };
    {
      auto at_truth =
          nde::solve(term, implicit_method(s.rtol), 0.0, s.t_end, y0, truth,
                     {.save_at = nde::save_at::times(ts), .controller = controller(s.rtol)});
      if (!at_truth.success())
        throw std::runtime_error("solve at the true rates: " + at_truth.message);
      std::printf("loss at the true rate constants (the noise floor): %.3e\n",
                  loss_of(at_truth.ys));
    }

    // ---- training: Adam on log k from a guess 2-3x off each constant ------------------------
    vec theta = truth + (vec(3) << 0.9, -1.0, 0.8).finished();
    nde::optim::adam<double> optimiser(3, {.learning_rate = s.lr});
    const nde::optim::cosine_schedule<double> schedule{
        .base = s.lr, .total_steps = s.iters, .minimum = 0.02 * s.lr};
    std::vector<double> losses;
    std::vector<vec> cotangents(ts.size(), vec::Zero(3));
    std::size_t implicit_steps = 0;
    for (int it = 0; it <= s.iters; ++it) {
      auto solved = nde::solve(term, implicit_method(s.rtol), 0.0, s.t_end, y0, theta,
                               {.save_at = nde::save_at::times(ts),
                                .controller = controller(s.rtol),
                                .adjoint = gradient});
      if (!solved.success())
        throw std::runtime_error("training solve at iteration " + std::to_string(it) + ": " +
                                 solved.message);
      implicit_steps = solved.stats.accepted_steps;
      double loss = 0;
      for (std::size_t i = 0; i < ts.size(); ++i) {
        const vec r = (solved.ys[i] - data[i]).cwiseQuotient(scale);
        loss += weight * r.squaredNorm();
        cotangents[i] = 2 * weight * r.cwiseQuotient(scale);
      }
      losses.push_back(loss);
      const vec k = theta.array().exp();
      if (it % s.report_every == 0 || it == s.iters)
        std::printf("  iter %4d  loss %.3e  k = (%.4g, %.4g, %.4g)  %zu steps  (%.1f s)\n", it,
                    loss, k[0], k[1], k[2], implicit_steps, clock.seconds());
      if (it == s.iters) break;
      auto g = solved.backward(cotangents);
      if (g.status != nde::status::success) throw std::runtime_error("backward: " + g.message);
      optimiser.set_learning_rate(schedule(it));
      if (optimiser.step(theta, g.params) != nde::status::success)
        throw std::runtime_error("Adam step failed");
    }
    const vec learned = theta.array().exp(), k_true = truth.array().exp();
    const double rate_error = ((learned - k_true).cwiseQuotient(k_true)).cwiseAbs().maxCoeff();
    std::printf(
        "learned k = (%.5g, %.5g, %.5g), true (%.5g, %.5g, %.5g): largest relative "
        "error %.2e\n",
        learned[0], learned[1], learned[2], k_true[0], k_true[1], k_true[2], rate_error);

    // ---- the fit on a fine log grid, and what dopri5 needs for one solve -----------------
    std::vector<double> fine;
    for (int i = 0; i <= 200; ++i) fine.push_back(s.t_end * std::pow(10.0, -10.0 + i / 20.0));
    auto fit = nde::solve(term, implicit_method(s.rtol), 0.0, s.t_end, y0, theta,
                          {.save_at = nde::save_at::times(fine), .controller = controller(s.rtol)});
    if (!fit.success()) throw std::runtime_error("fit solve: " + fit.message);
    implicit_steps = fit.stats.accepted_steps;
    std::printf("dopri5 on the same problem at rtol %.0e (budget %ld steps)...\n", s.rtol,
                s.dopri5_max_steps);
    nde::integrator<nde::dopri5, vec> explicit_solver(nde::dopri5{}, y0);
    nde::solution<double, vec> explicit_solve;
    last_step watch;
    explicit_solver.solve_with(term, 0.0, s.t_end, y0, theta,
                               {.controller = controller(s.rtol), .max_steps = s.dopri5_max_steps},
                               explicit_solve, watch);
    const bool dopri5_finished = explicit_solve.success();
    const std::size_t dopri5_measured =
        explicit_solve.stats.accepted_steps + explicit_solve.stats.rejected_steps;
    // Past the budget the steps are limited by stability (h ≈ 3.3/|λ|, λ nearly constant late
    // in ROBER): the rest of the interval at the last step size.
    const double dopri5_steps =
        dopri5_finished ? static_cast<double>(dopri5_measured)
                        : static_cast<double>(dopri5_measured) + (s.t_end - watch.t) / watch.h;
    const std::string rest =
        dopri5_finished ? std::string()
                        : ", about " + std::to_string(static_cast<long long>(dopri5_steps)) +
                              " steps to t-end at its last step size";
    std::printf("  dopri5: %zu steps (%zu rejected) %s t = %.4g%s; kvaerno5: %zu steps (%.1f s)\n",
                dopri5_measured, explicit_solve.stats.rejected_steps,
                dopri5_finished ? "reached" : "used the budget at", watch.t, rest.c_str(),
                implicit_steps, clock.seconds());
    if (explicit_solve.stiff)
      std::printf("  dopri5's stiffness test fired from t = %.3g\n", explicit_solve.stiff_from);

    std::vector<double> d1, d2, d3, f1, f2, f3, iters, loss_column;
    for (const auto& d : data) {
      d1.push_back(d[0]);
      d2.push_back(d[1]);
      d3.push_back(d[2]);
    }
    for (const auto& y : fit.ys) {
      f1.push_back(y[0]);
      f2.push_back(y[1]);
      f3.push_back(y[2]);
    }
    for (std::size_t i = 0; i < losses.size(); ++i) iters.push_back(static_cast<double>(i));
    examples::write_csv(s.out / "data.csv", {"t", "y1", "y2", "y3"}, {ts, d1, d2, d3});
    examples::write_csv(s.out / "fit.csv", {"t", "y1", "y2", "y3"}, {fine, f1, f2, f3});
    examples::write_csv(s.out / "loss.csv", {"iter", "loss"}, {iters, losses});
    std::printf("wrote %s/{data,fit,loss}.csv\n", s.out.string().c_str());
    if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", s.out))
      std::printf("wrote %s/stiff_chemistry.png\n", s.out.string().c_str());
    std::printf(
        "result: rate_rel_error=%.3e dopri5_steps=%.0f implicit_steps=%zu "
        "dopri5_measured=%zu dopri5_extrapolated=%d\n",
        rate_error, dopri5_steps, implicit_steps, dopri5_measured, dopri5_finished ? 0 : 1);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stiff_chemistry: %s\n", e.what());
    return 2;
  }
}
