/// \file
/// \brief Terms driven by a control path: `control_term` (`dy = g(t, y; θ) dX(t)`, X a
/// Brownian motion or an interpolated data path) and `multi_term` (a sum of terms, e.g.
/// drift + diffusion `dy = f dt + g dW`).
///
/// These are the terms of controlled and stochastic differential equations (Kidger et al.
/// 2020, "Neural controlled differential equations for irregular time series", eq. 4; Li et
/// al. 2020, "Scalable gradients for stochastic differential equations"). The solvers that
/// integrate them (SDE and CDE methods) build on the same contract; explicit Runge–Kutta
/// methods integrate `ode_like_term`s.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <utility>

namespace nde {

/// \brief `dy = g(t, y; θ) dX`: `vf` is the n×d matrix g, `contr(t0, t1)` the path increment
/// X(t1) − X(t0) (a d-vector), `prod(g, dX) = g · dX`.
///
/// \tparam G callable `g(t, y, θ, out)` writing an n×d matrix, with `num_params()`.
/// \tparam Path `increment(t0, t1)` returning the d-vector X(t1) − X(t0).
template <class G, class Path>
class control_term {
 public:
  /// \brief Not an ODE term: its control is a path increment, not dt.
  static constexpr bool is_ode = false;

  /// \brief `dy = g dX` with the path `path`.
  control_term(G g, Path path) : m_g(std::move(g)), m_path(std::move(path)) {}

  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const { return m_g.num_params(); }
  /// \brief The path.
  [[nodiscard]] const Path& path() const noexcept { return m_path; }

  /// \brief out = g(t, y; θ), an n×d matrix.
  template <class T, class State, class Params, class Matrix>
  void vf(T t, const State& y, const Params& theta, Matrix& out) {
    m_g(t, y, theta, out);
  }
  /// \brief X(t1) − X(t0).
  template <class T>
  [[nodiscard]] auto contr(T t0, T t1) const {
    return m_path.increment(t0, t1);
  }
  /// \brief out = g · dX.
  template <class Matrix, class Control, class State>
  void prod(const Matrix& g, const Control& dx, State& out) const {
    out.noalias() = g * dx;
  }

 private:
  G m_g;
  Path m_path;
};

/// \brief A sum of two terms over one state: `vf` gives both vector-field values, `contr` both
/// controls, `prod` the sum of both products (e.g. `multi_term(ode_term(f), control_term(g, W))`
/// for the SDE `dy = f dt + g dW`).
template <class A, class B>
class multi_term {
 public:
  /// \brief Not a plain ODE term.
  static constexpr bool is_ode = false;

  /// \brief The sum of `a` and `b`; both read the same θ.
  multi_term(A a, B b) : m_a(std::move(a)), m_b(std::move(b)) {}

  /// \brief The first term.
  [[nodiscard]] A& first() noexcept { return m_a; }
  /// \brief The second term.
  [[nodiscard]] B& second() noexcept { return m_b; }
  /// \brief Length of θ (shared by both terms; the larger of the two).
  [[nodiscard]] Eigen::Index num_params() const {
    return std::max(m_a.num_params(), m_b.num_params());
  }

  /// \brief Both vector-field values, `out.first` and `out.second`.
  template <class T, class State, class Params, class VA, class VB>
  void vf(T t, const State& y, const Params& theta, std::pair<VA, VB>& out) {
    m_a.vf(t, y, theta, out.first);
    m_b.vf(t, y, theta, out.second);
  }
  /// \brief Both controls.
  template <class T>
  [[nodiscard]] auto contr(T t0, T t1) const {
    return std::make_pair(m_a.contr(t0, t1), m_b.contr(t0, t1));
  }
  /// \brief out = prod_a(v.first, c.first) + prod_b(v.second, c.second).
  template <class VA, class VB, class CA, class CB, class State>
  void prod(const std::pair<VA, VB>& v, const std::pair<CA, CB>& c, State& out) const {
    m_a.prod(v.first, c.first, out);
    State second = out;
    m_b.prod(v.second, c.second, second);
    out += second;
  }

 private:
  A m_a;
  B m_b;
};

/// \brief The path X(t) = t·v (a straight line): its increment is (t1 − t0)·v. With it a
/// `control_term` is the ODE `dy = g(t, y) v dt` (tests; constant-rate controls).
template <class Vector>
struct linear_path {
  Vector velocity;  ///< dX/dt.
  /// \brief (t1 − t0)·velocity.
  template <class T>
  [[nodiscard]] Vector increment(T t0, T t1) const {
    return static_cast<typename Vector::Scalar>(t1 - t0) * velocity;
  }
};

}  // namespace nde
