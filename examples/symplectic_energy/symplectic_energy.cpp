// Energy over long times: the harmonic oscillator and the Kepler problem (eccentricity 0.6)
// over 10^4 periods with leapfrog (Störmer-Verlet), Forest-Ruth (4th-order symplectic), rk4
// and dopri5 (constant steps), every method at the same number of force evaluations per
// period. The symplectic methods keep the energy error bounded (it oscillates, no drift);
// the Runge-Kutta methods' error grows linearly with time.
//
// Writes <out>/energy.csv (per period: the largest |H - H0| within it, for every system and
// method) and, when matplotlib is present, <out>/symplectic_energy.png. Ends with one line
//   result: system=<harmonic|kepler> method=<name> energy_error_max=<x> energy_error_final=<x> nfe=<n>
// per system and method (nfe: force evaluations, i.e. calls of b = -dV/dq; a = p is free).
#include <nde/nde.hpp>
#include <nde/solvers/forest_ruth.hpp>
#include <nde/solvers/leapfrog.hpp>
#include <nde/terms/partitioned_term.hpp>

#include "example_support.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

namespace {

// a = p.
struct velocity {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q&, const P& p, const Th&, D& dq) const {
    dq = p;
  }
};

// b = -q (harmonic) or -q/|q|³ (Kepler), counting its calls.
struct force {
  static constexpr bool autonomous = true;
  bool kepler = false;
  std::size_t* calls = nullptr;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q& q, const P&, const Th&, D& dp) const {
    ++*calls;
    if (kepler) {
      const double r = q.norm();
      dp = (-1.0 / (r * r * r)) * q;
    } else {
      dp = -q;
    }
  }
};

struct run_result {
  std::vector<double> per_period;  // max |H - H0| within each period
  double max_error = 0, final_error = 0;
  std::size_t nfe = 0;
  double seconds = 0;
};

