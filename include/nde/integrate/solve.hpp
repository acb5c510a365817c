/// \file
/// \brief The solve driver: `nde::solve(f, stepper, t0, t1, y0, options)`.
///
/// \code
/// auto sol = nde::solve(f, nde::dopri5{}, 0.0, 1.0, y0,
///                       {.save_at = nde::save_at::times({0.1, 0.5, 1.0}),
///                        .controller = nde::pi_controller{.rtol = 1e-6, .atol = 1e-9},
///                        .max_steps = 100000});
/// // sol.ts, sol.ys, sol.stats.{rhs_evals, accepted_steps, rejected_steps}, sol.status, sol.message
/// \endcode
///
/// To solve repeatedly without allocating, keep an `integrator` (it owns the workspace) and a
/// `solution` (its `ts`/`ys` are reused): once they have the right sizes, the stepping loop
/// allocates nothing, for dynamic sizes too, when outputs are `save_at` t0/t1/`ts` (their
/// number is known in advance) and `dense`, `record_steps` and `save_at.steps` are off (those
/// grow vectors by design). `tests/integrate/test_no_malloc.cpp` checks this.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/integrate/save_at.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/step_size/constant_step.hpp"
#include "nde/step_size/error_norm.hpp"
#include "nde/step_size/fixed_times.hpp"
#include "nde/step_size/pi_controller.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace nde {

/// \brief The step-size policy of a solve: adaptive (`pi_controller`), `constant_step`, or
/// `fixed_times` (step exactly between given times).
using step_size_controller = std::variant<pi_controller, constant_step, fixed_times>;

/// \brief Options of `solve`; an aggregate for designated initialisers.
///
/// Times in the options are `double` whatever the solve's time type.
struct solve_options {
  nde::save_at save_at{};                             ///< Output times (default: t1 only).
  step_size_controller controller = pi_controller{};  ///< Step-size policy (default: adaptive).
  std::int64_t max_steps = 100000;  ///< Budget of attempted (accepted + rejected) steps.
  bool record_steps = false;  ///< Fill `solution::step_times` (t0 and each accepted step end).
  bool dense = false;         ///< Fill `solution::dense`.
};

/// \brief Concept of what `solve` needs from a stepper (every `explicit_rk<Tableau>` has it).
template <class Stepper, class State>
concept stepper = state<State> && requires(const Stepper& s, const State& y) {
  { Stepper::order } -> std::convertible_to<int>;
  { Stepper::adaptive } -> std::convertible_to<bool>;
  { Stepper::fsal } -> std::convertible_to<bool>;
  { Stepper::dense_degree } -> std::convertible_to<int>;
  s.make_workspace(y);
};

namespace detail {

template <class... Parts>
std::string concatenate(const Parts&... parts) {
  std::ostringstream stream;
  stream.precision(17);
  (stream << ... << parts);
  return stream.str();
}

inline std::string validate_pi(const pi_controller& c, Eigen::Index rows) {
  for (const auto* tol : {&c.rtol, &c.atol}) {
    const char* name = tol == &c.rtol ? "rtol" : "atol";
    if (tol->is_per_component() && tol->size() != rows)
      return concatenate("pi_controller.", name, " has ", tol->size(),
                         " components but the state has ", rows, " rows");
    if (!tol->all_finite() || tol->min() < 0)
      return concatenate("pi_controller.", name, " must be finite and non-negative");
  }
  for (Eigen::Index i = 0; i < rows; ++i)
    if (!(c.rtol[i] > 0 || c.atol[i] > 0))
      return concatenate("pi_controller: rtol and atol are both zero for component ", i,
                         "; at least one must be positive");
  if (!(c.safety > 0 && c.safety <= 1)) return "pi_controller.safety must be in (0, 1]";
  if (!(c.min_factor > 0 && c.min_factor <= 1)) return "pi_controller.min_factor must be in (0, 1]";
  if (!(c.max_factor >= 1)) return "pi_controller.max_factor must be >= 1";
  if (!std::isfinite(c.beta1) || !std::isfinite(c.beta2))
    return "pi_controller.beta1/beta2 must be finite";
  if (!(c.dt0 >= 0) || !std::isfinite(c.dt0))
    return "pi_controller.dt0 must be finite and >= 0 (0: automatic)";
  if (!(c.dtmin >= 0) || !std::isfinite(c.dtmin))
    return "pi_controller.dtmin must be finite and >= 0";
  if (!(c.dtmax > 0)) return "pi_controller.dtmax must be positive";
  if (c.dtmin > c.dtmax) return "pi_controller.dtmin must not exceed dtmax";
  return {};
}

}  // namespace detail

