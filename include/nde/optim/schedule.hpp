/// \file
/// \brief Learning-rate schedules: pure functions of the step index, in closed form.
///
/// Every schedule is a small value type with `Scalar operator()(std::int64_t step)`
/// (step 0 is the first optimiser step). Closed forms, never a running product, so
/// the rate at step 10^6 carries no accumulated rounding and any step can be
/// queried in any order. Use as
/// `optimiser.set_learning_rate(schedule(step))` before each `optimiser.step(...)`.
///
/// Formulas match PyTorch's `StepLR`, `CosineAnnealingLR` (closed form from
/// Loshchilov & Hutter 2017, SGDR, arXiv:1608.03983, eq. 5, without restarts) and
/// `LinearLR` chained with `SequentialLR` for warmup (Goyal et al. 2017,
/// arXiv:1706.02677).
#pragma once

#include "nde/core/status.hpp"

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

namespace nde::optim {

/// \brief Constant rate: \f$\gamma(t) = \gamma_0\f$.
template <class Scalar = double>
struct constant_schedule {
  Scalar base;  ///< \f$\gamma_0\f$.
  /// \brief Rate at `step` (any step).
  [[nodiscard]] Scalar operator()(std::int64_t /*step*/) const noexcept { return base; }
};

/// \brief Step decay: \f$\gamma(t) = \gamma_0 \cdot g^{\lfloor t / s \rfloor}\f$ (PyTorch `StepLR`).
template <class Scalar = double>
struct step_schedule {
  Scalar base;                 ///< \f$\gamma_0\f$.
  std::int64_t step_size = 1;  ///< \f$s\f$, steps between decays (> 0).
  Scalar gamma = Scalar(0.1);  ///< \f$g\f$, multiplicative factor per decay.

  /// \brief Rate at `step` (negative steps are treated as 0).
  /// \throws nde::error (`invalid_input`) if `step_size <= 0`.
  [[nodiscard]] Scalar operator()(std::int64_t step) const {
    if (step_size <= 0)
      throw error(status::invalid_input, "step_schedule: step_size must be positive");
    const auto decays = step < 0 ? 0 : step / step_size;
    return base * static_cast<Scalar>(
                      std::pow(static_cast<long double>(gamma), static_cast<long double>(decays)));
  }
};

/// \brief Cosine annealing from \f$\gamma_0\f$ to \f$\gamma_{min}\f$ over \f$T\f$ steps:
/// \f$\gamma(t) = \gamma_{min} + \tfrac12(\gamma_0-\gamma_{min})(1+\cos(\pi t/T))\f$.
///
/// For \f$t \ge T\f$ the rate stays at \f$\gamma_{min}\f$ (like optax's
/// `cosine_decay_schedule`; PyTorch's closed form would rise again, an SGDR restart
/// without the jump, which is rarely what one wants).
template <class Scalar = double>
struct cosine_schedule {
  Scalar base;                   ///< \f$\gamma_0\f$.
  std::int64_t total_steps = 1;  ///< \f$T > 0\f$.
  Scalar minimum = Scalar(0);    ///< \f$\gamma_{min}\f$.

  /// \brief Rate at `step`.
  /// \throws nde::error (`invalid_input`) if `total_steps <= 0`.
  [[nodiscard]] Scalar operator()(std::int64_t step) const {
    if (total_steps <= 0)
      throw error(status::invalid_input, "cosine_schedule: total_steps must be positive");
    if (step <= 0) return base;
    if (step >= total_steps) return minimum;
    const double phase =
        std::numbers::pi * static_cast<double>(step) / static_cast<double>(total_steps);
    return minimum + (base - minimum) * static_cast<Scalar>(0.5 * (1.0 + std::cos(phase)));
  }
};

/// \brief Linear warmup in front of another schedule.
///
/// For \f$t < W\f$: \f$\gamma(t) = \gamma_{after}(0)\,\bigl(f_0 + (1-f_0)\,t/W\bigr)\f$, i.e.
/// the rate ramps linearly from \f$f_0\gamma_{after}(0)\f$ towards \f$\gamma_{after}(0)\f$;
/// afterwards \f$\gamma(t) = \gamma_{after}(t - W)\f$, so the wrapped schedule starts its
/// own step 0 when the warmup ends (PyTorch `SequentialLR([LinearLR, after], [W])`).
///
/// \tparam After any schedule (a callable `Scalar(std::int64_t)`).
template <class After>
struct warmup_schedule {
  After after;                    ///< Schedule used after the warmup.
  std::int64_t warmup_steps = 0;  ///< \f$W \ge 0\f$ (0: no warmup).
  double start_factor = 0.0;      ///< \f$f_0 \in [0, 1]\f$.

  /// \brief Rate at `step`.
  /// \throws nde::error (`invalid_input`) for negative `warmup_steps` or `start_factor` outside [0, 1].
  [[nodiscard]] auto operator()(std::int64_t step) const {
    if (warmup_steps < 0)
      throw error(status::invalid_input, "warmup_schedule: warmup_steps must be >= 0");
    if (!(start_factor >= 0.0 && start_factor <= 1.0))
      throw error(status::invalid_input, "warmup_schedule: start_factor must lie in [0, 1]");
    using scalar = decltype(after(step));
    if (step >= warmup_steps) return after(step - warmup_steps);
    const double fraction =
        step <= 0 ? 0.0 : static_cast<double>(step) / static_cast<double>(warmup_steps);
    return after(0) * static_cast<scalar>(start_factor + (1.0 - start_factor) * fraction);
  }
};

}  // namespace nde::optim
