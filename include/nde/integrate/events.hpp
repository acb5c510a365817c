/// \file
/// \brief Events: a condition g(t, y; θ) = 0 located on the dense output of every accepted
/// step, that either ends the solve (terminal) or resets the state and lets the integration go
/// on (a bouncing ball); the event times and the states around them are differentiable.
///
/// \code
/// // y = (height, velocity); θ = (gravity, restitution)
/// auto ground = [](auto, const auto& y, const auto&) { return y[0]; };
/// auto bounce = [](auto, const auto& y, const auto& theta, auto& out) {
///   out = y;
///   out[1] = -theta[1] * y[1];
/// };
/// nde::event_integrator<nde::dopri5, Eigen::Vector2d> solver;
/// nde::event_solution<double, Eigen::Vector2d> sol;
/// solver.solve(term, nde::reset_event(ground, bounce, nde::event_direction::falling),
///              0.0, 10.0, y0, theta, {.solve = {.adjoint = nde::discrete_adjoint{}}}, sol);
/// // sol.event_times, sol.before, sol.after, sol.y_end
/// auto g = solver.backward(term, event, {.event_times = dL_dtau});  // g.params, g.y0
/// \endcode
///
/// **Location.** After each accepted step [t0, t1] the condition is evaluated at the step's
/// end (and at `samples` interior points of the dense output); a sign change in the event's
/// direction is bracketed and refined by the Illinois variant of regula falsi on the dense
/// interpolant to a few ulps of t, ending on the far side of the crossing (g has crossed or is
/// zero there). A step that starts with g exactly zero does not fire (a reset that lands on
/// the surface does not re-trigger at once). The stepper is any method with dense output.
///
/// **Gradients** (Chen, Amos & Nickel 2021, "Learning neural event functions for ordinary
/// differential equations", eq. 5; the implicit function theorem on g(τ, y(τ)) = 0): with
/// Ġ = ∂g/∂t + ∂g/∂y·f(τ, y⁻), the adjoint of the state reaching an event is
/// ā − μ ∂g/∂y and θ̄ −= μ ∂g/∂θ, where μ = (ā·f + τ̄)/Ġ carries the event time's own
/// cotangent τ̄ (and the next segment's dL/dt0). A reset y⁺ = r(τ, y⁻, θ) is pulled back by
/// its vector-Jacobian product. Each segment between events is re-solved by a
/// `differentiable_integrator` with the chosen gradient method (every method of
/// `adjoint/methods.hpp` the stepper supports), so the gradients are those of the continuous
/// problem at the computed events, accurate to the solver's tolerance; the condition and
/// the reset are differentiated by dual numbers (written once over their scalar, like
/// `autodiff_field`; cost (rows·cols + p + 1) evaluations each per event).
#pragma once

#include "nde/adjoint/differentiable_solve.hpp"
#include "nde/adjoint/methods.hpp"
#include "nde/core/concepts.hpp"
#include "nde/core/dual.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace nde {

/// \brief Which sign changes of g fire an event.
enum class event_direction {
  either,   ///< Any sign change.
  rising,   ///< g goes from negative to zero or positive.
  falling,  ///< g goes from positive to zero or negative.
};

/// \brief The reset of an event without one: the state is kept.
struct no_reset {};

/// \brief An event: condition g(t, y, θ) → scalar (a callable over its scalar: `double` in the
/// solve, `nde::dual<double>` for gradients), its direction, whether it ends the solve, and
/// the reset r(t, y⁻, θ, y⁺) applied when it does not.
template <class Condition, class Reset = no_reset>
struct event {
  Condition condition;                                  ///< g(t, y, θ).
  Reset reset{};                                        ///< r(t, y⁻, θ, y⁺) (non-terminal).
  event_direction direction = event_direction::either;  ///< Sign changes that count.
  bool terminal = true;  ///< End the solve at the first event (else reset and go on).
  int samples = 0;  ///< Interior points of the dense output checked per step (double crossings).
};

/// \brief An event that ends the solve where g crosses zero in `direction`.
template <class Condition>
[[nodiscard]] event<Condition> terminal_event(Condition condition,
                                              event_direction direction = event_direction::either) {
  return {std::move(condition), no_reset{}, direction, true, 0};
}

