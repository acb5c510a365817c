/// \file
/// \brief Simplified Newton for the stage equations of diagonally implicit methods,
/// `z = ψ + hγ f(t, z)`, with a caller-owned Jacobian and LU of `M = I − hγJ̃` (Hairer & Wanner,
/// *Solving ODEs II*, 2nd ed., Sec. IV.8).
///
/// The unknown is the stage increment `w = z − ψ = hγ k` (small, so rounding stays relative to
/// it): each iteration evaluates f once and solves with the stored LU,
/// `M̃ Δ = hγ f(t, ψ + w) − w`, `w ← w + Δ`. J̃ is an approximation to ∂f/∂y (usually taken
/// at the step's start and reused across stages and steps), so the iteration converges
/// linearly with rate θ ≈ ‖M̃⁻¹ hγ (J − J̃)‖.
///
/// Convergence control (Hairer & Wanner IV.8, eqs. (8.10)–(8.12)): with θ_k = ‖Δ_k‖/‖Δ_{k−1}‖
/// and η_k = θ_k/(1 − θ_k) (η_0 = max(η_old, ε)^0.8 carried over from the previous stage), the
/// iterate's error is about η_k‖Δ_k‖. The iteration
/// - stops when `η_k ‖Δ_k‖ ≤ κ` (or Δ is at rounding level, or two successive corrections are
///   below κ without contracting: rounding noise),
/// - fails (`status::not_converged`) when θ_k ≥ 1, when `η_k ‖Δ_k‖ θ_k^(k_max − 1 − k) > κ`
///   (it would not converge in the iterations left; RADAU5's test), after `max_iterations`, or
///   when f is not finite at an iterate.
///
/// ‖·‖ is the RMS norm weighted by `1/(atol + rtol |y0|)` (`newton_options`, y0 the step's
/// start): the stepper does not see the controller's tolerances, so the iteration has its own.
/// Set `newton_options::rtol`/`atol` to the controller's; κ = 0.01 then makes the Newton error a
/// hundredth of what the step-size controller accepts per step.
///
/// Cost per iteration: one f and one O(n²) solve; per Jacobian one `jacobian`, n jvps or n + 1
/// evaluations of f (`linalg/jacobian.hpp`); per factorisation O(n³). Once the workspace is
/// sized nothing allocates (a failed factorisation writes its message).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/linalg/jacobian.hpp"
#include "nde/linalg/lu.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace nde {

/// \brief Tolerances and policies of the simplified Newton iteration (see the file comment).
struct newton_options {
  double rtol = 1e-6;       ///< Relative scale of the norm (match the controller's rtol).
  double atol = 1e-9;       ///< Absolute scale of the norm (match the controller's atol).
  double kappa = 0.01;      ///< Stopping test η‖Δ‖ ≤ κ, in units of `atol + rtol |y0|`.
  int max_iterations = 10;  ///< Iterations per stage before the stage fails.
  /// \brief A stage that contracted more slowly than this (θ) makes the next step start with a
  /// fresh Jacobian; faster contraction keeps reusing it (Hairer & Wanner IV.8).
  double reuse_rate = 0.1;
  jacobian_source jacobian = jacobian_source::automatic;  ///< Where ∂f/∂y comes from.
  /// \brief Relative tolerance (∞-norm) of the preconditioned linear iterations of the exact
  /// discrete adjoint and of the forward sensitivities.
  double linear_tolerance = 1e-13;
  int linear_max_iterations = 50;  ///< Iterations of those before the Jacobian is refreshed.
};

/// \brief Work done by the iteration, cumulative over the workspace's life (reset it with
/// `ws.stats = {}`).
struct newton_stats {
  std::size_t iterations = 0;      ///< Newton iterations (each one evaluation of f).
  std::size_t jacobians = 0;       ///< Jacobians computed.
  std::size_t factorisations = 0;  ///< LU factorisations of I − hγJ̃.
  std::size_t failures = 0;        ///< Stage solves that did not converge.
  std::size_t evaluations = 0;     ///< Evaluations of f (iterations, finite-difference Jacobians).
};

