/// \file
/// \brief Hamiltonian neural networks (Greydanus, Dzamba & Yosinski 2019, "Hamiltonian neural
/// networks", NeurIPS): a scalar network `H_θ(q, p)` whose symplectic gradient
/// `(dq/dt, dp/dt) = (∂H/∂p, −∂H/∂q)` (their eq. 2) is the vector field, so every exact
/// solution conserves `H_θ`.
///
/// \code
/// using net = nde::nn::mlp<nde::nn::tanh_activation, 2, 200, 200, 1>;
/// nde::hamiltonian_field<net, Eigen::Vector2d> field{net{}};
/// nde::hamiltonian_neural_ode<net, nde::rk4, nde::discrete_adjoint, Eigen::Vector2d> model(
///     field, theta, {}, {.controller = nde::constant_step{0.05}});
/// \endcode
///
/// The fields here are at once
/// - ordinary parametric fields with a `vjp` (and `value_and_vjp`, `jvp`, and a dense
///   `jacobian` for column states), so `neural_ode`, any Runge–Kutta method and every gradient
///   method in `adjoint/methods.hpp` train them; and
/// - (q, p) terms (`half()`, `vf_q`, `vf_p`, `separable()`, `vjp_q`, `vjp_p`; the contract of
///   `terms/partitioned_term.hpp`), so the symplectic methods in `solvers/` integrate them.
///
/// Cost: one field evaluation is one forward and one reverse pass of H (∇H); a vjp or jvp is
/// one forward-over-reverse pass (`nn/second_order.hpp`, about 4 first-order vjps).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/nn/second_order.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <string>
#include <utility>

namespace nde {

namespace detail {

/// Throws unless `net` is a scalar network on `rows` inputs.
template <class Net>
void check_energy_network(const Net& net, const char* who, const char* what) {
  if (net.out_size() != 1)
    throw error(status::invalid_input, std::string(who) + ": " + what +
                                           " network must have one output, but it has " +
                                           std::to_string(net.out_size()));
}

template <class State>
void check_qp_state(const char* who, Eigen::Index rows, Eigen::Index half) {
  if (rows != 2 * half)
    throw error(status::invalid_input, std::string(who) + ": the state has " +
                                           std::to_string(rows) + " rows, expected 2 × " +
                                           std::to_string(half) + " = [q; p]");
}

}  // namespace detail

/// \brief The HNN field `f(y) = J ∇H_θ(y)`, `y = [q; p]`, `J = [[0, I], [−I, 0]]`, for a
/// general (non-separable) scalar network `H_θ` on `2·half` inputs.
///
/// vjp: `aᵀ ∂f/∂y = ∇²H (Jᵀa)` with `Jᵀa = [−a_p; a_q]`, and `aᵀ ∂f/∂θ = ∂²H/∂θ∂y (Jᵀa)`;
/// `vjp_q` uses `[0; w_q]`, `vjp_p` uses `[−w_p; 0]`. Autonomous (H does not read t).
/// Not thread-safe (it owns the pass buffers): one copy per thread.
/// \tparam Net an `nde::nn` network with one output (e.g. `mlp<tanh_activation, 2, 200, 200, 1>`).
/// \tparam State a column vector, or a matrix whose columns are a batch.
template <class Net, state State>
class hamiltonian_field : public time_step_control {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief An ODE term (control = dt), so `nde::solve` accepts the field directly.
  static constexpr bool is_ode = true;
  /// \brief H does not depend on t.
  static constexpr bool autonomous = true;

  /// \brief The field of `net`.
  /// \throws nde::error (invalid_input) if `net` has more than one output or an odd (or zero)
  ///   input size (the input is [q; p]).
  explicit hamiltonian_field(Net net) : m_pass(check(net)), m_net(std::move(net)) {}

