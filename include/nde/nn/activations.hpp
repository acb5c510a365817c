/// \file
/// \brief Elementwise activation layers (tanh, softplus, relu, sigmoid, silu, elu,
/// identity) and user-defined elementwise functions with their derivatives.
///
/// An activation is a layer without parameters that keeps the size of its input.
/// For `float` and `double` the forward map and its derivative run on SIMD packets
/// (see `detail/vectorised_math.hpp`: a few ulp from the correctly rounded result,
/// with ±0, ±inf and NaN handled); other scalars (e.g. `nde::dual`) use the scalar
/// formulas through argument-dependent lookup. Cost: O(rows × batch).
///
/// Each activation's backward pass uses the saved output `y` where that is cheaper
/// than recomputing (tanh: 1 − y², sigmoid: y(1 − y), elu: y + α for x ≤ 0).
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/nn/detail/layer_support.hpp"
#include "nde/nn/detail/vectorised_math.hpp"

#include <Eigen/Core>

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>

namespace nde::nn {

namespace detail {

template <class Function, class Scalar>
inline constexpr bool vectorisable_activation =
    Function::vectorised &&
    (std::is_same_v<Scalar, float> ||
     std::is_same_v<Scalar, double>)&&bool(Eigen::internal::packet_traits<Scalar>::Vectorizable);

/// Eigen functor applying `Function::value` (scalar or packet).
template <class Function, class Scalar>
struct activation_value_op {
  Function function;
  Scalar operator()(const Scalar& x) const { return function.value(x); }
  template <class Packet>
  Packet packetOp(const Packet& x) const {
    return function.packet_value(x);
  }
};

/// Eigen functor applying `Function::derivative(x, y)` with y = value(x).
template <class Function, class Scalar>
struct activation_derivative_op {
  Function function;
  Scalar operator()(const Scalar& x, const Scalar& y) const { return function.derivative(x, y); }
  template <class Packet>
  Packet packetOp(const Packet& x, const Packet& y) const {
    return function.packet_derivative(x, y);
  }
};

}  // namespace detail

/// \brief Layer protocol shared by every activation: no parameters, output size equal
/// to input size, `y = f(x)` elementwise and `dx = dy ⊙ f′(x)`.
/// \tparam Function the derived class; provides `value(x)`, `derivative(x, y)` (y = f(x))
///         and, when `vectorised` is true, `packet_value` / `packet_derivative`.
template <class Function>
class activation_layer {
 public:
  /// \brief True: the output has the size of the input, whatever it is.
  static constexpr bool size_preserving = true;
  /// \brief Any input size: `Eigen::Dynamic`.
  static constexpr int input_rows_at_compile_time = Eigen::Dynamic;
  /// \brief Output rows at compile time: those of the input.
  static constexpr int output_rows_at_compile_time(int input_rows) { return input_rows; }
  /// \brief No cache rows: `backward` uses the saved output `y` instead.
  static constexpr int cache_rows_at_compile_time(int) { return 0; }

  /// \brief Input size: any (an activation adapts to its neighbours), reported as -1.
  [[nodiscard]] Eigen::Index input_size() const { return -1; }
  /// \brief Output size: equal to `input_size`.
  [[nodiscard]] Eigen::Index output_size(Eigen::Index input_size) const { return input_size; }
  /// \brief Cache rows per column: 0.
  [[nodiscard]] Eigen::Index cache_size(Eigen::Index) const { return 0; }
  /// \brief Number of parameters: 0.
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  /// \brief Adds nothing to the parameter layout (no parameters).
  void append_layout(parameter_layout&, const std::string&, std::int64_t) const {}

  /// \brief Elementwise value `y = f(x)`; `t` and the (empty) parameters are unused.
  template <class Theta, class Time, class X, class Y, class Cache>
  void forward(const Theta&, Time, const Eigen::MatrixBase<X>& x, Y&& y, Cache&&) const {
    using scalar = typename X::Scalar;
    detail::as_mutable(y) = x.derived().unaryExpr(
        detail::activation_value_op<Function, scalar>{static_cast<const Function&>(*this)});
  }

  /// \brief `dx = dy ⊙ f′(x)`, using the saved output `y` of `forward` at the same `x`.
  template <class Theta, class Time, class X, class Y, class Cache, class DY, class DX,
            class DTheta, class DTime>
  void backward(const Theta&, Time, const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<Y>& y,
                const Cache&, const Eigen::MatrixBase<DY>& dy, DX&& dx, DTheta&&, DTime&) const {
    using scalar = typename X::Scalar;
    detail::as_mutable(dx) = dy.cwiseProduct(x.derived().binaryExpr(
        y.derived(),
        detail::activation_derivative_op<Function, scalar>{static_cast<const Function&>(*this)}));
  }
};

/// \brief Hyperbolic tangent, tanh'(x) = 1 − tanh²(x). Vectorised; ≤ 3 ulp.
struct tanh_activation : activation_layer<tanh_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  /// \brief tanh(x).
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    using std::tanh;
    return tanh(x);
  }
  /// \brief tanh'(x) = 1 − y², where `y` = tanh(x) is the saved output (`x` is unused).
  template <class Scalar>
  Scalar derivative(const Scalar&, const Scalar& y) const {
    return Scalar(1) - y * y;
  }
  /// \brief `value` on a SIMD packet (≤ 3 ulp).
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    return detail::tanh(x);
  }
  /// \brief `derivative` on a SIMD packet: 1 − y².
  template <class Packet>
  Packet packet_derivative(const Packet&, const Packet& y) const {
    using scalar = detail::packet_scalar<Packet>;
    return Eigen::internal::psub(Eigen::internal::pset1<Packet>(scalar(1)),
                                 Eigen::internal::pmul(y, y));
  }
};

