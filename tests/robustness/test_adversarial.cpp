// Generated adversarial inputs across the solver, gradient, model, layer and optimiser API: sizes
// 0 and 1, NaN/Inf/denormal/huge values in every numeric option, fields that return NaN,
// resize dydt or throw. Each input must give a status (or nde::error where documented), never a
// crash, a hang or a silently wrong answer: a successful solve has finite outputs of y0's shape,
// every evaluation time is finite and inside [t0, t1], and a failure carries a message. Run
// under AddressSanitizer + UndefinedBehaviorSanitizer in CI, where any undefined behaviour
// aborts. Seeds are fixed, so a failure reproduces; the counts are printed.
#include <nde/nde.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace {

using vec = Eigen::VectorXd;
using rng = std::mt19937_64;
constexpr double inf = std::numeric_limits<double>::infinity();

bool chance(rng& g, double p) { return std::uniform_real_distribution<double>(0, 1)(g) < p; }
int integer(rng& g, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); }

// A value a careless or hostile caller might pass.
double weird(rng& g) {
  static const double values[] = {0.0,
                                  -0.0,
                                  1.0,
                                  -1.0,
                                  0.5,
                                  1e-12,
                                  1e-300,
                                  5e-324,
                                  1e300,
                                  -1e300,
                                  std::numeric_limits<double>::max(),
                                  -std::numeric_limits<double>::max(),
                                  inf,
                                  -inf,
                                  std::numeric_limits<double>::quiet_NaN(),
                                  1e19,
                                  2.0,
                                  10.0};
  return values[integer(g, 0, int(std::size(values)) - 1)];
}
// How hostile the current input is: half the inputs keep every option sensible, so that
// solves also succeed (and are checked) under the odd fields, sizes and times.
double hostility = 1;
// A hostile choice with probability p (scaled by the hostility).
bool bad(rng& g, double p) { return chance(g, p * hostility); }
// Usually `good`, sometimes weird.
double maybe(rng& g, double good, double p = 0.25) {
  return chance(g, p * hostility) ? weird(g) : good;
}

std::vector<double> times(rng& g, double t0, double t1) {
  std::vector<double> ts;
  const int n = integer(g, 0, 5);
  for (int i = 0; i < n; ++i) ts.push_back(t0 + (t1 - t0) * (i + 1) / (n + 1.0));
  if (!ts.empty() && bad(g, 0.3)) ts[integer(g, 0, int(ts.size()) - 1)] = weird(g);
  if (ts.size() > 1 && bad(g, 0.2)) std::swap(ts.front(), ts.back());
  if (!ts.empty() && bad(g, 0.1)) ts.push_back(ts.back());
  return ts;
}

nde::pid_controller pid(rng& g, Eigen::Index rows, double t0, double t1) {
  nde::pid_controller c;
  c.rtol = maybe(g, 1e-6);
  c.atol = maybe(g, 1e-9);
  if (bad(g, 0.15)) {
    vec per = vec::Constant(!bad(g, 0.3) ? rows : integer(g, 0, 4), 1e-8);
    if (per.size() && bad(g, 0.5)) per[0] = weird(g);
    c.atol = per;
  }
  c.norm = chance(g, 0.5) ? nde::error_norm::rms : nde::error_norm::max;
  if (bad(g, 0.1)) {
    const double bad = weird(g);
    c.custom_norm = [bad, calls = 0](const Eigen::Ref<const Eigen::MatrixXd>& e) mutable {
      return ++calls % 3 == 0 ? bad : e.cwiseAbs().maxCoeff();
    };
  }
  c.safety = maybe(g, 0.9, 0.1);
  c.min_factor = maybe(g, 0.2, 0.1);
  c.max_factor = maybe(g, 10.0, 0.1);
  c.beta1 = maybe(g, 0.85, 0.1);
  c.beta2 = maybe(g, 0.2, 0.1);
  c.beta3 = maybe(g, 0.0, 0.1);
  c.dt0 = maybe(g, 0.0, 0.2);
  c.dtmin = maybe(g, 0.0, 0.1);
  c.dtmax = maybe(g, inf, 0.2);
  if (chance(g, 0.15)) c.step_ts = times(g, t0, t1);
  if (chance(g, 0.15)) c.jump_ts = times(g, t0, t1);
  return c;
}

