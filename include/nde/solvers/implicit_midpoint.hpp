/// \file
/// \brief `nde::implicit_midpoint`: the implicit midpoint rule `y1 = y0 + h f(t0 + h/2,
/// (y0 + y1)/2)`, second order, symmetric, and symplectic for every Hamiltonian system,
/// separable or not (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed.,
/// eq. I.1.7 and Theorem VI.3.5; it also conserves every quadratic invariant exactly, IV.2.1).
/// Works on any ODE term (no (q, p) structure needed), so a general learned Hamiltonian
/// (an HNN's rollout) can be integrated symplectically.
///
/// The stage `k = f(t½, y0 + (h/2) k)` is found by fixed-point iteration from `k = f(t0, y0)`;
/// it converges when `(|h|/2)·L < 1` (L: the Lipschitz constant of f in y). A step whose
/// iteration does not converge within `max_iterations` throws `nde::error`
/// (`status::step_size_too_small`, naming the step): the solve fails with that status, it
/// never accepts an unconverged step. Cost per step: the iterations (each one f), plus f(t1, y1)
/// for the Hermite dense output and the next step's start.
///
/// Exact discrete adjoint of the implicit relation: with `J = ∂f/∂y` at the stage,
/// `μ = (I − (h/2) J)⁻ᵀ h ȳ1` is found by the same fixed-point iteration on vjps
/// (`μ ← h ȳ1 + (h/2) Jᵀ μ`), then `ȳ0 = ȳ1 + Jᵀ μ`, `θ̄ += (∂f/∂θ)ᵀ μ`. Gradients are those of
/// the exact implicit map at the computed stage, so they agree with the computed solution to the
/// iteration tolerance. Forward sensitivities are not implemented (they throw).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstddef>

namespace nde {

/// \brief Implicit midpoint rule with a fixed-point stage iteration (see the file comment).
struct implicit_midpoint {
  /// \brief Convergence test of the stage iteration: `|h|·‖Δk‖∞ ≤ tolerance·(1 + ‖y0‖∞)` (and the
  /// same relative test for the adjoint's μ).
  double tolerance = 1e-14;
  /// \brief Iterations before a step fails.
  int max_iterations = 200;

  static constexpr int stages = 2;          ///< Nominal f per step (the iteration takes more).
  static constexpr int order = 2;           ///< Order of y1.
  static constexpr bool fsal = false;       ///< f(t1, y1) from `evaluate_end`.
  static constexpr bool adaptive = false;   ///< No error estimate.
  static constexpr int error_order = 0;     ///< None.
  static constexpr int dense_degree = 3;    ///< Cubic Hermite.
  static constexpr int dense_order = 3;     ///< Of the interpolant.
  static constexpr bool reversible = true;  ///< `replay`/`pull_step`/`pull_dense`.
  static constexpr bool symplectic = true;  ///< For every Hamiltonian system.

  /// \brief f0, f1, the stage and its argument.
  template <state State>
  struct workspace {
    State f0;        ///< f(t0, y0).
    State f1;        ///< f(t1, y1).
    State k;         ///< The converged stage k.
    State k_next;    ///< Scratch.
    State argument;  ///< y0 + (h/2) k.
  };
  /// \brief A workspace sized like `like`.
  template <state State>
  [[nodiscard]] static workspace<State> make_workspace(const State& like) {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }
  /// \brief Resizes every buffer like `like`.
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    for (State* s : {&ws.f0, &ws.f1, &ws.k, &ws.k_next, &ws.argument})
      s->setZero(like.rows(), like.cols());
  }

