// Work-precision of the implicit methods on two stiff problems: Robertson's kinetics (ROBER,
// k = 0.04, 3e7, 1e4, y0 = (1, 0, 0), to t = 1e5, atol = 1e-4 rtol) and Van der Pol at μ = 1000
// in MATLAB's vdp1000 form (y₀' = y₁, y₁' = μ(1 − y₀²)y₁ − y₀, y0 = (2, 0), on [0, 3000],
// atol = rtol), at rtol 1e-4 … 1e-10: Rosenbrock (rosenbrock23, rodas4, rodas5) and ESDIRK
// (kvaerno5, Newton tolerances = the controller's) rows, and SUNDIALS CVODE (BDF, dense direct
// linear solver, the same analytic Jacobian, CVodeReInit per solve) in the same run when
// libsundials-dev is found. Counters: error (largest relative error of y(t1) against rodas5 at
// rtol 1e-12), steps, rejected, nfe (f evaluations), jac (Jacobians). One explicit row for
// scale: dopri5 on Van der Pol at rtol 1e-6.
#include <nde/integrate/solve.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/kvaerno5.hpp>
#include <nde/solvers/rodas4.hpp>
#include <nde/solvers/rodas5.hpp>
#include <nde/solvers/rosenbrock23.hpp>

#include <benchmark/benchmark.h>

#ifdef NDE_HAVE_CVODE
#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace {

struct rober {
  using state = Eigen::Vector3d;
  static constexpr const char* name = "rober";
  static constexpr bool autonomous = true;
  static constexpr double t1 = 1e5;
  static state y0() { return {1.0, 0.0, 0.0}; }
  static double atol(double rtol) { return 1e-4 * rtol; }
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double, const state& y, nde::params_view<double>, state& d) const {
    d[0] = -0.04 * y[0] + 1e4 * y[1] * y[2];
    d[2] = 3e7 * y[1] * y[1];
    d[1] = -d[0] - d[2];
  }
  void jacobian(double, const state& y, nde::params_view<double>, Eigen::MatrixXd& j) const {
    j(0, 0) = -0.04;
    j(0, 1) = 1e4 * y[2];
    j(0, 2) = 1e4 * y[1];
    j(2, 0) = 0;
    j(2, 1) = 6e7 * y[1];
    j(2, 2) = 0;
    j.row(1) = -j.row(0) - j.row(2);
  }
};

struct van_der_pol {
  using state = Eigen::Vector2d;
  static constexpr const char* name = "vdp1000";
  static constexpr bool autonomous = true;
  static constexpr double t1 = 3000;
  static constexpr double mu = 1000;
  static state y0() { return {2.0, 0.0}; }
  static double atol(double rtol) { return rtol; }
  [[nodiscard]] static Eigen::Index num_params() { return 0; }
  void operator()(double, const state& y, nde::params_view<double>, state& d) const {
    d[0] = y[1];
    d[1] = mu * (1 - y[0] * y[0]) * y[1] - y[0];
  }
  void jacobian(double, const state& y, nde::params_view<double>, Eigen::MatrixXd& j) const {
    j(0, 0) = 0;
    j(0, 1) = 1;
    j(1, 0) = -2 * mu * y[0] * y[1] - 1;
    j(1, 1) = mu * (1 - y[0] * y[0]);
  }
};

nde::solve_options options(double rtol, double atol) {
  return {.controller = nde::pid_controller{.rtol = rtol, .atol = atol}, .max_steps = 100000000};
}

template <class Problem>
const typename Problem::state& reference() {
  static const typename Problem::state ref = [] {
    auto term = nde::ode_term<Problem>(Problem{});
    nde::integrator<nde::rodas5, typename Problem::state> solver(nde::rodas5{}, Problem::y0());
    nde::solution<double, typename Problem::state> out;
    const Eigen::VectorXd none(0);
    solver.solve(term, 0.0, Problem::t1, Problem::y0(), none,
                 options(1e-12, Problem::atol(1e-12) * 1e-2), out);
    if (!out.success()) std::fprintf(stderr, "reference failed: %s\n", out.message.c_str());
    return out.ys.back();
  }();
  return ref;
}

