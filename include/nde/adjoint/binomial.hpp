/// \file
/// \brief Binomial checkpointing (Griewank & Walther 2000, "Algorithm 799: revolve"): reverses
/// a sequence of steps holding at most a budget of states, recomputing forward steps on an
/// offline schedule. Used by the discrete adjoint; knows nothing about what a step is.
#pragma once

#include "nde/core/concepts.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace nde {

namespace detail {

/// C(c + r, c), the number of steps that c checkpoints and r sweeps can reverse (saturates).
inline std::uint64_t binomial_capacity(std::uint64_t checkpoints, std::uint64_t sweeps) {
  constexpr std::uint64_t cap = std::numeric_limits<std::uint64_t>::max() / 4;
  std::uint64_t value = 1;  // C(checkpoints + k, k) for k = 0..sweeps, built incrementally
  for (std::uint64_t k = 1; k <= sweeps; ++k) {
    const long double next = static_cast<long double>(value) *
                             static_cast<long double>(checkpoints + k) /
                             static_cast<long double>(k);
    if (next >= static_cast<long double>(cap)) return cap;
    value = value * (checkpoints + k) / k;
  }
  return value;
}

}  // namespace detail

/// \brief Reverses a sequence of steps (y at its start given) holding at most `budget`
/// extra states, recomputing forward steps on a binomial schedule (Griewank & Walther 2000,
/// "Algorithm 799: revolve"): with c checkpoints and r sweeps, C(c + r, c) steps can be reversed.
/// Each split keeps the left part as long as r - 1 sweeps allow, so the recursion (on the right
/// part, one checkpoint fewer each level) stays shallow; the left part is a loop. A budget of at
/// least steps - 1 stores every step start in one forward sweep; a budget of 0 recomputes from
/// the start for every step (quadratic time, no extra memory).
///
/// \tparam Reverse callable `reverse(step_index, y_at_step_start)`: pulls the cotangent back
///   through that step. \tparam Advance callable `advance(step_index, y_in, y_out)`: one
///   forward step.
template <state State, class Reverse, class Advance>
class binomial_reverser {
 public:
  /// \brief A reverser holding at most `budget` states shaped like `like`.
  binomial_reverser(std::size_t budget, const State& like) : m_budget(budget), m_like(like) {
    m_scratch[0] = like;
    m_scratch[1] = like;
  }

  /// \brief Reverses steps [0, steps) starting from `y_start`. Allocates the checkpoint slots
  /// it needs, min(budget, steps - 1), on first use; later runs reuse them.
  void run(std::size_t steps, const State& y_start, Reverse& reverse, Advance& advance) {
    m_used = 0;
    m_peak = 0;
    if (steps == 0) return;
    const std::size_t slots = std::min(m_budget, steps - 1);
    if (m_slots.size() < slots) m_slots.resize(slots, m_like);
    reverse_range(0, steps, y_start, slots, reverse, advance);
  }

  /// \brief Most checkpoints held at once during the last `run`.
  [[nodiscard]] std::size_t peak() const noexcept { return m_peak; }
  /// \brief Forward steps recomputed during all runs.
  [[nodiscard]] std::size_t recomputed() const noexcept { return m_recomputed; }

 private:
  // y(lo) is `y_lo`; `free_slots` checkpoints are available for [lo, hi).
  void reverse_range(std::size_t lo, std::size_t hi, const State& y_lo, std::size_t free_slots,
                     Reverse& reverse, Advance& advance) {
    while (true) {
      const std::size_t length = hi - lo;
      if (length == 1) {
        reverse(lo, y_lo);
        return;
      }
      if (free_slots == 0) {
        for (std::size_t i = hi; i-- > lo;) reverse(i, advance_to(lo, i, y_lo, advance));
        return;
      }
      if (free_slots >= length - 1) {
        // Enough room for every step start: one forward sweep, then reverse in order.
        const std::size_t first = m_used;
        const State* current = &y_lo;
        for (std::size_t i = lo; i + 1 < hi; ++i) {
          State& slot = m_slots[m_used++];
          advance(i, *current, slot);
          ++m_recomputed;
          current = &slot;
        }
        m_peak = std::max(m_peak, m_used);
        for (std::size_t i = hi; i-- > lo + 1;) reverse(i, m_slots[first + (i - lo - 1)]);
        reverse(lo, y_lo);
        m_used = first;
        return;
      }
      // One checkpoint reverses `length` steps in length - 1 sweeps: it sits one step short of hi.
      std::size_t left = length - 1;
      if (free_slots > 1) {
        std::uint64_t sweeps = 1;
        while (detail::binomial_capacity(free_slots, sweeps) < length) ++sweeps;
        left = static_cast<std::size_t>(
            std::min<std::uint64_t>(length - 1, detail::binomial_capacity(free_slots, sweeps - 1)));
      }
      const std::size_t mid = lo + left;
      State& checkpoint = m_slots[m_used++];
      m_peak = std::max(m_peak, m_used);
      checkpoint = advance_to(lo, mid, y_lo, advance);
      reverse_range(mid, hi, checkpoint, free_slots - 1, reverse, advance);
      --m_used;
      hi = mid;
    }
  }

  // y(target) from y(from) = y_from by repeated steps; returns a scratch buffer.
  const State& advance_to(std::size_t from, std::size_t target, const State& y_from,
                          Advance& advance) {
    if (target == from) return y_from;
    const State* current = &y_from;
    int which = 0;
    for (std::size_t i = from; i < target; ++i) {
      advance(i, *current, m_scratch[static_cast<std::size_t>(which)]);
      ++m_recomputed;
      current = &m_scratch[static_cast<std::size_t>(which)];
      which ^= 1;
    }
    return *current;
  }

  std::size_t m_budget;
  State m_like;
  std::vector<State> m_slots;
  std::array<State, 2> m_scratch;
  std::size_t m_used = 0;
  std::size_t m_peak = 0;
  std::size_t m_recomputed = 0;
};

}  // namespace nde
