/// \file
/// \brief `nde::ode_term`: the term of an ordinary differential equation `dy = f(t, y; θ) dt`,
/// and the term concepts every solver is written against.
///
/// A **term** is what a solver integrates (Kidger 2021, "On neural differential equations",
/// Sec. 5.1; Diffrax's `AbstractTerm`). It gives
///
/// | member | meaning |
/// |---|---|
/// | `vf(t, y, θ, out)` | the vector field at (t, y); for an ODE `out = f(t, y; θ)` |
/// | `contr(t0, t1)` | the control increment over [t0, t1]; for an ODE the step `t1 - t0` |
/// | `prod(v, control, out)` | `out = v · control`: how a vector-field value and a control combine into a change of y |
/// | `num_params()` | length of θ |
///
/// so one concept covers `dy = f dt`, `dy = g dX` (a controlled or stochastic equation,
/// `control_term`) and their sum (`multi_term`). Capabilities of the underlying field (vjp,
/// jvp, Jacobian, stage caches) are forwarded when the field has them; solvers and gradient
/// methods detect them with the concepts of `terms/field.hpp`.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <concepts>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace nde {

/// \brief What every term has (see the file comment). `VF` is the type of a vector-field value
/// (the state type for an ODE, a matrix for a control term).
template <class Term, class T, class State, class VF>
concept term = state<State> && requires(Term& term, const Term& cterm, T t, const State& y, VF& v,
                                        State& out, params_view<scalar_of_t<State>> theta) {
  { cterm.num_params() } -> std::convertible_to<Eigen::Index>;
  term.vf(t, y, theta, v);
  cterm.prod(static_cast<const VF&>(v), cterm.contr(t, t), out);
};

/// \brief A term whose control is the time step and whose vector field has the state's shape
/// (an ODE term): what explicit Runge–Kutta methods integrate.
template <class Term, class T, class State>
concept ode_like_term = term<Term, T, State, State> && requires {
  requires std::remove_cvref_t<Term>::is_ode;
};

/// \brief `dy = f(t, y; θ) dt` over a parametric field `Field` (see `terms/field.hpp`).
///
/// Forwards every capability `Field` has (vjp with or without time, value-and-vjp, stage
/// caches, jvp, dense Jacobian), so `ode_term` itself satisfies the same capability concepts.
/// \tparam Field a `parametric_field` (a network adapter, known physics, a sum of both).
template <class Field>
class ode_term : public time_step_control {
 public:
  /// \brief Marks an ODE term (control = dt, vector field shaped like the state).
  static constexpr bool is_ode = true;
  /// \brief f does not depend on t (from `Field::autonomous`, false when absent).
  static constexpr bool autonomous = autonomous_field<Field>;
  /// \brief The wrapped field.
  using field_type = Field;

  /// \brief The term of `field`.
  explicit ode_term(Field field) : m_field(std::move(field)) {}

