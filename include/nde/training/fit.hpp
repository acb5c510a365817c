/// \file
/// \brief `nde::training::fit`: the training loop every example used to write by hand —
/// mini-batches, the loss and its cotangents, the backward pass, gradient clipping, a
/// learning-rate schedule, the optimiser step, a progress line (loss, NFE, time left), a
/// validation loss with early stopping, a callback, and atomic checkpoints of the parameters
/// **and** the optimiser state that a later run resumes from exactly.
///
/// \code
/// nde::training::window_sampler<batch, Eigen::Vector2d> sample(data, 10, 20, /*seed*/ 1);
/// nde::optim::adam<double> adam(model.params().size(), {.learning_rate = 1e-2});
/// auto result = nde::training::fit(model, adam, sample, nde::training::trajectory_loss{},
///                                  {.iterations = 2000, .report_every = 100});
/// \endcode
#pragma once

#include "nde/core/format.hpp"
#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"
#include "nde/io/parameter_file.hpp"
#include "nde/optim/clip.hpp"
#include "nde/training/data.hpp"
#include "nde/training/loss.hpp"

#include <Eigen/Core>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace nde::training {

/// \brief Where a training run stands; passed to the callback after every step.
struct fit_progress {
  std::int64_t iteration = 0;   ///< Steps done (1 after the first).
  std::int64_t iterations = 0;  ///< Steps planned.
  double loss = 0;              ///< Training loss of this step's batch.
  double validation = std::numeric_limits<double>::quiet_NaN();  ///< Last validation loss.
  double learning_rate = 0;                                      ///< Rate used for this step.
  double gradient_norm = 0;              ///< Global norm of dL/dθ before clipping.
  std::size_t forward_evaluations = 0;   ///< NFE of this step's forward solve.
  std::size_t backward_evaluations = 0;  ///< NFE (vector field + vjp) of its backward pass.
  double seconds = 0;                    ///< Since the run (or the resumed run) started.
  double seconds_left = 0;               ///< Estimate from the mean time per step so far.
};

/// \brief Settings of `fit`; an aggregate for designated initialisers. Every feature is off
/// unless set.
struct fit_options {
  std::int64_t iterations = 1000;  ///< Training steps in all (a resumed run continues to it).
  /// Learning rate of step k (0-based), e.g. an `optim::cosine_schedule`; empty: the
  /// optimiser's own rate throughout.
  std::function<double(std::int64_t)> learning_rate{};
  double clip_norm = 0;                  ///< Clip dL/dθ to this global norm (0: no clipping).
  std::int64_t report_every = 100;       ///< A progress line every this many steps (0: none).
  bool quiet = false;                    ///< No progress lines at all.
  std::FILE* progress_stream = nullptr;  ///< Where progress goes (nullptr: stdout).
  std::string name = "fit";              ///< Prefix of the progress lines.
  /// Validation loss (e.g. the loss on held-out trajectories), run every `evaluate_every`
  /// steps and at the end; empty: none.
  std::function<double()> evaluate{};
  std::int64_t evaluate_every = 0;  ///< 0: only at the end (when `evaluate` is set).
  /// Early stopping: stop after this many validations without an improvement of more than
  /// `min_delta` (0: never stop early). Needs `evaluate`.
  std::int64_t patience = 0;
  double min_delta = 0;  ///< Smallest improvement that counts.
  /// Called after every step; returning false stops the run (status success, `stopped` set).
  std::function<bool(const fit_progress&)> callback{};
  /// Checkpoint file (parameters, optimiser state, step count, early-stopping state), written
  /// atomically every `checkpoint_every` steps and at the end; empty: none.
  std::filesystem::path checkpoint{};
  std::int64_t checkpoint_every = 0;  ///< 0: only at the end.
  /// Resume from `checkpoint` when it exists (a missing file starts afresh).
  bool resume = false;
};

/// \brief What `fit` did.
struct fit_result {
  nde::status status = nde::status::success;  ///< Failure of a forward or backward pass, or
                                              ///< bad options (see `message`).
  std::string message;                        ///< Why, when not success.
  std::int64_t iterations = 0;                ///< Steps done in all (a resumed run included).
  std::int64_t resumed_from = 0;              ///< Step the run resumed from (0: fresh).
  std::int64_t skipped_steps = 0;  ///< Steps whose gradient had NaN/Inf (optimiser refused).
  double final_loss = std::numeric_limits<double>::quiet_NaN();       ///< Last batch loss.
  double best_validation = std::numeric_limits<double>::quiet_NaN();  ///< Lowest validation.
  bool stopped_early = false;  ///< By patience or by the callback.
  double seconds = 0;          ///< Wall time of this call.
  std::vector<double> losses;  ///< Batch loss of every step of this call.
  /// \brief True when the run ended without a failed pass or bad options.
  [[nodiscard]] bool success() const noexcept { return status == nde::status::success; }
};