  /// \brief The network H_θ.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const { return m_net.num_params(); }
  /// \brief Rows of the state [q; p].
  [[nodiscard]] Eigen::Index state_rows() const { return m_net.in_size(); }
  /// \brief Rows of q (and p).
  [[nodiscard]] Eigen::Index half() const { return m_net.in_size() / 2; }
  /// \brief False: a general H couples q and p in both derivatives.
  [[nodiscard]] static constexpr bool separable() noexcept { return false; }

  /// \brief H_θ(q, p), one value per column of `y`.
  [[nodiscard]] Eigen::Matrix<scalar, 1, Eigen::Dynamic> energy(const State& y,
                                                                params_view<scalar> theta) {
    check_state(y);
    m_pass.gradient(theta, y, m_g, &m_h);
    return m_h;
  }

  /// \brief dy/dt = J ∇H: `[∂H/∂p; −∂H/∂q]`.
  template <class T>
  void operator()(T, const State& y, params_view<scalar> theta, State& dydt) {
    gradient(y, theta);
    dydt.resize(y.rows(), y.cols());
    write_field(dydt);
  }
  /// \brief Same as `operator()` (the term interface).
  template <class T>
  void vf(T t, const State& y, params_view<scalar> theta, State& dydt) {
    (*this)(t, y, theta, dydt);
  }
  /// \brief Writes only `out.topRows(half) = ∂H/∂p` (out must have the state's shape).
  template <class T>
  void vf_q(T, const State& y, params_view<scalar> theta, State& out) {
    gradient(y, theta);
    check_out(out, y);
    out.topRows(half()) = m_g.bottomRows(half());
  }
  /// \brief Writes only `out.bottomRows(half) = −∂H/∂q`.
  template <class T>
  void vf_p(T, const State& y, params_view<scalar> theta, State& out) {
    gradient(y, theta);
    check_out(out, y);
    out.bottomRows(half()) = -m_g.topRows(half());
  }

  /// \brief `a_y = aᵀ ∂f/∂y` (overwritten), `a_theta += aᵀ ∂f/∂θ` (summed over columns).
  template <class T>
  void vjp(T, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    check_state(y);
    const Eigen::Index h = half();
    m_u.resize(y.rows(), y.cols());
    m_u.topRows(h) = -a.bottomRows(h);
    m_u.bottomRows(h) = a.topRows(h);
    m_pass.gradient_vjp(theta, y, m_u, m_hu, a_theta);
    a_y = m_hu;
  }
  /// \brief f and its vjp at one point (one pass).
  template <class T>
  void value_and_vjp(T, const State& y, params_view<scalar> theta, const State& a, State& dydt,
                     State& a_y, params_ref<scalar> a_theta) {
    check_state(y);
    const Eigen::Index h = half();
    m_u.resize(y.rows(), y.cols());
    m_u.topRows(h) = -a.bottomRows(h);
    m_u.bottomRows(h) = a.topRows(h);
    m_pass.gradient_vjp(theta, y, m_u, m_hu, a_theta, &m_g);
    a_y = m_hu;
    dydt.resize(y.rows(), y.cols());
    write_field(dydt);
  }
  /// \brief The vjp of `a = ∂H/∂p` with the cotangent `w.topRows(half)` (the rest of `w` is
  /// not read): `w_y = ∇²H [0; w_q]`, `w_theta += ∂²H/∂θ∂y [0; w_q]`.
  template <class T>
  void vjp_q(T, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta) {
    check_state(y);
    const Eigen::Index h = half();
    m_u.setZero(y.rows(), y.cols());
    m_u.bottomRows(h) = w.topRows(h);
    m_pass.gradient_vjp(theta, y, m_u, m_hu, w_theta);
    w_y = m_hu;
  }
  /// \brief The vjp of `b = −∂H/∂q` with the cotangent `w.bottomRows(half)`:
  /// `w_y = ∇²H [−w_p; 0]`, `w_theta += ∂²H/∂θ∂y [−w_p; 0]`.
  template <class T>
  void vjp_p(T, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta) {
    check_state(y);
    const Eigen::Index h = half();
    m_u.setZero(y.rows(), y.cols());
    m_u.topRows(h) = -w.bottomRows(h);
    m_pass.gradient_vjp(theta, y, m_u, m_hu, w_theta);
    w_y = m_hu;
  }
  /// \brief `out = ∂f/∂y ẏ + ∂f/∂θ θ̇` = `J (∇²H ẏ + ∂²H/∂y∂θ θ̇)` (∂f/∂t = 0).
  template <class T>
  void jvp(T, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar, State& out) {
    check_state(y);
    m_theta_dot = theta_dot;
    m_pass.gradient_jvp(theta, m_theta_dot, y, y_dot, m_g);
    out.resize(y.rows(), y.cols());
    write_field(out);
  }
  /// \brief Dense `jac = ∂f/∂y = J ∇²H` (column states; `2·half` Hessian–vector products).
  template <class T>
  void jacobian(T, const State& y, params_view<scalar> theta,
                Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>&
                    jac) requires(State::ColsAtCompileTime == 1) {
    check_state(y);
    const Eigen::Index n = y.rows(), h = half();
    jac.resize(n, n);
    m_scratch.setZero(theta.size());
    for (Eigen::Index k = 0; k < n; ++k) {
      m_u.setZero(n, 1);
      m_u(k, 0) = scalar(1);
      m_pass.gradient_vjp(theta, y, m_u, m_hu, m_scratch);
      jac.col(k).head(h) = m_hu.col(0).tail(h);
      jac.col(k).tail(h) = -m_hu.col(0).head(h);
    }
  }
  using time_step_control::contr;
  using time_step_control::prod;

