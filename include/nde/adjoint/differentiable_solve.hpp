/// \file
/// \brief Gradients of any solve: `nde::solve(term, solver, t0, t1, y0, θ, options)` with
/// `options.adjoint` set to a gradient method, then `s.backward(dL_dys)` → dL/dθ, dL/dy0,
/// dL/dt0, dL/dt1 and dL/dts[i] for every `save_at.ts` entry.
///
/// \code
/// auto s = nde::solve(nde::ode_term(field), nde::dopri5{}, 0.0, 1.0, y0, theta,
///                     {.save_at = nde::save_at::times({0.5, 1.0}),
///                      .adjoint = nde::discrete_adjoint{}});
/// auto g = s.backward(dL_dys);  // g.params, g.y0, g.t0, g.t1, g.ts
/// \endcode
///
/// Each method is a tape filled by the solve (a recorder the driver calls after each accepted
/// step and output) and a backward pass that uses only the term's capabilities (vjp, jvp) and
/// the stepper's own reverse or tangent step. Outputs between steps come from the dense output
/// in the forward pass and are differentiated through it (the discrete adjoint, forward
/// sensitivities) or added to the adjoint at their times (the continuous adjoints, whose
/// backward steps are clipped onto the output times).
///
/// Time gradients: `t0`, `t1` hold the output times fixed; `ts[i]` is the derivative with
/// respect to output time `save_at.ts[i]` alone. Outputs from `save_at.t0`/`.t1` move with t0/t1.
/// The discrete methods keep the step sizes fixed except steps clipped onto t1 (they stretch
/// with t1) and steps clipped onto given times (fixed). They need a time-differentiable term
/// (a time vjp or an autonomous field); otherwise `time_gradients` is false and the time
/// entries are NaN.
#pragma once

#include "nde/adjoint/binomial.hpp"
#include "nde/adjoint/detail/augmented_fields.hpp"
#include "nde/adjoint/methods.hpp"
#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/ode_term.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace nde {

/// \brief An algebraically reversible stepper (`reversible_heun`, `mali`, `reversible_rk`): an
/// auxiliary state z in its workspace (`auxiliary`, `next_auxiliary`, `initial_auxiliary`) and
/// a closed-form inverse of each step with its reverse-mode derivative (`reversal`,
/// `start_reversal`, `reverse_step`, `finish_reversal`), which `reversible_adjoint` uses.
template <class Stepper, class State>
concept algebraically_reversible_stepper = requires {
  typename Stepper::template reversal<State>;
  requires Stepper::algebraically_reversible;
};

namespace detail {
// Buffers a gradient method keeps, or an empty placeholder for steppers without them.
template <class Stepper, class State>
struct reverse_workspace_of {
  using type = std::monostate;
};
template <class Stepper, class State>
requires reversible_stepper<Stepper, State>
struct reverse_workspace_of<Stepper, State> {
  using type = typename Stepper::template reverse_workspace<State>;
};
template <class Stepper, class State>
struct tangent_workspace_of {
  using type = std::monostate;
};
template <class Stepper, class State>
requires reversible_stepper<Stepper, State>
struct tangent_workspace_of<Stepper, State> {
  using type = typename Stepper::template tangent_workspace<State>;
};
template <class Stepper, class State>
struct reversal_of {
  using type = std::monostate;
};
template <class Stepper, class State>
requires algebraically_reversible_stepper<Stepper, State>
struct reversal_of<Stepper, State> {
  using type = typename Stepper::template reversal<State>;
};
}  // namespace detail

/// \brief What `backward` returns.
template <state State, time_scalar T = double>
struct gradient_result {
  using scalar = scalar_of_t<State>;          ///< Scalar of states and parameters.
  params_of_t<State> params;                  ///< dL/dθ.
  State y0;                                   ///< dL/dy0.
  T t0 = 0;                                   ///< dL/dt0 (output times held fixed).
  T t1 = 0;                                   ///< dL/dt1 (output times held fixed).
  std::vector<T> ts;                          ///< dL/d save_at.ts[i].
  bool time_gradients = true;                 ///< False when the term cannot give them (then NaN).
  gradient_stats stats;                       ///< Forward and backward work.
  nde::status status = nde::status::success;  ///< A backward solve can fail like any solve.
  std::string message;                        ///< Empty on success.
};

/// \brief A reusable differentiable solver: the forward `integrator`, the tape of the chosen
/// gradient method, and the backward passes. Repeated solves of the same shape reuse every
/// buffer (the forward pass allocates nothing once the tape has grown to the step count).
/// \tparam Stepper e.g. `nde::dopri5`. \tparam State state type. \tparam T time scalar.
template <class Stepper, state State, time_scalar T = double>
class differentiable_integrator {
 public:
  using scalar = scalar_of_t<State>;                           ///< State scalar.
  using params_type = params_of_t<State>;                      ///< Flat parameter vector.
  using solution_type = solution<T, State>;                    ///< Forward result.
  using gradient_type = gradient_result<State, T>;             ///< Backward result.
  using flat_type = Eigen::Matrix<scalar, Eigen::Dynamic, 1>;  ///< Augmented adjoint states.

  /// \brief Buffers for states shaped like `like`.
  explicit differentiable_integrator(Stepper method = {},
                                     const State& like = detail::zero_state<State>())
      : m_method(method), m_forward(method, like) {}

  /// \brief The forward integrator.
  [[nodiscard]] integrator<Stepper, State, T>& forward_integrator() noexcept { return m_forward; }

