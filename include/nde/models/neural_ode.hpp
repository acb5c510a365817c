/// \file
/// \brief `nde::neural_ode`: a differentiable field solved by a Runge–Kutta method, with a
/// hand-written backward pass chosen at compile time (backsolve, checkpointed or discrete
/// adjoint).
///
/// \code
/// nde::neural_ode<Field, nde::dopri5, nde::discrete_adjoint> model(field, theta);
/// const auto& ys = model.forward(y0, ts).ys;      // ys[i] = y(ts[i]), ys[0] = y0
/// auto grad = model.backward(dL_dys);             // grad.params = dL/dθ, grad.y0 = dL/dy0
/// \endcode
///
/// The forward pass solves each output interval [ts[i], ts[i+1]] in turn (so every output
/// time is a step boundary, which the adjoints need to add dL/dy(t_i)); the adaptive step of
/// one interval seeds the next. Output times may be irregular, increasing or decreasing.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/gradients/detail/augmented_fields.hpp"
#include "nde/gradients/discrete_reverse.hpp"
#include "nde/gradients/gradient_methods.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/models/differentiable_field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace nde {

/// \brief Settings of the forward pass of a `neural_ode`.
struct neural_ode_options {
  /// Step-size policy of the forward solve: `pi_controller` (needs an adaptive method),
  /// `constant_step`, or `fixed_times` is not allowed here (output times already split the solve).
  step_size_controller controller = pi_controller{.rtol = 1e-6, .atol = 1e-9};
  std::int64_t max_steps = 100000;  ///< Step budget of each output interval.
};

/// \brief Outputs of `neural_ode::forward`.
template <time_scalar T, state State>
struct forward_result {
  std::vector<T> ts;      ///< The output times asked for.
  std::vector<State> ys;  ///< y(ts[i]); on failure, the outputs reached so far.
  solve_stats stats;      ///< Forward work.
  /// \brief `success`, or why the forward solve stopped.
  nde::status status = nde::status::success;
  std::string message;  ///< Empty on success.
};

/// \brief Result of `neural_ode::backward`.
template <state State>
struct gradient_result {
  /// \brief Scalar of states and parameters.
  using scalar = scalar_of_t<State>;
  Eigen::Matrix<scalar, Eigen::Dynamic, 1> params;  ///< dL/dθ.
  State y0;                                         ///< dL/dy0.
  gradient_stats stats;                             ///< Forward and backward work.
  nde::status status = nde::status::success;        ///< A backward solve can fail like any solve.
  std::string message;                              ///< Empty on success.
};

namespace detail {
template <class Gradient>
inline constexpr bool is_gradient_method =
    std::is_same_v<Gradient, backsolve_adjoint> || std::is_same_v<Gradient, checkpointed_adjoint> ||
    std::is_same_v<Gradient, discrete_adjoint>;
}  // namespace detail

/// \brief A neural ODE `dy/dt = f(t, y; θ)` with its gradient.
///
/// \tparam Field a `differentiable_vector_field` (network adapter, known physics, or a sum).
/// \tparam Method an `explicit_rk<Tableau>` (e.g. `nde::dopri5`, `nde::rk4`).
/// \tparam Gradient `backsolve_adjoint`, `checkpointed_adjoint` or `discrete_adjoint`.
/// \tparam State state type: a column vector, or a matrix whose columns are a batch solved with
///   one shared step (as torchdiffeq). \tparam T time scalar.
///
/// The model owns θ (`params()`); the field only reads it. Not thread-safe: use one model per
/// thread, or `per_sample_gradients`, which copies the model for each thread.
template <class Field, class Method, class Gradient, state State, time_scalar T = double>
requires detail::is_gradient_method<Gradient> && differentiable_vector_field<Field, T, State>
class neural_ode {
 public:
  using scalar = scalar_of_t<State>;                             ///< Scalar of states and θ.
  using params_type = Eigen::Matrix<scalar, Eigen::Dynamic, 1>;  ///< Flat parameter vector.
  using flat_type = params_type;                                 ///< Augmented adjoint states.
  /// \brief Result of `forward`.
  using forward_type = forward_result<T, State>;
  /// \brief Result of `backward`.
  using gradient_type = gradient_result<State>;

