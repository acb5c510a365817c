/// \file
/// \brief `nde::autodiff_field`: forward-mode automatic differentiation (dual numbers) of a
/// field written once as a template over its scalar; gives vjp, time vjp, jvp and the dense
/// Jacobian without hand-written derivatives.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/dual.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <concepts>
#include <utility>

namespace nde {

/// \brief Makes a field differentiable by forward-mode dual numbers.
///
/// The wrapped callable is `fn(t, y, theta, dydt)` with `y`, `dydt` column vectors and
/// `theta` a dynamic vector, all of a scalar S that is either the state scalar or
/// `nde::dual<scalar>` — a generic lambda works:
/// \code
/// auto fn = [](auto t, const auto& y, const auto& theta, auto& dydt) {
///   using std::sin;
///   dydt[0] = y[1];
///   dydt[1] = -sin(y[0]) - theta[0] * y[1];
/// };
/// nde::autodiff_field<Eigen::Vector2d, decltype(fn)> pendulum(fn, 1);  // one parameter
/// \endcode
/// When `fn` also accepts a dual time (`auto t`), the time cotangent and ∂f/∂t are available.
/// Cost of one vjp: (n + p) evaluations of `fn` on dual numbers (one per input direction), per
/// batch column; one jvp: one dual evaluation; fine for small known-physics models, not for
/// wide networks.
/// \tparam State column-vector state (or batch matrix, handled column by column).
/// \tparam Fn the templated callable.
template <state State, class Fn>
class autodiff_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief One state column (a batch state is differentiated column by column).
  using column = Eigen::Matrix<scalar, State::RowsAtCompileTime, 1>;
  /// \brief A state column of dual numbers (one tangent direction per evaluation of `fn`).
  using dual_column = Eigen::Matrix<dual<scalar>, State::RowsAtCompileTime, 1>;
  /// \brief θ as dual numbers.
  using dual_params = Eigen::Matrix<dual<scalar>, Eigen::Dynamic, 1>;
  /// \brief True when `fn` accepts a dual time (then ∂f/∂t is differentiated too).
  static constexpr bool dual_time =
      std::invocable<Fn&, dual<scalar>, const dual_column&, const dual_params&, dual_column&>;

  /// \brief Wraps `fn`, which uses `num_params` parameters.
  autodiff_field(Fn fn, Eigen::Index num_params) : m_fn(std::move(fn)), m_num_params(num_params) {
    if (num_params < 0)
      throw error(status::invalid_input, "autodiff_field: negative parameter count");
  }
  /// \brief p.
  [[nodiscard]] Eigen::Index num_params() const { return m_num_params; }

  /// \brief dy/dt = fn(t, y, θ), column by column.
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    dydt.resize(y.rows(), y.cols());
    m_theta = theta;
    for (Eigen::Index c = 0; c < y.cols(); ++c) {
      m_y = y.col(c);
      m_dy.resizeLike(m_y);
      m_fn(t, static_cast<const column&>(m_y),
           static_cast<const Eigen::Matrix<scalar, Eigen::Dynamic, 1>&>(m_theta), m_dy);
      dydt.col(c) = m_dy;
    }
  }

  /// \brief a_y = aᵀ ∂f/∂y and a_theta += aᵀ ∂f/∂θ, one dual-number evaluation per input.
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    pull_back(t, y, theta, a, a_y, a_theta, nullptr);
  }

  /// \brief The vjp and the time cotangent a_t += aᵀ ∂f/∂t (one more dual evaluation).
  template <class T>
  requires dual_time void vjp(T t, const State& y, params_view<scalar> theta, const State& a,
                              State& a_y, params_ref<scalar> a_theta, scalar& a_t) {
    pull_back(t, y, theta, a, a_y, a_theta, &a_t);
  }

  /// \brief out = ∂f/∂y ẏ + ∂f/∂θ θ̇ (+ ∂f/∂t ṫ when `dual_time`): one dual evaluation per column.
  template <class T>
  void jvp(T t, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar t_dot, State& out) {
    out.resize(y.rows(), y.cols());
    m_dual_theta.resize(theta.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k) m_dual_theta[k] = {theta[k], theta_dot[k]};
    for (Eigen::Index c = 0; c < y.cols(); ++c) {
      m_dual_y.resize(y.rows());
      for (Eigen::Index i = 0; i < y.rows(); ++i) m_dual_y[i] = {y(i, c), y_dot(i, c)};
      m_dual_dy.resize(y.rows());
      call(t, t_dot);
      for (Eigen::Index i = 0; i < y.rows(); ++i) out(i, c) = m_dual_dy[i].tangent;
    }
  }

  /// \brief Dense J = ∂f/∂y (n dual evaluations; column-vector states).
  template <class T>
  void jacobian(T t, const State& y, params_view<scalar> theta,
                Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>& jac) {
    const Eigen::Index n = y.rows();
    jac.resize(n, n);
    m_dual_theta = theta.template cast<dual<scalar>>();
    m_dual_y = y.col(0).template cast<dual<scalar>>();
    m_dual_dy.resize(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      m_dual_y[k].tangent = 1;
      call(t, scalar(0));
      m_dual_y[k].tangent = 0;
      for (Eigen::Index i = 0; i < n; ++i) jac(i, k) = m_dual_dy[i].tangent;
    }
  }

 private:
  template <class T>
  void call(T t, scalar t_dot) {
    if constexpr (dual_time) {
      m_fn(dual<scalar>{static_cast<scalar>(t), t_dot}, static_cast<const dual_column&>(m_dual_y),
           static_cast<const dual_params&>(m_dual_theta), m_dual_dy);
    } else {
      m_fn(t, static_cast<const dual_column&>(m_dual_y),
           static_cast<const dual_params&>(m_dual_theta), m_dual_dy);
    }
  }

  template <class T>
  void pull_back(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
                 params_ref<scalar> a_theta, scalar* a_t) {
    const Eigen::Index n = y.rows();
    a_y.resize(y.rows(), y.cols());
    m_dual_theta = theta.template cast<dual<scalar>>();
    const Eigen::Index directions = n + m_num_params + (a_t ? 1 : 0);
    for (Eigen::Index c = 0; c < y.cols(); ++c) {
      m_dual_y = y.col(c).template cast<dual<scalar>>();
      m_dual_dy.resize(n);
      for (Eigen::Index k = 0; k < directions; ++k) {
        const bool time = k == n + m_num_params;
        scalar unused{};
        auto& seed = time ? unused : (k < n ? m_dual_y[k].tangent : m_dual_theta[k - n].tangent);
        seed = 1;
        call(t, time ? scalar(1) : scalar(0));
        seed = 0;
        scalar directional = 0;
        for (Eigen::Index i = 0; i < n; ++i) directional += a(i, c) * m_dual_dy[i].tangent;
        if (time) {
          *a_t += directional;
        } else if (k < n) {
          a_y(k, c) = directional;
        } else {
          a_theta[k - n] += directional;
        }
      }
    }
  }

  Fn m_fn;
  Eigen::Index m_num_params;
  Eigen::Matrix<scalar, Eigen::Dynamic, 1> m_theta;
  column m_y = detail::zero_state<column>();
  column m_dy = detail::zero_state<column>();
  dual_column m_dual_y, m_dual_dy;
  dual_params m_dual_theta;
};

}  // namespace nde
