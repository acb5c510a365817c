/// \file
/// \brief Parametric vector fields `f(t, y; θ)` and their optional capabilities, detected as
/// concepts with `if constexpr`: a vector–Jacobian product (with or without the time
/// cotangent), a value-and-vjp fast path, per-stage caches, a Jacobian–vector product, a dense
/// Jacobian. A solver or gradient method asks only for the capability it needs.
///
/// A field is stateless with respect to its parameters: the caller owns the flat parameter
/// vector θ and passes a view of it into every call. The members:
///
/// | member | capability | meaning |
/// |---|---|---|
/// | `Eigen::Index num_params() const` | `parametric_field` | length of θ |
/// | `operator()(t, y, θ, dydt)` | `parametric_field` | dydt = f(t, y; θ), written in place |
/// | `vjp(t, y, θ, a, a_y, a_θ)` | `vjp_field` | `a_y = aᵀ ∂f/∂y` (overwritten), `a_θ += aᵀ ∂f/∂θ` (accumulated) |
/// | `vjp(t, y, θ, a, a_y, a_θ, a_t)` | `time_vjp_field` | the same, and `a_t += aᵀ ∂f/∂t` |
/// | `static constexpr bool autonomous = true` | `autonomous_field` | ∂f/∂t = 0 (time gradients need no time vjp) |
/// | `value_and_vjp(t, y, θ, a, dydt, a_y, a_θ)` | `value_and_vjp_field` | f and its vjp at one point, sharing work |
/// | `evaluate_for_vjp(slot, t, y, θ, dydt)`, `vjp_from(slot, t, y, θ, a, a_y, a_θ[, a_t])` | `stage_cached_field` | f keeping what its vjp needs in cache slot `slot` |
/// | `jvp(t, y, θ, y_dot, θ_dot, t_dot, out)` | `jvp_field` | `out = ∂f/∂y ẏ + ∂f/∂θ θ̇ + ∂f/∂t ṫ` |
/// | `jacobian(t, y, θ, J)` | `jacobian_field` | dense `J = ∂f/∂y` (n×n; implicit solvers) |
///
/// `θ` is a `params_view<S>` (`Eigen::Ref<const VectorX<S>>`), `a_θ` a `params_ref<S>`, S the
/// state scalar, so a field can be handed a segment of a bigger vector without a copy. A batch
/// state (a matrix whose columns are samples) is allowed: `a_θ` and `a_t` then accumulate the
/// sum over the columns. A field may keep mutable scratch space; give each thread its own copy.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <concepts>
#include <cstddef>

