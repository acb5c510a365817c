/// \file
/// \brief `nde::partitioned_term`: a (q, p) system `dq/dt = a(t, q, p; θ)`,
/// `dp/dt = b(t, q, p; θ)` on one Eigen state `y = [q; p]` with block views (no tuples), as
/// Hamiltonian and second-order systems need. It is an ODE term (any Runge–Kutta method can
/// integrate it); symplectic and partitioned methods call `vf_q` and `vf_p` separately.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <string>
#include <utility>

namespace nde {

/// \brief `y = [q; p]`, q and p of `half` rows each; `vf` writes `[a(t, q, p); b(t, q, p)]`.
///
/// \tparam A callable `a(t, q, p, θ, dq)` (block views in, block view out), with `num_params()`.
/// \tparam B callable `b(t, q, p, θ, dp)`. Both read the same θ.
/// For a Hamiltonian H(q, p): a = ∂H/∂p, b = −∂H/∂q; a second-order system q'' = F(t, q, q'):
/// a = p, b = F.
template <class A, class B>
class partitioned_term : public time_step_control {
 public:
  /// \brief An ODE term (control = dt).
  static constexpr bool is_ode = true;

  /// \brief The system with position/momentum blocks of `half` rows.
  partitioned_term(A a, B b, Eigen::Index half)
      : m_a(std::move(a)), m_b(std::move(b)), m_half(half) {
    if (half < 0) throw error(status::invalid_input, "partitioned_term: negative block size");
  }

  /// \brief Rows of q (and of p).
  [[nodiscard]] Eigen::Index half() const noexcept { return m_half; }
  /// \brief Rows of the state [q; p]: 2 × half.
  [[nodiscard]] Eigen::Index state_rows() const noexcept { return 2 * m_half; }
  /// \brief Length of θ (shared; the larger of the two parts').
  [[nodiscard]] Eigen::Index num_params() const {
    return std::max(m_a.num_params(), m_b.num_params());
  }

  /// \brief dq/dt into the top block of `out`.
  template <class T, class State, class Params>
  void vf_q(T t, const State& y, const Params& theta, State& out) {
    check(y);
    auto dq = out.topRows(m_half);
    m_a(t, y.topRows(m_half), y.bottomRows(m_half), theta, dq);
  }
  /// \brief dp/dt into the bottom block of `out`.
  template <class T, class State, class Params>
  void vf_p(T t, const State& y, const Params& theta, State& out) {
    check(y);
    auto dp = out.bottomRows(m_half);
    m_b(t, y.topRows(m_half), y.bottomRows(m_half), theta, dp);
  }
  /// \brief out = [a; b].
  template <class T, class State, class Params>
  void vf(T t, const State& y, const Params& theta, State& out) {
    out.resize(y.rows(), y.cols());
    vf_q(t, y, theta, out);
    vf_p(t, y, theta, out);
  }
  /// \brief Same as `vf` (a parametric field).
  template <class T, class State, class Params>
  void operator()(T t, const State& y, const Params& theta, State& out) {
    vf(t, y, theta, out);
  }
  using time_step_control::contr;
  using time_step_control::prod;

 private:
  template <class State>
  void check(const State& y) const {
    if (y.rows() != 2 * m_half)
      throw error(status::invalid_input, "partitioned_term: the state has " +
                                             std::to_string(y.rows()) + " rows, expected 2 × " +
                                             std::to_string(m_half));
  }

  A m_a;
  B m_b;
  Eigen::Index m_half;
};

}  // namespace nde
