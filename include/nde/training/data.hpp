/// \file
/// \brief Training data for `nde::training::fit`: irregularly sampled trajectories (with
/// optional observation masks), the mini-batch a training step sees, and `window_sampler`,
/// which draws mini-batches of short windows from the trajectories (torchdiffeq's
/// `get_batch` in `ode_demo.py`, for any number of trajectories).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace nde::training {

/// \brief One trajectory observed at times `ts` (strictly monotone, irregular spacing allowed):
/// `ys[i]` is the observed state at `ts[i]`. `mask`, when not empty, has one entry per
/// observation with 1 where a component was observed and 0 where it is missing (the value in
/// `ys` is then ignored and may be NaN).
template <class Vector, class T = double>
struct trajectory {
  std::vector<T> ts;           ///< Observation times.
  std::vector<Vector> ys;      ///< Observed states, one per time.
  std::vector<Vector> mask{};  ///< Empty (all observed), or 1/0 per component and time.
};

/// \brief What one training step solves and compares: from `y0` at `ts[0]`, the model's outputs
/// at `ts` against `targets` (one per time; `targets[0]` is the initial state and is not part
/// of the loss). `State` is the model's state: a vector, or a batch matrix with one window per
/// column (then all windows share `ts`). `mask` as in `trajectory`.
template <class State, class T = double>
struct batch {
  State y0;                    ///< Initial state(s).
  std::vector<T> ts;           ///< Output times, `ts[0]` the initial time.
  std::vector<State> targets;  ///< Observed state(s) at every time.
  std::vector<State> mask{};   ///< Empty, or 1/0 per entry of every target.
};

/// \brief How a `window_sampler` picks windows.
enum class sampling {
  random,  ///< Every window independently uniform over all windows (with replacement).
  epochs,  ///< Each epoch visits every window once in a shuffled order (the last batch of an
           ///< epoch is filled up from the start of the next permutation's order).
};

/// \brief Draws mini-batches of `batch_size` windows of `length` consecutive observations
/// from random trajectories, each window starting at a random observation (its first observed
/// state is the window's initial state); with `sampling::epochs`, every window once per epoch
/// (`steps_per_epoch()` batches). Windows of one batch share their times relative to
/// their start, so with `batch_size > 1` every trajectory must be sampled on a uniform grid of
/// one spacing (checked at construction). A vector `State` takes `batch_size == 1`, which also
/// serves irregular grids.
///
/// Draw `k` depends only on (seed, k): a training run resumed from a checkpoint at step k sees
/// the same batches as the uninterrupted run. O(batch_size · length) per draw, plus one
/// O(windows) shuffle per epoch with `sampling::epochs`. Not thread-safe (the epoch order is
/// cached).
template <class State, class Vector, class T = double>
class window_sampler {
 public:
  /// \brief Samples from `data` (kept by reference: it must outlive the sampler).
  /// \throws nde::error (invalid_input) on empty data, a window longer than a trajectory or
  ///   shorter than 2, sizes that do not agree, masks of the wrong count, or (batch_size > 1)
  ///   grids that are not uniform with one common spacing.
  window_sampler(std::span<const trajectory<Vector, T>> data, std::size_t length,
                 std::size_t batch_size, std::uint64_t seed = 0, sampling mode = sampling::random)
      : m_data(data), m_length(length), m_batch(batch_size), m_seed(seed), m_mode(mode) {
    auto fail = [](const std::string& what) {
      throw error(status::invalid_input, "window_sampler: " + what);
    };
    if (data.empty()) fail("no trajectories");
    if (length < 2) fail("a window needs at least 2 observations (the start and one target)");
    if (batch_size == 0) fail("batch_size must be positive");
    if constexpr (State::ColsAtCompileTime == 1) {
      if (batch_size != 1) fail("a vector state takes batch_size 1 (use a batch matrix state)");
    }
    const Eigen::Index rows = data.front().ys.empty() ? 0 : data.front().ys.front().rows();
    for (std::size_t j = 0; j < data.size(); ++j) {
      const auto& tr = data[j];
      if (tr.ts.size() != tr.ys.size())
        fail(nde::detail::concatenate("trajectory ", j, " has ", tr.ts.size(), " times and ",
                                      tr.ys.size(), " states"));
      if (tr.ts.size() < length)
        fail(nde::detail::concatenate("trajectory ", j, " has ", tr.ts.size(),
                                      " observations, fewer than the window length ", length));
      if (!tr.mask.empty() && tr.mask.size() != tr.ys.size())
        fail(nde::detail::concatenate("trajectory ", j, " has ", tr.mask.size(), " masks for ",
                                      tr.ys.size(), " states"));
      for (std::size_t i = 0; i < tr.ys.size(); ++i) {
        if (tr.ys[i].rows() != rows || (!tr.mask.empty() && tr.mask[i].rows() != rows))
          fail(nde::detail::concatenate("trajectory ", j, ", observation ", i, " has ",
                                        tr.ys[i].rows(), " rows, the first has ", rows));
        if (!std::isfinite(static_cast<double>(tr.ts[i])) || (i > 0 && !(tr.ts[i] > tr.ts[i - 1])))
          fail(nde::detail::concatenate("trajectory ", j,
                                        ": ts must be finite and strictly "
                                        "increasing (ts[",
                                        i, "] = ", tr.ts[i], ")"));
      }
    }
    m_rows = rows;
    if (batch_size > 1) {
      const double spacing = static_cast<double>(data.front().ts[1] - data.front().ts[0]);
      for (std::size_t j = 0; j < data.size(); ++j)
        for (std::size_t i = 1; i < data[j].ts.size(); ++i) {
          const double d = static_cast<double>(data[j].ts[i] - data[j].ts[i - 1]);
          if (std::abs(d - spacing) > 1e-9 * std::abs(spacing))
            fail(nde::detail::concatenate(
                "batch_size > 1 needs uniform grids of one spacing: trajectory ", j,
                " has spacing ", d, " at observation ", i, ", the first has ", spacing,
                " (use batch_size 1 for irregular grids)"));
        }
    }
  }

