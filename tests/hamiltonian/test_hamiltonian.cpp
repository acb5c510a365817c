// Hamiltonian neural networks (models/hamiltonian.hpp): the field J∇H, its vjp / vjp_q /
// vjp_p / jvp / Jacobian against central finite differences, the HNN's rollouts conserving
// its own H_θ, gradients of a rollout loss by the discrete adjoint against central
// differences and by every gradient method against each other, the separable variant, and
// bad input.
#include <nde/integrate/solve.hpp>
#include <nde/models/hamiltonian.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/solvers/dopri5.hpp>
#include <nde/solvers/reversible_heun.hpp>
#include <nde/solvers/rk4.hpp>
#include <nde/step_size/constant_step.hpp>

#include <catch.hpp>

#include <cmath>
#include <random>
#include <span>
#include <vector>

namespace {

constexpr int D = Eigen::Dynamic;
using vec = Eigen::VectorXd;
using matrix = Eigen::MatrixXd;
using net_type = nde::nn::mlp<nde::nn::tanh_activation, D, D, D, D>;
using field_type = nde::hamiltonian_field<net_type, vec>;

vec random_vector(Eigen::Index n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  vec v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

vec field_at(field_type& f, const vec& y, const vec& theta) {
  vec out;
  f(0.0, y, theta, out);
  return out;
}

}  // namespace

TEST_CASE("HNN field is the symplectic gradient of H_theta", "[hamiltonian][hnn]") {
  for (const Eigen::Index half : {1, 3}) {
    std::mt19937_64 rng(1 + unsigned(half));
    field_type f(net_type({2 * half, 12, 9, 1}));
    REQUIRE(f.half() == half);
    REQUIRE_FALSE(f.separable());
    const vec theta = random_vector(f.num_params(), rng, 0.5);
    const vec y = random_vector(2 * half, rng);
    const vec dydt = field_at(f, y, theta);
    // Central differences of H: ∂H/∂y_k.
    vec grad(2 * half);
    const double e = 1e-6;
    for (Eigen::Index k = 0; k < 2 * half; ++k) {
      vec yp = y, ym = y;
      yp[k] += e;
      ym[k] -= e;
      grad[k] = (f.energy(yp, theta)(0) - f.energy(ym, theta)(0)) / (2 * e);
    }
    CHECK((dydt.head(half) - grad.tail(half)).norm() <= 1e-8);
    CHECK((dydt.tail(half) + grad.head(half)).norm() <= 1e-8);
    // The field is tangent to the level sets of H: ∇H · f = 0.
    CHECK(std::abs(grad.dot(dydt)) <= 1e-8 * (1 + grad.squaredNorm()));
    // vf_q and vf_p write only their block.
    vec out = vec::Constant(2 * half, 7.0);
    f.vf_q(0.0, y, theta, out);
    CHECK(out.head(half) == dydt.head(half));
    CHECK((out.tail(half).array() == 7.0).all());
    out.setConstant(7.0);
    f.vf_p(0.0, y, theta, out);
    CHECK(out.tail(half) == dydt.tail(half));
    CHECK((out.head(half).array() == 7.0).all());
  }
}

TEST_CASE("HNN vjp, vjp_q, vjp_p, jvp and Jacobian match central differences",
          "[hamiltonian][hnn]") {
  std::mt19937_64 rng(7);
  const Eigen::Index half = 2, n = 4;
  field_type f(net_type({n, 10, 8, 1}));
  const Eigen::Index p = f.num_params();
  const vec theta = random_vector(p, rng, 0.5);
  const vec y = random_vector(n, rng), a = random_vector(n, rng);
  const vec v = random_vector(n, rng), theta_dir = random_vector(p, rng);
  const double e = 1e-5;

  vec a_y;
  vec a_theta = vec::Constant(p, 0.5);
  f.vjp(0.0, y, theta, a, a_y, a_theta);
  a_theta.array() -= 0.5;  // accumulated
  // aᵀ (∂f/∂y v + ∂f/∂θ θ̇) by central differences.
  const double fd_y =
      a.dot(field_at(f, y + e * v, theta) - field_at(f, y - e * v, theta)) / (2 * e);
  const double fd_theta =
      a.dot(field_at(f, y, theta + e * theta_dir) - field_at(f, y, theta - e * theta_dir)) /
      (2 * e);
  CHECK(std::abs(a_y.dot(v) - fd_y) <= 1e-7 * (1 + std::abs(fd_y)));
  CHECK(std::abs(a_theta.dot(theta_dir) - fd_theta) <= 1e-7 * (1 + std::abs(fd_theta)));

  // vjp_q + vjp_p = vjp; each reads only its block of w.
  vec wq_y, wp_y;
  vec wq_theta = vec::Zero(p), wp_theta = vec::Zero(p);
  vec aq = a, ap = a;
  aq.tail(half).setConstant(1e3);  // must not be read by vjp_q
  ap.head(half).setConstant(1e3);  // must not be read by vjp_p
  f.vjp_q(0.0, y, theta, aq, wq_y, wq_theta);
  f.vjp_p(0.0, y, theta, ap, wp_y, wp_theta);
  CHECK((wq_y + wp_y - a_y).norm() <= 1e-12 * (1 + a_y.norm()));
  CHECK((wq_theta + wp_theta - a_theta).norm() <= 1e-12 * (1 + a_theta.norm()));
  // vjp_q against central differences of the q block alone.
  vec aq_only = vec::Zero(n);
  aq_only.head(half) = a.head(half);
  const double fd_q =
      aq_only.dot(field_at(f, y + e * v, theta) - field_at(f, y - e * v, theta)) / (2 * e);
  CHECK(std::abs(wq_y.dot(v) - fd_q) <= 1e-7 * (1 + std::abs(fd_q)));

  // value_and_vjp = (f, vjp).
  vec dydt, a_y2;
  vec a_theta2 = vec::Zero(p);
  f.value_and_vjp(0.0, y, theta, a, dydt, a_y2, a_theta2);
  CHECK((dydt - field_at(f, y, theta)).norm() <= 1e-14 * (1 + dydt.norm()));
  CHECK((a_y2 - a_y).norm() <= 1e-13 * (1 + a_y.norm()));
  CHECK((a_theta2 - a_theta).norm() <= 1e-13 * (1 + a_theta.norm()));

  // jvp against central differences along (v, θ̇).
  vec jv;
  f.jvp(0.0, y, theta, v, theta_dir, 0.0, jv);
  const vec fd_jv = (field_at(f, y + e * v, theta + e * theta_dir) -
                     field_at(f, y - e * v, theta - e * theta_dir)) /
                    (2 * e);
  CHECK((jv - fd_jv).norm() <= 1e-7 * (1 + fd_jv.norm()));
  // vjp and jvp are adjoint: aᵀ (J v) = (Jᵀ a)ᵀ v.
  vec jv_y;
  f.jvp(0.0, y, theta, v, vec::Zero(p), 0.0, jv_y);
  CHECK(std::abs(a.dot(jv_y) - a_y.dot(v)) <= 1e-12 * (1 + a.norm() * jv_y.norm()));

  // Dense Jacobian, column by column; the HNN Jacobian J∇²H is Hamiltonian: (S·Jac) symmetric
  // with S = [[0, -I], [I, 0]] (= J⁻¹).
  matrix jac;
  f.jacobian(0.0, y, theta, jac);
  for (Eigen::Index k = 0; k < n; ++k) {
    const vec ek = vec::Unit(n, k);
    const vec fd = (field_at(f, y + e * ek, theta) - field_at(f, y - e * ek, theta)) / (2 * e);
    CHECK((jac.col(k) - fd).norm() <= 1e-7 * (1 + fd.norm()));
  }
  matrix s = matrix::Zero(n, n);
  s.topRightCorner(half, half) = -matrix::Identity(half, half);
  s.bottomLeftCorner(half, half) = matrix::Identity(half, half);
  const matrix hessian = s * jac;
  CHECK((hessian - hessian.transpose()).norm() <= 1e-12 * (1 + hessian.norm()));
}

TEST_CASE("HNN batch states: columns are samples, parameter cotangents are summed",
          "[hamiltonian][hnn]") {
  std::mt19937_64 rng(11);
  using batch_field = nde::hamiltonian_field<net_type, matrix>;
  batch_field fb(net_type({2, 16, 16, 1}));
  field_type f1(net_type({2, 16, 16, 1}));
  const Eigen::Index p = fb.num_params();
  const vec theta = random_vector(p, rng, 0.5);
  matrix y(2, 5), a(2, 5);
  for (Eigen::Index j = 0; j < 5; ++j) {
    y.col(j) = random_vector(2, rng);
    a.col(j) = random_vector(2, rng);
  }
  matrix dydt, a_y;
  vec a_theta = vec::Zero(p);
  fb(0.0, y, theta, dydt);
  fb.vjp(0.0, y, theta, a, a_y, a_theta);
  vec sum = vec::Zero(p);
  for (Eigen::Index j = 0; j < 5; ++j) {
    const vec yj = y.col(j), aj = a.col(j);
    vec ayj;
    CHECK((dydt.col(j) - field_at(f1, yj, theta)).norm() <= 1e-13);
    f1.vjp(0.0, yj, theta, aj, ayj, sum);
    CHECK((a_y.col(j) - ayj).norm() <= 1e-13 * (1 + ayj.norm()));
  }
  CHECK((a_theta - sum).norm() <= 1e-12 * (1 + sum.norm()));
}

TEST_CASE("an HNN rollout conserves its own H_theta to solver accuracy", "[hamiltonian][hnn]") {
  std::mt19937_64 rng(3);
  field_type f(net_type({2, 32, 32, 1}));
  const vec theta = random_vector(f.num_params(), rng, 0.4);
  vec y0(2);
  y0 << 0.8, -0.3;
  const double h0 = f.energy(y0, theta)(0);
  auto run = [&](double dt) {
    nde::solve_options options;
    options.controller = nde::constant_step{dt};
    const auto sol =
        nde::solve(f, nde::rk4{}, 0.0, 5.0, y0, nde::params_view<double>(theta), options);
    REQUIRE(sol.success());
    return sol.ys.back();
  };
  const vec y_coarse = run(0.02), y_fine = run(0.01);
  // The state moved: the largest distance from y0 over the outputs of a finer grid.
  double moved = 0;
  {
    nde::solve_options options;
    options.controller = nde::constant_step{0.01};
    options.save_at = nde::save_at::times({0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0});
    const auto sol =
        nde::solve(f, nde::rk4{}, 0.0, 5.0, y0, nde::params_view<double>(theta), options);
    REQUIRE(sol.success());
    for (const auto& y : sol.ys) moved = std::max(moved, (y - y0).norm());
  }
  const double drift_coarse = std::abs(f.energy(y_coarse, theta)(0) - h0);
  const double drift_fine = std::abs(f.energy(y_fine, theta)(0) - h0);
  INFO("H0 " << h0 << " drift " << drift_coarse << " " << drift_fine);
  CHECK(moved > 0.2);
  CHECK(drift_fine <= 1e-7 * (1 + std::abs(h0)));
  // Fourth-order: halving the step divides the energy error by about 16 (at least 8).
  CHECK(drift_fine * 8 <= drift_coarse + 1e-15);
}

namespace {

const std::vector<double> times{0.0, 0.4, 1.0, 1.7};

// L = Σ_i ½|y(t_i) − target_i|².
struct rollout_loss {
  std::vector<vec> targets;
  rollout_loss() {
    for (std::size_t i = 0; i < times.size(); ++i) {
      vec t(2);
      t << std::cos(times[i]), -std::sin(times[i]);
      targets.push_back(t);
    }
  }
  [[nodiscard]] double value(const std::vector<vec>& ys) const {
    double l = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) l += 0.5 * (ys[i] - targets[i]).squaredNorm();
    return l;
  }
  [[nodiscard]] std::vector<vec> cotangents(const std::vector<vec>& ys) const {
    std::vector<vec> c;
    for (std::size_t i = 0; i < ys.size(); ++i) c.push_back(ys[i] - targets[i]);
    return c;
  }
};

template <class Gradient, class Method>
nde::gradient_result<vec> hnn_gradient(const vec& theta, const vec& y0, Gradient g,
                                       nde::neural_ode_options options) {
  nde::hamiltonian_neural_ode<net_type, Method, Gradient, vec> model(
      field_type(net_type({2, 12, 12, 1})), theta, g, options);
  const auto& fr = model.forward(y0, times);
  REQUIRE(fr.success());
  const auto c = rollout_loss{}.cotangents(fr.ys);
  return model.backward_or_throw(std::span<const vec>(c));
}

}  // namespace