/// \brief An event that replaces the state by r(τ, y⁻, θ, y⁺) at each crossing and goes on.
template <class Condition, class Reset>
[[nodiscard]] event<Condition, Reset> reset_event(
    Condition condition, Reset reset, event_direction direction = event_direction::either) {
  return {std::move(condition), std::move(reset), direction, false, 0};
}

/// \brief An event that only records its crossings (the state is kept, the solve goes on).
template <class Condition>
[[nodiscard]] event<Condition> marker_event(Condition condition,
                                            event_direction direction = event_direction::either) {
  return {std::move(condition), no_reset{}, direction, false, 0};
}

/// \brief Options of an event solve.
struct event_options {
  /// The options of each segment's solve: controller, step budget (per segment), gradient
  /// method, `save_at.ts` (over the whole interval; an output at an event time holds the state
  /// before the reset). `save_at.t0`/`t1` are ignored (the end state is `y_end`); `dense`,
  /// `save_at.steps` are not supported with events.
  solve_options solve{};
  std::size_t max_events = 1000;  ///< Budget of events (a Zeno accumulation stops here).
};

/// \brief What an event solve returns.
template <time_scalar T, state State>
struct event_solution {
  std::vector<T> ts;           ///< Output times reached (`save_at.ts` up to `t_end`).
  std::vector<State> ys;       ///< States at `ts`.
  std::vector<T> event_times;  ///< τ_k, in order.
  std::vector<State> before;   ///< y(τ_k⁻), the state reaching each event.
  std::vector<State> after;    ///< y(τ_k⁺) after the reset (equal to `before` without one).
  T t_end{};                   ///< The end: t1, or the terminal event's time.
  State y_end;                 ///< The state at `t_end`.
  bool terminated = false;     ///< A terminal event ended the solve.
  solve_stats stats;           ///< Summed over the segments (and their re-solves).
  nde::status status = nde::status::success;  ///< Outcome.
  std::string message;                        ///< Why it failed, or a note (no event fired).
  /// \brief True on success.
  [[nodiscard]] bool success() const noexcept { return status == nde::status::success; }
};

/// \brief Cotangents of a loss for `event_integrator::backward`; an empty vector is all zero.
template <time_scalar T, state State>
struct event_cotangents {
  std::vector<State> ys{};       ///< dL/dy at each output of `event_solution::ys`.
  std::vector<T> event_times{};  ///< dL/dτ_k.
  std::vector<State> before{};   ///< dL/dy(τ_k⁻).
  std::optional<State> y_end{};  ///< dL/dy_end (none: zero).
};

namespace detail {

// Watches each accepted step for a sign change of the condition (a recorder of solve.hpp).
template <class Condition, state State, time_scalar T>
struct event_locator {
  using scalar = scalar_of_t<State>;
  static constexpr bool watches_steps = true;
  const Condition* condition = nullptr;
  params_view<scalar> theta;
  event_direction direction = event_direction::either;
  int samples = 0;
  bool found = false;
  T time{};
  scalar g_start{};
  bool have_start = false;
  State y_probe;

  explicit event_locator(params_view<scalar> th) : theta(th) {}

  template <class... A>
  void begin(const A&...) {
    found = false;
    have_start = false;
  }
  template <class... A>
  void step(const A&...) {}
  template <class... A>
  void output(const A&...) {}

  scalar value(T t, const State& y) const {
    return static_cast<scalar>((*condition)(static_cast<scalar>(t), y, theta));
  }
  // Crossed from the side of `from` (nonzero) to `to` in the event's direction.
  bool crosses(scalar from, scalar to) const {
    if (from == 0) return false;
    const bool up = from < 0 && to >= 0;
    const bool down = from > 0 && to <= 0;
    switch (direction) {
      case event_direction::rising: return up;
      case event_direction::falling: return down;
      case event_direction::either: break;
    }
    return up || down;
  }
  static watch_result<T> nan_at(T t) {
    return {false, t, nde::status::non_finite,
            concatenate("the event condition is NaN or Inf at t = ", t)};
  }