  /// \brief f(t0, y0).
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    check();
    term.vf(t0, y0, theta, ws.f0);
    return ws.f0.allFinite() ? status::success : status::non_finite;
  }

  /// \brief One step: the stage iteration, then `y1 = y0 + h k`.
  /// \throws nde::error (step_size_too_small) when the iteration does not converge.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    if (!solve_stage(term, t0, t1, y0, theta, ws.f0, ws.k, ws.k_next, ws.argument))
      return {status::non_finite, nullptr};
    y1 = y0 + static_cast<scalar_of_t<State>>(t1 - t0) * ws.k;
    return {y1.allFinite() ? status::success : status::non_finite, nullptr};
  }

  /// \brief f(t1, y1).
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term& term, T t1, const State& y1, params_view<scalar_of_t<State>> theta,
                      workspace<State>& ws) const {
    term.vf(t1, y1, theta, ws.f1);
    return ws.f1.allFinite() ? status::success : status::non_finite;
  }
  /// \brief f(t0, y0) after `init`.
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.f0;
  }
  /// \brief f(t1, y1) after `evaluate_end`.
  template <state State>
  [[nodiscard]] const State& end_derivative(const workspace<State>& ws) const {
    return ws.f1;
  }
  /// \brief f1 becomes the next step's f0.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.f0.swap(ws.f1);
  }

  /// \brief Cubic Hermite monomial coefficients of the last step.
  template <time_scalar T, state State>
  void dense_coefficients(T t0, T t1, const State& y0, const State& y1, const workspace<State>& ws,
                          std::array<State, 4>& c) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    c[0] = y0;
    c[1] = h * ws.f0;
    c[2] = scalar(3) * (y1 - y0) - h * (scalar(2) * ws.f0 + ws.f1);
    c[3] = scalar(2) * (y0 - y1) + h * (ws.f0 + ws.f1);
  }
  /// \brief dy/dτ of the dense output at τ.
  template <time_scalar T, state State>
  void dense_derivative(T t0, T t1, T tau, const State& y0, const State& y1,
                        const workspace<State>& ws, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto th = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto w = detail::cubic_hermite(th);
    out = (w.d_y0 / h) * y0 + (w.d_y1 / h) * y1 + w.d_f0 * ws.f0 + w.d_f1 * ws.f1;
  }

  /// \brief Buffers of the reverse step.
  template <state State>
  struct reverse_workspace {
    using scalar = scalar_of_t<State>;  ///< State scalar.
    workspace<State> forward;           ///< f0, k, argument (and f1) of the replay.
    State y0, y1;                       ///< Ends of the replayed step.
    State y0_bar, y1_bar_extra;         ///< Dense-output contributions.
    State f0_bar, f1_bar;               ///< Cotangents of f0 and f1.
    State mu, mu_next, w;               ///< Adjoint iteration.
    Eigen::Matrix<scalar, Eigen::Dynamic, 1> scratch_theta;  ///< Discarded θ̄ of iterations.
    bool dense_active = false;                               ///< f0_bar / f1_bar may be non-zero.
    scalar h_bar = 0;                                        ///< Cotangent of h.
    scalar t0_bar = 0;                                       ///< Cotangent of the start.
    scalar t1_bar = 0;                                       ///< Cotangent of the end.
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      implicit_midpoint::resize(forward, like);
      for (State* s : {&y0, &y1, &y0_bar, &y1_bar_extra, &f0_bar, &f1_bar, &mu, &mu_next, &w})
        s->setZero(like.rows(), like.cols());
    }
  };

  /// \brief Recomputes the recorded step bit for bit (same iteration from f(t0, y0)), and
  /// f(t1, y1) when `dense`. \return evaluations of f.
  template <class Term, time_scalar T, state State>
  std::size_t replay(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                     reverse_workspace<State>& ws, bool dense) const {
    auto& f = ws.forward;
    ws.y0 = y0;
    term.vf(t0, y0, theta, f.f0);
    std::size_t evaluations = 1;
    evaluations +=
        iterations_of(solve_stage(term, t0, t1, y0, theta, f.f0, f.k, f.k_next, f.argument));
    ws.y1 = y0 + static_cast<scalar_of_t<State>>(t1 - t0) * f.k;
    if (dense) {
      term.vf(t1, ws.y1, theta, f.f1);
      ++evaluations;
    }
    for (State* s : {&ws.y0_bar, &ws.y1_bar_extra, &ws.f0_bar, &ws.f1_bar}) s->setZero();
    ws.dense_active = false;
    ws.h_bar = ws.t0_bar = ws.t1_bar = 0;
    return evaluations;
  }

  /// \brief Pulls the cotangent of the dense output at τ (after `replay` with `dense`).
  /// \return dL/dτ.
  template <time_scalar T, state State>
  scalar_of_t<State> pull_dense(T t0, T t1, T tau, const State& y0, const State& y_bar,
                                reverse_workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto th = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto [w_y0, w_y1, w_f0, w_f1, d_y0, d_y1, d_f0, d_f1] = detail::cubic_hermite(th);
    const scalar dot_f0 = y_bar.cwiseProduct(ws.forward.f0).sum();
    const scalar dot_f1 = y_bar.cwiseProduct(ws.forward.f1).sum();
    ws.y0_bar += w_y0 * y_bar;
    ws.y1_bar_extra += w_y1 * y_bar;
    ws.f0_bar += (h * w_f0) * y_bar;
    ws.f1_bar += (h * w_f1) * y_bar;
    ws.dense_active = true;
    ws.h_bar += w_f0 * dot_f0 + w_f1 * dot_f1;
    const scalar theta_bar = d_y0 * y_bar.cwiseProduct(y0).sum() +
                             d_y1 * y_bar.cwiseProduct(ws.y1).sum() +
                             h * (d_f0 * dot_f0 + d_f1 * dot_f1);
    ws.t0_bar += theta_bar * (th - 1) / h;
    ws.t1_bar -= theta_bar * th / h;
    return theta_bar / h;
  }

  /// \brief Pulls ȳ1 back through the replayed step (see the file comment for the adjoint
  /// iteration). \return vjps. \throws nde::error (step_size_too_small) if μ's iteration does
  /// not converge.
  template <class Term, time_scalar T, state State>
  std::size_t pull_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                        reverse_workspace<State>& ws, State& y_bar,
                        params_ref<scalar_of_t<State>> theta_bar, bool with_time) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    std::size_t vjps = 0;
    const auto& f = ws.forward;
    y_bar += ws.y1_bar_extra;
    if (ws.dense_active) {
      scalar a_t = 0;
      pull(term, t1, ws.y1, theta, ws.f1_bar, ws.w, theta_bar, a_t, with_time);
      ws.t1_bar += a_t;
      y_bar += ws.w;
      ++vjps;
    }
    // y1 = y0 + h k.
    ws.h_bar += y_bar.cwiseProduct(f.k).sum();
    ws.y0_bar += y_bar;
    // μ = h ȳ1 + (h/2) Jᵀ μ.
    const T t_mid = t0 + (t1 - t0) / 2;
    ws.scratch_theta.setZero(theta_bar.size());
    ws.mu = h * y_bar;
    const scalar scale = ws.mu.cwiseAbs().maxCoeff();
    bool converged = scale == 0;
    for (int it = 0; it < max_iterations && !converged; ++it) {
      scalar ignored = 0;
      pull(term, t_mid, f.argument, theta, ws.mu, ws.w, params_ref<scalar>(ws.scratch_theta),
           ignored, false);
      ++vjps;
      ws.mu_next = h * y_bar + (h / 2) * ws.w;
      if (!ws.mu_next.allFinite()) break;
      const scalar change = (ws.mu_next - ws.mu).cwiseAbs().maxCoeff();
      ws.mu.swap(ws.mu_next);
      converged = change <= static_cast<scalar>(tolerance) * (scale + ws.mu.cwiseAbs().maxCoeff());
    }
    if (!converged)
      throw error(status::step_size_too_small,
                  detail::concatenate("implicit_midpoint: the adjoint iteration did not converge "
                                      "in ",
                                      max_iterations, " iterations in the step from t = ", t0,
                                      " to ", t1, " (take smaller steps)"));
    scalar tau_bar = 0;
    pull(term, t_mid, f.argument, theta, ws.mu, ws.w, theta_bar, tau_bar, with_time);
    ++vjps;
    ws.y0_bar += ws.w;
    ws.h_bar += f.k.cwiseProduct(ws.w).sum() / 2;
    ws.t0_bar += tau_bar / 2;
    ws.t1_bar += tau_bar / 2;
    if (ws.dense_active) {
      scalar a_t = 0;
      pull(term, t0, ws.y0, theta, ws.f0_bar, ws.w, theta_bar, a_t, with_time);
      ws.t0_bar += a_t;
      ws.y0_bar += ws.w;
      ++vjps;
    }
    ws.t1_bar += ws.h_bar;
    ws.t0_bar -= ws.h_bar;
    y_bar = ws.y0_bar;
    return vjps;
  }

  /// \brief Buffers of `tangent_step` (unused: forward sensitivities are not implemented).
  template <state State>
  struct tangent_workspace {
    /// \brief Nothing to size.
    void resize(const State&) {}
  };
  /// \brief Not implemented. \throws nde::error (invalid_input).
  template <class Term, time_scalar T, state State>
  std::size_t tangent_step(Term&, T, T, const State&, const State&, params_view<scalar_of_t<State>>,
                           const workspace<State>&, const State&, params_view<scalar_of_t<State>>,
                           scalar_of_t<State>, scalar_of_t<State>, State&,
                           tangent_workspace<State>&, bool) const {
    throw error(status::invalid_input,
                "implicit_midpoint: forward sensitivities (tangent_step) are not implemented; use "
                "nde::discrete_adjoint{}");
  }
  /// \brief Not implemented. \throws nde::error (invalid_input).
  template <time_scalar T, state State>
  void tangent_dense(T, T, T, const State&, const State&, const workspace<State>&, const State&,
                     const State&, scalar_of_t<State>, scalar_of_t<State>,
                     const tangent_workspace<State>&, State&) const {
    throw error(status::invalid_input,
                "implicit_midpoint: forward sensitivities are not implemented");
  }

 private:
  void check() const {
    if (!(tolerance > 0) || !std::isfinite(tolerance) || max_iterations < 1)
      throw error(status::invalid_input,
                  detail::concatenate("implicit_midpoint: tolerance must be positive and finite "
                                      "and max_iterations at least 1 (got ",
                                      tolerance, ", ", max_iterations, ")"));
  }
  static std::size_t iterations_of(int n) { return static_cast<std::size_t>(n); }

  // The stage iteration from k = f0; returns the number of evaluations (> 0), or 0 when a value
  // is not finite. Throws when it does not converge.
  template <class Term, time_scalar T, state State>
  int solve_stage(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                  const State& f0, State& k, State& k_next, State& argument) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const T t_mid = t0 + (t1 - t0) / 2;
    const scalar bound =
        static_cast<scalar>(tolerance) * (1 + (y0.size() > 0 ? y0.cwiseAbs().maxCoeff() : 0));
    k = f0;
    for (int it = 1; it <= max_iterations; ++it) {
      argument = y0 + (h / 2) * k;
      term.vf(t_mid, static_cast<const State&>(argument), theta, k_next);
      if (!k_next.allFinite()) {
        if (it == 1) return 0;  // f itself is not finite at the first stage argument
        break;                  // the iteration diverged
      }
      const scalar change = std::abs(h) * (k_next - k).cwiseAbs().maxCoeff();
      k.swap(k_next);
      if (change <= bound) return it;
    }
    throw error(status::step_size_too_small,
                detail::concatenate("implicit_midpoint: the fixed-point iteration did not "
                                    "converge in ",
                                    max_iterations, " iterations in the step from t = ", t0, " to ",
                                    t1, " (|h|·L/2 must be below 1: take smaller steps)"));
  }

  template <class Term, time_scalar T, state State>
  static void pull(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                   const State& w, State& w_y, params_ref<scalar_of_t<State>> theta_bar,
                   scalar_of_t<State>& w_t, bool with_time) {
    if constexpr (time_vjp_field<Term, T, State>) {
      if (with_time) {
        term.vjp(t, y, theta, w, w_y, theta_bar, w_t);
        return;
      }
    }
    term.vjp(t, y, theta, w, w_y, theta_bar);
  }
};

}  // namespace nde