template <class Method, class State, class Energy>
run_result run(const Method& method, bool kepler, const State& y0, int periods, int steps,
               Energy energy) {
  const double period = 2 * std::acos(-1.0);
  run_result r;
  nde::partitioned_term<velocity, force> term(velocity{}, force{kepler, &r.nfe}, y0.rows() / 2,
                                              nde::coupling::second_order);
  const Eigen::VectorXd theta;
  nde::integrator<Method, State> solver(method, y0);
  nde::solution<double, State> sol;
  const auto opts = nde::solve_options{.save_at = nde::save_at::every_step(),
                                       .controller = nde::constant_step{.dt = period / steps}};
  const double h0 = energy(y0);
  State y = y0;
  examples::stopwatch clock;
  for (int k = 0; k < periods; ++k) {
    const auto st = solver.solve(term, k * period, (k + 1) * period, y,
                                 nde::params_view<double>(theta), opts, sol);
    if (st != nde::status::success) throw nde::error(st, sol.message);
    double worst = 0;
    for (const auto& s : sol.ys) worst = std::max(worst, std::abs(energy(s) - h0));
    r.per_period.push_back(worst);
    r.max_error = std::max(r.max_error, worst);
    y = sol.ys.back();
  }
  r.final_error = std::abs(energy(y) - h0);
  r.seconds = clock.seconds();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    examples::options opt("symplectic_energy",
                          "energy error over many periods: symplectic vs Runge-Kutta methods at "
                          "equal cost");
    opt.add("periods", "10000", "number of periods (2π each)")
        .add("harmonic-evals", "240", "force evaluations per period, harmonic oscillator")
        .add("kepler-evals", "960", "force evaluations per period, Kepler (e = 0.6)")
        .add("out", "out/symplectic_energy", "output directory");
    if (!opt.parse(argc, argv)) return 0;
    const int periods = opt.integer("periods");
    const int evals[2] = {opt.integer("harmonic-evals"), opt.integer("kepler-evals")};
    const std::filesystem::path out = opt.str("out");
    if (periods < 1) throw std::invalid_argument("--periods must be at least 1");
    for (int e : evals)
      if (e < 12 || e % 12 != 0)
        throw std::invalid_argument(
            "force evaluations per period must be a positive multiple of 12 (so that leapfrog "
            "(1 per step), Forest-Ruth (3), rk4 (4) and dopri5 (6) all take whole steps)");

    const char* systems[2] = {"harmonic", "kepler"};
    const char* methods[4] = {"leapfrog", "forest_ruth", "rk4", "dopri5"};
    const int per_step[4] = {1, 3, 4, 6};
    std::vector<std::string> header{"period"};
    std::vector<std::vector<double>> columns(1);
    for (int k = 0; k < periods; ++k) columns[0].push_back(k + 1);
    std::vector<std::string> results;
    for (int sys = 0; sys < 2; ++sys) {
      const bool kepler = sys == 1;
      std::printf("%s: %d periods, %d force evaluations per period\n", systems[sys], periods,
                  evals[sys]);
      for (int m = 0; m < 4; ++m) {
        const int steps = evals[sys] / per_step[m];
        run_result r;
        if (kepler) {
          using vec4 = Eigen::Matrix<double, 4, 1>;
          const double e = 0.6;
          const vec4 y0(1 - e, 0.0, 0.0, std::sqrt((1 + e) / (1 - e)));
          auto energy = [](const vec4& y) {
            return 0.5 * y.tail<2>().squaredNorm() - 1.0 / y.head<2>().norm();
          };
          if (m == 0) r = run(nde::leapfrog{}, true, y0, periods, steps, energy);
          if (m == 1) r = run(nde::forest_ruth{}, true, y0, periods, steps, energy);
          if (m == 2) r = run(nde::rk4{}, true, y0, periods, steps, energy);
          if (m == 3) r = run(nde::dopri5{}, true, y0, periods, steps, energy);
        } else {
          const Eigen::Vector2d y0(1.0, 0.0);
          auto energy = [](const Eigen::Vector2d& y) { return 0.5 * y.squaredNorm(); };
          if (m == 0) r = run(nde::leapfrog{}, false, y0, periods, steps, energy);
          if (m == 1) r = run(nde::forest_ruth{}, false, y0, periods, steps, energy);
          if (m == 2) r = run(nde::rk4{}, false, y0, periods, steps, energy);
          if (m == 3) r = run(nde::dopri5{}, false, y0, periods, steps, energy);
        }
        const std::size_t tenth = std::max<std::size_t>(1, r.per_period.size() / 10);
        const double first = *std::max_element(r.per_period.begin(), r.per_period.begin() + tenth);
        const double last = *std::max_element(r.per_period.end() - tenth, r.per_period.end());
        std::printf(
            "  %-12s %4d steps/period  max |H-H0| %.3e  first 10%% %.3e  last 10%% %.3e  "
            "(last/first %.2f)  nfe %zu  %.2f s\n",
            methods[m], steps, r.max_error, first, last, last / first, r.nfe, r.seconds);
        header.push_back(std::string(systems[sys]) + "_" + methods[m]);
        columns.push_back(r.per_period);
        char line[256];
        std::snprintf(line, sizeof line,
                      "result: system=%s method=%s energy_error_max=%.3e energy_error_final=%.3e "
                      "nfe=%zu",
                      systems[sys], methods[m], r.max_error, r.final_error, r.nfe);
        results.emplace_back(line);
      }
    }
    std::filesystem::create_directories(out);
    examples::write_csv(out / "energy.csv", header, columns);
    std::printf("wrote %s/energy.csv\n", out.string().c_str());
    if (examples::run_plot_script(std::filesystem::path(NDE_EXAMPLE_DIR) / "plot.py", out))
      std::printf("wrote %s/symplectic_energy.png\n", out.string().c_str());
    for (const auto& line : results) std::printf("%s\n", line.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "symplectic_energy: %s\n", e.what());
    return 1;
  }
}
