/// \file
/// \brief SIMD kernels for the activations (not API).
///
/// Eigen 3.4 evaluates `tanh` of a double one element at a time through the C
/// library (about 9 ns an element); these kernels work on Eigen's packets (SSE2:
/// two doubles, AVX: four) using only Eigen's vectorised `exp`/`log` and rational
/// approximations, and keep an error of a few ulp over the whole range including
/// ±0, subnormals, ±inf and NaN (tests/nn/test_vectorised_math.cpp measures it).
#pragma once

#include <Eigen/Core>

#include <limits>
#include <type_traits>

namespace nde::nn::detail {

namespace packet_math = Eigen::internal;  // Eigen's SIMD primitives

template <class Packet>
using packet_scalar = typename Eigen::internal::unpacket_traits<Packet>::type;

/// NaN in `x` gives NaN in the result whatever the kernel computed (SSE min/max
/// and blends do not propagate NaN reliably).
template <class Packet>
EIGEN_STRONG_INLINE Packet propagate_nan(const Packet& x, const Packet& result) {
  return packet_math::pselect(packet_math::pcmp_eq(x, x), result, x);
}

/// |x| beyond which Eigen's `pexp` is unreliable (its clamp) or exp(−|x|) is subnormal.
template <class Scalar>
constexpr Scalar exp_limit() {
  return std::is_same_v<Scalar, float> ? Scalar(87) : Scalar(708);
}

/// exp(x) over the full range. Eigen's `pexp` clamps its argument to ±709.78
/// (±88.72 for float), so it neither underflows to subnormals/zero nor overflows
/// to inf; there exp(x) = exp(x/2)² restores both ends (2–3 ulp there, 1 ulp
/// inside).
template <class Packet>
EIGEN_STRONG_INLINE Packet exp_full_range(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet limit = packet_math::pset1<Packet>(exp_limit<scalar>());
  Packet result = packet_math::pexp(x);
  const Packet outside = packet_math::pcmp_lt(limit, packet_math::pabs(x));
  if (packet_math::predux_any(outside)) {
    const Packet half = packet_math::pexp(packet_math::pmul(packet_math::pset1<Packet>(scalar(0.5)), x));
    result = packet_math::pselect(outside, packet_math::pmul(half, half), result);
  }
  return propagate_nan(x, result);
}

/// tanh(x): Cody & Waite's form x + x³P(x²)/Q(x²) for |x| < 0.625 with the
/// coefficients of the Cephes library (tanh.c, S. L. Moshier; relative error
/// 2.5e-16 on [-2, 2]), and 1 − 2/(exp(2|x|) + 1) above, where the result is at
/// least 0.55 so the exp error is not amplified. The sign is copied from x, which
/// keeps tanh(−0) = −0.
template <class Packet>
EIGEN_STRONG_INLINE Packet tanh(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet one = packet_math::pset1<Packet>(scalar(1));
  const Packet two = packet_math::pset1<Packet>(scalar(2));
  const Packet magnitude = packet_math::pabs(x);
  const Packet sign = packet_math::pand(x, packet_math::pset1<Packet>(scalar(-0.0)));

  const Packet e = exp_full_range(packet_math::padd(magnitude, magnitude));
  const Packet large = packet_math::psub(one, packet_math::pdiv(two, packet_math::padd(e, one)));

  const Packet s = packet_math::pmul(magnitude, magnitude);
  Packet p = packet_math::pset1<Packet>(scalar(-9.64399179425052238628e-1));
  p = packet_math::pmadd(p, s, packet_math::pset1<Packet>(scalar(-9.92877231001918586564e1)));
  p = packet_math::pmadd(p, s, packet_math::pset1<Packet>(scalar(-1.61468768441708447952e3)));
  Packet q = packet_math::padd(s, packet_math::pset1<Packet>(scalar(1.12811678491632931402e2)));
  q = packet_math::pmadd(q, s, packet_math::pset1<Packet>(scalar(2.23548839060100448583e3)));
  q = packet_math::pmadd(q, s, packet_math::pset1<Packet>(scalar(4.84406305325125486048e3)));
  const Packet small = packet_math::pmadd(packet_math::pmul(magnitude, s), packet_math::pdiv(p, q), magnitude);

  const Packet result = packet_math::pselect(packet_math::pcmp_lt(packet_math::pset1<Packet>(scalar(0.625)), magnitude), large, small);
  return packet_math::por(propagate_nan(x, result), sign);
}

/// σ(x) = 1/(1 + e^−|x|) for x ≥ 0 and e^x/(1 + e^x) for x < 0: the exponential never
/// overflows, so σ keeps its subnormal values down to x ≈ −745; 1–2 ulp.
template <class Packet>
EIGEN_STRONG_INLINE Packet sigmoid(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet one = packet_math::pset1<Packet>(scalar(1));
  const Packet e = exp_full_range(packet_math::pnegate(packet_math::pabs(x)));
  const Packet r = packet_math::pdiv(one, packet_math::padd(one, e));
  const Packet negative = packet_math::pcmp_lt(x, packet_math::pset1<Packet>(scalar(0)));
  return propagate_nan(x, packet_math::pselect(negative, packet_math::pmul(e, r), r));
}

/// softplus(x) = log(1 + eˣ) = max(x, 0) + log1p(exp(−|x|)), which neither
/// overflows for large x nor loses the tiny result for very negative x.
template <class Packet>
EIGEN_STRONG_INLINE Packet softplus(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet zero = packet_math::pset1<Packet>(scalar(0));
  const Packet positive = packet_math::pselect(packet_math::pcmp_lt(zero, x), x, zero);
  const Packet tail = packet_math::generic_plog1p(exp_full_range(packet_math::pnegate(packet_math::pabs(x))));
  return propagate_nan(x, packet_math::padd(positive, tail));
}

/// silu(x) = x σ(x). Where σ(x) is subnormal (x < −708) the product is formed as
/// (x·e^{x/2})·e^{x/2} so the result keeps full precision down to its own underflow;
/// silu(−inf) is the limit −0 rather than −inf · 0 = NaN.
template <class Packet>
EIGEN_STRONG_INLINE Packet silu(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet s = sigmoid(x);
  Packet result = packet_math::pmul(x, s);
  const Packet tiny = packet_math::pcmp_lt(x, packet_math::pset1<Packet>(-exp_limit<scalar>()));
  if (packet_math::predux_any(tiny)) {
    const Packet half = exp_full_range(packet_math::pmul(packet_math::pset1<Packet>(scalar(0.5)), x));
    result = packet_math::pselect(tiny, packet_math::pmul(packet_math::pmul(x, half), half), result);
  }
  const Packet minus_infinity = packet_math::pset1<Packet>(-std::numeric_limits<scalar>::infinity());
  const Packet at_minus_infinity = packet_math::pcmp_eq(x, minus_infinity);
  return propagate_nan(x, packet_math::pselect(at_minus_infinity, packet_math::pset1<Packet>(scalar(-0.0)), result));
}

/// elu(x) = x for x > 0, α(eˣ − 1) otherwise; eˣ − 1 by Kahan's expm1 (Eigen's
/// `generic_expm1`), accurate near 0 where the subtraction would cancel.
template <class Packet>
EIGEN_STRONG_INLINE Packet elu(const Packet& x, const Packet& alpha) {
  using scalar = packet_scalar<Packet>;
  const Packet zero = packet_math::pset1<Packet>(scalar(0));
  // Clamping keeps expm1 away from its overflow branch on the side it is not used.
  const Packet negative_part = packet_math::pmul(alpha, packet_math::generic_expm1(packet_math::pmin(x, zero)));
  return propagate_nan(x, packet_math::pselect(packet_math::pcmp_lt(zero, x), x, negative_part));
}

/// relu(x) = max(x, 0) with relu(NaN) = NaN.
template <class Packet>
EIGEN_STRONG_INLINE Packet relu(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet zero = packet_math::pset1<Packet>(scalar(0));
  return packet_math::pselect(packet_math::pcmp_lt(x, zero), zero, x);
}

/// Step function for relu'(x): 1 where x > 0, else 0 (0 at x = 0, as PyTorch).
template <class Packet>
EIGEN_STRONG_INLINE Packet positive_indicator(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet zero = packet_math::pset1<Packet>(scalar(0));
  return packet_math::pselect(packet_math::pcmp_lt(zero, x), packet_math::pset1<Packet>(scalar(1)), zero);
}

}  // namespace nde::nn::detail