  template <class Dense>
  watch_result<T> watch(T t0, T t1, const State& y0, const State& y1, const Dense& dense,
                        std::size_t terms) {
    if (!have_start) {
      g_start = value(t0, y0);
      if (!std::isfinite(g_start)) return nan_at(t0);
      have_start = true;
    }
    auto at = [&](scalar s) {
      if (s == scalar(1)) return value(t1, y1);
      evaluate_polynomial(dense, terms, s, y_probe);
      return value(t0 + static_cast<T>(s) * (t1 - t0), y_probe);
    };
    scalar s_lo = 0, g_lo = g_start;
    const int pieces = samples + 1;
    for (int i = 1; i <= pieces; ++i) {
      const scalar s_hi = i == pieces ? scalar(1) : scalar(i) / scalar(pieces);
      const scalar g_hi = at(s_hi);
      if (!std::isfinite(g_hi)) return nan_at(t0 + static_cast<T>(s_hi) * (t1 - t0));
      if (crosses(g_lo, g_hi)) {
        auto root = refine(t0, t1, s_lo, g_lo, s_hi, g_hi, at);
        if (root.status == nde::status::success) {
          found = true;
          time = root.time;
          root.stop = true;
        }
        return root;
      }
      // A touch of zero from the other direction starts the next piece from zero: no event.
      s_lo = s_hi;
      g_lo = g_hi;
    }
    g_start = g_lo;
    return {};
  }

  // Illinois regula falsi on s ∈ [a, b], g(a) on the near side, g(b) crossed; ends at b.
  template <class At>
  watch_result<T> refine(T t0, T t1, scalar a, scalar ga, scalar b, scalar gb, At& at) const {
    const scalar eps = std::numeric_limits<scalar>::epsilon();
    const T h = t1 - t0;
    const scalar scale = std::abs(static_cast<scalar>(h));
    const scalar t_mag =
        std::max(std::abs(static_cast<scalar>(t0)), std::abs(static_cast<scalar>(t1)));
    const scalar tol = 4 * eps * std::max(scalar(1), t_mag / scale);
    int side = 0;
    for (int iteration = 0; iteration < 200 && b - a > tol && gb != 0; ++iteration) {
      scalar c = iteration < 60 ? (a * gb - b * ga) / (gb - ga) : (a + b) / 2;
      if (!(c > a && c < b)) c = (a + b) / 2;
      const scalar gc = at(c);
      if (!std::isfinite(gc)) return nan_at(t0 + static_cast<T>(c) * h);
      if ((ga > 0 && gc <= 0) || (ga < 0 && gc >= 0)) {
        b = c;
        gb = gc;
        if (side == -1) ga /= 2;
        side = -1;
      } else {
        a = c;
        ga = gc;
        if (side == 1) gb /= 2;
        side = 1;
      }
    }
    watch_result<T> r;
    r.time = b == scalar(1) ? t1 : t0 + static_cast<T>(b) * h;
    return r;
  }
};

// ∂g/∂t, ∂g/∂y, ∂g/∂θ at (t, y) by one dual evaluation per input.
template <class Condition, state State, time_scalar T>
void condition_gradient(const Condition& condition, T t, const State& y,
                        params_view<scalar_of_t<State>> theta, scalar_of_t<State>& g_t, State& g_y,
                        params_of_t<State>& g_theta) {
  using scalar = scalar_of_t<State>;
  using d = dual<scalar>;
  using dual_state = Eigen::Matrix<d, State::RowsAtCompileTime, State::ColsAtCompileTime>;
  using dual_params = Eigen::Matrix<d, Eigen::Dynamic, 1>;
  static_assert(std::invocable<const Condition&, d, const dual_state&, const dual_params&>,
                "event gradients need a condition written over its scalar (a generic lambda: "
                "[](auto t, const auto& y, const auto& theta) { ... })");
  dual_state yd = y.template cast<d>();
  dual_params pd = theta.template cast<d>();
  const d td{static_cast<scalar>(t), scalar(0)};
  g_y.resize(y.rows(), y.cols());
  g_theta.resize(theta.size());
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    yd.data()[i].tangent = 1;
    g_y.data()[i] = static_cast<d>(condition(td, yd, pd)).tangent;
    yd.data()[i].tangent = 0;
  }
  for (Eigen::Index k = 0; k < theta.size(); ++k) {
    pd[k].tangent = 1;
    g_theta[k] = static_cast<d>(condition(td, yd, pd)).tangent;
    pd[k].tangent = 0;
  }
  g_t = static_cast<d>(condition(d{static_cast<scalar>(t), scalar(1)}, yd, pd)).tangent;
}

