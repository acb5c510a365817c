/// \file
/// \brief Which times a solve reports: t0, t1, a list of (irregular) times, every step.
#pragma once

#include <utility>
#include <vector>

namespace nde {

/// \brief Output times of a solve. Outputs always come in the order of integration:
/// t0 (if `t0` or `steps`), the entries of `ts`, every accepted step's end (if `steps`),
/// t1 (if `t1` and not `steps`). Values between steps come from the method's dense output,
/// never from shortened steps.
///
/// `ts` must be strictly monotone in the direction of integration (increasing for
/// t1 > t0, decreasing for a backward solve) and lie in [t0, t1]; otherwise the solve
/// returns `status::invalid_input`. Usable with designated initialisers:
/// `{.t0 = true, .ts = {0.5, 0.7}}`.
struct save_at {
  bool t0 = false;           ///< Report the initial state.
  bool t1 = true;            ///< Report the final state.
  bool steps = false;        ///< Report t0 and the end of every accepted step.
  std::vector<double> ts{};  ///< Extra output times, in the direction of integration.

  /// \brief Only the final state (the default).
  [[nodiscard]] static save_at final_time() { return {}; }
  /// \brief The initial and the final state.
  [[nodiscard]] static save_at initial_and_final() {
    return {.t0 = true, .t1 = true, .steps = false, .ts = {}};
  }
  /// \brief Exactly the given times (put t0 and/or t1 in the list to get them).
  [[nodiscard]] static save_at times(std::vector<double> output_times) {
    return {.t0 = false, .t1 = false, .steps = false, .ts = std::move(output_times)};
  }
  /// \brief t0 and the end of every accepted step.
  [[nodiscard]] static save_at every_step() {
    return {.t0 = true, .t1 = false, .steps = true, .ts = {}};
  }
};

}  // namespace nde
