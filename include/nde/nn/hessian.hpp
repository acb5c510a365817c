/// \file
/// \brief Closed-form input derivatives of a scalar network `L(x; θ)` up to third order, batched
/// over columns: value, gradient ∇ₓL and Hessian ∇²ₓL (`scalar_network_curvature::evaluate`), and
/// the θ- and x-gradients of the directional form `φ = cᵀ∇ₓL − aᵀ(∇²ₓL)b`
/// (`scalar_network_curvature::directional_gradients`), which Lagrangian (and Hamiltonian) networks
/// need for training.
///
/// The network is an `nde::nn::sequential` (or `mlp`) of `linear` layers and elementwise
/// activations with known second and third derivatives (`tanh`, `softplus`, `sigmoid`,
/// `identity`, or any activation layer with members `second_derivative(x)` and
/// `third_derivative(x)`), and a single output.
///
/// **Hessian.** For z_k = W_k h_{k−1} + b_k, h_k = σ(z_k), with J_k = ∂z_k/∂x propagated forward
/// (J' = diag(σ'(z)) W J, one GEMM per layer over the whole batch) and δ_k = ∂L/∂h_k from the
/// ordinary reverse pass,
///   ∇²ₓL = Σ_k J_kᵀ diag(δ_k ⊙ σ''(z_k)) J_k.
/// This is the forward recurrence H'_i = σ''(z_i)(WJ)_iᵀ(WJ)_i + σ'(z_i) Σ_j W_ij H_j contracted
/// with the downstream gradient, so no per-unit Hessian tensor is formed: cost per column
/// O(Σ_k m_k m_{k−1} d + m_k d²) for input size d and widths m_k, instead of O(Σ_k m_k m_{k−1} d²).
///
/// **Third order.** `directional_gradients` runs the reverse pass once in the truncated
/// polynomial algebra spanned by {1, ε₁, ε₂, ε₃, ε₁ε₂} (ε_i² = ε₁ε₃ = ε₂ε₃ = 0) with input
/// x + ε₁a + ε₂b + ε₃c; every component is a real matrix, so each product is a GEMM. This is
/// forward-over-reverse differentiation (Pearlmutter 1994) with two nested tangents; running the
/// layers' own reverse pass on `nde::dual<nde::dual<S>>` gives the same numbers (the tests check
/// it) without vectorised GEMMs. Cost: 14 GEMMs per linear layer (a plain forward + reverse pass
/// has 3).
#pragma once

#include "nde/core/status.hpp"
#include "nde/nn/activations.hpp"
#include "nde/nn/linear.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

namespace nde::nn {

/// \brief An activation layer with user-supplied second and third derivatives (members
/// `second_derivative(x)` and `third_derivative(x)` next to `value` and `derivative`).
template <class A, class S>
concept curvature_members = requires(const A& a, S x) {
  { a.second_derivative(x) } -> std::convertible_to<S>;
  { a.third_derivative(x) } -> std::convertible_to<S>;
};

/// \brief Activations whose derivatives up to third order `scalar_network_curvature` knows.
template <class A, class S>
concept curvature_activation = std::is_same_v<A, tanh_activation> ||
    std::is_same_v<A, softplus_activation> || std::is_same_v<A, sigmoid_activation> ||
    std::is_same_v<A, identity_activation> || curvature_members<A, S>;

/// \brief f(x), f'(x), f''(x), f'''(x) of a supported activation at one point.
template <class A, class S>
requires curvature_activation<A, S>
void activation_derivatives(const A& act, S x, S& f, S& d1, S& d2, S& d3) {
  using std::exp;
  if constexpr (std::is_same_v<A, tanh_activation>) {
    using std::tanh;
    const S t = tanh(x);
    f = t;
    d1 = S(1) - t * t;
    d2 = S(-2) * t * d1;
    d3 = S(-2) * d1 * (S(1) - S(3) * t * t);
  } else if constexpr (std::is_same_v<A, softplus_activation>) {
    const S s = S(1) / (S(1) + exp(-x));
    f = act.value(x);
    d1 = s;
    d2 = s * (S(1) - s);
    d3 = d2 * (S(1) - S(2) * s);
  } else if constexpr (std::is_same_v<A, sigmoid_activation>) {
    const S s = S(1) / (S(1) + exp(-x));
    f = s;
    d1 = s * (S(1) - s);
    d2 = d1 * (S(1) - S(2) * s);
    d3 = d1 * (S(1) - S(6) * s + S(6) * s * s);
  } else if constexpr (std::is_same_v<A, identity_activation>) {
    f = x;
    d1 = S(1);
    d2 = S(0);
    d3 = S(0);
  } else {
    f = act.value(x);
    d1 = act.derivative(x, f);
    d2 = static_cast<S>(act.second_derivative(x));
    d3 = static_cast<S>(act.third_derivative(x));
  }
}

namespace detail {
template <class L>
struct hessian_linear_layer : std::false_type {};
template <int In, int Out>
struct hessian_linear_layer<linear<In, Out>> : std::true_type {};
}  // namespace detail

/// \brief Input derivatives of a scalar network (see the file comment), with its own buffers.
///
/// \tparam Net an `nde::nn::sequential` / `mlp` of `linear` layers and curvature activations.
/// \tparam Scalar float or double.
/// Buffers grow to the widest batch seen, then are reused (no allocation for repeated shapes).
/// Not thread-safe: one object per thread.
template <class Net, class Scalar = double>
class scalar_network_curvature {
 public:
  using matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;  ///< Buffer type.
  static constexpr std::size_t count = Net::num_layers;  ///< Layers, activations included.
  /// \brief θ as passed in (any contiguous vector; expressions are evaluated into a temporary).
  using theta_view = Eigen::Ref<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>;
  /// \brief A writable θ-cotangent (accumulated into).
  using theta_ref = Eigen::Ref<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>;

