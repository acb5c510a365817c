// The benchmark workloads W1–W4 (defined in benchmarks/README.md), shared by every benchmark
// binary so that nde and its peers solve exactly the same problems.
#pragma once

#include <nde/nde.hpp>
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/nn/sequential.hpp>

#include "spiral_network.hpp"

#include <Eigen/Core>
#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <numbers>
#include <random>
#include <stdexcept>
#include <vector>

namespace bench {

/// CPU time of the calling thread, in seconds. The machine is shared, so wall time includes
/// preemption; the benchmark rows themselves report CPU time too.
inline double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// NDE_BENCH_SMOKE=1 shrinks every workload (CI smoke runs).
inline bool smoke() {
  const char* v = std::getenv("NDE_BENCH_SMOKE");
  return v && *v && *v != '0';
}

// ---- the spiral field (W1–W3) ---------------------------------------------------------
using examples::cube;
using examples::cube_derivative;
using examples::make_spiral_network;
using examples::spiral_network;

/// The true spiral's matrix: dy/dt = Aᵀ y³ (torchdiffeq's ode_demo.py writes y³ A for a row y).
inline Eigen::Matrix2d spiral_matrix() {
  Eigen::Matrix2d a;
  a << -0.1, 2.0, -2.0, -0.1;
  return a;
}

/// Seeded weights that make the 2-50-2 network a spiral, like a trained one:
/// W1 ~ N(0, 0.05²) (mt19937_64, seed 0), b1 = 0, W2 = Aᵀ (W1ᵀW1)⁻¹ W1ᵀ, b2 = 0, so that in
/// tanh's linear range W2 tanh(W1 y³) ≈ Aᵀ y³ (the true field); tanh bends it further out.
inline Eigen::VectorXd spiral_params(const spiral_network& net) {
  const auto layout = net.layout();
  if (layout.size() != 4) throw std::logic_error("spiral_params: unexpected layout");
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(net.num_params());
  std::mt19937_64 engine(0);
  Eigen::Matrix<double, 50, 2> w1;
  for (Eigen::Index i = 0; i < w1.size(); ++i)
    w1.data()[i] = 0.05 * nde::nn::standard_normal(engine);
  const Eigen::Matrix<double, 2, 50> w2 =
      spiral_matrix().transpose() * (w1.transpose() * w1).inverse() * w1.transpose();
  theta.segment(layout[0].offset, 100) = Eigen::Map<const Eigen::VectorXd>(w1.data(), 100);
  theta.segment(layout[2].offset, 100) = Eigen::Map<const Eigen::VectorXd>(w2.data(), 100);
  return theta;
}

inline std::vector<double> linspace(double a, double b, int n) {
  std::vector<double> t(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<std::size_t>(i)] = a + (b - a) * i / (n - 1);
  return t;
}

constexpr double w1_rtol = 1e-7;
constexpr double w1_atol = 1e-9;
inline double w1_t1() { return smoke() ? 1.0 : 25.0; }
inline int w1_saves() { return smoke() ? 10 : 1000; }

/// W1's batch-20 initial states: (2, 0) rotated by 2πj/20.
inline Eigen::Matrix<double, 2, Eigen::Dynamic> spiral_batch_y0(int columns) {
  Eigen::Matrix<double, 2, Eigen::Dynamic> y0(2, columns);
  for (int j = 0; j < columns; ++j) {
    const double phi = 2 * std::numbers::pi * j / columns;
    y0.col(j) << 2 * std::cos(phi), 2 * std::sin(phi);
  }
  return y0;
}

/// The spiral field bound to its parameters, `f(t, y, dydt)`, for plain solves.
template <class State>
struct spiral_rhs {
  nde::network_field<spiral_network, State> field{make_spiral_network(), 20};
  Eigen::VectorXd theta = spiral_params(field.network());
  void operator()(double t, const State& y, State& dydt) {
    field(t, y, nde::params_view<double>(theta), dydt);
  }
};

/// W1's reference: the same field and save times at rtol 1e-13, atol 1e-15.
inline const std::vector<Eigen::Vector2d>& w1_reference() {
  static const std::vector<Eigen::Vector2d> ys = [] {
    spiral_rhs<Eigen::Vector2d> f;
    return nde::solve_or_throw(f, nde::dopri5{}, 0.0, w1_t1(), Eigen::Vector2d(2, 0),
                               {.save_at = nde::save_at::times(linspace(0, w1_t1(), w1_saves())),
                                .controller = nde::pid_controller{.rtol = 1e-13, .atol = 1e-15},
                                .max_steps = 10000000})
        .ys;
  }();
  return ys;
}
/// Largest |y_i - reference_i| over every save time and component.
template <class Ys>
double w1_error(const Ys& ys) {
  const auto& ref = w1_reference();
  double e = 0;
  for (std::size_t i = 0; i < ref.size(); ++i)
    e = std::max(e, (ys[i] - ref[i]).cwiseAbs().maxCoeff());
  return e;
}

/// The true spiral (W2's data): 1000 samples on [0, 25] from (2, 0), dopri5 at rtol 1e-10.
struct spiral_data {
  std::vector<double> t;
  std::vector<Eigen::Vector2d> y;
};
inline spiral_data make_spiral_data() {
  spiral_data d;
  d.t = linspace(0, 25, 1000);
  const Eigen::Matrix2d at = spiral_matrix().transpose();
  auto f = [&](double, const Eigen::Vector2d& y, Eigen::Vector2d& dydt) {
    dydt = at * y.array().cube().matrix();
  };
  d.y = nde::solve_or_throw(f, nde::dopri5{}, 0.0, 25.0, Eigen::Vector2d(2, 0),
                            {.save_at = nde::save_at::times(d.t),
                             .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}})
            .ys;
  return d;
}

// ---- the wide field (W4) --------------------------------------------------------------
using wide_network = nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic,
                                  Eigen::Dynamic, Eigen::Dynamic>;
inline wide_network make_wide_network() { return wide_network({32, 256, 256, 32}); }
inline Eigen::Index wide_batch() { return smoke() ? 4 : 128; }
constexpr double w4_rtol = 1e-6;
constexpr double w4_atol = 1e-8;

/// PyTorch's default initialisation, mt19937_64 seed 1.
inline Eigen::VectorXd wide_params(const wide_network& net) {
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(1);
  nde::nn::init_pytorch_default(net.layout(), theta, engine);
  return theta;
}
/// y0 ~ U(-1, 1)^{32×B}, mt19937_64 seed 2.
inline Eigen::MatrixXd wide_y0() {
  std::mt19937_64 engine(2);
  Eigen::MatrixXd y0(32, wide_batch());
  for (Eigen::Index i = 0; i < y0.size(); ++i) y0.data()[i] = nde::nn::uniform(engine, -1, 1);
  return y0;
}

}  // namespace bench
