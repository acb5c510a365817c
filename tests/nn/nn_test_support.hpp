// Helpers for the nn tests: ulp distances and central finite differences.
#pragma once

#include <nde/nn/initialisers.hpp>

#include <Eigen/Core>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>

namespace nde_test {

/// Distance in units in the last place between two floating-point numbers (0 for two NaNs,
/// "infinite" for NaN against a number); counts the representable numbers between them.
template <class T>
double ulp_distance(T a, T b) {
  if (std::isnan(a) || std::isnan(b)) return (std::isnan(a) && std::isnan(b)) ? 0.0 : 1e300;
  using bits = std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>;
  auto ordered = [](T x) {
    const bits pattern = std::bit_cast<bits>(x);
    // long double (64-bit mantissa on x86) holds every int64 exactly.
    using wide = long double;
    return pattern < 0 ? wide(std::numeric_limits<bits>::min()) - wide(pattern) : wide(pattern);
  };
  return double(std::abs(ordered(a) - ordered(b)));
}

inline Eigen::MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, std::mt19937_64& engine,
                                     double scale = 1.0) {
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = nde::nn::uniform(engine, -scale, scale);
  return m;
}

/// Central difference (f(v + h e_i) − f(v − h e_i)) / 2h of a scalar function for every entry
/// of `v` (a vector or a matrix, read column-major).
template <class F, class Derived>
Eigen::VectorXd central_gradient(F&& f, Eigen::MatrixBase<Derived>& v, double h = 1e-6) {
  Eigen::VectorXd g(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    const double saved = v(i);
    v(i) = saved + h;
    const double plus = f();
    v(i) = saved - h;
    const double minus = f();
    v(i) = saved;
    g(i) = (plus - minus) / (2 * h);
  }
  return g;
}

/// Relative error ‖a − b‖∞ / max(1, ‖b‖∞).
template <class A, class B>
double relative_error(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  if (a.size() == 0 && b.size() == 0) return 0.0;
  return (a - b).template lpNorm<Eigen::Infinity>() /
         std::max(1.0, double(b.template lpNorm<Eigen::Infinity>()));
}

}  // namespace nde_test