  /// \brief Solves like `integrator::solve` and records what `options.adjoint` needs.
  template <class Term>
  nde::status solve(Term& term, T t0, T t1, const State& y0, params_view<scalar> theta,
                    const solve_options& options, solution_type& out) {
    m_ready = false;
    m_status = nde::status::success;
    m_message.clear();
    m_tape.method = options.adjoint;
    m_tape.options_save = options.save_at;
    m_tape.controller = options.controller;
    m_tape.max_steps = options.max_steps;
    m_tape.theta = theta;
    m_tape.store_all = std::holds_alternative<discrete_adjoint>(options.adjoint) &&
                       std::get<discrete_adjoint>(options.adjoint).max_checkpoints == 0;
    m_tape.reversible = std::holds_alternative<reversible_adjoint>(options.adjoint);
    if (m_tape.reversible)
      m_tape.store_all = std::get<reversible_adjoint>(options.adjoint).store_states;
    m_tape.every = 0;
    if (const auto* c = std::get_if<checkpointed_adjoint>(&options.adjoint))
      m_tape.every = std::max<std::size_t>(1, c->checkpoint_every);
    m_tape.keep_outputs = std::holds_alternative<backsolve_adjoint>(options.adjoint);
    m_tape.record_steps = std::holds_alternative<discrete_adjoint>(options.adjoint) ||
                          std::holds_alternative<checkpointed_adjoint>(options.adjoint) ||
                          m_tape.reversible;
    m_tape.record_outputs = !std::holds_alternative<inference>(options.adjoint);
    nde::status st = nde::status::success;
    if (auto problem = capability_problem<Term>(options.adjoint); !problem.empty()) {
      out.status = st = nde::status::invalid_input;
      out.message = problem;
      out.ts.clear();
      out.ys.clear();
    } else {
      recorder<Term> rec{this, &term};
      st = m_forward.solve_with(term, t0, t1, y0, theta, options, out, rec);
      if (st == nde::status::success && m_tape.reversible) {
        if (auto p = reversible_problem(); !p.empty()) {
          out.status = st = nde::status::invalid_input;
          out.message = std::move(p);
        }
      }
    }
    m_tape.forward_stats = out.stats;
    m_tape.forward_jvps = m_tape.jvps;
    m_status = st;
    m_message = out.message;
    m_output_count = out.ys.size();
    m_ready = st == nde::status::success && !std::holds_alternative<inference>(options.adjoint);
    return st;
  }

  /// \brief dL/dθ, dL/dy0 and the time gradients from dL/dy of every output of the last
  /// `solve` (same order as `solution::ys`; zero matrices for outputs the loss does not touch).
  /// A failed forward pass makes this return the forward's own status and message; an
  /// `nde::error` from the field during the backward pass becomes the gradient's status.
  /// \throws nde::error (invalid_input) after an inference solve, on a count or shape mismatch,
  ///   or on a NaN/Inf cotangent.
  template <class Term>
  [[nodiscard]] gradient_type backward(Term& term, std::span<const State> cotangents) {
    gradient_type g;
    if (m_status != nde::status::success) {
      g.status = m_status;
      g.message = "backward: the forward solve failed: " + m_message;
      return g;
    }
    if (std::holds_alternative<inference>(m_tape.method))
      throw error(status::invalid_input,
                  "backward: the solve ran in inference mode (solve_options::adjoint = "
                  "nde::inference{}); choose a gradient method to differentiate it");
    if (!m_ready) throw error(status::invalid_input, "backward: call a successful solve first");
    if (cotangents.size() != m_output_count)
      throw error(status::invalid_input,
                  detail::concatenate("backward: got ", cotangents.size(), " cotangents for ",
                                      m_output_count, " output times"));
    for (std::size_t i = 0; i < cotangents.size(); ++i) {
      const State& c = cotangents[i];
      if (c.rows() != m_tape.y0.rows() || c.cols() != m_tape.y0.cols())
        throw error(
            status::invalid_input,
            detail::concatenate("backward: cotangent ", i, " has shape ", c.rows(), "x", c.cols(),
                                ", the state is ", m_tape.y0.rows(), "x", m_tape.y0.cols()));
      if (!c.allFinite())
        throw error(status::invalid_input,
                    detail::concatenate("backward: cotangent ", i, " contains NaN or Inf"));
    }
    if (term.num_params() != m_tape.theta.size())
      throw error(status::invalid_input, "backward: the term's parameter count changed");
    const Eigen::Index p = m_tape.theta.size();
    g.params = params_type::Zero(p);
    g.y0 = m_tape.y0;
    g.y0.setZero();
    g.ts.assign(m_tape.options_save.ts.size(), T(0));
    g.stats.forward_rhs_evals = m_tape.forward_stats.rhs_evals;
    g.stats.forward_steps = m_tape.forward_stats.accepted_steps;
    g.stats.forward_rejected = m_tape.forward_stats.rejected_steps;
    g.stats.forward_jvp_evals = m_tape.forward_jvps;
    try {
      std::visit(
          [&](const auto& method) {
            using M = std::decay_t<decltype(method)>;
            if constexpr (!std::is_same_v<M, inference>) {
              if constexpr (supports<Term, M>()) backward_with(method, term, cotangents, g);
            }
          },
          m_tape.method);
    } catch (const nde::error& e) {
      // The field (or its vjp/jvp) rejected its input during the backward pass: a status, as
      // in the forward solve.
      g.status = e.code();
      g.message = std::string("backward: the vector field failed: ") + e.what();
    }
    return g;
  }

 private:
  // ---- capabilities ---------------------------------------------------------------------
  template <class Term, class M>
  static constexpr bool supports() {
    if constexpr (std::is_same_v<M, inference>) {
      return true;
    } else if constexpr (std::is_same_v<M, forward_sensitivity>) {
      return reversible_stepper<Stepper, State> && jvp_field<Term, T, State>;
    } else if constexpr (std::is_same_v<M, discrete_adjoint>) {
      return reversible_stepper<Stepper, State> && vjp_field<Term, T, State>;
    } else if constexpr (std::is_same_v<M, reversible_adjoint>) {
      return algebraically_reversible_stepper<Stepper, State> && vjp_field<Term, T, State>;
    } else if constexpr (std::is_same_v<M, checkpointed_adjoint>) {
      // A segment re-solve restarts from y alone; a reversible stepper's z is not stored.
      return !algebraically_reversible_stepper<Stepper, State> && vjp_field<Term, T, State>;
    } else {
      return vjp_field<Term, T, State>;
    }
  }
  template <class Term>
  static std::string capability_problem(const adjoint_method& method) {
    return std::visit(
        [](const auto& m) -> std::string {
          using M = std::decay_t<decltype(m)>;
          if (supports<Term, M>()) return {};
          // A stepper that cannot have an exact reverse or tangent step says why (Rosenbrock).
          if constexpr (std::is_same_v<M, forward_sensitivity> ||
                        std::is_same_v<M, discrete_adjoint>) {
            if constexpr (requires { Stepper::exact_gradient_unavailable; })
              return std::string(Stepper::exact_gradient_unavailable);
          }
          if constexpr (std::is_same_v<M, forward_sensitivity>)
            return "forward_sensitivity needs a term with a Jacobian-vector product (jvp) and a "
                   "stepper with a tangent step";
          if constexpr (std::is_same_v<M, reversible_adjoint>) {
            if (!algebraically_reversible_stepper<Stepper, State>)
              return "reversible_adjoint needs an algebraically reversible stepper "
                     "(reversible_heun, mali, reversible_rk<Tableau>); use discrete_adjoint "
                     "with this one";
          }
          if constexpr (std::is_same_v<M, discrete_adjoint>) {
            if (!reversible_stepper<Stepper, State>)
              return "discrete_adjoint needs a stepper with an exact reverse step (the "
                     "explicit_rk methods); for reversible_heun, mali and reversible_rk use "
                     "reversible_adjoint";
          }
          if constexpr (std::is_same_v<M, checkpointed_adjoint>) {
            if (algebraically_reversible_stepper<Stepper, State>)
              return "checkpointed_adjoint re-solves segments from stored y alone, which loses "
                     "a reversible stepper's auxiliary state; use reversible_adjoint";
          }
          return "this gradient method needs a term with a vector-Jacobian product (vjp)";
        },
        method);
  }

