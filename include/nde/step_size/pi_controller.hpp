/// \file
/// \brief Adaptive step size: a PI controller on the embedded error estimate, with the
/// automatic initial step of Hairer, Nørsett & Wanner I, Sec. II.4 (their `HINIT`).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/step_size/error_norm.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>

namespace nde {

/// \brief PI step-size controller (Gustafsson 1991; Hairer & Wanner II, Sec. IV.2; the
/// controller of Hairer's DOPRI5 code).
///
/// With `err` the scaled norm of the error estimate (≤ 1 accepts the step) and
/// k = error_order + 1, the next step is `dt · clamp(safety · err^(-beta1/k) ·
/// err_prev^(beta2/k), min_factor, max_factor)`; after a rejection the step does not grow.
/// The defaults (beta1 = 0.85, beta2 = 0.2, safety 0.9, factors 0.2..10) reproduce DOPRI5's
/// `BETA = 0.04` for k = 5. A NaN or Inf in a trial step rejects it and shrinks dt by
/// `min_factor`; the solve fails with `status::non_finite` when that no longer helps.
///
/// All times are in the unit of the solve's time variable; `dt0`, `dtmin`, `dtmax` are
/// magnitudes (the sign comes from `t1 - t0`).
struct pi_controller {
  tolerance rtol = 1e-6;              ///< Relative tolerance (scalar or per component), ≥ 0.
  tolerance atol = 1e-9;              ///< Absolute tolerance (scalar or per component), ≥ 0.
  error_norm norm = error_norm::rms;  ///< Norm of the scaled error.
  custom_error_norm custom_norm{};    ///< If set, replaces `norm`.
  double safety = 0.9;                ///< Safety factor in (0, 1].
  double min_factor = 0.2;            ///< Smallest step ratio, in (0, 1].
  double max_factor = 10.0;           ///< Largest step ratio, ≥ 1.
  double beta1 = 0.85;                ///< Exponent numerator on the current error.
  double beta2 = 0.2;  ///< Exponent numerator on the previous error (0: plain I controller).
  double dt0 = 0.0;    ///< Initial step magnitude; 0 selects it automatically.
  double dtmin = 0.0;  ///< Smallest allowed step magnitude.
  double dtmax = std::numeric_limits<double>::infinity();  ///< Largest allowed step magnitude.
};

namespace detail {

/// Runtime state of a PI controller during one solve.
struct pi_state {
  double previous_error = 1e-4;  // DOPRI5 starts FACOLD at 1e-4.
  bool last_rejected = false;
};

/// Step ratio after an accepted step with scaled error `err`.
inline double pi_accept_factor(const pi_controller& c, pi_state& s, double err, int k) {
  double factor = c.max_factor;
  if (err > 0) {
    factor = c.safety * std::pow(err, -c.beta1 / k) * std::pow(s.previous_error, c.beta2 / k);
  }
  factor = std::clamp(factor, c.min_factor, c.max_factor);
  if (s.last_rejected) factor = std::min(factor, 1.0);
  s.previous_error = std::max(err, 1e-4);
  s.last_rejected = false;
  return factor;
}

/// Step ratio after a rejected step (err > 1): the integral part only, as in DOPRI5.
inline double pi_reject_factor(const pi_controller& c, pi_state& s, double err, int k) {
  s.last_rejected = true;
  return std::clamp(c.safety * std::pow(err, -c.beta1 / k), c.min_factor, 1.0);
}

/// Hairer, Nørsett & Wanner I, Sec. II.4 ("starting step size"), as in DOPRI5's HINIT:
/// h0 = 0.01 ‖y0‖/‖f0‖, one explicit Euler step to estimate ‖y''‖, then
/// h1 = (0.01 / max(‖f0‖, ‖y''‖))^(1/k), h = min(100 h0, h1). One evaluation of f;
/// `scratch_y` and `scratch_f` are caller-owned buffers sized like y0.
template <class F, time_scalar T, state State>
double initial_step(F& f, T t0, const State& y0, const State& f0, T direction, int k,
                    const pi_controller& c, State& scratch_y, State& scratch_f,
                    Eigen::MatrixXd& scratch_norm) {
  using scalar = scalar_of_t<State>;
  // The scale uses |y0| only: passing y0 twice makes max(|y0|, |y1|) = |y0|.
  const double d0 =
      scaled_error_norm(y0, y0, y0, c.rtol, c.atol, c.norm, c.custom_norm, scratch_norm);
  const double d1 =
      scaled_error_norm(f0, y0, y0, c.rtol, c.atol, c.norm, c.custom_norm, scratch_norm);
  double h0 = (d0 < 1e-10 || d1 < 1e-10) ? 1e-6 : 0.01 * d0 / d1;
  h0 = std::min(h0, c.dtmax);
  scratch_y = y0 + static_cast<scalar>(direction * static_cast<T>(h0)) * f0;
  detail::evaluate(f, static_cast<T>(t0 + direction * static_cast<T>(h0)),
                   static_cast<const State&>(scratch_y), scratch_f);
  scratch_y = scratch_f - f0;
  const double d2 =
      scaled_error_norm(scratch_y, y0, y0, c.rtol, c.atol, c.norm, c.custom_norm, scratch_norm) /
      h0;
  if (!std::isfinite(d2)) return std::max(c.dtmin, h0 * 1e-3);
  const double larger = std::max(d1, d2);
  const double h1 = larger <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / larger, 1.0 / k);
  return std::clamp(std::min(100 * h0, h1), c.dtmin, c.dtmax);
}

}  // namespace detail
}  // namespace nde
