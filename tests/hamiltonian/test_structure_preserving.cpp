// HNNs and second-order models under the structure-preserving solvers: a separable HNN and a
// separable second-order model with leapfrog / Forest–Ruth (bounded energy error where
// explicit Euler drifts; exact discrete adjoints through vjp_q / vjp_p against central
// differences), a general HNN with the implicit midpoint rule, and the refusal of a
// non-separable term by the explicit symplectic methods.
#include <nde/models/hamiltonian.hpp>
#include <nde/models/second_order.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/solvers/euler.hpp>
#include <nde/solvers/forest_ruth.hpp>
#include <nde/solvers/implicit_midpoint.hpp>
#include <nde/solvers/leapfrog.hpp>
#include <nde/step_size/constant_step.hpp>

#include <catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

constexpr int D = Eigen::Dynamic;
using vec = Eigen::VectorXd;
using net = nde::nn::mlp<nde::nn::softplus_activation, D, D, D>;
using separable_hnn = nde::separable_hamiltonian_field<net, net, vec>;
using general_hnn = nde::hamiltonian_field<net, vec>;

vec random_vector(Eigen::Index n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> normal(0.0, scale);
  vec v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

std::vector<double> grid(double t_end, int points) {
  std::vector<double> ts;
  for (int i = 1; i <= points; ++i) ts.push_back(t_end * i / points);
  return ts;
}

// Largest |H_θ(y(t)) − H_θ(y0)| over the outputs in [from, to).
template <class Field, class Sol>
double energy_error(Field& f, const Sol& sol, const vec& y0, const vec& theta, double from,
                    double to) {
  const double h0 = f.energy(y0, theta)(0);
  double worst = 0;
  for (std::size_t i = 0; i < sol.ts.size(); ++i)
    if (sol.ts[i] >= from && sol.ts[i] < to)
      worst = std::max(worst, std::abs(f.energy(sol.ys[i], theta)(0) - h0));
  return worst;
}

// Central differences of L = Σ_i ½|y(t_i)|² against the discrete adjoint, along random θ
// directions and along y0's coordinates.
template <class Term, class Method>
void check_gradient(Term& term, Method method, const vec& theta, const vec& y0, double dt,
                    std::mt19937_64& rng) {
  const std::vector<double> ts{0.5, 1.0, 2.0};
  const nde::solve_options options{.save_at = nde::save_at::times(ts),
                                   .controller = nde::constant_step{dt},
                                   .adjoint = nde::discrete_adjoint{}};
  auto sol = nde::solve(term, method, 0.0, 2.0, y0, nde::params_view<double>(theta), options);
  REQUIRE(sol.success());
  const std::vector<vec> cot(sol.ys.begin(), sol.ys.end());
  const auto g = sol.backward(cot);
  REQUIRE(g.status == nde::status::success);
  auto loss = [&](const vec& th, const vec& y) {
    nde::solve_options plain = options;
    plain.adjoint = nde::inference{};
    const auto s = nde::solve(term, method, 0.0, 2.0, y, nde::params_view<double>(th), plain);
    REQUIRE(s.success());
    double l = 0;
    for (const auto& yi : s.ys) l += 0.5 * yi.squaredNorm();
    return l;
  };
  const double e = 1e-6;
  for (int trial = 0; trial < 2; ++trial) {
    const vec dir = random_vector(theta.size(), rng);
    const double fd = (loss(theta + e * dir, y0) - loss(theta - e * dir, y0)) / (2 * e);
    CHECK(std::abs(g.params.dot(dir) - fd) <= 1e-6 * (1 + std::abs(fd)));
  }
  for (Eigen::Index k = 0; k < y0.size(); ++k) {
    const vec ek = vec::Unit(y0.size(), k);
    const double fd = (loss(theta, y0 + e * ek) - loss(theta, y0 - e * ek)) / (2 * e);
    CHECK(std::abs(g.y0[k] - fd) <= 1e-6 * (1 + std::abs(fd)));
  }
}

}  // namespace