  /// \brief Derivatives of `net` (copied).
  /// \throws nde::error (invalid_input) when the network's output width is not 1.
  explicit scalar_network_curvature(Net net) : m_net(std::move(net)) {
    check_layer_types(std::make_index_sequence<count>{});
    if (m_net.out_size() != 1)
      throw error(status::invalid_input,
                  "scalar_network_curvature: the network must have one output (a scalar such as a "
                  "Lagrangian or a Hamiltonian), it has " +
                      std::to_string(m_net.out_size()));
  }

  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }
  /// \brief Input size d.
  [[nodiscard]] Eigen::Index input_size() const { return m_net.in_size(); }

  /// \brief Value, gradient and Hessian at every column of `x` (d × B).
  /// Afterwards `value()` is 1 × B, `gradient()` d × B and `hessian()` d × (d·B), column block
  /// `[b·d, (b+1)·d)` being column b's symmetric Hessian.
  template <class X>
  void evaluate(const theta_view& theta, const Eigen::MatrixBase<X>& x) {
    check_input(theta, x.rows());
    const Eigen::Index d = x.rows(), cols = x.cols();
    m_x = x;
    m_eye.resize(d, d * cols);
    for (Eigen::Index b = 0; b < cols; ++b) m_eye.middleCols(b * d, d) = matrix::Identity(d, d);
    hessian_forward(theta, std::make_index_sequence<count>{});
    m_hessian.setZero(d, d * cols);
    m_delta[count].setOnes(1, cols);
    hessian_backward(theta, std::make_index_sequence<count>{});
    m_gradient = m_delta[0];
  }

  /// \brief L at each column of the last `evaluate` (1 × B).
  [[nodiscard]] const matrix& value() const noexcept { return m_value; }
  /// \brief ∇ₓL at each column of the last `evaluate` (d × B).
  [[nodiscard]] const matrix& gradient() const noexcept { return m_gradient; }
  /// \brief ∇²ₓL of the last `evaluate`, d × (d·B): block b is column b's Hessian.
  [[nodiscard]] const matrix& hessian() const noexcept { return m_hessian; }

