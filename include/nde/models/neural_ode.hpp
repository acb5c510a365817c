/// \file
/// \brief `nde::neural_ode`: a thin model over the differentiable solve — a field `f(t, y; θ)`
/// that owns θ, solved by a method, with the gradient method chosen at compile time.
///
/// \code
/// nde::neural_ode<Field, nde::dopri5, nde::discrete_adjoint> model(field, theta);
/// const auto& ys = model.forward(y0, ts).ys;      // ys[i] = y(ts[i]), ys[0] = y0
/// auto grad = model.backward(dL_dys);             // grad.params, grad.y0, grad.ts (dL/dts[i])
/// \endcode
///
/// `forward` is `nde::solve(ode_term(field), method, ts[0], ts.back(), y0, θ,
/// {.save_at = save_at::times(ts), .adjoint = Gradient})`: outputs come from the dense output,
/// steps are never forced onto them. Output times may be irregular, increasing or decreasing.
#pragma once

#include "nde/adjoint/differentiable_solve.hpp"
#include "nde/adjoint/methods.hpp"
#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/models/per_sample.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/ode_term.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace nde {

/// \brief Settings of the forward pass of a `neural_ode`.
struct neural_ode_options {
  /// Step-size policy: `pid_controller` (needs an adaptive method) or `constant_step`.
  step_size_controller controller = pid_controller{.rtol = 1e-6, .atol = 1e-9};
  std::int64_t max_steps = 100000;  ///< Step budget of the forward solve.
};

/// \brief Outputs of `neural_ode::forward` (the solution of the differentiable solve).
template <time_scalar T, state State>
using forward_result = solution<T, State>;

/// \brief A neural ODE `dy/dt = f(t, y; θ)` with its gradient.
///
/// \tparam Field a parametric field with a vjp (network adapter, known physics, or a sum).
/// \tparam Method e.g. `nde::dopri5`, `nde::rk4`.
/// \tparam Gradient `discrete_adjoint`, `backsolve_adjoint`, `checkpointed_adjoint`,
///   `forward_sensitivity`, or `reversible_adjoint` (with `reversible_heun`, `mali` or
///   `reversible_rk<Tableau>`; outputs only at step ends: ts = {t0, t1}, times listed in
///   `pid_controller::step_ts`, or times a `constant_step` lands on exactly). \tparam State a column vector, or a matrix whose columns are a
///   batch solved with one shared step. \tparam T time scalar.
///
/// The model owns θ (`params()`). Not thread-safe: use one model per thread, or
/// `per_sample_gradients`, which copies the model for each thread.
template <class Field, class Method, class Gradient, state State, time_scalar T = double>
requires vjp_field<Field, T, State>
class neural_ode {
 public:
  using scalar = scalar_of_t<State>;                ///< Scalar of states and θ.
  using params_type = params_of_t<State>;           ///< Flat parameter vector.
  using forward_type = forward_result<T, State>;    ///< Result of `forward`.
  using gradient_type = gradient_result<State, T>;  ///< Result of `backward`.

  /// \brief A model with field `field` and parameters `theta` (length `field.num_params()`).
  /// \throws nde::error (invalid_input) if the lengths disagree or the controller is fixed_times.
  neural_ode(Field field, params_type theta, Gradient gradient = {},
             neural_ode_options options = {}, Method method = {})
      : m_term(std::move(field)),
        m_params(std::move(theta)),
        m_gradient(std::move(gradient)),
        m_options(std::move(options)),
        m_solver(std::move(method)) {
    check_params();
    if (std::holds_alternative<fixed_times>(m_options.controller))
      throw error(status::invalid_input,
                  "neural_ode: use pid_controller or constant_step for the forward pass");
  }

  /// \brief θ (writable: optimisers update it in place).
  [[nodiscard]] params_type& params() noexcept { return m_params; }
  /// \brief θ, read-only.
  [[nodiscard]] const params_type& params() const noexcept { return m_params; }
  /// \brief The vector field.
  [[nodiscard]] Field& field() noexcept { return m_term.field(); }
  /// \brief The gradient method's settings.
  [[nodiscard]] Gradient& gradient_method() noexcept { return m_gradient; }
  /// \brief The forward settings.
  [[nodiscard]] neural_ode_options& options() noexcept { return m_options; }

  /// \brief Solves from y(ts[0]) = y0 and reports y at every ts[i] (ys[0] = y0). ts must be
  /// strictly monotone (either direction) and finite. Keeps what the backward pass needs.
  const forward_type& forward(const State& y0, std::span<const T> ts) {
    return run_forward(y0, ts, m_gradient);
  }

  /// \brief `forward` for prediction: the same solve, but nothing is recorded for a backward
  /// pass (no stored steps, whatever the gradient method; `backward` afterwards reports that a
  /// differentiable `forward` is needed).
  const forward_type& predict(const State& y0, std::span<const T> ts) {
    return run_forward(y0, ts, inference{});
  }

