/// \file
/// \brief Trajectory losses for `nde::training::fit`: the mean squared, absolute or Huber error
/// of a model's outputs against a batch's targets, over every observed entry of every output
/// but the first (the initial state), with the cotangents dL/dy the backward pass needs.
#pragma once

#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/training/data.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace nde::training {

/// \brief Which pointwise error a `trajectory_loss` averages.
enum class loss_kind {
  mse,    ///< r² (PyTorch `MSELoss`).
  mae,    ///< |r| (`L1Loss`; subgradient 0 at r = 0).
  huber,  ///< r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond (`HuberLoss`).
};

/// \brief L = mean over observed entries e of ℓ(y_e − target_e), outputs 1… only (output 0 is
/// the initial state). Masked entries (mask 0) add nothing and get a zero cotangent; the mean
/// divides by the number of observed entries. O(entries).
struct trajectory_loss {
  loss_kind kind = loss_kind::mse;  ///< The pointwise error.
  double delta = 1.0;               ///< Huber threshold δ > 0.

  /// \brief The loss of `ys` (one output per `b.ts`) against `b`; writes dL/dys into
  /// `cotangents` (resized to `ys.size()`, shaped like the outputs).
  /// \throws nde::error (invalid_input) on a count or shape mismatch, a non-finite target that
  ///   is not masked, or δ ≤ 0.
  template <class State, class T>
  double operator()(std::span<const State> ys, const batch<State, T>& b,
                    std::vector<State>& cotangents) const {
    using scalar = typename State::Scalar;
    auto fail = [](const std::string& what) {
      throw error(status::invalid_input, "trajectory_loss: " + what);
    };
    if (kind == loss_kind::huber && !(delta > 0)) fail("delta must be positive");
    if (ys.size() != b.targets.size())
      fail(nde::detail::concatenate(ys.size(), " outputs for ", b.targets.size(), " targets"));
    if (!b.mask.empty() && b.mask.size() != b.targets.size())
      fail(nde::detail::concatenate(b.mask.size(), " masks for ", b.targets.size(), " targets"));
    cotangents.resize(ys.size());
    double sum = 0, count = 0;
    for (std::size_t i = 0; i < ys.size(); ++i) {
      if (ys[i].rows() != b.targets[i].rows() || ys[i].cols() != b.targets[i].cols())
        fail(nde::detail::concatenate("output ", i, " is ", ys[i].rows(), "x", ys[i].cols(),
                                      ", its target ", b.targets[i].rows(), "x",
                                      b.targets[i].cols()));
      cotangents[i].setZero(ys[i].rows(), ys[i].cols());
      if (i == 0) continue;
      for (Eigen::Index k = 0; k < ys[i].size(); ++k) {
        if (!b.mask.empty() && b.mask[i].data()[k] == 0) continue;
        const double target = static_cast<double>(b.targets[i].data()[k]);
        if (!std::isfinite(target))
          fail(nde::detail::concatenate("target ", i, " has a NaN or Inf at entry ", k,
                                        " that is not masked"));
        count += 1;
        const double r = static_cast<double>(ys[i].data()[k]) - target;
        double value = 0, slope = 0;
        switch (kind) {
          case loss_kind::mse:
            value = r * r;
            slope = 2 * r;
            break;
          case loss_kind::mae:
            value = std::abs(r);
            slope = r > 0 ? 1.0 : (r < 0 ? -1.0 : 0.0);
            break;
          case loss_kind::huber:
            value = std::abs(r) <= delta ? 0.5 * r * r : delta * (std::abs(r) - 0.5 * delta);
            slope = std::abs(r) <= delta ? r : (r > 0 ? delta : -delta);
            break;
        }
        sum += value;
        cotangents[i].data()[k] = static_cast<scalar>(slope);
      }
    }
    if (count == 0) return 0.0;
    for (auto& c : cotangents) c *= static_cast<scalar>(1.0 / count);
    return sum / count;
  }
};

}  // namespace nde::training
