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

/// 2ⁿ for packets holding integral values n with 2ⁿ a normal number. The SSE2/AVX2
/// versions write n + bias into the exponent field directly: adding 2⁵² + 1023 (2²³ + 127
/// for float) puts n + bias in the low mantissa bits, and a shift moves it into place.
template <class Packet>
EIGEN_STRONG_INLINE Packet exp2_integer(const Packet& n) {
  return packet_math::pldexp(packet_math::pset1<Packet>(packet_scalar<Packet>(1)), n);
}
#ifdef EIGEN_VECTORIZE_SSE2
EIGEN_STRONG_INLINE Eigen::internal::Packet2d exp2_integer(const Eigen::internal::Packet2d& n) {
  const __m128d biased = _mm_add_pd(n, _mm_set1_pd(0x1p52 + 1023));
  return _mm_castsi128_pd(_mm_slli_epi64(_mm_castpd_si128(biased), 52));
}
EIGEN_STRONG_INLINE Eigen::internal::Packet4f exp2_integer(const Eigen::internal::Packet4f& n) {
  const __m128 biased = _mm_add_ps(n, _mm_set1_ps(0x1p23f + 127));
  return _mm_castsi128_ps(_mm_slli_epi32(_mm_castps_si128(biased), 23));
}
#endif
#ifdef EIGEN_VECTORIZE_AVX2
EIGEN_STRONG_INLINE Eigen::internal::Packet4d exp2_integer(const Eigen::internal::Packet4d& n) {
  const __m256d biased = _mm256_add_pd(n, _mm256_set1_pd(0x1p52 + 1023));
  return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(biased), 52));
}
EIGEN_STRONG_INLINE Eigen::internal::Packet8f exp2_integer(const Eigen::internal::Packet8f& n) {
  const __m256 biased = _mm256_add_ps(n, _mm256_set1_ps(0x1p23f + 127));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(biased), 23));
}
#endif

/// exp(y) for |y| ≤ exp_limit (the result is a normal number): y = k ln 2 + r with
/// k = round(y / ln 2) (the 1.5·2⁵² rounding trick; needs round-to-nearest mode),
/// ln 2 split in two parts (Cody & Waite) so k ln 2 is subtracted exactly, and e^r on
/// |r| ≤ ln 2 / 2 by Cephes' rational form (double) or a Taylor polynomial (float).
/// About 1 ulp.
template <class Packet>
EIGEN_STRONG_INLINE Packet exp_core(const Packet& y) {
  using scalar = packet_scalar<Packet>;
  constexpr bool is_double = std::is_same_v<scalar, double>;
  const scalar shifter = is_double ? scalar(0x1.8p52) : scalar(0x1.8p23);
  const Packet shift = packet_math::pset1<Packet>(shifter);
  const Packet k = packet_math::psub(
      packet_math::pmadd(y, packet_math::pset1<Packet>(scalar(1.4426950408889634074)), shift),
      shift);
  // ln 2 = high + low with `high` short enough that k·high is exact (Cephes' split).
  Packet r = packet_math::psub(
      y, packet_math::pmul(k, packet_math::pset1<Packet>(scalar(0.693145751953125))));
  r = packet_math::psub(
      r, packet_math::pmul(k, packet_math::pset1<Packet>(scalar(1.42860682030941723212e-6))));
  Packet exp_r;
  if constexpr (is_double) {
    // Cephes exp.c rational form e^r = 1 + 2rP(r²)/(Q(r²) − rP(r²)) (relative error
    // 1.8e-16 on |r| ≤ ln 2 / 2): fewer operations than a degree-13 polynomial.
    const Packet r2 = packet_math::pmul(r, r);
    Packet p = packet_math::pset1<Packet>(scalar(1.26177193074810590878e-4));
    p = packet_math::pmadd(p, r2, packet_math::pset1<Packet>(scalar(3.02994407707441961300e-2)));
    p = packet_math::pmadd(p, r2, packet_math::pset1<Packet>(scalar(9.99999999999999999910e-1)));
    p = packet_math::pmul(p, r);
    Packet q = packet_math::pset1<Packet>(scalar(3.00198505138664455042e-6));
    q = packet_math::pmadd(q, r2, packet_math::pset1<Packet>(scalar(2.52448340349684104192e-3)));
    q = packet_math::pmadd(q, r2, packet_math::pset1<Packet>(scalar(2.27265548208155028766e-1)));
    q = packet_math::pmadd(q, r2, packet_math::pset1<Packet>(scalar(2.00000000000000000009e0)));
    const Packet ratio = packet_math::pdiv(p, packet_math::psub(q, p));
    exp_r = packet_math::pmadd(packet_math::pset1<Packet>(scalar(2)), ratio,
                               packet_math::pset1<Packet>(scalar(1)));
  } else {
    // Taylor polynomial of degree 8 (truncation 5e-9 relative), Horner form.
    constexpr double inverse_factorials[9] = {
        1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320};
    exp_r = packet_math::pset1<Packet>(scalar(inverse_factorials[8]));
    for (int j = 7; j >= 0; --j) {
      exp_r =
          packet_math::pmadd(exp_r, r, packet_math::pset1<Packet>(scalar(inverse_factorials[j])));
    }
  }
  return packet_math::pmul(exp_r, exp2_integer(k));
}

