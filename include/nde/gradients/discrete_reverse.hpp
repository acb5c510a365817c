/// \file
/// \brief Reverse-mode differentiation of explicit Runge–Kutta steps (the engine of
/// `discrete_adjoint`), and the binomial checkpointing schedule that bounds its memory.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/models/differentiable_field.hpp"
#include "nde/solvers/explicit_rk.hpp"

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace nde {

namespace detail {

/// Stage i's derivative reaches y1 (b_i != 0) or a later stage (a_ji != 0 for some j > i).
/// Otherwise its cotangent is zero and its vjp can be skipped (the FSAL stage of dopri5/tsit5).
template <class Tableau>
constexpr bool stage_is_used(int i) {
  if (Tableau::b[i] != 0.0) return true;
  for (int j = i + 1; j < Tableau::stages; ++j)
    if (Tableau::a[j][i] != 0.0) return true;
  return false;
}

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

/// \brief Buffers to reverse steps of `explicit_rk<Tableau>` on states of type `State`.
template <class Tableau, state State>
struct rk_reverse_workspace {
  /// \brief The stepper whose steps are reversed.
  using method_type = explicit_rk<Tableau>;
  typename method_type::template workspace<State> forward;  ///< Stages of the replayed step.
  std::array<State, Tableau::stages> stage_cotangent;       ///< k̄_i.
  std::array<State, Tableau::stages> stage_arguments;  ///< Y_i of each stage (cached-field path).
  State stage_argument;                                ///< Y_i.
  State argument_cotangent;                            ///< Ȳ_i.
  State y1;                                            ///< y_{n+1} of the replay.
  State accumulated;                                   ///< ȳ_n being built.

  /// \brief Sizes every buffer like `like`.
  void resize(const State& like) {
    method_type{}.resize(forward, like);
    for (auto& k : stage_cotangent) k.setZero(like.rows(), like.cols());
    for (auto& y : stage_arguments) y.setZero(like.rows(), like.cols());
    for (State* s : {&stage_argument, &argument_cotangent, &y1, &accumulated})
      s->setZero(like.rows(), like.cols());
  }
};

/// \brief Replays the step (t0, y0) → t1 of `explicit_rk<Tableau>` and pulls the cotangent
/// `y_bar` of y1 back through it: on return `y_bar` holds the cotangent of y0 and
/// `theta_bar` has been incremented by the step's parameter cotangent.
///
/// Cost: s - 1 (+1) evaluations of f for the replay and one vjp per used stage (s - 1 for
/// FSAL methods). A `stage_cached_field` (e.g. `network_field`) replays only the used stages,
/// keeping each stage's forward values, and its vjps then skip the forward pass: about
/// s - 1 evaluations and s - 1 reverse passes per step for dopri5 instead of s evaluations
/// and s - 1 full vjps. No allocation once `ws` is sized (and the field's cache slots exist).
/// \return number of f evaluations and vjps {rhs, vjp}.
template <class Tableau, class Field, time_scalar T, state State>
std::array<std::size_t, 2> reverse_rk_step(Field& field, params_view<scalar_of_t<State>> theta,
                                           T t0, T t1, const State& y0, State& y_bar,
                                           params_ref<scalar_of_t<State>> theta_bar,
                                           rk_reverse_workspace<Tableau, State>& ws) {
  using scalar = scalar_of_t<State>;
  constexpr int s = Tableau::stages;
  constexpr bool cached = stage_cached_field<Field, T, State>;
  const auto h = static_cast<scalar>(t1 - t0);
  const T h_time = t1 - t0;
  auto stage_time = [&](int i) {
    return Tableau::c[i] == 1.0 ? t1 : t0 + static_cast<T>(Tableau::c[i]) * h_time;
  };
  // Y_i exactly as the engine forms it (same operations, same order), from the replayed k_j.
  auto form_argument = [&](int i, State& argument) {
    argument = y0;
    for (int j = 0; j < i; ++j)
      if (Tableau::a[i][j] != 0.0)
        argument += (h * static_cast<scalar>(Tableau::a[i][j])) * ws.forward.k[j];
  };

  std::size_t rhs = 0;
  if constexpr (cached) {
    // Only the used stages (not dopri5's FSAL stage), each keeping its forward values.
    for (int i = 0; i < s; ++i) {
      if (!detail::stage_is_used<Tableau>(i)) continue;
      form_argument(i, ws.stage_arguments[i]);
      field.evaluate_for_vjp(static_cast<std::size_t>(i), stage_time(i),
                             static_cast<const State&>(ws.stage_arguments[i]), theta,
                             ws.forward.k[i]);
      ++rhs;
    }
  } else {
    const explicit_rk<Tableau> method{};
    auto f = [&](T t, const State& y, State& dydt) {
      ++rhs;
      field(t, y, theta, dydt);
    };
    method.init(f, t0, y0, ws.forward);
    method.step(f, t0, t1, y0, ws.y1, ws.forward);
  }

  for (int i = 0; i < s; ++i) {
    if (Tableau::b[i] != 0.0) {
      ws.stage_cotangent[i].noalias() = (h * static_cast<scalar>(Tableau::b[i])) * y_bar;
    } else {
      ws.stage_cotangent[i].setZero();
    }
  }
  ws.accumulated = y_bar;
  std::size_t vjps = 0;
  for (int i = s - 1; i >= 0; --i) {
    if (!detail::stage_is_used<Tableau>(i)) continue;
    const State& cotangent = ws.stage_cotangent[i];
    if constexpr (cached) {
      field.vjp_from(static_cast<std::size_t>(i), stage_time(i),
                     static_cast<const State&>(ws.stage_arguments[i]), theta, cotangent,
                     ws.argument_cotangent, theta_bar);
    } else {
      form_argument(i, ws.stage_argument);
      field.vjp(stage_time(i), static_cast<const State&>(ws.stage_argument), theta, cotangent,
                ws.argument_cotangent, theta_bar);
    }
    ++vjps;
    ws.accumulated += ws.argument_cotangent;
    for (int j = 0; j < i; ++j)
      if (Tableau::a[i][j] != 0.0)
        ws.stage_cotangent[j] +=
            (h * static_cast<scalar>(Tableau::a[i][j])) * ws.argument_cotangent;
  }
  y_bar.swap(ws.accumulated);
  return {rhs, vjps};
}

/// \brief Reverses the steps of one interval (y at its start given) holding at most `budget`
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
      advance(i, *current, m_scratch[which]);
      ++m_recomputed;
      current = &m_scratch[which];
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
