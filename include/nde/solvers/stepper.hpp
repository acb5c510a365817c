/// \file
/// \brief The stepper contract: what `solve()` needs from a method, and what the exact
/// discrete adjoint and forward sensitivities need from it on top.
///
/// A stepper is stateless; everything it keeps between calls lives in a workspace the caller
/// owns (opaque to the driver). Protocol, as the driver runs it:
///
/// | call | meaning |
/// |---|---|
/// | `make_workspace(y)` | buffers for states shaped like `y` (allocates for dynamic sizes) |
/// | `init(term, t0, y0, θ, ws) -> status` | prepares a step from (t0, y0): for FSAL/RK methods, f(t0, y0) |
/// | `start_derivative(ws)` | f(t0, y0) after `init` (the initial-step heuristic reads it) |
/// | `step(term, t0, t1, y0, θ, ws, y1) -> step_result` | one trial step: y1, an error estimate (or none), a status |
/// | `evaluate_end(term, t1, y1, θ, ws) -> status` | after an accepted step, what the next step or the dense output needs (one f for non-FSAL RK) |
/// | optional `evaluate_dense_stages(term, t0, t1, y0, θ, ws) -> status` | after `evaluate_end` of an accepted step that holds dense output (and before the recorder sees it): the extra stages its continuous extension reads (DOP853, Vern7); `Stepper::dense_evaluations` evaluations of f |
/// | `dense_coefficients(t0, t1, y0, y1, ws, c)` | monomial coefficients of the continuous extension on the accepted step |
/// | `advance(ws)` | moves the end state into place for the next step |
///
/// A step may return a second, lower-order error estimate (`step_result::error_secondary`,
/// DOP853); the driver passes it to a controller whose `adapt` takes it as a trailing argument
/// (`pid_controller` combines the two as DOP853 does), and the primary one alone otherwise.
///
/// Steppers with `reverse_step` (the **reversible** capability) also give the exact
/// reverse-mode derivative of one step and of its dense output, and `tangent_step` its
/// forward-mode derivative; the discrete adjoint and forward sensitivities call only these.
/// Steps are deterministic: init + step from the same inputs reproduce every stage bit for bit,
/// which is what lets a reverse step replay a forward one. Implicit methods that keep a
/// Jacobian across steps (`diagonally_implicit`) reproduce their stages to the Newton tolerance
/// instead; their reverse step differentiates the exactly solved stage equations.
/// A stepper's `step` may return `status::not_converged` (a Newton failure): the controller
/// treats it as a rejected step.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <concepts>
#include <cstddef>

namespace nde {

namespace detail {

/// Horner evaluation of the dense-output polynomial Σ_j c_j θ^j (the coefficients a stepper's
/// `dense_coefficients` writes) into `out`, θ ∈ [0, 1] across the step (no allocation).
template <class Coefficients, class Scalar, class State>
void evaluate_polynomial(const Coefficients& coefficients, std::size_t count, Scalar theta,
                         State& out) {
  out = coefficients[count - 1];
  for (std::size_t j = count - 1; j-- > 0;) {
    out *= theta;
    out += coefficients[j];
  }
}

/// Cubic Hermite basis on one step, θ ∈ [0, 1] (Hairer, Nørsett & Wanner I, eq. II.6.7):
/// y(θ) = y0·`y0` + y1·`y1` + h f0·`f0` + h f1·`f1`, and the θ-derivatives of those weights
/// (`d_*`), which the dense output's derivative and its reverse pass need.
template <class S>
struct cubic_hermite_weights {
  S y0, y1, f0, f1, d_y0, d_y1, d_f0, d_f1;
};
/// The weights of `cubic_hermite_weights` at θ.
template <class S>
constexpr cubic_hermite_weights<S> cubic_hermite(S th) {
  const S t2 = th * th, t3 = t2 * th;
  return {1 - 3 * t2 + 2 * t3, 3 * t2 - 2 * t3, th - 2 * t2 + t3,    t3 - t2,
          6 * t2 - 6 * th,     6 * th - 6 * t2, 1 - 4 * th + 3 * t2, 3 * t2 - 2 * th};
}

/// Evaluations of f a stepper's `evaluate_dense_stages` makes (0 for steppers without it).
template <class Stepper>
constexpr int dense_evaluations_of() {
  if constexpr (requires { Stepper::dense_evaluations; }) {
    return Stepper::dense_evaluations;
  } else {
    return 0;
  }
}

/// Calls the stepper's optional `evaluate_dense_stages` (the extra stages its dense output
/// reads) for an accepted step that holds dense output; success for steppers without it.
template <class Stepper, class Term, class T, class State, class Params, class Workspace>
nde::status evaluate_dense_stages(const Stepper& stepper, Term& term, T t0, T t1, const State& y0,
                                  const Params& theta, Workspace& ws) {
  if constexpr (requires { stepper.evaluate_dense_stages(term, t0, t1, y0, theta, ws); }) {
    return stepper.evaluate_dense_stages(term, t0, t1, y0, theta, ws);
  } else {
    return nde::status::success;
  }
}

}  // namespace detail

/// \brief Outcome of one trial step.
template <state State>
struct step_result {
  nde::status status = nde::status::success;  ///< `non_finite` when y1 or the stages are NaN/Inf.
  const State* error = nullptr;               ///< Local error estimate, or null (no estimate).
  /// A second, lower-order estimate (DOP853's 3rd-order one), or null: a controller that reads
  /// it measures the step by ‖e‖² / √(‖e‖² + 0.01 ‖e₂‖²) of the two scaled norms.
  const State* error_secondary = nullptr;
};

/// \brief What `solve()` needs from a stepper (see the file comment).
template <class Stepper, class Term, class State, class T>
concept stepper = state<State> && time_scalar<T> && requires(
    const Stepper& s, Term& term, T t, const State& y, State& y1,
    params_view<scalar_of_t<State>> theta,
    decltype(std::declval<const Stepper&>().make_workspace(std::declval<const State&>()))& ws) {
  { Stepper::order } -> std::convertible_to<int>;
  { Stepper::adaptive } -> std::convertible_to<bool>;
  { Stepper::error_order } -> std::convertible_to<int>;
  { Stepper::dense_degree } -> std::convertible_to<int>;
  { Stepper::fsal } -> std::convertible_to<bool>;
  { s.init(term, t, y, theta, ws) } -> std::same_as<nde::status>;
  { s.step(term, t, t, y, theta, ws, y1) } -> std::same_as<step_result<State>>;
  { s.evaluate_end(term, t, y, theta, ws) } -> std::same_as<nde::status>;
  s.advance(ws);
  { s.start_derivative(ws) } -> std::convertible_to<const State&>;
};

/// \brief A stepper with an exact reverse step (the discrete adjoint) and tangent step
/// (forward sensitivities).
template <class Stepper, class State>
concept reversible_stepper = requires {
  typename Stepper::template reverse_workspace<State>;
  requires Stepper::reversible;
};

}  // namespace nde
