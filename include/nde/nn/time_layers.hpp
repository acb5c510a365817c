/// \file
/// \brief Layers that take the time `t` as an input, for non-autonomous vector fields
/// `f(t, x)`: FFJORD's `ConcatLinear` and `ConcatSquashLinear`.
///
/// Grathwohl, Chen, Bettencourt, Sutskever & Duvenaud (2019), "FFJORD: Free-form
/// continuous dynamics for scalable reversible generative models", ICLR; layer
/// definitions in the authors' `lib/layers/diffeq_layers/basic.py`. Parameter names
/// follow that module so a PyTorch `state_dict` maps one-to-one. A batch shares one `t`
/// (as in a batched ODE solve), so `dt` sums over the columns.
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/activations.hpp"
#include "nde/nn/detail/layer_support.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace nde::nn {

/// \brief `y = W [t; x] + b` (FFJORD `ConcatLinear`): a linear layer on the input with
/// the time prepended.
///
/// Parameters: `_layer.weight` `{out, in + 1}` (column 0 multiplies `t`), then
/// `_layer.bias` `{out}`. Cost as `linear<In + 1, Out>`.
template <int In = Eigen::Dynamic, int Out = Eigen::Dynamic>
class concat_linear {
 public:
  /// \brief False: the input size is fixed by the layer.
  static constexpr bool size_preserving = false;
  /// \brief Input rows at compile time: `In` (`Eigen::Dynamic` when given at run time). The time is
  /// not counted.
  static constexpr int input_rows_at_compile_time = In;
  /// \brief Output rows at compile time: `Out`, whatever the input.
  static constexpr int output_rows_at_compile_time(int) { return Out; }
  /// \brief No cache: `backward` needs only `x` and the parameters.
  static constexpr int cache_rows_at_compile_time(int) { return 0; }

  /// \brief Fixed-size layer.
  concat_linear() requires(In != Eigen::Dynamic && Out != Eigen::Dynamic) : m_in(In), m_out(Out) {}
  /// \throws nde::error (invalid_input) on a negative or mismatching size.
  concat_linear(Eigen::Index in, Eigen::Index out) : m_in(in), m_out(out) {
    if (in < 0 || out < 0 || (In != Eigen::Dynamic && in != In) ||
        (Out != Eigen::Dynamic && out != Out)) {
      throw nde::error(status::invalid_input, "concat_linear layer: sizes " + std::to_string(in) +
                                                  " -> " + std::to_string(out) +
                                                  " do not match the compile-time sizes");
    }
  }

  /// \brief Input size `in` (rows of `x`). The time is not counted.
  [[nodiscard]] Eigen::Index input_size() const { return m_in; }
  /// \brief Output size `out`, whatever the input.
  [[nodiscard]] Eigen::Index output_size(Eigen::Index) const { return m_out; }
  /// \brief Cache rows per column: 0.
  [[nodiscard]] Eigen::Index cache_size(Eigen::Index) const { return 0; }
  /// \brief Number of parameters: out·(in + 1) (weight, time column included) + out (bias).
  [[nodiscard]] Eigen::Index num_params() const { return m_out * (m_in + 1) + m_out; }

  /// \brief Appends `<prefix>_layer.weight` `{out, in + 1}` and `<prefix>_layer.bias` `{out}`.
  void append_layout(parameter_layout& layout, const std::string& prefix,
                     std::int64_t offset) const {
    layout.push_back(
        {prefix + "_layer.weight", {std::int64_t(m_out), std::int64_t(m_in + 1)}, offset});
    layout.push_back(
        {prefix + "_layer.bias", {std::int64_t(m_out)}, offset + std::int64_t(m_out * (m_in + 1))});
  }

  /// \brief `y = W [t; x] + b` for every column of `x` (one `t` for the whole batch).
  template <class Theta, class Time, class X, class Y, class Cache>
  void forward(const Eigen::MatrixBase<Theta>& theta, Time t, const Eigen::MatrixBase<X>& x, Y&& y,
               Cache&&) const {
    using scalar = typename X::Scalar;
    auto& out = detail::as_mutable(y);
    const scalar* p = theta.derived().data();
    out.noalias() = state_weight(p) * x;
    // Column by column: a colwise() broadcast of an expression would evaluate it into a
    // heap temporary.
    for (Eigen::Index j = 0; j < out.cols(); ++j) {
      out.col(j) += vector_view(p + m_out * (m_in + 1)) + scalar(t) * vector_view(p);
    }
  }

