/// \file
/// \brief The step-size controller contract, and the clipping to `step_ts` / `jump_ts` that
/// every controller shares.
///
/// A controller owns the tolerances, the error norm, the initial-step heuristic, dtmin/dtmax
/// and the clipping of steps to requested times. The driver only asks it two things:
///
/// | call | meaning |
/// |---|---|
/// | `validate(rows, t0, t1) -> std::string` | empty if the settings are usable for this solve, else what is wrong |
/// | `make_state(y0)` | its per-solve state (scratch sized like y0) |
/// | `init(state, eval, t0, t1, y0, f0, error_order) -> step_decision` | the first step's end; `eval(t, y, out)` evaluates the vector field (the initial-step heuristic may use it) |
/// | `adapt(state, t0, t1, y0, y1, error, step_status, error_order) -> step_decision` | accept or reject the trial step (t0, t1), and where the next step ends |
///
/// `error` is the stepper's local error estimate, or null for a method without one. A controller
/// may take a trailing `const State* secondary` in `adapt`: the stepper's second, lower-order
/// estimate (`step_result::error_secondary`, DOP853), null for other methods; the driver passes
/// it only to controllers that take it (`pid_controller` does).
/// `step_decision::next_kind` says how a step end depends on the solve's t0 and t1 (the
/// discrete adjoint differentiates the step times through it).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace nde {

/// \brief How a step boundary depends on the solve's interval: `free` boundaries sit a fixed
/// step after the previous one (they move with t0), `end` boundaries are t1 (they move with
/// t1), `fixed` boundaries are given times (`step_ts`, `jump_ts`, `fixed_times`).
enum class boundary_kind : unsigned char { free, end, fixed };

/// \brief What a controller decides after a trial step (or at the start).
template <time_scalar T>
struct step_decision {
  bool accept = true;  ///< Keep the trial step.
  T next_t0{};  ///< Where the next step starts: the accepted step's end, or just past a jump.
  T next_t1{};  ///< Where the next (or retried) step ends.
  boundary_kind next_kind = boundary_kind::free;  ///< How `next_t1` depends on (t0, t1).
  bool jump = false;  ///< The accepted step ended on a discontinuity: re-evaluate f, no FSAL reuse.
  nde::status status = nde::status::success;  ///< Not success: the solve stops with it.
  std::string message;  ///< Why, when `status` is not success; from `init`, a note otherwise.
};

namespace detail {

/// `a` comes strictly before `b` in the direction of integration (`direction` = ±1).
template <class X>
constexpr bool before(X a, X b, X direction) {
  return direction > 0 ? a < b : a > b;
}

/// The first entry of `times` strictly after `t` (in the direction of integration), from
/// `index` on (`index` is advanced past the entries already behind t); NaN if none.
inline double next_clip_time(const std::vector<double>& times, std::size_t& index, double t,
                             double direction) {
  while (index < times.size() && !before(t, times[index], direction)) ++index;
  return index < times.size() ? times[index] : std::numeric_limits<double>::quiet_NaN();
}

/// Where the next step starts after a step that ended just before a `jump_ts` entry (at the
/// float before it): just past the jump, so that no stage ever reads the field at the jump
/// itself, from whichever side the field defines it (as Diffrax's `jump_ts`).
template <time_scalar T>
T restart_after_jump(T step_end, T direction) {
  const T jump = std::nextafter(step_end, step_end + direction);
  return std::nextafter(jump, jump + direction);
}

/// Clips a proposed step end to the next `step_ts` / `jump_ts` entry and to t1: the one place
/// a step is made to land exactly on a requested time. A proposal within 1 % of a step of a
/// target lands on it (as DOPRI5 avoids a sliver of a step before t1), unless that would exceed
/// `dt_limit`. A step towards a `jump_ts` entry ends at the float before it.
template <time_scalar T>
void clip_step(T t, double dt, double dt_limit, T t_end, T direction,
               const std::vector<double>& step_ts, std::size_t& step_index,
               const std::vector<double>& jump_ts, std::size_t& jump_index, step_decision<T>& d) {
  const T trial = t + direction * static_cast<T>(dt);
  const T reach = t + direction * static_cast<T>(std::max(dt, std::min(1.01 * dt, dt_limit)));
  d.next_t1 = trial;
  d.next_kind = boundary_kind::free;
  d.jump = false;
  const double s =
      next_clip_time(step_ts, step_index, static_cast<double>(t), static_cast<double>(direction));
  // A jump whose preceding float is not ahead of t has been reached already.
  const double j =
      next_clip_time(jump_ts, jump_index, static_cast<double>(std::nextafter(t, t + direction)),
                     static_cast<double>(direction));
  // The nearer of the two targets ahead, if the proposal reaches it.
  double target = s;
  if (std::isnan(target) ||
      (!std::isnan(j) && before(static_cast<T>(j), static_cast<T>(target), direction)))
    target = j;
  const bool clipped = !std::isnan(target) && !before(reach, static_cast<T>(target), direction) &&
                       before(static_cast<T>(target), t_end, direction);
  if (clipped) {
    d.jump = target == j;
    d.next_t1 = static_cast<T>(target);
    if (d.jump) d.next_t1 = std::nextafter(d.next_t1, t);
    d.next_kind = boundary_kind::fixed;
  } else if (!before(reach, t_end, direction)) {
    d.next_t1 = t_end;
    d.next_kind = boundary_kind::end;
  }
}

/// The decision of a step policy that cannot shrink its steps (constant step, fixed times)
/// when a step failed: NaN or Inf (`non_finite`), or an implicit method's Newton iteration that
/// did not converge (`not_converged`, kept as the solve's status).
template <time_scalar T>
step_decision<T> cannot_shrink(T t0, T t1, const char* policy,
                               nde::status step_status = nde::status::non_finite) {
  step_decision<T> d;
  d.accept = false;
  d.status = step_status == nde::status::not_converged ? step_status : nde::status::non_finite;
  d.message = (d.status == nde::status::not_converged
                   ? "the implicit method's step failed (Newton did not converge or I - h*gamma*J "
                     "was singular) in the step from t = "
                   : "NaN or Inf in the state or vector field in the step from t = ") +
              full_precision(t0) + " to " + full_precision(t1) + " (" + policy + ": cannot shrink)";
  return d;
}

/// Validates a list of times to clip to: finite and strictly monotone in the direction of
/// integration. Returns the problem, or an empty string.
inline std::string validate_clip_times(const std::vector<double>& times, const char* name,
                                       double direction) {
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (!std::isfinite(times[i]))
      return std::string(name) + "[" + std::to_string(i) + "] is not finite";
    if (i > 0 && !before(times[i - 1], times[i], direction))
      return std::string(name) + " must be strictly monotone in the direction of integration";
  }
  return {};
}

}  // namespace detail
}  // namespace nde