// a·∂r/∂y into a_y, a·∂r/∂θ added to a_theta, a·∂r/∂t returned: one dual evaluation per input.
template <class Reset, state State, time_scalar T>
scalar_of_t<State> reset_vjp(const Reset& reset, T t, const State& y,
                             params_view<scalar_of_t<State>> theta, const State& a, State& a_y,
                             params_of_t<State>& a_theta) {
  using scalar = scalar_of_t<State>;
  using d = dual<scalar>;
  using dual_state = Eigen::Matrix<d, State::RowsAtCompileTime, State::ColsAtCompileTime>;
  using dual_params = Eigen::Matrix<d, Eigen::Dynamic, 1>;
  static_assert(std::invocable<const Reset&, d, const dual_state&, const dual_params&, dual_state&>,
                "event gradients need a reset written over its scalar (a generic lambda: "
                "[](auto t, const auto& y, const auto& theta, auto& out) { ... })");
  dual_state yd = y.template cast<d>();
  dual_params pd = theta.template cast<d>();
  dual_state out = yd;
  auto directional = [&](d td) {
    out = yd;
    reset(td, static_cast<const dual_state&>(yd), static_cast<const dual_params&>(pd), out);
    if (out.rows() != y.rows() || out.cols() != y.cols())
      throw error(status::invalid_input, "the event reset changed the shape of the state");
    scalar sum = 0;
    for (Eigen::Index i = 0; i < out.size(); ++i) sum += a.data()[i] * out.data()[i].tangent;
    return sum;
  };
  const d td{static_cast<scalar>(t), scalar(0)};
  a_y.resize(y.rows(), y.cols());
  for (Eigen::Index i = 0; i < y.size(); ++i) {
    yd.data()[i].tangent = 1;
    a_y.data()[i] = directional(td);
    yd.data()[i].tangent = 0;
  }
  for (Eigen::Index k = 0; k < theta.size(); ++k) {
    pd[k].tangent = 1;
    a_theta[k] += directional(td);
    pd[k].tangent = 0;
  }
  return directional(d{static_cast<scalar>(t), scalar(1)});
}

}  // namespace detail

/// \brief Solves with one event: locates each crossing on the dense output, resets or stops,
/// and (when `options.solve.adjoint` is a gradient method) keeps what `backward` needs.
/// Reusable: the per-segment solvers and tapes are kept across solves.
/// \tparam Stepper any method with dense output. \tparam State state type. \tparam T time.
template <class Stepper, state State, time_scalar T = double>
class event_integrator {
 public:
  using scalar = scalar_of_t<State>;                  ///< State scalar.
  using params_type = params_of_t<State>;             ///< Flat parameters.
  using solution_type = event_solution<T, State>;     ///< What `solve` fills.
  using gradient_type = gradient_result<State, T>;    ///< What `backward` returns.
  using cotangent_type = event_cotangents<T, State>;  ///< What `backward` takes.

  /// \brief Buffers for states shaped like `like`.
  explicit event_integrator(Stepper method = {}, const State& like = detail::zero_state<State>())
      : m_method(method), m_locate(method, like) {}