// The method, with Newton tolerances equal to the controller's where it has a Newton iteration.
template <class Method>
Method with_tolerances(double rtol, double atol) {
  Method m{};
  if constexpr (requires { m.newton.rtol; }) {
    m.newton.rtol = rtol;
    m.newton.atol = atol;
  }
  return m;
}

template <class Problem, class Method>
void solve(benchmark::State& st, double rtol) {
  using state = typename Problem::state;
  auto term = nde::ode_term<Problem>(Problem{});
  const state y0 = Problem::y0();
  const state& ref = reference<Problem>();
  nde::integrator<Method, state> solver(with_tolerances<Method>(rtol, Problem::atol(rtol)), y0);
  nde::solution<double, state> out;
  const Eigen::VectorXd none(0);
  const auto opts = options(rtol, Problem::atol(rtol));
  for (auto _ : st) {
    solver.solve(term, 0.0, Problem::t1, y0, none, opts, out);
    benchmark::DoNotOptimize(out.ys.back().data());
  }
  if (!out.success()) {
    st.SkipWithError(out.message.c_str());
    return;
  }
  st.counters["error"] =
      ((out.ys.back() - ref).cwiseAbs().array() / ref.cwiseAbs().array()).maxCoeff();
  st.counters["steps"] = static_cast<double>(out.stats.accepted_steps);
  st.counters["rejected"] = static_cast<double>(out.stats.rejected_steps);
  st.counters["nfe"] = static_cast<double>(out.stats.rhs_evals);
  st.counters["jac"] = static_cast<double>(out.stats.jacobian_evals);
}

#ifdef NDE_HAVE_CVODE
// CVODE's BDF (variable order 1–5) on the same field and Jacobian, created once and re-initialised
// before each solve (what a user solving repeatedly does), ending exactly at t1 (stop time).
template <class Problem>
struct cvode_problem {
  using state = typename Problem::state;
  Problem field;
  Eigen::MatrixXd jac;
  static int rhs(realtype t, N_Vector y, N_Vector ydot, void* data) {
    auto* self = static_cast<cvode_problem*>(data);
    const Eigen::Map<const state> in(N_VGetArrayPointer(y));
    state out;
    self->field(t, state(in), nde::params_view<double>(Eigen::VectorXd()), out);
    Eigen::Map<state>(N_VGetArrayPointer(ydot)) = out;
    return 0;
  }
  static int jacobian(realtype t, N_Vector y, N_Vector, SUNMatrix J, void* data, N_Vector, N_Vector,
                      N_Vector) {
    auto* self = static_cast<cvode_problem*>(data);
    const Eigen::Map<const state> in(N_VGetArrayPointer(y));
    self->field.jacobian(t, state(in), nde::params_view<double>(Eigen::VectorXd()), self->jac);
    const auto n = static_cast<sunindextype>(state::RowsAtCompileTime);
    for (sunindextype i = 0; i < n; ++i)
      for (sunindextype j = 0; j < n; ++j) SM_ELEMENT_D(J, i, j) = self->jac(i, j);
    return 0;
  }
};

