/// \file
/// \brief The solve driver: `nde::solve(term, solver, t0, t1, y0, θ, options)` and, for a plain
/// vector field, `nde::solve(f, solver, t0, t1, y0, options)`.
///
/// \code
/// auto sol = nde::solve(f, nde::dopri5{}, 0.0, 1.0, y0,
///                       {.save_at = nde::save_at::times({0.1, 0.5, 1.0}),
///                        .controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-9},
///                        .max_steps = 100000});
/// // sol.ts, sol.ys, sol.stats.{rhs_evals, accepted_steps, rejected_steps}, sol.status, sol.message
/// \endcode
///
/// The driver joins three independent pieces: a **term** (what is integrated,
/// `terms/ode_term.hpp`), a **stepper** (how one step is taken, `solvers/stepper.hpp`) and a
/// **controller** (which steps are taken, `step_size/controller.hpp`). It never reads a
/// stepper's or a controller's internals. Output times come from the dense output; steps are
/// never forced onto them. A gradient method (`adjoint/`) watches the loop through a recorder.
///
/// To solve repeatedly without allocating, keep an `integrator` (it owns the workspaces) and
/// a `solution` (its `ts`/`ys` are reused): once they have the right sizes, the stepping loop
/// allocates nothing, for dynamic sizes too, when outputs are `save_at` t0/t1/`ts` and `dense`,
/// `record_steps` and `save_at.steps` are off (those grow vectors by design).
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/integrate/save_at.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/step_size/constant_step.hpp"
#include "nde/step_size/controller.hpp"
#include "nde/step_size/error_norm.hpp"
#include "nde/step_size/fixed_times.hpp"
#include "nde/step_size/pid_controller.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/ode_term.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace nde {

/// \brief The built-in step-size controllers, chosen by value in `solve_options`. A user
/// controller (any type with the contract of `step_size/controller.hpp`) is passed to
/// `integrator::solve_with` instead.
using step_size_controller = std::variant<pid_controller, constant_step, fixed_times>;

/// \brief Options of `solve`; an aggregate for designated initialisers.
///
/// Times in the options are `double` whatever the solve's time type.
struct solve_options {
  nde::save_at save_at{};                              ///< Output times (default: t1 only).
  step_size_controller controller = pid_controller{};  ///< Step-size policy (default: adaptive).
  std::int64_t max_steps = 100000;  ///< Budget of attempted (accepted + rejected) steps.
  bool record_steps = false;  ///< Fill `solution::step_times` (t0 and each accepted step end).
  bool dense = false;         ///< Fill `solution::dense`.
  adjoint_method adjoint = inference{};  ///< Gradient method (differentiable solves).
  /// Hairer's stiffness test after every accepted step, for methods that have it (dopri5,
  /// tsit5): counts `stats.stiff_steps` and sets `solution::stiff` with a note in `message`.
  /// Costs two vector norms per step.
  bool detect_stiffness = true;
};

