/// \file
/// \brief `nde::cde_field`: a neural controlled differential equation `dh = f_θ(h) dX(t)`
/// (Kidger et al. 2020, "Neural controlled differential equations for irregular time series",
/// eq. 4) as the ODE `dh/dt = f_θ(h) · dX/dt(t)` over an interpolated path X (eq. 5), so every
/// solver and every gradient method of `nde::solve` applies to it unchanged.
///
/// f_θ is an `nde::nn` network from the hidden size n to n·C outputs (C: the path's channels),
/// read as the n × C matrix F with F(i, j) = output(i + n·j) (column-major; end the network in
/// tanh, as Kidger et al. do, so F stays bounded). With a batch, column b of the hidden state
/// is driven by column b of the path. Cost per evaluation: one network pass over B columns plus
/// O(n·C·B) for the contraction and one path query (O(log N + C·B)).
///
/// Capabilities: vjp in (h, θ) and in t (through X'' and any time layers of the network),
/// stage caching for the discrete adjoint, and a jvp (forward sensitivities, dual numbers).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/network_field.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <vector>

namespace nde {

/// \brief dh/dt = F_θ(h) X'(t) for a network F and an interpolated path (see the file comment).
/// \tparam Net an `nde::nn` network with n inputs and n·C outputs. \tparam Path one of
///   `nde/paths/interpolation.hpp` (anything with `derivative`, `second_derivative`,
///   `channels`, `batch`). \tparam State the hidden state: `Eigen::MatrixXd` (n × B) or a vector.
///
/// The field reads the path through a pointer set by `set_path` (the model swaps paths per
/// batch); the path must outlive every solve that uses it. Copy the field per thread.
template <class Net, class Path, state State = Eigen::MatrixXd>
class cde_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief C × B path matrices.
  using path_matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>;

  /// \brief f = `net` with hidden size `hidden` and `channels` path channels.
  /// \throws nde::error (invalid_input) unless net has `hidden` inputs and `hidden·channels`
  ///   outputs.
  cde_field(Net net, Eigen::Index hidden, Eigen::Index channels)
      : m_hidden(hidden), m_channels(channels), m_net(checked(std::move(net), hidden, channels)) {}