 private:
  using matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using vector = Eigen::Matrix<scalar, Eigen::Dynamic, 1>;

  static const Net& check(const Net& net) {
    detail::check_energy_network(net, "hamiltonian_field", "the Hamiltonian");
    if (net.in_size() <= 0 || net.in_size() % 2 != 0)
      throw error(status::invalid_input,
                  "hamiltonian_field: the network's input size " + std::to_string(net.in_size()) +
                      " is not a positive even number (its input is the state [q; p])");
    return net;
  }
  void check_state(const State& y) const {
    detail::check_qp_state<State>("hamiltonian_field", y.rows(), half());
  }
  void check_out(const State& out, const State& y) const {
    if (out.rows() != y.rows() || out.cols() != y.cols())
      throw error(status::invalid_input,
                  "hamiltonian_field: vf_q/vf_p write one block of an output that must already "
                  "have the state's shape");
  }
  void gradient(const State& y, params_view<scalar> theta) {
    check_state(y);
    m_pass.gradient(theta, y, m_g);
  }
  void write_field(State& out) const {
    const Eigen::Index h = half();
    out.topRows(h) = m_g.bottomRows(h);
    out.bottomRows(h) = -m_g.topRows(h);
  }

  nn::second_order_pass_for<Net, scalar> m_pass;
  Net m_net;
  matrix m_g, m_h, m_u, m_hu;
  vector m_theta_dot, m_scratch;
};

/// \brief A separable HNN, `H_θ(q, p) = T_θ(p) + V_θ(q)` (kinetic + potential), θ = [θ_T; θ_V].
/// `dq/dt = ∇T(p)` depends on p only and `dp/dt = −∇V(q)` on q only, so `separable()` is
/// true and the explicit symplectic methods (leapfrog, Forest–Ruth) apply.
/// \tparam KineticNet, PotentialNet scalar networks on `half` inputs each.
template <class KineticNet, class PotentialNet, state State>
class separable_hamiltonian_field : public time_step_control {
 public:
  using scalar = scalar_of_t<State>;        ///< Scalar of states and parameters.
  static constexpr bool is_ode = true;      ///< An ODE term (control = dt).
  static constexpr bool autonomous = true;  ///< H does not depend on t.

  /// \brief The field of H = T(p) + V(q).
  /// \throws nde::error (invalid_input) if either network has more than one output, or their
  ///   input sizes differ or are zero.
  separable_hamiltonian_field(KineticNet kinetic, PotentialNet potential)
      : m_kinetic_pass(checked(kinetic, potential)),
        m_potential_pass(potential),
        m_kinetic(std::move(kinetic)),
        m_potential(std::move(potential)) {}