  /// \brief `dx = W_xᵀ dy`; accumulates the weight and bias gradients into `dtheta` and
  /// `dt += W[:, 0] · Σ_columns dy` (W_x: the columns of W that multiply `x`).
  template <class Theta, class Time, class X, class Y, class Cache, class DY, class DX,
            class DTheta, class DTime>
  void backward(const Eigen::MatrixBase<Theta>& theta, Time t, const Eigen::MatrixBase<X>& x,
                const Eigen::MatrixBase<Y>&, const Cache&, const Eigen::MatrixBase<DY>& dy, DX&& dx,
                DTheta&& dtheta, DTime& dt) const {
    using scalar = typename X::Scalar;
    const scalar* p = theta.derived().data();
    scalar* g = detail::as_mutable(dtheta).data();
    detail::as_mutable(dx).noalias() = state_weight(p).transpose() * dy;
    mutable_state_weight(g).noalias() += dy * x.transpose();
    for (Eigen::Index i = 0; i < m_out; ++i) {
      const scalar row_sum = dy.row(i).sum();
      g[i] += scalar(t) * row_sum;           // d/dW[:, 0]
      g[m_out * (m_in + 1) + i] += row_sum;  // d/db
      dt += p[i] * row_sum;                  // d/dt
    }
  }

 private:
  template <class Scalar>
  auto state_weight(const Scalar* p) const {
    return Eigen::Map<const Eigen::Matrix<Scalar, Out, In>>(p + m_out, m_out, m_in);
  }
  template <class Scalar>
  auto mutable_state_weight(Scalar* p) const {
    return Eigen::Map<Eigen::Matrix<Scalar, Out, In>>(p + m_out, m_out, m_in);
  }
  template <class Scalar>
  auto vector_view(const Scalar* p) const {
    return Eigen::Map<const Eigen::Matrix<Scalar, Out, 1>>(p, m_out);
  }

  Eigen::Index m_in;
  Eigen::Index m_out;
};

/// \brief FFJORD's `ConcatSquashLinear`:
/// `y = (W x + b) ⊙ σ(w_g t + b_g) + w_b t`, a linear layer whose output is gated and
/// shifted by functions of time.
///
/// Parameters, in this order: `_layer.weight` `{out, in}`, `_layer.bias` `{out}`,
/// `_hyper_bias.weight` `{out, 1}` (w_b), `_hyper_gate.weight` `{out, 1}` (w_g),
/// `_hyper_gate.bias` `{out}` (b_g). The pre-gate `W x + b` and the gate are cached in
/// the workspace by `forward`, so the backward pass costs two GEMMs like `linear`
/// (it also uses the cache as scratch; the cached forward values stay intact).
template <int In = Eigen::Dynamic, int Out = Eigen::Dynamic>
class concat_squash_linear {
 public:
  /// \brief False: the input size is fixed by the layer.
  static constexpr bool size_preserving = false;
  /// \brief Input rows at compile time: `In` (`Eigen::Dynamic` when given at run time).
  static constexpr int input_rows_at_compile_time = In;
  /// \brief Output rows at compile time: `Out`, whatever the input.
  static constexpr int output_rows_at_compile_time(int) { return Out; }
  /// Cache: rows [0, out) hold W x + b, rows [out, 2 out) are scratch for the gated
  /// cotangent, column 0 of rows [2 out, 3 out) holds the gate.
  static constexpr int cache_rows_at_compile_time(int) { return detail::multiply_rows(Out, 3); }

  /// \brief Fixed-size layer.
  concat_squash_linear() requires(In != Eigen::Dynamic && Out != Eigen::Dynamic)
      : m_in(In), m_out(Out) {}
  /// \throws nde::error (invalid_input) on a negative or mismatching size.
  concat_squash_linear(Eigen::Index in, Eigen::Index out) : m_in(in), m_out(out) {
    if (in < 0 || out < 0 || (In != Eigen::Dynamic && in != In) ||
        (Out != Eigen::Dynamic && out != Out)) {
      throw nde::error(status::invalid_input,
                       "concat_squash_linear layer: sizes " + std::to_string(in) + " -> " +
                           std::to_string(out) + " do not match the compile-time sizes");
    }
  }

  /// \brief Input size `in` (rows of `x`).
  [[nodiscard]] Eigen::Index input_size() const { return m_in; }
  /// \brief Output size `out`, whatever the input.
  [[nodiscard]] Eigen::Index output_size(Eigen::Index) const { return m_out; }
  /// \brief Cache rows per column: 3·out (see `cache_rows_at_compile_time`).
  [[nodiscard]] Eigen::Index cache_size(Eigen::Index) const { return 3 * m_out; }
  /// \brief Number of parameters: out·in + out (`_layer`) + out (`_hyper_bias`) + 2·out
  /// (`_hyper_gate`).
  [[nodiscard]] Eigen::Index num_params() const { return m_out * m_in + 4 * m_out; }

