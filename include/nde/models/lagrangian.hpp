/// \file
/// \brief `nde::lagrangian_field`: a Lagrangian neural network (Cranmer, Greydanus, Hoyer,
/// Battaglia, Spergel & Ho 2020, "Lagrangian neural networks", eq. 6): a scalar network
/// `L_θ(q, q̇)` and the Euler–Lagrange dynamics
///   q̈ = (∇²_q̇ L)⁻¹ [∇_q L − (∇_q̇ ∇_q L) q̇]
/// on the state y = [q; q̇], with closed-form batched Hessians of the network
/// (`nn::scalar_network_curvature`), a factorisation of the velocity Hessian per column that
/// fails with a clear error when it is singular (LU) or not positive definite (Cholesky), and an
/// exact vector–Jacobian product (third derivatives of L), so every Runge–Kutta method and every
/// gradient method (`adjoint/methods.hpp`) trains it.
///
/// \code
/// using net = nde::nn::mlp<nde::nn::softplus_activation, 4, 128, 128, 1>;
/// nde::lagrangian_field<net, Eigen::Vector4d> field(net{});
/// nde::neural_ode<decltype(field), nde::rk4, nde::discrete_adjoint, Eigen::Vector4d>
///     model(field, theta, {}, {.controller = nde::constant_step{.dt = 0.01}});
/// \endcode
///
/// It is also a (q, p) term in the shared sense (`half()`, `vf_q`, `vf_p`, `vjp_q`, `vjp_p`,
/// `separable() == false`): a = q̇ (the p block holds q̇, not a momentum), b = q̈.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/dual.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/hessian.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>

#include <cmath>
#include <limits>
#include <optional>
#include <utility>

namespace nde {

namespace detail {

/// A Cholesky factorisation that is safe to copy before its first `compute`. (Eigen 3.4's
/// default-constructed `LLT` leaves its `ComputationInfo` uninitialised, so copying one that
/// was never computed reads an indeterminate enum, which UndefinedBehaviorSanitizer reports.)
/// A computed one is copied whole, buffers included.
template <class Matrix>
struct scratch_llt {
  Eigen::LLT<Matrix> llt;
  bool computed = false;

  scratch_llt() = default;
  scratch_llt(const scratch_llt& other) : computed(other.computed) {
    if (other.computed) llt = other.llt;
  }
  scratch_llt& operator=(const scratch_llt& other) {
    if (this != &other && other.computed) llt = other.llt;
    computed = computed || other.computed;
    return *this;
  }
  ~scratch_llt() = default;
  /// Factorises `m` (see Eigen::LLT::compute).
  template <class M>
  void compute(const M& m) {
    llt.compute(m);
    computed = true;
  }
};

}  // namespace detail

/// \brief How `lagrangian_field` solves with the velocity Hessian M = ∇²_q̇ L.
enum class mass_matrix_factorisation {
  lu,        ///< Partial-pivoting LU: any invertible M (L and −L give the same motion).
  cholesky,  ///< Cholesky (LLᵀ): M must be positive definite (a positive kinetic energy).
};

/// \brief Settings of a `lagrangian_field`.
struct lagrangian_options {
  /// The factorisation of M (per batch column, n × n).
  mass_matrix_factorisation factorisation = mass_matrix_factorisation::lu;
  /// M counts as singular when its estimated reciprocal condition number (1-norm) is not
  /// above this; 0 means 100·ε of the state scalar.
  double min_rcond = 0;
};

/// \brief The Lagrangian-network vector field y = [q; q̇] ↦ [q̇; q̈] (see the file comment).
///
/// Cost per column of `operator()`: one forward pass with the input Jacobian (d = 2n times the
/// GEMM work of a plain forward pass), one reverse pass, the Hessian sum O(Σ m_k d²) and an
/// n × n factorisation. `vjp` adds the third-order reverse pass of `nn::scalar_network_curvature`
/// (14 GEMMs per linear layer) and one more solve per column. Measured in the `lagrangian`
/// example (4-128-128-1, batch 128): a training step costs about 3× an HNN step of the same
/// width. Not checked to be allocation-free (the LU condition estimate may allocate).
///
/// Unlike torchdyn's LNN (per-sample autograd Hessians and a silent pseudo-inverse), a singular
/// or non-finite M throws `nde::error` naming the column and the condition estimate; inside
/// `nde::solve` that becomes the solve's status (invalid_input, or non_finite).
///
/// \tparam Net an `nn::mlp` / `nn::sequential` of linear layers and tanh, softplus, sigmoid or
///   identity activations (or activations with `second_derivative` and `third_derivative`),
///   input width 2n and output width 1. \tparam State a column vector of 2n rows or a matrix
///   of 2n rows whose columns are a batch.
/// Holds mutable buffers: one field per thread.
template <class Net, state State>
class lagrangian_field : public time_step_control {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and θ.
  using matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< Buffer type.
  /// \brief An ODE term (control = dt), so solvers can integrate the field directly.
  static constexpr bool is_ode = true;
  /// \brief L does not depend on t.
  static constexpr bool autonomous = true;