/// \brief Reusable solver for one stepper and state type: owns the workspace, so repeated
/// solves with the same state shape allocate nothing inside the stepping loop.
/// \tparam Stepper e.g. `nde::dopri5`. \tparam State state type. \tparam T time scalar.
template <class Stepper, state State, time_scalar T = double>
requires stepper<Stepper, State>
class integrator {
 public:
  /// \brief The stepper's workspace for `State` (stages, error estimate).
  using workspace_type =
      decltype(std::declval<const Stepper&>().make_workspace(std::declval<const State&>()));
  /// \brief What `solve` fills: saved states, status and optional dense output.
  using solution_type = solution<T, State>;

  /// \brief Builds the workspace for states shaped like `like`.
  explicit integrator(Stepper method = {}, const State& like = detail::zero_state<State>())
      : m_stepper(std::move(method)), m_workspace(m_stepper.make_workspace(like)) {
    reshape(like);
  }

  /// \brief The stepper.
  [[nodiscard]] const Stepper& method() const noexcept { return m_stepper; }
  /// \brief The stepper's workspace (stage derivatives of the last step, etc.).
  [[nodiscard]] const workspace_type& workspace() const noexcept { return m_workspace; }
  /// \brief The step size the PI controller proposed after the last accepted step of the last
  /// adaptive solve (a magnitude; 0 before any adaptive step). Seeds `dt0` of a solve that
  /// continues where this one ended, without the initial-step heuristic.
  [[nodiscard]] double proposed_step() const noexcept { return m_proposed_step; }

  /// \brief Solves y' = f(t, y), y(t0) = y0 from t0 to t1 into `out` (its storage is reused).
  /// \return `out.status`.
  template <class F>
  nde::status solve(F& f, T t0, T t1, const State& y0, const solve_options& options,
                    solution_type& out) {
    out.status = nde::status::success;
    out.message.clear();
    out.stats = {};
    out.step_times.clear();
    out.dense.clear();
    m_outputs = 0;
    m_next_save = 0;
    m_proposed_step = 0;
    const nde::status result = run(f, t0, t1, y0, options, out);
    out.ts.resize(m_outputs);
    out.ys.resize(m_outputs);
    return result;
  }

 private:
  static constexpr int dense_terms = Stepper::dense_degree + 1;
  static constexpr int controller_exponent = Stepper::adaptive ? Stepper::error_order + 1 : 1;

  void reshape(const State& like) {
    if (m_y.rows() == like.rows() && m_y.cols() == like.cols() &&
        m_workspace.k[0].rows() == like.rows() && m_workspace.k[0].cols() == like.cols())
      return;
    m_stepper.resize(m_workspace, like);
    m_y.setZero(like.rows(), like.cols());
    m_y_next.setZero(like.rows(), like.cols());
    for (auto& c : m_dense) c.setZero(like.rows(), like.cols());
  }

  nde::status fail(solution_type& out, nde::status code, std::string message) {
    out.status = code;
    out.message = std::move(message);
    return code;
  }

  State& output_slot(solution_type& out, T t) {
    if (m_outputs < out.ys.size()) {
      out.ts[m_outputs] = t;
      return out.ys[m_outputs++];
    }
    out.ts.push_back(t);
    out.ys.push_back(m_y);
    ++m_outputs;
    return out.ys.back();
  }

  static bool before(T a, T b, T direction) { return direction > 0 ? a < b : a > b; }

