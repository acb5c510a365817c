/// \file
/// \brief `nde::partitioned_term`: a (q, p) system `dq/dt = a(t, q, p; θ)`,
/// `dp/dt = b(t, q, p; θ)` on one Eigen state `y = [q; p]` with block views (no tuples), as
/// Hamiltonian and second-order systems need. It is an ODE term (any Runge–Kutta method can
/// integrate it); symplectic and partitioned methods call `vf_q` and `vf_p` separately.
///
/// The shared (q, p) contract (what `solvers/splitting.hpp` and `solvers/rkn.hpp` integrate,
/// detected by `partitioned_field` / `partitioned_vjp_field`):
///
/// | member | meaning |
/// |---|---|
/// | `Eigen::Index half() const` | rows of q (and of p); the state has 2·half rows |
/// | `vf_q(t, y, θ, out)` | writes only `out.topRows(half) = a(t, q, p; θ)` |
/// | `vf_p(t, y, θ, out)` | writes only `out.bottomRows(half) = b(t, q, p; θ)` |
/// | `bool separable() const` | a depends on (t, p) only and b on (t, q) only |
/// | `bool second_order() const` | a(t, q, p) = p exactly (q'' = b(t, q)); implies separable |
/// | `vjp_q(t, y, θ, w, w_y, w_θ[, w_t])` | reads `w.topRows(half)`: `w_y = w_qᵀ ∂a/∂y` (overwritten), `w_θ += w_qᵀ ∂a/∂θ` |
/// | `vjp_p(t, y, θ, w, w_y, w_θ[, w_t])` | the same for b with `w.bottomRows(half)` |
///
/// The user's callables: `a(t, q, p, θ, dq)` and `b(t, q, p, θ, dp)` (block views in, a block
/// view out), each with `num_params()`. For gradients, each may have a member
/// `vjp(t, q, p, θ, w, w_q, w_p, w_θ)` that **accumulates** `w_q += wᵀ ∂a/∂q`,
/// `w_p += wᵀ ∂a/∂p`, `w_θ += wᵀ ∂a/∂θ` (w: the cotangent of the callable's value, half rows;
/// accumulating lets the term add both parts into one buffer with no scratch), and optionally
/// the same with a trailing `w_t` (`w_t += wᵀ ∂a/∂t`). When both have a vjp, the term has
/// `vjp_q`, `vjp_p` and the full `vjp` (so every gradient method works on it); when both declare
/// `static constexpr bool autonomous = true`, so does the term.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <concepts>
#include <string>
#include <utility>