/// \brief Logistic sigmoid σ(x) = 1/(1 + e⁻ˣ), σ' = σ(1 − σ). Vectorised.
struct sigmoid_activation : activation_layer<sigmoid_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  /// \brief σ(x) = 1/(1 + e⁻ˣ).
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    using std::exp;
    return Scalar(1) / (Scalar(1) + exp(-x));
  }
  /// \brief σ'(x) = y(1 − y), where `y` = σ(x) is the saved output (`x` is unused).
  template <class Scalar>
  Scalar derivative(const Scalar&, const Scalar& y) const {
    return y * (Scalar(1) - y);
  }
  /// \brief `value` on a SIMD packet of `float` or `double`.
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    return detail::sigmoid(x);
  }
  /// \brief `derivative` on a SIMD packet: y(1 − y).
  template <class Packet>
  Packet packet_derivative(const Packet&, const Packet& y) const {
    using scalar = detail::packet_scalar<Packet>;
    namespace pm = Eigen::internal;
    return pm::pmul(y, pm::psub(pm::pset1<Packet>(scalar(1)), y));
  }
};

/// \brief softplus(x) = log(1 + eˣ) (PyTorch's `Softplus` with β = 1, without its
/// linear cut-over at x > 20), softplus' = σ. Vectorised.
struct softplus_activation : activation_layer<softplus_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  /// \brief log(1 + eˣ), evaluated as x + log1p(e⁻ˣ) for x > 0 to avoid overflow.
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    using std::exp;
    using std::log1p;
    return x > Scalar(0) ? x + log1p(exp(-x)) : log1p(exp(x));
  }
  /// \brief softplus'(x) = σ(x) = 1/(1 + e⁻ˣ) (`y` is unused).
  template <class Scalar>
  Scalar derivative(const Scalar& x, const Scalar&) const {
    using std::exp;
    return Scalar(1) / (Scalar(1) + exp(-x));
  }
  /// \brief `value` on a SIMD packet of `float` or `double`.
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    return detail::softplus(x);
  }
  /// \brief `derivative` on a SIMD packet: σ(x).
  template <class Packet>
  Packet packet_derivative(const Packet& x, const Packet&) const {
    return detail::sigmoid(x);
  }
};

/// \brief relu(x) = max(x, 0); relu'(x) = 1 for x > 0, else 0 (also at 0, as PyTorch).
struct relu_activation : activation_layer<relu_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  /// \brief max(x, 0).
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    return x < Scalar(0) ? Scalar(0) : x;
  }
  /// \brief 1 for x > 0, else 0 (`y` is unused).
  template <class Scalar>
  Scalar derivative(const Scalar& x, const Scalar&) const {
    return x > Scalar(0) ? Scalar(1) : Scalar(0);
  }
  /// \brief `value` on a SIMD packet of `float` or `double`.
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    return detail::relu(x);
  }
  /// \brief `derivative` on a SIMD packet: the indicator of x > 0.
  template <class Packet>
  Packet packet_derivative(const Packet& x, const Packet&) const {
    return detail::positive_indicator(x);
  }
};

/// \brief silu(x) = x σ(x) (a.k.a. swish; Elfwing et al. 2018), silu' = σ(1 + x(1 − σ)).
/// Vectorised; silu(−inf) = −0 (the limit).
struct silu_activation : activation_layer<silu_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  /// \brief x σ(x), written without overflow for either sign; silu(±inf) = +inf / −0.
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    using std::exp;
    using std::isinf;
    if (isinf(x)) return x > Scalar(0) ? x : Scalar(-0.0);  // the limit at −inf, not −inf · 0
    if (x < Scalar(0)) {
      const Scalar e = exp(x);
      return x * e / (Scalar(1) + e);
    }
    return x / (Scalar(1) + exp(-x));
  }
  /// \brief silu'(x) = σ(x)(1 + x(1 − σ(x))) (`y` is unused).
  template <class Scalar>
  Scalar derivative(const Scalar& x, const Scalar&) const {
    using std::exp;
    const Scalar s = Scalar(1) / (Scalar(1) + exp(-x));
    return s * (Scalar(1) + x * (Scalar(1) - s));
  }
  /// \brief `value` on a SIMD packet of `float` or `double`.
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    return detail::silu(x);
  }
  /// \brief `derivative` on a SIMD packet: σ(x)(1 + x(1 − σ(x))).
  template <class Packet>
  Packet packet_derivative(const Packet& x, const Packet&) const {
    using scalar = detail::packet_scalar<Packet>;
    namespace pm = Eigen::internal;
    const Packet one = pm::pset1<Packet>(scalar(1));
    const Packet s = detail::sigmoid(x);
    return pm::pmul(s, pm::pmadd(x, pm::psub(one, s), one));
  }
};