  /// \brief The kinetic network T_θ(p).
  [[nodiscard]] const KineticNet& kinetic() const noexcept { return m_kinetic; }
  /// \brief The potential network V_θ(q).
  [[nodiscard]] const PotentialNet& potential() const noexcept { return m_potential; }
  /// \brief Length of θ: T's parameters, then V's.
  [[nodiscard]] Eigen::Index num_params() const {
    return m_kinetic.num_params() + m_potential.num_params();
  }
  /// \brief Rows of the state [q; p].
  [[nodiscard]] Eigen::Index state_rows() const { return 2 * half(); }
  /// \brief Rows of q (and p).
  [[nodiscard]] Eigen::Index half() const { return m_kinetic.in_size(); }
  /// \brief True: dq/dt reads p only, dp/dt reads q only.
  [[nodiscard]] static constexpr bool separable() noexcept { return true; }

  /// \brief H = T(p) + V(q), one value per column.
  [[nodiscard]] Eigen::Matrix<scalar, 1, Eigen::Dynamic> energy(const State& y,
                                                                params_view<scalar> theta) {
    check_state(y);
    m_kinetic_pass.gradient(kinetic_params(theta), y.bottomRows(half()), m_g, &m_h);
    Eigen::Matrix<scalar, 1, Eigen::Dynamic> h = m_h;
    m_potential_pass.gradient(potential_params(theta), y.topRows(half()), m_g, &m_h);
    return h + m_h;
  }

