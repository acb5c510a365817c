/// \file
/// \brief `nde::dual<T>`: a forward-mode dual number `value + tangent·ε` (ε² = 0).
///
/// Running a network's reverse pass (`vjp`) on dual numbers whose tangents hold a
/// direction `v` gives forward-over-reverse derivatives: the tangent of the
/// parameter cotangent is the Hessian-vector product `H v` (Pearlmutter 1994,
/// "Fast exact multiplication by the Hessian", Neural Computation 6(1)).
/// One tangent direction per number; cost is about 3× the real arithmetic.
///
/// Eigen sees the type through a `NumTraits` specialisation, so
/// `Eigen::Matrix<nde::dual<double>, ...>` works with products, reductions and the
/// layers of `nde::nn` (which fall back to scalar code paths for it).
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <ostream>
#include <type_traits>

namespace nde {

/// \brief Dual number `value + tangent·ε` with ε² = 0.
/// \tparam T the real scalar (float or double; nesting `dual<dual<double>>` also works).
template <class T>
struct dual {
  T value{};    ///< Real part.
  T tangent{};  ///< Coefficient of ε: the directional derivative carried along.

  constexpr dual() = default;
  /// \brief A constant (zero tangent); implicit so that literals and `T` mix in.
  constexpr dual(T v) : value(v) {}  // NOLINT(google-explicit-constructor)
  /// \brief A constant from any arithmetic type (e.g. an `int` literal).
  template <class U>
  requires(std::is_arithmetic_v<U> && !std::is_same_v<U, T>) constexpr dual(U v)
      : value(static_cast<T>(v)) {}  // NOLINT(google-explicit-constructor)
  /// \brief Value `v` with tangent `t` (seed `t = 1` to differentiate with respect to this number).
  constexpr dual(T v, T t) : value(v), tangent(t) {}