  // ---- the tape -------------------------------------------------------------------------
  struct step_entry {
    T t0, t1;
    boundary_kind kind;
    bool after_jump;
  };
  struct output_entry {
    std::size_t index;  // in solution::ys
    std::size_t step;   // the step whose dense output holds it
    T t;
    int source;  // save_at.ts index, or -1 (t0), -2 (t1), -3 (steps)
  };
  struct tape_type {
    adjoint_method method;
    nde::save_at options_save;
    step_size_controller controller;
    std::int64_t max_steps = 0;
    params_type theta;
    bool store_all = false;
    bool reversible = false;  // reversible_adjoint
    bool keep_outputs = false;
    bool record_outputs = false;
    std::size_t every = 0;
    T t0{}, t1{};
    State y0 = detail::zero_state<State>();
    bool record_steps = false;              // discrete, checkpointed: every step's end time
    std::vector<T> step_ends;               // one number per step …
    std::vector<unsigned char> step_flags;  // … and its boundary kind and jump flag
    [[nodiscard]] std::size_t step_count() const noexcept { return step_ends.size(); }
    [[nodiscard]] step_entry step(std::size_t k) const {
      const unsigned char flags = step_flags[k];
      const bool after_jump = (flags & 4u) != 0;
      T start = k == 0 ? t0 : step_ends[k - 1];
      if (after_jump) start = detail::restart_after_jump(start, t1 >= t0 ? T(1) : T(-1));
      return {start, step_ends[k], static_cast<boundary_kind>(flags & 3u), after_jump};
    }
    std::vector<output_entry> outputs;
    std::vector<State> states;  // discrete: every step start; checkpointed: every `every`
    std::size_t state_count = 0;
    // reversible: the last step's end (y, z); with store_states also every step start's z
    State y_end = detail::zero_state<State>(), z_end = detail::zero_state<State>();
    std::vector<State> aux_states;
    std::vector<State> output_values;  // backsolve: y at each output
    // forward sensitivities
    std::size_t directions = 0;
    std::vector<State> tangent, tangent_next;         // per direction
    std::vector<std::vector<State>> output_tangents;  // per output, per direction
    std::vector<State> output_rates;                  // per output: dp/dτ
    std::vector<T> boundary_dot, boundary_dot_next;  // τ̇ of the current step start, per direction
    params_type theta_dot;
    step_entry current_step{};
    const step_entry* current = nullptr;  // the last accepted step (forward sensitivities)
    std::size_t jvps = 0;
    solve_stats forward_stats;
    std::size_t forward_jvps = 0;
  };

  template <class V, class X>
  static X& slot(V& v, std::size_t i, const X& like) {
    if (i < v.size()) {
      v[i] = like;
      return v[i];
    }
    v.push_back(like);
    return v.back();
  }

  template <class Term>
  struct recorder {
    differentiable_integrator* self;
    Term* term;
    void begin(T t0, T t1, const State& y0) {
      auto& tp = self->m_tape;
      tp.t0 = t0;
      tp.t1 = t1;
      tp.y0 = y0;
      tp.step_ends.clear();
      tp.step_flags.clear();
      tp.outputs.clear();
      tp.state_count = 0;
      tp.jvps = 0;
      if constexpr (supports<Term, forward_sensitivity>()) {
        if (std::holds_alternative<forward_sensitivity>(tp.method)) self->begin_tangents(y0);
      }
    }
    template <class Step>
    void step(const Step& s) {
      auto& tp = self->m_tape;
      if (tp.record_steps) {
        tp.step_ends.push_back(s.t1);
        tp.step_flags.push_back(
            static_cast<unsigned char>(static_cast<unsigned>(s.kind) | (s.after_jump ? 4u : 0u)));
      }
      if constexpr (algebraically_reversible_stepper<Stepper, State>) {
        if (tp.reversible) {
          if (tp.store_all) slot(tp.aux_states, tp.state_count, self->m_method.auxiliary(s.ws));
          tp.y_end = s.y1;
          tp.z_end = self->m_method.next_auxiliary(s.ws);
        }
      }
      if (tp.store_all || (tp.every > 0 && s.index % tp.every == 0))
        slot(tp.states, tp.state_count++, s.y0);
      if constexpr (supports<Term, forward_sensitivity>()) {
        if (std::holds_alternative<forward_sensitivity>(tp.method)) self->tangent_step(*term, s);
      }
    }
    void output(std::size_t index, T t, std::size_t step, int source, const State& value) {
      auto& tp = self->m_tape;
      if (!tp.record_outputs) return;
      tp.outputs.push_back({index, step, t, source});
      if (tp.keep_outputs) slot(tp.output_values, tp.outputs.size() - 1, value);
      if constexpr (supports<Term, forward_sensitivity>()) {
        if (std::holds_alternative<forward_sensitivity>(tp.method))
          self->tangent_output(*term, t, source);
      }
    }
  };