  /// \brief dy/dt = [∇T(p); −∇V(q)].
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    dydt.resize(y.rows(), y.cols());
    vf_q(t, y, theta, dydt);
    vf_p(t, y, theta, dydt);
  }
  /// \brief Same as `operator()`.
  template <class T>
  void vf(T t, const State& y, params_view<scalar> theta, State& dydt) {
    (*this)(t, y, theta, dydt);
  }
  /// \brief Writes only `out.topRows(half) = ∇T(p)`.
  template <class T>
  void vf_q(T, const State& y, params_view<scalar> theta, State& out) {
    check_state(y);
    check_out(out, y);
    m_kinetic_pass.gradient(kinetic_params(theta), y.bottomRows(half()), m_g);
    out.topRows(half()) = m_g;
  }
  /// \brief Writes only `out.bottomRows(half) = −∇V(q)`.
  template <class T>
  void vf_p(T, const State& y, params_view<scalar> theta, State& out) {
    check_state(y);
    check_out(out, y);
    m_potential_pass.gradient(potential_params(theta), y.topRows(half()), m_g);
    out.bottomRows(half()) = -m_g;
  }
  /// \brief `a_y = [−∇²V a_p; ∇²T a_q]`, `a_theta += [∂²T/∂θ∂p a_q; −∂²V/∂θ∂q a_p]`.
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    check_state(y);
    a_y.resize(y.rows(), y.cols());
    kinetic_vjp(y, theta, a, a_y, a_theta);
    potential_vjp(y, theta, a, a_y, a_theta);
    (void)t;
  }
  /// \brief The vjp of dq/dt = ∇T(p) with `w.topRows(half)`: `w_y = [0; ∇²T w_q]`.
  template <class T>
  void vjp_q(T, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta) {
    check_state(y);
    w_y.setZero(y.rows(), y.cols());
    kinetic_vjp(y, theta, w, w_y, w_theta);
  }
  /// \brief The vjp of dp/dt = −∇V(q) with `w.bottomRows(half)`: `w_y = [−∇²V w_p; 0]`.
  template <class T>
  void vjp_p(T, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta) {
    check_state(y);
    w_y.setZero(y.rows(), y.cols());
    potential_vjp(y, theta, w, w_y, w_theta);
  }
  /// \brief `out = [∇²T ṗ + ∂²T/∂p∂θ θ̇_T; −∇²V q̇ − ∂²V/∂q∂θ θ̇_V]`.
  template <class T>
  void jvp(T, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar, State& out) {
    check_state(y);
    const Eigen::Index h = half();
    out.resize(y.rows(), y.cols());
    m_theta_dot = kinetic_params(theta_dot);
    m_kinetic_pass.gradient_jvp(kinetic_params(theta), m_theta_dot, y.bottomRows(h),
                                y_dot.bottomRows(h), m_hu);
    out.topRows(h) = m_hu;
    m_theta_dot = potential_params(theta_dot);
    m_potential_pass.gradient_jvp(potential_params(theta), m_theta_dot, y.topRows(h),
                                  y_dot.topRows(h), m_hu);
    out.bottomRows(h) = -m_hu;
  }
  using time_step_control::contr;
  using time_step_control::prod;

 private:
  using matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>;
  using vector = Eigen::Matrix<scalar, Eigen::Dynamic, 1>;

  static const KineticNet& checked(const KineticNet& kinetic, const PotentialNet& potential) {
    detail::check_energy_network(kinetic, "separable_hamiltonian_field", "the kinetic");
    detail::check_energy_network(potential, "separable_hamiltonian_field", "the potential");
    if (kinetic.in_size() != potential.in_size() || kinetic.in_size() <= 0)
      throw error(status::invalid_input,
                  "separable_hamiltonian_field: the kinetic network reads " +
                      std::to_string(kinetic.in_size()) + " momenta but the potential network " +
                      std::to_string(potential.in_size()) + " positions (they must agree, > 0)");
    return kinetic;
  }
  void check_state(const State& y) const {
    detail::check_qp_state<State>("separable_hamiltonian_field", y.rows(), half());
  }
  void check_out(const State& out, const State& y) const {
    if (out.rows() != y.rows() || out.cols() != y.cols())
      throw error(status::invalid_input,
                  "separable_hamiltonian_field: vf_q/vf_p write one block of an output that must "
                  "already have the state's shape");
  }
  template <class Theta>
  auto kinetic_params(const Theta& theta) const {
    return theta.head(m_kinetic.num_params());
  }
  template <class Theta>
  auto potential_params(const Theta& theta) const {
    return theta.tail(m_potential.num_params());
  }
  // a_y.bottom = ∇²T a_q; θ_T += ∂²T/∂θ∂p a_q.
  void kinetic_vjp(const State& y, params_view<scalar> theta, const State& a, State& a_y,
                   params_ref<scalar> a_theta) {
    const Eigen::Index h = half();
    m_kinetic_pass.gradient_vjp(kinetic_params(theta), y.bottomRows(h), a.topRows(h), m_hu,
                                a_theta.head(m_kinetic.num_params()));
    a_y.bottomRows(h) = m_hu;
  }
  // a_y.top = −∇²V a_p; θ_V += −∂²V/∂θ∂q a_p.
  void potential_vjp(const State& y, params_view<scalar> theta, const State& a, State& a_y,
                     params_ref<scalar> a_theta) {
    const Eigen::Index h = half();
    m_u = -a.bottomRows(h);
    m_potential_pass.gradient_vjp(potential_params(theta), y.topRows(h), m_u, m_hu,
                                  a_theta.tail(m_potential.num_params()));
    a_y.topRows(h) = m_hu;
  }

  nn::second_order_pass_for<KineticNet, scalar> m_kinetic_pass;
  nn::second_order_pass_for<PotentialNet, scalar> m_potential_pass;
  KineticNet m_kinetic;
  PotentialNet m_potential;
  matrix m_g, m_h, m_u, m_hu;
  vector m_theta_dot;
};

/// \brief An HNN as a `neural_ode`: `hamiltonian_field<Net, State>` solved by `Method` with
/// gradients by `Gradient` (any method of `adjoint/methods.hpp`).
template <class Net, class Method, class Gradient, state State, time_scalar T = double>
using hamiltonian_neural_ode =
    neural_ode<hamiltonian_field<Net, State>, Method, Gradient, State, T>;

}  // namespace nde
