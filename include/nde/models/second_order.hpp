/// \file
/// \brief Second-order neural ODEs `q'' = F_θ(t, q, q')` (Norcliffe, Bodnar, Day, Simidjievski
/// & Liò 2020, "On second order behaviour in augmented neural ODEs"; Gruver et al. 2022): the
/// state is `y = [q; v]` with `v = q'`, and the field is `[v; F_θ(t, q, v)]`.
///
/// \code
/// using net = nde::nn::mlp<nde::nn::tanh_activation, 2, 32, 1>;  // F(q, v), q scalar
/// nde::second_order_neural_ode<net, nde::rk4, nde::discrete_adjoint, Eigen::Vector2d> model(
///     nde::second_order_field<net, Eigen::Vector2d>(net{}), theta, {},
///     {.controller = nde::constant_step{0.01}});
/// model.forward(nde::second_order_state<Eigen::Vector2d>(q0, v0), ts);
/// \endcode
///
/// `second_order_field` is an ordinary parametric field (vjp with the time cotangent, jvp, a
/// dense Jacobian for column states), so `neural_ode`, every Runge–Kutta method and every
/// gradient method apply; and a (q, p) term (`half()`, `vf_q`, `vf_p`, `vjp_q`, `vjp_p`,
/// `separable()`, the contract of `terms/partitioned_term.hpp`) with a = v and b = F. When the
/// network reads q only (`in_size() == half`), `separable()` is true and the explicit symplectic
/// methods apply (for F = −∇V the flow is then Hamiltonian with H = ½|v|² + V(q)).
/// Cost: one network forward pass per field evaluation; a vjp is one forward + one reverse pass.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/dual.hpp"
#include "nde/core/status.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace nde {

/// \brief The field `[v; F_θ(t, x)]` of `q'' = F_θ`, state `[q; v]` of `2·half` rows, where the
/// network's input `x` is the whole state `[q; v]` (`in_size() == 2·out_size()`: a general,
/// velocity-dependent force) or `q` alone (`in_size() == out_size()`: separable).
///
/// Not thread-safe (it owns the network's workspaces): one copy per thread.
/// \tparam Net an `nde::nn` network; `half = out_size()`. Time layers see t.
/// \tparam State a column vector, or a matrix whose columns are a batch.
template <class Net, state State>
class second_order_field : public time_step_control {
 public:
  using scalar = scalar_of_t<State>;    ///< Scalar of states and parameters.
  static constexpr bool is_ode = true;  ///< An ODE term (control = dt).

  /// \brief The field of `net`.
  /// \throws nde::error (invalid_input) unless `net.in_size()` is `out_size()` (F(q)) or
  ///   `2·out_size()` (F(q, q')), and `out_size() > 0`.
  explicit second_order_field(Net net) : m_net(std::move(net)) {
    const Eigen::Index out = m_net.out_size(), in = m_net.in_size();
    if (out <= 0 || (in != out && in != 2 * out))
      throw error(status::invalid_input,
                  "second_order_field: the network maps " + std::to_string(in) + " inputs to " +
                      std::to_string(out) +
                      " outputs; a force F(q) needs as many inputs as outputs and F(q, q') twice "
                      "as many");
    m_ws.emplace(m_net.template make_workspace<scalar>(Eigen::Index{1}));
  }

  /// \brief The network F_θ.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const { return m_net.num_params(); }
  /// \brief Rows of q (and of v).
  [[nodiscard]] Eigen::Index half() const { return m_net.out_size(); }
  /// \brief Rows of the state [q; v].
  [[nodiscard]] Eigen::Index state_rows() const { return 2 * half(); }
  /// \brief True when F reads q only (then a = v reads v only and b = F reads q only).
  [[nodiscard]] bool separable() const { return m_net.in_size() == half(); }

