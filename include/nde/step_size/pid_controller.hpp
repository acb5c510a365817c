/// \file
/// \brief Adaptive step size: a PID controller (Söderlind's digital filters) on the embedded
/// error estimate, with the automatic initial step of Hairer, Nørsett & Wanner I, Sec. II.4
/// (their `HINIT`), dtmin/dtmax and clipping to `step_ts` / `jump_ts`.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/step_size/controller.hpp"
#include "nde/step_size/error_norm.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace nde {

/// \brief PID step-size controller (Söderlind 2003, "Digital filters in adaptive
/// time-stepping", ACM TOMS 29(1); Gustafsson 1991; Hairer & Wanner II, Sec. IV.2).
///
/// With `err_n` the scaled norm of the error estimate of the step just tried (≤ 1 accepts it)
/// and k = error_order + 1, the next step is
/// `dt · clamp(safety · err_n^(-beta1/k) · err_{n-1}^(beta2/k) · err_{n-2}^(-beta3/k),
/// min_factor, max_factor)`; after a rejection the step does not grow, and a rejected step is
/// retried with the integral part only. beta3 = 0 is a PI controller: the defaults (beta1 =
/// 0.85, beta2 = 0.2, safety 0.9, factors 0.2..10) reproduce DOPRI5's `BETA = 0.04` for k = 5.
/// In this sign convention (beta2 is the negated exponent of the filter's second term)
/// Söderlind's H211PI filter is beta1 = 1/6, beta2 = -1/6 and his H312PID filter beta1 = 1/18,
/// beta2 = -1/9, beta3 = 1/18 (without the filters' step-ratio terms, which this controller
/// does not have).
///
/// A NaN or Inf in a trial step rejects it and shrinks dt by `min_factor`; the solve fails
/// with `status::non_finite` when that no longer helps. Steps land exactly on every `step_ts`
/// entry. A `jump_ts` entry (a known discontinuity of the vector field) ends a step at the float
/// before it and the next starts just past it with a fresh first stage, so no stage reads the
/// field at the jump itself. No step exceeds dtmax, the last one included.
///
/// All times are in the unit of the solve's time variable; `dt0`, `dtmin`, `dtmax` are
/// magnitudes (the sign comes from `t1 - t0`).
struct pid_controller {
  tolerance rtol = 1e-6;              ///< Relative tolerance (scalar or per component), ≥ 0.
  tolerance atol = 1e-9;              ///< Absolute tolerance (scalar or per component), ≥ 0.
  error_norm norm = error_norm::rms;  ///< Norm of the scaled error.
  custom_error_norm custom_norm{};    ///< If set, replaces `norm`.
  double safety = 0.9;                ///< Safety factor in (0, 1].
  double min_factor = 0.2;            ///< Smallest step ratio, in (0, 1].
  double max_factor = 10.0;           ///< Largest step ratio, ≥ 1.
  double beta1 = 0.85;                ///< Exponent numerator on the current error.
  double beta2 = 0.2;  ///< Exponent numerator on the previous error (0: an I controller).
  double beta3 = 0.0;  ///< Exponent numerator on the error before that (0: a PI controller).
  double dt0 = 0.0;    ///< Initial step magnitude; 0 selects it automatically.
  double dtmin = 0.0;  ///< Smallest allowed step magnitude.
  double dtmax = std::numeric_limits<double>::infinity();  ///< Largest allowed step magnitude.
  std::vector<double> step_ts{};  ///< Times every step sequence must land on exactly.
  std::vector<double> jump_ts{};  ///< Discontinuities of the field: land on them, no FSAL reuse.

  /// \brief Per-solve state: the error history, the next trial step, scratch buffers.
  template <time_scalar T, state State>
  struct state_type {
    T t_end{};                                      ///< t1.
    T direction{1};                                 ///< Sign of t1 - t0.
    double dt = 0;                                  ///< Magnitude of the next trial step.
    double err1 = 1e-4;                             ///< err_{n-1} (DOPRI5 starts FACOLD at 1e-4).
    double err2 = 1e-4;                             ///< err_{n-2}.
    bool last_rejected = false;                     ///< The previous trial was rejected.
    int non_finite_in_a_row = 0;                    ///< Consecutive NaN/Inf trials.
    std::size_t step_index = 0;                     ///< Next `step_ts` entry.
    std::size_t jump_index = 0;                     ///< Next `jump_ts` entry.
    Eigen::MatrixXd scaled;                         ///< Scaled error (custom norms).
    State scratch_y = detail::zero_state<State>();  ///< Initial-step heuristic.
    State scratch_f = detail::zero_state<State>();  ///< Initial-step heuristic.
  };