  // ---- forward sensitivities --------------------------------------------------------------
  // Directions: θ (p), y0 (its n·cols entries), t0, t1.
  void begin_tangents(const State& y0) {
    auto& tp = m_tape;
    const Eigen::Index p = tp.theta.size();
    tp.directions = static_cast<std::size_t>(p + y0.size() + 2);
    tp.tangent.resize(tp.directions, y0);
    tp.tangent_next.resize(tp.directions, y0);
    tp.boundary_dot.assign(tp.directions, T(0));
    tp.boundary_dot_next.assign(tp.directions, T(0));
    for (std::size_t d = 0; d < tp.directions; ++d) {
      tp.tangent[d].setZero(y0.rows(), y0.cols());
      tp.tangent_next[d].setZero(y0.rows(), y0.cols());
      const auto e = static_cast<Eigen::Index>(d) - p;
      if (e >= 0 && e < y0.size()) tp.tangent[d].data()[e] = 1;
    }
    tp.boundary_dot[tp.directions - 2] = 1;  // d t0 / d t0
    tp.theta_dot = params_type::Zero(p);
    m_tangent_ws.resize(y0);
    m_rate_at_t0.clear();
    tp.current = nullptr;
  }
  template <class Term, class Step>
  void tangent_step(Term& term, const Step& s) {
    auto& tp = m_tape;
    const Eigen::Index p = tp.theta.size();
    for (std::size_t d = 0; d < tp.directions; ++d) {
      const T start = s.after_jump ? T(0) : tp.boundary_dot[d];
      T end = start;
      if (s.kind == boundary_kind::end) end = d + 1 == tp.directions ? T(1) : T(0);
      if (s.kind == boundary_kind::fixed) end = T(0);
      if (static_cast<Eigen::Index>(d) < p) tp.theta_dot[static_cast<Eigen::Index>(d)] = 1;
      tp.jvps += m_method.tangent_step(term, s.t0, s.t1, s.y0, s.y1, params_view<scalar>(tp.theta),
                                       s.ws, tp.tangent[d], params_view<scalar>(tp.theta_dot),
                                       static_cast<scalar>(start), static_cast<scalar>(end),
                                       tp.tangent_next[d], m_tangent_ws, true);
      if (static_cast<Eigen::Index>(d) < p) tp.theta_dot[static_cast<Eigen::Index>(d)] = 0;
      tp.boundary_dot[d] = start;
      tp.boundary_dot_next[d] = end;
      // Dense outputs of this step need each direction's stage tangents: keep them.
      slot(m_stage_tangents, d, m_tangent_ws);
    }
    tp.current_step = {s.t0, s.t1, s.kind, s.after_jump};
    m_step_y0 = s.y0;
    m_step_y1 = s.y1;
    m_step_ws = s.ws;
    std::swap(tp.tangent, tp.tangent_next);  // tangent now holds the step end's tangents
    std::swap(tp.boundary_dot, tp.boundary_dot_next);
    tp.current = &tp.current_step;
  }
  template <class Term>
  void tangent_output(Term&, T t, int source) {
    auto& tp = m_tape;
    const std::size_t i = tp.outputs.size() - 1;
    if (tp.output_tangents.size() <= i) tp.output_tangents.resize(i + 1);
    auto& out = tp.output_tangents[i];
    out.resize(tp.directions, tp.y0);
    slot(tp.output_rates, i, tp.y0);
    tp.output_rates[i].setZero();
    if (tp.current == nullptr || source < 0) {
      // Before any step (at t0), or an exact step end / t0 / t1 output: the tangent itself.
      for (std::size_t d = 0; d < tp.directions; ++d) out[d] = tp.tangent[d];
      if (tp.current == nullptr && source >= 0) m_rate_at_t0.push_back(i);
      return;
    }
    const auto& st = *tp.current;
    for (std::size_t d = 0; d < tp.directions; ++d)
      m_method.tangent_dense(st.t0, st.t1, t, m_step_y0, m_step_y1, m_step_ws, tp.tangent_next[d],
                             tp.tangent[d], static_cast<scalar>(tp.boundary_dot_next[d]),
                             static_cast<scalar>(tp.boundary_dot[d]), m_stage_tangents[d], out[d]);
    m_method.dense_derivative(st.t0, st.t1, t, m_step_y0, m_step_y1, m_step_ws, tp.output_rates[i]);
  }

  template <class Term>
  void backward_with(const forward_sensitivity&, Term& term, std::span<const State> cot,
                     gradient_type& g) {
    auto& tp = m_tape;
    const Eigen::Index p = tp.theta.size();
    const Eigen::Index n = tp.y0.size();
    for (std::size_t i = 0; i < tp.outputs.size(); ++i) {
      const State& c = cot[tp.outputs[i].index];
      const auto& s = tp.output_tangents[i];
      // s holds one tangent per direction: θ (p), y0 (n), t0, t1.
      const auto at = [&s](Eigen::Index d) -> const State& {
        return s[static_cast<std::size_t>(d)];
      };
      for (Eigen::Index k = 0; k < p; ++k) g.params[k] += c.cwiseProduct(at(k)).sum();
      for (Eigen::Index k = 0; k < n; ++k) g.y0.data()[k] += c.cwiseProduct(at(p + k)).sum();
      g.t0 += static_cast<T>(c.cwiseProduct(at(p + n)).sum());
      g.t1 += static_cast<T>(c.cwiseProduct(at(p + n + 1)).sum());
      if (tp.outputs[i].source >= 0)
        g.ts[static_cast<std::size_t>(tp.outputs[i].source)] +=
            static_cast<T>(c.cwiseProduct(tp.output_rates[i]).sum());
    }
    if (!m_rate_at_t0.empty()) {
      State f0 = tp.y0;
      term.vf(tp.t0, tp.y0, params_view<scalar>(tp.theta), f0);
      ++g.stats.backward_rhs_evals;
      // An output at τ = t0 (held fixed) moves like y(τ) = y0 - (t0 - τ) f0 as t0 moves.
      for (std::size_t i : m_rate_at_t0) {
        const auto v = static_cast<T>(cot[tp.outputs[i].index].cwiseProduct(f0).sum());
        g.ts[static_cast<std::size_t>(tp.outputs[i].source)] += v;
        g.t0 -= v;
      }
    }
  }