/// exp(x) over the full range: `exp_core` inside ±exp_limit; beyond, where the result
/// underflows to subnormals/zero or overflows to inf, exp(x) = exp(x/2)², computed only
/// when a lane needs it.
template <class Packet>
EIGEN_STRONG_INLINE Packet exp_full_range(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet limit = packet_math::pset1<Packet>(exp_limit<scalar>());
  const Packet minus_limit = packet_math::pset1<Packet>(-exp_limit<scalar>());
  Packet result = exp_core(packet_math::pmax(packet_math::pmin(x, limit), minus_limit));
  const Packet outside = packet_math::pcmp_lt(limit, packet_math::pabs(x));
  if (packet_math::predux_any(outside)) {
    const Packet half_x = packet_math::pmul(packet_math::pset1<Packet>(scalar(0.5)), x);
    const Packet half = exp_core(packet_math::pmax(packet_math::pmin(half_x, limit), minus_limit));
    result = packet_math::pselect(outside, packet_math::pmul(half, half), result);
  }
  return propagate_nan(x, result);
}

/// tanh(x) with one division: for |x| < 0.625, Cody & Waite's form x + x³P(x²)/Q(x²)
/// with the coefficients of the Cephes library (tanh.c, S. L. Moshier; relative error
/// 2.5e-16 on [−2, 2]), written as x(Q + x²P)/Q; above, (e − 1)/(e + 1) with e = exp(2|x|)
/// (no cancellation: e ≥ 3.4). |x| is clamped where tanh rounds to 1 (20; 10 for float).
/// The sign is copied from x, which keeps tanh(−0) = −0.
template <class Packet>
EIGEN_STRONG_INLINE Packet tanh(const Packet& x) {
  using scalar = packet_scalar<Packet>;
  const Packet one = packet_math::pset1<Packet>(scalar(1));
  const Packet magnitude = packet_math::pabs(x);
  const Packet sign = packet_math::pand(x, packet_math::pset1<Packet>(scalar(-0.0)));
  const Packet saturation =
      packet_math::pset1<Packet>(std::is_same_v<scalar, double> ? scalar(20) : scalar(10));
  const Packet clamped = packet_math::pmin(magnitude, saturation);

  const Packet e = exp_core(packet_math::padd(clamped, clamped));

  const Packet s = packet_math::pmul(magnitude, magnitude);
  Packet p = packet_math::pset1<Packet>(scalar(-9.64399179425052238628e-1));
  p = packet_math::pmadd(p, s, packet_math::pset1<Packet>(scalar(-9.92877231001918586564e1)));
  p = packet_math::pmadd(p, s, packet_math::pset1<Packet>(scalar(-1.61468768441708447952e3)));
  Packet q = packet_math::padd(s, packet_math::pset1<Packet>(scalar(1.12811678491632931402e2)));
  q = packet_math::pmadd(q, s, packet_math::pset1<Packet>(scalar(2.23548839060100448583e3)));
  q = packet_math::pmadd(q, s, packet_math::pset1<Packet>(scalar(4.84406305325125486048e3)));

  const Packet large = packet_math::pcmp_lt(packet_math::pset1<Packet>(scalar(0.625)), magnitude);
  const Packet numerator = packet_math::pselect(
      large, packet_math::psub(e, one), packet_math::pmul(magnitude, packet_math::pmadd(s, p, q)));
  const Packet denominator = packet_math::pselect(large, packet_math::padd(e, one), q);
  const Packet result = packet_math::pdiv(numerator, denominator);
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
  const Packet tail =
      packet_math::generic_plog1p(exp_full_range(packet_math::pnegate(packet_math::pabs(x))));
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
    const Packet half =
        exp_full_range(packet_math::pmul(packet_math::pset1<Packet>(scalar(0.5)), x));
    result =
        packet_math::pselect(tiny, packet_math::pmul(packet_math::pmul(x, half), half), result);
  }
  const Packet minus_infinity =
      packet_math::pset1<Packet>(-std::numeric_limits<scalar>::infinity());
  const Packet at_minus_infinity = packet_math::pcmp_eq(x, minus_infinity);
  return propagate_nan(
      x, packet_math::pselect(at_minus_infinity, packet_math::pset1<Packet>(scalar(-0.0)), result));
}

/// elu(x) = x for x > 0, α(eˣ − 1) otherwise; eˣ − 1 by Kahan's expm1 (Eigen's
/// `generic_expm1`), accurate near 0 where the subtraction would cancel.
template <class Packet>
EIGEN_STRONG_INLINE Packet elu(const Packet& x, const Packet& alpha) {
  using scalar = packet_scalar<Packet>;
  const Packet zero = packet_math::pset1<Packet>(scalar(0));
  // Clamping keeps expm1 away from its overflow branch on the side it is not used.
  const Packet negative_part =
      packet_math::pmul(alpha, packet_math::generic_expm1(packet_math::pmin(x, zero)));
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
  return packet_math::pselect(packet_math::pcmp_lt(zero, x), packet_math::pset1<Packet>(scalar(1)),
                              zero);
}

}  // namespace nde::nn::detail