  /// \brief Empty if usable for states with `rows` rows on [t0, t1]; else what is wrong.
  [[nodiscard]] std::string validate(Eigen::Index rows, double t0, double t1) const {
    for (const auto* tol : {&rtol, &atol}) {
      const char* name = tol == &rtol ? "rtol" : "atol";
      if (tol->is_per_component() && tol->size() != rows)
        return detail::concatenate("pid_controller.", name, " has ", tol->size(),
                                   " components but the state has ", rows, " rows");
      if (!tol->all_finite() || tol->min() < 0)
        return detail::concatenate("pid_controller.", name, " must be finite and non-negative");
    }
    for (Eigen::Index i = 0; i < rows; ++i)
      if (!(rtol[i] > 0 || atol[i] > 0))
        return detail::concatenate("pid_controller: rtol and atol are both zero for component ", i,
                                   "; at least one must be positive");
    if (!(safety > 0 && safety <= 1)) return "pid_controller.safety must be in (0, 1]";
    if (!(min_factor > 0 && min_factor <= 1)) return "pid_controller.min_factor must be in (0, 1]";
    if (!(max_factor >= 1)) return "pid_controller.max_factor must be >= 1";
    if (!std::isfinite(beta1) || !std::isfinite(beta2) || !std::isfinite(beta3))
      return "pid_controller.beta1/beta2/beta3 must be finite";
    if (!(dt0 >= 0) || !std::isfinite(dt0))
      return "pid_controller.dt0 must be finite and >= 0 (0: automatic)";
    if (!(dtmin >= 0) || !std::isfinite(dtmin))
      return "pid_controller.dtmin must be finite and >= 0";
    if (!(dtmax > 0)) return "pid_controller.dtmax must be positive";
    if (dtmin > dtmax) return "pid_controller.dtmin must not exceed dtmax";
    const double direction = t1 >= t0 ? 1.0 : -1.0;
    if (auto p = detail::validate_clip_times(step_ts, "pid_controller.step_ts", direction);
        !p.empty())
      return p;
    return detail::validate_clip_times(jump_ts, "pid_controller.jump_ts", direction);
  }

  /// \brief A state with scratch sized like `y0`.
  template <time_scalar T, state State>
  [[nodiscard]] state_type<T, State> make_state(const State& y0) const {
    state_type<T, State> s;
    resize(s, y0);
    return s;
  }
  /// \brief Sizes the scratch like `y0` (no allocation when it already has that shape).
  template <time_scalar T, state State>
  void resize(state_type<T, State>& s, const State& y0) const {
    s.scratch_y.resize(y0.rows(), y0.cols());
    s.scratch_f.resize(y0.rows(), y0.cols());
    if (custom_norm) s.scaled.resize(y0.rows(), y0.cols());
  }

  /// \brief Starts a solve on [t0, t1]: the first trial step is `dt0`, or Hairer's HINIT
  /// (one evaluation of f through `eval`).
  template <time_scalar T, state State, class Eval>
  step_decision<T> init(state_type<T, State>& s, Eval& eval, T t0, T t1, const State& y0,
                        const State& f0, int error_order) const {
    s.t_end = t1;
    s.direction = t1 >= t0 ? T(1) : T(-1);
    s.err1 = s.err2 = 1e-4;
    s.last_rejected = false;
    s.non_finite_in_a_row = 0;
    s.step_index = s.jump_index = 0;
    s.dt = dt0 > 0 ? std::clamp(dt0, dtmin, dtmax)
                   : initial_step(s, eval, t0, y0, f0, error_order + 1);
    return propose(s, t0);
  }

  /// \brief Accepts or rejects the trial step (t0, t1) from its error estimate.
  template <time_scalar T, state State>
  step_decision<T> adapt(state_type<T, State>& s, T t0, T t1, const State& y0, const State& y1,
                         const State* error, nde::status step_status, int error_order) const {
    const int k = error_order + 1;
    double err = 0;
    if (step_status == nde::status::success && error)
      err = detail::scaled_error_norm(*error, y0, y1, rtol, atol, norm, custom_norm, s.scaled);
    const double used = std::abs(static_cast<double>(t1 - t0));
    if (step_status != nde::status::success || !std::isfinite(err)) {
      // NaN/Inf: shrink and retry, until that no longer helps.
      s.dt = used * min_factor;
      s.last_rejected = true;
      if (++s.non_finite_in_a_row > 60 || s.dt < dtmin)
        return fail<T>(nde::status::non_finite,
                       detail::concatenate("NaN or Inf in the state or vector field at t = ", t0,
                                           "; shrinking the step to ", s.dt, " did not help"));
      return retry(s, t0);
    }
    s.non_finite_in_a_row = 0;
    if (err > 1) {
      s.last_rejected = true;
      s.dt = used * std::clamp(safety * std::pow(err, -beta1 / k), min_factor, 1.0);
      if (s.dt < dtmin)
        return fail<T>(nde::status::step_size_too_small,
                       detail::concatenate("the controller asked for dt = ", s.dt,
                                           " < dtmin = ", dtmin, " at t = ", t0));
      return retry(s, t0);
    }
    double factor = max_factor;
    if (err > 0)
      factor = safety * std::pow(err, -beta1 / k) * std::pow(s.err1, beta2 / k) *
               (beta3 != 0 ? std::pow(s.err2, -beta3 / k) : 1.0);
    factor = std::clamp(factor, min_factor, max_factor);
    if (s.last_rejected) factor = std::min(factor, 1.0);
    s.err2 = s.err1;
    s.err1 = std::max(err, 1e-4);
    s.last_rejected = false;
    s.dt = std::clamp(used * factor, dtmin, dtmax);
    return propose(s, t1);
  }

