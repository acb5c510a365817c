/// \file
/// \brief Affine layer `y = W x + b` (PyTorch `nn.Linear`), for one vector or a batch
/// of columns (a GEMM).
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/detail/layer_support.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace nde::nn {

/// \brief Affine layer `y = W x + b` with `W` of shape `{out, in}` and `b` of shape `{out}`.
///
/// Parameters (in this order in the layer's segment of the flat vector):
/// `weight` (`out × in`, column-major) then `bias` (`out`).
/// Forward cost `2·in·out·B` flops for a batch of `B` columns; backward twice that.
///
/// \tparam In  input size, or `Eigen::Dynamic` (then given to the constructor).
/// \tparam Out output size, or `Eigen::Dynamic`.
template <int In = Eigen::Dynamic, int Out = Eigen::Dynamic>
class linear {
 public:
  /// \brief False: the input size is fixed by the layer.
  static constexpr bool size_preserving = false;
  /// \brief Input rows at compile time: `In` (`Eigen::Dynamic` when given at run time).
  static constexpr int input_rows_at_compile_time = In;
  /// \brief Output rows at compile time: `Out`, whatever the input.
  static constexpr int output_rows_at_compile_time(int) { return Out; }
  /// \brief No cache: `backward` needs only `x` and the parameters.
  static constexpr int cache_rows_at_compile_time(int) { return 0; }

  /// \brief Fixed-size layer.
  linear() requires(In != Eigen::Dynamic && Out != Eigen::Dynamic) : m_in(In), m_out(Out) {}

  /// \brief Layer with runtime sizes; they must agree with `In`/`Out` where those are fixed.
  /// \throws nde::error (invalid_input) on a negative or mismatching size.
  linear(Eigen::Index in, Eigen::Index out) : m_in(in), m_out(out) {
    if (in < 0 || out < 0 || (In != Eigen::Dynamic && in != In) ||
        (Out != Eigen::Dynamic && out != Out)) {
      throw nde::error(status::invalid_input, "linear layer: sizes " + std::to_string(in) + " -> " +
                                                  std::to_string(out) +
                                                  " do not match the compile-time sizes");
    }
  }

  /// \brief Input size `in` (rows of `x`).
  [[nodiscard]] Eigen::Index input_size() const { return m_in; }
  /// \brief Output size `out`, whatever the input.
  [[nodiscard]] Eigen::Index output_size(Eigen::Index) const { return m_out; }
  /// \brief Cache rows per column: 0.
  [[nodiscard]] Eigen::Index cache_size(Eigen::Index) const { return 0; }
  /// \brief Number of parameters: out·in (weight) + out (bias).
  [[nodiscard]] Eigen::Index num_params() const { return m_out * m_in + m_out; }

  /// \brief Appends `<prefix>weight` `{out, in}` and `<prefix>bias` `{out}`.
  void append_layout(parameter_layout& layout, const std::string& prefix,
                     std::int64_t offset) const {
    layout.push_back({prefix + "weight", {std::int64_t(m_out), std::int64_t(m_in)}, offset});
    layout.push_back({prefix + "bias", {std::int64_t(m_out)}, offset + std::int64_t(m_out * m_in)});
  }

  /// \brief `y = W x + b` (columns of `x` are independent inputs). `t` is unused.
  template <class Theta, class Time, class X, class Y, class Cache>
  void forward(const Eigen::MatrixBase<Theta>& theta, Time, const Eigen::MatrixBase<X>& x, Y&& y,
               Cache&&) const {
    auto& out = detail::as_mutable(y);
    out.noalias() = weight(theta) * x;
    out.colwise() += bias(theta);
  }

  /// \brief `dx = Wᵀ dy`; accumulates `dW += dy xᵀ`, `db += Σ_columns dy`.
  template <class Theta, class Time, class X, class Y, class Cache, class DY, class DX,
            class DTheta, class DTime>
  void backward(const Eigen::MatrixBase<Theta>& theta, Time, const Eigen::MatrixBase<X>& x,
                const Eigen::MatrixBase<Y>&, const Cache&, const Eigen::MatrixBase<DY>& dy, DX&& dx,
                DTheta&& dtheta, DTime&) const {
    detail::as_mutable(dx).noalias() = weight(theta).transpose() * dy;
    weight_mutable(dtheta).noalias() += dy * x.transpose();
    bias_mutable(dtheta) += dy.rowwise().sum();
  }

  /// \brief View of the weight inside this layer's parameter segment.
  template <class Theta>
  auto weight(const Eigen::MatrixBase<Theta>& theta) const {
    using scalar = typename Theta::Scalar;
    return Eigen::Map<const Eigen::Matrix<scalar, Out, In>>(theta.derived().data(), m_out, m_in);
  }
  /// \brief View of the bias inside this layer's parameter segment.
  template <class Theta>
  auto bias(const Eigen::MatrixBase<Theta>& theta) const {
    using scalar = typename Theta::Scalar;
    return Eigen::Map<const Eigen::Matrix<scalar, Out, 1>>(theta.derived().data() + m_out * m_in,
                                                           m_out);
  }

 private:
  template <class Theta>
  auto weight_mutable(Theta&& theta) const {
    using scalar = typename detail::plain<Theta>::Scalar;
    return Eigen::Map<Eigen::Matrix<scalar, Out, In>>(detail::as_mutable(theta).data(), m_out,
                                                      m_in);
  }
  template <class Theta>
  auto bias_mutable(Theta&& theta) const {
    using scalar = typename detail::plain<Theta>::Scalar;
    return Eigen::Map<Eigen::Matrix<scalar, Out, 1>>(
        detail::as_mutable(theta).data() + m_out * m_in, m_out);
  }

  Eigen::Index m_in;
  Eigen::Index m_out;
};

}  // namespace nde::nn