namespace detail {

/// Input validation shared by `solve` and every model: finite times, a step budget, output
/// times inside [t0, t1] and strictly monotone in the direction of integration, some output.
/// Returns the problem, or an empty string.
template <time_scalar T>
std::string validate_solve(T t0, T t1, const solve_options& options) {
  if (!std::isfinite(t0) || !std::isfinite(t1))
    return concatenate("t0 and t1 must be finite (t0 = ", t0, ", t1 = ", t1, ")");
  if (options.max_steps <= 0) return "max_steps must be positive";
  const T direction = t1 >= t0 ? T(1) : T(-1);
  const auto& save = options.save_at;
  for (std::size_t i = 0; i < save.ts.size(); ++i) {
    const T t = static_cast<T>(save.ts[i]);
    if (!std::isfinite(save.ts[i])) return concatenate("save_at.ts[", i, "] is not finite");
    if (before(t, t0, direction) || before(t1, t, direction))
      return concatenate("save_at.ts[", i, "] = ", save.ts[i], " lies outside [t0, t1] = [", t0,
                         ", ", t1, "]");
    if (i > 0 && !before(static_cast<T>(save.ts[i - 1]), t, direction)) {
      if (static_cast<T>(save.ts[i - 1]) == t && save.ts[i - 1] != save.ts[i])
        return concatenate("save_at.ts[", i - 1, "] = ", save.ts[i - 1], " and ts[", i,
                           "] = ", save.ts[i], " are distinct as double but the same time (", t,
                           ") in the solve's ", sizeof(T) * 8,
                           "-bit time type; use a wider time type or spread the times");
      return concatenate("save_at.ts must be strictly ",
                         direction > 0 ? "increasing" : "decreasing",
                         " (in the direction of integration); ts[", i - 1, "] = ", save.ts[i - 1],
                         ", ts[", i, "] = ", save.ts[i]);
    }
  }
  if (!save.t0 && !save.t1 && !save.steps && save.ts.empty() && !options.dense &&
      !options.record_steps)
    return "save_at requests no output (and neither dense nor record_steps is set)";
  return {};
}

/// A term that counts its vector-field evaluations (jvps, dense Jacobians) into the solve's
/// statistics, and forwards the capabilities implicit methods ask for (`jacobian`,
/// `autonomous`).
template <class Term>
struct counting_term {
  static constexpr bool is_ode = std::remove_cvref_t<Term>::is_ode;
  static constexpr bool autonomous = autonomous_field<std::remove_cvref_t<Term>>;
  Term* term;
  std::size_t* evaluations;
  std::size_t* jvps;
  std::size_t* jacobians = nullptr;
  [[nodiscard]] Eigen::Index num_params() const { return term->num_params(); }
  template <class T, class State, class Params, class Out>
  void vf(T t, const State& y, const Params& theta, Out& out) {
    ++*evaluations;
    term->vf(t, y, theta, out);
    // Every evaluation: a field that resizes dydt is stopped before a stage mixes sizes.
    if constexpr (is_ode) check_derivative_shape(t, y, out);
  }
  template <class T>
  [[nodiscard]] auto contr(T t0, T t1) const {
    return term->contr(t0, t1);
  }
  template <class V, class C, class State>
  void prod(const V& v, const C& c, State& out) const {
    term->prod(v, c, out);
  }
  template <class T, class State, class Params, class Tangent>
  requires requires(Term& u, T t, const State& y, const Params& theta, const Tangent& theta_dot,
                    scalar_of_t<State> t_dot, State& out) {
    u.jvp(t, y, theta, y, theta_dot, t_dot, out);
  }
  void jvp(T t, const State& y, const Params& theta, const State& y_dot, const Tangent& theta_dot,
           scalar_of_t<State> t_dot, State& out) {
    ++*jvps;
    term->jvp(t, y, theta, y_dot, theta_dot, t_dot, out);
  }
  template <class T, class State, class Params, class Matrix>
  requires requires(Term& u, T t, const State& y, const Params& theta, Matrix& jac) {
    u.jacobian(t, y, theta, jac);
  }
  void jacobian(T t, const State& y, const Params& theta, Matrix& jac) {
    if (jacobians) ++*jacobians;
    term->jacobian(t, y, theta, jac);
  }
};

/// The controller's decision on a trial step; a stepper's secondary error estimate
/// (`step_result::error_secondary`, DOP853) goes to controllers whose `adapt` takes it.
template <class Controller, class ControllerState, time_scalar T, state State>
step_decision<T> adapt_step(const Controller& controller, ControllerState& cs, T t0, T t1,
                            const State& y0, const State& y1, const step_result<State>& r,
                            nde::status step_status, int error_order) {
  if constexpr (requires {
                  controller.adapt(cs, t0, t1, y0, y1, r.error, step_status, error_order,
                                   r.error_secondary);
                }) {
    if (r.error_secondary != nullptr)
      return controller.adapt(cs, t0, t1, y0, y1, r.error, step_status, error_order,
                              r.error_secondary);
  }
  return controller.adapt(cs, t0, t1, y0, y1, r.error, step_status, error_order);
}

/// What a step watcher (`Recorder::watches_steps`, e.g. the event locator of
/// `integrate/events.hpp`) answers for each accepted step: go on, stop the solve at `time`
/// (inside the step; the state there comes from the dense output), or fail with a status.
template <time_scalar T>
struct watch_result {
  bool stop = false;                          ///< End the solve at `time`.
  T time{};                                   ///< Where to stop, in (t0, t1] of the step.
  nde::status status = nde::status::success;  ///< A failure ends the solve with `message`.
  std::string message;                        ///< Why it failed.
};

/// True for a recorder that watches every accepted step with its dense output and may stop the
/// solve there (`static constexpr bool watches_steps = true;` and `watch(t0, t1, y0, y1, dense,
/// terms)` returning a `watch_result`).
template <class Recorder>
inline constexpr bool watches_steps_v = requires {
  requires Recorder::watches_steps;
};

/// Watches nothing (a solve in inference mode).
struct null_recorder {
  template <class... A>
  void begin(const A&...) {}
  template <class... A>
  void step(const A&...) {}
  template <class... A>
  void output(const A&...) {}
};

}  // namespace detail