  /// \brief `forward`, but throws `nde::error` (its status and message) unless it succeeds.
  const forward_type& forward_or_throw(const State& y0, std::span<const T> ts) {
    return forward(y0, ts).value();
  }

 private:
  const forward_type& run_forward(const State& y0, std::span<const T> ts,
                                  const adjoint_method& method) {
    check_params();
    // Copies first: y0 or ts may refer to the previous result (continuing a rollout).
    m_y0 = y0;
    m_options_solve.save_at.t0 = m_options_solve.save_at.t1 = m_options_solve.save_at.steps = false;
    m_options_solve.save_at.ts.assign(ts.begin(), ts.end());
    m_options_solve.controller = m_options.controller;
    m_options_solve.max_steps = m_options.max_steps;
    m_options_solve.adjoint = method;
    m_forward_params = m_params;
    if (std::holds_alternative<fixed_times>(m_options.controller)) {
      m_result.ts.clear();
      m_result.ys.clear();
      m_result.status = status::invalid_input;
      m_result.message =
          "forward: use pid_controller or constant_step (fixed_times does not apply to a model)";
      m_failed_forward = true;
      return m_result;
    }
    if (ts.empty()) {
      m_result.ts.clear();
      m_result.ys.clear();
      m_result.status = status::invalid_input;
      m_result.message = "forward: ts is empty (ts[0] is the initial time)";
      m_failed_forward = true;
      return m_result;
    }
    m_failed_forward = false;
    const T t0 = m_options_solve.save_at.ts.front(), t1 = m_options_solve.save_at.ts.back();
    m_solver.solve(m_term, t0, t1, m_y0, params_view<scalar>(m_forward_params), m_options_solve,
                   m_result);
    if (!m_result.success()) m_result.message = "forward: " + m_result.message;
    return m_result;
  }

 public:
  /// \brief The last forward result.
  [[nodiscard]] const forward_type& last_forward() const noexcept { return m_result; }

  /// \brief dL/dθ, dL/dy0 and dL/dts[i] from dL/dy(ts[i]) (one cotangent per output of the
  /// last `forward`). A failed forward pass is reported with its own status and message.
  /// \throws nde::error (invalid_input) on a count or shape mismatch, a NaN/Inf cotangent, or
  ///   parameters changed since `forward`.
  [[nodiscard]] gradient_type backward(std::span<const State> output_cotangents) {
    if (m_failed_forward) {
      gradient_type g;
      g.status = m_result.status;
      g.message = "backward: the forward solve failed: " + m_result.message;
      return g;
    }
    check_params();
    if (m_params.size() != m_forward_params.size() ||
        !(m_params.array() == m_forward_params.array()).all())
      throw error(status::invalid_input,
                  "backward: the parameters changed since forward(); run forward() again");
    gradient_type g = m_solver.backward(m_term, output_cotangents);
    // ts[0] is t0 and ts.back() is t1: their total derivatives.
    if (!g.ts.empty()) {
      g.ts.front() += g.t0;
      g.ts.back() += g.t1;
    }
    return g;
  }

  /// \brief `backward`, but throws `nde::error` (its status and message) unless it succeeds.
  [[nodiscard]] gradient_type backward_or_throw(std::span<const State> output_cotangents) {
    gradient_type g = backward(output_cotangents);
    if (g.status != nde::status::success) throw error(g.status, g.message);
    return g;
  }

  /// \brief Result of `per_sample_gradients`.
  using batch_result = per_sample_result<State>;

  /// \brief Independent solves per sample on `threads` threads (see
  /// `nde::per_sample_gradients` in `models/per_sample.hpp`).
  template <class Loss>
  [[nodiscard]] batch_result per_sample_gradients(std::span<const State> y0s, std::span<const T> ts,
                                                  Loss loss, unsigned threads = 1) const {
    return nde::per_sample_gradients(*this, y0s, ts, std::move(loss), threads);
  }

  /// \brief Per-sample time grids: sample i is saved at its own `ts[i]` (see
  /// `nde::per_sample_gradients` in `models/per_sample.hpp`).
  template <class Loss>
  [[nodiscard]] batch_result per_sample_gradients(std::span<const State> y0s,
                                                  std::span<const std::vector<T>> ts, Loss loss,
                                                  unsigned threads = 1) const {
    return nde::per_sample_gradients(*this, y0s, ts, std::move(loss), threads);
  }

 private:
  void check_params() const {
    if (m_params.size() != static_cast<Eigen::Index>(m_term.num_params()))
      throw error(status::invalid_input, "neural_ode: the field has " +
                                             std::to_string(m_term.num_params()) +
                                             " parameters but the parameter vector has " +
                                             std::to_string(m_params.size()));
  }

  ode_term<Field> m_term;
  params_type m_params;
  Gradient m_gradient;
  neural_ode_options m_options;
  differentiable_integrator<Method, State, T> m_solver;
  solve_options m_options_solve{};
  forward_type m_result;
  State m_y0 = detail::zero_state<State>();
  params_type m_forward_params;
  bool m_failed_forward = false;
};

}  // namespace nde
