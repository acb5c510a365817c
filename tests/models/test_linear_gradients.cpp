// Gradients of y' = A y against the exact answer, for every gradient method.
//
// Reference: with L = Σ_i w_iᵀ y(t_i) and y(t) = exp(tA) y0,
//   dL/dy0 = Σ_i exp(t_i Aᵀ) w_i,
//   dL/dA_kl = Σ_i w_iᵀ D(t_i A)[t_i E_kl] y0,
// where D(X)[E], the Fréchet derivative of the matrix exponential, is the top-right block of
// exp([[X, E], [0, X]]) (Van Loan 1978). Independent of every code path under test.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <unsupported/Eigen/MatrixFunctions>

#include "expm_frechet.hpp"

#include <vector>

namespace {

using vec = Eigen::VectorXd;
using mat = Eigen::MatrixXd;

struct linear_problem {
  mat A;
  vec y0;
  std::vector<double> ts;
  std::vector<vec> w;
};

linear_problem make_problem() {
  linear_problem p;
  p.A.resize(3, 3);
  p.A << -0.3, 1.2, 0.1,  //
      -1.1, -0.2, 0.4,    //
      0.2, -0.5, -0.6;
  p.y0 = vec(3);
  p.y0 << 1.0, -0.5, 0.25;
  p.ts = {0.0, 0.4, 0.9, 1.7};
  for (std::size_t i = 0; i < p.ts.size(); ++i) {
    vec w(3);
    w << 1.0 + 0.1 * double(i), -0.7 + 0.2 * double(i), 0.3 - 0.05 * double(i);
    p.w.push_back(w);
  }
  return p;
}

struct exact_gradient {
  vec y0;
  vec A;  // column-major vec(dL/dA)
};

exact_gradient reference(const linear_problem& p) {
  const Eigen::Index n = p.A.rows();
  exact_gradient g{vec::Zero(n), vec::Zero(n * n)};
  for (std::size_t i = 0; i < p.ts.size(); ++i) {
    const double t = p.ts[i];
    g.y0 += (t * p.A.transpose()).exp() * p.w[i];
    for (Eigen::Index l = 0; l < n; ++l)
      for (Eigen::Index k = 0; k < n; ++k) {
        mat e = mat::Zero(n, n);
        e(k, l) = t;
        const mat frechet = nde_test::expm_frechet(t * p.A, e);
        g.A[l * n + k] += p.w[i].dot(frechet * p.y0);
      }
  }
  return g;
}

template <class Gradient>
nde::gradient_result<vec> run(const linear_problem& p, Gradient method,
                              nde::neural_ode_options options, double forward_accuracy = 1e-8) {
  const Eigen::Index n = p.A.rows();
  nde::neural_ode<nde::linear_field<vec>, nde::dopri5, Gradient, vec> model(
      nde::linear_field<vec>(n), Eigen::Map<const vec>(p.A.data(), n * n), method, options);
  const auto& fr = model.forward(p.y0, p.ts);
  REQUIRE(fr.status == nde::status::success);
  for (std::size_t i = 0; i < p.ts.size(); ++i)
    CHECK((fr.ys[i] - (p.ts[i] * p.A).exp() * p.y0).norm() < forward_accuracy);
  return model.backward(std::span<const vec>(p.w));
}

double relative_error(const vec& x, const vec& reference) {
  return (x - reference).norm() / reference.norm();
}

nde::neural_ode_options tight() {
  return {.controller = nde::pi_controller{.rtol = 1e-11, .atol = 1e-13}};
}

}  // namespace

TEST_CASE("linear ODE: every gradient method matches the exact gradient", "[models][gradients]") {
  const auto p = make_problem();
  const auto ref = reference(p);
  const nde::pi_controller adjoint_tol{.rtol = 1e-11, .atol = 1e-13};

  SECTION("backsolve adjoint") {
    const auto g = run(p, nde::backsolve_adjoint{.controller = adjoint_tol}, tight());
    REQUIRE(g.status == nde::status::success);
    CHECK(relative_error(g.y0, ref.y0) < 1e-8);
    CHECK(relative_error(g.params, ref.A) < 1e-8);
    CHECK(g.stats.backward_vjp_evals > 0);
  }
  SECTION("checkpointed adjoint") {
    const auto g = run(p, nde::checkpointed_adjoint{.controller = adjoint_tol}, tight());
    REQUIRE(g.status == nde::status::success);
    CHECK(relative_error(g.y0, ref.y0) < 1e-8);
    CHECK(relative_error(g.params, ref.A) < 1e-8);
  }
  SECTION("discrete adjoint, every step stored") {
    const auto g = run(p, nde::discrete_adjoint{}, tight());
    REQUIRE(g.status == nde::status::success);
    CHECK(relative_error(g.y0, ref.y0) < 1e-8);
    CHECK(relative_error(g.params, ref.A) < 1e-8);
  }
  SECTION("discrete adjoint, two checkpoints") {
    const auto g = run(p, nde::discrete_adjoint{.max_checkpoints = 2}, tight());
    REQUIRE(g.status == nde::status::success);
    CHECK(relative_error(g.y0, ref.y0) < 1e-8);
    CHECK(relative_error(g.params, ref.A) < 1e-8);
    CHECK(g.stats.peak_stored_states <= 2);
  }
}

TEST_CASE("linear ODE: continuous adjoints converge to the exact gradient as tolerances tighten",
          "[models][gradients]") {
  const auto p = make_problem();
  const auto ref = reference(p);
  double previous = 1.0;
  for (double tol : {1e-4, 1e-7, 1e-10}) {
    const nde::pi_controller c{.rtol = tol, .atol = tol * 1e-2};
    const auto g = run(p, nde::backsolve_adjoint{.controller = c}, {.controller = c}, 1e3 * tol);
    const double e = relative_error(g.params, ref.A);
    CHECK(e < previous);
    previous = e;
  }
  CHECK(previous < 1e-7);
}