  /// \brief Sum rule: d(a + b) = da + db.
  constexpr dual& operator+=(const dual& o) {
    value += o.value;
    tangent += o.tangent;
    return *this;
  }
  /// \brief Difference rule: d(a − b) = da − db.
  constexpr dual& operator-=(const dual& o) {
    value -= o.value;
    tangent -= o.tangent;
    return *this;
  }
  /// \brief Product rule: d(a·b) = da·b + a·db.
  constexpr dual& operator*=(const dual& o) {
    tangent = tangent * o.value + value * o.tangent;
    value *= o.value;
    return *this;
  }
  /// \brief Quotient rule: d(a/b) = (da − (a/b)·db) / b (one division).
  constexpr dual& operator/=(const dual& o) {
    const T inverse = T(1) / o.value;
    value *= inverse;
    tangent = (tangent - value * o.tangent) * inverse;
    return *this;
  }
};

/// \brief Unary plus: returns `a` unchanged.
template <class T>
constexpr dual<T> operator+(const dual<T>& a) {
  return a;
}
/// \brief Negation: d(−a) = −da.
template <class T>
constexpr dual<T> operator-(const dual<T>& a) {
  return {-a.value, -a.tangent};
}
/// \brief Sum rule: d(a + b) = da + db.
template <class T>
constexpr dual<T> operator+(dual<T> a, const dual<T>& b) {
  return a += b;
}
/// \brief Difference rule: d(a − b) = da − db.
template <class T>
constexpr dual<T> operator-(dual<T> a, const dual<T>& b) {
  return a -= b;
}
/// \brief Product rule: d(a·b) = da·b + a·db.
template <class T>
constexpr dual<T> operator*(dual<T> a, const dual<T>& b) {
  return a *= b;
}
/// \brief Quotient rule: d(a/b) = (da − (a/b)·db) / b.
template <class T>
constexpr dual<T> operator/(dual<T> a, const dual<T>& b) {
  return a /= b;
}

/// \brief Internal: declares the mixed `dual op number` and `number op dual` overloads (`3 * x`,
/// `x + 1.0`); template deduction does not see the implicit constructor. Undefined after use.
#define NDE_DUAL_MIXED_OPERATOR(op)                                                                \
  template <class T, class U>                                                                      \
  requires std::is_arithmetic_v<U>                                                                 \
  constexpr dual<T> operator op(const dual<T>& a, U b) { return a op dual<T>(static_cast<T>(b)); } \
  template <class T, class U>                                                                      \
  requires std::is_arithmetic_v<U>                                                                 \
  constexpr dual<T> operator op(U a, const dual<T>& b) { return dual<T>(static_cast<T>(a)) op b; }
NDE_DUAL_MIXED_OPERATOR(+)
NDE_DUAL_MIXED_OPERATOR(-)
NDE_DUAL_MIXED_OPERATOR(*)
NDE_DUAL_MIXED_OPERATOR(/)
#undef NDE_DUAL_MIXED_OPERATOR

/// \brief Internal: declares `op` for dual/dual, dual/number and number/dual pairs, comparing the
/// value only so that branches (relu, elu) pick the same side as the real computation.
#define NDE_DUAL_COMPARISON(op)                                                              \
  template <class T>                                                                         \
  constexpr bool operator op(const dual<T>& a, const dual<T>& b) {                           \
    return a.value op b.value;                                                               \
  }                                                                                          \
  template <class T, class U>                                                                \
  requires std::is_arithmetic_v<U>                                                           \
  constexpr bool operator op(const dual<T>& a, U b) { return a.value op static_cast<T>(b); } \
  template <class T, class U>                                                                \
  requires std::is_arithmetic_v<U>                                                           \
  constexpr bool operator op(U a, const dual<T>& b) { return static_cast<T>(a) op b.value; }
NDE_DUAL_COMPARISON(<)
NDE_DUAL_COMPARISON(>)
NDE_DUAL_COMPARISON(<=)
NDE_DUAL_COMPARISON(>=)
NDE_DUAL_COMPARISON(==)
NDE_DUAL_COMPARISON(!=)
#undef NDE_DUAL_COMPARISON

// Elementary functions, found by argument-dependent lookup next to `using std::exp;`.
/// \brief d(exp a) = exp(a)·da.
template <class T>
dual<T> exp(const dual<T>& a) {
  using std::exp;
  const T e = exp(a.value);
  return {e, e * a.tangent};
}
/// \brief d(expm1 a) = exp(a)·da; the value `exp(a) − 1` stays accurate near a = 0.
template <class T>
dual<T> expm1(const dual<T>& a) {
  using std::exp;
  using std::expm1;
  return {expm1(a.value), exp(a.value) * a.tangent};
}
/// \brief d(log a) = da / a (natural logarithm, a > 0).
template <class T>
dual<T> log(const dual<T>& a) {
  using std::log;
  return {log(a.value), a.tangent / a.value};
}
/// \brief d(log1p a) = da / (1 + a); the value `log(1 + a)` stays accurate near a = 0.
template <class T>
dual<T> log1p(const dual<T>& a) {
  using std::log1p;
  return {log1p(a.value), a.tangent / (T(1) + a.value)};
}
/// \brief d(sqrt a) = da / (2·sqrt a); the tangent is infinite at a = 0.
template <class T>
dual<T> sqrt(const dual<T>& a) {
  using std::sqrt;
  const T s = sqrt(a.value);
  return {s, a.tangent / (T(2) * s)};
}
/// \brief d(tanh a) = (1 − tanh² a)·da.
template <class T>
dual<T> tanh(const dual<T>& a) {
  using std::tanh;
  const T t = tanh(a.value);
  return {t, (T(1) - t * t) * a.tangent};
}
/// \brief d(sin a) = cos(a)·da.
template <class T>
dual<T> sin(const dual<T>& a) {
  using std::cos;
  using std::sin;
  return {sin(a.value), cos(a.value) * a.tangent};
}
/// \brief d(cos a) = −sin(a)·da.
template <class T>
dual<T> cos(const dual<T>& a) {
  using std::cos;
  using std::sin;
  return {cos(a.value), -sin(a.value) * a.tangent};
}
/// \brief d|a| = sign(a)·da; at a = 0 the tangent is passed through unchanged.
template <class T>
dual<T> abs(const dual<T>& a) {
  return a.value < T(0) ? -a : a;
}
/// \brief d(aᵖ) = p·aᵖ⁻¹·da for a constant real exponent `p`.
template <class T>
dual<T> pow(const dual<T>& a, T p) {
  using std::pow;
  return {pow(a.value, p), p * pow(a.value, p - T(1)) * a.tangent};
}
/// \brief True when both the value and the tangent are finite.
template <class T>
bool isfinite(const dual<T>& a) {
  using std::isfinite;
  return isfinite(a.value) && isfinite(a.tangent);
}
/// \brief True when the value or the tangent is NaN.
template <class T>
bool isnan(const dual<T>& a) {
  using std::isnan;
  return isnan(a.value) || isnan(a.tangent);
}
/// \brief True when the value or the tangent is infinite.
template <class T>
bool isinf(const dual<T>& a) {
  using std::isinf;
  return isinf(a.value) || isinf(a.tangent);
}

/// \brief Writes `a` as `value+tangent` followed by `e` for ε, e.g. `1.5+2e`.
template <class T>
std::ostream& operator<<(std::ostream& os, const dual<T>& a) {
  return os << a.value << "+" << a.tangent << "e";
}

/// \brief Real part of a number: `x.value` for a dual, `x` itself otherwise.
template <class T>
constexpr const T& real_part(const dual<T>& a) {
  return a.value;
}
/// \brief Real part of a plain arithmetic number: the number itself.
template <class T>
requires std::is_arithmetic_v<T>
constexpr T real_part(T a) { return a; }

}  // namespace nde

namespace Eigen {
/// \brief Lets Eigen matrices hold `nde::dual<T>` (a trait, not new operators).
template <class T>
struct NumTraits<nde::dual<T>> : NumTraits<T> {
  /// Norms and divisions of dual matrices stay dual (the tangent is kept).
  using Real = nde::dual<T>;
  /// Non-integer results (means, quotients) are dual numbers too.
  using NonInteger = nde::dual<T>;
  /// Expressions hold dual scalars by value.
  using Nested = nde::dual<T>;
  /// Literals mixed into expressions are converted to dual numbers.
  using Literal = nde::dual<T>;
  enum {
    IsComplex = 0,
    IsInteger = 0,
    IsSigned = 1,
    RequireInitialization = 1,
    ReadCost = 2 * NumTraits<T>::ReadCost,
    AddCost = 2 * NumTraits<T>::AddCost,
    MulCost = 3 * NumTraits<T>::MulCost + NumTraits<T>::AddCost
  };
};
}  // namespace Eigen