namespace nde {

/// \brief How the two parts of a `partitioned_term` depend on (q, p).
enum class coupling {
  general,       ///< a and b may depend on both q and p (the honest default).
  separable,     ///< a = a(t, p), b = b(t, q): what explicit symplectic methods need.
  second_order,  ///< a = p exactly and b = b(t, q): q'' = b(t, q) (Runge–Kutta–Nyström).
};

/// \brief A term with the (q, p) blocks of the shared contract (see the file comment).
template <class F, class T, class State>
concept partitioned_field = state<State> &&
    requires(F& f, const F& cf, T t, const State& y, State& out,
             params_view<scalar_of_t<State>> theta) {
  { cf.half() } -> std::convertible_to<Eigen::Index>;
  { cf.separable() } -> std::convertible_to<bool>;
  f.vf_q(t, y, theta, out);
  f.vf_p(t, y, theta, out);
};

/// \brief A partitioned field with the block vector–Jacobian products `vjp_q` and `vjp_p`.
template <class F, class T, class State>
concept partitioned_vjp_field = partitioned_field<F, T, State> &&
    requires(F& f, T t, const State& y, const State& w, State& w_y,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> w_theta) {
  f.vjp_q(t, y, theta, w, w_y, w_theta);
  f.vjp_p(t, y, theta, w, w_y, w_theta);
};

/// \brief `vjp_q` / `vjp_p` that also accumulate the time cotangent.
template <class F, class T, class State>
concept partitioned_time_vjp_field = partitioned_vjp_field<F, T, State> &&
    requires(F& f, T t, const State& y, const State& w, State& w_y,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> w_theta,
             scalar_of_t<State>& w_t) {
  f.vjp_q(t, y, theta, w, w_y, w_theta, w_t);
  f.vjp_p(t, y, theta, w, w_y, w_theta, w_t);
};

namespace detail {

template <class State>
using const_rows_t = decltype(std::declval<const State&>().topRows(Eigen::Index{}));
template <class State>
using mutable_rows_t = decltype(std::declval<State&>().topRows(Eigen::Index{}));

/// A block callable with the accumulating vjp of the file comment.
template <class F, class T, class State, class Params, class ThetaBar>
concept block_vjp_callable = requires(F& f, T t, const_rows_t<State> q, const Params& theta,
                                      mutable_rows_t<State>& w_q, ThetaBar& w_theta) {
  f.vjp(t, q, q, theta, q, w_q, w_q, w_theta);
};

/// The same with the time cotangent.
template <class F, class T, class State, class Params, class ThetaBar, class S>
concept block_time_vjp_callable = requires(F& f, T t, const_rows_t<State> q, const Params& theta,
                                           mutable_rows_t<State>& w_q, ThetaBar& w_theta, S& w_t) {
  f.vjp(t, q, q, theta, q, w_q, w_q, w_theta, w_t);
};

}  // namespace detail

/// \brief `y = [q; p]`, q and p of `half` rows each; `vf` writes `[a(t, q, p); b(t, q, p)]`.
///
/// \tparam A callable `a(t, q, p, θ, dq)` (block views in, block view out), with `num_params()`.
/// \tparam B callable `b(t, q, p, θ, dp)`. Both read the same θ.
/// For a Hamiltonian H(q, p): a = ∂H/∂p, b = −∂H/∂q; a second-order system q'' = F(t, q, q'):
/// a = p, b = F. The `coupling` given at construction is a promise about the callables (it is
/// not checked); explicit symplectic methods refuse a term that is not `separable()`.
template <class A, class B>
class partitioned_term : public time_step_control {
 public:
  /// \brief An ODE term (control = dt).
  static constexpr bool is_ode = true;
  /// \brief Neither part depends on t (both callables declare `autonomous = true`).
  static constexpr bool autonomous = autonomous_field<A> && autonomous_field<B>;