  /// \brief The field of the Lagrangian network `net`.
  /// \throws nde::error (invalid_input) when the network's output width is not 1 or its input
  ///   width is odd (no (q, q̇) split).
  explicit lagrangian_field(Net net, lagrangian_options options = {})
      : m_curv(std::move(net)), m_options(options) {
    const Eigen::Index d = m_curv.input_size();
    if (d % 2 != 0)
      throw error(status::invalid_input,
                  detail::concatenate("lagrangian_field: the network's input width ", d,
                                      " is odd; it must be 2n for the state [q; q̇]"));
    m_half = d / 2;
    if (!(m_options.min_rcond >= 0) || !std::isfinite(m_options.min_rcond))
      throw error(status::invalid_input, "lagrangian_field: min_rcond must be finite and >= 0");
    if (m_options.min_rcond == 0)
      m_options.min_rcond = 100 * double(std::numeric_limits<scalar>::epsilon());
  }

  /// \brief The network L_θ.
  [[nodiscard]] const Net& network() const noexcept { return m_curv.network(); }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const { return m_curv.network().num_params(); }
  /// \brief n: rows of q (and of q̇).
  [[nodiscard]] Eigen::Index half() const noexcept { return m_half; }
  /// \brief 2n.
  [[nodiscard]] Eigen::Index state_rows() const noexcept { return 2 * m_half; }
  /// \brief False: q̈ depends on q and q̇ (explicit symplectic methods refuse this term).
  [[nodiscard]] static constexpr bool separable() noexcept { return false; }

  /// \brief out = [q̇; q̈].
  template <class T>
  void operator()(T, const State& y, params_view<scalar> theta, State& out) {
    accelerations(y, theta, nullptr);
    out.resize(y.rows(), y.cols());
    out.topRows(m_half) = y.bottomRows(m_half);
    out.bottomRows(m_half) = m_acc;
  }
  /// \brief Same as `operator()`.
  template <class T>
  void vf(T t, const State& y, params_view<scalar> theta, State& out) {
    (*this)(t, y, theta, out);
  }
  /// \brief Writes only the top block of `out`: dq/dt = q̇.
  template <class T>
  void vf_q(T, const State& y, params_view<scalar>, State& out) {
    check_state(y);
    out.topRows(m_half) = y.bottomRows(m_half);
  }
  /// \brief Writes only the bottom block of `out`: dq̇/dt = q̈.
  template <class T>
  void vf_p(T, const State& y, params_view<scalar> theta, State& out) {
    accelerations(y, theta, nullptr);
    out.bottomRows(m_half) = m_acc;
  }