/// \brief The state of the iteration: J̃, the LU of `I − hγJ̃`, the norm's weights, scratch.
/// \tparam State the state type (batches are flattened column-major, as in `state_jacobian`).
template <state State>
struct newton_workspace {
  using scalar = scalar_of_t<State>;           ///< State scalar.
  using matrix = jacobian_matrix_t<State>;     ///< Dense n × n.
  matrix jacobian;                             ///< J̃.
  matrix iteration_matrix;                     ///< I − hγJ̃ (scratch of the factorisation).
  dense_lu<scalar> lu;                         ///< LU of I − hγJ̃ at `factored_hg`.
  jacobian_workspace<State> jacobian_scratch;  ///< Scratch of `state_jacobian`.
  State weights;                               ///< 1/(atol + rtol |y0|).
  State argument;                              ///< ψ + w.
  State f;                                     ///< f(t, ψ + w).
  State delta;                                 ///< Δ.
  scalar factored_hg = 0;                      ///< hγ of `lu`.
  bool factored = false;                       ///< `lu` is valid for `factored_hg` and J̃.
  bool have_jacobian = false;                  ///< `jacobian` holds some J̃.
  scalar eta = 1;                              ///< η carried to the next stage.
  newton_stats stats;                          ///< Work done.

  /// \brief Sizes every buffer like `like` (J̃ as n × n, n = like.size()).
  void resize(const State& like) {
    const Eigen::Index n = like.size();
    jacobian.setZero(n, n);
    iteration_matrix.setZero(n, n);
    for (State* s : {&weights, &argument, &f, &delta}) s->setZero(like.rows(), like.cols());
    factored = have_jacobian = false;
  }
};

/// \brief Outcome of one stage solve.
template <class S>
struct newton_result {
  nde::status status = nde::status::success;  ///< `not_converged` on any failure.
  int iterations = 0;                         ///< Iterations taken.
  S rate = 0;                                 ///< Largest contraction rate θ observed.
};

namespace detail {

/// Whether `state_jacobian` will difference f (and so needs f(t, y)).
template <class Term, class T, class State>
bool jacobian_needs_value(jacobian_source source, const State& y) {
  if (source != jacobian_source::automatic) return true;
  if constexpr (has_dense_jacobian<Term, T, State>) {
    if (y.cols() == 1) return false;
  }
  if constexpr (has_jvp<Term, T, State>) {
    return false;
  } else {
    return true;
  }
}

template <class State>
scalar_of_t<State> weighted_rms(const State& v, const State& weights) {
  using scalar = scalar_of_t<State>;
  if (v.size() == 0) return 0;
  return std::sqrt(v.cwiseProduct(weights).squaredNorm() / static_cast<scalar>(v.size()));
}

}  // namespace detail

/// \brief Sets the norm's weights from the state scale: `1/(atol + rtol |y|)`.
template <state State>
void set_newton_scale(newton_workspace<State>& ws, const State& y, const newton_options& options) {
  using scalar = scalar_of_t<State>;
  ws.weights =
      (static_cast<scalar>(options.atol) + static_cast<scalar>(options.rtol) * y.array().abs())
          .inverse()
          .matrix();
}

/// \brief J̃ = ∂f/∂y at (t, y) from `options.jacobian` (evaluates f(t, y) first when it
/// differences), and invalidates the factorisation. \return `non_finite` when J̃ has NaN/Inf.
/// \throws nde::error (invalid_input) when the term's `jacobian` writes the wrong size.
template <class Term, time_scalar T, state State>
status refresh_jacobian(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                        newton_workspace<State>& ws, const newton_options& options) {
  if (detail::jacobian_needs_value<Term, T, State>(options.jacobian, y)) {
    term.vf(t, y, theta, ws.f);
    ws.stats.evaluations += 1 + static_cast<std::size_t>(y.size());
  }
  ++ws.stats.jacobians;
  ws.factored = false;
  ws.have_jacobian = false;
  const status s = state_jacobian(term, t, y, theta, static_cast<const State&>(ws.f), ws.jacobian,
                                  ws.jacobian_scratch, options.jacobian);
  ws.have_jacobian = s == status::success;
  return s;
}