namespace nde {

/// \brief Read-only view of a flat parameter vector of scalar `S`.
template <class S>
using params_view = Eigen::Ref<const Eigen::Matrix<S, Eigen::Dynamic, 1>>;
/// \brief Writable view of a flat parameter (cotangent) vector of scalar `S`.
template <class S>
using params_ref = Eigen::Ref<Eigen::Matrix<S, Eigen::Dynamic, 1>>;
/// \brief The flat parameter vector type for states of type `State`.
template <state State>
using params_of_t = Eigen::Matrix<scalar_of_t<State>, Eigen::Dynamic, 1>;

/// \brief A vector field with parameters: `num_params()` and `f(t, y, θ, dydt)`.
template <class F, class T, class State>
concept parametric_field = state<State> &&
    requires(F& f, const F& cf, T t, const State& y, State& out,
             params_view<scalar_of_t<State>> theta) {
  { cf.num_params() } -> std::convertible_to<Eigen::Index>;
  f(t, y, theta, out);
};

/// \brief A parametric field with a vector–Jacobian product (see the file comment).
template <class F, class T, class State>
concept vjp_field = parametric_field<F, T, State> &&
    requires(F& f, T t, const State& y, const State& a, State& out,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta) {
  f.vjp(t, y, theta, a, out, a_theta);
};

/// \brief A vjp that also accumulates the time cotangent `a_t += aᵀ ∂f/∂t`.
template <class F, class T, class State>
concept time_vjp_field = vjp_field<F, T, State> &&
    requires(F& f, T t, const State& y, const State& a, State& out,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta,
             scalar_of_t<State>& a_t) {
  f.vjp(t, y, theta, a, out, a_theta, a_t);
};

/// \brief A field that declares `static constexpr bool autonomous = true`: f does not depend on t.
template <class F>
concept autonomous_field = requires {
  requires F::autonomous;
};

/// \brief Optional fast path: f and the vjp at one point sharing their common work (a
/// network's forward pass). The backsolve adjoint uses it when present.
template <class F, class T, class State>
concept value_and_vjp_field = state<State> &&
    requires(F& f, T t, const State& y, const State& a, State& out, State& out2,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta) {
  f.value_and_vjp(t, y, theta, a, out, out2, a_theta);
};

/// \brief Optional fast path: `evaluate_for_vjp(slot, …)` evaluates f and keeps what its vjp
/// needs in cache slot `slot`; `vjp_from(slot, …)` is the vjp at that same point reusing the
/// cache. The discrete adjoint uses one slot per Runge–Kutta stage.
template <class F, class T, class State>
concept stage_cached_field = state<State> &&
    requires(F& f, std::size_t slot, T t, const State& y, const State& a, State& out,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta) {
  f.evaluate_for_vjp(slot, t, y, theta, out);
  f.vjp_from(slot, t, y, theta, a, out, a_theta);
};

/// \brief `vjp_from` with the time cotangent.
template <class F, class T, class State>
concept time_stage_cached_field = stage_cached_field<F, T, State> &&
    requires(F& f, std::size_t slot, T t, const State& y, const State& a, State& out,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta,
             scalar_of_t<State>& a_t) {
  f.vjp_from(slot, t, y, theta, a, out, a_theta, a_t);
};

/// \brief A Jacobian–vector product in (y, θ, t): `out = ∂f/∂y ẏ + ∂f/∂θ θ̇ + ∂f/∂t ṫ`
/// (forward sensitivities use it).
template <class F, class T, class State>
concept jvp_field = parametric_field<F, T, State> &&
    requires(F& f, T t, const State& y, const State& y_dot, State& out,
             params_view<scalar_of_t<State>> theta, params_view<scalar_of_t<State>> theta_dot,
             scalar_of_t<State> t_dot) {
  f.jvp(t, y, theta, y_dot, theta_dot, t_dot, out);
};

/// \brief A dense Jacobian `J = ∂f/∂y` (column-vector states; implicit solvers use it).
template <class F, class T, class State>
concept jacobian_field = parametric_field<F, T, State> &&
    requires(F& f, T t, const State& y, params_view<scalar_of_t<State>> theta,
             Eigen::Matrix<scalar_of_t<State>, Eigen::Dynamic, Eigen::Dynamic>& jac) {
  f.jacobian(t, y, theta, jac);
};

/// \brief Time gradients are available: the field has a time vjp, or is autonomous.
template <class F, class T, class State>
concept time_differentiable_field = time_vjp_field<F, T, State> ||
    (vjp_field<F, T, State>&& autonomous_field<F>);

/// \brief The field knows the number of state rows it accepts (`state_rows()`), so a solve can
/// reject a y0 of the wrong height with a status naming y0 before the field is called.
template <class F>
concept sized_field = requires(const F& f) {
  { f.state_rows() } -> std::convertible_to<Eigen::Index>;
};

namespace detail {

/// Throws `nde::error` (invalid_input) when a vector field wrote `out` with a shape other than
/// the state's: a size change would otherwise mix sizes in the next stage (an Eigen assertion
/// in debug builds, undefined behaviour under NDEBUG). Two integer compares; nothing for
/// fixed-size states.
/// `what` names the output ("a derivative", "a vjp", "a jvp").
template <class T, state State, class Out>
void check_derivative_shape(T t, const State& y, const Out& out,
                            const char* what = "a derivative") {
  if constexpr (State::SizeAtCompileTime == Eigen::Dynamic) {
    if (out.rows() != y.rows() || out.cols() != y.cols()) [[unlikely]]
      throw error(status::invalid_input,
                  concatenate("the vector field wrote ", what, " of size ", out.rows(), "x",
                              out.cols(), " at t = ", t, " for a state of size ", y.rows(), "x",
                              y.cols(), " (it must keep the state's shape)"));
  }
}

/// vjp with the time cotangent when the field has one; autonomous fields add nothing to a_t.
template <class F, class T, class State>
void vjp_with_time(F& f, T t, const State& y, params_view<scalar_of_t<State>> theta, const State& a,
                   State& a_y, params_ref<scalar_of_t<State>> a_theta, scalar_of_t<State>& a_t) {
  if constexpr (time_vjp_field<F, T, State>) {
    f.vjp(t, y, theta, a, a_y, a_theta, a_t);
  } else {
    f.vjp(t, y, theta, a, a_y, a_theta);
  }
}

}  // namespace detail

/// \brief The control of an ODE-like term: the step `t1 - t0`, combined with a vector-field
/// value as `dt · v`. `ode_term` and `partitioned_term` inherit it.
struct time_step_control {
  /// \brief The control over [t0, t1]: the step t1 - t0.
  template <class T>
  [[nodiscard]] constexpr T contr(T t0, T t1) const noexcept {
    return t1 - t0;
  }
  /// \brief out = dt · v.
  template <class State, class T>
  void prod(const State& v, T dt, State& out) const {
    out = static_cast<scalar_of_t<State>>(dt) * v;
  }
};

/// \brief A field without parameters made from a plain callable `f(t, y, dydt)` or
/// `f(t, y) -> State` (what `nde::solve(f, …)` wraps a user lambda in). `num_params() == 0`.
template <class F>
struct plain_field {
  F function;  ///< The wrapped callable.
  /// \brief 0.
  [[nodiscard]] static constexpr Eigen::Index num_params() noexcept { return 0; }
  /// \brief dydt = function(t, y) (θ is empty and ignored).
  template <class T, class State, class Params>
  void operator()(T t, const State& y, const Params&, State& dydt) {
    detail::evaluate(function, t, y, dydt);
  }
};

}  // namespace nde