  /// \brief The step magnitude the controller would try next (after the last `adapt`).
  template <time_scalar T, state State>
  [[nodiscard]] static double proposed_step(const state_type<T, State>& s) noexcept {
    return s.dt;
  }

 private:
  template <time_scalar T>
  static step_decision<T> fail(nde::status code, std::string message) {
    step_decision<T> d;
    d.accept = false;
    d.status = code;
    d.message = std::move(message);
    return d;
  }
  template <time_scalar T, state State>
  step_decision<T> too_small(const state_type<T, State>& s, T t) const {
    if (s.non_finite_in_a_row > 0)
      return fail<T>(nde::status::non_finite,
                     detail::concatenate("NaN or Inf in the state or vector field at t = ", t,
                                         "; shrinking the step to ", s.dt, " did not help"));
    return fail<T>(
        nde::status::step_size_too_small,
        detail::concatenate("step size ", s.dt, " too small at t = ", t, " (t + dt == t)"));
  }
  template <time_scalar T, state State>
  step_decision<T> retry(state_type<T, State>& s, T t0) const {
    step_decision<T> d = propose(s, t0);
    d.accept = false;
    return d;
  }
  // The next trial step from t (clipped to step_ts, jump_ts and t1).
  template <time_scalar T, state State>
  step_decision<T> propose(state_type<T, State>& s, T t) const {
    if (t != s.t_end &&
        (t + s.direction * static_cast<T>(s.dt) == t ||
         std::abs(static_cast<T>(s.dt)) <= 8 * std::numeric_limits<T>::epsilon() * std::abs(t)))
      return too_small(s, t);
    step_decision<T> d;
    d.next_t0 = t;
    detail::clip_step(t, s.dt, dtmax, s.t_end, s.direction, step_ts, s.step_index, jump_ts,
                      s.jump_index, d);
    return d;
  }

  // Hairer, Nørsett & Wanner I, Sec. II.4 ("starting step size"), as in DOPRI5's HINIT:
  // h0 = 0.01 ‖y0‖/‖f0‖, one explicit Euler step to estimate ‖y''‖, then
  // h1 = (0.01 / max(‖f0‖, ‖y''‖))^(1/k), h = min(100 h0, h1). One evaluation of f.
  template <time_scalar T, state State, class Eval>
  double initial_step(state_type<T, State>& s, Eval& eval, T t0, const State& y0, const State& f0,
                      int k) const {
    using scalar = scalar_of_t<State>;
    // The scale uses |y0| only: passing y0 twice makes max(|y0|, |y1|) = |y0|.
    const double d0 =
        detail::scaled_error_norm(y0, y0, y0, rtol, atol, norm, custom_norm, s.scaled);
    const double d1 =
        detail::scaled_error_norm(f0, y0, y0, rtol, atol, norm, custom_norm, s.scaled);
    double h0 = (d0 < 1e-10 || d1 < 1e-10) ? 1e-6 : 0.01 * d0 / d1;
    h0 = std::min(h0, dtmax);
    s.scratch_y = y0 + static_cast<scalar>(s.direction * static_cast<T>(h0)) * f0;
    eval(static_cast<T>(t0 + s.direction * static_cast<T>(h0)),
         static_cast<const State&>(s.scratch_y), s.scratch_f);
    s.scratch_y = s.scratch_f - f0;
    const double d2 =
        detail::scaled_error_norm(s.scratch_y, y0, y0, rtol, atol, norm, custom_norm, s.scaled) /
        h0;
    if (!std::isfinite(d2)) return std::max(dtmin, h0 * 1e-3);
    const double larger = std::max(d1, d2);
    const double h1 =
        larger <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / larger, 1.0 / k);
    return std::clamp(std::min(100 * h0, h1), dtmin, dtmax);
  }
};

/// \brief The PI controller is the PID controller with beta3 = 0 (its default).
using pi_controller = pid_controller;

}  // namespace nde