  /// \brief a_y = aᵀ ∂f/∂y (overwritten), a_θ += aᵀ ∂f/∂θ (summed over columns).
  template <class T>
  void vjp(T, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    pull_acceleration(y, theta, a, a_y, a_theta);
    a_y.bottomRows(m_half) += a.topRows(m_half);
  }
  /// \brief The vjp of the q block only (reads `w.topRows(half)`): w_y = [0; w_q]; θ unchanged.
  template <class T>
  void vjp_q(T, const State& y, params_view<scalar>, const State& w, State& w_y,
             params_ref<scalar>) {
    check_state(y);
    w_y.resize(y.rows(), y.cols());
    w_y.topRows(m_half).setZero();
    w_y.bottomRows(m_half) = w.topRows(m_half);
  }
  /// \brief The vjp of the q̇ block only (reads `w.bottomRows(half)`).
  template <class T>
  void vjp_p(T, const State& y, params_view<scalar> theta, const State& w, State& w_y,
             params_ref<scalar> w_theta) {
    pull_acceleration(y, theta, w, w_y, w_theta);
  }

  /// \brief Jacobian–vector product (forward sensitivities): `out = ∂f/∂y ẏ + ∂f/∂θ θ̇` (L does
  /// not read t). The q̈ block is M⁻¹ dψ with ψ = ∇_q L − (∂²L/∂q̇∂(q, q̇))[q̇; q̈] at fixed q̈,
  /// differentiated by one reverse pass of the network on nested dual numbers
  /// (`dual<dual<scalar>>`, scalar code paths; forward sensitivities suit few parameters).
  template <class T>
  void jvp(T, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar, State& out) {
    using d1 = dual<scalar>;
    using d2 = dual<d1>;
    using dmatrix = Eigen::Matrix<d2, Eigen::Dynamic, Eigen::Dynamic>;
    accelerations(y, theta, nullptr);
    if (y_dot.rows() != y.rows() || y_dot.cols() != y.cols() || theta_dot.size() != theta.size())
      throw error(status::invalid_input,
                  "lagrangian_field::jvp: the tangents must have the shapes "
                  "of the state and of θ");
    const Eigen::Index n = m_half, d = 2 * n, cols = y.cols();
    const Net& net = m_curv.network();
    m_dual_theta.resize(theta.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k)
      m_dual_theta[k] = d2(d1(theta[k], theta_dot[k]), d1(scalar(0), scalar(0)));
    // ε₁ carries the tangent (ẏ, θ̇), ε₂ the fixed direction b = [q̇; q̈].
    dmatrix x(d, cols);
    for (Eigen::Index b = 0; b < cols; ++b)
      for (Eigen::Index i = 0; i < d; ++i) {
        const scalar dir = i < n ? y(n + i, b) : m_acc(i - n, b);
        x(i, b) = d2(d1(y(i, b), y_dot(i, b)), d1(dir, scalar(0)));
      }
    if (!m_dual_ws || m_dual_ws->capacity() < cols)
      m_dual_ws.emplace(net.template make_workspace<d2>(cols));
    const dmatrix seed = dmatrix::Constant(1, cols, d2(scalar(1)));
    m_dual_dtheta.setConstant(theta.size(), d2(scalar(0)));
    net.vjp(m_dual_theta, x, seed, m_dual_dx, m_dual_dtheta, *m_dual_ws);
    const auto& h = m_curv.hessian();
    out.resize(y.rows(), y.cols());
    out.topRows(n) = y_dot.bottomRows(n);
    for (Eigen::Index b = 0; b < cols; ++b) {
      const auto hb = h.middleCols(b * d, d);
      // dψ = d(∇_q L) − d(H_{q̇,·} b) − H_{q̇q} δq̇ (the explicit q̇ inside b).
      m_rhs.noalias() = -hb.bottomLeftCorner(n, n) * y_dot.col(b).tail(n);
      for (Eigen::Index i = 0; i < n; ++i)
        m_rhs[i] += m_dual_dx(i, b).value.tangent - m_dual_dx(n + i, b).tangent.tangent;
      m_mass = hb.bottomRightCorner(n, n);
      factorise(b);
      if (m_options.factorisation == mass_matrix_factorisation::lu) {
        out.col(b).tail(n) = m_lu.solve(m_rhs);
      } else {
        out.col(b).tail(n) = m_llt.llt.solve(m_rhs);
      }
    }
  }

