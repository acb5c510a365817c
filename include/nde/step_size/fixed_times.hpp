/// \file
/// \brief A step-size policy that steps exactly between given times: used to re-solve with
/// the accepted steps of an earlier solve (e.g. by a discrete or checkpointed adjoint).
#pragma once

#include <vector>

namespace nde {

/// \brief Steps from `times[i]` to `times[i + 1]`.
///
/// `times` must start at t0, end at t1 (exactly: pass the values recorded by
/// `solve_options::record_steps`) and be strictly monotone in the direction of integration.
/// A NaN or Inf in a step is a failure (`status::non_finite`).
struct fixed_times {
  std::vector<double> times;  ///< Step boundaries t0 = times.front() … times.back() = t1.
};

}  // namespace nde
