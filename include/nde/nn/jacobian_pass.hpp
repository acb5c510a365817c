/// \file
/// \brief `nde::nn::jacobian_pass`: one batched forward-mode pass through a network `f(t, x; θ)`
/// with an input tangent `V` (giving `f` and `J V`, J = ∂f/∂x), and the reverse pass of that
/// computation with a cotangent `W` and a cotangent tangent `Ẇ`, giving
///   `Ṙ = H(W) V + Jᵀ Ẇ`,   `ġ_θ = ∂/∂θ [ d/ds W·f(x + sV) + Ẇ·f(x) ]`,   and the same for t,
/// where `H(W) = Σ_i W_i ∇²ₓ f_i` (forward-over-reverse differentiation; Pearlmutter 1994,
/// "Fast exact multiplication by the Hessian"), all per column.
///
/// This is what a continuous normalising flow needs: with V = W = ε the scalar `ε·Jε` is the
/// Hutchinson estimate of `tr J` (Hutchinson 1989; FFJORD, Grathwohl et al. 2019, eq. 7) and its
/// gradient in (x, θ, t) is the tangent part of the reverse pass; with the columns of V the unit
/// vectors e_1 … e_D (the batch replicated D times) the same pass gives the exact trace
/// `Σ_i (J e_i)_i` and its gradient in one batched pass, not D separate reverse passes.
///
/// Supported networks: `nde::nn::sequential` (or `mlp`) chains of `linear`, `concat_linear`,
/// `concat_squash_linear` (FFJORD's time-dependent layers) and elementwise activations with
/// known second derivatives (`tanh`, `softplus`, `sigmoid`, `identity`, or an activation with
/// members `second_derivative`/`third_derivative`; see `nde/nn/hessian.hpp`). Each affine layer
/// is written as `u = g(t) ⊙ (W h + b) + c(t)`; every product is a real GEMM over all columns.
///
/// Cost per call with N columns: the forward pass is 2 GEMMs per affine layer (value and
/// tangent), the reverse pass 4 (Wᵀ E, Wᵀ Ė, and the weight tangent Ė hᵀ + E ḣᵀ): about 3× a
/// plain forward + vjp. Buffers grow to the widest batch seen, then are reused.
#pragma once

#include "nde/core/status.hpp"
#include "nde/nn/activations.hpp"
#include "nde/nn/hessian.hpp"
#include "nde/nn/linear.hpp"
#include "nde/nn/time_layers.hpp"

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>

namespace nde::nn {

namespace detail {

/// 0: not an affine layer; 1: `linear` (g = 1, c = 0); 2: `concat_linear` (g = 1, c = W₀ t);
/// 3: `concat_squash_linear` (g = σ(w_g t + b_g), c = w_b t).
template <class L>
struct affine_layer_kind : std::integral_constant<int, 0> {};
template <int In, int Out>
struct affine_layer_kind<linear<In, Out>> : std::integral_constant<int, 1> {};
template <int In, int Out>
struct affine_layer_kind<concat_linear<In, Out>> : std::integral_constant<int, 2> {};
template <int In, int Out>
struct affine_layer_kind<concat_squash_linear<In, Out>> : std::integral_constant<int, 3> {};

template <class Net, std::size_t K>
using layer_type_t = std::remove_cvref_t<decltype(std::declval<const Net&>().template layer<K>())>;

template <class Net, class S, std::size_t... K>
constexpr bool jacobian_pass_layers(std::index_sequence<K...>) {
  return ((affine_layer_kind<layer_type_t<Net, K>>::value != 0 ||
           curvature_activation<layer_type_t<Net, K>, S>)&&...);
}

}  // namespace detail

/// \brief True when `jacobian_pass<Net, S>` supports `Net`: a `sequential` whose layers are all
/// `linear`, `concat_linear`, `concat_squash_linear` or curvature activations.
template <class Net, class S = double>
concept jacobian_pass_network = requires {
  Net::num_layers;
}
&&detail::jacobian_pass_layers<Net, S>(std::make_index_sequence<Net::num_layers>{});

/// \brief Forward-over-reverse pass with real matrices (see the file comment).
/// \tparam Net a `jacobian_pass_network`. \tparam S scalar (`double` or `float`).
///
/// Usage: `forward(θ, t, X, V)` then `value()` = f(X), `tangent()` = J V; then
/// `reverse(θ, t, W, Ẇ, Ṙ, ġ_θ, ġ_t)` for the same point. Not thread-safe (one per thread).
template <class Net, class S = double>
requires jacobian_pass_network<Net, S>
class jacobian_pass {
 public:
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  ///< Column batch.
  using vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;               ///< Parameter vector.