  /// \brief q̈ at every column of y (n × B), as written by the last evaluation.
  template <class Y>
  const matrix& acceleration(const Eigen::MatrixBase<Y>& y, params_view<scalar> theta) {
    accelerations(y, theta, nullptr);
    return m_acc;
  }
  /// \brief The energy E = q̇ · ∂L/∂q̇ − L of each column (1 × B), conserved by the exact flow.
  template <class Y>
  Eigen::Matrix<scalar, 1, Eigen::Dynamic> energy(const Eigen::MatrixBase<Y>& y,
                                                  params_view<scalar> theta) {
    check_state(y);
    m_curv.evaluate(theta, y);
    const auto& g = m_curv.gradient();
    return (y.bottomRows(m_half).cwiseProduct(g.bottomRows(m_half))).colwise().sum() -
           m_curv.value();
  }
  /// \brief The derivative machinery (value, gradient and Hessian of the last evaluation).
  [[nodiscard]] const nn::scalar_network_curvature<Net, scalar>& curvature() const noexcept {
    return m_curv;
  }

 private:
  template <class Y>
  void check_state(const Eigen::MatrixBase<Y>& y) const {
    if (y.rows() != 2 * m_half)
      throw error(status::invalid_input,
                  detail::concatenate("lagrangian_field: the state has ", y.rows(),
                                      " rows, expected 2n = ", 2 * m_half, " ([q; q̇])"));
  }

  // q̈ into m_acc; with `cotangent` (n × B) also λ = M⁻ᵀ w into m_lambda.
  template <class Y>
  void accelerations(const Eigen::MatrixBase<Y>& y, params_view<scalar> theta,
                     const matrix* cotangent) {
    check_state(y);
    m_curv.evaluate(theta, y);
    const Eigen::Index n = m_half, d = 2 * n, cols = y.cols();
    const auto& g = m_curv.gradient();
    const auto& h = m_curv.hessian();
    m_acc.resize(n, cols);
    if (cotangent) m_lambda.resize(n, cols);
    for (Eigen::Index b = 0; b < cols; ++b) {
      const auto hb = h.middleCols(b * d, d);
      m_mass = hb.bottomRightCorner(n, n);
      // r = ∇_q L − (∂²L/∂q̇∂q) q̇
      m_rhs.noalias() = -hb.bottomLeftCorner(n, n) * y.col(b).tail(n);
      m_rhs += g.col(b).head(n);
      factorise(b);
      if (m_options.factorisation == mass_matrix_factorisation::lu) {
        m_acc.col(b) = m_lu.solve(m_rhs);
      } else {
        m_acc.col(b) = m_llt.llt.solve(m_rhs);
      }
      // λ = M⁻ᵀ w with the inverse the condition check formed (n × n; no transposed solve,
      // which would copy the factorisation).
      if (cotangent) m_lambda.col(b).noalias() = m_inverse.transpose() * cotangent->col(b);
    }
  }

  void factorise(Eigen::Index column) {
    if (!m_mass.allFinite() || !m_rhs.allFinite())
      throw error(
          status::non_finite,
          detail::concatenate("lagrangian_field: the Hessian or gradient of L has non-finite "
                              "entries at batch column ",
                              column));
    const Eigen::Index n = m_mass.rows();
    if (m_identity.rows() != n) m_identity = matrix::Identity(n, n);
    if (m_options.factorisation == mass_matrix_factorisation::lu) {
      m_lu.compute(m_mass);
      m_inverse = m_lu.solve(m_identity);
    } else {
      m_llt.compute(m_mass);
      if (m_llt.llt.info() != Eigen::Success)
        throw error(
            status::invalid_input,
            detail::concatenate("lagrangian_field: the velocity Hessian ∂²L/∂q̇² is not positive "
                                "definite at batch column ",
                                column,
                                " (Cholesky failed; use mass_matrix_factorisation::lu "
                                "for an indefinite but invertible one)"));
      m_inverse = m_llt.llt.solve(m_identity);
    }
    // The exact 1-norm reciprocal condition number 1/(‖M‖₁‖M⁻¹‖₁) from n solves (n is small;
    // Eigen's estimator allocates).
    const double norm = double(m_mass.cwiseAbs().colwise().sum().maxCoeff());
    const double inverse_norm = double(m_inverse.cwiseAbs().colwise().sum().maxCoeff());
    const double rcond = n == 0 ? 1.0 : 1.0 / (norm * inverse_norm);
    if (!(rcond > m_options.min_rcond))
      throw error(
          status::invalid_input,
          detail::concatenate("lagrangian_field: the velocity Hessian ∂²L/∂q̇² is singular at "
                              "batch column ",
                              column, " (reciprocal condition ", rcond, " <= ", m_options.min_rcond,
                              "): L must depend on q̇ non-degenerately to define q̈"));
  }

