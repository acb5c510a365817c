// Gradients of nde::solve itself (not through a model), for every gradient method: against
// exact references (y' = A y, Van Loan's block exponential), against central differences of
// the discrete map (fixed steps), and against each other (forward sensitivities vs the
// discrete adjoint), including dL/dt0, dL/dt1 and dL/dts_i.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <unsupported/Eigen/MatrixFunctions>

#include "expm_frechet.hpp"

#include <cmath>
#include <random>
#include <vector>

namespace {

using vec = Eigen::VectorXd;
using mat = Eigen::MatrixXd;

double relative(const vec& x, const vec& ref) { return (x - ref).norm() / ref.norm(); }

// ---- y' = A y: exact gradients ------------------------------------------------------------
struct linear_case {
  mat A = (mat(3, 3) << -0.3, 1.2, 0.1, -1.1, -0.2, 0.4, 0.2, -0.5, -0.6).finished();
  vec y0 = (vec(3) << 1.0, -0.5, 0.25).finished();
  std::vector<double> ts{0.0, 0.4, 0.9, 1.7};
  double t1 = 2.0;  // the last output lies strictly inside the solve
  std::vector<vec> w;
  linear_case() {
    for (std::size_t i = 0; i < ts.size(); ++i)
      w.push_back((vec(3) << 1.0 + 0.1 * double(i), -0.7 + 0.2 * double(i), 0.3).finished());
  }
  [[nodiscard]] vec theta() const { return Eigen::Map<const vec>(A.data(), 9); }
};

// L = Σ w_iᵀ y(ts_i): dL/dy0, dL/dA (Fréchet derivative of expm), dL/dts_i = w_iᵀ A y(ts_i),
// dL/dt0 = -Σ w_iᵀ A y(ts_i) (the flow from t0), dL/dt1 = 0.
struct exact_gradient {
  vec y0, A, ts;
  double t0 = 0, t1 = 0;
};
exact_gradient reference(const linear_case& p) {
  const Eigen::Index n = 3;
  exact_gradient g{vec::Zero(n), vec::Zero(n * n), vec::Zero(Eigen::Index(p.ts.size()))};
  for (std::size_t i = 0; i < p.ts.size(); ++i) {
    const double t = p.ts[i];
    const vec y = (t * p.A).exp() * p.y0;
    g.y0 += (t * p.A.transpose()).exp() * p.w[i];
    g.ts[Eigen::Index(i)] = p.w[i].dot(p.A * y);
    g.t0 -= p.w[i].dot(p.A * y);
    for (Eigen::Index l = 0; l < n; ++l)
      for (Eigen::Index k = 0; k < n; ++k) {
        mat e = mat::Zero(n, n);
        e(k, l) = t;
        g.A[l * n + k] += p.w[i].dot(nde_test::expm_frechet(t * p.A, e) * p.y0);
      }
  }
  return g;
}

template <class Method>
nde::gradient_result<vec> linear_gradient(const linear_case& p, nde::adjoint_method method,
                                          double tol) {
  nde::ode_term<nde::linear_field<vec>> term{nde::linear_field<vec>(3)};
  auto s = nde::solve(term, Method{}, 0.0, p.t1, p.y0, p.theta(),
                      {.save_at = nde::save_at::times(p.ts),
                       .controller = nde::pid_controller{.rtol = tol, .atol = tol * 1e-2},
                       .adjoint = method});
  REQUIRE(s.success());
  for (std::size_t i = 0; i < p.ts.size(); ++i)
    CHECK((s.ys[i] - (p.ts[i] * p.A).exp() * p.y0).norm() < 1e3 * tol);
  return s.backward(p.w);
}

}  // namespace

TEST_CASE(
    "every gradient method of nde::solve meets the exact gradient of y' = Ay, time "
    "gradients included",
    "[adjoint][exact]") {
  const linear_case p;
  const auto ref = reference(p);
  const nde::pid_controller tight{.rtol = 1e-11, .atol = 1e-13};
  const std::vector<std::pair<const char*, nde::adjoint_method>> methods{
      {"discrete", nde::discrete_adjoint{}},
      {"discrete, 3 checkpoints", nde::discrete_adjoint{.max_checkpoints = 3}},
      {"forward sensitivity", nde::forward_sensitivity{}},
      {"backsolve", nde::backsolve_adjoint{.controller = tight}},
      {"checkpointed", nde::checkpointed_adjoint{.controller = tight, .checkpoint_every = 4}},
  };
  for (const auto& [name, method] : methods) {
    INFO(name);
    const auto g = linear_gradient<nde::dopri5>(p, method, 1e-11);
    REQUIRE(g.status == nde::status::success);
    REQUIRE(g.time_gradients);
    CHECK(relative(g.params, ref.A) < 1e-8);
    CHECK(relative(g.y0, ref.y0) < 1e-8);
    CHECK(std::abs(g.t0 - ref.t0) < 1e-8 * std::abs(ref.t0));
    CHECK(std::abs(g.t1) < 1e-8);
    const vec ts = Eigen::Map<const vec>(g.ts.data(), Eigen::Index(g.ts.size()));
    CHECK(relative(ts, ref.ts) < 1e-8);
  }
}