  /// \brief For φ = Σ_columns [cᵀ∇ₓL − aᵀ(∇²ₓL)b] at x (a, b, c: d × B directions, held
  /// fixed): accumulates `dtheta += ∇_θ φ` and writes, per column, `grad = ∇ₓL`, `h_a = (∇²ₓL)a`,
  /// `h_b = (∇²ₓL)b`, `h_c = (∇²ₓL)c` and `t_ab = ∇ₓ(aᵀ(∇²ₓL)b) = ∇³ₓL[a, b, ·]`
  /// (the x-gradient of φ at fixed directions is `h_c − t_ab`). One reverse pass in the truncated
  /// algebra of the file comment.
  template <class X, class A, class B, class C>
  void directional_gradients(const theta_view& theta, const Eigen::MatrixBase<X>& x,
                             const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b,
                             const Eigen::MatrixBase<C>& c, theta_ref dtheta) {
    check_input(theta, x.rows());
    const Eigen::Index d = x.rows(), cols = x.cols();
    if (a.rows() != d || b.rows() != d || c.rows() != d || a.cols() != cols || b.cols() != cols ||
        c.cols() != cols)
      throw error(status::invalid_input,
                  "scalar_network_curvature: the directions a, b, c must have the shape of x");
    if (dtheta.size() != m_net.num_params())
      throw error(status::invalid_input, "scalar_network_curvature: dtheta has " +
                                             std::to_string(dtheta.size()) + " entries, expected " +
                                             std::to_string(m_net.num_params()));
    m_in[0] = x;
    m_in[1] = a;
    m_in[2] = b;
    m_in[3] = c;
    m_in[4].setZero(d, cols);
    taylor_forward(theta, std::make_index_sequence<count>{});
    m_tdelta[count][0].setOnes(1, cols);
    for (int k = 1; k < 5; ++k) m_tdelta[count][k].setZero(1, cols);
    taylor_backward(theta, dtheta, std::make_index_sequence<count>{});
  }

  /// \brief ∇ₓL from the last `directional_gradients` (d × B).
  [[nodiscard]] const matrix& taylor_gradient() const noexcept { return m_tdelta[0][0]; }
  /// \brief (∇²ₓL)a from the last `directional_gradients`.
  [[nodiscard]] const matrix& hessian_a() const noexcept { return m_tdelta[0][1]; }
  /// \brief (∇²ₓL)b from the last `directional_gradients`.
  [[nodiscard]] const matrix& hessian_b() const noexcept { return m_tdelta[0][2]; }
  /// \brief (∇²ₓL)c from the last `directional_gradients`.
  [[nodiscard]] const matrix& hessian_c() const noexcept { return m_tdelta[0][3]; }
  /// \brief ∇³ₓL[a, b, ·] from the last `directional_gradients`.
  [[nodiscard]] const matrix& third_ab() const noexcept { return m_tdelta[0][4]; }

 private:
  template <std::size_t... K>
  static constexpr void check_layer_types(std::index_sequence<K...>) {
    (check_layer_type<K>(), ...);
  }
  template <std::size_t K>
  static constexpr void check_layer_type() {
    using layer = layer_type<K>;
    static_assert(detail::hessian_linear_layer<layer>::value || curvature_activation<layer, Scalar>,
                  "scalar_network_curvature supports linear layers and the activations tanh, "
                  "softplus, sigmoid, identity, or ones with second_derivative/third_derivative");
  }
  template <std::size_t K>
  using layer_type = std::remove_cvref_t<decltype(std::declval<const Net&>().template layer<K>())>;

  template <class Theta>
  void check_input(const Eigen::MatrixBase<Theta>& theta, Eigen::Index rows) const {
    if (theta.size() != m_net.num_params())
      throw error(status::invalid_input, "scalar_network_curvature: θ has " +
                                             std::to_string(theta.size()) + " entries, expected " +
                                             std::to_string(m_net.num_params()));
    if (rows != m_net.in_size())
      throw error(status::invalid_input, "scalar_network_curvature: the input has " +
                                             std::to_string(rows) + " rows, the network expects " +
                                             std::to_string(m_net.in_size()));
  }

  template <std::size_t K, class Theta>
  auto weight(const Eigen::MatrixBase<Theta>& theta) const {
    const Eigen::Index in = K == 0 ? m_net.in_size() : m_net.layer_output_size(K - 1);
    const Eigen::Index out = m_net.layer_output_size(K);
    return Eigen::Map<const matrix>(theta.derived().data() + m_net.parameter_offset(K), out, in);
  }
  template <std::size_t K, class Theta>
  auto bias(const Eigen::MatrixBase<Theta>& theta) const {
    const Eigen::Index in = K == 0 ? m_net.in_size() : m_net.layer_output_size(K - 1);
    const Eigen::Index out = m_net.layer_output_size(K);
    return Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, 1>>(
        theta.derived().data() + m_net.parameter_offset(K) + out * in, out);
  }

