/// \file
/// \brief `nde::linear_field`: the field `f(t, y; A) = A y` with θ = vec(A), whose exact flow
/// `exp(tA) y0` makes it the reference problem of every gradient test.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <string>

namespace nde {

/// \brief The linear field `f(t, y; A) = A y`, θ = vec(A) (column-major, n² entries).
/// Autonomous; has vjp, jvp and a dense Jacobian. Cost: one n×n matrix–vector product per
/// evaluation, vjp or jvp. \tparam State column-vector (or batch-matrix) state type.
template <state State>
class linear_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief f does not depend on t.
  static constexpr bool autonomous = true;

  /// \brief A field on states with `n` rows.
  explicit linear_field(Eigen::Index n) : m_n(n) {
    if (n < 0) throw error(status::invalid_input, "linear_field: negative dimension");
  }
  /// \brief n².
  [[nodiscard]] Eigen::Index num_params() const { return m_n * m_n; }
  /// \brief Rows of the state: n.
  [[nodiscard]] Eigen::Index state_rows() const { return m_n; }

  /// \brief dy/dt = A y.
  template <class T>
  void operator()(T, const State& y, params_view<scalar> theta, State& dydt) const {
    check(y);
    dydt.noalias() = matrix(theta) * y;
  }

  /// \brief a_y = Aᵀ a; a_theta += vec(a yᵀ) (summed over batch columns).
  template <class T>
  void vjp(T, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) const {
    check(y);
    a_y.noalias() = matrix(theta).transpose() * a;
    Eigen::Map<Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>> dA(a_theta.data(), m_n, m_n);
    dA.noalias() += a * y.transpose();
  }

  /// \brief out = A ẏ + Ȧ y (no time term).
  template <class T>
  void jvp(T, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar, State& out) const {
    check(y);
    out.noalias() = matrix(theta) * y_dot;
    out.noalias() += matrix(theta_dot) * y;
  }

  /// \brief J = A.
  template <class T>
  void jacobian(T, const State& y, params_view<scalar> theta,
                Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>& jac) const {
    check(y);
    jac = matrix(theta);
  }

 private:
  [[nodiscard]] Eigen::Map<const Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>> matrix(
      params_view<scalar> theta) const {
    return {theta.data(), m_n, m_n};
  }
  void check(const State& y) const {
    if (y.rows() != m_n)
      throw error(status::invalid_input, "linear_field: the state has " + std::to_string(y.rows()) +
                                             " rows, the field was made for " +
                                             std::to_string(m_n));
  }

  Eigen::Index m_n;
};

}  // namespace nde