  // w_y = w_bᵀ ∂q̈/∂y and w_θ += w_bᵀ ∂q̈/∂θ for the cotangent w_b = w.bottomRows(n):
  // with λ = M⁻ᵀ w_b and q̈ held fixed, this is the gradient of
  //   φ = λᵀ∇_q L − λᵀ(∂²L/∂q̇∂q) q̇ − λᵀ M q̈ = cᵀ∇L − aᵀ(∇²L)b,
  // a = [0; λ], b = [q̇; q̈], c = [λ; 0], plus the explicit q̇ in b: ∇_q̇ gets −(∇²L a)_q.
  template <class Y, class W, class WY>
  void pull_acceleration(const Eigen::MatrixBase<Y>& y, params_view<scalar> theta,
                         const Eigen::MatrixBase<W>& w, WY& w_y, params_ref<scalar> w_theta) {
    check_state(y);
    if (w.rows() != y.rows() || w.cols() != y.cols())
      throw error(status::invalid_input,
                  "lagrangian_field: the cotangent must have the shape of the state");
    const Eigen::Index n = m_half, cols = y.cols();
    m_wb = w.bottomRows(n);
    accelerations(y, theta, &m_wb);
    m_dir_a.resize(2 * n, cols);
    m_dir_a.topRows(n).setZero();
    m_dir_a.bottomRows(n) = m_lambda;
    m_dir_b.resize(2 * n, cols);
    m_dir_b.topRows(n) = y.bottomRows(n);
    m_dir_b.bottomRows(n) = m_acc;
    m_dir_c.resize(2 * n, cols);
    m_dir_c.topRows(n) = m_lambda;
    m_dir_c.bottomRows(n).setZero();
    m_curv.directional_gradients(theta, y, m_dir_a, m_dir_b, m_dir_c, w_theta);
    w_y.resize(y.rows(), y.cols());
    w_y = m_curv.hessian_c() - m_curv.third_ab();
    w_y.bottomRows(n) -= m_curv.hessian_a().topRows(n);
  }

  nn::scalar_network_curvature<Net, scalar> m_curv;
  lagrangian_options m_options;
  Eigen::Index m_half = 0;
  matrix m_acc, m_lambda, m_mass, m_inverse, m_identity, m_wb, m_dir_a, m_dir_b, m_dir_c;
  Eigen::Matrix<scalar, Eigen::Dynamic, 1> m_rhs;
  Eigen::PartialPivLU<matrix> m_lu;
  detail::scratch_llt<matrix> m_llt;  // factorised again before every use
  using dual_scalar = dual<dual<scalar>>;
  using dual_workspace =
      decltype(std::declval<const Net&>().template make_workspace<dual_scalar>(Eigen::Index{1}));
  std::optional<dual_workspace> m_dual_ws;  // jvp only
  Eigen::Matrix<dual_scalar, Eigen::Dynamic, 1> m_dual_theta, m_dual_dtheta;
  Eigen::Matrix<dual_scalar, Eigen::Dynamic, Eigen::Dynamic> m_dual_dx;
};

}  // namespace nde