  /// \brief Sets the driving path (not owned; C = `channels()` channels).
  /// \throws nde::error (invalid_input) if its channel count differs.
  void set_path(const Path* path) {
    if (path != nullptr && path->channels() != m_channels)
      throw error(status::invalid_input,
                  detail::concatenate("cde_field: the path has ", path->channels(),
                                      " channels but the field was built for ", m_channels));
    m_path = path;
  }
  /// \brief The driving path (null before `set_path`).
  [[nodiscard]] const Path* path() const noexcept { return m_path; }
  /// \brief Hidden size n.
  [[nodiscard]] Eigen::Index hidden() const noexcept { return m_hidden; }
  /// \brief Path channels C.
  [[nodiscard]] Eigen::Index channels() const noexcept { return m_channels; }
  /// \brief Network parameters.
  [[nodiscard]] Eigen::Index num_params() const { return m_net.num_params(); }
  /// \brief Rows of the hidden state.
  [[nodiscard]] Eigen::Index state_rows() const { return m_hidden; }
  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_net.network(); }

  /// \brief dh/dt = F_θ(h) X'(t).
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    m_net(t, y, theta, m_f);
    path_at(t, y, m_dx, false);
    contract(m_f, m_dx, dydt);
  }

  /// \brief a_y = aᵀ ∂(F X')/∂h; a_θ += aᵀ ∂(F X')/∂θ (one forward and one reverse pass).
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    path_at(t, y, m_dx, false);
    spread(a, m_dx, m_f_bar);
    m_net.vjp(t, y, theta, m_f_bar, a_y, a_theta);
  }
  /// \brief The vjp with the time cotangent a_t += aᵀ (F X'' + (∂F/∂t) X').
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta, scalar& a_t) {
    path_at(t, y, m_dx, false);
    spread(a, m_dx, m_f_bar);
    m_net.value_and_vjp(t, y, theta, m_f_bar, m_f, a_y, a_theta, a_t);
    a_t += time_term(t, a, m_f);
  }

  /// \brief dh/dt, keeping the network's forward values (and F) in cache slot `slot`.
  template <class T>
  void evaluate_for_vjp(std::size_t slot, T t, const State& y, params_view<scalar> theta,
                        State& dydt) {
    while (m_slot_f.size() <= slot) m_slot_f.emplace_back();
    m_net.evaluate_for_vjp(slot, t, y, theta, m_slot_f[slot]);
    path_at(t, y, m_dx, false);
    contract(m_slot_f[slot], m_dx, dydt);
  }
  /// \brief The vjp at the point of the last `evaluate_for_vjp(slot, …)`: only the reverse pass.
  template <class T>
  void vjp_from(std::size_t slot, T t, const State& y, params_view<scalar> theta, const State& a,
                State& a_y, params_ref<scalar> a_theta) {
    path_at(t, y, m_dx, false);
    spread(a, m_dx, m_f_bar);
    m_net.vjp_from(slot, t, y, theta, m_f_bar, a_y, a_theta);
  }
  /// \brief The cached vjp with the time cotangent.
  template <class T>
  void vjp_from(std::size_t slot, T t, const State& y, params_view<scalar> theta, const State& a,
                State& a_y, params_ref<scalar> a_theta, scalar& a_t) {
    path_at(t, y, m_dx, false);
    spread(a, m_dx, m_f_bar);
    m_net.vjp_from(slot, t, y, theta, m_f_bar, a_y, a_theta, a_t);
    a_t += time_term(t, a, m_slot_f[slot]);
  }

  /// \brief Jacobian–vector product `∂(F X')/∂h ẏ + ∂(F X')/∂θ θ̇ + ∂(F X')/∂t ṫ` (the
  /// network's part on dual numbers).
  template <class T>
  void jvp(T t, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar t_dot, State& out) {
    m_net.jvp(t, y, theta, y_dot, theta_dot, t_dot, m_f_bar);  // (∂F) applied to the tangent
    path_at(t, y, m_dx, false);
    contract(m_f_bar, m_dx, out);
    if (t_dot != 0) {
      m_net(t, y, theta, m_f);
      path_at(t, y, m_ddx, true);
      contract(m_f, m_ddx, m_scratch);
      out += t_dot * m_scratch;
    }
  }

 private:
  static network_field<Net, State> checked(Net net, Eigen::Index hidden, Eigen::Index channels) {
    if (hidden < 1 || channels < 1)
      throw error(status::invalid_input,
                  detail::concatenate("cde_field: hidden size and channels must be positive (got ",
                                      hidden, ", ", channels, ")"));
    if (net.in_size() != hidden || net.out_size() != hidden * channels)
      throw error(
          status::invalid_input,
          detail::concatenate("cde_field: the network maps ", net.in_size(), " -> ", net.out_size(),
                              " but a CDE with hidden size ", hidden, " and ", channels,
                              " channels needs ", hidden, " -> ", hidden * channels));
    return network_field<Net, State>(std::move(net));
  }

  // X'(t) (or X''(t)), checked against the batch of y.
  template <class T>
  void path_at(T t, const State& y, path_matrix& out, bool second) const {
    if (m_path == nullptr)
      throw error(status::invalid_input, "cde_field: no path set (call set_path first)");
    if (m_path->batch() != y.cols())
      throw error(status::invalid_input,
                  detail::concatenate("cde_field: the path has ", m_path->batch(),
                                      " samples but the hidden state has ", y.cols(), " columns"));
    if (second) {
      m_path->second_derivative(static_cast<double>(t), out);
    } else {
      m_path->derivative(static_cast<double>(t), out);
    }
  }
  // out(i, b) = Σ_j F(i + n j, b) dx(j, b).
  void contract(const State& f, const path_matrix& dx, State& out) const {
    out.resize(m_hidden, f.cols());
    for (Eigen::Index b = 0; b < f.cols(); ++b) {
      auto column = out.col(b);
      column = f.col(b).segment(0, m_hidden) * dx(0, b);
      for (Eigen::Index j = 1; j < m_channels; ++j)
        column += f.col(b).segment(j * m_hidden, m_hidden) * dx(j, b);
    }
  }
  // F̄(i + n j, b) = a(i, b) dx(j, b).
  void spread(const State& a, const path_matrix& dx, State& f_bar) const {
    f_bar.resize(m_hidden * m_channels, a.cols());
    for (Eigen::Index b = 0; b < a.cols(); ++b)
      for (Eigen::Index j = 0; j < m_channels; ++j)
        f_bar.col(b).segment(j * m_hidden, m_hidden) = a.col(b) * dx(j, b);
  }
  // aᵀ F X''.
  template <class T>
  scalar time_term(T t, const State& a, const State& f) {
    path_at(t, a, m_ddx, true);
    contract(f, m_ddx, m_scratch);
    return a.cwiseProduct(m_scratch).sum();
  }

  Eigen::Index m_hidden;
  Eigen::Index m_channels;
  network_field<Net, State> m_net;
  const Path* m_path = nullptr;
  State m_f, m_f_bar, m_scratch;
  std::vector<State> m_slot_f;
  path_matrix m_dx, m_ddx;
};

}  // namespace nde