nde::step_size_controller controller(rng& g, Eigen::Index rows, double t0, double t1,
                                     bool adaptive) {
  const int kind = integer(g, 0, 9);
  if (kind < 6 && adaptive) return pid(g, rows, t0, t1);
  if (kind < 8) return nde::constant_step{.dt = maybe(g, 0.05, 0.3)};
  std::vector<double> ts = times(g, t0, t1);
  if (!bad(g, 0.3)) {
    ts.insert(ts.begin(), t0);
    ts.push_back(t1);
  }
  return nde::fixed_times{.times = ts};
}

nde::solve_options options(rng& g, Eigen::Index rows, double t0, double t1, bool adaptive) {
  nde::solve_options o;
  o.save_at.t0 = chance(g, 0.5);
  o.save_at.t1 = chance(g, 0.8);
  o.save_at.steps = chance(g, 0.15);
  o.save_at.ts = times(g, t0, t1);
  o.controller = controller(g, rows, t0, t1, adaptive);
  static const std::int64_t budgets[] = {-1, 0, 1, 7, 500, 3000};
  o.max_steps = hostility > 0 ? budgets[integer(g, 0, 5)] : 3000;
  o.record_steps = chance(g, 0.2);
  o.dense = chance(g, 0.2);
  return o;
}

// y' = -y + c with a failure mode; records the times it sees.
struct hostile_field {
  int mode = 0;   // 0 good, 1 NaN, 2 resize, 3 throw nde::error, 4 overflow
  int after = 0;  // evaluations before misbehaving
  int calls = 0;
  double t_low = -inf, t_high = inf;  // where evaluation times must lie
  int bad_times = 0;
  template <class T>
  void operator()(T t, const vec& y, vec& dydt) {
    if (!(t >= t_low && t <= t_high)) ++bad_times;
    dydt = -y + vec::Constant(y.size(), 0.3);
    if (++calls <= after) return;
    if (mode == 1 && y.size()) dydt[0] = std::numeric_limits<double>::quiet_NaN();
    if (mode == 2) dydt.resize(y.size() + 1);
    if (mode == 3) throw nde::error(nde::status::invalid_input, "hostile field");
    if (mode == 4) dydt = 1e300 * (y.array() + 1).matrix();
  }
};

struct tally {
  int inputs = 0;
  int successes = 0;
};

template <class Solution>
void check_solution(const Solution& sol, const vec& y0) {
  REQUIRE(sol.ts.size() == sol.ys.size());
  for (const auto& y : sol.ys) {
    REQUIRE(y.rows() == y0.rows());
    REQUIRE(y.cols() == y0.cols());
  }
  if (sol.status == nde::status::success) {
    for (const auto& y : sol.ys) REQUIRE(y.allFinite());
    for (const double t : sol.ts) REQUIRE(std::isfinite(t));
  } else {
    REQUIRE(!sol.message.empty());
  }
}

template <class Stepper>
void solve_inputs(Stepper stepper, rng& g, int count, tally& counts) {
  for (int k = 0; k < count; ++k) {
    hostility = chance(g, 0.5) ? 0.0 : 1.0;
    double t0 = 0, t1 = 1;
    if (chance(g, 0.5)) std::swap(t0, t1);
    if (bad(g, 0.1)) t0 = weird(g);
    if (bad(g, 0.1)) t1 = weird(g);
    if (bad(g, 0.05)) t1 = t0;
    static const int sizes[] = {0, 1, 2, 5};
    vec y0 = vec::Constant(sizes[integer(g, 0, 3)], 0.7);
    if (y0.size() && bad(g, 0.1)) y0[0] = weird(g);
    hostile_field f{.mode = bad(g, 0.5) ? integer(g, 1, 4) : 0, .after = integer(g, 0, 30)};
    if (std::isfinite(t0) && std::isfinite(t1)) {
      f.t_low = std::min(t0, t1);
      f.t_high = std::max(t0, t1);
    }
    const nde::solve_options o = options(g, y0.rows(), t0, t1, Stepper::adaptive);
    INFO("input " << counts.inputs << " t0 " << t0 << " t1 " << t1 << " rows " << y0.rows()
                  << " field mode " << f.mode << " after " << f.after);
    ++counts.inputs;
    const auto sol = nde::solve(f, stepper, t0, t1, y0, o);
    check_solution(sol, y0);
    CHECK(f.bad_times == 0);
    if (sol.status == nde::status::success) ++counts.successes;
  }
}

}  // namespace