  /// \brief Appends the five blocks listed in the class description, prefixed by `prefix`.
  void append_layout(parameter_layout& layout, const std::string& prefix,
                     std::int64_t offset) const {
    const auto out = std::int64_t(m_out);
    const auto weight_size = std::int64_t(m_out * m_in);
    layout.push_back({prefix + "_layer.weight", {out, std::int64_t(m_in)}, offset});
    layout.push_back({prefix + "_layer.bias", {out}, offset + weight_size});
    layout.push_back({prefix + "_hyper_bias.weight", {out, 1}, offset + weight_size + out});
    layout.push_back({prefix + "_hyper_gate.weight", {out, 1}, offset + weight_size + 2 * out});
    layout.push_back({prefix + "_hyper_gate.bias", {out}, offset + weight_size + 3 * out});
  }

  /// \brief `y = (W x + b) ⊙ σ(w_g t + b_g) + w_b t`; caches `W x + b` and the gate.
  template <class Theta, class Time, class X, class Y, class Cache>
  void forward(const Eigen::MatrixBase<Theta>& theta, Time t, const Eigen::MatrixBase<X>& x, Y&& y,
               Cache&& cache) const {
    using scalar = typename X::Scalar;
    // An empty batch has no cache column to hold the gate, and nothing to compute.
    if (x.cols() == 0) return;
    const scalar* p = theta.derived().data();
    const scalar time = scalar(t);
    auto& c = detail::as_mutable(cache);
    auto pre_gate = c.topRows(m_out);
    auto gate = c.bottomRows(m_out).col(0);
    pre_gate.noalias() = weight(p) * x;
    pre_gate.colwise() += part(p, 0);
    gate = (part(p, 2) * time + part(p, 3))
               .unaryExpr(
                   detail::activation_value_op<sigmoid_activation, scalar>{sigmoid_activation{}});
    auto& out = detail::as_mutable(y);
    out.array() = pre_gate.array().colwise() * gate.array();
    for (Eigen::Index j = 0; j < out.cols(); ++j) out.col(j) += part(p, 1) * time;
  }

  /// \brief `dx = Wᵀ (gate ⊙ dy)`; accumulates all five parameter gradients into `dtheta` and
  /// the time derivative into `dt`, from the cache written by `forward` at the same `x` and `t`.
  template <class Theta, class Time, class X, class Y, class Cache, class DY, class DX,
            class DTheta, class DTime>
  void backward(const Eigen::MatrixBase<Theta>& theta, Time t, const Eigen::MatrixBase<X>& x,
                const Eigen::MatrixBase<Y>&, Cache&& cache, const Eigen::MatrixBase<DY>& dy,
                DX&& dx, DTheta&& dtheta, DTime& dt) const {
    using scalar = typename X::Scalar;
    // An empty batch contributes nothing (and its cache has no gate column).
    if (x.cols() == 0) return;
    const scalar* p = theta.derived().data();
    scalar* g = detail::as_mutable(dtheta).data();
    const scalar time = scalar(t);
    auto& c = detail::as_mutable(cache);
    const auto pre_gate = c.topRows(m_out);
    auto gated_cotangent = c.middleRows(m_out, m_out);
    const auto gate = c.bottomRows(m_out).col(0);
    gated_cotangent = gate.asDiagonal() * dy;
    detail::as_mutable(dx).noalias() = weight(p).transpose() * gated_cotangent;
    mutable_weight(g).noalias() += gated_cotangent * x.transpose();
    for (Eigen::Index i = 0; i < m_out; ++i) {
      const scalar row_sum = dy.row(i).sum();
      const scalar gated_sum = row_sum * gate(i);
      const scalar gate_cotangent = dy.row(i).dot(pre_gate.row(i));
      const scalar pre_sigmoid = gate_cotangent * gate(i) * (scalar(1) - gate(i));
      g[m_out * m_in + i] += gated_sum;                       // _layer.bias
      g[m_out * m_in + m_out + i] += time * row_sum;          // _hyper_bias.weight
      g[m_out * m_in + 2 * m_out + i] += time * pre_sigmoid;  // _hyper_gate.weight
      g[m_out * m_in + 3 * m_out + i] += pre_sigmoid;         // _hyper_gate.bias
      dt += p[m_out * m_in + m_out + i] * row_sum + p[m_out * m_in + 2 * m_out + i] * pre_sigmoid;
    }
  }

 private:
  template <class Scalar>
  auto weight(const Scalar* p) const {
    return Eigen::Map<const Eigen::Matrix<Scalar, Out, In>>(p, m_out, m_in);
  }
  template <class Scalar>
  auto mutable_weight(Scalar* p) const {
    return Eigen::Map<Eigen::Matrix<Scalar, Out, In>>(p, m_out, m_in);
  }
  /// Vector number `k` after the weight: 0 bias, 1 hyper-bias weight, 2 gate weight, 3 gate bias.
  template <class Scalar>
  auto part(const Scalar* p, Eigen::Index k) const {
    return Eigen::Map<const Eigen::Matrix<Scalar, Out, 1>>(p + m_out * m_in + k * m_out, m_out);
  }

  Eigen::Index m_in;
  Eigen::Index m_out;
};

}  // namespace nde::nn
