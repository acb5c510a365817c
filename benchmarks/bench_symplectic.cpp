// Step cost of the symplectic methods against rk4 and dopri5 (constant steps) on the Kepler
// problem (e = 0.6, fixed-size 4-vector state), every method at 960 force evaluations per
// period over 10 periods, and the forward + discrete-adjoint backward of the same runs.
//
// Counters (per iteration): steps, nfe (force evaluations, calls of b; with a gradient, forward
// and backward), time_per_step and time_per_force (CPU seconds divided by each), energy_error
// (|H - H0| at the end). Run from a release build.
#include <nde/nde.hpp>
#include <nde/solvers/forest_ruth.hpp>
#include <nde/solvers/implicit_midpoint.hpp>
#include <nde/solvers/leapfrog.hpp>
#include <nde/solvers/rkn4.hpp>
#include <nde/solvers/symplectic_euler.hpp>
#include <nde/terms/partitioned_term.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

namespace {

using vec4 = Eigen::Matrix<double, 4, 1>;

struct velocity {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 1; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q&, const P& p, const Th&, D& dq) const {
    dq = p;
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T, const Q&, const P&, const Th&, const W& w, WQ&, WP& w_p, WTh&) const {
    w_p += w;
  }
};
// b = -μ q/|q|³, μ = θ0.
struct kepler {
  static constexpr bool autonomous = true;
  std::size_t* calls = nullptr;
  [[nodiscard]] Eigen::Index num_params() const { return 1; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q& q, const P&, const Th& th, D& dp) const {
    ++*calls;
    const double r = q.norm();
    dp = (-th[0] / (r * r * r)) * q;
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T, const Q& q, const P&, const Th& th, const W& w, WQ& w_q, WP&, WTh& w_th) const {
    const double r = q.norm(), r3 = r * r * r, qw = q.dot(w);
    w_q += (-th[0] / r3) * w + (3 * th[0] * qw / (r3 * r * r)) * q;
    w_th[0] -= qw / r3;
  }
};

constexpr double pi = 3.14159265358979323846;
const vec4 y0_kepler(0.4, 0.0, 0.0, 2.0);  // e = 0.6: sqrt(1.6 / 0.4) = 2

double energy(const vec4& y) { return 0.5 * y.tail<2>().squaredNorm() - 1.0 / y.head<2>().norm(); }

template <class Method>
void forward(benchmark::State& state, int forces_per_step, bool gradient) {
  std::size_t calls = 0;
  nde::partitioned_term<velocity, kepler> term(velocity{}, kepler{&calls}, 2,
                                               nde::coupling::second_order);
  const Eigen::VectorXd theta = Eigen::VectorXd::Ones(1);
  const int steps = 10 * 960 / forces_per_step;
  const nde::solve_options opts{
      .controller = nde::constant_step{.dt = 10 * 2 * pi / steps},
      .adjoint = gradient ? nde::adjoint_method(nde::discrete_adjoint{}) : nde::inference{}};
  double error = 0;
  std::size_t per_iteration = 0;
  for (auto _ : state) {
    calls = 0;
    auto sol = nde::solve(term, Method{}, 0.0, 10 * 2 * pi, y0_kepler, theta, opts);
    if (!sol.success()) state.SkipWithError(sol.message.c_str());
    if (gradient) {
      const auto g = sol.backward(std::vector<vec4>{vec4::Ones()});
      benchmark::DoNotOptimize(g.params.data());
    }
    benchmark::DoNotOptimize(sol.ys.back().data());
    error = std::abs(energy(sol.ys.back()) - energy(y0_kepler));
    per_iteration = calls;
  }
  state.counters["steps"] = steps;
  state.counters["nfe"] = static_cast<double>(per_iteration);
  state.counters["time_per_step"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
  state.counters["time_per_force"] = benchmark::Counter(
      static_cast<double>(per_iteration),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["energy_error"] = error;
}

}  // namespace

int main(int argc, char** argv) {
  auto add = [](const char* name, auto run) { benchmark::RegisterBenchmark(name, run); };
  add("symplectic_euler", [](benchmark::State& s) { forward<nde::symplectic_euler>(s, 1, false); });
  add("leapfrog", [](benchmark::State& s) { forward<nde::leapfrog>(s, 1, false); });
  add("forest_ruth", [](benchmark::State& s) { forward<nde::forest_ruth>(s, 3, false); });
  add("rkn4", [](benchmark::State& s) { forward<nde::rkn4>(s, 3, false); });
  // Its iteration takes several f per step: nfe shows the real count.
  add("implicit_midpoint",
      [](benchmark::State& s) { forward<nde::implicit_midpoint>(s, 1, false); });
  add("rk4", [](benchmark::State& s) { forward<nde::rk4>(s, 4, false); });
  add("dopri5", [](benchmark::State& s) { forward<nde::dopri5>(s, 6, false); });
  add("leapfrog_with_gradient", [](benchmark::State& s) { forward<nde::leapfrog>(s, 1, true); });
  add("forest_ruth_with_gradient",
      [](benchmark::State& s) { forward<nde::forest_ruth>(s, 3, true); });
  add("rk4_with_gradient", [](benchmark::State& s) { forward<nde::rk4>(s, 4, true); });
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