TEST_CASE("generated bad inputs to solve: a status, never a crash or a wrong success",
          "[robustness][integrate]") {
  rng g(20261202);
  tally counts;
  solve_inputs(nde::euler{}, g, 150, counts);
  solve_inputs(nde::midpoint{}, g, 150, counts);
  solve_inputs(nde::heun{}, g, 250, counts);
  solve_inputs(nde::rk4{}, g, 150, counts);
  solve_inputs(nde::rk38{}, g, 150, counts);
  solve_inputs(nde::bosh3{}, g, 250, counts);
  solve_inputs(nde::dopri5{}, g, 400, counts);
  solve_inputs(nde::tsit5{}, g, 400, counts);
  std::cout << "adversarial solve: " << counts.inputs << " inputs, " << counts.successes
            << " succeeded\n";
  // The generator is not degenerate: both outcomes occur often.
  CHECK(counts.successes > counts.inputs / 5);
  CHECK(counts.successes < counts.inputs * 4 / 5);
}

TEST_CASE("generated bad inputs to differentiable solves and their backward passes",
          "[robustness][gradients]") {
  rng g(7);
  int inputs = 0, gradients = 0;
  for (int k = 0; k < 400; ++k) {
    hostility = chance(g, 0.5) ? 0.0 : 1.0;
    const Eigen::Index n = integer(g, 0, 3);
    nde::ode_term<nde::linear_field<vec>> term{nde::linear_field<vec>(n)};
    vec theta = -Eigen::MatrixXd::Identity(n, n).reshaped();
    if (theta.size() && bad(g, 0.1)) theta[0] = weird(g);
    const Eigen::Index rows = !bad(g, 0.15) ? n : integer(g, 0, 4);
    vec y0 = vec::Constant(rows, 0.4);
    if (rows && bad(g, 0.1)) y0[0] = weird(g);
    const double t1 = bad(g, 0.9) ? (bad(g, 0.5) ? 1.0 : -1.0) : weird(g);
    nde::solve_options o = options(g, rows, 0.0, t1, true);
    switch (integer(g, 0, 4)) {
      case 0:
        o.adjoint = nde::discrete_adjoint{.max_checkpoints = std::size_t(integer(g, 0, 3))};
        break;
      case 1: o.adjoint = nde::forward_sensitivity{}; break;
      case 2: o.adjoint = nde::backsolve_adjoint{}; break;
      case 3: o.adjoint = nde::checkpointed_adjoint{}; break;
      default: o.adjoint = nde::inference{}; break;
    }
    INFO("input " << k);
    ++inputs;
    auto sol = nde::solve(term, nde::dopri5{}, 0.0, t1, y0, theta, o);
    check_solution(sol, y0);
    std::vector<vec> cot(sol.ys.size() + (bad(g, 0.1) ? 1 : 0), vec::Constant(rows, 0.1));
    if (!cot.empty() && bad(g, 0.1)) cot[0] = vec::Constant(rows + 1, 1.0);
    if (!cot.empty() && rows && bad(g, 0.1)) cot.back()[0] = weird(g);
    try {
      const auto grad = sol.backward(cot);
      if (grad.status == nde::status::success) {
        ++gradients;
        REQUIRE(grad.params.size() == theta.size());
        REQUIRE(grad.y0.rows() == rows);
        REQUIRE(grad.params.allFinite());
        REQUIRE(grad.y0.allFinite());
      } else {
        REQUIRE(!grad.message.empty());
      }
    } catch (const nde::error& e) {
      // Documented: misuse (inference solve, count/shape mismatch, NaN cotangent) throws.
      REQUIRE(std::string(e.what()).size() > 0);
    }
  }
  std::cout << "adversarial gradients: " << inputs << " inputs, " << gradients
            << " gradients computed\n";
  CHECK(gradients > inputs / 10);
}

