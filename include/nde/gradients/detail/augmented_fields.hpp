/// \file
/// \brief (detail) The backward systems of the continuous adjoints, as plain vector fields on
/// one flat vector so that the ordinary `solve()` integrates them.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/models/differentiable_field.hpp"

#include <Eigen/Core>

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
    if (forward->evaluate(t, y) != status::success)
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

/// Seminorm of Kidger, Chen & Lyons (2021): the RMS of the scaled error over the first
/// `rows` components only (y and a), leaving the parameter integral g out.
struct leading_rms {
  Eigen::Index rows;
  double operator()(const Eigen::Ref<const Eigen::MatrixXd>& scaled) const {
    if (rows == 0) return 0.0;
    const auto head = scaled.col(0).head(rows);
    return std::sqrt(head.squaredNorm() / static_cast<double>(rows));
  }
};

}  // namespace nde::detail
