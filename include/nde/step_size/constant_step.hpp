/// \file
/// \brief Constant step size: the steps are t0 + i·dt (computed, never accumulated), the
/// last one clipped to land exactly on t1.
#pragma once

namespace nde {

/// \brief Fixed step size policy.
///
/// `dt` is a magnitude (> 0); the direction of integration comes from `t1 - t0`. The number
/// of steps is ⌈|t1 - t0| / dt⌉, with a relative slack of 1e-10 so that, e.g., dt = 0.1 over
/// [0, 1] gives 10 steps, not 11. A NaN or Inf in a step is a failure (`status::non_finite`):
/// there is no step size to shrink.
struct constant_step {
  double dt = 0.0;  ///< Step magnitude, same unit as time; must be positive and finite.
};

}  // namespace nde