TEST_CASE("HNN rollout gradients: discrete adjoint vs central differences, all methods agree",
          "[hamiltonian][hnn][gradients]") {
  std::mt19937_64 rng(17);
  const vec theta = random_vector(field_type(net_type({2, 12, 12, 1})).num_params(), rng, 0.4);
  vec y0(2);
  y0 << 1.0, 0.1;
  const nde::neural_ode_options fixed{.controller = nde::constant_step{0.05}};
  const auto g = hnn_gradient<nde::discrete_adjoint, nde::rk4>(theta, y0, {}, fixed);

  // Central differences of the discrete (rk4, dt = 0.05) loss along random directions and
  // along y0's coordinates.
  nde::hamiltonian_neural_ode<net_type, nde::rk4, nde::discrete_adjoint, vec> model(
      field_type(net_type({2, 12, 12, 1})), theta, {}, fixed);
  auto loss_at = [&](const vec& th, const vec& y) {
    model.params() = th;
    return rollout_loss{}.value(model.forward(y, times).ys);
  };
  const double e = 1e-6;
  for (int trial = 0; trial < 3; ++trial) {
    const vec dir = random_vector(theta.size(), rng);
    const double fd = (loss_at(theta + e * dir, y0) - loss_at(theta - e * dir, y0)) / (2 * e);
    CHECK(std::abs(g.params.dot(dir) - fd) <= 1e-6 * (1 + std::abs(fd)));
  }
  for (Eigen::Index k = 0; k < 2; ++k) {
    const vec ek = vec::Unit(2, k);
    const double fd = (loss_at(theta, y0 + e * ek) - loss_at(theta, y0 - e * ek)) / (2 * e);
    CHECK(std::abs(g.y0[k] - fd) <= 1e-6 * (1 + std::abs(fd)));
  }

  // Every gradient method on the same discrete (fixed-step) solve: forward sensitivities and
  // binomial checkpointing are exact; the continuous adjoints agree to their tolerances.
  const auto fs = hnn_gradient<nde::forward_sensitivity, nde::rk4>(theta, y0, {}, fixed);
  CHECK((fs.params - g.params).norm() <= 1e-10 * (1 + g.params.norm()));
  CHECK((fs.y0 - g.y0).norm() <= 1e-10 * (1 + g.y0.norm()));
  const auto ck = hnn_gradient<nde::discrete_adjoint, nde::rk4>(
      theta, y0, nde::discrete_adjoint{.max_checkpoints = 3}, fixed);
  CHECK((ck.params - g.params).norm() <= 1e-12 * (1 + g.params.norm()));
  // Adaptive solves: the continuous adjoints approximate the same (continuous) gradient.
  const nde::neural_ode_options tight{.controller =
                                          nde::pid_controller{.rtol = 1e-9, .atol = 1e-11}};
  const auto dd = hnn_gradient<nde::discrete_adjoint, nde::dopri5>(theta, y0, {}, tight);
  const auto bs = hnn_gradient<nde::backsolve_adjoint, nde::dopri5>(
      theta, y0, nde::backsolve_adjoint{.controller = {.rtol = 1e-9, .atol = 1e-11}}, tight);
  const auto cp = hnn_gradient<nde::checkpointed_adjoint, nde::dopri5>(
      theta, y0, nde::checkpointed_adjoint{.controller = {.rtol = 1e-9, .atol = 1e-11}}, tight);
  CHECK((dd.params - g.params).norm() <= 1e-5 * (1 + g.params.norm()));
  CHECK((bs.params - dd.params).norm() <= 1e-5 * (1 + dd.params.norm()));
  CHECK((cp.params - dd.params).norm() <= 1e-5 * (1 + dd.params.norm()));
  CHECK((bs.y0 - dd.y0).norm() <= 1e-5 * (1 + dd.y0.norm()));
  CHECK((cp.y0 - dd.y0).norm() <= 1e-5 * (1 + dd.y0.norm()));
}

