/// \file
/// \brief The three ways `nde::neural_ode` computes dL/dθ and dL/dy0, chosen by a template
/// parameter, and the statistics they report.
///
/// | method | memory | gradient is |
/// |---|---|---|
/// | `backsolve_adjoint` | O(1) in the number of steps | approximate: y is re-integrated backward next to the adjoint and can drift (Chen et al. 2018) |
/// | `checkpointed_adjoint` | O(steps of one output interval) | approximate, but y(t) comes from a forward re-solve of each interval from its stored start, so it never drifts |
/// | `discrete_adjoint` | O(steps), or O(budget) states with binomial checkpointing | exact gradient of the computed (discrete) solution |
#pragma once

#include "nde/step_size/pi_controller.hpp"

#include <cstddef>
#include <cstdint>

namespace nde {

/// \brief Continuous adjoint, solved backward together with the state (Chen, Rubanova,
/// Bettencourt & Duvenaud 2018, "Neural ordinary differential equations", Alg. 1).
///
/// Integrates `z = [y, a, g]` from t_N down to t_0 with `ẏ = f`, `ȧ = -aᵀ ∂f/∂y`,
/// `ġ = -aᵀ ∂f/∂θ`; at each output time t_i it adds dL/dy(t_i) to `a` and resets `y` to the
/// stored forward output (so drift does not carry across intervals). Memory O(n + p).
struct backsolve_adjoint {
  /// Tolerances and limits of the backward solve (the "adjoint tolerances"). The backward
  /// error norm is the largest RMS of the blocks y, a, g (torchdiffeq's mixed norm), so the
  /// many parameter components do not dilute the few state ones; `norm`/`custom_norm` of this
  /// controller are replaced by it. Used with
  /// adaptive methods; a method without an error estimate steps backward with the forward
  /// pass's constant step instead.
  pi_controller controller{.rtol = 1e-6, .atol = 1e-9};
  /// Leave `g` out of the backward error norm (Kidger, Chen & Lyons 2021, "Hey, that's not
  /// an ODE"): g never feeds back into the dynamics, so its error need not limit the step.
  bool seminorm = true;
  std::int64_t max_steps = 100000;  ///< Step budget of each backward interval solve.
};

/// \brief Continuous adjoint with checkpoints: the forward outputs y(t_i) are the
/// checkpoints; going backward, each interval [t_i, t_{i+1}] is re-solved forward from
/// y(t_i) with dense output (same method and controller as the forward pass, so the same
/// steps), and `[a, g]` is integrated backward reading y(t) from that dense solution.
/// Memory: the outputs plus one interval's dense solution.
struct checkpointed_adjoint {
  /// Tolerances and limits of the backward `[a, g]` solve (adaptive methods; others step
  /// backward with the forward pass's constant step). Error norm: the largest RMS of the
  /// blocks a and g (a alone with the seminorm).
  pi_controller controller{.rtol = 1e-6, .atol = 1e-9};
  bool seminorm = true;             ///< Leave `g` out of the backward error norm.
  std::int64_t max_steps = 100000;  ///< Step budget of each backward interval solve.
};

/// \brief Discrete adjoint: reverse-mode differentiation of the accepted Runge–Kutta steps
/// themselves, step sizes held fixed (Hairer, Nørsett & Wanner I, II.3; the "discretise-then-
/// optimise" gradient). Stage cotangents follow from the tableau:
/// `k̄_i = h b_i ȳ_{n+1} + h Σ_{j>i} a_ji Ȳ_j`, `Ȳ_i = (∂f/∂y)ᵀ(Y_i) k̄_i`,
/// `ȳ_n = ȳ_{n+1} + Σ_i Ȳ_i`, `θ̄ += Σ_i (∂f/∂θ)ᵀ(Y_i) k̄_i`.
///
/// With `max_checkpoints == 0` every step's starting state is kept (O(steps) memory, each
/// step recomputed once). Otherwise at most `max_checkpoints` states are held per output
/// interval besides its start, and steps are recomputed on a binomial schedule (Griewank &
/// Walther 2000, "Algorithm 799: revolve"): with c checkpoints and r recomputation sweeps,
/// C(c + r, c) steps can be reversed. The forward pass records only the step times (one
/// number per step), which makes the schedule offline even though the number of adaptive
/// steps was unknown in advance.
struct discrete_adjoint {
  std::size_t max_checkpoints =
      0;  ///< 0: keep every step; otherwise the state budget per interval.
};

/// \brief Work done by one forward + backward pass.
struct gradient_stats {
  std::size_t forward_rhs_evals = 0;  ///< f evaluations of the forward pass.
  std::size_t forward_steps = 0;      ///< Accepted forward steps.
  std::size_t forward_rejected = 0;   ///< Rejected forward steps.
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
};

}  // namespace nde