/// \brief Does nothing with the gradient (the default `on_gradient` of `fit`).
struct ignore_gradient {
  /// \brief Ignores `g`.
  template <class G>
  void operator()(const G&) const noexcept {}
};

namespace detail {

inline parameter_layout checkpoint_layout(Eigen::Index params, Eigen::Index optimiser) {
  return {{"params", {static_cast<std::int64_t>(params)}, 0},
          {"optimiser", {static_cast<std::int64_t>(optimiser)}, static_cast<std::int64_t>(params)},
          {"fit", {4}, static_cast<std::int64_t>(params + optimiser)}};
}

}  // namespace detail

/// \brief Trains `model` (a `neural_ode` or anything with its `params()`, `forward(y0, ts)`
/// and `backward(cotangents)`) with `optimiser` (`optim::adam`, `adamw`, `sgd`: `step`,
/// `set_learning_rate`, `learning_rate`, and `state_size`/`write_state`/`read_state` for
/// checkpoints) on the batches `sample(step)` returns, under `loss(ys, batch, cotangents)`
/// (a `trajectory_loss` or any callable with that signature).
///
/// Each step: batch → forward → loss and cotangents → backward → `on_gradient(g)` (e.g. to
/// train an extra parameter such as a learned initial state with its own optimiser) → clip →
/// learning rate → optimiser step. A failed forward or backward pass ends the run with that
/// status and a message naming the step (the parameters are those before the failed step); a
/// gradient with NaN/Inf is refused by the optimiser and counted in `skipped_steps`.
///
/// \return the result; bad options (`iterations < 0`, negative `clip_norm`, `patience` without
///   `evaluate`, an unreadable or mismatched checkpoint) give `status::invalid_input`.
///   Exceptions from the model's `backward` on misuse, from `sample` or from the loss
///   propagate.
template <class Model, class Optimiser, class Sampler, class Loss,
          class OnGradient = ignore_gradient>
