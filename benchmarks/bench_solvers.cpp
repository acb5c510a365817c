// The measurements behind docs/solvers.md: every adaptive explicit method at loose, medium and
// tight tolerances on four problems — a decaying rotation (linear, exact solution), the
// Lotka–Volterra predator–prey cycle, Van der Pol at μ = 1 (non-stiff limit cycle) and at
// μ = 100 (stiff: the steps are limited by stability, not accuracy). Counters: nfe (f
// evaluations per solve), steps (accepted), rejected, error (max |y(t1) − reference|, the
// reference from dopri5 at rtol 1e-13 or the closed form). atol = rtol · 1e-3.
//
// The high-order pairs (DOP853, Vern7) against dopri5 at rtol 1e-10 on W1's spiral field
// (benchmarks/README.md; atol = rtol / 100 as W1): with W1's 1000 save times (every step holds
// dense output, so DOP853 pays its 3 and Vern7 its 5 extra dense-output stages per step) and
// with t1 alone. Counters: nfe, steps, rejected, error (max |y − W1's reference| over the saves,
// the reference from dopri5 at rtol 1e-13, atol 1e-15).
#include <nde/nde.hpp>
#include <nde/solvers/dop853.hpp>
#include <nde/solvers/vern7.hpp>

#include <benchmark/benchmark.h>

#include "common/workloads.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

namespace {

using vec = Eigen::Vector2d;

struct rotation {
  static constexpr const char* name = "rotation";
  static constexpr double t1 = 20.0;
  static vec y0() { return {1.0, 0.0}; }
  void operator()(double, const vec& y, vec& d) const {
    d << -0.1 * y[0] + y[1], -y[0] - 0.1 * y[1];
  }
  static vec exact() {
    const double decay = std::exp(-0.1 * t1);
    return decay * vec(std::cos(t1), -std::sin(t1));
  }
};

struct lotka_volterra {
  static constexpr const char* name = "lotka_volterra";
  static constexpr double t1 = 15.0;
  static vec y0() { return {10.0, 5.0}; }
  void operator()(double, const vec& y, vec& d) const {
    d << 1.5 * y[0] - y[0] * y[1], -3.0 * y[1] + y[0] * y[1];
  }
};

template <int Mu>
struct van_der_pol {
  static constexpr const char* name = Mu == 1 ? "van_der_pol_mu1" : "van_der_pol_mu100";
  static constexpr double t1 = Mu == 1 ? 20.0 : 3.0;
  static vec y0() { return {2.0, 0.0}; }
  void operator()(double, const vec& y, vec& d) const {
    d << y[1], Mu * (1 - y[0] * y[0]) * y[1] - y[0];
  }
};

template <class Problem>
vec reference() {
  if constexpr (requires { Problem::exact(); }) {
    return Problem::exact();
  } else {
    Problem f;
    return nde::solve_or_throw(f, nde::dopri5{}, 0.0, Problem::t1, Problem::y0(),
                               {.controller = nde::pid_controller{.rtol = 1e-13, .atol = 1e-15},
                                .max_steps = 10000000})
        .ys.back();
  }
}

template <class Problem, class Method>
void solve(benchmark::State& st, double rtol) {
  Problem f;
  const vec y0 = Problem::y0();
  static const vec ref = reference<Problem>();
  nde::integrator<Method, vec> solver(Method{}, y0);
  nde::solution<double, vec> out;
  const nde::solve_options options{
      .controller = nde::pid_controller{.rtol = rtol, .atol = 1e-3 * rtol}, .max_steps = 10000000};
  for (auto _ : st) {
    solver.solve(f, 0.0, Problem::t1, y0, options, out);
    benchmark::DoNotOptimize(out.ys.back().data());
  }
  if (!out.success()) {
    st.SkipWithError(out.message.c_str());
    return;
  }
  st.counters["nfe"] = static_cast<double>(out.stats.rhs_evals);
  st.counters["steps"] = static_cast<double>(out.stats.accepted_steps);
  st.counters["rejected"] = static_cast<double>(out.stats.rejected_steps);
  st.counters["error"] = (out.ys.back() - ref).cwiseAbs().maxCoeff();
}

template <class Problem>
void register_problem() {
  const bool smoke = std::getenv("NDE_BENCH_SMOKE") != nullptr;
  for (const double rtol : {1e-3, 1e-6, 1e-9}) {
    if (smoke && rtol != 1e-3) continue;
    char tol[16];
    std::snprintf(tol, sizeof tol, "%.0e", rtol);
    auto add = [&](const char* method, auto fn) {
      benchmark::RegisterBenchmark(
          (std::string("solvers/") + Problem::name + "/" + method + "/rtol" + tol).c_str(), fn,
          rtol)
          ->Unit(benchmark::kMicrosecond);
    };
    add("bosh3", solve<Problem, nde::bosh3>);
    add("dopri5", solve<Problem, nde::dopri5>);
    add("tsit5", solve<Problem, nde::tsit5>);
  }
}

// ---- W1's spiral field at rtol 1e-10 ----------------------------------------------------------
template <class Method>
void w1_tight(benchmark::State& st, bool saves) {
  using state = Eigen::Vector2d;
  constexpr double rtol = 1e-10;
  bench::spiral_rhs<state> f;
  const state y0(2, 0);
  const auto times = bench::linspace(0, bench::w1_t1(), bench::w1_saves());
  const nde::solve_options options{
      .save_at = saves ? nde::save_at::times(times) : nde::save_at::final_time(),
      .controller = nde::pid_controller{.rtol = rtol, .atol = rtol / 100},
      .max_steps = 10000000};
  nde::integrator<Method, state> solver(Method{}, y0);
  nde::solution<double, state> sol;
  solver.solve(f, 0.0, bench::w1_t1(), y0, options, sol);  // sizes the outputs once
  if (!sol.success()) {
    st.SkipWithError(sol.message.c_str());
    return;
  }
  for (auto _ : st) {
    solver.solve(f, 0.0, bench::w1_t1(), y0, options, sol);
    benchmark::DoNotOptimize(sol.ys.back().data());
  }
  st.counters["nfe"] = static_cast<double>(sol.stats.rhs_evals);
  st.counters["steps"] = static_cast<double>(sol.stats.accepted_steps);
  st.counters["rejected"] = static_cast<double>(sol.stats.rejected_steps);
  st.counters["error"] = saves
                             ? bench::w1_error(sol.ys)
                             : (sol.ys.back() - bench::w1_reference().back()).cwiseAbs().maxCoeff();
}

void register_w1_tight() {
  for (const bool saves : {true, false}) {
    auto add = [&](const char* method, auto fn) {
      benchmark::RegisterBenchmark(
          (std::string("solvers/w1_spiral") + (saves ? "" : "_final") + "/" + method + "/rtol1e-10")
              .c_str(),
          fn, saves)
          ->Unit(benchmark::kMicrosecond);
    };
    add("dopri5", w1_tight<nde::dopri5>);
    add("dop853", w1_tight<nde::dop853>);
    add("vern7", w1_tight<nde::vern7>);
  }
}

const bool registered = [] {
  register_w1_tight();
  register_problem<rotation>();
  register_problem<lotka_volterra>();
  register_problem<van_der_pol<1>>();
  register_problem<van_der_pol<100>>();
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
