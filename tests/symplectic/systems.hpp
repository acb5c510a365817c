// Test systems for the symplectic solvers: (q, p) callables with accumulating vjps
// (nde/terms/partitioned_term.hpp), energies, and helpers.
#pragma once

#include <nde/nde.hpp>
#include <nde/solvers/forest_ruth.hpp>
#include <nde/solvers/leapfrog.hpp>
#include <nde/solvers/rkn4.hpp>
#include <nde/solvers/symplectic_euler.hpp>
#include <nde/terms/partitioned_term.hpp>

#include <Eigen/Core>

#include <cmath>

namespace symplectic_test {

using vec2 = Eigen::Vector2d;
using vec4 = Eigen::Matrix<double, 4, 1>;
using vecx = Eigen::VectorXd;
using matx = Eigen::MatrixXd;

// θ = (θ0, θ1, θ2). a = θ0 p (kinetic energy θ0 |p|²/2).
struct scaled_velocity {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q&, const P& p, const Th& th, D& dq) const {
    dq = th[0] * p;
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T, const Q&, const P& p, const Th& th, const W& w, WQ&, WP& w_p, WTh& w_th) const {
    w_p += th[0] * w;
    w_th[0] += w.cwiseProduct(p).sum();
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh, class S>
  void vjp(T t, const Q& q, const P& p, const Th& th, const W& w, WQ& w_q, WP& w_p, WTh& w_th,
           S&) const {
    vjp(t, q, p, th, w, w_q, w_p, w_th);  // ∂a/∂t = 0
  }
};

// b = −θ1 sin q + θ2 cos t (a forced pendulum; θ2 = 0: autonomous).
struct pendulum_force {
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T t, const Q& q, const P&, const Th& th, D& dp) const {
    dp = -th[1] * q.array().sin().matrix();
    dp.array() += th[2] * std::cos(static_cast<double>(t));
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T t, const Q& q, const P&, const Th& th, const W& w, WQ& w_q, WP&, WTh& w_th) const {
    w_q.array() -= th[1] * q.array().cos() * w.array();
    w_th[1] -= (w.array() * q.array().sin()).sum();
    w_th[2] += w.sum() * std::cos(static_cast<double>(t));
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh, class S>
  void vjp(T t, const Q& q, const P& p, const Th& th, const W& w, WQ& w_q, WP& w_p, WTh& w_th,
           S& w_t) const {
    vjp(t, q, p, th, w, w_q, w_p, w_th);
    w_t -= th[2] * std::sin(static_cast<double>(t)) * w.sum();
  }
};

// b = −θ1 q + θ2 cos t (harmonic oscillator when θ2 = 0).
struct linear_force {
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T t, const Q& q, const P&, const Th& th, D& dp) const {
    dp = -th[1] * q;
    dp.array() += th[2] * std::cos(static_cast<double>(t));
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T t, const Q& q, const P&, const Th& th, const W& w, WQ& w_q, WP&, WTh& w_th) const {
    w_q -= th[1] * w;
    w_th[1] -= w.cwiseProduct(q).sum();
    w_th[2] += w.sum() * std::cos(static_cast<double>(t));
  }
};

// Kepler: b = −θ1 q / |q|³ (q in the plane, half = 2; one state column).
struct kepler_force {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  template <class T, class Q, class P, class Th, class D>
  void operator()(T, const Q& q, const P&, const Th& th, D& dp) const {
    const double r = q.norm();
    dp = (-th[1] / (r * r * r)) * q;
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh>
  void vjp(T, const Q& q, const P&, const Th& th, const W& w, WQ& w_q, WP&, WTh& w_th) const {
    const double r = q.norm();
    const double r3 = r * r * r;
    const double qw = q.cwiseProduct(w).sum();
    w_q += (-th[1] / r3) * w + (3 * th[1] * qw / (r3 * r * r)) * q;
    w_th[1] -= qw / r3;
  }
  template <class T, class Q, class P, class Th, class W, class WQ, class WP, class WTh, class S>
  void vjp(T t, const Q& q, const P& p, const Th& th, const W& w, WQ& w_q, WP& w_p, WTh& w_th,
           S&) const {
    vjp(t, q, p, th, w, w_q, w_p, w_th);
  }
};

template <class Force>
using term_of = nde::partitioned_term<scaled_velocity, Force>;

template <class Force>
term_of<Force> make_term(Eigen::Index half, nde::coupling kind = nde::coupling::separable) {
  return term_of<Force>(scaled_velocity{}, Force{}, half, kind);
}

// Built element by element: GCC 12 at -O1 reports a false -Wmaybe-uninitialized for the comma
// initializer's temporary here once enough of nde.hpp is inlined.
inline vecx unit_params() {
  vecx theta = vecx::Zero(3);
  theta[0] = 1.0;
  theta[1] = 1.0;
  return theta;
}

// H = θ0 |p|²/2 + V(q).
inline double harmonic_energy(const vec2& y) { return 0.5 * (y[0] * y[0] + y[1] * y[1]); }
inline double kepler_energy(const vec4& y) {
  return 0.5 * y.tail<2>().squaredNorm() - 1.0 / y.head<2>().norm();
}
// Kepler initial state of eccentricity e (semi-major axis 1, period 2π), at perihelion.
inline vec4 kepler_start(double e) {
  return (vec4() << 1 - e, 0.0, 0.0, std::sqrt((1 + e) / (1 - e))).finished();
}

// Canonical J for a state of 2·half rows.
inline matx canonical_j(Eigen::Index half) {
  matx j = matx::Zero(2 * half, 2 * half);
  j.topRightCorner(half, half).setIdentity();
  j.bottomLeftCorner(half, half) = -matx::Identity(half, half);
  return j;
}

}  // namespace symplectic_test
