// W4: the wide field, MLP 32-256-256-32 tanh on a batch of 128 columns, t ∈ [0, 1], dopri5 at
// rtol 1e-6, atol 1e-8, one thread: the forward solve, its lower bound (one evaluation of the
// network: the GEMMs and activations alone; bound = nfe × that time, formed by
// scripts/benchmarks_to_markdown.py from the same run), one vjp, and each gradient method.
#include "common/alloc_counter.hpp"
#include "common/workloads.hpp"

#include <benchmark/benchmark.h>

#include <span>
#include <vector>

namespace {

using mat = Eigen::MatrixXd;
using field_type = nde::network_field<bench::wide_network, mat>;

struct wide_problem {
  bench::wide_network net = bench::make_wide_network();
  Eigen::VectorXd theta = bench::wide_params(net);
  mat y0 = bench::wide_y0();
};

void w4_field_eval(benchmark::State& st) {
  const wide_problem p;
  field_type field(p.net, p.y0.cols());
  mat dydt = p.y0;
  for (auto _ : st) {
    field(0.0, p.y0, nde::params_view<double>(p.theta), dydt);
    benchmark::DoNotOptimize(dydt.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(w4_field_eval)->Unit(benchmark::kMicrosecond);

void w4_field_vjp(benchmark::State& st) {
  const wide_problem p;
  field_type field(p.net, p.y0.cols());
  const mat a = mat::Ones(p.y0.rows(), p.y0.cols());
  mat a_y = p.y0;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Zero(p.theta.size());
  for (auto _ : st) {
    field.vjp(0.0, p.y0, nde::params_view<double>(p.theta), a, a_y,
              nde::params_ref<double>(a_theta));
    benchmark::DoNotOptimize(a_y.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(w4_field_vjp)->Unit(benchmark::kMicrosecond);

void w4_forward(benchmark::State& st) {
  const wide_problem p;
  field_type field(p.net, p.y0.cols());
  auto f = [&](double t, const mat& y, mat& dydt) {
    field(t, y, nde::params_view<double>(p.theta), dydt);
  };
  const nde::solve_options options{
      .controller = nde::pid_controller{.rtol = bench::w4_rtol, .atol = bench::w4_atol}};
  nde::integrator<nde::dopri5, mat> solver(nde::dopri5{}, p.y0);
  nde::solution<double, mat> sol;
  solver.solve(f, 0.0, 1.0, p.y0, options, sol);
  if (!sol.success()) st.SkipWithError(sol.message.c_str());
  const bench::allocation_scope allocations;
  for (auto _ : st) {
    solver.solve(f, 0.0, 1.0, p.y0, options, sol);
    benchmark::DoNotOptimize(sol.ys.back().data());
  }
  st.counters["allocs_per_solve"] =
      double(allocations.count()) / double(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.counters["nfe"] = double(sol.stats.rhs_evals);
  st.counters["steps"] = double(sol.stats.accepted_steps);
  st.counters["rejected"] = double(sol.stats.rejected_steps);
}
BENCHMARK(w4_forward)->Unit(benchmark::kMicrosecond);

// Forward and backward of the same iterations; L = Σ y(1) ⊙ w with w ~ U(-1, 1) (seed 3).
template <class Gradient>
void w4_gradient(benchmark::State& st) {
  const wide_problem p;
  Gradient method{};
  if constexpr (!std::is_same_v<Gradient, nde::discrete_adjoint>)
    method.controller = {.rtol = bench::w4_rtol, .atol = bench::w4_atol};
  nde::neural_ode<field_type, nde::dopri5, Gradient, mat> model(
      field_type(p.net, p.y0.cols()), p.theta, method,
      {.controller = nde::pid_controller{.rtol = bench::w4_rtol, .atol = bench::w4_atol}});
  const std::vector<double> ts{0.0, 1.0};
  std::mt19937_64 engine(3);
  std::vector<mat> cotangents{mat::Zero(p.y0.rows(), p.y0.cols()), mat(p.y0.rows(), p.y0.cols())};
  for (Eigen::Index i = 0; i < cotangents[1].size(); ++i)
    cotangents[1].data()[i] = nde::nn::uniform(engine, -1, 1);
  double forward = 0, backward = 0;
  nde::gradient_stats stats;
  for (auto _ : st) {
    auto start = bench::thread_seconds();
    const auto& fr = model.forward(p.y0, ts);
    forward += bench::thread_seconds() - start;
    if (fr.status != nde::status::success) {
      st.SkipWithError(fr.message.c_str());
      break;
    }
    start = bench::thread_seconds();
    const auto g = model.backward(std::span<const mat>(cotangents));
    backward += bench::thread_seconds() - start;
    if (g.status != nde::status::success) {
      st.SkipWithError(g.message.c_str());
      break;
    }
    stats = g.stats;
    benchmark::DoNotOptimize(g.params.data());
  }
  const auto n = double(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.counters["forward_s"] = forward / n;
  st.counters["backward_s"] = backward / n;
  st.counters["backward_over_forward"] = backward / std::max(forward, 1e-300);
  st.counters["nfe_forward"] = double(stats.forward_rhs_evals);
  st.counters["nfe_backward"] = double(stats.backward_rhs_evals);
  st.counters["vjp_backward"] = double(stats.backward_vjp_evals);
}
BENCHMARK_TEMPLATE(w4_gradient, nde::backsolve_adjoint)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(w4_gradient, nde::checkpointed_adjoint)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(w4_gradient, nde::discrete_adjoint)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