  /// \brief A model with field `field` and parameters `theta` (length `field.num_params()`).
  /// \throws nde::error (invalid_input) if the lengths disagree.
  neural_ode(Field field, params_type theta, Gradient gradient = {},
             neural_ode_options options = {}, Method method = {})
      : m_field(std::move(field)),
        m_params(std::move(theta)),
        m_gradient(std::move(gradient)),
        m_options(std::move(options)),
        m_method(std::move(method)) {
    check_params();
    if (std::holds_alternative<fixed_times>(m_options.controller))
      throw error(status::invalid_input,
                  "neural_ode: use pi_controller or constant_step for the forward pass");
  }

  /// \brief θ (writable: optimisers update it in place).
  [[nodiscard]] params_type& params() noexcept { return m_params; }
  /// \brief θ, read-only.
  [[nodiscard]] const params_type& params() const noexcept { return m_params; }
  /// \brief The vector field.
  [[nodiscard]] Field& field() noexcept { return m_field; }
  /// \brief The gradient method's settings.
  [[nodiscard]] Gradient& gradient_method() noexcept { return m_gradient; }
  /// \brief The forward settings.
  [[nodiscard]] neural_ode_options& options() noexcept { return m_options; }

  /// \brief Solves from y(ts[0]) = y0 and reports y at every ts[i] (ys[0] = y0). ts must be
  /// strictly monotone (either direction) and finite. Keeps what the backward pass needs.
  /// \return the outputs; failures (invalid times, NaN, step limits) are in `status`/`message`.
  const forward_type& forward(const State& y0, std::span<const T> ts) {
    check_params();
    m_ready = false;
    // Copies first: y0 or ts may refer to the previous result (continuing a rollout).
    const State start = y0;
    std::vector<T> times(ts.begin(), ts.end());
    auto& r = m_forward;
    r.ts = std::move(times);
    r.ys.clear();
    r.stats = {};
    r.status = status::success;
    r.message.clear();
    m_steps.clear();
    m_step_states.clear();
    m_interval_dt0.clear();
    const auto& t = r.ts;
    if (std::holds_alternative<fixed_times>(m_options.controller))
      return fail_forward(status::invalid_input,
                          "forward: use pi_controller or constant_step (the output times split the "
                          "solve; fixed_times does not apply)");
    if (t.empty())
      return fail_forward(status::invalid_input,
                          "forward: ts is empty (ts[0] is the initial time)");
    for (std::size_t i = 0; i < t.size(); ++i)
      if (!std::isfinite(static_cast<double>(t[i])))
        return fail_forward(status::invalid_input,
                            "forward: ts[" + std::to_string(i) + "] is not finite");
    const T direction = t.size() > 1 && t[1] < t[0] ? T(-1) : T(1);
    for (std::size_t i = 1; i < t.size(); ++i)
      if (!(direction * (t[i] - t[i - 1]) > 0))
        return fail_forward(status::invalid_input,
                            "forward: ts must be strictly monotone; ts[" + std::to_string(i - 1) +
                                "] = " + std::to_string(t[i - 1]) + ", ts[" + std::to_string(i) +
                                "] = " + std::to_string(t[i]));
    if (!start.allFinite())
      return fail_forward(status::non_finite, "forward: y0 contains NaN or Inf");
    r.ys.push_back(start);
    m_state_shape = start;
    m_forward_params = m_params;
    m_stored_every_step = store_every_step();

    auto f = bound_field();
    solve_options opts{.save_at = save_at::final_time(),
                       .controller = m_options.controller,
                       .max_steps = m_options.max_steps,
                       .record_steps = needs_steps(),
                       .dense = false};
    if (m_stored_every_step) opts.save_at = save_at::every_step();
    auto* pi = std::get_if<pi_controller>(&opts.controller);
    double next_dt0 = pi ? pi->dt0 : 0.0;
    for (std::size_t i = 0; i + 1 < t.size(); ++i) {
      if (pi) pi->dt0 = next_dt0;
      m_interval_dt0.push_back(next_dt0);
      m_forward_integrator.solve(f, t[i], t[i + 1], r.ys.back(), opts, m_scratch_solution);
      const auto& s = m_scratch_solution;
      r.stats.rhs_evals += s.stats.rhs_evals;
      r.stats.accepted_steps += s.stats.accepted_steps;
      r.stats.rejected_steps += s.stats.rejected_steps;
      if (!s.success()) {
        r.status = s.status;
        r.message = "forward: interval " + std::to_string(i) + " [" + std::to_string(t[i]) + ", " +
                    std::to_string(t[i + 1]) + "]: " + s.message;
        return r;
      }
      if (needs_steps()) m_steps.push_back(s.step_times);
      if (m_stored_every_step) m_step_states.emplace_back(s.ys.begin(), s.ys.end() - 1);
      r.ys.push_back(s.ys.back());
      // The controller's proposal after the interval's last step seeds the next interval.
      if (pi) next_dt0 = std::min(m_forward_integrator.proposed_step(), pi->dtmax);
    }
    m_ready = true;
    return r;
  }

