// W1 batch 1 against Boost.Odeint, in the same run: the like-for-like comparison of
// `nde::solve` with `save_at::times` (dense output at the 1000 save times) and odeint's
// `integrate_times` with a dense-output `runge_kutta_dopri5` (controlled, same rtol/atol),
// both on Eigen::Vector2d states (odeint through boost/numeric/odeint/external/eigen/eigen.hpp
// with vector_space_algebra) and the same field object. Counters: nfe, steps, error (max
// |y - reference| over the save times; the reference is nde's dopri5 at rtol 1e-13).
// Also W3's fixed-step RK4 (1000 steps) against odeint's runge_kutta4 + integrate_n_steps.
#include "common/alloc_counter.hpp"
#include "common/workloads.hpp"

#include <benchmark/benchmark.h>
#include <boost/numeric/odeint.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

#include <vector>

namespace {

namespace odeint = boost::numeric::odeint;
using vec = Eigen::Vector2d;

struct counted_rhs {
  bench::spiral_rhs<vec>* f;
  std::size_t* count;
  void operator()(const vec& y, vec& dydt, double t) const {
    ++*count;
    (*f)(t, y, dydt);
  }
};

void w1_nde(benchmark::State& st) {
  bench::spiral_rhs<vec> f;
  const vec y0(2, 0);
  const nde::solve_options options{
      .save_at = nde::save_at::times(bench::linspace(0, bench::w1_t1(), bench::w1_saves())),
      .controller = nde::pid_controller{.rtol = bench::w1_rtol, .atol = bench::w1_atol}};
  nde::integrator<nde::dopri5, vec> solver(nde::dopri5{}, y0);
  nde::solution<double, vec> sol;
  solver.solve(f, 0.0, bench::w1_t1(), y0, options, sol);
  const bench::allocation_scope allocations;
  for (auto _ : st) {
    solver.solve(f, 0.0, bench::w1_t1(), y0, options, sol);
    benchmark::DoNotOptimize(sol.ys.back().data());
  }
  st.counters["allocs_per_solve"] =
      double(allocations.count()) / double(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.counters["nfe"] = double(sol.stats.rhs_evals);
  st.counters["steps"] = double(sol.stats.accepted_steps + sol.stats.rejected_steps);
  st.counters["max_error"] = bench::w1_error(sol.ys);
}
BENCHMARK(w1_nde)->Unit(benchmark::kMicrosecond);

void w1_odeint(benchmark::State& st) {
  bench::spiral_rhs<vec> f;
  std::size_t count = 0;
  const counted_rhs rhs{&f, &count};
  using stepper =
      odeint::runge_kutta_dopri5<vec, double, vec, double, odeint::vector_space_algebra>;
  const auto ts = bench::linspace(0, bench::w1_t1(), bench::w1_saves());
  std::vector<vec> ys(ts.size());
  std::size_t steps = 0, nfe = 0;
  const bench::allocation_scope allocations;
  for (auto _ : st) {
    auto dense = odeint::make_dense_output(bench::w1_atol, bench::w1_rtol, stepper());
    vec y(2, 0);
    std::size_t i = 0;
    count = 0;
    // Initial trial step 1e-3 (odeint has no automatic initial step); its controller adapts from there.
    steps = odeint::integrate_times(dense, rhs, y, ts.begin(), ts.end(), 1e-3,
                                    [&](const vec& state, double) { ys[i++] = state; });
    nfe = count;
    benchmark::DoNotOptimize(ys.back().data());
  }
  st.counters["allocs_per_solve"] =
      double(allocations.count()) / double(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.counters["nfe"] = double(nfe);
  st.counters["steps"] = double(steps);
  st.counters["max_error"] = bench::w1_error(ys);
}
BENCHMARK(w1_odeint)->Unit(benchmark::kMicrosecond);

double w3_t1() { return bench::smoke() ? 0.25 : 25.0; }

void w3_nde(benchmark::State& st) {
  bench::spiral_rhs<vec> f;
  const vec y0(2, 0);
  const nde::solve_options options{.controller = nde::constant_step{.dt = 0.025}};
  nde::integrator<nde::rk4, vec> solver(nde::rk4{}, y0);
  nde::solution<double, vec> sol;
  solver.solve(f, 0.0, w3_t1(), y0, options, sol);
  for (auto _ : st) {
    solver.solve(f, 0.0, w3_t1(), y0, options, sol);
    benchmark::DoNotOptimize(sol.ys.back().data());
  }
  st.counters["nfe"] = double(sol.stats.rhs_evals);
}
BENCHMARK(w3_nde)->Unit(benchmark::kMicrosecond);

void w3_odeint(benchmark::State& st) {
  bench::spiral_rhs<vec> f;
  std::size_t count = 0;
  const counted_rhs rhs{&f, &count};
  odeint::runge_kutta4<vec, double, vec, double, odeint::vector_space_algebra> stepper;
  const auto n = static_cast<std::size_t>(std::lround(w3_t1() / 0.025));
  std::size_t nfe = 0;
  for (auto _ : st) {
    vec y(2, 0);
    count = 0;
    odeint::integrate_n_steps(stepper, rhs, y, 0.0, 0.025, n);
    nfe = count;
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["nfe"] = double(nfe);
}
BENCHMARK(w3_odeint)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