TEST_CASE("separable HNN: H = T(p) + V(q), its field and derivatives", "[hamiltonian][hnn]") {
  using small = nde::nn::mlp<nde::nn::softplus_activation, D, D, D>;
  using sep_type = nde::separable_hamiltonian_field<small, net_type, vec>;
  sep_type f(small({2, 8, 1}), net_type({2, 10, 6, 1}));
  REQUIRE(f.separable());
  REQUIRE(f.half() == 2);
  std::mt19937_64 rng(23);
  const Eigen::Index n = 4, p = f.num_params();
  const vec theta = random_vector(p, rng, 0.5);
  const vec y = random_vector(n, rng), a = random_vector(n, rng), v = random_vector(n, rng);
  const vec theta_dir = random_vector(p, rng);
  auto field = [&](const vec& yy, const vec& th) {
    vec out;
    f(0.0, yy, th, out);
    return out;
  };
  const double e = 1e-6;
  // Field = J ∇H by central differences of H; dq/dt ignores q and dp/dt ignores p.
  const vec dydt = field(y, theta);
  for (Eigen::Index k = 0; k < n; ++k) {
    const vec ek = vec::Unit(n, k);
    const double dh = (f.energy(y + e * ek, theta)(0) - f.energy(y - e * ek, theta)(0)) / (2 * e);
    const double expected = k < 2 ? -dydt[k + 2] : dydt[k - 2];
    CHECK(std::abs(dh - expected) <= 1e-8);
  }
  vec y_moved = y;
  y_moved.head(2) += vec::Ones(2);  // move q: dq/dt must not change
  CHECK((field(y_moved, theta).head(2) - dydt.head(2)).norm() == 0.0);
  // vjp against central differences.
  vec a_y;
  vec a_theta = vec::Zero(p);
  f.vjp(0.0, y, theta, a, a_y, a_theta);
  const double fd_y = a.dot(field(y + e * v, theta) - field(y - e * v, theta)) / (2 * e);
  const double fd_t =
      a.dot(field(y, theta + e * theta_dir) - field(y, theta - e * theta_dir)) / (2 * e);
  CHECK(std::abs(a_y.dot(v) - fd_y) <= 1e-7 * (1 + std::abs(fd_y)));
  CHECK(std::abs(a_theta.dot(theta_dir) - fd_t) <= 1e-7 * (1 + std::abs(fd_t)));
  vec wq, wp;
  vec tq = vec::Zero(p), tp = vec::Zero(p);
  f.vjp_q(0.0, y, theta, a, wq, tq);
  f.vjp_p(0.0, y, theta, a, wp, tp);
  CHECK((wq + wp - a_y).norm() <= 1e-12 * (1 + a_y.norm()));
  CHECK((tq + tp - a_theta).norm() <= 1e-12 * (1 + a_theta.norm()));
  // jvp.
  vec jv;
  f.jvp(0.0, y, theta, v, theta_dir, 0.0, jv);
  const vec fd_jv =
      (field(y + e * v, theta + e * theta_dir) - field(y - e * v, theta - e * theta_dir)) / (2 * e);
  CHECK((jv - fd_jv).norm() <= 1e-7 * (1 + fd_jv.norm()));
}