  /// \brief The last forward result.
  [[nodiscard]] const forward_type& last_forward() const noexcept { return m_forward; }

  /// \brief dL/dθ and dL/dy0 from dL/dy(ts[i]) (one cotangent per output of the last
  /// `forward`; zero matrices for outputs the loss does not touch).
  /// \throws nde::error (invalid_input) without a successful forward pass, on a count or
  ///   shape mismatch, or on a NaN/Inf cotangent. Backward solver failures are statuses.
  gradient_type backward(std::span<const State> output_cotangents) {
    if (!m_ready) throw error(status::invalid_input, "backward: call a successful forward() first");
    const auto& r = m_forward;
    if (output_cotangents.size() != r.ys.size())
      throw error(status::invalid_input,
                  "backward: got " + std::to_string(output_cotangents.size()) + " cotangents for " +
                      std::to_string(r.ys.size()) + " output times");
    for (std::size_t i = 0; i < output_cotangents.size(); ++i) {
      const State& c = output_cotangents[i];
      if (c.rows() != m_state_shape.rows() || c.cols() != m_state_shape.cols())
        throw error(status::invalid_input, "backward: cotangent " + std::to_string(i) +
                                               " has shape " + std::to_string(c.rows()) + "x" +
                                               std::to_string(c.cols()) + ", the state is " +
                                               std::to_string(m_state_shape.rows()) + "x" +
                                               std::to_string(m_state_shape.cols()));
      if (!c.allFinite())
        throw error(status::invalid_input,
                    "backward: cotangent " + std::to_string(i) + " contains NaN or Inf");
    }
    check_params();
    if (m_params.size() != m_forward_params.size() ||
        !(m_params.array() == m_forward_params.array()).all())
      throw error(status::invalid_input,
                  "backward: the parameters changed since forward(); run forward() again");
    gradient_type g;
    g.params = params_type::Zero(m_params.size());
    g.stats.forward_rhs_evals = r.stats.rhs_evals;
    g.stats.forward_steps = r.stats.accepted_steps;
    g.stats.forward_rejected = r.stats.rejected_steps;
    if constexpr (std::is_same_v<Gradient, backsolve_adjoint>) {
      backward_backsolve(output_cotangents, g);
    } else if constexpr (std::is_same_v<Gradient, checkpointed_adjoint>) {
      backward_checkpointed(output_cotangents, g);
    } else {
      backward_discrete(output_cotangents, g);
    }
    return g;
  }

  /// \brief Result of `per_sample_gradients`.
  struct batch_result {
    scalar loss = 0;                            ///< Sum of the per-sample losses.
    params_type params;                         ///< Sum of the per-sample dL/dθ.
    std::vector<State> y0;                      ///< dL/dy0 of each sample.
    gradient_stats stats;                       ///< Summed work.
    nde::status status = nde::status::success;  ///< First failure in sample order, if any;
                                                ///< failed samples add nothing to `loss` and
                                                ///< `params`, and their `y0` is NaN.
    /// \brief Empty on success; else the first failure's message, prefixed by `sample <i>: `.
    std::string message;
  };