/// \brief Factorises `I − hγJ̃` unless it already is for this hγ. \return `success`;
/// `not_converged` when singular; `non_finite` when it has NaN/Inf (see `dense_lu::factor`).
template <state State>
status factor_iteration_matrix(newton_workspace<State>& ws, scalar_of_t<State> hg) {
  if (ws.factored && ws.factored_hg == hg) return status::success;
  ws.iteration_matrix = -hg * ws.jacobian;
  ws.iteration_matrix.diagonal().array() += scalar_of_t<State>(1);
  ++ws.stats.factorisations;
  const status s = ws.lu.factor(ws.iteration_matrix);
  ws.factored = s == status::success;
  ws.factored_hg = hg;
  return s;
}

/// \brief Solves `w = hγ f(t, ψ + w)` for w by simplified Newton with the factorisation in `ws`
/// (which must be valid for `hg`), from the initial guess in `w`. On success `w` holds the
/// stage increment and `ws.argument` the stage value ψ + w (as evaluated last, before the
/// final correction: use ψ + w). See the file comment for the tests.
template <class Term, time_scalar T, state State>
newton_result<scalar_of_t<State>> solve_stage(Term& term, T t, const State& psi,
                                              scalar_of_t<State> hg,
                                              params_view<scalar_of_t<State>> theta, State& w,
                                              newton_workspace<State>& ws,
                                              const newton_options& options) {
  using scalar = scalar_of_t<State>;
  const scalar eps = std::numeric_limits<scalar>::epsilon();
  const auto kappa = static_cast<scalar>(options.kappa);
  const int k_max = options.max_iterations;
  newton_result<scalar> r;
  scalar previous = 0;
  scalar eta = std::pow(std::max(ws.eta, eps), scalar(0.8));
  auto fail = [&]() {
    ++ws.stats.failures;
    ws.eta = 1;
    r.status = status::not_converged;
    return r;
  };
  for (int k = 0; k < k_max; ++k) {
    ws.argument = psi + w;
    term.vf(t, static_cast<const State&>(ws.argument), theta, ws.f);
    ++ws.stats.evaluations;
    ++ws.stats.iterations;
    ++r.iterations;
    if (!ws.f.allFinite()) return fail();
    ws.delta = hg * ws.f - w;
    ws.lu.solve_in_place(ws.delta);
    w += ws.delta;
    const scalar norm = detail::weighted_rms(ws.delta, ws.weights);
    if (!std::isfinite(norm)) return fail();
    // Rounding level of the stage value: no iteration can do better.
    const scalar floor = 8 * eps * detail::weighted_rms(ws.argument, ws.weights);
    if (k > 0) {
      const scalar rate = previous > 0 ? norm / previous : scalar(0);
      r.rate = std::max(r.rate, rate);
      if (norm <= floor) {
        ws.eta = std::max(eta, eps);
        return r;
      }
      if (rate >= 1) {
        // No contraction: rounding noise when both corrections are already below κ,
        // divergence otherwise.
        if (norm <= kappa && previous <= kappa) {
          ws.eta = 1;
          return r;
        }
        return fail();
      }
      eta = rate / (1 - rate);
      if (eta * norm <= kappa) {
        ws.eta = eta;
        return r;
      }
      // It would not converge in the iterations left (RADAU5's test).
      if (eta * norm * std::pow(rate, static_cast<scalar>(k_max - 1 - k)) > kappa) return fail();
    } else if (eta * norm <= kappa || norm <= floor) {
      ws.eta = eta;
      return r;
    }
    previous = norm;
  }
  return fail();
}

}  // namespace nde