  template <class F>
  nde::status run(F& user_field, T t0, T t1, const State& y0, const solve_options& options,
                  solution_type& out) {
    std::size_t evaluations = 0;
    auto f = [&user_field, &evaluations](T t, const State& y, State& dydt) {
      ++evaluations;
      detail::evaluate(user_field, t, y, dydt);
    };
    struct count_guard {
      std::size_t& from;
      solve_stats& into;
      ~count_guard() { into.rhs_evals = from; }
    } guard{evaluations, out.stats};

    // ---- validation (invalid_input) --------------------------------------------------
    if (!std::isfinite(t0) || !std::isfinite(t1))
      return fail(out, nde::status::invalid_input,
                  detail::concatenate("t0 and t1 must be finite (t0 = ", t0, ", t1 = ", t1, ")"));
    if (options.max_steps <= 0)
      return fail(out, nde::status::invalid_input, "max_steps must be positive");
    const T direction = t1 >= t0 ? T(1) : T(-1);
    const auto& save = options.save_at;
    for (std::size_t i = 0; i < save.ts.size(); ++i) {
      const T t = static_cast<T>(save.ts[i]);
      if (!std::isfinite(save.ts[i]))
        return fail(out, nde::status::invalid_input,
                    detail::concatenate("save_at.ts[", i, "] is not finite"));
      if (before(t, t0, direction) || before(t1, t, direction))
        return fail(out, nde::status::invalid_input,
                    detail::concatenate("save_at.ts[", i, "] = ", save.ts[i],
                                        " lies outside [t0, t1] = [", t0, ", ", t1, "]"));
      if (i > 0 && !before(static_cast<T>(save.ts[i - 1]), t, direction))
        return fail(out, nde::status::invalid_input,
                    detail::concatenate("save_at.ts must be strictly ",
                                        direction > 0 ? "increasing" : "decreasing",
                                        " (in the direction of integration); ts[", i - 1,
                                        "] = ", save.ts[i - 1], ", ts[", i, "] = ", save.ts[i]));
    }
    if (!save.t0 && !save.t1 && !save.steps && save.ts.empty() && !options.dense &&
        !options.record_steps)
      return fail(out, nde::status::invalid_input,
                  "save_at requests no output (and neither dense nor record_steps is set)");

    const auto* adaptive = std::get_if<pi_controller>(&options.controller);
    const auto* constant = std::get_if<constant_step>(&options.controller);
    const auto* fixed = std::get_if<fixed_times>(&options.controller);
    if (adaptive) {
      if constexpr (!Stepper::adaptive) {
        return fail(out, nde::status::invalid_input,
                    "pi_controller needs a method with an embedded error estimate (heun, bosh3, "
                    "dopri5, tsit5); "
                    "use constant_step or fixed_times with this method");
      }
      if (auto problem = detail::validate_pi(*adaptive, y0.rows()); !problem.empty())
        return fail(out, nde::status::invalid_input, problem);
      if (adaptive->custom_norm) m_scaled.resize(y0.rows(), y0.cols());
    }
    double constant_count = 0;
    if (constant) {
      if (!(constant->dt > 0) || !std::isfinite(constant->dt))
        return fail(out, nde::status::invalid_input,
                    detail::concatenate("constant_step.dt must be positive and finite (got ",
                                        constant->dt, "); the direction comes from t1 - t0"));
      const double ratio =
          std::abs(static_cast<double>(t1) - static_cast<double>(t0)) / constant->dt;
      const double nearest = std::round(ratio);
      constant_count =
          std::abs(ratio - nearest) <= 1e-10 * std::max(1.0, ratio) ? nearest : std::ceil(ratio);
    }
    if (fixed) {
      const auto& times = fixed->times;
      if (times.empty() || static_cast<T>(times.front()) != t0 ||
          static_cast<T>(times.back()) != t1)
        return fail(out, nde::status::invalid_input,
                    "fixed_times.times must start at t0 and end at t1");
      for (std::size_t i = 1; i < times.size(); ++i)
        if (!std::isfinite(times[i]) ||
            !before(static_cast<T>(times[i - 1]), static_cast<T>(times[i]), direction))
          return fail(out, nde::status::invalid_input,
                      detail::concatenate(
                          "fixed_times.times must be finite and strictly monotone from t0 to t1; "
                          "times[",
                          i - 1, "] = ", times[i - 1], ", times[", i, "] = ", times[i]));
    }

    // ---- workspace and outputs ----------------------------------------------------------
    reshape(y0);
    m_y = y0;
    if (!save.steps) {
      const std::size_t count = (save.t0 ? 1 : 0) + save.ts.size() + (save.t1 ? 1 : 0);
      out.ts.resize(count);
      if (out.ys.size() != count) out.ys.resize(count, y0);
      for (auto& y : out.ys) y.resize(y0.rows(), y0.cols());
    }
    if (options.dense) out.dense.start(t0, y0, Stepper::dense_degree);
    if (options.record_steps) out.step_times.push_back(t0);

    if (!y0.allFinite()) return fail(out, nde::status::non_finite, "y0 contains NaN or Inf");
    if (save.t0 || save.steps) output_slot(out, t0) = y0;
    while (m_next_save < save.ts.size() && static_cast<T>(save.ts[m_next_save]) == t0) {
      output_slot(out, t0) = y0;
      ++m_next_save;
    }
    if (t0 == t1) {
      if (fixed && fixed->times.size() > 1)
        return fail(out, nde::status::invalid_input,
                    "t0 == t1 but fixed_times lists more than one time");
      if (save.t1 && !save.steps) output_slot(out, t1) = y0;
      return nde::status::success;
    }

    if (m_stepper.init(f, t0, m_y, m_workspace) != nde::status::success) {
      if (m_workspace.k[0].rows() != y0.rows() || m_workspace.k[0].cols() != y0.cols())
        return fail(out, nde::status::invalid_input, "the vector field changed the size of dydt");
      return fail(out, nde::status::non_finite,
                  detail::concatenate("f(t0, y0) contains NaN or Inf at t0 = ", t0));
    }
    if (m_workspace.k[0].rows() != y0.rows() || m_workspace.k[0].cols() != y0.cols())
      return fail(out, nde::status::invalid_input,
                  detail::concatenate("the vector field wrote a derivative of size ",
                                      m_workspace.k[0].rows(), "x", m_workspace.k[0].cols(),
                                      " for a state of size ", y0.rows(), "x", y0.cols()));

    // ---- step-size state -------------------------------------------------------------
    detail::pi_state pi{};
    double dt = 0;  // adaptive: magnitude of the next trial step
    if (adaptive) {
      dt = adaptive->dt0 > 0
               ? std::clamp(adaptive->dt0, adaptive->dtmin, adaptive->dtmax)
               : detail::initial_step(f, t0, m_y, m_workspace.k[0], direction, controller_exponent,
                                      *adaptive, m_workspace.stage, m_y_next, m_scaled);
    }
    std::size_t step_index = 0;  // constant / fixed: index of the step being taken
    int non_finite_in_a_row = 0;

    T t = t0;
    std::int64_t attempts = 0;
    while (t != t1) {
      if (attempts >= options.max_steps)
        return fail(
            out, nde::status::max_steps_reached,
            detail::concatenate("max_steps = ", options.max_steps,
                                " attempted steps reached at t = ", t, " before t1 = ", t1));
      ++attempts;

      T t_next;
      if (adaptive) {
        const T trial = t + direction * static_cast<T>(dt);
        if (trial == t ||
            std::abs(static_cast<T>(dt)) <= 8 * std::numeric_limits<T>::epsilon() * std::abs(t)) {
          if (non_finite_in_a_row > 0)
            return fail(out, nde::status::non_finite,
                        detail::concatenate("NaN or Inf in the state or vector field at t = ", t,
                                            "; shrinking the step to ", dt, " did not help"));
          return fail(
              out, nde::status::step_size_too_small,
              detail::concatenate("step size ", dt, " too small at t = ", t, " (t + dt == t)"));
        }
        // Land exactly on t1; avoid leaving a sliver under 1 % of a step (as DOPRI5).
        t_next = before(t + direction * static_cast<T>(1.01 * dt), t1, direction) ? trial : t1;
      } else if (constant) {
        const double next = static_cast<double>(step_index + 1);
        t_next = next >= constant_count ? t1 : t0 + direction * static_cast<T>(next * constant->dt);
      } else {
        t_next = static_cast<T>(fixed->times[step_index + 1]);
      }

      nde::status step_status = m_stepper.step(f, t, t_next, m_y, m_y_next, m_workspace);
      double err = 0;
      if (adaptive && step_status == nde::status::success) {
        if constexpr (Stepper::adaptive) {
          err = detail::scaled_error_norm(m_workspace.y_error, m_y, m_y_next, adaptive->rtol,
                                          adaptive->atol, adaptive->norm, adaptive->custom_norm,
                                          m_scaled);
        }
        if (!std::isfinite(err)) step_status = nde::status::non_finite;
      }
      const bool pending_interior = m_next_save < save.ts.size() &&
                                    before(static_cast<T>(save.ts[m_next_save]), t_next, direction);
      const bool need_dense = options.dense || pending_interior;
      bool have_end = Stepper::fsal;
      if (step_status == nde::status::success && err <= 1 && !Stepper::fsal &&
          (t_next != t1 || need_dense)) {
        step_status = m_stepper.evaluate_end(f, t_next, m_y_next, m_workspace);
        have_end = true;
      }

      if (step_status != nde::status::success) {
        ++out.stats.rejected_steps;
        if (!adaptive)
          return fail(out, nde::status::non_finite,
                      detail::concatenate(
                          "NaN or Inf in the state or vector field in the step from t = ", t,
                          " to ", t_next, " (constant step: cannot shrink)"));
        dt *= adaptive->min_factor;
        pi.last_rejected = true;
        if (++non_finite_in_a_row > 60 || dt < adaptive->dtmin)
          return fail(out, nde::status::non_finite,
                      detail::concatenate("NaN or Inf in the state or vector field at t = ", t,
                                          "; shrinking the step to ", dt, " did not help"));
        continue;
      }
      non_finite_in_a_row = 0;
      const double used = std::abs(static_cast<double>(t_next - t));
      if (adaptive && err > 1) {
        ++out.stats.rejected_steps;
        dt = used * detail::pi_reject_factor(*adaptive, pi, err, controller_exponent);
        if (dt < adaptive->dtmin)
          return fail(out, nde::status::step_size_too_small,
                      detail::concatenate("the controller asked for dt = ", dt,
                                          " < dtmin = ", adaptive->dtmin, " at t = ", t));
        continue;
      }

      // ---- accepted -------------------------------------------------------------------
      ++out.stats.accepted_steps;
      if (adaptive)
        dt = std::clamp(used * detail::pi_accept_factor(*adaptive, pi, err, controller_exponent),
                        adaptive->dtmin, adaptive->dtmax);
      if (adaptive) m_proposed_step = dt;
      ++step_index;
      if (need_dense) m_stepper.dense_coefficients(t, t_next, m_y, m_y_next, m_workspace, m_dense);
      while (m_next_save < save.ts.size()) {
        const T ts = static_cast<T>(save.ts[m_next_save]);
        if (before(t_next, ts, direction)) break;
        State& slot = output_slot(out, ts);
        if (ts == t_next) {
          slot = m_y_next;
        } else {
          detail::evaluate_polynomial(
              m_dense, dense_terms, static_cast<scalar_of_t<State>>((ts - t) / (t_next - t)), slot);
        }
        ++m_next_save;
      }
      if (save.steps) output_slot(out, t_next) = m_y_next;
      if (options.dense) out.dense.append(t_next, m_dense, m_y_next);
      if (options.record_steps) out.step_times.push_back(t_next);
      if (have_end) m_stepper.advance(m_workspace);
      m_y.swap(m_y_next);
      t = t_next;
    }
    if (save.t1 && !save.steps) output_slot(out, t1) = m_y;
    return nde::status::success;
  }