  /// \brief Independent solves per sample (each with its own adaptive steps, as Diffrax under
  /// vmap), run on `threads` threads. `loss(i, ys, dL_dys) -> scalar` gives sample i's loss
  /// and fills its output cotangents (`dL_dys` arrives sized, zeroed); it is called from
  /// several threads at once, for different i. Per-sample results are reduced in sample
  /// order, so the answer is bit-identical for any thread count. The calling thread is one of
  /// the `threads` workers. An exception from `loss` or `backward` stops the other workers and
  /// is rethrown here.
  template <class Loss>
  batch_result per_sample_gradients(std::span<const State> y0s, std::span<const T> ts, Loss loss,
                                    unsigned threads = 1) const {
    const std::size_t n = y0s.size();
    std::vector<gradient_type> per(n);
    std::vector<scalar> losses(n, scalar(0));
    threads = std::max(
        1u, std::min<unsigned>(threads, static_cast<unsigned>(std::max<std::size_t>(n, 1))));
    // Samples are handed out one at a time (adaptive solves differ in cost, so a fixed
    // interleaving would leave a thread idle); results still land in per[i] and are reduced in
    // sample order.
    std::atomic<std::size_t> next{0};
    std::mutex failure_mutex;
    std::exception_ptr failure;  // the first exception of any worker, rethrown after the join
    auto work = [&] {
      try {
        neural_ode local = *this;
        std::vector<State> cotangents;
        for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
          const auto& fr = local.forward(y0s[i], ts);
          if (fr.status != status::success) {
            per[i].status = fr.status;
            per[i].message = "sample " + std::to_string(i) + ": " + fr.message;
            continue;
          }
          cotangents.assign(fr.ys.size(), fr.ys.front());
          for (auto& c : cotangents) c.setZero();
          losses[i] = loss(i, fr.ys, cotangents);
          per[i] = local.backward(std::span<const State>(cotangents));
          if (per[i].status != status::success)
            per[i].message = "sample " + std::to_string(i) + ": " + per[i].message;
        }
      } catch (...) {
        next = n;  // the other workers stop at their next sample
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
    };
    {
      // The calling thread is one of the workers.
      std::vector<std::jthread> pool;
      for (unsigned w = 1; w < threads; ++w) pool.emplace_back(work);
      work();
    }
    if (failure) std::rethrow_exception(failure);
    batch_result out;
    out.params = params_type::Zero(m_params.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (per[i].status != status::success && out.status == status::success) {
        out.status = per[i].status;
        out.message = per[i].message;
      }
      add_stats(out.stats, per[i].stats);
      if (per[i].status != status::success) {
        // A failed sample contributes nothing; its dL/dy0 is NaN so it cannot pass for a value.
        State nan = y0s[i];
        nan.setConstant(std::numeric_limits<scalar>::quiet_NaN());
        out.y0.push_back(std::move(nan));
        continue;
      }
      out.loss += losses[i];
      out.params += per[i].params;
      out.y0.push_back(per[i].y0);
    }
    return out;
  }

 private:
  // ---- helpers --------------------------------------------------------------------------
  void check_params() const {
    if (m_params.size() != static_cast<Eigen::Index>(m_field.num_params()))
      throw error(status::invalid_input, "neural_ode: the field has " +
                                             std::to_string(m_field.num_params()) +
                                             " parameters but the parameter vector has " +
                                             std::to_string(m_params.size()));
  }

  static constexpr bool needs_steps() { return std::is_same_v<Gradient, discrete_adjoint>; }
  [[nodiscard]] bool store_every_step() const {
    if constexpr (std::is_same_v<Gradient, discrete_adjoint>) {
      return m_gradient.max_checkpoints == 0;
    } else {
      return false;
    }
  }

  auto bound_field() {
    return [this](T t, const State& y, State& dydt) {
      m_field(t, y, params_view<scalar>(m_params), dydt);
    };
  }

  const forward_type& fail_forward(nde::status code, std::string message) {
    m_forward.status = code;
    m_forward.message = std::move(message);
    return m_forward;
  }

  static void add_stats(gradient_stats& into, const gradient_stats& s) {
    into.forward_rhs_evals += s.forward_rhs_evals;
    into.forward_steps += s.forward_steps;
    into.forward_rejected += s.forward_rejected;
    into.backward_rhs_evals += s.backward_rhs_evals;
    into.backward_vjp_evals += s.backward_vjp_evals;
    into.backward_steps += s.backward_steps;
    into.backward_rejected += s.backward_rejected;
    into.recomputed_steps += s.recomputed_steps;
    into.peak_stored_states = std::max(into.peak_stored_states, s.peak_stored_states);
  }