/// \brief One accepted step, as a recorder (gradient method) sees it.
template <time_scalar T, state State, class Workspace>
struct accepted_step {
  std::size_t index;    ///< 0-based number of the step.
  T t0;                 ///< Start.
  T t1;                 ///< End.
  boundary_kind kind;   ///< How t1 depends on the solve's (t0, t1).
  bool after_jump;      ///< Started just past a `jump_ts` entry (its start is a given time).
  const State& y0;      ///< State at t0.
  const State& y1;      ///< State at t1.
  const Workspace& ws;  ///< The stepper's workspace (stages of this step).
};

/// \brief Reusable solver for one stepper and state type: owns the workspaces, so repeated
/// solves with the same state shape allocate nothing inside the stepping loop.
/// \tparam Stepper e.g. `nde::dopri5`. \tparam State state type. \tparam T time scalar.
template <class Stepper, state State, time_scalar T = double>
class integrator {
 public:
  /// \brief The stepper's workspace for `State` (stages, error estimate).
  using workspace_type =
      decltype(std::declval<const Stepper&>().make_workspace(std::declval<const State&>()));
  /// \brief What `solve` fills: saved states, status and optional dense output.
  using solution_type = solution<T, State>;
  /// \brief Parameter vector type.
  using params_type = params_of_t<State>;

  /// \brief Builds the workspace for states shaped like `like`.
  explicit integrator(Stepper method = {}, const State& like = detail::zero_state<State>())
      : m_stepper(std::move(method)), m_workspace(m_stepper.make_workspace(like)) {
    reshape(like);
  }

  /// \brief The stepper.
  [[nodiscard]] const Stepper& method() const noexcept { return m_stepper; }
  /// \brief The stepper's workspace (stage derivatives of the last step, etc.).
  [[nodiscard]] const workspace_type& workspace() const noexcept { return m_workspace; }
  /// \brief The step size the adaptive controller proposed after the last accepted step of the
  /// last adaptive solve (a magnitude; 0 before any adaptive step).
  [[nodiscard]] double proposed_step() const noexcept { return m_proposed_step; }

  /// \brief Solves y' = f(t, y), y(t0) = y0 for a plain field `f(t, y, dydt)` or
  /// `f(t, y) -> State` into `out` (its storage is reused). \return `out.status`.
  template <class F>
  nde::status solve(F& f, T t0, T t1, const State& y0, const solve_options& options,
                    solution_type& out) {
    auto term = make_ode_term(std::ref(f));
    detail::null_recorder none;
    return solve_with(term, t0, t1, y0, params_view<scalar_of_t<State>>(m_no_params), options, out,
                      none);
  }

  /// \brief Solves the term from (t0, y0) with parameters θ. \return `out.status`.
  template <class Term>
  nde::status solve(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                    const solve_options& options, solution_type& out) {
    detail::null_recorder none;
    return solve_with(term, t0, t1, y0, theta, options, out, none);
  }

  /// \brief Solves with the controller of `options` and a recorder (a gradient method's tape)
  /// watching every accepted step and output.
  template <class Term, class Recorder>
  nde::status solve_with(Term& term, T t0, T t1, const State& y0,
                         params_view<scalar_of_t<State>> theta, const solve_options& options,
                         solution_type& out, Recorder& recorder) {
    return std::visit(
        [&](const auto& controller) {
          return solve_with(term, controller, state_for(controller), t0, t1, y0, theta, options,
                            out, recorder);
        },
        options.controller);
  }