  /// \brief A pass through `net`.
  explicit jacobian_pass(Net net) : m_net(std::move(net)) {}

  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }

  /// \brief Values f(t, X) and tangents J V for the columns of X (in × N) and V (in × N).
  /// \throws nde::error (invalid_input) on a θ length or a shape that does not match.
  template <class Theta, class X, class V>
  void forward(const Eigen::MatrixBase<Theta>& theta, S t, const Eigen::MatrixBase<X>& x,
               const Eigen::MatrixBase<V>& v) {
    if (theta.size() != m_net.num_params())
      throw error(status::invalid_input, "jacobian_pass: θ has " + std::to_string(theta.size()) +
                                             " entries, the network has " +
                                             std::to_string(m_net.num_params()));
    if (x.rows() != m_net.in_size() || v.rows() != x.rows() || v.cols() != x.cols())
      throw error(status::invalid_input,
                  "jacobian_pass: x is " + std::to_string(x.rows()) + "x" +
                      std::to_string(x.cols()) + " and v is " + std::to_string(v.rows()) + "x" +
                      std::to_string(v.cols()) + "; both must have " +
                      std::to_string(m_net.in_size()) + " rows and the same columns");
    m_cols = x.cols();
    m_vt[0].resize(x.rows(), 2 * m_cols);
    m_vt[0].leftCols(m_cols) = x;
    m_vt[0].rightCols(m_cols) = v;
    forward_layers(theta, t, std::make_index_sequence<count>{});
    m_has_forward = true;
  }

  /// \brief f(t, X) from the last `forward` (out × N).
  [[nodiscard]] auto value() const { return m_vt[count].leftCols(m_cols); }
  /// \brief J V from the last `forward` (out × N).
  [[nodiscard]] auto tangent() const { return m_vt[count].rightCols(m_cols); }

  /// \brief Reverse pass at the point of the last `forward`: `rdot = H(W) V + Jᵀ Ẇ` per column
  /// (overwritten, in × N); `theta_dot += ∂/∂θ (W·J V + Ẇ·f)` summed over columns;
  /// `t_dot += ∂/∂t (W·J V + Ẇ·f)`. After it, `input_cotangent()` holds Jᵀ W.
  /// \throws nde::error (invalid_input) without a forward pass or on a shape mismatch.
  template <class Theta, class W, class WD, class RD, class GT>
  void reverse(const Eigen::MatrixBase<Theta>& theta, S t, const Eigen::MatrixBase<W>& w,
               const Eigen::MatrixBase<WD>& wdot, RD& rdot, GT&& theta_dot, S& t_dot) {
    if (!m_has_forward)
      throw error(status::invalid_input, "jacobian_pass::reverse: call forward first");
    if (w.rows() != m_net.out_size() || w.cols() != m_cols || wdot.rows() != w.rows() ||
        wdot.cols() != m_cols)
      throw error(status::invalid_input, "jacobian_pass::reverse: w and wdot must be " +
                                             std::to_string(m_net.out_size()) + "x" +
                                             std::to_string(m_cols));
    if (theta_dot.size() != m_net.num_params())
      throw error(status::invalid_input, "jacobian_pass::reverse: theta_dot has the wrong length");
    m_cot.resize(w.rows(), 2 * m_cols);
    m_cot.leftCols(m_cols) = w;
    m_cot.rightCols(m_cols) = wdot;
    reverse_layers(theta, t, theta_dot, t_dot, std::make_index_sequence<count>{});
    rdot = m_cot.rightCols(m_cols);
  }

  /// \brief Jᵀ W per column from the last `reverse` (in × N).
  [[nodiscard]] auto input_cotangent() const { return m_cot.leftCols(m_cols); }

 private:
  static constexpr std::size_t count = Net::num_layers;

  template <std::size_t K>
  using layer_t = detail::layer_type_t<Net, K>;

  template <class Theta, std::size_t... K>
  void forward_layers(const Eigen::MatrixBase<Theta>& theta, S t, std::index_sequence<K...>) {
    (forward_layer<K>(theta, t), ...);
  }
  template <class Theta, class GT, std::size_t... K>
  void reverse_layers(const Eigen::MatrixBase<Theta>& theta, S t, GT& theta_dot, S& t_dot,
                      std::index_sequence<K...>) {
    (reverse_layer<count - 1 - K>(theta, t, theta_dot, t_dot), ...);
  }

  /// Parameters of layer K: pointer to its first entry.
  template <std::size_t K, class Theta>
  const S* params_of(const Eigen::MatrixBase<Theta>& theta) const {
    return theta.derived().data() + m_net.parameter_offset(K);
  }

