/// \file
/// \brief Steps exactly between given times (e.g. to replay the steps of another solve).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/step_size/controller.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace nde {

/// \brief Steps from `times[i]` to `times[i + 1]`; `times` must start at t0, end at t1 and be
/// strictly monotone. A NaN or Inf in a step fails the solve.
struct fixed_times {
  std::vector<double> times;  ///< Step boundaries t0 = times.front() … times.back() = t1.

  /// \brief Per-solve state.
  template <time_scalar T, state State>
  struct state_type {
    std::size_t index = 0;  ///< Steps accepted so far.
  };

  /// \brief Empty if usable on [t0, t1]; else what is wrong.
  [[nodiscard]] std::string validate(Eigen::Index, double t0, double t1) const {
    if (times.empty() || times.front() != t0 || times.back() != t1)
      return "fixed_times.times must start at t0 and end at t1";
    if (t0 == t1 && times.size() > 1) return "t0 == t1 but fixed_times lists more than one time";
    const double direction = t1 >= t0 ? 1.0 : -1.0;
    for (std::size_t i = 1; i < times.size(); ++i)
      if (!std::isfinite(times[i]) || !detail::before(times[i - 1], times[i], direction))
        return detail::concatenate(
            "fixed_times.times must be finite and strictly monotone from t0 to t1; times[", i - 1,
            "] = ", times[i - 1], ", times[", i, "] = ", times[i]);
    return {};
  }
  /// \brief An empty state.
  template <time_scalar T, state State>
  [[nodiscard]] state_type<T, State> make_state(const State&) const {
    return {};
  }
  /// \brief Nothing to size.
  template <time_scalar T, state State>
  void resize(state_type<T, State>&, const State&) const {}

  /// \brief The first step ends at times[1].
  template <time_scalar T, state State, class Eval>
  step_decision<T> init(state_type<T, State>& s, Eval&, T t0, T, const State&, const State&,
                        int) const {
    s.index = 0;
    return next(s, t0);
  }
  /// \brief Accepts every finite step.
  template <time_scalar T, state State>
  step_decision<T> adapt(state_type<T, State>& s, T t0, T t1, const State&, const State&,
                         const State*, nde::status step_status, int) const {
    if (step_status != nde::status::success)
      return detail::cannot_shrink(t0, t1, "fixed times", step_status);
    ++s.index;
    return next(s, t1);
  }

 private:
  template <time_scalar T, state State>
  step_decision<T> next(const state_type<T, State>& s, T t) const {
    step_decision<T> d;
    d.next_t0 = t;
    const std::size_t i = std::min(s.index + 1, times.size() - 1);
    d.next_t1 = static_cast<T>(times[i]);
    d.next_kind = i + 1 == times.size() ? boundary_kind::end : boundary_kind::fixed;
    return d;
  }
};

}  // namespace nde