  /// \brief Solves with any controller (the contract of `step_size/controller.hpp`) and its
  /// state; `options.controller` is ignored.
  template <class Term, class Controller, class ControllerState, class Recorder>
  nde::status solve_with(Term& user_term, const Controller& controller, ControllerState& cs, T t0,
                         T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                         const solve_options& options, solution_type& out, Recorder& recorder) {
    out.status = nde::status::success;
    out.message.clear();
    out.stats = {};
    out.step_times.clear();
    out.dense.clear();
    m_outputs = 0;
    m_proposed_step = 0;
    out.stiff = false;
    out.stiff_from = t0;
    m_stiff_count = m_nonstiff_in_a_row = 0;
    std::size_t jvps = 0;
    detail::counting_term<Term> term{&user_term, &out.stats.rhs_evals, &jvps,
                                     &out.stats.jacobian_evals};
    nde::status result = nde::status::success;
    try {
      result = run(term, controller, cs, t0, t1, y0, theta, options, out, recorder);
    } catch (const nde::error& e) {
      // A field (or a network inside it) that rejects its input throws nde::error; the solve
      // reports it as a status like every other failure, with where it happened.
      const std::string_view what = e.what();
      const std::string_view prefix = to_string(e.code());
      std::string_view message = what;
      if (what.size() >= prefix.size() + 2 && what.substr(0, prefix.size()) == prefix)
        message = what.substr(prefix.size() + 2);
      result = fail(out, e.code(),
                    detail::concatenate("the vector field failed: ", message, " (after ",
                                        out.stats.accepted_steps, " accepted steps)"));
    }
    out.ts.resize(m_outputs);
    out.ys.resize(m_outputs);
    return result;
  }

 private:
  static constexpr int dense_terms = Stepper::dense_degree + 1;

  pid_controller::state_type<T, State>& state_for(const pid_controller&) { return m_pid; }
  constant_step::state_type<T, State>& state_for(const constant_step&) { return m_constant; }
  fixed_times::state_type<T, State>& state_for(const fixed_times&) { return m_fixed; }

  void reshape(const State& like) {
    const State& f0 = m_stepper.start_derivative(m_workspace);
    if (m_y.rows() == like.rows() && m_y.cols() == like.cols() && f0.rows() == like.rows() &&
        f0.cols() == like.cols())
      return;
    m_stepper.resize(m_workspace, like);
    m_y.setZero(like.rows(), like.cols());
    m_y_next.setZero(like.rows(), like.cols());
    for (auto& c : m_dense) c.setZero(like.rows(), like.cols());
  }

  // DOPRI5's bookkeeping (Hairer's dopri5.f): 15 stiff steps with fewer than 6 non-stiff steps
  // between them decide it. A step is stiff when h·ρ > 0.9 × the method's stability boundary
  // (DOPRI5 uses 3.25, 98 % of its 3.31; ρ underestimates |λ|, and this library's controller
  // keeps stability-limited steps at 0.92–0.99 of the boundary, so 98 % misses most of them).
  void note_stiffness(solution_type& out, T t0, T t1, std::string& note) {
    const auto h_rho = m_stepper.stiffness_estimate(t0, t1, m_y_next, m_workspace);
    if (h_rho > 0.9 * Stepper::stability_boundary) {
      ++out.stats.stiff_steps;
      m_nonstiff_in_a_row = 0;
      if (++m_stiff_count == 15 && !out.stiff) {
        out.stiff = true;
        out.stiff_from = t1;
        if (!note.empty()) note += "; ";
        note += detail::concatenate(
            "the problem seems stiff from t = ", t1,
            " (the step size is limited by stability: h*rho > 0.9 x the stability boundary in "
            "15 accepted steps, Hairer's test); an implicit method (rodas5, kvaerno5) may need "
            "far fewer steps");
      }
    } else if (++m_nonstiff_in_a_row == 6) {
      m_stiff_count = 0;
    }
  }

  nde::status fail(solution_type& out, nde::status code, std::string message) {
    out.status = code;
    out.message = std::move(message);
    return code;
  }

