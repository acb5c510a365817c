/// \file
/// \brief Irregular, partially observed time series made ready for an interpolated path
/// (Kidger et al. 2020, "Neural controlled differential equations for irregular time series",
/// §3.5 and appendix: missing values are filled forward and the observation pattern becomes
/// extra channels, so a neural CDE sees both the values and when they were seen).
///
/// - `align_samples`: samples each observed at their own times → one union grid of knots with
///   NaN where a sample has no observation (the layout the paths take).
/// - `prepare_observations`: NaN → the last observed value of that channel and sample
///   (leading NaN → the first observed one); optionally time as channel 0 and, per data
///   channel, the cumulative count of its observations (an observation-intensity channel,
///   which stays informative after interpolation, unlike a 0/1 mask).
#pragma once

#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/paths/interpolation.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace nde {

/// \brief Channels `prepare_observations` adds.
struct observation_options {
  bool time_channel = true;        ///< Prepend the knot time as channel 0.
  bool intensity_channels = true;  ///< Append, per data channel, its cumulative observation count.
};

/// \brief Knots and values on one grid (the result of `align_samples`).
template <class S = double>
struct aligned_observations {
  std::vector<double> times;  ///< Strictly increasing union of every sample's times.
  path_values<S> values;  ///< One C × B matrix per knot; NaN where a sample has no observation.
};

/// \brief Puts samples observed at different times on one grid: sample b has strictly
/// increasing `times[b]` and a C × n_b matrix `values[b]` (its column j observed at
/// `times[b][j]`; NaN entries are missing channels). Cost O(Σ n_b log Σ n_b + N·C·B).
/// \throws nde::error (invalid_input) on unordered or non-finite times, a sample with no
///   observations, or channel counts that differ between samples.
template <class S = double>
[[nodiscard]] aligned_observations<S> align_samples(
    const std::vector<std::vector<double>>& times,
    const std::vector<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>>& values) {
  if (times.empty() || times.size() != values.size())
    throw error(
        status::invalid_input,
        detail::concatenate("align_samples: ", times.size(), " time lists and ", values.size(),
                            " value matrices (need one of each per sample, "
                            "at least one sample)"));
  const auto channels = values[0].rows();
  std::vector<double> all;
  for (std::size_t b = 0; b < times.size(); ++b) {
    if (times[b].empty())
      throw error(status::invalid_input,
                  detail::concatenate("align_samples: sample ", b, " has no observations"));
    if (values[b].rows() != channels)
      throw error(status::invalid_input,
                  detail::concatenate("align_samples: sample ", b, " has ", values[b].rows(),
                                      " channels but sample 0 has ", channels));
    if (values[b].cols() != static_cast<Eigen::Index>(times[b].size()))
      throw error(status::invalid_input,
                  detail::concatenate("align_samples: sample ", b, " has ", times[b].size(),
                                      " times but ", values[b].cols(), " value columns"));
    for (std::size_t j = 0; j < times[b].size(); ++j) {
      if (!std::isfinite(times[b][j]) || (j > 0 && !(times[b][j] > times[b][j - 1])))
        throw error(status::invalid_input,
                    detail::concatenate("align_samples: the times of sample ", b,
                                        " are not finite and strictly increasing (entry ", j, ")"));
      all.push_back(times[b][j]);
    }
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  aligned_observations<S> out;
  out.times = all;
  const auto batch = static_cast<Eigen::Index>(times.size());
  out.values.assign(all.size(), Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>::Constant(
                                    channels, batch, std::numeric_limits<S>::quiet_NaN()));
  for (std::size_t b = 0; b < times.size(); ++b) {
    for (std::size_t j = 0; j < times[b].size(); ++j) {
      const auto k = static_cast<std::size_t>(
          std::lower_bound(all.begin(), all.end(), times[b][j]) - all.begin());
      out.values[k].col(static_cast<Eigen::Index>(b)) = values[b].col(static_cast<Eigen::Index>(j));
    }
  }
  return out;
}

/// \brief Fills missing (NaN) observations and adds the time and observation-intensity
/// channels (see the file comment). `values[k]` is C × B at `times[k]`; the result has
/// `time_channel + C + C·intensity_channels` channels, in that order, with no NaN left.
/// \throws nde::error (invalid_input) on unordered or non-finite times, mismatched shapes,
///   an infinite value, a sample with no observation at all, or a channel a sample never
///   observes (fill it yourself, e.g. with the channel's mean, if that is intended).
template <class S = double>
[[nodiscard]] path_values<S> prepare_observations(const std::vector<double>& times,
                                                  const path_values<S>& values,
                                                  observation_options options = {}) {
  if (times.empty() || times.size() != values.size())
    throw error(status::invalid_input,
                detail::concatenate("prepare_observations: ", times.size(), " times and ",
                                    values.size(), " value matrices (need one per knot)"));
  const auto channels = values[0].rows(), batch = values[0].cols();
  if (channels < 1 || batch < 1)
    throw error(status::invalid_input, "prepare_observations: the value matrices are empty");
  for (std::size_t k = 0; k < times.size(); ++k) {
    if (!std::isfinite(times[k]) || (k > 0 && !(times[k] > times[k - 1])))
      throw error(status::invalid_input,
                  detail::concatenate("prepare_observations: times must be finite and strictly "
                                      "increasing (entry ",
                                      k, ")"));
    if (values[k].rows() != channels || values[k].cols() != batch)
      throw error(status::invalid_input,
                  detail::concatenate("prepare_observations: value matrix ", k, " is ",
                                      values[k].rows(), " x ", values[k].cols(),
                                      " but matrix 0 is ", channels, " x ", batch));
    if ((values[k].array().abs() == std::numeric_limits<S>::infinity()).any())
      throw error(status::invalid_input,
                  detail::concatenate("prepare_observations: value matrix ", k,
                                      " has an infinite entry (only NaN marks a missing value)"));
  }
  const std::size_t n = times.size();
  const Eigen::Index offset = options.time_channel ? 1 : 0;
  const Eigen::Index total = offset + channels * (options.intensity_channels ? 2 : 1);
  path_values<S> out(n, Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>::Zero(total, batch));
  for (Eigen::Index b = 0; b < batch; ++b) {
    bool any = false;
    for (std::size_t k = 0; k < n && !any; ++k) any = !values[k].col(b).array().isNaN().all();
    if (!any)
      throw error(status::invalid_input,
                  detail::concatenate("prepare_observations: sample ", b, " has no observations"));
    for (Eigen::Index c = 0; c < channels; ++c) {
      // First observation (for leading NaN), then fill forward and count.
      std::size_t first = n;
      for (std::size_t k = 0; k < n && first == n; ++k)
        if (!std::isnan(values[k](c, b))) first = k;
      if (first == n)
        throw error(status::invalid_input,
                    detail::concatenate("prepare_observations: sample ", b,
                                        " never observes channel ", c, " (all NaN)"));
      S last = values[first](c, b);
      S count = 0;
      for (std::size_t k = 0; k < n; ++k) {
        if (!std::isnan(values[k](c, b))) {
          last = values[k](c, b);
          count += 1;
        }
        out[k](offset + c, b) = last;
        if (options.intensity_channels) out[k](offset + channels + c, b) = count;
      }
    }
  }
  if (options.time_channel)
    for (std::size_t k = 0; k < n; ++k) out[k].row(0).setConstant(static_cast<S>(times[k]));
  return out;
}

}  // namespace nde
