/// \file
/// \brief The Jacobian `J = ∂f/∂y` and the time derivative `∂f/∂t` that implicit and
/// Rosenbrock methods need, from the best source the term offers.
///
/// Sources, in order of preference (`jacobian_source::automatic`):
/// 1. the term's own dense `jacobian(t, y, θ, J)` (hand-written, or exact from a network's
///    layers), for column-vector states;
/// 2. n Jacobian–vector products `J e_j` (`jvp`: dual numbers, `autodiff_field`, networks);
/// 3. forward finite differences, n evaluations of f, the last resort (Hairer & Wanner,
///    *Solving ODEs II*, IV.8: δ_j = sqrt(ε · max(1e-5, |y_j|)) — the increment RADAU5 uses).
///
/// A batch state (a D × B matrix, columns are samples) is flattened column-major: J is
/// (D·B) × (D·B) and block diagonal when the columns are independent. Cost: one `jacobian`
/// call, n jvps or n evaluations; storage n². Every function here is allocation-free once the
/// workspace and J have their sizes.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace nde {

/// \brief Where an implicit method takes `∂f/∂y` from.
enum class jacobian_source {
  automatic,           ///< The term's `jacobian`, else its `jvp`, else finite differences.
  finite_differences,  ///< Always forward differences (n evaluations of f).
};

/// \brief Dense matrix type of the Jacobian for states of type `State`.
template <state State>
using jacobian_matrix_t =
    Eigen::Matrix<scalar_of_t<State>, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;

/// \brief Scratch of `state_jacobian` and `time_derivative` (states shaped like `y`).
template <state State>
struct jacobian_workspace {
  State perturbed;  ///< y + δ e_j, or the unit tangent e_j.
  State column;     ///< f at the perturbed point, or J e_j.
  State zero;       ///< A zero state tangent.
  Eigen::Matrix<scalar_of_t<State>, Eigen::Dynamic, 1> zero_theta;  ///< A zero θ tangent.
  /// \brief Sizes the buffers like `like` for `num_params` parameters.
  void resize(const State& like, Eigen::Index num_params) {
    perturbed.setZero(like.rows(), like.cols());
    column.setZero(like.rows(), like.cols());
    zero.setZero(like.rows(), like.cols());
    zero_theta.setZero(num_params);
  }
};

namespace detail {

/// The term offers a dense Jacobian for this state type.
template <class Term, class T, class State>
concept has_dense_jacobian = requires(Term& term, T t, const State& y,
                                      params_view<scalar_of_t<State>> theta,
                                      jacobian_matrix_t<State>& jac) {
  term.jacobian(t, y, theta, jac);
};

/// The term offers a Jacobian–vector product.
template <class Term, class T, class State>
concept has_jvp = requires(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                           State& out) {
  term.jvp(t, y, theta, y, theta, scalar_of_t<State>(0), out);
};

}  // namespace detail