  /// \brief The field.
  [[nodiscard]] Field& field() noexcept { return m_field; }
  /// \brief The field, read-only.
  [[nodiscard]] const Field& field() const noexcept { return m_field; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const { return m_field.num_params(); }

  /// \brief Rows of the state the field accepts (when the field knows it, `sized_field`).
  [[nodiscard]] Eigen::Index state_rows() const requires sized_field<Field> {
    return m_field.state_rows();
  }

  /// \brief out = f(t, y; θ). \throws nde::error (invalid_input) if the field changed the shape
  /// of `out` (see `detail::check_derivative_shape`).
  template <class T, class State, class Params>
  void vf(T t, const State& y, const Params& theta, State& out) {
    m_field(t, y, theta, out);
    detail::check_derivative_shape(t, y, out);
  }
  using time_step_control::contr;
  using time_step_control::prod;

  /// \name Capabilities forwarded from the field
  /// \{
  /// \brief Same as `vf` (so the term is itself a parametric field).
  template <class T, class State, class Params>
  void operator()(T t, const State& y, const Params& theta, State& out) {
    m_field(t, y, theta, out);
    detail::check_derivative_shape(t, y, out);
  }
  /// \brief `a_y = aᵀ ∂f/∂y`, `a_θ += aᵀ ∂f/∂θ`.
  template <class T, state State>
  requires vjp_field<Field, T, State>
  void vjp(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& a, State& a_y,
           params_ref<scalar_of_t<State>> a_theta) {
    m_field.vjp(t, y, theta, a, a_y, a_theta);
    detail::check_derivative_shape(t, y, a_y, "a vjp");
  }
  /// \brief The vjp with the time cotangent `a_t += aᵀ ∂f/∂t` (0 for an autonomous field).
  template <class T, state State>
  requires time_differentiable_field<Field, T, State>
  void vjp(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& a, State& a_y,
           params_ref<scalar_of_t<State>> a_theta, scalar_of_t<State>& a_t) {
    detail::vjp_with_time(m_field, t, y, theta, a, a_y, a_theta, a_t);
    detail::check_derivative_shape(t, y, a_y, "a vjp");
  }
  /// \brief f and its vjp sharing work.
  template <class T, state State>
  requires value_and_vjp_field<Field, T, State>
  void value_and_vjp(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& a,
                     State& dydt, State& a_y, params_ref<scalar_of_t<State>> a_theta) {
    m_field.value_and_vjp(t, y, theta, a, dydt, a_y, a_theta);
    detail::check_derivative_shape(t, y, dydt);
    detail::check_derivative_shape(t, y, a_y, "a vjp");
  }
  /// \brief f, caching what its vjp needs in `slot`.
  template <class T, state State>
  requires stage_cached_field<Field, T, State>
  void evaluate_for_vjp(std::size_t slot, T t, const State& y,
                        params_view<scalar_of_t<State>> theta, State& dydt) {
    m_field.evaluate_for_vjp(slot, t, y, theta, dydt);
    detail::check_derivative_shape(t, y, dydt);
  }
  /// \brief The vjp from the cache in `slot`.
  template <class T, state State>
  requires stage_cached_field<Field, T, State>
  void vjp_from(std::size_t slot, T t, const State& y, params_view<scalar_of_t<State>> theta,
                const State& a, State& a_y, params_ref<scalar_of_t<State>> a_theta) {
    m_field.vjp_from(slot, t, y, theta, a, a_y, a_theta);
    detail::check_derivative_shape(t, y, a_y, "a vjp");
  }
  /// \brief The cached vjp with the time cotangent.
  template <class T, state State>
  requires stage_cached_field<Field, T, State> &&
      (time_stage_cached_field<Field, T, State> ||
       autonomous_field<Field>)void vjp_from(std::size_t slot, T t, const State& y,
                                             params_view<scalar_of_t<State>> theta, const State& a,
                                             State& a_y, params_ref<scalar_of_t<State>> a_theta,
                                             scalar_of_t<State>& a_t) {
    if constexpr (time_stage_cached_field<Field, T, State>) {
      m_field.vjp_from(slot, t, y, theta, a, a_y, a_theta, a_t);
    } else {
      m_field.vjp_from(slot, t, y, theta, a, a_y, a_theta);
    }
    detail::check_derivative_shape(t, y, a_y, "a vjp");
  }
  /// \brief `out = ∂f/∂y ẏ + ∂f/∂θ θ̇ + ∂f/∂t ṫ`.
  template <class T, state State>
  requires jvp_field<Field, T, State>
  void jvp(T t, const State& y, params_view<scalar_of_t<State>> theta, const State& y_dot,
           params_view<scalar_of_t<State>> theta_dot, scalar_of_t<State> t_dot, State& out) {
    m_field.jvp(t, y, theta, y_dot, theta_dot, t_dot, out);
    detail::check_derivative_shape(t, y, out, "a jvp");
  }
  /// \brief Dense `J = ∂f/∂y`.
  template <class T, state State>
  requires jacobian_field<Field, T, State>
  void jacobian(T t, const State& y, params_view<scalar_of_t<State>> theta,
                Eigen::Matrix<scalar_of_t<State>, Eigen::Dynamic, Eigen::Dynamic>& jac) {
    m_field.jacobian(t, y, theta, jac);
  }
  /// \}

 private:
  Field m_field;
};

/// \brief The ODE term of a plain callable `f(t, y, dydt)` or `f(t, y) -> State` (no parameters).
template <class F>
[[nodiscard]] ode_term<plain_field<std::decay_t<F>>> make_ode_term(F&& f) {
  return ode_term<plain_field<std::decay_t<F>>>(plain_field<std::decay_t<F>>{std::forward<F>(f)});
}

namespace detail {
template <class X>
struct is_ode_term : std::false_type {};
template <class F>
struct is_ode_term<ode_term<F>> : std::true_type {};
}  // namespace detail

}  // namespace nde
