/// \file
/// \brief Constant step size: steps t0 + k·dt, the last one shortened to land on t1.
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

namespace nde {

/// \brief Constant step `dt`: steps end at t0 + k·dt (computed from t0, never by adding dt up,
/// so time does not drift) and the last step ends exactly at t1. If |t1 - t0| is a multiple of
/// dt to within 1e-10 relative, no sliver step is taken. Works with every method; a NaN or Inf
/// in a step fails the solve (the step cannot shrink).
struct constant_step {
  double dt = 0.0;  ///< Step magnitude, same unit as time; must be positive and finite.

  /// \brief Per-solve state.
  template <time_scalar T, state State>
  struct state_type {
    T t0{};                 ///< Start of the solve.
    T t_end{};              ///< t1.
    T direction{1};         ///< Sign of t1 - t0.
    double count = 0;       ///< Number of steps.
    std::size_t index = 0;  ///< Steps accepted so far.
  };

  /// \brief Empty if usable; else what is wrong.
  [[nodiscard]] std::string validate(Eigen::Index, double, double) const {
    if (!(dt > 0) || !std::isfinite(dt))
      return detail::concatenate("constant_step.dt must be positive and finite (got ", dt,
                                 "); the direction comes from t1 - t0");
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

  /// \brief The first step ends at t0 + dt (or t1).
  template <time_scalar T, state State, class Eval>
  step_decision<T> init(state_type<T, State>& s, Eval&, T t0, T t1, const State&, const State&,
                        int) const {
    s.t0 = t0;
    s.t_end = t1;
    s.direction = t1 >= t0 ? T(1) : T(-1);
    s.index = 0;
    const double ratio = std::abs(static_cast<double>(t1) - static_cast<double>(t0)) / dt;
    const double nearest = std::round(ratio);
    s.count =
        std::abs(ratio - nearest) <= 1e-10 * std::max(1.0, ratio) ? nearest : std::ceil(ratio);
    return next(s, t0);
  }

  /// \brief Accepts every finite step.
  template <time_scalar T, state State>
  step_decision<T> adapt(state_type<T, State>& s, T t0, T t1, const State&, const State&,
                         const State*, nde::status step_status, int) const {
    if (step_status != nde::status::success)
      return detail::cannot_shrink(t0, t1, "constant step", step_status);
    ++s.index;
    return next(s, t1);
  }

 private:
  template <time_scalar T, state State>
  step_decision<T> next(const state_type<T, State>& s, T t) const {
    step_decision<T> d;
    d.next_t0 = t;
    const double k = static_cast<double>(s.index + 1);
    if (k >= s.count) {
      d.next_t1 = s.t_end;
      d.next_kind = boundary_kind::end;
    } else {
      d.next_t1 = s.t0 + s.direction * static_cast<T>(k * dt);
    }
    return d;
  }
};

}  // namespace nde
