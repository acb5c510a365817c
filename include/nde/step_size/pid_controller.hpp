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
#include <type_traits>
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
/// With a secondary estimate e₂ (DOP853's 3rd-order one next to its 5th-order e), err_n is
/// DOP853's combination ‖e‖² / √(‖e‖² + 0.01 ‖e₂‖²) of the two scaled norms (Hairer, Nørsett &
/// Wanner I, Sec. II.10 and `dop853.f`; with the rms norm it is that code's formula exactly, and
/// the same combination is applied to the max or a custom norm).
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
    double rtol_floor = 0;  ///< 100 ε of the state's scalar: no rtol is used below it.
  };

  /// \brief The smallest relative tolerance used for states of scalar `Scalar`: 100 ε (as
  /// SciPy's `solve_ivp` and MATLAB's `ode45` do). Below it the error estimate is rounding
  /// noise and the controller takes ever more steps without gaining accuracy; a smaller rtol
  /// is raised to it, and the solve's message says so.
  template <class Scalar>
  [[nodiscard]] static constexpr double rtol_floor_for() noexcept {
    if constexpr (std::is_floating_point_v<Scalar>) {
      return 100 * static_cast<double>(std::numeric_limits<Scalar>::epsilon());
    } else {
      return 0.0;
    }
  }

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
    if (!(max_factor >= 1) || !std::isfinite(max_factor))
      return "pid_controller.max_factor must be finite and >= 1";
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
  /// (one evaluation of f through `eval`, inside [t0, t1]), never longer than |t1 - t0|. A
  /// successful decision's `message` notes an rtol raised to `rtol_floor_for<scalar>()`.
  template <time_scalar T, state State, class Eval>
  step_decision<T> init(state_type<T, State>& s, Eval& eval, T t0, T t1, const State& y0,
                        const State& f0, int error_order) const {
    s.t_end = t1;
    s.direction = t1 >= t0 ? T(1) : T(-1);
    s.err1 = s.err2 = 1e-4;
    s.last_rejected = false;
    s.non_finite_in_a_row = 0;
    s.step_index = s.jump_index = 0;
    s.rtol_floor = rtol_floor_for<scalar_of_t<State>>();
    const double span = std::abs(static_cast<double>(t1) - static_cast<double>(t0));
    std::string problem;
    s.dt = dt0 > 0 ? std::clamp(dt0, dtmin, dtmax)
                   : initial_step(s, eval, t0, span, y0, f0, error_order + 1, problem);
    if (!problem.empty()) return fail<T>(nde::status::invalid_input, std::move(problem));
    step_decision<T> d = propose(s, t0);
    if (d.status == nde::status::success && rtol.min() < s.rtol_floor) {
      Eigen::Index where = 0;
      while (rtol[where] >= s.rtol_floor) ++where;
      d.message = detail::concatenate(
          "note: pid_controller.rtol", rtol.is_per_component() ? "[" : "",
          rtol.is_per_component() ? std::to_string(where) + "]" : std::string(), " = ", rtol[where],
          " was raised to ", s.rtol_floor,
          " (100 × the epsilon of the state's scalar; smaller tolerances only add steps)");
    }
    return d;
  }

  /// \brief Accepts or rejects the trial step (t0, t1) from its error estimate (and the
  /// stepper's secondary estimate, when it has one: see the class comment).
  template <time_scalar T, state State>
  step_decision<T> adapt(state_type<T, State>& s, T t0, T t1, const State& y0, const State& y1,
                         const State* error, nde::status step_status, int error_order,
                         const State* secondary = nullptr) const {
    const int k = error_order + 1;
    double err = 0;
    if (step_status == nde::status::success && error)
      err = detail::scaled_error_norm(*error, y0, y1, rtol, atol, norm, custom_norm, s.scaled,
                                      s.rtol_floor);
    if (step_status == nde::status::success && error && secondary &&
        err != detail::bad_custom_norm) {
      const double low = detail::scaled_error_norm(*secondary, y0, y1, rtol, atol, norm,
                                                   custom_norm, s.scaled, s.rtol_floor);
      // dop853.f: DENO = ERR + 0.01 ERR2, ERR = ERR/√DENO (on sums of squares; 0 when both are).
      if (low == detail::bad_custom_norm)
        err = low;
      else if (err > 0)
        err = err * err / std::sqrt(err * err + 0.01 * low * low);
    }
    if (err == detail::bad_custom_norm)
      return fail<T>(nde::status::invalid_input,
                     detail::concatenate("pid_controller.custom_norm returned NaN or a negative "
                                         "number for the finite scaled error of the step from t = ",
                                         t0, " (it must return a number >= 0)"));
    const double used = std::abs(static_cast<double>(t1 - t0));
    if (step_status == nde::status::not_converged) {
      // An implicit method's Newton iteration failed: halve the step (Hairer & Wanner IV.8)
      // and retry, until that no longer helps.
      s.dt = used / 2;
      s.last_rejected = true;
      if (++s.non_finite_in_a_row > 60 || s.dt < dtmin)
        return fail<T>(nde::status::not_converged,
                       detail::concatenate("the implicit method's step failed at t = ", t0,
                                           " (its Newton iteration did not converge or its "
                                           "iteration matrix I - h*gamma*J was singular); "
                                           "shrinking the step to ",
                                           s.dt, " did not help"));
      return retry(s, t0);
    }
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
  // h1 = (0.01 / max(‖f0‖, ‖y''‖))^(1/k), h = min(100 h0, h1). One evaluation of f, at
  // t0 + h0 with h0 ≤ |t1 - t0|. Overflowing norms (a tiny atol where y0 has zeros) fall back to
  // small positive steps instead of 0 or NaN; a custom norm returning NaN is reported.
  template <time_scalar T, state State, class Eval>
  double initial_step(state_type<T, State>& s, Eval& eval, T t0, double span, const State& y0,
                      const State& f0, int k, std::string& problem) const {
    using scalar = scalar_of_t<State>;
    const double cap = std::min(dtmax, span);
    // (not std::clamp: the span may be shorter than dtmin)
    auto bound = [&](double h) { return std::min(std::max(h, dtmin), cap); };
    auto norm_of = [&](const State& v) {
      // The scale uses |y0| only: passing y0 twice makes max(|y0|, |y1|) = |y0|.
      return detail::scaled_error_norm(v, y0, y0, rtol, atol, norm, custom_norm, s.scaled,
                                       s.rtol_floor);
    };
    const double d0 = norm_of(y0);
    const double d1 = norm_of(f0);
    if (d0 == detail::bad_custom_norm || d1 == detail::bad_custom_norm) {
      problem = detail::concatenate(
          "pid_controller.custom_norm returned NaN or a negative number for the scaled ",
          d0 == detail::bad_custom_norm ? "y0" : "f(t0, y0)",
          " in the initial-step heuristic (it must return a number >= 0)");
      return 0;
    }
    double h0 = (d0 < 1e-10 || d1 < 1e-10) ? 1e-6 : 0.01 * d0 / d1;
    if (!(h0 > 0) || !std::isfinite(h0)) h0 = 1e-6;  // ‖f0‖ (or ‖y0‖) overflowed
    h0 = std::min(h0, cap);
    s.scratch_y = y0 + static_cast<scalar>(s.direction * static_cast<T>(h0)) * f0;
    eval(static_cast<T>(t0 + s.direction * static_cast<T>(h0)),
         static_cast<const State&>(s.scratch_y), s.scratch_f);
    s.scratch_y = s.scratch_f - f0;
    const double d2_raw = norm_of(s.scratch_y);
    if (d2_raw == detail::bad_custom_norm) {
      problem =
          "pid_controller.custom_norm returned NaN or a negative number for the scaled estimate "
          "of y'' in the initial-step heuristic (it must return a number >= 0)";
      return 0;
    }
    const double d2 = d2_raw / h0;
    const double fallback = bound(h0 * 1e-3);
    if (!std::isfinite(d2)) return fallback;
    const double larger = std::max(d1, d2);
    double h1 = larger <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / larger, 1.0 / k);
    if (!(h1 > 0)) return fallback;
    return bound(std::min(100 * h0, h1));
  }
};

/// \brief The PI controller is the PID controller with beta3 = 0 (its default).
using pi_controller = pid_controller;

}  // namespace nde
