/// \file
/// \brief Losses with their gradient w.r.t. the prediction: mean squared error, mean
/// absolute error, Huber, and binary cross-entropy on logits (classifiers). Inputs are Eigen vectors or matrices (a batch
/// of states as columns); the loss reduces over every entry.
///
/// Conventions match PyTorch's `MSELoss`, `L1Loss` and `HuberLoss` (reduction
/// `"mean"` by default, or `"sum"`). The mean absolute error is the loss of the
/// torchdiffeq spiral demo, `torch.mean(torch.abs(pred - true))`; at a zero residual
/// its subgradient is taken as 0, as `torch.sign` does. Huber is eq. (2) of
/// Huber (1964), "Robust estimation of a location parameter", with threshold \f$\delta\f$.
#pragma once

#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>

namespace nde::optim {

/// \brief How a loss reduces over the entries.
enum class reduction {
  mean,  ///< Divide the sum by the number of entries (the default, as in PyTorch).
  sum,   ///< Plain sum.
};

/// \brief A loss value and \f$\partial L / \partial \text{prediction}\f$ (same shape as the prediction).
template <class Plain>
struct loss_result {
  typename Plain::Scalar value;  ///< The reduced loss.
  Plain gradient;                ///< Gradient w.r.t. each entry of the prediction.
};

namespace detail {

template <class P, class T, class G>
void check_loss_shapes(const char* name, const Eigen::MatrixBase<P>& prediction,
                       const Eigen::MatrixBase<T>& target, const Eigen::MatrixBase<G>& gradient) {
  const auto shape = [](Eigen::Index r, Eigen::Index c) {
    return std::to_string(r) + "x" + std::to_string(c);
  };
  if (prediction.rows() != target.rows() || prediction.cols() != target.cols())
    throw error(status::invalid_input, std::string(name) + ": prediction is " +
                                           shape(prediction.rows(), prediction.cols()) +
                                           " but target is " + shape(target.rows(), target.cols()));
  if (prediction.size() == 0)
    throw error(status::invalid_input,
                std::string(name) + ": empty prediction (the mean is undefined)");
  if (gradient.rows() != prediction.rows() || gradient.cols() != prediction.cols())
    throw error(status::invalid_input,
                std::string(name) + ": gradient is " + shape(gradient.rows(), gradient.cols()) +
                    " but prediction is " + shape(prediction.rows(), prediction.cols()));
}

template <class Scalar>
Scalar sign(Scalar x) {
  return static_cast<Scalar>((x > Scalar(0)) - (x < Scalar(0)));
}

template <class Scalar>
Scalar reduction_weight(reduction how, Eigen::Index size) {
  return how == reduction::mean ? Scalar(1) / static_cast<Scalar>(size) : Scalar(1);
}

// Resizes a plain dynamic gradient to the prediction's shape; anything else (a block,
// a map, a fixed-size matrix) must already fit and is checked by check_loss_shapes.
template <class P, class G>
void fit_gradient(const Eigen::MatrixBase<P>& prediction, Eigen::MatrixBase<G>& gradient) {
  if constexpr (std::is_base_of_v<Eigen::PlainObjectBase<G>, G>) {
    const bool rows_ok =
        G::RowsAtCompileTime == Eigen::Dynamic || G::RowsAtCompileTime == prediction.rows();
    const bool cols_ok =
        G::ColsAtCompileTime == Eigen::Dynamic || G::ColsAtCompileTime == prediction.cols();
    if (rows_ok && cols_ok) gradient.derived().resize(prediction.rows(), prediction.cols());
  }
}

}  // namespace detail

/// \brief Mean squared error \f$L = \frac1N \sum (p-y)^2\f$, \f$\partial L/\partial p = \frac2N(p-y)\f$.
///
/// Writes the gradient into `gradient` (resized if it is a plain resizable matrix; it
/// must already have the right shape otherwise) and returns the loss. No allocation
/// when `gradient` already has the right size. Cost: O(N).
/// \throws nde::error (`invalid_input`) on mismatched shapes or an empty prediction.
template <class P, class T, class G>
typename P::Scalar mse_loss(const Eigen::MatrixBase<P>& prediction,
                            const Eigen::MatrixBase<T>& target, Eigen::MatrixBase<G>& gradient,
                            reduction how = reduction::mean) {
  using Scalar = typename P::Scalar;
  detail::fit_gradient(prediction, gradient);
  detail::check_loss_shapes("mse_loss", prediction, target, gradient);
  const Scalar weight = detail::reduction_weight<Scalar>(how, prediction.size());
  gradient = prediction - target;
  const Scalar value = weight * gradient.squaredNorm();
  gradient *= Scalar(2) * weight;
  return value;
}

/// \brief Mean absolute error \f$L = \frac1N \sum |p-y|\f$,
/// \f$\partial L/\partial p = \frac1N \operatorname{sign}(p-y)\f$ with \f$\operatorname{sign}(0) = 0\f$.
/// Same conventions as \ref nde::optim::mse_loss().
template <class P, class T, class G>
typename P::Scalar mae_loss(const Eigen::MatrixBase<P>& prediction,
                            const Eigen::MatrixBase<T>& target, Eigen::MatrixBase<G>& gradient,
                            reduction how = reduction::mean) {
  using Scalar = typename P::Scalar;
  detail::fit_gradient(prediction, gradient);
  detail::check_loss_shapes("mae_loss", prediction, target, gradient);
  const Scalar weight = detail::reduction_weight<Scalar>(how, prediction.size());
  Scalar sum(0);
  for (Eigen::Index j = 0; j < prediction.cols(); ++j) {
    for (Eigen::Index i = 0; i < prediction.rows(); ++i) {
      const Scalar residual = prediction(i, j) - target(i, j);
      sum += std::abs(residual);
      gradient(i, j) = weight * detail::sign(residual);
    }
  }
  return weight * sum;
}

/// \brief Huber loss with threshold \f$\delta > 0\f$ (PyTorch `HuberLoss`): per entry
/// \f$\tfrac12 r^2\f$ if \f$|r| \le \delta\f$, else \f$\delta(|r| - \tfrac12\delta)\f$, with
/// \f$r = p - y\f$; gradient \f$r\f$ resp. \f$\delta \operatorname{sign}(r)\f$, reduced like
/// the value. Same conventions as \ref nde::optim::mse_loss().
/// \throws nde::error (`invalid_input`) also if `delta` is not positive and finite.
template <class P, class T, class G>
typename P::Scalar huber_loss(const Eigen::MatrixBase<P>& prediction,
                              const Eigen::MatrixBase<T>& target, Eigen::MatrixBase<G>& gradient,
                              typename P::Scalar delta = 1, reduction how = reduction::mean) {
  using Scalar = typename P::Scalar;
  if (!(delta > 0) || !std::isfinite(delta))
    throw error(status::invalid_input, "huber_loss: delta must be positive and finite");
  detail::fit_gradient(prediction, gradient);
  detail::check_loss_shapes("huber_loss", prediction, target, gradient);
  const Scalar weight = detail::reduction_weight<Scalar>(how, prediction.size());
  Scalar sum(0);
  for (Eigen::Index j = 0; j < prediction.cols(); ++j) {
    for (Eigen::Index i = 0; i < prediction.rows(); ++i) {
      const Scalar residual = prediction(i, j) - target(i, j);
      const Scalar magnitude = std::abs(residual);
      if (magnitude <= delta) {
        sum += Scalar(0.5) * residual * residual;
        gradient(i, j) = weight * residual;
      } else {
        sum += delta * (magnitude - Scalar(0.5) * delta);
        gradient(i, j) = weight * delta * detail::sign(residual);
      }
    }
  }
  return weight * sum;
}

/// \brief Binary cross-entropy on logits (PyTorch's `BCEWithLogitsLoss`): with z the
/// prediction (a logit) and y ∈ [0, 1] the target, ℓ = max(z, 0) − z y + log(1 + e^(−|z|))
/// (the overflow-free form of −y log σ(z) − (1 − y) log(1 − σ(z))), ∂ℓ/∂z = σ(z) − y.
/// Writes the gradient, returns the loss. Cost: O(N).
/// \throws nde::error (`invalid_input`) on mismatched shapes, an empty prediction, or a target
///   outside [0, 1].
template <class P, class T, class G>
typename P::Scalar binary_cross_entropy_with_logits(const Eigen::MatrixBase<P>& prediction,
                                                    const Eigen::MatrixBase<T>& target,
                                                    Eigen::MatrixBase<G>& gradient,
                                                    reduction how = reduction::mean) {
  using Scalar = typename P::Scalar;
  detail::fit_gradient(prediction, gradient);
  detail::check_loss_shapes("binary_cross_entropy_with_logits", prediction, target, gradient);
  if (!((target.array() >= Scalar(0)) && (target.array() <= Scalar(1))).all())
    throw error(status::invalid_input,
                "binary_cross_entropy_with_logits: targets must lie in [0, 1]");
  const Scalar weight = detail::reduction_weight<Scalar>(how, prediction.size());
  Scalar sum = 0;
  for (Eigen::Index j = 0; j < prediction.cols(); ++j) {
    for (Eigen::Index i = 0; i < prediction.rows(); ++i) {
      const Scalar z = prediction(i, j), y = target(i, j);
      const Scalar e = std::exp(-std::abs(z));
      sum += std::max(z, Scalar(0)) - z * y + std::log1p(e);
      const Scalar sigma = z >= 0 ? 1 / (1 + e) : e / (1 + e);
      gradient(i, j) = weight * (sigma - y);
    }
  }
  return weight * sum;
}

/// \brief \ref nde::optim::mse_loss() returning value and a freshly allocated gradient.
template <class P, class T>
loss_result<typename P::PlainObject> mse_loss(const Eigen::MatrixBase<P>& prediction,
                                              const Eigen::MatrixBase<T>& target,
                                              reduction how = reduction::mean) {
  loss_result<typename P::PlainObject> result{};
  result.value = mse_loss(prediction, target, result.gradient, how);
  return result;
}

/// \brief \ref nde::optim::mae_loss() returning value and a freshly allocated gradient.
template <class P, class T>
loss_result<typename P::PlainObject> mae_loss(const Eigen::MatrixBase<P>& prediction,
                                              const Eigen::MatrixBase<T>& target,
                                              reduction how = reduction::mean) {
  loss_result<typename P::PlainObject> result{};
  result.value = mae_loss(prediction, target, result.gradient, how);
  return result;
}

/// \brief \ref nde::optim::huber_loss() returning value and a freshly allocated gradient.
template <class P, class T>
loss_result<typename P::PlainObject> huber_loss(const Eigen::MatrixBase<P>& prediction,
                                                const Eigen::MatrixBase<T>& target,
                                                typename P::Scalar delta = 1,
                                                reduction how = reduction::mean) {
  loss_result<typename P::PlainObject> result{};
  result.value = huber_loss(prediction, target, result.gradient, delta, how);
  return result;
}

}  // namespace nde::optim