  // A watcher stopped the solve at t_stop inside the accepted step [t, t_next]: the outputs up
  // to t_stop and the final state come from the step's dense output (already computed). The
  // step is not appended to `dense` (it would reach past the stop).
  nde::status stop_inside(solution_type& out, const solve_options& options, T t, T t_next, T t_stop,
                          T direction, std::size_t next_save, std::string& note) {
    using scalar = scalar_of_t<State>;
    const auto& save = options.save_at;
    auto at = [&](T time, State& value) {
      if (time == t_next) {
        value = m_y_next;
      } else {
        detail::evaluate_polynomial(m_dense, static_cast<std::size_t>(dense_terms),
                                    static_cast<scalar>((time - t) / (t_next - t)), value);
      }
    };
    for (; next_save < save.ts.size(); ++next_save) {
      const T ts = static_cast<T>(save.ts[next_save]);
      if (detail::before(t_stop, ts, direction)) break;
      at(ts, output_slot(out, ts));
    }
    at(t_stop, m_y);
    if (save.t1 || save.steps) output_slot(out, t_stop) = m_y;
    if (options.record_steps) out.step_times.push_back(t_stop);
    out.message = std::move(note);
    return nde::status::success;
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

  template <class Term, class Controller, class ControllerState, class Recorder>
  nde::status run(Term& term, const Controller& controller, ControllerState& cs, T t0, T t1,
                  const State& y0, params_view<scalar_of_t<State>> theta,
                  const solve_options& options, solution_type& out, Recorder& recorder) {
    using scalar = scalar_of_t<State>;
    if (auto problem = detail::validate_solve(t0, t1, options); !problem.empty())
      return fail(out, nde::status::invalid_input, problem);
    if (auto problem =
            controller.validate(y0.rows(), static_cast<double>(t0), static_cast<double>(t1));
        !problem.empty())
      return fail(out, nde::status::invalid_input, problem);
    if constexpr (std::is_same_v<Controller, pid_controller>) {
      if constexpr (!Stepper::adaptive)
        return fail(out, nde::status::invalid_input,
                    "pid_controller needs a method with an embedded error estimate (heun, bosh3, "
                    "dopri5, tsit5); use constant_step or fixed_times with this method");
    }
    if (theta.size() != term.num_params())
      return fail(out, nde::status::invalid_input,
                  detail::concatenate("the term has ", term.num_params(), " parameters but θ has ",
                                      theta.size()));
    if constexpr (requires { term.term->state_rows(); }) {
      if (y0.rows() != static_cast<Eigen::Index>(term.term->state_rows()))
        return fail(out, nde::status::invalid_input,
                    detail::concatenate("y0 has ", y0.rows(), " rows but the vector field takes ",
                                        term.term->state_rows()));
    }
    const T direction = t1 >= t0 ? T(1) : T(-1);
    const auto& save = options.save_at;

    reshape(y0);
    // A stepper with per-solve state (auto_switch) starts afresh.
    if constexpr (requires { m_stepper.begin(m_workspace); }) m_stepper.begin(m_workspace);
    controller.resize(cs, y0);
    m_y = y0;
    if (!save.steps) {
      const std::size_t count = (save.t0 ? 1 : 0) + save.ts.size() + (save.t1 ? 1 : 0);
      out.ts.resize(count);
      if (out.ys.size() != count) out.ys.resize(count, y0);
      for (auto& y : out.ys) y.resize(y0.rows(), y0.cols());
    }
    if (options.dense) out.dense.start(t0, y0, Stepper::dense_degree);
    if (options.record_steps) out.step_times.push_back(t0);
    recorder.begin(t0, t1, y0);

    if (!y0.allFinite()) return fail(out, nde::status::non_finite, "y0 contains NaN or Inf");
    std::size_t next_save = 0;
    // Output sources for the recorder: a save_at.ts index, or one of these.
    constexpr int from_t0 = -1, from_t1 = -2, from_steps = -3;
    auto emit = [&](T t, const State& value, std::size_t step, int source) {
      output_slot(out, t) = value;
      recorder.output(m_outputs - 1, t, step, source, value);
    };
    if (save.t0 || save.steps) emit(t0, y0, 0, save.steps ? from_steps : from_t0);
    for (; next_save < save.ts.size() && static_cast<T>(save.ts[next_save]) == t0; ++next_save)
      emit(t0, y0, 0, static_cast<int>(next_save));
    if (t0 == t1) {
      if (save.t1 && !save.steps) emit(t1, y0, 0, from_t1);
      return nde::status::success;
    }

    const State& f0 = m_stepper.start_derivative(m_workspace);
    if (m_stepper.init(term, t0, m_y, theta, m_workspace) != nde::status::success) {
      if (f0.rows() != y0.rows() || f0.cols() != y0.cols())
        return fail(out, nde::status::invalid_input, "the vector field changed the size of dydt");
      return fail(out, nde::status::non_finite,
                  detail::concatenate("f(t0, y0) contains NaN or Inf at t0 = ", t0));
    }
    if (f0.rows() != y0.rows() || f0.cols() != y0.cols())
      return fail(
          out, nde::status::invalid_input,
          detail::concatenate("the vector field wrote a derivative of size ", f0.rows(), "x",
                              f0.cols(), " for a state of size ", y0.rows(), "x", y0.cols()));
    auto eval = [&](T t, const State& y, State& dydt) { term.vf(t, y, theta, dydt); };
    step_decision<T> d = controller.init(cs, eval, t0, t1, m_y, f0, Stepper::error_order);
    // A successful init may carry a note (a tolerance it had to raise): kept as the message
    // of a successful solve and appended to a failure's.
    std::string note;
    if (d.status == nde::status::success) note = std::move(d.message);
    auto fail_with_note = [&](nde::status code, std::string message) {
      if (!note.empty()) message += " [" + note + "]";
      return fail(out, code, std::move(message));
    };
    T t = t0;
    bool after_jump = false;
    std::size_t accepted = 0;
    for (std::int64_t attempts = 0; t != t1; ++attempts) {
      if (d.status != nde::status::success) return fail_with_note(d.status, std::move(d.message));
      if (attempts >= options.max_steps)
        return fail_with_note(
            nde::status::max_steps_reached,
            detail::concatenate("max_steps = ", options.max_steps,
                                " attempted steps reached at t = ", t, " before t1 = ", t1));
      const T t_next = d.next_t1;
      const boundary_kind kind = d.next_kind;
      const bool jump = d.jump;
      const step_result<State> r =
          m_stepper.step(term, t, t_next, m_y, theta, m_workspace, m_y_next);
      d = detail::adapt_step(controller, cs, t, t_next, m_y, m_y_next, r, r.status,
                             Stepper::error_order);
      const bool pending = next_save < save.ts.size() &&
                           detail::before(static_cast<T>(save.ts[next_save]), t_next, direction);
      constexpr bool watching = detail::watches_steps_v<Recorder>;
      const bool need_dense = options.dense || pending || watching;
      // An output exactly at the step end is the dense output at θ = 1, whose rate (read by
      // forward sensitivities for dL/dts) is f(t1, y1): a method without FSAL needs it then too.
      const bool output_at_end =
          next_save < save.ts.size() && static_cast<T>(save.ts[next_save]) == t_next;
      if (d.accept && d.status == nde::status::success && !Stepper::fsal &&
          (t_next != t1 || need_dense || output_at_end) &&
          m_stepper.evaluate_end(term, t_next, m_y_next, theta, m_workspace) !=
              nde::status::success)
        d = detail::adapt_step(controller, cs, t, t_next, m_y, m_y_next, r, nde::status::non_finite,
                               Stepper::error_order);
      if (!d.accept || d.status != nde::status::success) {
        ++out.stats.rejected_steps;
        continue;
      }
      // ---- accepted -----------------------------------------------------------------------
      ++out.stats.accepted_steps;
      if constexpr (std::is_same_v<Controller, pid_controller>)
        m_proposed_step = pid_controller::proposed_step(cs);
      // Extra stages of the continuous extension (DOP853, Vern7), only for steps with dense
      // output, before the recorder sees the step (forward sensitivities read them).
      if (need_dense && detail::evaluate_dense_stages(m_stepper, term, t, t_next, m_y, theta,
                                                      m_workspace) != nde::status::success)
        return fail_with_note(nde::status::non_finite,
                              detail::concatenate("the dense-output stages of the step from t = ",
                                                  t, " to ", t_next, " contain NaN or Inf"));
      recorder.step(accepted_step<T, State, workspace_type>{accepted, t, t_next, kind, after_jump,
                                                            m_y, m_y_next, m_workspace});
      if constexpr (requires { Stepper::stiffness_detection; }) {
        if constexpr (Stepper::stiffness_detection) {
          if (options.detect_stiffness) note_stiffness(out, t, t_next, note);
        }
      }
      if (need_dense) m_stepper.dense_coefficients(t, t_next, m_y, m_y_next, m_workspace, m_dense);
      if constexpr (watching) {
        const auto w = recorder.watch(t, t_next, static_cast<const State&>(m_y),
                                      static_cast<const State&>(m_y_next), m_dense,
                                      static_cast<std::size_t>(dense_terms));
        if (w.status != nde::status::success) return fail_with_note(w.status, w.message);
        if (w.stop) {
          return stop_inside(out, options, t, t_next, w.time, direction, next_save, note);
        }
      }
      for (; next_save < save.ts.size(); ++next_save) {
        const T ts = static_cast<T>(save.ts[next_save]);
        if (detail::before(t_next, ts, direction)) break;
        State& slot = output_slot(out, ts);
        if (ts == t_next) {
          slot = m_y_next;
        } else {
          detail::evaluate_polynomial(m_dense, static_cast<std::size_t>(dense_terms),
                                      static_cast<scalar>((ts - t) / (t_next - t)), slot);
        }
        recorder.output(m_outputs - 1, ts, accepted, static_cast<int>(next_save),
                        static_cast<const State&>(slot));
      }
      if (save.steps) emit(t_next, m_y_next, accepted, from_steps);
      if (options.dense) out.dense.append(t_next, m_dense, m_y_next);
      if (options.record_steps) out.step_times.push_back(t_next);
      ++accepted;
      m_y.swap(m_y_next);
      after_jump = jump && t_next != t1;
      if (after_jump) {
        // A known discontinuity: restart just past it with a fresh first stage.
        d.next_t0 = detail::restart_after_jump(t_next, direction);
        if (m_stepper.init(term, d.next_t0, m_y, theta, m_workspace) != nde::status::success)
          return fail(
              out, nde::status::non_finite,
              detail::concatenate("f contains NaN or Inf just past the jump at t = ", t_next));
      } else if (t_next != t1) {
        m_stepper.advance(m_workspace);
      }
      t = after_jump ? d.next_t0 : t_next;
    }
    if (save.t1 && !save.steps) emit(t1, m_y, accepted == 0 ? 0 : accepted - 1, from_t1);
    if constexpr (requires { Stepper::switch_time(m_workspace); }) {
      if (const auto switched = Stepper::switch_time(m_workspace)) {
        out.stiff = true;
        out.stiff_from = static_cast<T>(*switched);
        if (!note.empty()) note += "; ";
        note += detail::concatenate("stiff from t = ", *switched,
                                    ": switched to the implicit method there");
      }
    }
    out.message = std::move(note);
    return nde::status::success;
  }

  Stepper m_stepper;
  workspace_type m_workspace;
  State m_y;
  State m_y_next;
  std::array<State, static_cast<std::size_t>(dense_terms)> m_dense;
  pid_controller::state_type<T, State> m_pid;
  constant_step::state_type<T, State> m_constant;
  fixed_times::state_type<T, State> m_fixed;
  params_type m_no_params;
  std::size_t m_outputs = 0;
  double m_proposed_step = 0;
  int m_stiff_count = 0;        // stiff steps since the test was last reset
  int m_nonstiff_in_a_row = 0;  // consecutive non-stiff steps
};

/// \brief Solves y' = f(t, y), y(t0) = y0 on [t0, t1] (or backward when t1 < t0) for a plain
/// vector field (no parameters, no gradients).
///
/// \param f vector field, `f(t, y, dydt)` (allocation-free) or `f(t, y) -> State`.
/// \param method the stepper, e.g. `nde::dopri5{}`.
/// \param t0 initial time. \param t1 final time (t1 < t0 integrates backward).
/// \param y0 initial state y(t0).
/// \param options output times, step-size policy (with its tolerances) and step budget.
/// \return a `solution`; failures are reported in `status`/`message`, never thrown.
/// \tparam T time scalar, deduced from t0/t1 (need not match the state scalar).
template <class F, class Stepper, state State, time_scalar T>
requires vector_field<std::remove_cvref_t<F>, T, State>
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
requires vector_field<std::remove_cvref_t<F>, T, State>
[[nodiscard]] solution<T, State> solve_or_throw(F&& f, const Stepper& method, T t0,
                                                std::type_identity_t<T> t1, const State& y0,
                                                const solve_options& options = {}) {
  auto out = solve(std::forward<F>(f), method, t0, t1, y0, options);
  if (!out.success()) throw error(out.status, out.message);
  return out;
}

}  // namespace nde