  // ---- value, gradient, Hessian ----------------------------------------------------------
  template <class Theta, std::size_t... K>
  void hessian_forward(const Eigen::MatrixBase<Theta>& theta, std::index_sequence<K...>) {
    (hessian_forward_layer<K>(theta), ...);
    m_value = m_out[count - 1];
  }
  template <std::size_t K>
  const matrix& input_of() const {
    if constexpr (K == 0) {
      return m_x;
    } else {
      return m_out[K - 1];
    }
  }
  template <std::size_t K>
  const matrix& jacobian_of_input() const {
    if constexpr (K == 0) {
      return m_eye;
    } else {
      return m_jac[K - 1];
    }
  }
  template <std::size_t K, class Theta>
  void hessian_forward_layer(const Eigen::MatrixBase<Theta>& theta) {
    using layer = layer_type<K>;
    const matrix& in = input_of<K>();
    const matrix& jin = jacobian_of_input<K>();
    const Eigen::Index d = m_net.in_size(), cols = in.cols();
    if constexpr (detail::hessian_linear_layer<layer>::value) {
      const auto w = weight<K>(theta);
      m_out[K].noalias() = w * in;
      m_out[K].colwise() += bias<K>(theta);
      // The Jacobian of the network's output is not needed (only δ is).
      if (K + 1 < count) m_jac[K].noalias() = w * jin;
    } else {
      const auto& act = m_net.template layer<K>();
      m_out[K].resize(in.rows(), cols);
      m_d1[K].resize(in.rows(), cols);
      m_d2[K].resize(in.rows(), cols);
      for (Eigen::Index j = 0; j < in.size(); ++j) {
        Scalar d3;
        activation_derivatives(act, in.data()[j], m_out[K].data()[j], m_d1[K].data()[j],
                               m_d2[K].data()[j], d3);
      }
      m_jac[K].resize(in.rows(), d * cols);
      for (Eigen::Index b = 0; b < cols; ++b)
        m_jac[K].middleCols(b * d, d).noalias() =
            m_d1[K].col(b).asDiagonal() * jin.middleCols(b * d, d);
    }
  }
  template <class Theta, std::size_t... K>
  void hessian_backward(const Eigen::MatrixBase<Theta>& theta, std::index_sequence<K...>) {
    (hessian_backward_layer<count - 1 - K>(theta), ...);
  }
  template <std::size_t K, class Theta>
  void hessian_backward_layer(const Eigen::MatrixBase<Theta>& theta) {
    using layer = layer_type<K>;
    const matrix& delta = m_delta[K + 1];
    if constexpr (detail::hessian_linear_layer<layer>::value) {
      m_delta[K].noalias() = weight<K>(theta).transpose() * delta;
    } else {
      const matrix& jin = jacobian_of_input<K>();
      const Eigen::Index d = m_net.in_size(), cols = delta.cols();
      m_curv[K] = delta.cwiseProduct(m_d2[K]);
      for (Eigen::Index b = 0; b < cols; ++b) {
        const auto jb = jin.middleCols(b * d, d);
        m_scaled[K].noalias() = m_curv[K].col(b).asDiagonal() * jb;
        m_hessian.middleCols(b * d, d).noalias() += jb.transpose() * m_scaled[K];
      }
      m_delta[K] = delta.cwiseProduct(m_d1[K]);
    }
  }