  /// \brief Solves the term from (t0, y0) with parameters θ and the event `ev`.
  /// \return `out.status`; failures (a NaN condition, a reset that fires again at once, the
  ///   event budget) are statuses with a message, never exceptions.
  template <class Term, class Condition, class Reset>
  nde::status solve(Term& term, const event<Condition, Reset>& ev, T t0, T t1, const State& y0,
                    params_view<scalar> theta, const event_options& options, solution_type& out) {
    m_ready = false;
    m_segments.clear();
    m_theta = theta;
    out.ts.clear();
    out.ys.clear();
    out.event_times.clear();
    out.before.clear();
    out.after.clear();
    out.terminated = false;
    out.stats = {};
    out.status = nde::status::success;
    out.message.clear();
    out.t_end = t0;
    out.y_end = y0;
    m_differentiable = !std::holds_alternative<inference>(options.solve.adjoint);
    auto failed = [&](nde::status code, std::string message) {
      out.status = code;
      out.message = std::move(message);
      return code;
    };
    if (options.solve.dense || options.solve.save_at.steps)
      return failed(nde::status::invalid_input,
                    "events: dense output and save_at.steps are not supported in an event solve "
                    "(use save_at.ts)");
    if (options.max_events == 0)
      return failed(nde::status::invalid_input, "events: max_events is 0");
    if (ev.samples < 0 || ev.samples > 1000)
      return failed(
          nde::status::invalid_input,
          detail::concatenate("events: samples = ", ev.samples, " must lie in [0, 1000]"));
    if (auto problem = detail::validate_solve(t0, t1, options.solve); !problem.empty())
      return failed(nde::status::invalid_input, "events: " + problem);
    const T direction = t1 >= t0 ? T(1) : T(-1);
    const auto& all_ts = options.solve.save_at.ts;
    std::size_t next_ts = 0;
    detail::event_locator<Condition, State, T> locator(theta);
    locator.condition = &ev.condition;
    locator.direction = ev.direction;
    locator.samples = ev.samples;
    T t = t0;
    State y = y0;
    std::vector<double> segment_ts;
    for (std::size_t k = 0;; ++k) {
      // The outputs this segment may reach: at or after its start (strictly after, past a reset).
      segment_ts.clear();
      for (std::size_t i = next_ts; i < all_ts.size(); ++i) {
        const T ts = static_cast<T>(all_ts[i]);
        if (k > 0 && !detail::before(t, ts, direction)) continue;
        segment_ts.push_back(all_ts[i]);
      }
      solve_options locate = options.solve;
      locate.adjoint = inference{};
      locate.save_at = nde::save_at{};
      locate.save_at.ts = segment_ts;
      locate.save_at.t0 = false;
      locate.save_at.t1 = true;
      const nde::status st = m_locate.solve_with(term, t, t1, y, theta, locate, m_segment, locator);
      out.stats += m_segment.stats;
      if (st != nde::status::success)
        return failed(st, detail::concatenate("events: the segment from t = ", t, " (after ", k,
                                              " events) failed: ", m_segment.message));
      const bool fired = locator.found;
      const T end = fired ? locator.time : t1;
      const std::size_t reached = m_segment.ts.size() - 1;  // outputs before the segment's end
      if (m_differentiable) {
        // The segment again, with the gradient method's tape, on [t, end].
        if (m_solvers.size() <= k)
          m_solvers.push_back(
              std::make_unique<differentiable_integrator<Stepper, State, T>>(m_method, y0));
        solve_options seg = options.solve;
        seg.save_at = nde::save_at{};
        seg.save_at.ts.assign(segment_ts.begin(),
                              segment_ts.begin() + static_cast<std::ptrdiff_t>(reached));
        seg.save_at.t0 = false;
        seg.save_at.t1 = true;
        const nde::status sd = m_solvers[k]->solve(term, t, end, y, theta, seg, m_segment);
        out.stats += m_segment.stats;
        if (sd != nde::status::success)
          return failed(sd, detail::concatenate("events: the differentiable re-solve of the "
                                                "segment from t = ",
                                                t, " to ", end, " failed: ", m_segment.message));
      }
      m_segments.push_back({t, end, out.ys.size(), reached, fired});
      for (std::size_t i = 0; i < reached; ++i) {
        out.ts.push_back(m_segment.ts[i]);
        out.ys.push_back(m_segment.ys[i]);
      }
      next_ts += static_cast<std::size_t>(std::count_if(
          all_ts.begin() + static_cast<std::ptrdiff_t>(next_ts), all_ts.end(),
          [&](double v) { return !detail::before(end, static_cast<T>(v), direction); }));
      const State& y_minus = m_segment.ys.back();
      if (!fired) {
        out.t_end = t1;
        out.y_end = y_minus;
        break;
      }
      if (end == t)
        return failed(nde::status::invalid_input,
                      detail::concatenate("events: the event fired again at t = ", end,
                                          " with no time since the last one: the reset leaves the "
                                          "state where the condition crosses at once (a zero-"
                                          "length segment); move the state off the surface"));
      out.event_times.push_back(end);
      out.before.push_back(y_minus);
      if (ev.terminal) {
        out.after.push_back(y_minus);
        out.t_end = end;
        out.y_end = y_minus;
        out.terminated = true;
        break;
      }
      State y_plus = y_minus;
      if constexpr (!std::is_same_v<Reset, no_reset>) {
        ev.reset(static_cast<scalar>(end), y_minus, theta, y_plus);
        if (y_plus.rows() != y_minus.rows() || y_plus.cols() != y_minus.cols())
          return failed(nde::status::invalid_input,
                        detail::concatenate("events: the reset at t = ", end,
                                            " changed the shape of the state"));
        if (!y_plus.allFinite())
          return failed(
              nde::status::non_finite,
              detail::concatenate("events: the reset at t = ", end, " returned NaN or Inf"));
      }
      out.after.push_back(y_plus);
      if (out.event_times.size() >= options.max_events && end != t1)
        return failed(nde::status::max_steps_reached,
                      detail::concatenate("events: max_events = ", options.max_events,
                                          " events reached at t = ", end, " before t1 = ", t1,
                                          " (an accumulation of events?)"));
      t = end;
      y = y_plus;
      if (t == t1) {
        out.t_end = t1;
        out.y_end = y_plus;
        break;
      }
    }
    if (out.event_times.empty())
      out.message = detail::concatenate("no event fired on [", t0, ", ", t1, "]");
    m_ready = m_differentiable;
    m_events_before = out.before;
    m_event_times = out.event_times;
    m_terminated = out.terminated;
    m_output_count = out.ys.size();
    m_y_shape = y0;
    return nde::status::success;
  }