  /// \brief The system with position/momentum blocks of `half` rows; `kind` says how a and b
  /// depend on (q, p) (default `coupling::general`: nothing is assumed).
  /// \throws nde::error (invalid_input) if `half` is negative.
  partitioned_term(A a, B b, Eigen::Index half, coupling kind = coupling::general)
      : m_a(std::move(a)), m_b(std::move(b)), m_half(half), m_coupling(kind) {
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
  /// \brief The coupling given at construction.
  [[nodiscard]] coupling kind() const noexcept { return m_coupling; }
  /// \brief a depends on (t, p) only and b on (t, q) only (as promised at construction).
  [[nodiscard]] bool separable() const noexcept { return m_coupling != coupling::general; }
  /// \brief a(t, q, p) = p exactly (a second-order system q'' = b(t, q)).
  [[nodiscard]] bool second_order() const noexcept { return m_coupling == coupling::second_order; }
  /// \brief The q part.
  [[nodiscard]] A& q_part() noexcept { return m_a; }
  /// \brief The p part.
  [[nodiscard]] B& p_part() noexcept { return m_b; }

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

  /// \brief `w_y = w_qᵀ ∂a/∂y` (overwritten, full height), `w_θ += w_qᵀ ∂a/∂θ`, with
  /// `w_q = w.topRows(half)`. Needs `A::vjp` (file comment). Cost: one vjp of a.
  template <class T, state State>
  requires detail::block_vjp_callable<A, T, State, params_view<scalar_of_t<State>>,
                                      params_ref<scalar_of_t<State>>>
  void vjp_q(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
             params_ref<scalar_of_t<State>> w_theta) {
    start_vjp(y, w, w_y);
    pull_a(t, y, theta, w, w_y, w_theta);
  }
  /// \brief `vjp_q` that also accumulates `w_t += w_qᵀ ∂a/∂t` (A has a time vjp).
  template <class T, state State>
  requires detail::block_time_vjp_callable<A, T, State, params_view<scalar_of_t<State>>,
                                           params_ref<scalar_of_t<State>>, scalar_of_t<State>>
  void vjp_q(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
             params_ref<scalar_of_t<State>> w_theta, scalar_of_t<State>& w_t) {
    start_vjp(y, w, w_y);
    pull_a(t, y, theta, w, w_y, w_theta, w_t);
  }
  /// \brief `w_y = w_pᵀ ∂b/∂y` (overwritten), `w_θ += w_pᵀ ∂b/∂θ`, `w_p = w.bottomRows(half)`.
  template <class T, state State>
  requires detail::block_vjp_callable<B, T, State, params_view<scalar_of_t<State>>,
                                      params_ref<scalar_of_t<State>>>
  void vjp_p(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
             params_ref<scalar_of_t<State>> w_theta) {
    start_vjp(y, w, w_y);
    pull_b(t, y, theta, w, w_y, w_theta);
  }
  /// \brief `vjp_p` with the time cotangent (B has a time vjp).
  template <class T, state State>
  requires detail::block_time_vjp_callable<B, T, State, params_view<scalar_of_t<State>>,
                                           params_ref<scalar_of_t<State>>, scalar_of_t<State>>
  void vjp_p(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
             params_ref<scalar_of_t<State>> w_theta, scalar_of_t<State>& w_t) {
    start_vjp(y, w, w_y);
    pull_b(t, y, theta, w, w_y, w_theta, w_t);
  }
  /// \brief The full vjp of `vf`: `w_y = wᵀ ∂[a; b]/∂y` (overwritten), `w_θ += wᵀ ∂[a; b]/∂θ`
  /// (both callables need a vjp): what Runge–Kutta methods and every gradient method use.
  template <class T, state State>
  requires detail::block_vjp_callable<A, T, State, params_view<scalar_of_t<State>>,
                                      params_ref<scalar_of_t<State>>> &&
      detail::block_vjp_callable<B, T, State, params_view<scalar_of_t<State>>,
                                 params_ref<scalar_of_t<State>>>
  void vjp(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
           params_ref<scalar_of_t<State>> w_theta) {
    start_vjp(y, w, w_y);
    pull_a(t, y, theta, w, w_y, w_theta);
    pull_b(t, y, theta, w, w_y, w_theta);
  }
  /// \brief The full vjp with the time cotangent `w_t += wᵀ ∂[a; b]/∂t`.
  template <class T, state State>
  requires detail::block_time_vjp_callable<A, T, State, params_view<scalar_of_t<State>>,
                                           params_ref<scalar_of_t<State>>, scalar_of_t<State>> &&
      detail::block_time_vjp_callable<B, T, State, params_view<scalar_of_t<State>>,
                                      params_ref<scalar_of_t<State>>, scalar_of_t<State>>
  void vjp(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
           params_ref<scalar_of_t<State>> w_theta, scalar_of_t<State>& w_t) {
    start_vjp(y, w, w_y);
    pull_a(t, y, theta, w, w_y, w_theta, w_t);
    pull_b(t, y, theta, w, w_y, w_theta, w_t);
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
  template <class State>
  void start_vjp(const State& y, const State& w, State& w_y) const {
    check(y);
    check(w);
    w_y.setZero(y.rows(), y.cols());
  }
  template <class T, class State, class... Time>
  void pull_a(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w,
              State& w_y, params_ref<scalar_of_t<State>>& w_theta, Time&... w_t) {
    auto w_q = w_y.topRows(m_half);
    auto w_p = w_y.bottomRows(m_half);
    m_a.vjp(t, y.topRows(m_half), y.bottomRows(m_half), theta, w.topRows(m_half), w_q, w_p, w_theta,
            w_t...);
  }
  template <class T, class State, class... Time>
  void pull_b(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& w,
              State& w_y, params_ref<scalar_of_t<State>>& w_theta, Time&... w_t) {
    auto w_q = w_y.topRows(m_half);
    auto w_p = w_y.bottomRows(m_half);
    m_b.vjp(t, y.topRows(m_half), y.bottomRows(m_half), theta, w.bottomRows(m_half), w_q, w_p,
            w_theta, w_t...);
  }

  A m_a;
  B m_b;
  Eigen::Index m_half;
  coupling m_coupling;
};

}  // namespace nde
