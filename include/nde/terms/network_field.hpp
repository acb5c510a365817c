/// \file
/// \brief `nde::network_field`: a neural network from `nde::nn` used as the vector field
/// `dy/dt = net(t, y; θ)` of a neural ODE, with the `vjp` the adjoint methods call.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/dual.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace nde {

/// \brief Adapts an `nde::nn` network (`sequential`, `mlp`) to a differentiable vector field.
///
/// Evaluation is one forward pass; `vjp` is one forward plus one reverse pass (the reverse
/// pass reuses the forward values). Time-dependent layers (`concat_linear`,
/// `concat_squash_linear`) see t; others ignore it. The field owns the network's workspace,
/// so a copy of the field is needed per thread (the model's per-sample solves make one).
/// A batch state (columns) becomes one GEMM per layer; the workspace grows to the widest
/// batch seen, then never allocates again.
/// \tparam Net the network type. \tparam State the state type (column vector or batch matrix).
template <class Net, state State>
class network_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief Columns of the state at compile time: 1 for a vector, `Eigen::Dynamic` for a batch.
  static constexpr int columns = State::ColsAtCompileTime == 1 ? 1 : Eigen::Dynamic;
  /// \brief The network's workspace for `State`: one vector, or a batch of columns.
  using workspace_type = std::conditional_t<
      columns == 1, decltype(std::declval<const Net&>().template make_workspace<scalar>()),
      decltype(std::declval<const Net&>().template make_workspace<scalar>(Eigen::Index{1}))>;

  /// \brief Wraps `net`; `batch` is the initial workspace width for batch states.
  explicit network_field(Net net, Eigen::Index batch = 1)
      : m_net(std::move(net)), m_ws(make(batch)) {}

  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }
  /// \brief Number of network parameters.
  [[nodiscard]] Eigen::Index num_params() const { return m_net.num_params(); }
  /// \brief Rows of the state: the network's input size.
  [[nodiscard]] Eigen::Index state_rows() const { return m_net.in_size(); }

  /// \brief dy/dt = net(t, y; θ).
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    reserve(y.cols());
    m_net.forward(theta, static_cast<scalar>(t), y, dydt, m_ws);
  }

  /// \brief a_y = aᵀ ∂net/∂y; a_theta += aᵀ ∂net/∂θ.
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    reserve(y.cols());
    m_net.vjp(theta, static_cast<scalar>(t), y, a, a_y, a_theta, m_ws);
  }

  /// \brief The vjp with the time cotangent: a_t += aᵀ ∂net/∂t (time layers; 0 otherwise).
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta, scalar& a_t) {
    reserve(y.cols());
    m_net.vjp(theta, static_cast<scalar>(t), y, a, a_y, a_theta, a_t, m_ws);
  }

  /// \brief Jacobian–vector product `∂net/∂y ẏ + ∂net/∂θ θ̇ + ∂net/∂t ṫ`: one forward pass on
  /// dual numbers (about 3 real forward passes). Allocates a dual-number workspace on first use.
  template <class T>
  void jvp(T t, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar t_dot, State& out) {
    using dual_state =
        Eigen::Matrix<dual<scalar>, State::RowsAtCompileTime, State::ColsAtCompileTime>;
    m_dual_theta.resize(theta.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k) m_dual_theta[k] = {theta[k], theta_dot[k]};
    dual_state x(y.rows(), y.cols());
    for (Eigen::Index k = 0; k < y.size(); ++k) x.data()[k] = {y.data()[k], y_dot.data()[k]};
    dual_state fx(m_net.out_size(), y.cols());
    if constexpr (columns == 1) {
      if (!m_dual_ws) m_dual_ws.emplace(m_net.template make_workspace<dual<scalar>>());
    } else {
      if (!m_dual_ws || m_dual_ws->capacity() < y.cols())
        m_dual_ws.emplace(m_net.template make_workspace<dual<scalar>>(y.cols()));
    }
    m_net.forward(m_dual_theta, dual<scalar>{static_cast<scalar>(t), t_dot}, x, fx, *m_dual_ws);
    out.resize(fx.rows(), fx.cols());
    for (Eigen::Index k = 0; k < fx.size(); ++k) out.data()[k] = fx.data()[k].tangent;
  }

  /// \brief dy/dt and the vjp at the same point with one forward pass (the backsolve adjoint
  /// needs both): about 3 forward costs instead of 4.
  template <class T>
  void value_and_vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& dydt,
                     State& a_y, params_ref<scalar> a_theta) {
    reserve(y.cols());
    m_net.forward(theta, static_cast<scalar>(t), y, dydt, m_ws);
    m_net.backward(theta, static_cast<scalar>(t), y, a, a_y, a_theta, m_ws);
  }

  /// \brief `value_and_vjp` with the time cotangent: a_t += aᵀ ∂net/∂t.
  template <class T>
  void value_and_vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& dydt,
                     State& a_y, params_ref<scalar> a_theta, scalar& a_t) {
    reserve(y.cols());
    m_net.forward(theta, static_cast<scalar>(t), y, dydt, m_ws);
    m_net.backward(theta, static_cast<scalar>(t), y, a, a_y, a_theta, a_t, m_ws);
  }

  /// \brief dy/dt, keeping the network's forward values in cache slot `slot` for a later
  /// `vjp_from(slot, ...)` at the same (t, y, θ) (the discrete adjoint evaluates every stage of
  /// a step, then pulls cotangents back through each without recomputing its forward pass).
  /// Slots are allocated on first use and reused afterwards.
  template <class T>
  void evaluate_for_vjp(std::size_t slot, T t, const State& y, params_view<scalar> theta,
                        State& dydt) {
    m_net.forward(theta, static_cast<scalar>(t), y, dydt, slot_workspace(slot, y.cols()));
  }

  /// \brief The vjp at the point of the last `evaluate_for_vjp(slot, ...)` (same t, y, θ):
  /// only the reverse pass (about 2 forward costs instead of 3).
  template <class T>
  void vjp_from(std::size_t slot, T t, const State& y, params_view<scalar> theta, const State& a,
                State& a_y, params_ref<scalar> a_theta) {
    m_net.backward(theta, static_cast<scalar>(t), y, a, a_y, a_theta,
                   slot_workspace(slot, y.cols()));
  }

  /// \brief The cached vjp with the time cotangent.
  template <class T>
  void vjp_from(std::size_t slot, T t, const State& y, params_view<scalar> theta, const State& a,
                State& a_y, params_ref<scalar> a_theta, scalar& a_t) {
    m_net.backward(theta, static_cast<scalar>(t), y, a, a_y, a_theta, a_t,
                   slot_workspace(slot, y.cols()));
  }

 private:
  workspace_type make(Eigen::Index batch) const {
    if constexpr (columns == 1) {
      (void)batch;
      return m_net.template make_workspace<scalar>();
    } else {
      return m_net.template make_workspace<scalar>(batch);
    }
  }
  void reserve(Eigen::Index cols) {
    if constexpr (columns != 1) {
      if (cols > m_ws.capacity()) m_ws = make(cols);
    }
  }
  workspace_type& slot_workspace(std::size_t slot, Eigen::Index cols) {
    while (m_slots.size() <= slot) m_slots.push_back(make(cols));
    if constexpr (columns != 1) {
      if (cols > m_slots[slot].capacity()) m_slots[slot] = make(cols);
    }
    return m_slots[slot];
  }

  Net m_net;
  workspace_type m_ws;
  std::vector<workspace_type> m_slots;  // per-stage forward values (discrete adjoint)
  using dual_workspace_type = std::conditional_t<
      columns == 1, decltype(std::declval<const Net&>().template make_workspace<dual<scalar>>()),
      decltype(std::declval<const Net&>().template make_workspace<dual<scalar>>(Eigen::Index{1}))>;
  std::optional<dual_workspace_type> m_dual_ws;  // jvp only
  Eigen::Matrix<dual<scalar>, Eigen::Dynamic, 1> m_dual_theta;
};

}  // namespace nde