TEST_CASE("the continuous adjoints converge to the exact gradient as the tolerance tightens",
          "[adjoint][exact]") {
  const linear_case p;
  const auto ref = reference(p);
  for (const bool checkpointed : {false, true}) {
    double previous = 1;
    for (const double tol : {1e-5, 1e-7, 1e-9}) {
      const nde::pid_controller c{.rtol = tol, .atol = tol * 1e-2};
      const nde::adjoint_method m =
          checkpointed ? nde::adjoint_method(nde::checkpointed_adjoint{.controller = c})
                       : nde::adjoint_method(nde::backsolve_adjoint{.controller = c});
      const auto g = linear_gradient<nde::tsit5>(p, m, tol);
      const double e = relative(g.params, ref.A);
      INFO((checkpointed ? "checkpointed" : "backsolve") << " tol " << tol << " error " << e);
      CHECK(e < 1e3 * tol);
      CHECK(e < previous);
      previous = e;
    }
  }
}

namespace {

// ---- a non-autonomous nonlinear field with parameters: y1' = y2, y2' = -θ0 sin y1 - θ1 y2 +
// θ2 cos(t) (forced damped pendulum), written once over its scalar.
struct pendulum_fn {
  template <class Time, class Y, class P, class D>
  void operator()(Time t, const Y& y, const P& theta, D& dydt) const {
    using std::cos;
    using std::sin;
    dydt[0] = y[1];
    dydt[1] = -theta[0] * sin(y[0]) - theta[1] * y[1] + theta[2] * cos(t);
  }
};
using pendulum = nde::autodiff_field<Eigen::Vector2d, pendulum_fn>;
using v2 = Eigen::Vector2d;

struct fixed_case {
  vec theta = (vec(3) << 1.3, 0.2, 0.5).finished();
  v2 y0{0.7, -0.3};
  double t0 = 0.0, t1 = 1.03;
  std::vector<double> ts{0.25, 0.62, 0.97};
  std::vector<v2> w{v2(0.4, -1.0), v2(1.1, 0.3), v2(-0.6, 0.8), v2(0.5, 0.5)};  // + t1 output
};

// L(θ, y0, t0, t1, ts) of the discrete solution.
template <class Method>
double loss(const fixed_case& p, const nde::solve_options& base) {
  nde::ode_term<pendulum> term{pendulum(pendulum_fn{}, 3)};
  nde::solve_options o = base;
  o.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = p.ts};
  auto s = nde::solve(term, Method{}, p.t0, p.t1, p.y0, p.theta, o);
  REQUIRE(s.success());
  double l = 0;
  for (std::size_t i = 0; i < s.ys.size(); ++i) l += p.w[i].dot(s.ys[i]);
  return l;
}

template <class Method>
nde::gradient_result<v2> gradient(const fixed_case& p, const nde::solve_options& base,
                                  nde::adjoint_method method) {
  nde::ode_term<pendulum> term{pendulum(pendulum_fn{}, 3)};
  nde::solve_options o = base;
  o.save_at = {.t0 = false, .t1 = true, .steps = false, .ts = p.ts};
  o.adjoint = method;
  auto s = nde::solve(term, Method{}, p.t0, p.t1, p.y0, p.theta, o);
  REQUIRE(s.success());
  return s.backward(p.w);
}

// Central differences of every input: θ (3), y0 (2), t0, t1, ts (3).
template <class Method>
vec central_differences(const fixed_case& p, const nde::solve_options& o, double h) {
  vec d(3 + 2 + 2 + 3);
  Eigen::Index k = 0;
  auto diff = [&](auto&& perturb) {
    fixed_case plus = p, minus = p;
    perturb(plus, h);
    perturb(minus, -h);
    d[k++] = (loss<Method>(plus, o) - loss<Method>(minus, o)) / (2 * h);
  };
  for (Eigen::Index i = 0; i < 3; ++i) diff([i](fixed_case& c, double e) { c.theta[i] += e; });
  for (Eigen::Index i = 0; i < 2; ++i) diff([i](fixed_case& c, double e) { c.y0[i] += e; });
  diff([](fixed_case& c, double e) { c.t0 += e; });
  diff([](fixed_case& c, double e) { c.t1 += e; });
  for (std::size_t i = 0; i < 3; ++i) diff([i](fixed_case& c, double e) { c.ts[i] += e; });
  return d;
}