  template <std::size_t K, class Theta>
  void forward_layer(const Eigen::MatrixBase<Theta>& theta, S t) {
    using L = layer_t<K>;
    const Eigen::Index n = m_cols;
    const matrix& hv = m_vt[K];  // [h | ḣ]
    matrix& out = m_vt[K + 1];
    constexpr int kind = detail::affine_layer_kind<L>::value;
    if constexpr (kind != 0) {
      const auto& layer = m_net.template layer<K>();
      const Eigen::Index in = layer.input_size(), rows = layer.output_size(in);
      const S* p = params_of<K>(theta);
      // W, b and (kind 2) the time column W₀: see the layers' parameter layouts.
      const S* w_ptr = kind == 2 ? p + rows : p;
      const S* b_ptr = kind == 2 ? p + rows * (in + 1) : p + rows * in;
      Eigen::Map<const matrix> wmat(w_ptr, rows, in);
      Eigen::Map<const vector> bias(b_ptr, rows);
      vector& gate = m_gate[K];
      vector& shift = m_shift[K];
      if constexpr (kind == 3) {
        Eigen::Map<const vector> w_b(p + rows * in + rows, rows),
            w_g(p + rows * in + 2 * rows, rows), b_g(p + rows * in + 3 * rows, rows);
        gate = (w_g * t + b_g).unaryExpr(detail::activation_value_op<sigmoid_activation, S>{{}});
        shift = w_b * t;
      } else if constexpr (kind == 2) {
        gate.setOnes(rows);
        shift = Eigen::Map<const vector>(p, rows) * t;
      } else {
        gate.setOnes(rows);
        shift.setZero(rows);
      }
      // One GEMM for value and tangent: [P | Ṗ] = W [h | ḣ], P = W h + b.
      matrix& pre = m_aux[K];
      pre.noalias() = wmat * hv;
      pre.leftCols(n).colwise() += bias;
      out = gate.asDiagonal() * pre;
      out.leftCols(n).colwise() += shift;
    } else {
      const auto& act = m_net.template layer<K>();
      matrix& d = m_aux[K];  // [σ'(u) | σ''(u)]
      using A = std::remove_cvref_t<decltype(act)>;
      const auto u = hv.leftCols(n);
      out.resize(hv.rows(), 2 * n);
      d.resize(hv.rows(), 2 * n);
      auto y = out.leftCols(n);
      auto d1 = d.leftCols(n);
      auto d2 = d.rightCols(n);
      // Closed forms on whole arrays (SIMD for tanh, sigmoid, softplus through their packet
      // kernels); other activations element by element.
      if constexpr (std::is_same_v<A, tanh_activation>) {
        y = u.unaryExpr(detail::activation_value_op<A, S>{act});
        d1 = (S(1) - y.array().square()).matrix();
        d2 = (S(-2) * y.array() * d1.array()).matrix();
      } else if constexpr (std::is_same_v<A, sigmoid_activation>) {
        y = u.unaryExpr(detail::activation_value_op<A, S>{act});
        d1 = (y.array() * (S(1) - y.array())).matrix();
        d2 = (d1.array() * (S(1) - S(2) * y.array())).matrix();
      } else if constexpr (std::is_same_v<A, softplus_activation>) {
        y = u.unaryExpr(detail::activation_value_op<A, S>{act});
        d1 = u.unaryExpr(detail::activation_value_op<sigmoid_activation, S>{{}});
        d2 = (d1.array() * (S(1) - d1.array())).matrix();
      } else if constexpr (std::is_same_v<A, identity_activation>) {
        y = u;
        d1.setOnes();
        d2.setZero();
      } else {
        S f{}, s1{}, s2{}, s3{};
        for (Eigen::Index c = 0; c < n; ++c)
          for (Eigen::Index r = 0; r < u.rows(); ++r) {
            activation_derivatives(act, u(r, c), f, s1, s2, s3);
            y(r, c) = f;
            d1(r, c) = s1;
            d2(r, c) = s2;
          }
      }
      out.rightCols(n) = d1.cwiseProduct(hv.rightCols(n));
    }
  }

