/// \file
/// \brief (detail) The backward systems of the continuous adjoints, as plain vector fields on
/// one flat vector so that the ordinary `solve()` integrates them.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstddef>

namespace nde::detail {

template <class S>
using flat_vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;

/// Copies a state into / out of a segment of a flat vector (column-major).
template <state State, class Segment>
void unflatten(const Segment& flat, State& out) {
  out = Eigen::Map<const State>(flat.data(), out.rows(), out.cols());
}
template <state State, class Segment>
void flatten(const State& in, Segment&& flat) {
  flat = Eigen::Map<const flat_vector<scalar_of_t<State>>>(in.data(), in.size());
}

/// z = [y, a, g]: ẏ = f(t, y), ȧ = -aᵀ ∂f/∂y, ġ = -aᵀ ∂f/∂θ (Chen et al. 2018, eq. 4 and Alg. 1).
template <class Field, state State>
struct backsolve_system {
  static constexpr bool is_ode = true;
  using scalar = scalar_of_t<State>;
  Field* field;
  params_view<scalar> theta;
  State y, a, f, a_y;
  std::size_t* vjp_count;

  template <class T>
  void operator()(T t, const flat_vector<scalar>& z, flat_vector<scalar>& dz) {
    const Eigen::Index m = y.size();
    unflatten(z.segment(0, m), y);
    unflatten(z.segment(m, m), a);
    auto g_dot = dz.tail(dz.size() - 2 * m);
    g_dot.setZero();
    if constexpr (value_and_vjp_field<Field, T, State>) {
      field->value_and_vjp(t, static_cast<const State&>(y), theta, static_cast<const State&>(a), f,
                           a_y, params_ref<scalar>(g_dot));
    } else {
      (*field)(t, static_cast<const State&>(y), theta, f);
      field->vjp(t, static_cast<const State&>(y), theta, static_cast<const State&>(a), a_y,
                 params_ref<scalar>(g_dot));
    }
    ++*vjp_count;
    flatten(f, dz.segment(0, m));
    flatten(a_y, dz.segment(m, m));
    dz.segment(m, m) = -dz.segment(m, m);
    g_dot = -g_dot;
  }
};

/// z = [a, g] with y(t) read from a dense forward solution (interpolating adjoint).
template <class Field, state State, time_scalar T>
struct interpolating_system {
  using scalar = scalar_of_t<State>;
  Field* field;
  params_view<scalar> theta;
  const dense_solution<T, State>* forward;
  State y, a, a_y;
  std::size_t* vjp_count;

  void operator()(T t, const flat_vector<scalar>& z, flat_vector<scalar>& dz) {
    const Eigen::Index m = y.size();
    // Implicit methods with nodes c > 1 (kvaerno4/5) read y slightly past the segment.
    if (forward->evaluate(t, y) != status::success && forward->extrapolate(t, y) != status::success)
      y.setConstant(std::numeric_limits<scalar>::quiet_NaN());
    unflatten(z.segment(0, m), a);
    auto g_dot = dz.tail(dz.size() - m);
    g_dot.setZero();
    field->vjp(t, static_cast<const State&>(y), theta, static_cast<const State&>(a), a_y,
               params_ref<scalar>(g_dot));
    ++*vjp_count;
    flatten(a_y, dz.segment(0, m));
    dz.segment(0, m) = -dz.segment(0, m);
    g_dot = -g_dot;
  }
};

/// Error norm of an augmented adjoint state made of consecutive blocks (y, a, g): the largest
/// per-block RMS of the scaled error, as torchdiffeq's mixed norm, so that the p parameter
/// components do not dilute the few state components. With `blocks` one less than the number of
/// blocks it is the seminorm of Kidger, Chen & Lyons (2021): the parameter integral g, which
/// never feeds back into the dynamics, is left out.
struct block_rms {
  std::array<Eigen::Index, 3> sizes{};  ///< Block lengths, in order.
  std::size_t blocks = 0;               ///< How many leading blocks the norm measures.
  double operator()(const Eigen::Ref<const Eigen::MatrixXd>& scaled) const {
    double norm = 0.0;
    Eigen::Index start = 0;
    for (std::size_t b = 0; b < blocks; ++b) {
      if (sizes[b] > 0) {
        const double rms = std::sqrt(scaled.col(0).segment(start, sizes[b]).squaredNorm() /
                                     static_cast<double>(sizes[b]));
        if (!(rms <= norm)) norm = rms;  // also propagates NaN
      }
      start += sizes[b];
    }
    return norm;
  }
};

}  // namespace nde::detail