  Stepper m_stepper;
  workspace_type m_workspace;
  State m_y;
  State m_y_next;
  std::array<State, dense_terms> m_dense;
  Eigen::MatrixXd m_scaled;
  std::size_t m_outputs = 0;
  std::size_t m_next_save = 0;
  double m_proposed_step = 0;
};

/// \brief Solves y' = f(t, y), y(t0) = y0 on [t0, t1] (or backward when t1 < t0).
///
/// \param f vector field, `f(t, y, dydt)` (allocation-free) or `f(t, y) -> State`.
/// \param method the stepper, e.g. `nde::dopri5{}`.
/// \param t0 initial time.
/// \param t1 final time (t1 < t0 integrates backward).
/// \param y0 initial state y(t0).
/// \param options output times, step-size policy (with its tolerances) and step budget.
/// \return a `solution`; failures are reported in `status`/`message`, never thrown.
/// \tparam T time scalar, deduced from t0/t1 (need not match the state scalar).
template <class F, class Stepper, state State, time_scalar T>
requires stepper<Stepper, State>
[[nodiscard]] solution<T, State> solve(F&& f, const Stepper& method, T t0,
                                       std::type_identity_t<T> t1, const State& y0,
                                       const solve_options& options = {}) {
  integrator<Stepper, State, T> solver(method, y0);
  solution<T, State> out;
  solver.solve(f, t0, t1, y0, options, out);
  return out;
}

/// \brief `solve`, but throws `nde::error` (with the status and message) unless it succeeds.
template <class F, class Stepper, state State, time_scalar T>
requires stepper<Stepper, State>
[[nodiscard]] solution<T, State> solve_or_throw(F&& f, const Stepper& method, T t0,
                                                std::type_identity_t<T> t1, const State& y0,
                                                const solve_options& options = {}) {
  auto out = solve(std::forward<F>(f), method, t0, t1, y0, options);
  if (!out.success()) throw error(out.status, out.message);
  return out;
}

}  // namespace nde