  // ---- third order: the truncated-algebra reverse pass -----------------------------------
  // Component k of a quantity: 0 value, 1 ε₁, 2 ε₂, 3 ε₃, 4 ε₁ε₂.
  template <std::size_t K>
  const std::array<matrix, 5>& taylor_input_of() const {
    if constexpr (K == 0) {
      return m_in;
    } else {
      return m_tout[K - 1];
    }
  }
  template <class Theta, std::size_t... K>
  void taylor_forward(const Eigen::MatrixBase<Theta>& theta, std::index_sequence<K...>) {
    (taylor_forward_layer<K>(theta), ...);
  }
  template <std::size_t K, class Theta>
  void taylor_forward_layer(const Eigen::MatrixBase<Theta>& theta) {
    using layer = layer_type<K>;
    const auto& in = taylor_input_of<K>();
    auto& out = m_tout[K];
    if constexpr (detail::hessian_linear_layer<layer>::value) {
      const auto w = weight<K>(theta);
      for (int k = 0; k < 5; ++k) out[k].noalias() = w * in[k];
      out[0].colwise() += bias<K>(theta);
    } else {
      const auto& act = m_net.template layer<K>();
      const Eigen::Index rows = in[0].rows(), cols = in[0].cols();
      for (int k = 0; k < 5; ++k) out[k].resize(rows, cols);
      m_d1[K].resize(rows, cols);
      m_d2[K].resize(rows, cols);
      m_d3[K].resize(rows, cols);
      for (Eigen::Index j = 0; j < in[0].size(); ++j) {
        Scalar f, s1, s2, s3;
        activation_derivatives(act, in[0].data()[j], f, s1, s2, s3);
        m_d1[K].data()[j] = s1;
        m_d2[K].data()[j] = s2;
        m_d3[K].data()[j] = s3;
        const Scalar z1 = in[1].data()[j], z2 = in[2].data()[j];
        out[0].data()[j] = f;
        out[1].data()[j] = s1 * z1;
        out[2].data()[j] = s1 * z2;
        out[3].data()[j] = s1 * in[3].data()[j];
        out[4].data()[j] = s1 * in[4].data()[j] + s2 * z1 * z2;
      }
    }
  }
  template <class Theta, std::size_t... K>
  void taylor_backward(const Eigen::MatrixBase<Theta>& theta, theta_ref& dtheta,
                       std::index_sequence<K...>) {
    (taylor_backward_layer<count - 1 - K>(theta, dtheta), ...);
  }
  template <std::size_t K, class Theta>
  void taylor_backward_layer(const Eigen::MatrixBase<Theta>& theta, theta_ref& dtheta) {
    using layer = layer_type<K>;
    const auto& delta = m_tdelta[K + 1];
    auto& back = m_tdelta[K];
    const auto& in = taylor_input_of<K>();
    if constexpr (detail::hessian_linear_layer<layer>::value) {
      const auto w = weight<K>(theta);
      const Eigen::Index rows = w.rows(), inputs = w.cols();
      Scalar* base = dtheta.data() + m_net.parameter_offset(K);
      Eigen::Map<matrix> dw(base, rows, inputs);
      Eigen::Map<Eigen::Matrix<Scalar, Eigen::Dynamic, 1>> db(base + rows * inputs, rows);
      // ε₃ − ε₁ε₂ component of δ hᵀ: δ₀(h₃ − h₁₂)ᵀ + (δ₃ − δ₁₂)h₀ᵀ − δ₁h₂ᵀ − δ₂h₁ᵀ.
      m_diff_h[K] = in[3] - in[4];
      m_diff_d[K] = delta[3] - delta[4];
      dw.noalias() += delta[0] * m_diff_h[K].transpose();
      dw.noalias() += m_diff_d[K] * in[0].transpose();
      dw.noalias() -= delta[1] * in[2].transpose();
      dw.noalias() -= delta[2] * in[1].transpose();
      db += m_diff_d[K].rowwise().sum();
      for (int k = 0; k < 5; ++k) back[k].noalias() = w.transpose() * delta[k];
    } else {
      const Eigen::Index rows = in[0].rows(), cols = in[0].cols();
      for (int k = 0; k < 5; ++k) back[k].resize(rows, cols);
      for (Eigen::Index j = 0; j < in[0].size(); ++j) {
        const Scalar s1 = m_d1[K].data()[j], s2 = m_d2[K].data()[j], s3 = m_d3[K].data()[j];
        const Scalar z1 = in[1].data()[j], z2 = in[2].data()[j];
        // σ'(z̃) in the algebra.
        const Scalar e1 = s2 * z1, e2 = s2 * z2, e3 = s2 * in[3].data()[j];
        const Scalar e4 = s2 * in[4].data()[j] + s3 * z1 * z2;
        const Scalar g0 = delta[0].data()[j], g1 = delta[1].data()[j], g2 = delta[2].data()[j];
        back[0].data()[j] = s1 * g0;
        back[1].data()[j] = s1 * g1 + e1 * g0;
        back[2].data()[j] = s1 * g2 + e2 * g0;
        back[3].data()[j] = s1 * delta[3].data()[j] + e3 * g0;
        back[4].data()[j] = s1 * delta[4].data()[j] + e1 * g2 + e2 * g1 + e4 * g0;
      }
    }
  }

  Net m_net;
  matrix m_x, m_eye, m_value, m_gradient, m_hessian;
  // One buffer per layer, so that repeated calls of the same shape never reallocate.
  std::array<matrix, count> m_out, m_jac, m_d1, m_d2, m_d3, m_curv, m_scaled, m_diff_h, m_diff_d;
  std::array<matrix, count + 1> m_delta;
  std::array<matrix, 5> m_in;
  std::array<std::array<matrix, 5>, count> m_tout;
  std::array<std::array<matrix, 5>, count + 1> m_tdelta;
};

}  // namespace nde::nn