  // ---- discrete adjoint ---------------------------------------------------------------------
  template <class Term>
  void backward_with(const discrete_adjoint& method, Term& term, std::span<const State> cot,
                     gradient_type& g) {
    auto& tp = m_tape;
    constexpr bool with_time = time_differentiable_field<Term, T, State>;
    const std::size_t n_steps = tp.step_count();
    const params_view<scalar> theta(tp.theta);
    State y_bar = tp.y0;
    y_bar.setZero();
    if (n_steps == 0) {
      for (const auto& o : tp.outputs) g.y0 += cot[o.index];
      finish_time(g, with_time);
      return;
    }
    m_reverse.resize(tp.y0);
    m_step_start_bar.assign(n_steps, scalar(0));
    m_step_end_bar.assign(n_steps, scalar(0));
    // Outputs grouped by step (they were recorded in step order).
    std::size_t next_output = tp.outputs.size();
    auto reverse = [&](std::size_t k, const State& y_start) {
      const auto st = tp.step(k);
      std::size_t first = next_output;
      bool dense = false;
      while (first > 0 && tp.outputs[first - 1].step == k) {
        --first;
        // Outputs the loss does not touch (zero cotangent) contribute nothing.
        dense = dense || (tp.outputs[first].source >= 0 && !cot[tp.outputs[first].index].isZero(0));
      }
      g.stats.backward_rhs_evals +=
          m_method.replay(term, st.t0, st.t1, y_start, theta, m_reverse, dense);
      for (std::size_t o = first; o < next_output; ++o) {
        const auto& out = tp.outputs[o];
        const State& c = cot[out.index];
        if (c.isZero(0)) continue;
        if (out.source >= 0) {
          g.ts[static_cast<std::size_t>(out.source)] +=
              static_cast<T>(m_method.pull_dense(st.t0, st.t1, out.t, y_start, c, m_reverse));
        } else if (out.source == -1 || (k == 0 && out.t == st.t0 && out.source == -3)) {
          m_y0_direct += c;  // the initial state itself
        } else {
          y_bar += c;  // an exact step end (save_at.steps, t1)
        }
      }
      next_output = first;
      g.stats.backward_vjp_evals += m_method.pull_step(term, st.t0, st.t1, theta, m_reverse, y_bar,
                                                       params_ref<scalar>(g.params), with_time);
      m_step_start_bar[k] = m_reverse.t0_bar;
      m_step_end_bar[k] = m_reverse.t1_bar;
      ++g.stats.backward_steps;
    };
    m_y0_direct = tp.y0;
    m_y0_direct.setZero();
    typename Stepper::template workspace<State> ws = m_method.make_workspace(tp.y0);
    auto advance = [&](std::size_t k, const State& y_in, State& y_out) {
      const auto st = tp.step(k);
      m_method.init(term, st.t0, y_in, theta, ws);
      m_method.step(term, st.t0, st.t1, y_in, theta, ws, y_out);
      g.stats.backward_rhs_evals += Stepper::stages;
    };
    if (tp.store_all) {
      g.stats.peak_stored_states = n_steps - 1;
      for (std::size_t k = n_steps; k-- > 0;) reverse(k, tp.states[k]);
    } else {
      binomial_reverser<State, decltype(reverse), decltype(advance)> reverser(
          method.max_checkpoints, tp.y0);
      reverser.run(n_steps, tp.y0, reverse, advance);
      g.stats.peak_stored_states = reverser.peak();
      g.stats.recomputed_steps = reverser.recomputed();
    }
    g.stats.recomputed_steps += g.stats.backward_steps;
    g.y0 = y_bar + m_y0_direct;
    // Step boundaries: a free end sits a fixed step after the step's start, an `end` one is t1,
    // a fixed one a given time; a step starts where the previous one ended (or at a given time
    // just past a jump).
    if constexpr (with_time) {
      scalar carry = 0;
      scalar t1_bar = 0;
      for (std::size_t k = n_steps; k-- > 0;) {
        const scalar end = m_step_end_bar[k] + carry;
        scalar start = m_step_start_bar[k];
        const auto st = tp.step(k);
        if (st.kind == boundary_kind::free) start += end;
        if (st.kind == boundary_kind::end) t1_bar += end;
        carry = st.after_jump ? scalar(0) : start;
      }
      g.t0 += static_cast<T>(carry);
      g.t1 += static_cast<T>(t1_bar);
    }
    finish_time(g, with_time);
    if (!g.y0.allFinite() || !g.params.allFinite()) {
      g.status = status::non_finite;
      g.message =
          "backward: NaN or Inf in the discrete adjoint (overflow, or a field that is not "
          "finite there)";
    }
  }

  // ---- reversible adjoint --------------------------------------------------------------------
  // What the reversible adjoint cannot differentiate, found after the forward pass: outputs
  // read from the dense output inside a step, and restarts past jump_ts.
  std::string reversible_problem() const {
    const auto& tp = m_tape;
    for (std::size_t k = 0; k < tp.step_count(); ++k)
      if ((tp.step_flags[k] & 4u) != 0)
        return detail::concatenate(
            "reversible_adjoint: the solve restarted past a jump_ts entry at t = ", tp.step(k).t0,
            ", which resets the reversible solver's auxiliary state; remove jump_ts (use "
            "step_ts) or use another gradient method");
    for (const auto& o : tp.outputs) {
      if (o.t == tp.t0 && (o.step == 0 || tp.step_count() == 0)) continue;
      if (o.step < tp.step_count() && o.t == tp.step_ends[o.step]) continue;
      return detail::concatenate(
          "reversible_adjoint: the output at t = ", o.t,
          " lies inside a step (read from the dense output), which it cannot differentiate; "
          "make the steps land on the output times (pid_controller::step_ts, fixed_times, or a "
          "constant_step dt that divides them)");
    }
    return {};
  }