vec flatten(const nde::gradient_result<v2>& g) {
  vec d(10);
  d << g.params, g.y0, g.t0, g.t1, g.ts[0], g.ts[1], g.ts[2];
  return d;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "discrete adjoint and forward sensitivities are the exact gradient of the "
    "fixed-step discrete map, time gradients included",
    "[adjoint][discrete][forward]", nde::rk4, nde::dopri5, nde::bosh3, nde::heun) {
  const fixed_case p;
  const nde::solve_options o{.controller = nde::constant_step{.dt = 0.1}};
  const vec fd = central_differences<TestType>(p, o, 1e-6);
  const auto discrete = gradient<TestType>(p, o, nde::discrete_adjoint{});
  const auto forward = gradient<TestType>(p, o, nde::forward_sensitivity{});
  REQUIRE(discrete.status == nde::status::success);
  REQUIRE(forward.status == nde::status::success);
  INFO("fd       " << fd.transpose());
  INFO("discrete " << flatten(discrete).transpose());
  INFO("forward  " << flatten(forward).transpose());
  CHECK(relative(flatten(discrete), fd) < 1e-7);
  CHECK(relative(flatten(forward), flatten(discrete)) < 1e-10);
  // Entry by entry, too: no component may hide behind the norm.
  for (Eigen::Index i = 0; i < fd.size(); ++i)
    CHECK(std::abs(flatten(discrete)[i] - fd[i]) < 1e-6 * (1 + std::abs(fd[i])));
  const auto budget = gradient<TestType>(p, o, nde::discrete_adjoint{.max_checkpoints = 2});
  CHECK(flatten(budget) == flatten(discrete));
}

TEST_CASE("forward sensitivities and the discrete adjoint agree through adaptive steps",
          "[adjoint][discrete][forward]") {
  const fixed_case p;
  const nde::solve_options o{.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-8}};
  const auto discrete = gradient<nde::dopri5>(p, o, nde::discrete_adjoint{});
  const auto forward = gradient<nde::dopri5>(p, o, nde::forward_sensitivity{});
  CHECK(relative(flatten(forward), flatten(discrete)) < 1e-10);
  // And both are close to the gradient of the exact flow: compare with a tight solve.
  const nde::solve_options tight{.controller = nde::pid_controller{.rtol = 1e-12, .atol = 1e-14}};
  const auto accurate = gradient<nde::dopri5>(p, tight, nde::discrete_adjoint{});
  CHECK(relative(flatten(discrete), flatten(accurate)) < 1e-4);
  const auto backsolve = gradient<nde::dopri5>(
      p, tight, nde::backsolve_adjoint{.controller = {.rtol = 1e-12, .atol = 1e-14}});
  CHECK(relative(flatten(backsolve), flatten(accurate)) < 1e-8);
}

TEST_CASE("a network field: forward sensitivities match the discrete adjoint to 1e-10",
          "[adjoint][forward][network]") {
  using net_type = nde::nn::mlp<nde::nn::tanh_activation, 2, 8, 2>;
  using field = nde::network_field<net_type, v2>;
  const net_type net;
  vec theta(net.num_params());
  std::mt19937_64 engine(4);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  nde::ode_term<field> term{field(net)};
  const std::vector<double> ts{0.3, 0.8, 1.5};
  const std::vector<v2> w{v2(1, 0.5), v2(-0.3, 1), v2(0.7, -0.2)};
  for (const bool adaptive : {false, true}) {
    INFO((adaptive ? "adaptive dopri5" : "fixed-step dopri5"));
    nde::solve_options o{.save_at = nde::save_at::times(ts)};
    if (!adaptive) o.controller = nde::constant_step{.dt = 0.05};
    o.adjoint = nde::discrete_adjoint{};
    auto a = nde::solve(term, nde::dopri5{}, 0.0, 1.5, v2(0.5, -1.0), theta, o);
    o.adjoint = nde::forward_sensitivity{};
    auto b = nde::solve(term, nde::dopri5{}, 0.0, 1.5, v2(0.5, -1.0), theta, o);
    REQUIRE(a.success());
    REQUIRE(b.success());
    CHECK(a.ys == b.ys);
    const auto ga = a.backward(w), gb = b.backward(w);
    CHECK(relative(gb.params, ga.params) < 1e-10);
    CHECK(relative(gb.y0, ga.y0) < 1e-10);
    CHECK(std::abs(gb.t0 - ga.t0) < 1e-10 * (1 + std::abs(ga.t0)));
    for (std::size_t i = 0; i < ts.size(); ++i)
      CHECK(std::abs(gb.ts[i] - ga.ts[i]) < 1e-10 * (1 + std::abs(ga.ts[i])));
    CHECK(gb.stats.forward_jvp_evals > 0);
  }
}