  /// \brief dL/dθ, dL/dy0, dL/dt0 and dL/dt1 (t1 held by the last segment when no terminal
  /// event ended the solve) from the cotangents of the last successful differentiable solve.
  /// `ts` of the result is left empty. A backward failure (a tangential crossing, Ġ = 0; a
  /// term without time gradients past an event) is the result's status with a message.
  /// \throws nde::error (invalid_input) before a differentiable solve or on shape mismatches.
  template <class Term, class Condition, class Reset>
  [[nodiscard]] gradient_type backward(Term& term, const event<Condition, Reset>& ev,
                                       const cotangent_type& cot) {
    if (!m_ready)
      throw error(status::invalid_input,
                  "events: backward needs a successful event solve with a gradient method "
                  "(event_options::solve.adjoint)");
    check_cotangents(cot);
    gradient_type result;
    result.params = params_type::Zero(m_theta.size());
    result.y0 = m_y_shape;
    result.y0.setZero();
    auto failed = [&](nde::status code, std::string message) {
      result.status = code;
      result.message = std::move(message);
      return result;
    };
    const State zero = result.y0;
    auto entry = [&](const std::vector<State>& v, std::size_t i) -> const State& {
      return v.empty() ? zero : v[i];
    };
    const std::size_t segments = m_segments.size();
    // Adjoints of the start of the segment after the current one: its y0 and t0.
    State next_y0 = cot.y_end ? *cot.y_end : zero;
    scalar next_t0 = 0;
    bool have_next = false;  // a segment after the current one was differentiated
    std::vector<State> cotangents;
    State a_minus = zero, a_y = zero, g_y = zero, f = zero;
    params_type g_theta;
    for (std::size_t k = segments; k-- > 0;) {
      const segment_record& s = m_segments[k];
      cotangents.assign(s.outputs + 1, zero);
      for (std::size_t i = 0; i < s.outputs; ++i) cotangents[i] = entry(cot.ys, s.first_output + i);
      if (!s.fired) {
        cotangents.back() = next_y0;  // the last segment, ending at t1
      } else {
        const std::size_t e = k;  // segment k ends at event k
        const T tau = m_event_times[e];
        const State& y_minus = m_events_before[e];
        a_minus = entry(cot.before, e);
        scalar tau_bar =
            cot.event_times.empty() ? scalar(0) : static_cast<scalar>(cot.event_times[e]);
        if (m_terminated && e + 1 == m_event_times.size()) {
          a_minus += next_y0;  // y_end is y(τ⁻)
        } else {
          if (have_next) tau_bar += next_t0;
          if constexpr (std::is_same_v<Reset, no_reset>) {
            a_minus += next_y0;
          } else {
            tau_bar += detail::reset_vjp(ev.reset, tau, y_minus, params_view<scalar>(m_theta),
                                         next_y0, a_y, result.params);
            a_minus += a_y;
          }
        }
        // The implicit function theorem at g(τ, y(τ)) = 0.
        scalar g_t = 0;
        detail::condition_gradient(ev.condition, tau, y_minus, params_view<scalar>(m_theta), g_t,
                                   g_y, g_theta);
        f.resize(y_minus.rows(), y_minus.cols());
        term.vf(tau, y_minus, params_view<scalar>(m_theta), f);
        const scalar g_dot = g_t + (g_y.array() * f.array()).sum();
        const scalar mu = ((a_minus.array() * f.array()).sum() + tau_bar) / g_dot;
        if (!(std::abs(g_dot) > 0) || !std::isfinite(mu))
          return failed(nde::status::non_finite,
                        detail::concatenate("events: backward: the crossing at t = ", tau,
                                            " is tangential (dg/dt along the solution = ", g_dot,
                                            "), so the event time has no derivative there"));
        cotangents.back() = a_minus - mu * g_y;
        result.params -= mu * g_theta;
      }
      auto g = m_solvers[k]->backward(term, std::span<const State>(cotangents));
      result.stats += g.stats;
      if (g.status != nde::status::success)
        return failed(g.status, "events: backward of the segment from t = " +
                                    detail::concatenate(s.t0, " to ", s.t1, ": ") + g.message);
      if (k > 0 && !g.time_gradients)
        return failed(nde::status::invalid_input,
                      "events: gradients past an event need the segment's dL/dt0 (a term with "
                      "a time vjp, or an autonomous field)");
      result.params += g.params;
      next_y0 = g.y0;
      next_t0 = static_cast<scalar>(g.t0);
      have_next = true;
      if (k == 0) {
        result.y0 = g.y0;
        result.t0 = g.t0;
        result.time_gradients = g.time_gradients;
      }
      if (k + 1 == segments) result.t1 = s.fired ? T(0) : g.t1;
    }
    return result;
  }