  /// \brief Number of distinct windows (every trajectory, every start).
  [[nodiscard]] std::size_t windows() const noexcept {
    std::size_t n = 0;
    for (const auto& tr : m_data) n += tr.ts.size() - m_length + 1;
    return n;
  }
  /// \brief Batches per epoch: ⌈windows / batch_size⌉ (`sampling::epochs`).
  [[nodiscard]] std::size_t steps_per_epoch() const noexcept {
    return (windows() + m_batch - 1) / m_batch;
  }
  /// \brief Window length (observations per window).
  [[nodiscard]] std::size_t length() const noexcept { return m_length; }
  /// \brief Windows per batch.
  [[nodiscard]] std::size_t batch_size() const noexcept { return m_batch; }

  /// \brief The batch of training step `step` (deterministic in (seed, step)).
  [[nodiscard]] batch<State, T> operator()(std::int64_t step) const {
    if (step < 0) throw error(status::invalid_input, "window_sampler: negative step");
    std::mt19937_64 engine = seeded(step);
    const std::size_t per_epoch = steps_per_epoch();
    if (m_mode == sampling::epochs) order_for(static_cast<std::size_t>(step) / per_epoch);
    batch<State, T> b;
    const auto cols = static_cast<Eigen::Index>(m_batch);
    b.y0 = make(cols);
    b.targets.assign(m_length, make(cols));
    const bool masked = has_masks();
    if (masked) b.mask.assign(m_length, make(cols));
    for (Eigen::Index c = 0; c < cols; ++c) {
      std::size_t which = 0, start = 0;
      if (m_mode == sampling::epochs) {
        const std::size_t slot =
            ((static_cast<std::size_t>(step) % per_epoch) * m_batch + static_cast<std::size_t>(c)) %
            m_order.size();
        which = m_order[slot].first;
        start = m_order[slot].second;
      } else {
        // Uniform over windows: a trajectory in proportion to its number of windows.
        std::size_t k = pick(engine, windows());
        while (k >= m_data[which].ts.size() - m_length + 1)
          k -= m_data[which++].ts.size() - m_length + 1;
        start = k;
      }
      const auto& tr = m_data[which];
      if (c == 0) {
        b.ts.resize(m_length);
        for (std::size_t i = 0; i < m_length; ++i) b.ts[i] = tr.ts[start + i];
      }
      b.y0.col(c) = tr.ys[start];
      for (std::size_t i = 0; i < m_length; ++i) {
        b.targets[i].col(c) = tr.ys[start + i];
        if (masked) {
          if (tr.mask.empty()) {
            b.mask[i].col(c).setOnes();
          } else {
            b.mask[i].col(c) = tr.mask[start + i];
          }
        }
      }
    }
    return b;
  }

 private:
  [[nodiscard]] bool has_masks() const {
    for (const auto& tr : m_data)
      if (!tr.mask.empty()) return true;
    return false;
  }
  [[nodiscard]] State make(Eigen::Index cols) const {
    State s;
    if constexpr (State::ColsAtCompileTime == 1) {
      s.setZero(m_rows);
    } else {
      s.setZero(m_rows, cols);
    }
    return s;
  }
  [[nodiscard]] std::mt19937_64 seeded(std::int64_t k) const {
    std::seed_seq seq{static_cast<std::uint32_t>(m_seed), static_cast<std::uint32_t>(m_seed >> 32),
                      static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(k >> 32),
                      static_cast<std::uint32_t>(m_mode)};
    return std::mt19937_64(seq);
  }
  // The shuffled order of every window for `epoch` (cached: one shuffle per epoch).
  void order_for(std::size_t epoch) const {
    if (m_order_epoch == epoch && !m_order.empty()) return;
    m_order.clear();
    for (std::size_t j = 0; j < m_data.size(); ++j)
      for (std::size_t s = 0; s + m_length <= m_data[j].ts.size(); ++s) m_order.emplace_back(j, s);
    std::mt19937_64 engine = seeded(-1 - static_cast<std::int64_t>(epoch));
    for (std::size_t i = m_order.size(); i > 1; --i)
      std::swap(m_order[i - 1], m_order[pick(engine, i)]);
    m_order_epoch = epoch;
  }
  static std::size_t pick(std::mt19937_64& engine, std::size_t n) {
    return static_cast<std::size_t>(std::uniform_int_distribution<std::uint64_t>(0, n - 1)(engine));
  }

  std::span<const trajectory<Vector, T>> m_data;
  std::size_t m_length;
  std::size_t m_batch;
  std::uint64_t m_seed;
  sampling m_mode;
  Eigen::Index m_rows = 0;
  mutable std::vector<std::pair<std::size_t, std::size_t>> m_order;  // epochs: (trajectory, start)
  mutable std::size_t m_order_epoch = 0;
};

}  // namespace nde::training