  /// \brief dy/dt = [v; F(t, x)].
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    check(y);
    dydt.resize(y.rows(), y.cols());
    dydt.topRows(half()) = y.bottomRows(half());
    force(t, y, theta);
    dydt.bottomRows(half()) = m_f;
  }
  /// \brief Same as `operator()` (the term interface).
  template <class T>
  void vf(T t, const State& y, params_view<scalar> theta, State& dydt) {
    (*this)(t, y, theta, dydt);
  }
  /// \brief Writes only `out.topRows(half) = v`.
  template <class T>
  void vf_q(T, const State& y, params_view<scalar>, State& out) {
    check(y);
    check_out(out, y);
    out.topRows(half()) = y.bottomRows(half());
  }
  /// \brief Writes only `out.bottomRows(half) = F(t, x)`.
  template <class T>
  void vf_p(T t, const State& y, params_view<scalar> theta, State& out) {
    check(y);
    check_out(out, y);
    force(t, y, theta);
    out.bottomRows(half()) = m_f;
  }

  /// \brief `a_y = [0; a_q] + (∂F/∂y)ᵀ a_v` (overwritten), `a_theta += (∂F/∂θ)ᵀ a_v`.
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    scalar a_t{};
    vjp(t, y, theta, a, a_y, a_theta, a_t);
  }
  /// \brief The vjp with the time cotangent `a_t += a_vᵀ ∂F/∂t` (0 unless the network has
  /// time layers).
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta, scalar& a_t) {
    check(y);
    force_vjp(t, y, theta, a, a_y, a_theta, a_t);
    a_y.bottomRows(half()) += a.topRows(half());
  }
  /// \brief The vjp of `a = v` with `w.topRows(half)`: `w_y = [0; w_q]`, nothing for θ.
  template <class T>
  void vjp_q(T, const State& y, params_view<scalar>, const State& w, State& w_y,
             params_ref<scalar>) {
    check(y);
    w_y.setZero(y.rows(), y.cols());
    w_y.bottomRows(half()) = w.topRows(half());
  }
  /// \brief The vjp of `b = F` with `w.bottomRows(half)`: `w_y = (∂F/∂y)ᵀ w_p`,
  /// `w_theta += (∂F/∂θ)ᵀ w_p`.
  template <class T>
  void vjp_p(T t, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta) {
    check(y);
    scalar w_t{};
    force_vjp(t, y, theta, w, w_y, w_theta, w_t);
  }
  /// \brief `vjp_q` with the time cotangent (a = v does not depend on t: `w_t` unchanged).
  template <class T>
  void vjp_q(T t, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta, scalar&) {
    vjp_q(t, y, theta, w, w_y, w_theta);
  }
  /// \brief `vjp_p` with the time cotangent `w_t += w_pᵀ ∂F/∂t`.
  template <class T>
  void vjp_p(T t, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta, scalar& w_t) {
    check(y);
    force_vjp(t, y, theta, w, w_y, w_theta, w_t);
  }
  /// \brief `out = [v̇; ∂F/∂y ẏ + ∂F/∂θ θ̇ + ∂F/∂t ṫ]`: one forward pass on dual numbers.
  template <class T>
  void jvp(T t, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar t_dot, State& out) {
    check(y);
    const Eigen::Index h = half(), n = y.cols();
    if (!m_dual_ws || m_dual_ws->capacity() < n)
      m_dual_ws.emplace(m_net.template make_workspace<dual<scalar>>(n));
    m_dual_theta.resize(theta.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k) m_dual_theta[k] = {theta[k], theta_dot[k]};
    const Eigen::Index rows = m_net.in_size();  // the input is the top rows: [q; v] or q
    m_dual_x.resize(rows, n);
    for (Eigen::Index j = 0; j < n; ++j)
      for (Eigen::Index i = 0; i < rows; ++i) m_dual_x(i, j) = {y(i, j), y_dot(i, j)};
    m_net.forward(m_dual_theta, dual<scalar>{static_cast<scalar>(t), t_dot}, m_dual_x, m_dual_f,
                  *m_dual_ws);
    out.resize(y.rows(), y.cols());
    out.topRows(h) = y_dot.bottomRows(h);
    out.bottomRows(h) = m_dual_f.unaryExpr([](const dual<scalar>& d) { return d.tangent; });
  }
  /// \brief Dense `jac = ∂f/∂y = [[0, I], [∂F/∂q, ∂F/∂v]]` (column states; 2·half jvps).
  template <class T>
  void jacobian(T t, const State& y, params_view<scalar> theta,
                Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>&
                    jac) requires(State::ColsAtCompileTime == 1) {
    const Eigen::Index n = y.rows();
    jac.resize(n, n);
    m_zero_theta.setZero(theta.size());
    State e = State::Zero(n), col = State::Zero(n);
    for (Eigen::Index k = 0; k < n; ++k) {
      e.setZero();
      e[k] = scalar(1);
      jvp(t, y, theta, e, m_zero_theta, scalar(0), col);
      jac.col(k) = col;
    }
  }
  using time_step_control::contr;
  using time_step_control::prod;

 private:
  using matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using vector = Eigen::Matrix<scalar, Eigen::Dynamic, 1>;
  using workspace_type =
      decltype(std::declval<const Net&>().template make_workspace<scalar>(Eigen::Index{1}));
  using dual_workspace_type =
      decltype(std::declval<const Net&>().template make_workspace<dual<scalar>>(Eigen::Index{1}));

  void check(const State& y) const {
    if (y.rows() != 2 * half())
      throw error(status::invalid_input, "second_order_field: the state has " +
                                             std::to_string(y.rows()) + " rows, expected 2 × " +
                                             std::to_string(half()) + " = [q; q']");
  }
  void check_out(const State& out, const State& y) const {
    if (out.rows() != y.rows() || out.cols() != y.cols())
      throw error(status::invalid_input,
                  "second_order_field: vf_q/vf_p write one block of an output that must already "
                  "have the state's shape");
  }
  void reserve(Eigen::Index cols) {
    if (m_ws->capacity() < cols) m_ws.emplace(m_net.template make_workspace<scalar>(cols));
  }
  // The network input: [q; v] or q.
  void input(const State& y) { m_x = y.topRows(m_net.in_size()); }
  template <class T>
  void force(T t, const State& y, params_view<scalar> theta) {
    reserve(y.cols());
    input(y);
    m_net.forward(theta, static_cast<scalar>(t), m_x, m_f, *m_ws);
  }
  // w_y = (∂F/∂y)ᵀ w_p (overwritten, full height); w_theta, w_t accumulated.
  template <class T>
  void force_vjp(T t, const State& y, params_view<scalar> theta, const State& w, State& w_y,
                 params_ref<scalar> w_theta, scalar& w_t) {
    reserve(y.cols());
    input(y);
    m_wp = w.bottomRows(half());
    m_net.vjp(theta, static_cast<scalar>(t), m_x, m_wp, m_dx, w_theta, w_t, *m_ws);
    w_y.setZero(y.rows(), y.cols());
    w_y.topRows(m_net.in_size()) = m_dx;
  }

  Net m_net;
  std::optional<workspace_type> m_ws;
  std::optional<dual_workspace_type> m_dual_ws;
  matrix m_x, m_f, m_wp, m_dx;
  vector m_zero_theta;
  Eigen::Matrix<dual<scalar>, Eigen::Dynamic, 1> m_dual_theta;
  Eigen::Matrix<dual<scalar>, Eigen::Dynamic, Eigen::Dynamic> m_dual_x, m_dual_f;
};

/// \brief The initial state `[q0; v0]` of a second-order model.
/// \throws nde::error (invalid_input) if q0 and v0 differ in shape.
template <state State, class Q, class V>
[[nodiscard]] State second_order_state(const Eigen::MatrixBase<Q>& q0,
                                       const Eigen::MatrixBase<V>& v0) {
  if (q0.rows() != v0.rows() || q0.cols() != v0.cols())
    throw error(status::invalid_input, "second_order_state: q0 and v0 differ in shape");
  State y = State::Zero(2 * q0.rows(), q0.cols());
  y.topRows(q0.rows()) = q0;
  y.bottomRows(q0.rows()) = v0;
  return y;
}

/// \brief A second-order neural ODE as a `neural_ode`: `second_order_field<Net, State>` solved
/// by `Method` with gradients by `Gradient` (any method of `adjoint/methods.hpp`).
template <class Net, class Method, class Gradient, state State, time_scalar T = double>
using second_order_neural_ode =
    neural_ode<second_order_field<Net, State>, Method, Gradient, State, T>;

}  // namespace nde