  // Adaptive methods solve the adjoint with the adjoint tolerances under the block norm
  // (largest per-block RMS; the seminorm drops the last block, the parameter integral). A
  // method without an error estimate (rk4, euler, ...) takes the forward constant step backward.
  template <class Continuous>
  step_size_controller adjoint_controller(const Continuous& method,
                                          std::array<Eigen::Index, 3> blocks,
                                          std::size_t count) const {
    if constexpr (!Method::adaptive) {
      return m_options.controller;
    } else {
      pi_controller c = method.controller;
      c.custom_norm = detail::block_rms{blocks, method.seminorm ? count - 1 : count};
      return c;
    }
  }

  bool fail(gradient_type& g, const solution<T, flat_type>& s, std::size_t interval) {
    if (s.success()) return false;
    g.status = s.status;
    g.message = "backward: interval " + std::to_string(interval) + ": " + s.message;
    return true;
  }

  // ---- backsolve adjoint ----------------------------------------------------------------
  void backward_backsolve(std::span<const State> cot, gradient_type& g) {
    const auto& r = m_forward;
    const Eigen::Index m = m_state_shape.size();
    const Eigen::Index p = m_params.size();
    std::size_t vjps = 0;
    detail::backsolve_system<Field, State> system{&m_field,      params_view<scalar>(m_params),
                                                  m_state_shape, m_state_shape,
                                                  m_state_shape, m_state_shape,
                                                  &vjps};
    flat_type z(2 * m + p);
    State a = cot.back();
    z.tail(p).setZero();
    const solve_options opts{.save_at = save_at::final_time(),
                             .controller = adjoint_controller(m_gradient, {m, m, p}, 3),
                             .max_steps = m_gradient.max_steps};
    integrator<Method, flat_type, T> solver(m_method, z);
    for (std::size_t i = r.ys.size() - 1; i > 0; --i) {
      detail::flatten(r.ys[i], z.segment(0, m));
      detail::flatten(a, z.segment(m, m));
      solver.solve(system, r.ts[i], r.ts[i - 1], z, opts, m_adjoint_solution);
      const auto& s = m_adjoint_solution;
      g.stats.backward_rhs_evals += s.stats.rhs_evals;
      g.stats.backward_steps += s.stats.accepted_steps;
      g.stats.backward_rejected += s.stats.rejected_steps;
      if (fail(g, s, i - 1)) break;
      z = s.ys.back();
      detail::unflatten(z.segment(m, m), a);
      a += cot[i - 1];
    }
    g.stats.backward_vjp_evals = vjps;
    g.params = z.tail(p);
    g.y0 = a;
  }

  // ---- checkpointed (interpolating) adjoint ---------------------------------------------
  void backward_checkpointed(std::span<const State> cot, gradient_type& g) {
    const auto& r = m_forward;
    const Eigen::Index m = m_state_shape.size();
    const Eigen::Index p = m_params.size();
    std::size_t vjps = 0;
    solution<T, State> dense_solve;
    detail::interpolating_system<Field, State, T> system{
        &m_field,      params_view<scalar>(m_params),
        nullptr,       m_state_shape,
        m_state_shape, m_state_shape,
        &vjps};
    flat_type z(m + p);
    State a = cot.back();
    z.tail(p).setZero();
    const solve_options opts{.save_at = save_at::final_time(),
                             .controller = adjoint_controller(m_gradient, {m, p, 0}, 2),
                             .max_steps = m_gradient.max_steps};
    integrator<Method, flat_type, T> solver(m_method, z);
    auto f = bound_field();
    for (std::size_t i = r.ys.size() - 1; i > 0; --i) {
      solve_options replay{.save_at = save_at::final_time(),
                           .controller = m_options.controller,
                           .max_steps = m_options.max_steps,
                           .record_steps = false,
                           .dense = true};
      if (auto* pi = std::get_if<pi_controller>(&replay.controller))
        pi->dt0 = m_interval_dt0[i - 1];
      m_forward_integrator.solve(f, r.ts[i - 1], r.ts[i], r.ys[i - 1], replay, dense_solve);
      g.stats.backward_rhs_evals += dense_solve.stats.rhs_evals;
      g.stats.recomputed_steps += dense_solve.stats.accepted_steps;
      g.stats.peak_stored_states = std::max(
          g.stats.peak_stored_states, dense_solve.dense.segments() * (Method::dense_degree + 1));
      if (!dense_solve.success()) {
        g.status = dense_solve.status;
        g.message =
            "backward: re-solving interval " + std::to_string(i - 1) + ": " + dense_solve.message;
        break;
      }
      system.forward = &dense_solve.dense;
      detail::flatten(a, z.segment(0, m));
      solver.solve(system, r.ts[i], r.ts[i - 1], z, opts, m_adjoint_solution);
      const auto& s = m_adjoint_solution;
      g.stats.backward_rhs_evals += s.stats.rhs_evals;
      g.stats.backward_steps += s.stats.accepted_steps;
      g.stats.backward_rejected += s.stats.rejected_steps;
      if (fail(g, s, i - 1)) break;
      z = s.ys.back();
      detail::unflatten(z.segment(0, m), a);
      a += cot[i - 1];
    }
    g.stats.backward_vjp_evals = vjps;
    g.params = z.tail(p);
    g.y0 = a;
  }