template <class Problem>
void solve_cvode(benchmark::State& st, double rtol) {
  using state = typename Problem::state;
  constexpr auto n = static_cast<sunindextype>(state::RowsAtCompileTime);
  const state& ref = reference<Problem>();
  cvode_problem<Problem> problem{Problem{}, Eigen::MatrixXd::Zero(n, n)};
  SUNContext ctx = nullptr;
  if (SUNContext_Create(nullptr, &ctx) != 0) {
    st.SkipWithError("SUNContext_Create failed");
    return;
  }
  N_Vector y = N_VNew_Serial(n, ctx);
  Eigen::Map<state>(N_VGetArrayPointer(y)) = Problem::y0();
  void* mem = CVodeCreate(CV_BDF, ctx);
  SUNMatrix A = SUNDenseMatrix(n, n, ctx);
  SUNLinearSolver ls = SUNLinSol_Dense(y, A, ctx);
  bool ok = CVodeInit(mem, cvode_problem<Problem>::rhs, 0.0, y) == CV_SUCCESS &&
            CVodeSStolerances(mem, rtol, Problem::atol(rtol)) == CV_SUCCESS &&
            CVodeSetUserData(mem, &problem) == CV_SUCCESS &&
            CVodeSetLinearSolver(mem, ls, A) == CV_SUCCESS &&
            CVodeSetJacFn(mem, cvode_problem<Problem>::jacobian) == CV_SUCCESS &&
            CVodeSetMaxNumSteps(mem, 100000000) == CV_SUCCESS;
  realtype t = 0;
  for (auto _ : st) {
    Eigen::Map<state>(N_VGetArrayPointer(y)) = Problem::y0();
    ok = ok && CVodeReInit(mem, 0.0, y) == CV_SUCCESS &&
         CVodeSetStopTime(mem, Problem::t1) == CV_SUCCESS &&
         CVode(mem, Problem::t1, y, &t, CV_NORMAL) >= 0;
    benchmark::DoNotOptimize(N_VGetArrayPointer(y));
  }
  long steps = 0, nfe = 0, nje = 0, fails = 0;
  CVodeGetNumSteps(mem, &steps);
  CVodeGetNumRhsEvals(mem, &nfe);
  CVodeGetNumJacEvals(mem, &nje);
  CVodeGetNumErrTestFails(mem, &fails);
  const state y1 = Eigen::Map<const state>(N_VGetArrayPointer(y));
  CVodeFree(&mem);
  SUNLinSolFree(ls);
  SUNMatDestroy(A);
  N_VDestroy(y);
  SUNContext_Free(&ctx);
  if (!ok || t != Problem::t1) {
    st.SkipWithError("CVODE failed");
    return;
  }
  st.counters["error"] = ((y1 - ref).cwiseAbs().array() / ref.cwiseAbs().array()).maxCoeff();
  st.counters["steps"] = static_cast<double>(steps);
  st.counters["rejected"] = static_cast<double>(fails);
  st.counters["nfe"] = static_cast<double>(nfe);
  st.counters["jac"] = static_cast<double>(nje);
}
#endif

template <class Problem>
void register_problem() {
  const bool smoke = std::getenv("NDE_BENCH_SMOKE") != nullptr;
  for (const double rtol : {1e-4, 1e-6, 1e-8, 1e-10}) {
    if (smoke && rtol != 1e-4) continue;
    char tol[16];
    std::snprintf(tol, sizeof tol, "%.0e", rtol);
    auto add = [&](const char* method, auto fn) {
      return benchmark::RegisterBenchmark(
                 (std::string("stiff/") + Problem::name + "/" + method + "/rtol" + tol).c_str(), fn,
                 rtol)
          ->Unit(benchmark::kMicrosecond);
    };
    add("rosenbrock23", solve<Problem, nde::rosenbrock23>);
    add("rodas4", solve<Problem, nde::rodas4>);
    add("rodas5", solve<Problem, nde::rodas5>);
    add("kvaerno5", solve<Problem, nde::kvaerno5>);
#ifdef NDE_HAVE_CVODE
    add("cvode_bdf", solve_cvode<Problem>);
#endif
    if (std::is_same_v<Problem, van_der_pol> && rtol == 1e-6 && !smoke)
      add("dopri5", solve<Problem, nde::dopri5>)->Iterations(3);
  }
}

const bool registered = [] {
  register_problem<rober>();
  register_problem<van_der_pol>();
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