TEST_CASE("separable HNN with leapfrog: bounded energy error where explicit Euler drifts",
          "[hamiltonian][symplectic]") {
  std::mt19937_64 rng(41);
  separable_hnn f(net({1, 8, 1}), net({1, 8, 1}));
  // T(p) and V(q) convex and growing both ways, so orbits are closed: hidden weights of both
  // signs, positive output weights (each net: W1 (8), b1 (8), W2 (8), b2).
  vec theta = random_vector(f.num_params(), rng, 0.7);
  for (Eigen::Index offset : {Eigen::Index{0}, f.num_params() / 2}) {
    for (Eigen::Index k = 0; k < 8; ++k) {
      theta[offset + k] = (k % 2 ? -1.0 : 1.0) * (0.5 + std::abs(theta[offset + k]));
      theta[offset + 16 + k] = std::abs(theta[offset + 16 + k]);
    }
  }
  const vec y0 = (vec(2) << 0.6, 0.4).finished();
  const auto ts = grid(200.0, 2000);
  const nde::solve_options options{.save_at = nde::save_at::times(ts),
                                   .controller = nde::constant_step{0.05}};
  const auto lf =
      nde::solve(f, nde::leapfrog{}, 0.0, 200.0, y0, nde::params_view<double>(theta), options);
  const auto eu =
      nde::solve(f, nde::euler{}, 0.0, 200.0, y0, nde::params_view<double>(theta), options);
  REQUIRE(lf.success());
  REQUIRE(eu.success());
  const double lf_early = energy_error(f, lf, y0, theta, 0.0, 20.0);
  const double lf_late = energy_error(f, lf, y0, theta, 100.0, 200.1);
  const double eu_early = energy_error(f, eu, y0, theta, 0.0, 20.0);
  const double eu_late = energy_error(f, eu, y0, theta, 100.0, 200.1);
  INFO("leapfrog " << lf_early << " -> " << lf_late << "; euler " << eu_early << " -> " << eu_late);
  CHECK(lf_early > 0.0);                     // not trivially constant
  CHECK(lf_late <= 2.0 * lf_early + 1e-12);  // no drift
  CHECK(eu_late >= 3.0 * eu_early);          // the non-symplectic method drifts
  CHECK(lf_late * 10 <= eu_late);
}

TEST_CASE("separable HNN and F(q) second-order model: exact leapfrog / Forest-Ruth adjoints",
          "[hamiltonian][symplectic][gradients]") {
  std::mt19937_64 rng(43);
  separable_hnn f(net({2, 6, 1}), net({2, 6, 1}));
  const vec theta = random_vector(f.num_params(), rng, 0.6);
  const vec y0 = random_vector(4, rng, 0.5);
  check_gradient(f, nde::leapfrog{}, theta, y0, 0.1, rng);
  check_gradient(f, nde::forest_ruth{}, theta, y0, 0.1, rng);

  nde::second_order_field<net, vec> so(net({2, 8, 2}));  // q'' = F(q), q in R²
  REQUIRE(so.separable());
  const vec theta_so = random_vector(so.num_params(), rng, 0.6);
  check_gradient(so, nde::leapfrog{}, theta_so, y0, 0.1, rng);
}

TEST_CASE("general HNN: implicit midpoint keeps H_theta bounded; leapfrog refuses it",
          "[hamiltonian][symplectic]") {
  std::mt19937_64 rng(47);
  general_hnn f(net({2, 10, 1}));
  const vec theta = random_vector(f.num_params(), rng, 0.7);
  const vec y0 = (vec(2) << 0.5, -0.3).finished();
  const auto ts = grid(100.0, 1000);
  const nde::solve_options options{.save_at = nde::save_at::times(ts),
                                   .controller = nde::constant_step{0.05}};
  const auto im = nde::solve(f, nde::implicit_midpoint{}, 0.0, 100.0, y0,
                             nde::params_view<double>(theta), options);
  REQUIRE(im.success());
  const double early = energy_error(f, im, y0, theta, 0.0, 10.0);
  const double late = energy_error(f, im, y0, theta, 50.0, 100.1);
  INFO("implicit midpoint " << early << " -> " << late);
  CHECK(late <= 2.0 * early + 1e-10);
  check_gradient(f, nde::implicit_midpoint{}, theta, y0, 0.1, rng);

  bool refused = false;
  try {
    const auto sol = nde::solve(f, nde::leapfrog{}, 0.0, 1.0, y0, nde::params_view<double>(theta),
                                {.controller = nde::constant_step{0.1}});
    refused = !sol.success() && sol.message.find("separable") != std::string::npos;
  } catch (const nde::error& e) {
    refused = std::string(e.what()).find("separable") != std::string::npos;
  }
  CHECK(refused);
}