  // ---- discrete adjoint -----------------------------------------------------------------
  void backward_discrete(std::span<const State> cot, gradient_type& g) {
    using tableau = typename Method::tableau;
    const auto& r = m_forward;
    rk_reverse_workspace<tableau, State> ws;
    ws.resize(m_state_shape);
    State y_bar = cot.back();
    const params_view<scalar> theta(m_params);
    std::size_t rhs = 0;
    std::size_t vjps = 0;
    const std::vector<T>* times = nullptr;
    auto reverse = [&](std::size_t step, const State& y_start) {
      const auto counts =
          reverse_rk_step<tableau>(m_field, theta, (*times)[step], (*times)[step + 1], y_start,
                                   y_bar, params_ref<scalar>(g.params), ws);
      rhs += counts[0];
      vjps += counts[1];
      ++g.stats.backward_steps;
    };
    auto f = bound_field();
    typename Method::template workspace<State> step_ws = m_method.make_workspace(m_state_shape);
    auto advance = [&](std::size_t step, const State& y_in, State& y_out) {
      m_method.init(f, (*times)[step], y_in, step_ws);
      m_method.step(f, (*times)[step], (*times)[step + 1], y_in, y_out, step_ws);
      rhs += Method::stages;
    };
    binomial_reverser<State, decltype(reverse), decltype(advance)> reverser(
        m_gradient.max_checkpoints, m_state_shape);
    if (m_stored_every_step) {
      // Every step start is kept (the interval starts are outputs, not counted).
      for (const auto& states : m_step_states) g.stats.peak_stored_states += states.size() - 1;
    }
    for (std::size_t i = r.ys.size() - 1; i > 0; --i) {
      times = &m_steps[i - 1];
      const std::size_t steps = times->size() - 1;
      if (m_stored_every_step) {
        const auto& states = m_step_states[i - 1];
        for (std::size_t k = steps; k-- > 0;) reverse(k, states[k]);
      } else {
        reverser.run(steps, r.ys[i - 1], reverse, advance);
        g.stats.peak_stored_states = std::max(g.stats.peak_stored_states, reverser.peak());
      }
      y_bar += cot[i - 1];
      if (!y_bar.allFinite() || !g.params.allFinite()) {
        g.status = status::non_finite;
        g.message = "backward: NaN or Inf in the discrete adjoint after interval " +
                    std::to_string(i - 1) + " (overflow, or a field that is not finite there)";
        break;
      }
    }
    g.stats.recomputed_steps = reverser.recomputed() + g.stats.backward_steps;
    g.stats.backward_rhs_evals = rhs;
    g.stats.backward_vjp_evals = vjps;
    g.y0 = y_bar;
  }

  Field m_field;
  params_type m_params;
  Gradient m_gradient;
  neural_ode_options m_options;
  Method m_method;
  State m_state_shape = detail::zero_state<State>();
  forward_type m_forward;
  bool m_ready = false;
  integrator<Method, State, T> m_forward_integrator{m_method, detail::zero_state<State>()};
  solution<T, State> m_scratch_solution;
  solution<T, flat_type> m_adjoint_solution;
  std::vector<std::vector<T>> m_steps;            // step times per interval (discrete adjoint)
  std::vector<std::vector<State>> m_step_states;  // state at each step start (discrete, unbounded)
  std::vector<double> m_interval_dt0;             // first trial step of each interval
  params_type m_forward_params;                   // θ of the last forward pass
  bool m_stored_every_step = false;               // mode of the last forward pass (discrete)
};

}  // namespace nde