  template <class Term>
  void backward_with(const reversible_adjoint& method, Term& term, std::span<const State> cot,
                     gradient_type& g) {
    if constexpr (algebraically_reversible_stepper<Stepper, State>) {
      constexpr bool with_time = time_differentiable_field<Term, T, State>;
      auto& tp = m_tape;
      const std::size_t n_steps = tp.step_count();
      const params_view<scalar> theta(tp.theta);
      const params_ref<scalar> theta_bar(g.params);
      State& direct = m_y0_direct;
      direct = tp.y0;
      direct.setZero();
      std::size_t next_output = tp.outputs.size();
      // Outputs at t0 are y0 itself.
      for (const auto& o : tp.outputs)
        if (o.t == tp.t0 && (o.step == 0 || n_steps == 0)) direct += cot[o.index];
      if (n_steps == 0) {
        g.y0 = direct;
        finish_time(g, with_time);
        return;
      }
      // An output at a step end τ of a save_at.ts entry moves alone like y(τ) ≈ y_end +
      // (τ − t_end) f(τ, y_end): dL/dτ = ȳ·f, and −ȳ·f to the step end's time.
      auto output_rate = [&](const State& y_at, T t, const State& c) -> scalar {
        m_f0 = y_at;
        term.vf(t, y_at, theta, m_f0);
        ++g.stats.backward_rhs_evals;
        return c.cwiseProduct(m_f0).sum();
      };
      scalar carry = 0, t1_total = 0;
      auto& r = m_reversal;
      g.stats.backward_rhs_evals +=
          m_method.start_reversal(term, tp.t1, tp.y_end, tp.z_end, theta, r);
      g.stats.peak_stored_states = tp.store_all ? 2 * n_steps : 2;
      const scalar scale = std::max<scalar>(scalar(1), tp.y0.template lpNorm<Eigen::Infinity>());
      for (std::size_t k = n_steps; k-- > 0;) {
        const auto st = tp.step(k);
        scalar end_bar = 0;
        for (; next_output > 0 && tp.outputs[next_output - 1].step == k; --next_output) {
          const auto& o = tp.outputs[next_output - 1];
          if (o.t == st.t1 && !(o.t == tp.t0 && k == 0)) {
            const State& c = cot[o.index];
            r.y_bar += c;
            if (with_time && o.source >= 0 && !c.isZero(0)) {
              const scalar v = output_rate(r.y, o.t, c);
              g.ts[static_cast<std::size_t>(o.source)] += static_cast<T>(v);
              end_bar -= v;
            }
          }
        }
        const State* y_start = tp.store_all ? &tp.states[k] : nullptr;
        const State* z_start = tp.store_all ? &tp.aux_states[k] : nullptr;
        const auto counts = m_method.reverse_step(term, st.t0, st.t1, theta, r, theta_bar, y_start,
                                                  z_start, with_time);
        if constexpr (with_time) {
          // A free step end sits a fixed step after its start, an `end` one is t1, a fixed one
          // a given time; a step starts where the previous one ended.
          const scalar end = r.t1_bar + end_bar + carry;
          scalar start = r.t0_bar;
          if (st.kind == boundary_kind::free) start += end;
          if (st.kind == boundary_kind::end) t1_total += end;
          carry = start;
        }
        g.stats.backward_rhs_evals += counts.evaluations;
        g.stats.backward_vjp_evals += counts.vjps;
        ++g.stats.backward_steps;
        // A reconstruction that has left the trajectory by far more than round-off: stop here.
        if (!r.y.allFinite() || !r.z.allFinite() || !r.y_bar.allFinite() || !r.z_bar.allFinite()) {
          g.status = status::non_finite;
          g.message = detail::concatenate(
              "backward: the reversible reconstruction diverged (NaN or Inf) at step ", k + 1,
              " of ", n_steps, " (t = ", st.t0,
              "): the inverse of the solver is unstable for this field at these steps; take "
              "smaller steps (for reversible_rk: lambda closer to 1), or use discrete_adjoint");
          return;
        }
      }
      g.stats.recomputed_steps = g.stats.backward_steps;
      // How far the rebuilt start is from the true one (0 with stored states).
      g.stats.backward_rhs_evals += m_method.initial_auxiliary(term, tp.t0, tp.y0, theta, m_z0);
      const scalar error = std::max((r.y - tp.y0).template lpNorm<Eigen::Infinity>(),
                                    (r.z - m_z0).template lpNorm<Eigen::Infinity>());
      g.stats.reconstruction_error = static_cast<double>(error);
      r.y = tp.y0;
      r.z = m_z0;
      g.stats.backward_vjp_evals +=
          m_method.finish_reversal(term, tp.t0, theta, r, theta_bar, with_time);
      g.y0 = r.y_bar + direct;
      if constexpr (with_time) {
        g.t0 += static_cast<T>(carry + r.t0_bar);
        g.t1 += static_cast<T>(t1_total);
        // save_at.ts entries at t0, held fixed while t0 moves: y(τ) ≈ y0 − (t0 − τ) f(t0, y0).
        for (const auto& o : tp.outputs) {
          if (o.source < 0 || o.t != tp.t0 || o.step != 0 || cot[o.index].isZero(0)) continue;
          const scalar v = output_rate(tp.y0, tp.t0, cot[o.index]);
          g.ts[static_cast<std::size_t>(o.source)] += static_cast<T>(v);
          g.t0 -= static_cast<T>(v);
        }
      }
      finish_time(g, with_time);
      if (!(error <= static_cast<scalar>(method.tolerance) * scale)) {
        g.status = status::reconstruction_failed;
        g.message = detail::concatenate(
            "backward: the reversible reconstruction diverged: the rebuilt y0 is ", error,
            " away from the true one (tolerance ", method.tolerance, " x ", scale, ", over ",
            n_steps,
            " steps), so the gradient is not that of the forward solve; the inverse of the solver "
            "amplifies round-off for this field at these steps: take smaller steps (for "
            "reversible_rk: lambda closer to 1), or use discrete_adjoint");
        return;
      }
      if (!g.y0.allFinite() || !g.params.allFinite()) {
        g.status = status::non_finite;
        g.message = "backward: NaN or Inf in the reversible adjoint";
      }
    } else {
      (void)method;
      (void)term;
      (void)cot;
      (void)g;
    }
  }

  void finish_time(gradient_type& g, bool with_time) {
    g.time_gradients = with_time;
    if (!with_time) {
      g.t0 = g.t1 = std::numeric_limits<T>::quiet_NaN();
      std::fill(g.ts.begin(), g.ts.end(), std::numeric_limits<T>::quiet_NaN());
    }
  }

  // ---- continuous adjoints --------------------------------------------------------------------
  // The backward error norm of [blocks…] (largest per-block RMS; the seminorm drops the last),
  // or the forward constant step for a method without an error estimate.
  template <class Continuous>
  std::string adjoint_controller(const Continuous& method, std::array<Eigen::Index, 3> blocks,
                                 std::size_t count, step_size_controller& out) const {
    if constexpr (!Stepper::adaptive) {
      if (!std::holds_alternative<constant_step>(m_tape.controller))
        return "continuous adjoints with a method without an error estimate need constant_step";
      out = m_tape.controller;
    } else {
      pid_controller c = method.controller;
      c.custom_norm = detail::block_rms{blocks, method.seminorm ? count - 1 : count};
      out = c;
    }
    return {};
  }

  // Output stops of the backward sweep: distinct output times, descending in the direction of
  // integration, each with the sum of its cotangents; t0 last. Source -1 (t0) outputs add to
  // the initial state only.
  void collect_stops(std::span<const State> cot) {
    auto& tp = m_tape;
    m_stop_times.clear();
    m_stop_cot.clear();
    m_stop_outputs.clear();
    m_stop_times.push_back(tp.t0);
    m_stop_cot.push_back(tp.y0);
    m_stop_cot.back().setZero();
    m_stop_outputs.push_back(-1);
    for (std::size_t o = 0; o < tp.outputs.size(); ++o) {
      const auto& out = tp.outputs[o];
      if (out.t != m_stop_times.back()) {
        m_stop_times.push_back(out.t);
        m_stop_cot.push_back(cot[out.index]);
        m_stop_outputs.push_back(static_cast<std::ptrdiff_t>(o));
      } else {
        m_stop_cot.back() += cot[out.index];
        m_stop_outputs.back() = static_cast<std::ptrdiff_t>(o);
      }
    }
  }