TEST_CASE("generated bad inputs to a network model, layers and optimisers",
          "[robustness][models][nn][optim]") {
  rng g(99);
  using net_type =
      nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>;
  using field_type = nde::network_field<net_type, vec>;
  const net_type net({2, 5, 2});
  int inputs = 0;
  for (int k = 0; k < 300; ++k) {
    hostility = chance(g, 0.5) ? 0.0 : 1.0;
    vec theta = vec::Constant(net.num_params(), 0.05);
    if (bad(g, 0.1)) theta[integer(g, 0, int(theta.size()) - 1)] = weird(g);
    nde::neural_ode_options mo;
    mo.controller = controller(g, 2, 0, 1, true);
    mo.max_steps = !bad(g, 0.2) ? 2000 : integer(g, -1, 3);
    INFO("model input " << k);
    ++inputs;
    try {
      nde::neural_ode<field_type, nde::tsit5, nde::discrete_adjoint, vec> model(field_type(net),
                                                                                theta, {}, mo);
      vec y0 = vec::Constant(!bad(g, 0.15) ? 2 : integer(g, 0, 3), 0.3);
      if (y0.size() && bad(g, 0.1)) y0[0] = weird(g);
      std::vector<double> ts{0.0};
      for (const double t : times(g, 0.0, 1.0)) ts.push_back(t);
      if (bad(g, 0.1)) ts.clear();
      const auto& out = model.forward(y0, ts);
      check_solution(out, y0);
      if (out.status == nde::status::success) REQUIRE(out.ys.size() == ts.size());
      std::vector<vec> cot(out.ys.size(), vec::Constant(y0.size(), 1.0));
      const auto grad = model.backward(cot);
      if (grad.status == nde::status::success) REQUIRE(grad.params.allFinite());
      if (out.status != nde::status::success) REQUIRE(grad.status == out.status);
    } catch (const nde::error&) {
      // Constructors and backward misuse throw nde::error by contract.
    }
  }
  for (int k = 0; k < 300; ++k) {
    const Eigen::Index cols = integer(g, 0, 3);
    Eigen::MatrixXd x = Eigen::MatrixXd::Constant(chance(g, 0.9) ? 2 : integer(g, 0, 3), cols, 0.5);
    if (x.size() && bad(g, 0.2)) x(0, 0) = weird(g);
    vec theta = vec::Constant(net.num_params(), maybe(g, 0.1, 0.1));
    auto ws = net.make_workspace(std::max<Eigen::Index>(cols, 1));
    Eigen::MatrixXd y, dx;
    vec dtheta = vec::Zero(net.num_params());
    ++inputs;
    try {
      net.forward(theta, x, y, ws);
      REQUIRE(y.cols() == cols);
      net.backward(theta, x, Eigen::MatrixXd::Ones(2, cols), dx, dtheta, ws);
      REQUIRE(dx.cols() == cols);
    } catch (const nde::error&) {
    }
  }
  for (int k = 0; k < 300; ++k) {
    const Eigen::Index n = integer(g, 0, 4);
    vec p = vec::Constant(n, 1.0), grad = vec::Constant(n, maybe(g, 0.5, 0.4));
    ++inputs;
    try {
      if (chance(g, 0.5)) {
        nde::optim::adam<double> opt(n, {.learning_rate = maybe(g, 1e-3, 0.2),
                                         .beta1 = maybe(g, 0.9, 0.1),
                                         .beta2 = maybe(g, 0.999, 0.1),
                                         .epsilon = maybe(g, 1e-8, 0.3),
                                         .amsgrad = chance(g, 0.5)});
        for (int s = 0; s < 3; ++s) {
          const vec before = p;
          if (opt.step(p, grad) != nde::status::success)
            REQUIRE((p.array() == before.array()).all());
          // A finite gradient and a finite learning rate give finite parameters.
          if (grad.allFinite() && std::abs(opt.learning_rate()) < 1e100) REQUIRE(p.allFinite());
        }
      } else {
        nde::optim::sgd<double> opt(
            n, {.learning_rate = maybe(g, 1e-3, 0.2), .momentum = maybe(g, 0.0, 0.3)});
        for (int s = 0; s < 3; ++s) (void)opt.step(p, grad);
      }
    } catch (const nde::error&) {
    }
  }
  std::cout << "adversarial models/layers/optimisers: " << inputs << " inputs\n";
}