[[nodiscard]] fit_result fit(Model& model, Optimiser& optimiser, Sampler&& sample, const Loss& loss,
                             const fit_options& options = {}, OnGradient&& on_gradient = {}) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(clock::now() - start).count(); };
  fit_result result;
  auto fail = [&](nde::status code, std::string message) {
    result.status = code;
    result.message = std::move(message);
    result.seconds = seconds();
    return result;
  };
  if (options.iterations < 0) return fail(status::invalid_input, "fit: iterations must be >= 0");
  if (!(options.clip_norm >= 0) || !std::isfinite(options.clip_norm))
    return fail(status::invalid_input, "fit: clip_norm must be finite and >= 0");
  if (options.patience < 0 || options.evaluate_every < 0 || options.report_every < 0 ||
      options.checkpoint_every < 0)
    return fail(status::invalid_input,
                "fit: patience, evaluate_every, report_every and checkpoint_every must be >= 0");
  if (options.patience > 0 && !options.evaluate)
    return fail(status::invalid_input, "fit: patience (early stopping) needs an evaluate function");

  auto& params = model.params();
  using vector = std::remove_cvref_t<decltype(params)>;
  const Eigen::Index n = params.size();
  const Eigen::Index k = optimiser.state_size();
  const parameter_layout layout = detail::checkpoint_layout(n, k);
  double best = std::numeric_limits<double>::infinity();
  std::int64_t since_best = 0;
  std::int64_t first = 0;
  if (options.resume && !options.checkpoint.empty()) {
    std::error_code exists_error;
    if (std::filesystem::exists(options.checkpoint, exists_error)) {
      vector saved(n + k + 4);
      if (auto read = io::read_parameters(options.checkpoint, layout, saved); !read)
        return fail(status::invalid_input, "fit: cannot resume from '" +
                                               options.checkpoint.string() + "': " + read.message);
      // Validate everything before any cast or any change to the model or the optimiser.
      const auto count = [&](Eigen::Index i, double limit) {
        const double x = static_cast<double>(saved[i]);
        return std::isfinite(x) && x >= 0 && x == std::floor(x) && x <= limit;
      };
      if (!count(n + k, static_cast<double>(options.iterations)) ||
          !count(n + k + 3, static_cast<double>(options.iterations)) ||
          !std::isfinite(static_cast<double>(saved[n + k + 2])) || !saved.head(n).allFinite())
        return fail(status::invalid_input,
                    "fit: the checkpoint '" + options.checkpoint.string() +
                        "' holds an impossible step count, a non-finite parameter or a step "
                        "beyond iterations = " +
                        std::to_string(options.iterations));
      try {
        optimiser.read_state(saved.segment(n, k));
      } catch (const nde::error& e) {
        return fail(status::invalid_input,
                    "fit: cannot resume from '" + options.checkpoint.string() + "': " + e.what());
      }
      params = saved.head(n);
      first = static_cast<std::int64_t>(saved[n + k]);
      if (saved[n + k + 1] != 0) best = static_cast<double>(saved[n + k + 2]);
      since_best = static_cast<std::int64_t>(saved[n + k + 3]);
      result.resumed_from = first;
      if (std::isfinite(best)) result.best_validation = best;
    }
  }
  // Atomic (temporary file + rename): a crash keeps the previous checkpoint.
  auto save_checkpoint = [&](std::int64_t done) -> std::string {
    if (options.checkpoint.empty()) return {};
    using scalar = typename vector::Scalar;
    vector all(n + k + 4);
    all.head(n) = params;
    optimiser.write_state(all.segment(n, k));
    all[n + k] = static_cast<scalar>(done);
    all[n + k + 1] = std::isfinite(best) ? scalar(1) : scalar(0);
    all[n + k + 2] = std::isfinite(best) ? static_cast<scalar>(best) : scalar(0);
    all[n + k + 3] = static_cast<scalar>(since_best);
    try {
      io::save_parameters(options.checkpoint, layout, all);
    } catch (const nde::error& e) {
      return e.what();
    }
    return {};
  };

  std::FILE* out = options.progress_stream ? options.progress_stream : stdout;
  fit_progress p;
  p.iterations = options.iterations;
  const double base_rate = static_cast<double>(optimiser.learning_rate());
  using forward_type = typename std::remove_cvref_t<Model>::forward_type;
  using State = typename decltype(std::declval<forward_type&>().ys)::value_type;
  std::vector<State> cotangents;
  auto validate = [&] {
    p.validation = options.evaluate();
    const bool improved = p.validation < best - options.min_delta;
    if (p.validation < best) best = p.validation;
    if (std::isfinite(best)) result.best_validation = best;
    since_best = improved ? 0 : since_best + 1;
    return options.patience > 0 && since_best >= options.patience;
  };

  std::int64_t step = first;
  for (; step < options.iterations; ++step) {
    const auto b = sample(step);
    const auto& forward = model.forward(b.y0, b.ts);
    if (!forward.success())
      return fail(forward.status, nde::detail::concatenate("fit: step ", step + 1,
                                                           ": forward failed: ", forward.message));
    const double l = loss(std::span<const State>(forward.ys), b, cotangents);
    auto g = model.backward(std::span<const State>(cotangents));
    if (g.status != status::success)
      return fail(g.status, nde::detail::concatenate("fit: step ", step + 1,
                                                     ": backward failed: ", g.message));
    on_gradient(g);
    p.gradient_norm = static_cast<double>(g.params.norm());
    if (options.clip_norm > 0)
      optim::clip_by_global_norm(g.params, static_cast<typename vector::Scalar>(options.clip_norm));
    p.learning_rate = options.learning_rate ? options.learning_rate(step) : base_rate;
    if (options.learning_rate)
      optimiser.set_learning_rate(static_cast<typename vector::Scalar>(p.learning_rate));
    if (optimiser.step(params, g.params) != status::success) ++result.skipped_steps;
    p.iteration = step + 1;
    p.loss = l;
    p.forward_evaluations = g.stats.forward_rhs_evals;
    p.backward_evaluations = g.stats.backward_rhs_evals + g.stats.backward_vjp_evals;
    p.seconds = seconds();
    p.seconds_left = p.seconds / static_cast<double>(p.iteration - first) *
                     static_cast<double>(options.iterations - p.iteration);
    result.losses.push_back(l);
    result.final_loss = l;
    bool stop = false;
    if (options.evaluate && options.evaluate_every > 0 && p.iteration % options.evaluate_every == 0)
      stop = validate();
    if (!options.quiet && options.report_every > 0 &&
        (p.iteration % options.report_every == 0 || p.iteration == options.iterations)) {
      std::fprintf(out, "%s step %6lld/%lld | loss %.6g", options.name.c_str(),
                   static_cast<long long>(p.iteration), static_cast<long long>(p.iterations),
                   p.loss);
      if (!std::isnan(p.validation)) std::fprintf(out, " | validation %.6g", p.validation);
      std::fprintf(out, " | NFE fwd %zu bwd %zu | lr %.3g | %.1f s, %.0f s left\n",
                   p.forward_evaluations, p.backward_evaluations, p.learning_rate, p.seconds,
                   p.seconds_left);
      std::fflush(out);
    }
    if (options.callback && !options.callback(p)) stop = true;
    if (options.checkpoint_every > 0 && p.iteration % options.checkpoint_every == 0)
      if (auto problem = save_checkpoint(p.iteration); !problem.empty())
        return fail(status::invalid_input, "fit: checkpoint: " + problem);
    if (stop) {
      result.stopped_early = true;
      ++step;
      break;
    }
  }
  result.iterations = step;
  if (options.evaluate && (options.evaluate_every == 0 || step % options.evaluate_every != 0))
    validate();
  if (auto problem = save_checkpoint(step); !problem.empty())
    return fail(status::invalid_input, "fit: checkpoint: " + problem);
  result.seconds = seconds();
  return result;
}

}  // namespace nde::training