  // dL/dt from the continuous identities: dL/dts_i = ȳ_i·f(τ_i, y_i), dL/dt1 = ȳ(t1 flag)·f,
  // dL/dt0 = -(dL/dy0 - ȳ(t0 flag))·f(t0, y0). `y_at(o)` is the stored or re-solved output.
  template <class Term, class YAt>
  void continuous_time_gradients(Term& term, std::span<const State> cot, gradient_type& g,
                                 YAt y_at) {
    auto& tp = m_tape;
    const params_view<scalar> theta(tp.theta);
    State f = tp.y0;
    State direct = tp.y0;
    direct.setZero();
    // f(t0, y0), evaluated once (an output at t0 reads it too).
    State& f0 = m_f0;
    f0 = tp.y0;
    term.vf(tp.t0, tp.y0, theta, f0);
    ++g.stats.backward_rhs_evals;
    for (std::size_t o = 0; o < tp.outputs.size(); ++o) {
      const auto& out = tp.outputs[o];
      const State& c = cot[out.index];
      if (out.source == -1) direct += c;
      // Outputs the loss does not touch (zero cotangent) need no evaluation.
      if ((out.source >= 0 || out.source == -2) && !c.isZero(0)) {
        const State* rate = &f0;
        if (out.t != tp.t0) {
          term.vf(out.t, y_at(o), theta, f);
          ++g.stats.backward_rhs_evals;
          rate = &f;
        }
        const auto v = static_cast<T>(c.cwiseProduct(*rate).sum());
        if (out.source >= 0) g.ts[static_cast<std::size_t>(out.source)] += v;
        if (out.source == -2) g.t1 += v;
      }
    }
    g.t0 -= static_cast<T>((g.y0 - direct).cwiseProduct(f0).sum());
  }

  // One backward solve of an augmented system from `from` to `to`; z is updated in place.
  // False (with g's status and message set) when it fails.
  template <class Solver, class System>
  bool backward_solve(Solver& solver, System& system, T from, T to, const solve_options& opts,
                      flat_type& z, gradient_type& g) {
    solver.solve(system, from, to, z, opts, m_adjoint_solution);
    const auto& s = m_adjoint_solution;
    g.stats.backward_rhs_evals += s.stats.rhs_evals;
    g.stats.backward_steps += s.stats.accepted_steps;
    g.stats.backward_rejected += s.stats.rejected_steps;
    if (!s.success()) {
      g.status = s.status;
      g.message = detail::concatenate("backward: from t = ", from, " to ", to, ": ", s.message);
      return false;
    }
    z = s.ys.back();
    return true;
  }

  template <class Term>
  void backward_with(const backsolve_adjoint& method, Term& term, std::span<const State> cot,
                     gradient_type& g) {
    auto& tp = m_tape;
    const Eigen::Index m = tp.y0.size();
    const Eigen::Index p = tp.theta.size();
    std::size_t vjps = 0;
    detail::backsolve_system<Term, State> system{
        &term, params_view<scalar>(tp.theta), tp.y0, tp.y0, tp.y0, tp.y0, &vjps};
    solve_options opts{.save_at = save_at::final_time(), .max_steps = method.max_steps};
    if (auto problem = adjoint_controller(method, {m, m, p}, 3, opts.controller);
        !problem.empty()) {
      g.status = status::invalid_input;
      g.message = "backward: " + problem;
      return;
    }
    collect_stops(cot);
    flat_type z(2 * m + p);
    z.setZero();
    State a = m_stop_cot.back();
    integrator<Stepper, flat_type, T> solver(m_method, z);
    for (std::size_t i = m_stop_times.size() - 1; i > 0; --i) {
      const auto o = static_cast<std::size_t>(m_stop_outputs[i]);
      detail::flatten(tp.output_values[o], z.segment(0, m));
      detail::flatten(a, z.segment(m, m));
      if (!backward_solve(solver, system, m_stop_times[i], m_stop_times[i - 1], opts, z, g)) return;
      detail::unflatten(z.segment(m, m), a);
      a += m_stop_cot[i - 1];
    }
    g.stats.backward_vjp_evals = vjps;
    g.params = z.tail(p);
    g.y0 = a;
    continuous_time_gradients(term, cot, g,
                              [&](std::size_t o) -> const State& { return tp.output_values[o]; });
  }