/// \brief `J = ∂f/∂y` at (t, y) into `jac` (resized to n × n, n = y.size()); `f_y` must hold
/// f(t, y) (the finite differences reuse it). \return `non_finite` when J has NaN/Inf (with
/// every entry written), else `success`.
template <class Term, time_scalar T, state State>
status state_jacobian(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                      const State& f_y, jacobian_matrix_t<State>& jac,
                      jacobian_workspace<State>& ws,
                      jacobian_source source = jacobian_source::automatic) {
  using scalar = scalar_of_t<State>;
  const Eigen::Index n = y.size();
  if (jac.rows() != n || jac.cols() != n) jac.resize(n, n);
  if (ws.perturbed.rows() != y.rows() || ws.perturbed.cols() != y.cols() ||
      ws.zero_theta.size() != theta.size())
    ws.resize(y, theta.size());
  const bool automatic = source == jacobian_source::automatic;
  if constexpr (detail::has_dense_jacobian<Term, T, State>) {
    if (automatic && y.cols() == 1) {
      term.jacobian(t, y, theta, jac);
      if (jac.rows() != n || jac.cols() != n)
        throw error(status::invalid_input,
                    detail::concatenate("the term's jacobian() wrote a ", jac.rows(), "x",
                                        jac.cols(), " matrix for a state of size ", n,
                                        " (it must be ", n, "x", n, ")"));
      return jac.allFinite() ? status::success : status::non_finite;
    }
  }
  if constexpr (detail::has_jvp<Term, T, State>) {
    if (automatic) {
      ws.perturbed.setZero();
      const params_view<scalar> no_theta(ws.zero_theta);
      for (Eigen::Index j = 0; j < n; ++j) {
        ws.perturbed.data()[j] = 1;
        term.jvp(t, y, theta, static_cast<const State&>(ws.perturbed), no_theta, scalar(0),
                 ws.column);
        ws.perturbed.data()[j] = 0;
        jac.col(j) =
            Eigen::Map<const Eigen::Matrix<scalar, Eigen::Dynamic, 1>>(ws.column.data(), n);
      }
      return jac.allFinite() ? status::success : status::non_finite;
    }
  }
  // Forward differences with RADAU5's increment.
  const scalar eps = std::numeric_limits<scalar>::epsilon();
  ws.perturbed = y;
  for (Eigen::Index j = 0; j < n; ++j) {
    const scalar yj = y.data()[j];
    const scalar delta = std::sqrt(eps * std::max(scalar(1e-5), std::abs(yj)));
    ws.perturbed.data()[j] = yj + delta;
    const scalar step = ws.perturbed.data()[j] - yj;  // the increment actually representable
    term.vf(t, static_cast<const State&>(ws.perturbed), theta, ws.column);
    ws.perturbed.data()[j] = yj;
    for (Eigen::Index i = 0; i < n; ++i) jac(i, j) = (ws.column.data()[i] - f_y.data()[i]) / step;
  }
  return jac.allFinite() ? status::success : status::non_finite;
}

/// \brief `dfdt = ∂f/∂t` at (t, y) (Rosenbrock methods need it for non-autonomous terms):
/// zero for an autonomous term, a jvp with ṫ = 1 where the term has one, else a one-sided
/// difference in t (`f_y` = f(t, y)) towards `direction` (the sign of the step, so that a field
/// defined only on the solve's interval, such as an interpolated forward solution, is not
/// evaluated past its end). \return `non_finite` when it has NaN/Inf.
template <class Term, time_scalar T, state State>
status time_derivative(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                       const State& f_y, State& dfdt, jacobian_workspace<State>& ws,
                       jacobian_source source = jacobian_source::automatic, T direction = T(1)) {
  using scalar = scalar_of_t<State>;
  if (ws.perturbed.rows() != y.rows() || ws.perturbed.cols() != y.cols() ||
      ws.zero_theta.size() != theta.size())
    ws.resize(y, theta.size());
  dfdt.resize(y.rows(), y.cols());
  if constexpr (autonomous_field<std::remove_cvref_t<Term>>) {
    dfdt.setZero();
    return status::success;
  } else {
    if constexpr (detail::has_jvp<Term, T, State>) {
      if (source == jacobian_source::automatic) {
        const params_view<scalar> no_theta(ws.zero_theta);
        term.jvp(t, y, theta, static_cast<const State&>(ws.zero), no_theta, scalar(1), dfdt);
        return dfdt.allFinite() ? status::success : status::non_finite;
      }
    }
    const T scale = std::max(T(1), std::abs(t));
    const T delta = std::sqrt(std::numeric_limits<T>::epsilon()) * scale;
    const T t_plus = direction < 0 ? t - delta : t + delta;
    term.vf(t_plus, y, theta, ws.column);
    dfdt = (ws.column - f_y) / static_cast<scalar>(t_plus - t);
    return dfdt.allFinite() ? status::success : status::non_finite;
  }
}

}  // namespace nde