TEST_CASE("inference mode stores nothing for backward; a failed forward reports its own status",
          "[adjoint][errors]") {
  nde::ode_term<nde::linear_field<vec>> term{nde::linear_field<vec>(3)};
  const linear_case p;
  auto predicted = nde::solve(term, nde::dopri5{}, 0.0, 2.0, p.y0, p.theta(),
                              {.save_at = nde::save_at::times(p.ts)});
  REQUIRE(predicted.success());
  auto recorded =
      nde::solve(term, nde::dopri5{}, 0.0, 2.0, p.y0, p.theta(),
                 {.save_at = nde::save_at::times(p.ts), .adjoint = nde::discrete_adjoint{}});
  CHECK(predicted.ys == recorded.ys);  // the tape does not change the solve
  CHECK_THROWS_WITH(predicted.backward(p.w), Catch::Contains("inference"));

  vec bad = p.y0;
  bad[1] = std::nan("");
  auto failed =
      nde::solve(term, nde::dopri5{}, 0.0, 2.0, bad, p.theta(),
                 {.save_at = nde::save_at::times(p.ts), .adjoint = nde::backsolve_adjoint{}});
  CHECK(failed.status == nde::status::non_finite);
  const auto g = failed.backward(p.w);
  CHECK(g.status == nde::status::non_finite);
  CHECK_THAT(g.message, Catch::Contains("y0 contains NaN"));

  // Wrong number or shape of cotangents, NaN cotangents: clear errors.
  CHECK_THROWS_WITH(recorded.backward(std::vector<vec>(3, vec::Zero(3))),
                    Catch::Contains("3 cotangents for 4 output times"));
  CHECK_THROWS_WITH(recorded.backward(std::vector<vec>(4, vec::Zero(2))),
                    Catch::Contains("has shape 2x1"));
  std::vector<vec> nan_cotangents(4, vec::Zero(3));
  nan_cotangents[2][0] = std::nan("");
  CHECK_THROWS_WITH(recorded.backward(nan_cotangents), Catch::Contains("NaN"));

  // A term without a vjp cannot be differentiated: said at solve time.
  auto plain = nde::make_ode_term([](double, const vec& y, vec& dydt) { dydt = -y; });
  auto s =
      nde::solve(plain, nde::dopri5{}, 0.0, 1.0, p.y0, vec(), {.adjoint = nde::discrete_adjoint{}});
  CHECK(s.status == nde::status::invalid_input);
  CHECK_THAT(s.message, Catch::Contains("vector-Jacobian"));
  // θ of the wrong length.
  auto wrong = nde::solve(term, nde::dopri5{}, 0.0, 1.0, p.y0, vec::Zero(4));
  CHECK(wrong.status == nde::status::invalid_input);
  CHECK_THAT(wrong.message, Catch::Contains("9 parameters"));
}

TEST_CASE("unused parameters get an exactly zero gradient, and no gradient is NaN",
          "[adjoint][zero]") {
  // y' = A y where the third state never feeds the first two (A(0, 2) = A(1, 2) = 0) and the
  // loss reads only those: the row of A driving y3 does not matter, dL/dA(2, :) must be 0.
  linear_case p;
  p.A(0, 2) = p.A(1, 2) = 0;
  for (auto& w : p.w) w[2] = 0;
  for (const nde::adjoint_method& m : {nde::adjoint_method(nde::discrete_adjoint{}),
                                       nde::adjoint_method(nde::forward_sensitivity{}),
                                       nde::adjoint_method(nde::backsolve_adjoint{}),
                                       nde::adjoint_method(nde::checkpointed_adjoint{})}) {
    const auto g = linear_gradient<nde::dopri5>(p, m, 1e-8);
    REQUIRE(g.status == nde::status::success);
    CHECK(g.params.allFinite());
    for (Eigen::Index l = 0; l < 3; ++l) CHECK(g.params[l * 3 + 2] == 0.0);
  }
}
