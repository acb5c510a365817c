// W1 (spiral forward, batch 1 and 20), W2 (spiral gradient, every method), W3 (fixed-step RK4:
// forward and discrete adjoint), per-sample parallel gradients, and the micro-benchmarks of the
// spiral field (one evaluation, one vjp) that the solver-overhead ratio divides by.
// Workloads: benchmarks/README.md. Counters: nfe (f evaluations per solve), allocs_per_solve
// (heap allocations per solve once the workspace exists), error (W1: max |y - reference|),
// forward_s / backward_s (gradient benchmarks: the two passes of the same iterations).
#include "common/alloc_counter.hpp"
#include "common/workloads.hpp"

#include <benchmark/benchmark.h>

#include <random>
#include <span>
#include <utility>
#include <vector>

namespace {

using vec = Eigen::Vector2d;
using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;

void set_allocations(benchmark::State& st, const bench::allocation_scope& scope) {
  st.counters["allocs_per_solve"] =
      static_cast<double>(scope.count()) /
      static_cast<double>(std::max<benchmark::IterationCount>(st.iterations(), 1));
}

// ---- micro: the field alone --------------------------------------------------------------
template <class State>
void field_eval(benchmark::State& st, State y) {
  bench::spiral_rhs<State> f;
  State dydt = y;
  for (auto _ : st) {
    benchmark::DoNotOptimize(y.data());
    f(0.0, y, dydt);
    benchmark::DoNotOptimize(dydt.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK_CAPTURE(field_eval, spiral_batch1, vec(2, 0));
BENCHMARK_CAPTURE(field_eval, spiral_batch20, bench::spiral_batch_y0(20));

template <class State>
void field_vjp(benchmark::State& st, State y) {
  bench::spiral_rhs<State> f;
  State a = State::Ones(y.rows(), y.cols()), a_y = y;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Zero(f.theta.size());
  for (auto _ : st) {
    benchmark::DoNotOptimize(y.data());
    f.field.vjp(0.0, y, nde::params_view<double>(f.theta), a, a_y,
                nde::params_ref<double>(a_theta));
    benchmark::DoNotOptimize(a_y.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK_CAPTURE(field_vjp, spiral_batch1, vec(2, 0));
BENCHMARK_CAPTURE(field_vjp, spiral_batch20, bench::spiral_batch_y0(20));

// ---- W1: forward solve with 1000 save times (dense output) -------------------------------
template <class State>
void w1_forward(benchmark::State& st, State y0) {
  bench::spiral_rhs<State> f;
  const nde::solve_options options{
      .save_at = nde::save_at::times(bench::linspace(0, bench::w1_t1(), bench::w1_saves())),
      .controller = nde::pid_controller{.rtol = bench::w1_rtol, .atol = bench::w1_atol}};
  nde::integrator<nde::dopri5, State> solver(nde::dopri5{}, y0);
  nde::solution<double, State> sol;
  solver.solve(f, 0.0, bench::w1_t1(), y0, options, sol);  // sizes the outputs once
  if (!sol.success()) st.SkipWithError(sol.message.c_str());
  const bench::allocation_scope allocations;
  for (auto _ : st) {
    solver.solve(f, 0.0, bench::w1_t1(), y0, options, sol);
    benchmark::DoNotOptimize(sol.ys.back().data());
  }
  set_allocations(st, allocations);
  st.counters["nfe"] = static_cast<double>(sol.stats.rhs_evals);
  st.counters["steps"] = static_cast<double>(sol.stats.accepted_steps);
  st.counters["rejected"] = static_cast<double>(sol.stats.rejected_steps);
  if constexpr (State::ColsAtCompileTime == 1) st.counters["max_error"] = bench::w1_error(sol.ys);
}
BENCHMARK_CAPTURE(w1_forward, batch1, vec(2, 0))->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(w1_forward, batch20, bench::spiral_batch_y0(20))->Unit(benchmark::kMicrosecond);

// ---- W2: spiral gradient, 20 windows of 10 steps, mean absolute error ----------------------
struct w2_problem {
  std::vector<double> ts;
  batch y0;
  std::vector<batch> targets;  // targets[i].col(b) = true y at window b's i-th time
  w2_problem() {
    const auto data = bench::make_spiral_data();
    const int windows = 20, length = bench::smoke() ? 3 : 10;
    ts.assign(data.t.begin(), data.t.begin() + length);
    std::mt19937 sampler(1);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(data.t.size()) - length - 1);
    y0.resize(2, windows);
    targets.assign(static_cast<std::size_t>(length), batch(2, windows));
    for (int b = 0; b < windows; ++b) {
      const int start = pick(sampler);
      y0.col(b) = data.y[static_cast<std::size_t>(start)];
      for (int i = 0; i < length; ++i)
        targets[static_cast<std::size_t>(i)].col(b) = data.y[static_cast<std::size_t>(start + i)];
    }
  }
  // Mean absolute error over every entry; fills its cotangents.
  template <class Ys>
  double loss(const Ys& ys, std::vector<batch>& cotangents) const {
    const double scale =
        1.0 / static_cast<double>(2 * y0.cols() * static_cast<Eigen::Index>(ts.size()));
    double l = 0;
    for (std::size_t i = 0; i < ts.size(); ++i) {
      const batch r = ys[i] - targets[i];
      l += r.cwiseAbs().sum() * scale;
      cotangents[i] = r.unaryExpr([&](double x) { return x > 0 ? scale : (x < 0 ? -scale : 0.0); });
    }
    return l;
  }
};

template <class Gradient>
Gradient spiral_gradient_method() {
  Gradient g{};
  if constexpr (!std::is_same_v<Gradient, nde::discrete_adjoint>)
    g.controller = {.rtol = bench::w1_rtol, .atol = bench::w1_atol};
  return g;
}

// Times the forward and the backward pass of the same iterations (counters forward_s,
// backward_s); the benchmark's own time is their sum plus the loss.
template <class Model, class State, class Loss>
void time_gradient(benchmark::State& st, Model& model, const State& y0, std::span<const double> ts,
                   Loss&& loss) {
  std::vector<State> cotangents(ts.size(), y0);
  double forward = 0, backward = 0;
  nde::gradient_stats stats;
  for (auto _ : st) {
    auto start = bench::thread_seconds();
    const auto& fr = model.forward(y0, ts);
    forward += bench::thread_seconds() - start;
    if (fr.status != nde::status::success) {
      st.SkipWithError(fr.message.c_str());
      break;
    }
    loss(fr.ys, cotangents);
    start = bench::thread_seconds();
    const auto g = model.backward(std::span<const State>(cotangents));
    backward += bench::thread_seconds() - start;
    if (g.status != nde::status::success) {
      st.SkipWithError(g.message.c_str());
      break;
    }
    stats = g.stats;
    benchmark::DoNotOptimize(g.params.data());
  }
  const auto n = static_cast<double>(std::max<benchmark::IterationCount>(st.iterations(), 1));
  st.counters["forward_s"] = forward / n;
  st.counters["backward_s"] = backward / n;
  st.counters["backward_over_forward"] = backward / std::max(forward, 1e-300);
  st.counters["nfe_forward"] = static_cast<double>(stats.forward_rhs_evals);
  st.counters["nfe_backward"] = static_cast<double>(stats.backward_rhs_evals);
  st.counters["vjp_backward"] = static_cast<double>(stats.backward_vjp_evals);
}

template <class Gradient>
void w2_gradient(benchmark::State& st) {
  static const w2_problem problem;
  using field = nde::network_field<bench::spiral_network, batch>;
  const auto net = bench::make_spiral_network();
  nde::neural_ode<field, nde::dopri5, Gradient, batch> model(
      field(net, 20), bench::spiral_params(net), spiral_gradient_method<Gradient>(),
      {.controller = nde::pid_controller{.rtol = bench::w1_rtol, .atol = bench::w1_atol}});
  time_gradient(st, model, problem.y0, problem.ts,
                [&](const auto& ys, std::vector<batch>& c) { return problem.loss(ys, c); });
}
BENCHMARK_TEMPLATE(w2_gradient, nde::backsolve_adjoint)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(w2_gradient, nde::checkpointed_adjoint)->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(w2_gradient, nde::discrete_adjoint)->Unit(benchmark::kMicrosecond);

// ---- W3: fixed-step RK4, 1000 steps of 0.025 on W1's field --------------------------------
double w3_t1() { return bench::smoke() ? 0.25 : 25.0; }
constexpr double w3_dt = 0.025;

void w3_forward(benchmark::State& st) {
  bench::spiral_rhs<vec> f;
  const vec y0(2, 0);
  const nde::solve_options options{.controller = nde::constant_step{.dt = w3_dt}};
  nde::integrator<nde::rk4, vec> solver(nde::rk4{}, y0);
  nde::solution<double, vec> sol;
  solver.solve(f, 0.0, w3_t1(), y0, options, sol);
  const bench::allocation_scope allocations;
  for (auto _ : st) {
    solver.solve(f, 0.0, w3_t1(), y0, options, sol);
    benchmark::DoNotOptimize(sol.ys.back().data());
  }
  set_allocations(st, allocations);
  st.counters["nfe"] = static_cast<double>(sol.stats.rhs_evals);
  st.counters["steps"] = static_cast<double>(sol.stats.accepted_steps);
}
BENCHMARK(w3_forward)->Unit(benchmark::kMicrosecond);

void w3_discrete_adjoint(benchmark::State& st) {
  using field = nde::network_field<bench::spiral_network, vec>;
  const auto net = bench::make_spiral_network();
  nde::neural_ode<field, nde::rk4, nde::discrete_adjoint, vec> model(
      field(net), bench::spiral_params(net), {}, {.controller = nde::constant_step{.dt = w3_dt}});
  const std::vector<double> ts{0.0, w3_t1()};
  // L = ½|y(T)|².
  time_gradient(st, model, vec(2, 0), ts, [](const auto& ys, std::vector<vec>& c) {
    c[0].setZero();
    c[1] = ys[1];
    return 0.5 * ys[1].squaredNorm();
  });
}
BENCHMARK(w3_discrete_adjoint)->Unit(benchmark::kMicrosecond);

// ---- per-sample parallel gradients: W2's 20 windows as 20 independent solves ---------------
template <class Gradient>
void per_sample_gradients(benchmark::State& st) {
  static const w2_problem problem;
  using field = nde::network_field<bench::spiral_network, vec>;
  const auto net = bench::make_spiral_network();
  const nde::neural_ode<field, nde::dopri5, Gradient, vec> model(
      field(net), bench::spiral_params(net), spiral_gradient_method<Gradient>(),
      {.controller = nde::pid_controller{.rtol = bench::w1_rtol, .atol = bench::w1_atol}});
  std::vector<vec> y0s;
  for (Eigen::Index b = 0; b < problem.y0.cols(); ++b) y0s.push_back(problem.y0.col(b));
  const double scale = 1.0 / static_cast<double>(2 * y0s.size() * problem.ts.size());
  auto loss = [&](std::size_t sample, const std::vector<vec>& ys, std::vector<vec>& c) {
    double l = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      const vec r = ys[i] - problem.targets[i].col(static_cast<Eigen::Index>(sample));
      l += r.cwiseAbs().sum() * scale;
      c[i] = r.unaryExpr([&](double x) { return x > 0 ? scale : (x < 0 ? -scale : 0.0); });
    }
    return l;
  };
  const auto threads = static_cast<unsigned>(st.range(0));
  for (auto _ : st) {
    const auto r = model.per_sample_gradients(std::span<const vec>(y0s),
                                              std::span<const double>(problem.ts), loss, threads);
    if (r.status != nde::status::success) {
      st.SkipWithError(r.message.c_str());
      break;
    }
    benchmark::DoNotOptimize(r.params.data());
  }
}
BENCHMARK_TEMPLATE(per_sample_gradients, nde::discrete_adjoint)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(per_sample_gradients, nde::backsolve_adjoint)
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---- per-sample time grids: 64 samples, each with its own start, end and 2 to 24 outputs -----
void per_sample_grids(benchmark::State& st) {
  using field = nde::network_field<bench::spiral_network, vec>;
  const auto net = bench::make_spiral_network();
  const nde::neural_ode<field, nde::dopri5, nde::discrete_adjoint, vec> model(
      field(net), bench::spiral_params(net), spiral_gradient_method<nde::discrete_adjoint>(),
      {.controller = nde::pid_controller{.rtol = bench::w1_rtol, .atol = bench::w1_atol}});
  static const auto data = [] {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<vec> y0s;
    std::vector<std::vector<double>> grids;
    for (int b = 0; b < 64; ++b) {
      y0s.push_back(vec(2.0 * u(rng) - 1.0, 2.0 * u(rng) - 1.0));
      const int length = 2 + b % 23;
      const double start = 0.5 * u(rng), span = 0.5 + u(rng);
      std::vector<double> ts;
      for (int i = 0; i < length; ++i) ts.push_back(start + span * i / (length - 1));
      grids.push_back(ts);
    }
    return std::pair(y0s, grids);
  }();
  auto loss = [](std::size_t, const std::vector<vec>& ys, std::vector<vec>& c) {
    double l = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      l += 0.5 * ys[i].squaredNorm();
      c[i] = ys[i];
    }
    return l;
  };
  const auto threads = static_cast<unsigned>(st.range(0));
  for (auto _ : st) {
    const auto r = model.per_sample_gradients(std::span<const vec>(data.first),
                                              std::span<const std::vector<double>>(data.second),
                                              loss, threads);
    if (r.status != nde::status::success) {
      st.SkipWithError(r.message.c_str());
      break;
    }
    benchmark::DoNotOptimize(r.params.data());
  }
}
BENCHMARK(per_sample_grids)->Arg(1)->Arg(2)->Arg(4)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