  template <class Term>
  void backward_with(const checkpointed_adjoint& method, Term& term, std::span<const State> cot,
                     gradient_type& g) {
    auto& tp = m_tape;
    const Eigen::Index m = tp.y0.size();
    const Eigen::Index p = tp.theta.size();
    std::size_t vjps = 0;
    detail::interpolating_system<Term, State, T> system{
        &term, params_view<scalar>(tp.theta), nullptr, tp.y0, tp.y0, tp.y0, &vjps};
    solve_options opts{.save_at = save_at::final_time(), .max_steps = method.max_steps};
    if (auto problem = adjoint_controller(method, {m, p, 0}, 2, opts.controller);
        !problem.empty()) {
      g.status = status::invalid_input;
      g.message = "backward: " + problem;
      return;
    }
    collect_stops(cot);
    const std::size_t n_steps = tp.step_count();
    flat_type z(m + p);
    z.setZero();
    State a = tp.y0;
    a.setZero();
    integrator<Stepper, flat_type, T> solver(m_method, z);
    // Output values (re-solved) for the time gradients.
    m_resolved.resize(tp.outputs.size(), tp.y0);
    std::size_t stop = m_stop_times.size() - 1;  // next stop to reach, from the top
    typename Stepper::template workspace<State> ws = m_method.make_workspace(tp.y0);
    std::array<State, Stepper::dense_degree + 1> coefficients;
    State y = tp.y0, y_next = tp.y0;
    const params_view<scalar> theta(tp.theta);
    // Segments of `every` steps, last first.
    const std::size_t segments = n_steps == 0 ? 0 : (n_steps + tp.every - 1) / tp.every;
    for (std::size_t seg = segments; seg-- > 0;) {
      const std::size_t first = seg * tp.every;
      const std::size_t last = std::min(n_steps, first + tp.every);
      // Re-solve the recorded steps of this segment with dense output.
      m_segment.start(tp.step(first).t0, tp.states[seg], Stepper::dense_degree);
      y = tp.states[seg];
      for (std::size_t k = first; k < last; ++k) {
        const auto st = tp.step(k);
        // The first stage is evaluated afresh only at the segment's start and after a jump;
        // otherwise it is the previous step's end derivative, as in the forward pass.
        if (k == first || st.after_jump) {
          m_method.init(term, st.t0, y, theta, ws);
          ++g.stats.backward_rhs_evals;
        }
        m_method.step(term, st.t0, st.t1, y, theta, ws, y_next);
        m_method.evaluate_end(term, st.t1, y_next, theta, ws);
        detail::evaluate_dense_stages(m_method, term, st.t0, st.t1, y, theta, ws);
        g.stats.backward_rhs_evals +=
            static_cast<std::size_t>(Stepper::stages - 1 + (Stepper::fsal ? 0 : 1) +
                                     detail::dense_evaluations_of<Stepper>());
        ++g.stats.recomputed_steps;
        m_method.dense_coefficients(st.t0, st.t1, y, y_next, ws, coefficients);
        m_segment.append(st.t1, coefficients, y_next);
        m_method.advance(ws);
        y.swap(y_next);
      }
      g.stats.peak_stored_states =
          std::max(g.stats.peak_stored_states,
                   tp.state_count + m_segment.segments() * (Stepper::dense_degree + 1));
      for (std::size_t o = 0; o < tp.outputs.size(); ++o) {
        const auto& out = tp.outputs[o];
        if (out.step >= first && out.step < last) m_segment.evaluate(out.t, m_resolved[o]);
      }
      system.forward = &m_segment;
      const T seg_lo = tp.step(first).t0;
      const T direction = tp.t1 >= tp.t0 ? T(1) : T(-1);
      // Backward from the segment's top to its bottom, stopping at each output time inside.
      T t_cur = tp.step(last - 1).t1;
      while (true) {
        for (; stop > 0 && m_stop_times[stop] == t_cur; --stop) a += m_stop_cot[stop];
        const T target = stop > 0 && detail::before(seg_lo, m_stop_times[stop], direction)
                             ? m_stop_times[stop]
                             : seg_lo;
        if (target != t_cur) {
          detail::flatten(a, z.segment(0, m));
          if (!backward_solve(solver, system, t_cur, target, opts, z, g)) return;
          detail::unflatten(z.segment(0, m), a);
        }
        t_cur = target;
        if (target == seg_lo) break;
      }
    }
    for (; stop > 0; --stop) a += m_stop_cot[stop];
    a += m_stop_cot[0];  // outputs at t0
    g.stats.backward_vjp_evals = vjps;
    g.params = z.tail(p);
    g.y0 = a;
    continuous_time_gradients(term, cot, g, [&](std::size_t o) -> const State& {
      return tp.outputs[o].t == tp.t0 ? tp.y0 : m_resolved[o];
    });
  }

  Stepper m_method;
  integrator<Stepper, State, T> m_forward;
  tape_type m_tape;
  bool m_ready = false;
  nde::status m_status = nde::status::success;
  std::string m_message;
  std::size_t m_output_count = 0;
  // discrete
  typename detail::reverse_workspace_of<Stepper, State>::type m_reverse;
  // reversible
  typename detail::reversal_of<Stepper, State>::type m_reversal;
  State m_z0 = detail::zero_state<State>();
  std::vector<scalar> m_step_start_bar, m_step_end_bar;
  State m_y0_direct = detail::zero_state<State>();
  // forward sensitivities
  typename detail::tangent_workspace_of<Stepper, State>::type m_tangent_ws;
  std::vector<typename detail::tangent_workspace_of<Stepper, State>::type> m_stage_tangents;
  typename Stepper::template workspace<State> m_step_ws;
  State m_step_y0 = detail::zero_state<State>(), m_step_y1 = detail::zero_state<State>();
  std::vector<std::size_t> m_rate_at_t0;
  // continuous
  std::vector<T> m_stop_times;
  std::vector<State> m_stop_cot;
  std::vector<std::ptrdiff_t> m_stop_outputs;
  std::vector<State> m_resolved;
  State m_f0 = detail::zero_state<State>();
  dense_solution<T, State> m_segment;
  solution<T, flat_type> m_adjoint_solution;
};

/// \brief What the differentiable `nde::solve` returns: the solution, and `backward`.
/// Holds the term (a copy when `solve` was given a temporary, else a reference: the term must
/// then outlive the solution), θ and the tape.
template <class Term, class Stepper, state State, time_scalar T>
class differentiable_solution : public solution<T, State> {
 public:
  /// \brief Gradient type.
  using gradient_type = gradient_result<State, T>;

  /// \brief Made by `nde::solve`.
  differentiable_solution(std::shared_ptr<Term> term,
                          std::unique_ptr<differentiable_integrator<Stepper, State, T>> solver)
      : m_term(std::move(term)), m_solver(std::move(solver)) {}

  /// \brief dL/dθ, dL/dy0 and the time gradients from dL/dy(ts_i), one per output.
  [[nodiscard]] gradient_type backward(std::span<const State> cotangents) {
    return m_solver->backward(*m_term, cotangents);
  }
  /// \brief `backward` from a vector of cotangents.
  [[nodiscard]] gradient_type backward(const std::vector<State>& cotangents) {
    return backward(std::span<const State>(cotangents));
  }

 private:
  std::shared_ptr<Term> m_term;
  std::unique_ptr<differentiable_integrator<Stepper, State, T>> m_solver;
};

/// \brief Solves the term from (t0, y0) with parameters θ and records what
/// `options.adjoint` needs for `backward` (nothing in inference mode).
/// \return a `differentiable_solution`: `ts`, `ys`, `stats`, `status`, `message`, `backward`.
template <class Term, class Stepper, state State, time_scalar T, class Params>
requires(!vector_field<std::remove_cvref_t<Term>, T, State>)
    [[nodiscard]] auto solve(Term&& term, const Stepper& method, T t0, std::type_identity_t<T> t1,
                             const State& y0, const Params& theta,
                             const solve_options& options = {}) {
  using term_type = std::remove_cvref_t<Term>;
  std::shared_ptr<term_type> held;
  if constexpr (std::is_lvalue_reference_v<Term>) {
    held = std::shared_ptr<term_type>(std::shared_ptr<term_type>{}, &term);
  } else {
    held = std::make_shared<term_type>(std::forward<Term>(term));  // an rvalue here
  }
  auto solver = std::make_unique<differentiable_integrator<Stepper, State, T>>(method, y0);
  const params_of_t<State> parameters = theta;
  auto* raw = solver.get();
  differentiable_solution<term_type, Stepper, State, T> out(held, std::move(solver));
  raw->solve(*held, t0, t1, y0, params_view<scalar_of_t<State>>(parameters), options, out);
  return out;
}

}  // namespace nde