/// \brief elu(x) = x for x > 0, α(eˣ − 1) otherwise (Clevert et al. 2016); elu' = 1 or
/// y + α. Vectorised, with expm1-accuracy near 0.
struct elu_activation : activation_layer<elu_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  double alpha = 1.0;  ///< Saturation value −α for x → −inf (PyTorch's default 1).

  /// \brief x for x > 0, α·expm1(x) otherwise.
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    using std::expm1;
    return x > Scalar(0) ? x : Scalar(alpha) * expm1(x);
  }
  /// \brief 1 for x > 0, otherwise y + α = α eˣ, where `y` = elu(x) is the saved output.
  template <class Scalar>
  Scalar derivative(const Scalar& x, const Scalar& y) const {
    return x > Scalar(0) ? Scalar(1) : y + Scalar(alpha);
  }
  /// \brief `value` on a SIMD packet of `float` or `double`.
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    using scalar = detail::packet_scalar<Packet>;
    return detail::elu(x, Eigen::internal::pset1<Packet>(scalar(alpha)));
  }
  /// \brief `derivative` on a SIMD packet: 1 for x > 0, else y + α.
  template <class Packet>
  Packet packet_derivative(const Packet& x, const Packet& y) const {
    using scalar = detail::packet_scalar<Packet>;
    namespace pm = Eigen::internal;
    const Packet one = pm::pset1<Packet>(scalar(1));
    return pm::pselect(pm::pcmp_lt(pm::pset1<Packet>(scalar(0)), x), one,
                       pm::padd(y, pm::pset1<Packet>(scalar(alpha))));
  }
};

/// \brief Identity map (a placeholder, e.g. the activation of a linear model).
struct identity_activation : activation_layer<identity_activation> {
  /// \brief True: `float` and `double` evaluate on SIMD packets (`packet_value`,
  /// `packet_derivative`).
  static constexpr bool vectorised = true;
  /// \brief x.
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    return x;
  }
  /// \brief 1 (`x` and `y` are unused).
  template <class Scalar>
  Scalar derivative(const Scalar&, const Scalar&) const {
    return Scalar(1);
  }
  /// \brief `value` on a SIMD packet: the packet itself.
  template <class Packet>
  Packet packet_value(const Packet& x) const {
    return x;
  }
  /// \brief `derivative` on a SIMD packet: all ones.
  template <class Packet>
  Packet packet_derivative(const Packet&, const Packet&) const {
    return Eigen::internal::pset1<Packet>(detail::packet_scalar<Packet>(1));
  }
};

/// \brief A user-supplied elementwise function and its derivative, e.g. the cube
/// that torchdiffeq's spiral demo applies before its network:
/// \code
/// nde::nn::elementwise cube{[](auto x) { return x * x * x; }, [](auto x) { return 3 * x * x; }};
/// \endcode
/// \tparam Function callable `Scalar -> Scalar`, generic over the scalar (double, float,
///         `nde::dual`) when the network is used with several scalars.
/// \tparam Derivative callable returning f'(x). Evaluated one element at a time.
template <class Function, class Derivative>
struct elementwise : activation_layer<elementwise<Function, Derivative>> {
  /// \brief False: user functions are applied one element at a time.
  static constexpr bool vectorised = false;
  /// \brief f, called as `function(x)`.
  Function function;
  /// \brief f', called as `function_derivative(x)`.
  Derivative function_derivative;

  /// \brief Wraps `f` and its derivative `df`.
  elementwise(Function f, Derivative df)
      : function(std::move(f)), function_derivative(std::move(df)) {}

  /// \brief f(x), converted to `Scalar`.
  template <class Scalar>
  Scalar value(const Scalar& x) const {
    return static_cast<Scalar>(function(x));
  }
  /// \brief f'(x), converted to `Scalar` (`y` is unused).
  template <class Scalar>
  Scalar derivative(const Scalar& x, const Scalar&) const {
    return static_cast<Scalar>(function_derivative(x));
  }
};

}  // namespace nde::nn

namespace Eigen::internal {
template <class Function, class Scalar>
struct functor_traits<nde::nn::detail::activation_value_op<Function, Scalar>> {
  enum {
    Cost = 30 * NumTraits<Scalar>::MulCost,
    PacketAccess = nde::nn::detail::vectorisable_activation<Function, Scalar>
  };
};
template <class Function, class Scalar>
struct functor_traits<nde::nn::detail::activation_derivative_op<Function, Scalar>> {
  enum {
    Cost = 30 * NumTraits<Scalar>::MulCost,
    PacketAccess = nde::nn::detail::vectorisable_activation<Function, Scalar>
  };
};
}  // namespace Eigen::internal
