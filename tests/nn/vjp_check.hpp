// Shared gradient check for the layer and network tests: vjp against central differences.
#pragma once

#include <nde/nn/initialisers.hpp>

#include <catch.hpp>

#include "nn_test_support.hpp"

#include <Eigen/Core>

#include <cmath>
#include <random>
#include <type_traits>

namespace nde_test {

/// Checks, for the scalar loss L = Σ dy ⊙ net(t, x):
///  - vjp's dx, dparams and dt against central differences of L,
///  - that dparams and dt are accumulated (added to what they held),
///  - that forward + backward equals vjp.
/// `Batch` false uses the single-vector workspace and VectorXd; true a batch of `columns`.
template <bool Batch, class Net>
void check_vjp(const Net& net, Eigen::Index columns, double t, std::mt19937_64& engine) {
  using matrix = std::conditional_t<Batch, Eigen::MatrixXd, Eigen::VectorXd>;
  const Eigen::Index n = Batch ? columns : 1;
  auto make_workspace = [&] {
    if constexpr (Batch) {
      return net.template make_workspace<double>(n);
    } else {
      return net.template make_workspace<double>();
    }
  };
  auto ws = make_workspace();
  // Random parameters with non-zero biases everywhere (initialisers zero some).
  Eigen::VectorXd theta = random_matrix(net.num_params(), 1, engine, 0.8);
  matrix x = random_matrix(net.in_size(), n, engine, 1.5);
  const matrix dy = random_matrix(net.out_size(), n, engine);
  double time = t;

  auto loss = [&] {
    matrix y;
    net.forward(theta, time, x, y, ws);
    return dy.cwiseProduct(y).sum();
  };

  const Eigen::VectorXd initial = random_matrix(net.num_params(), 1, engine);
  Eigen::VectorXd dtheta = initial;
  matrix dx;
  double dt = 0.25;
  net.vjp(theta, time, x, dy, dx, dtheta, dt, ws);

  const Eigen::VectorXd fd_theta = central_gradient(loss, theta);
  const Eigen::VectorXd fd_x = central_gradient(loss, x);
  const double h = 1e-6;
  time = t + h;
  const double plus = loss();
  time = t - h;
  const double minus = loss();
  time = t;
  const double fd_t = (plus - minus) / (2 * h);

  REQUIRE(dx.rows() == net.in_size());
  REQUIRE(dx.cols() == n);
  CHECK(relative_error(dtheta - initial, fd_theta) < 1e-7);
  CHECK(relative_error(dx.reshaped(), fd_x) < 1e-7);
  CHECK(std::abs(dt - 0.25 - fd_t) < 1e-7 * std::max(1.0, std::abs(fd_t)));

  // forward then backward reuses the workspace and gives the same cotangents as vjp.
  matrix y;
  net.forward(theta, time, x, y, ws);
  matrix dx_reused;
  Eigen::VectorXd dtheta_reused = Eigen::VectorXd::Zero(net.num_params());
  double dt_reused = 0;
  net.backward(theta, time, x, dy, dx_reused, dtheta_reused, dt_reused, ws);
  CHECK(relative_error(dx_reused, dx) < 1e-14);
  CHECK(relative_error(dtheta_reused, dtheta - initial) < 1e-13);
  CHECK(std::abs(dt_reused - (dt - 0.25)) < 1e-13 * std::max(1.0, std::abs(dt)));
}

/// Runs the check for a single vector and for batches of 1 and 3 columns.
template <class Net>
void check_vjp_all_modes(const Net& net, std::mt19937_64& engine, double t = 0.0) {
  SECTION("single vector") { check_vjp<false>(net, 1, t, engine); }
  SECTION("batch of 1") { check_vjp<true>(net, 1, t, engine); }
  SECTION("batch of 3") { check_vjp<true>(net, 3, t, engine); }
}

}  // namespace nde_test