TEST_CASE("HNN bad input: odd state, non-scalar H, wrong state height, unsized output",
          "[hamiltonian][hnn][bad_input]") {
  CHECK_THROWS_WITH(field_type(net_type({3, 4, 4, 1})), Catch::Contains("even"));
  CHECK_THROWS_WITH(field_type(net_type({2, 4, 4, 2})), Catch::Contains("one output"));
  field_type f(net_type({2, 4, 4, 1}));
  const vec theta = vec::Zero(f.num_params());
  vec out;
  CHECK_THROWS_WITH(f(0.0, vec::Zero(4), theta, out), Catch::Contains("expected 2"));
  vec a_y, a_theta = vec::Zero(f.num_params());
  CHECK_THROWS_WITH(f.vjp(0.0, vec::Zero(3), theta, vec::Zero(3), a_y, a_theta),
                    Catch::Contains("rows"));
  vec unsized;
  CHECK_THROWS_WITH(f.vf_q(0.0, vec::Zero(2), theta, unsized), Catch::Contains("shape"));
  CHECK_THROWS_WITH(f(0.0, vec::Zero(2), vec::Zero(3), out), Catch::Contains("theta"));
  using small = nde::nn::mlp<nde::nn::tanh_activation, D, D, D>;
  CHECK_THROWS_WITH(
      (nde::separable_hamiltonian_field<small, small, vec>(small({2, 3, 1}), small({3, 3, 1}))),
      Catch::Contains("must agree"));
  CHECK_THROWS_WITH(
      (nde::separable_hamiltonian_field<small, small, vec>(small({2, 3, 2}), small({2, 3, 1}))),
      Catch::Contains("kinetic network must have one output"));
  // Through a solve: a state of the wrong height is refused (an error or a failed status),
  // never a crash.
  nde::solve_options options;
  options.controller = nde::constant_step{0.1};
  bool refused = false;
  try {
    const auto sol = nde::solve(f, nde::rk4{}, 0.0, 1.0, vec(vec::Zero(3)),
                                nde::params_view<double>(theta), options);
    refused = !sol.success();
  } catch (const nde::error& e) {
    refused = e.code() == nde::status::invalid_input;
  }
  CHECK(refused);
}

