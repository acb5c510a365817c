/// \file
/// \brief The gradient methods of a solve, chosen by value in `solve_options::adjoint`, and the
/// statistics a backward pass reports.
///
/// | method | memory | gradient is |
/// |---|---|---|
/// | `inference` | nothing is stored | none: prediction only, `backward` refuses |
/// | `discrete_adjoint` | O(steps) states, or O(budget) with binomial checkpointing | exact gradient of the computed (discrete) solution |
/// | `forward_sensitivity` | O(n·(n + p)) tangents, carried forward | exact, like the discrete adjoint; cheap for few parameters |
/// | `backsolve_adjoint` | O(1) in the number of steps | approximate: y is re-integrated backward next to the adjoint and can drift (Chen et al. 2018) |
/// | `checkpointed_adjoint` | one state every `checkpoint_every` steps + one segment's dense output | approximate, but y(t) comes from a re-solve of the recorded forward steps, so it never drifts |
/// | `reversible_adjoint` | O(1) states (the final (y, z)) + one time per step | exact, like the discrete adjoint: the states are rebuilt backward by the method's algebraic inverse (reversible solvers only) |
#pragma once

#include "nde/step_size/pid_controller.hpp"

#include <cstddef>
#include <cstdint>
#include <variant>

namespace nde {

/// \brief Prediction only: the solve stores nothing for a backward pass.
struct inference {};

/// \brief Discrete adjoint: reverse-mode differentiation of the accepted steps themselves,
/// step sizes held fixed (Hairer, Nørsett & Wanner I, II.3; "discretise-then-optimise"),
/// including outputs read from the dense output between steps and the step times' dependence
/// on t0 and t1. Each stepper provides its own reverse step (`explicit_rk::pull_step`).
///
/// With `max_checkpoints == 0` every step's starting state is kept (O(steps) memory, each
/// step replayed once). Otherwise at most `max_checkpoints` states are held besides y0, and
/// steps are recomputed on a binomial schedule (Griewank & Walther 2000, "Algorithm 799:
/// revolve"): with c checkpoints and r recomputation sweeps, C(c + r, c) steps can be reversed.
/// The forward pass records only the step times (one number per step), which makes the
/// schedule offline even though the number of adaptive steps was unknown in advance.
struct discrete_adjoint {
  std::size_t max_checkpoints = 0;  ///< 0: keep every step; otherwise the state budget.
};

/// \brief Forward sensitivities: the tangents dy/d(θ, y0, t0, t1) are pushed through every
/// accepted step (and the dense outputs) as the solve runs, with the field's Jacobian–vector
/// product; `backward` is then a product with the stored output sensitivities. Exact for the
/// discrete solution (it agrees with `discrete_adjoint`); costs n + p + 2 jvps per stage, so it
/// pays off for few parameters (SciMLSensitivity's ForwardSensitivity; Diffrax's ForwardMode).
struct forward_sensitivity {};

/// \brief Continuous adjoint, solved backward together with the state (Chen, Rubanova,
/// Bettencourt & Duvenaud 2018, "Neural ordinary differential equations", Alg. 1).
///
/// Integrates `z = [y, a, g]` from t1 down to t0 with `ẏ = f`, `ȧ = -aᵀ ∂f/∂y`,
/// `ġ = -aᵀ ∂f/∂θ`; the backward steps land on every output time t_i, where dL/dy(t_i) is added
/// to `a` and `y` is reset to the stored forward output (so drift does not carry across).
/// Memory O(n + p). dL/dt_i = dL/dy(t_i) · f(t_i, y_i); dL/dt0 = -dL/dy0 · f(t0, y0).
struct backsolve_adjoint {
  /// Tolerances and limits of the backward solve (the "adjoint tolerances"). The backward
  /// error norm is the largest RMS of the blocks y, a, g (torchdiffeq's mixed norm), so the
  /// many parameter components do not dilute the few state ones; `norm`/`custom_norm` of this
  /// controller are replaced by it. A method without an error estimate steps backward with the
  /// forward pass's constant step instead.
  pid_controller controller{.rtol = 1e-6, .atol = 1e-9};
  /// Leave `g` out of the backward error norm (Kidger, Chen & Lyons 2021, "Hey, that's not
  /// an ODE"): g never feeds back into the dynamics, so its error need not limit the step.
  bool seminorm = true;
  std::int64_t max_steps = 100000;  ///< Step budget of each backward interval solve.
};

/// \brief Continuous adjoint with checkpoints: the forward pass keeps the state every
/// `checkpoint_every` accepted steps (and every step time); going backward, each segment
/// between checkpoints is re-solved with the recorded steps and dense output (so y(t) is
/// the forward solution itself), and `[a, g]` is integrated backward reading y(t) from it.
struct checkpointed_adjoint {
  /// Tolerances and limits of the backward `[a, g]` solve (adaptive methods; others step
  /// backward with the forward pass's constant step). Error norm: the largest RMS of the
  /// blocks a and g (a alone with the seminorm).
  pid_controller controller{.rtol = 1e-6, .atol = 1e-9};
  bool seminorm = true;              ///< Leave `g` out of the backward error norm.
  std::int64_t max_steps = 100000;   ///< Step budget of each backward interval solve.
  std::size_t checkpoint_every = 8;  ///< Accepted forward steps between stored states (≥ 1).
};

/// \brief Exact O(1)-memory gradient of an algebraically reversible solver (`reversible_heun`,
/// `mali`, `reversible_rk<Tableau>`): Kidger, Foster, Li & Lyons 2021, Zhuang et al.
/// 2021 (MALI), McCallum & Foster 2024.
///
/// The forward pass records the accepted step times (one number per step) and the final
/// state (y, z) of the solver (z its auxiliary state). The backward pass rebuilds each earlier
/// (y, z) from the later one with the solver's closed-form inverse and pulls the cotangents
/// through that step with the term's vjp, so memory does not grow with the number of steps,
/// and the gradient equals the discrete adjoint of the same method with stored states up to
/// the round-off of the reconstruction. The reconstructed y0 is compared with the true one:
/// a discrepancy above `tolerance` (relative to max(1, ‖y0‖∞)) or NaN/Inf is reported in the
/// gradient's status and message (unstable inverse: stiff field, too large steps).
///
/// Differentiates outputs at t0 and at step ends (t1, `save_at.steps`, and `save_at.ts`
/// entries the controller lands on, e.g. `pid_controller::step_ts` or `fixed_times`); an output
/// read from the dense output inside a step, and `jump_ts`, are refused (invalid_input). Time
/// gradients (a time-differentiable term) follow the discrete adjoint's conventions: step sizes
/// fixed except the step clipped onto t1; a `save_at.ts` output at a step end moves alone like
/// y(τ) ≈ y_end + (τ − t_end) f(τ, y_end) (one f evaluation per such output).
struct reversible_adjoint {
  /// Largest accepted ‖y0_rebuilt − y0‖∞ / max(1, ‖y0‖∞) before the gradient is reported as
  /// diverged (`status::reconstruction_failed`: smaller steps make the inverse stable again).
  double tolerance = 1e-6;
  /// Debug/reference mode: store every step's (y, z) and use them instead of the inverse (the
  /// stored-state discrete adjoint of the same method; O(steps) memory).
  bool store_states = false;
};

/// \brief The gradient method of a solve (`solve_options::adjoint`).
using adjoint_method = std::variant<inference, discrete_adjoint, backsolve_adjoint,
                                    checkpointed_adjoint, forward_sensitivity, reversible_adjoint>;

/// \brief Work done by one forward + backward pass.
struct gradient_stats {
  std::size_t forward_rhs_evals = 0;  ///< f evaluations of the forward pass.
  std::size_t forward_steps = 0;      ///< Accepted forward steps.
  std::size_t forward_rejected = 0;   ///< Rejected forward steps.
  std::size_t forward_jvp_evals = 0;  ///< Jacobian–vector products (forward sensitivities).
  std::size_t backward_rhs_evals =
      0;  ///< f evaluations in the backward pass (re-solves, recomputation).
  std::size_t backward_vjp_evals = 0;  ///< vector–Jacobian products.
  std::size_t backward_steps =
      0;  ///< Accepted steps of backward solves (continuous) or reversed steps (discrete).
  std::size_t backward_rejected = 0;  ///< Rejected backward steps (continuous adjoints).
  std::size_t recomputed_steps =
      0;  ///< Forward steps re-run in the backward pass (discrete, checkpointed).
  std::size_t peak_stored_states =
      0;  ///< Most states held at once for the backward pass, outputs excluded.
  double reconstruction_error =
      0;  ///< reversible_adjoint: ‖y0_rebuilt − y0‖∞ (absolute; 0 in `store_states` mode).

  /// \brief Adds `other`'s counters (the peak is the larger of the two).
  gradient_stats& operator+=(const gradient_stats& other) {
    forward_rhs_evals += other.forward_rhs_evals;
    forward_steps += other.forward_steps;
    forward_rejected += other.forward_rejected;
    forward_jvp_evals += other.forward_jvp_evals;
    backward_rhs_evals += other.backward_rhs_evals;
    backward_vjp_evals += other.backward_vjp_evals;
    backward_steps += other.backward_steps;
    backward_rejected += other.backward_rejected;
    recomputed_steps += other.recomputed_steps;
    peak_stored_states = peak_stored_states > other.peak_stored_states ? peak_stored_states
                                                                       : other.peak_stored_states;
    reconstruction_error = reconstruction_error > other.reconstruction_error
                               ? reconstruction_error
                               : other.reconstruction_error;
    return *this;
  }
};

}  // namespace nde
