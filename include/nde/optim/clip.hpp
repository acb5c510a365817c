/// \file
/// \brief Gradient clipping by global norm (Pascanu, Mikolov & Bengio 2013,
/// arXiv:1211.5063), with PyTorch's `torch.nn.utils.clip_grad_norm_` semantics.
#pragma once

#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <cmath>

namespace nde::optim {

/// \brief Scales `gradient` in place so that its Euclidean norm is at most `max_norm`.
///
/// As in PyTorch, the scale is \f$\min(1, \text{max\_norm} / (\|g\|_2 + 10^{-6}))\f$, so a
/// gradient already inside the ball is left bit-for-bit unchanged. Because all
/// parameters live in one flat vector, the global norm over all tensors is the norm
/// of that vector. The norm is computed with Eigen's `stableNorm()`, so huge
/// `float` gradients (e.g. 1e30) do not overflow to infinity.
///
/// If the norm is not finite (a NaN or Inf in the gradient), the gradient is left
/// untouched and the non-finite norm is returned so the caller can skip the step.
///
/// \tparam Derived any writable Eigen vector expression with a floating-point scalar.
/// \return the norm before clipping. Cost: O(n).
/// \throws nde::error (`invalid_input`) if `max_norm` is negative or NaN.
template <class Derived>
typename Derived::Scalar clip_by_global_norm(Eigen::MatrixBase<Derived>& gradient,
                                             typename Derived::Scalar max_norm) {
  using Scalar = typename Derived::Scalar;
  if (!(max_norm >= 0))
    throw error(status::invalid_input, "clip_by_global_norm: max_norm must be >= 0");
  const Scalar norm = gradient.stableNorm();
  if (!std::isfinite(norm)) return norm;
  const Scalar scale = max_norm / (norm + Scalar(1e-6));
  if (scale < Scalar(1)) gradient *= scale;
  return norm;
}

/// \brief Overload for temporaries such as `v.segment(a, n)` or an `Eigen::Map`.
template <class Derived>
typename Derived::Scalar clip_by_global_norm(Eigen::MatrixBase<Derived>&& gradient,
                                             typename Derived::Scalar max_norm) {
  return clip_by_global_norm(gradient, max_norm);
}

}  // namespace nde::optim
