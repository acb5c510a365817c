/// \file
/// \brief Per-sample gradients on threads: independent solves of one model per sample (each
/// with its own adaptive steps, as Diffrax under vmap), reduced in sample order.
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace nde {

/// \brief Result of `per_sample_gradients`.
template <state State>
struct per_sample_result {
  using scalar = scalar_of_t<State>;          ///< State scalar.
  scalar loss = 0;                            ///< Sum of the per-sample losses.
  params_of_t<State> params;                  ///< Sum of the per-sample dL/dθ.
  std::vector<State> y0;                      ///< dL/dy0 of each sample.
  gradient_stats stats;                       ///< Summed work.
  nde::status status = nde::status::success;  ///< First failure in sample order, if any;
                                              ///< failed samples add nothing to `loss` and
                                              ///< `params`, and their `y0` is NaN.
  /// \brief Empty on success; else the first failure's message, prefixed by `sample <i>: `.
  std::string message;
};

namespace detail {

/// Shared body of the `per_sample_gradients` overloads; `times_of(i)` is sample i's output grid.
template <class Model, state State, class Times, class Loss>
[[nodiscard]] per_sample_result<State> per_sample_gradients_impl(const Model& model,
                                                                 std::span<const State> y0s,
                                                                 Times times_of, Loss& loss,
                                                                 unsigned threads) {
  using scalar = scalar_of_t<State>;
  using gradient_type = typename Model::gradient_type;
  const std::size_t n = y0s.size();
  std::vector<gradient_type> per(n);
  std::vector<scalar> losses(n, scalar(0));
  threads =
      std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(std::max<std::size_t>(n, 1))));
  std::atomic<std::size_t> next{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      Model local = model;
      std::vector<State> cotangents;
      for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
        const auto& fr = local.forward(y0s[i], times_of(i));
        if (!fr.success()) {
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
      next = n;
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> pool;
    for (unsigned w = 1; w < threads; ++w) pool.emplace_back(work);
    work();
  }
  if (failure) std::rethrow_exception(failure);
  per_sample_result<State> out;
  out.params = params_of_t<State>::Zero(model.params().size());
  for (std::size_t i = 0; i < n; ++i) {
    if (per[i].status != status::success && out.status == status::success) {
      out.status = per[i].status;
      out.message = per[i].message;
    }
    out.stats += per[i].stats;
    if (per[i].status != status::success) {
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

}  // namespace detail

/// \brief Runs `model.forward(y0s[i], ts)` and `model.backward` for every sample on `threads`
/// threads (each with its own copy of the model). `loss(i, ys, dL_dys) -> scalar` gives sample
/// i's loss and fills its output cotangents (`dL_dys` arrives sized, zeroed); it is called from
/// several threads at once, for different i. Samples are handed out one at a time (adaptive
/// solves differ in cost); results are reduced in sample order, so the answer is bit-identical
/// for any thread count. The calling thread is one of the workers. An exception from `loss` or
/// `backward` stops the other workers and is rethrown here.
template <class Model, state State, time_scalar T, class Loss>
[[nodiscard]] per_sample_result<State> per_sample_gradients(const Model& model,
                                                            std::span<const State> y0s,
                                                            std::span<const T> ts, Loss loss,
                                                            unsigned threads = 1) {
  return detail::per_sample_gradients_impl(
      model, y0s, [ts](std::size_t) { return ts; }, loss, threads);
}

/// \brief Per-sample time grids: as above, but sample i is solved from `ts[i].front()` and
/// saved at its own times `ts[i]` (any length ≥ 1, any span, no padding), so a batch of
/// irregularly observed series of different lengths is one call. `loss(i, ys, dL_dys)` receives
/// `ys.size() == ts[i].size()`. The result equals the sum of the single-sample gradients, in
/// sample order, bit for bit and for any thread count. A sample whose grid the solver rejects
/// (empty, unsorted, non-finite) reports its status and message like any failed sample.
/// \throws nde::error (`invalid_input`) if `ts.size() != y0s.size()`.
template <class Model, state State, time_scalar T, class Loss>
[[nodiscard]] per_sample_result<State> per_sample_gradients(const Model& model,
                                                            std::span<const State> y0s,
                                                            std::span<const std::vector<T>> ts,
                                                            Loss loss, unsigned threads = 1) {
  if (ts.size() != y0s.size())
    throw error(status::invalid_input, "per_sample_gradients: " + std::to_string(y0s.size()) +
                                           " samples but " + std::to_string(ts.size()) +
                                           " time grids");
  return detail::per_sample_gradients_impl(
      model, y0s, [ts](std::size_t i) { return std::span<const T>(ts[i]); }, loss, threads);
}

}  // namespace nde