TEST_CASE("HNN with a reversible solver: O(1)-memory reversible adjoint vs stored states and FD",
          "[hamiltonian][hnn][gradients]") {
  std::mt19937_64 rng(29);
  const vec theta = random_vector(field_type(net_type({2, 12, 12, 1})).num_params(), rng, 0.4);
  vec y0(2);
  y0 << 0.9, -0.2;
  const std::vector<double> ends{0.0, 2.0};
  using model_type =
      nde::hamiltonian_neural_ode<net_type, nde::reversible_heun, nde::reversible_adjoint, vec>;
  const nde::neural_ode_options fixed{.controller = nde::constant_step{0.02}};
  auto gradient = [&](bool store) {
    model_type model(field_type(net_type({2, 12, 12, 1})), theta,
                     nde::reversible_adjoint{.store_states = store}, fixed);
    const auto& fr = model.forward(y0, ends);
    REQUIRE(fr.success());
    const std::vector<vec> c(fr.ys.begin(), fr.ys.end());  // L = Σ ½|y_i|²
    return model.backward_or_throw(std::span<const vec>(c));
  };
  const auto g = gradient(false), g_stored = gradient(true);
  CHECK((g.params - g_stored.params).norm() <= 1e-9 * (1 + g_stored.params.norm()));
  CHECK((g.y0 - g_stored.y0).norm() <= 1e-9 * (1 + g_stored.y0.norm()));
  model_type model(field_type(net_type({2, 12, 12, 1})), theta, {}, fixed);
  auto loss_at = [&](const vec& th) {
    model.params() = th;
    double l = 0;
    for (const auto& y : model.predict(y0, ends).ys) l += 0.5 * y.squaredNorm();
    return l;
  };
  const double e = 1e-6;
  const vec dir = random_vector(theta.size(), rng);
  const double fd = (loss_at(theta + e * dir) - loss_at(theta - e * dir)) / (2 * e);
  CHECK(std::abs(g.params.dot(dir) - fd) <= 1e-6 * (1 + std::abs(fd)));
}