 private:
  struct segment_record {
    T t0, t1;
    std::size_t first_output, outputs;
    bool fired;
  };

  void check_cotangents(const cotangent_type& cot) const {
    auto shape = [&](const State& c, const char* what, std::size_t i) {
      if (c.rows() != m_y_shape.rows() || c.cols() != m_y_shape.cols())
        throw error(status::invalid_input,
                    detail::concatenate("events: backward: ", what, "[", i, "] has shape ",
                                        c.rows(), "x", c.cols(), ", the state is ",
                                        m_y_shape.rows(), "x", m_y_shape.cols()));
      if (!c.allFinite())
        throw error(status::invalid_input,
                    detail::concatenate("events: backward: ", what, "[", i, "] is not finite"));
    };
    auto count = [](std::size_t got, std::size_t want, const char* what) {
      if (got != 0 && got != want)
        throw error(status::invalid_input,
                    detail::concatenate("events: backward: ", got, " ", what, " cotangents for ",
                                        want, " (or none)"));
    };
    count(cot.ys.size(), m_output_count, "output");
    count(cot.event_times.size(), m_event_times.size(), "event-time");
    count(cot.before.size(), m_event_times.size(), "pre-event state");
    for (std::size_t i = 0; i < cot.ys.size(); ++i) shape(cot.ys[i], "ys", i);
    for (std::size_t i = 0; i < cot.before.size(); ++i) shape(cot.before[i], "before", i);
    for (std::size_t i = 0; i < cot.event_times.size(); ++i)
      if (!std::isfinite(static_cast<double>(cot.event_times[i])))
        throw error(status::invalid_input,
                    detail::concatenate("events: backward: event_times[", i, "] is not finite"));
    if (cot.y_end) shape(*cot.y_end, "y_end", 0);
  }

  Stepper m_method;
  integrator<Stepper, State, T> m_locate;
  solution<T, State> m_segment;
  std::vector<std::unique_ptr<differentiable_integrator<Stepper, State, T>>> m_solvers;
  std::vector<segment_record> m_segments;
  std::vector<T> m_event_times;
  std::vector<State> m_events_before;
  params_type m_theta;
  State m_y_shape;
  std::size_t m_output_count = 0;
  bool m_differentiable = false;
  bool m_terminated = false;
  bool m_ready = false;
};

/// \brief Solves the term with one event in inference mode (no gradients).
template <class Term, class Stepper, class Condition, class Reset, state State, time_scalar T,
          class Params>
[[nodiscard]] event_solution<T, State> solve_events(Term&& term, const Stepper& method,
                                                    const event<Condition, Reset>& ev, T t0,
                                                    std::type_identity_t<T> t1, const State& y0,
                                                    const Params& theta,
                                                    const event_options& options = {}) {
  event_integrator<Stepper, State, T> solver(method, y0);
  event_solution<T, State> out;
  event_options plain = options;
  plain.solve.adjoint = inference{};
  const params_of_t<State> parameters = theta;
  solver.solve(term, ev, t0, t1, y0, params_view<scalar_of_t<State>>(parameters), plain, out);
  return out;
}

}  // namespace nde