  template <std::size_t K, class Theta, class GT>
  void reverse_layer(const Eigen::MatrixBase<Theta>& theta, S t, GT& theta_dot, S& t_dot) {
    using L = layer_t<K>;
    constexpr int kind = detail::affine_layer_kind<L>::value;
    const Eigen::Index n = m_cols;
    // m_cot = [δ(output) | its tangent]; it becomes [δ(input) | its tangent].
    if constexpr (kind != 0) {
      const auto& layer = m_net.template layer<K>();
      const Eigen::Index in = layer.input_size(), rows = layer.output_size(in);
      const S* p = params_of<K>(theta);
      S* g = theta_dot.data() + m_net.parameter_offset(K);
      const S* w_ptr = kind == 2 ? p + rows : p;
      S* gw_ptr = kind == 2 ? g + rows : g;
      S* gb_ptr = kind == 2 ? g + rows * (in + 1) : g + rows * in;
      Eigen::Map<const matrix> wmat(w_ptr, rows, in);
      Eigen::Map<matrix> gw(gw_ptr, rows, in);
      Eigen::Map<vector> gb(gb_ptr, rows);
      const vector& gate = m_gate[K];
      // E = g ⊙ δu, Ė = g ⊙ δu̇, stored swapped as [Ė | E] so that one GEMM gives the weight
      // tangent Ė hᵀ + E ḣᵀ = [Ė | E] [h | ḣ]ᵀ and another [δḣ | δh] = Wᵀ [Ė | E].
      m_e.resize(rows, 2 * n);
      m_e.leftCols(n) = gate.asDiagonal() * m_cot.rightCols(n);
      m_e.rightCols(n) = gate.asDiagonal() * m_cot.leftCols(n);
      gw.noalias() += m_e * m_vt[K].transpose();
      gb += m_e.leftCols(n).rowwise().sum();
      if constexpr (kind == 3) {
        // δġ = Σ (δu̇ ⊙ P + δu ⊙ Ṗ); δṡ = δġ ⊙ g(1 − g); δċ = Σ δu̇.
        const matrix& pre = m_aux[K];
        m_sum = (m_cot.rightCols(n).cwiseProduct(pre.leftCols(n)) +
                 m_cot.leftCols(n).cwiseProduct(pre.rightCols(n)))
                    .rowwise()
                    .sum();
        m_sum2 = m_cot.rightCols(n).rowwise().sum();                                 // δċ
        m_sum = m_sum.cwiseProduct(gate.cwiseProduct((vector::Ones(rows) - gate)));  // δṡ
        Eigen::Map<vector> g_wb(g + rows * in + rows, rows), g_wg(g + rows * in + 2 * rows, rows),
            g_bg(g + rows * in + 3 * rows, rows);
        Eigen::Map<const vector> w_b(p + rows * in + rows, rows),
            w_g(p + rows * in + 2 * rows, rows);
        g_wb += t * m_sum2;
        g_wg += t * m_sum;
        g_bg += m_sum;
        t_dot += w_b.dot(m_sum2) + w_g.dot(m_sum);
      } else if constexpr (kind == 2) {
        m_sum2 = m_cot.rightCols(n).rowwise().sum();
        Eigen::Map<vector>(g, rows) += t * m_sum2;
        t_dot += Eigen::Map<const vector>(p, rows).dot(m_sum2);
      }
      m_next.noalias() = wmat.transpose() * m_e;  // [δḣ | δh]
      m_cot.resize(in, 2 * n);
      m_cot.leftCols(n) = m_next.rightCols(n);
      m_cot.rightCols(n) = m_next.leftCols(n);
    } else {
      // h = σ(u): δu̇ = σ''(u) u̇ δh + σ'(u) δḣ, δu = σ'(u) δh.
      const matrix& d = m_aux[K];
      const auto d1 = d.leftCols(n);
      const auto d2 = d.rightCols(n);
      const auto ud = m_vt[K].rightCols(n);
      m_cot.rightCols(n) =
          d2.cwiseProduct(ud).cwiseProduct(m_cot.leftCols(n)) + d1.cwiseProduct(m_cot.rightCols(n));
      m_cot.leftCols(n) = d1.cwiseProduct(m_cot.leftCols(n));
    }
  }

  Net m_net;
  // m_vt[0] = [x | v], m_vt[k + 1] = [output of layer k | its tangent] (rows × 2N).
  std::array<matrix, count + 1> m_vt;
  std::array<matrix, count> m_aux;    // affine: [W h + b | W ḣ]; activation: [σ'(u) | σ''(u)]
  std::array<vector, count> m_gate;   // affine: g(t)
  std::array<vector, count> m_shift;  // affine: c(t)
  matrix m_cot, m_e, m_next;          // reverse: [δ | δ̇], [Ė | E], Wᵀ[Ė | E]
  vector m_sum, m_sum2;
  Eigen::Index m_cols = 0;
  bool m_has_forward = false;
};

}  // namespace nde::nn
