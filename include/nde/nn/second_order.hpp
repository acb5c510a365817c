/// \file
/// \brief Second-order passes through scalar `nde::nn` networks `H_θ(x)` (one output row):
/// the input gradient `∇ₓH` (one reverse pass) and the forward-over-reverse pass that gives,
/// for a direction `(u, θ̇)`, the tangent of `∇ₓH`, `∇²ₓH u + ∂²H/∂x∂θ θ̇`, and the tangent of
/// `∇_θH`, `∂²H/∂θ∂x u` (Pearlmutter 1994, "Fast exact multiplication by the Hessian").
///
/// These are what a Hamiltonian network needs: its field is `J ∇ₓH`, so the field's vjp is
/// `∇²ₓH (Jᵀa)` and `∂²H/∂θ∂x (Jᵀa)`, and its jvp is the tangent of `∇ₓH` (Greydanus, Dzamba &
/// Yosinski 2019, "Hamiltonian neural networks").
///
/// Two implementations of the same pass:
/// - `second_order_pass` (fast): for chains of `linear` layers and activations
///   (`mlp`): values and tangents are kept as separate real matrices, so every linear layer is
///   a real GEMM (2 in the forward pass, 2–4 in the reverse pass, 2–4 for the weight tangents:
///   about 4× a first-order vjp) and only the elementwise activations run on `nde::dual`
///   scalars (their second derivative comes from the dual tangent of `derivative(x, y)`).
/// - `dual_second_order` (any layer following the `sequential` protocol): the network's own
///   `vjp` run on `nde::dual` numbers; slower (Eigen's scalar product kernels) but general,
///   and an independent reference for the fast pass.
///
/// Batches: the columns of `x` are samples of one shared θ; input-shaped results are per
/// column, parameter-shaped results are summed over the columns.
#pragma once

#include "nde/core/dual.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/activations.hpp"
#include "nde/nn/linear.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace nde::nn {

namespace detail {

template <class L>
struct is_linear_layer : std::false_type {};
template <int In, int Out>
struct is_linear_layer<linear<In, Out>> : std::true_type {};

/// An activation whose `derivative` can be evaluated on dual numbers (so its second
/// derivative is the dual tangent).
template <class L, class S>
concept dual_differentiable_activation = std::is_base_of_v<activation_layer<L>, L> &&
    requires(const L& l, const nde::dual<S>& x) {
  { l.value(x) } -> std::convertible_to<nde::dual<S>>;
  { l.derivative(x, x) } -> std::convertible_to<nde::dual<S>>;
};

template <class Net, class S, std::size_t... K>
constexpr bool fast_path_layers(std::index_sequence<K...>) {
  return (
      (is_linear_layer<
           std::remove_cvref_t<decltype(std::declval<const Net&>().template layer<K>())>>::value ||
       dual_differentiable_activation<
           std::remove_cvref_t<decltype(std::declval<const Net&>().template layer<K>())>, S>)&&...);
}

/// Throws unless `net` maps to one output row (a scalar function such as a Hamiltonian).
template <class Net>
void check_scalar_network(const Net& net, const char* who) {
  if (net.out_size() != 1)
    throw nde::error(status::invalid_input,
                     std::string(who) +
                         ": the network must have one output (a scalar function "
                         "such as a Hamiltonian), but it has " +
                         std::to_string(net.out_size()));
}

}  // namespace detail

/// \brief True when `second_order_pass<Net, S>` applies: every layer of `Net` is a `linear`
/// layer or an activation whose derivative runs on `nde::dual<S>` (all built-in ones).
template <class Net, class S>
inline constexpr bool has_fast_second_order =
    detail::fast_path_layers<Net, S>(std::make_index_sequence<Net::num_layers>{});

/// \brief Input gradient of a scalar network: `g.col(j) = ∇ₓH(x.col(j))` (one forward and one
/// reverse pass; ∇_θH is not formed). `ws` is the network's workspace for `x`'s column count;
/// `dtheta_scratch` a vector of `num_params()` entries (its content is destroyed).
/// \throws nde::error (invalid_input) if the network has more than one output, or on shapes.
template <class Net, class X, class G, class Workspace, class Scratch>
void input_gradient(
    const Net& net,
    const Eigen::Ref<const Eigen::Matrix<typename X::Scalar, Eigen::Dynamic, 1>>& theta,
    const Eigen::MatrixBase<X>& x, G& g, Workspace& ws, Scratch& dtheta_scratch) {
  using S = typename X::Scalar;
  detail::check_scalar_network(net, "input_gradient");
  dtheta_scratch.resize(net.num_params());
  const Eigen::Matrix<S, 1, Eigen::Dynamic> ones =
      Eigen::Matrix<S, 1, Eigen::Dynamic>::Ones(x.cols());
  net.vjp(theta, x, ones, g, dtheta_scratch, ws);
}

/// \brief Forward-over-reverse through a chain of `linear` layers and activations (an `mlp`)
/// with a scalar output, in real arithmetic (see the file comment).
///
/// Owns its buffers (they grow to the widest batch seen, then are reused). Not thread-safe:
/// one object per thread.
/// \tparam Net a `sequential`/`mlp` for which `has_fast_second_order<Net, S>` holds.
/// \tparam S float or double.
template <class Net, class S>
class second_order_pass {
  static_assert(has_fast_second_order<Net, S>,
                "second_order_pass needs a chain of nde::nn::linear layers and activations "
                "(use dual_second_order for other layers)");
  static constexpr std::size_t count = Net::num_layers;
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;

 public:
  /// \brief Passes through `net` (copied; the network is small and stateless).
  explicit second_order_pass(Net net) : m_net(std::move(net)) {
    detail::check_scalar_network(m_net, "second_order_pass");
    m_value.resize(count + 1);
    m_tangent.resize(count + 1);
    m_dvalue.resize(count);
    m_dtangent.resize(count);
  }

  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }

  /// \brief The pass at `x` (columns = samples) in direction `u` (same shape as `x`) and
  /// parameter direction `theta_dot` (or none for θ̇ = 0). Results (any may be null):
  /// - `h`: `H(x)`, one entry per column (1 × B);
  /// - `g`: `∇ₓH(x)` (shape of x);
  /// - `g_dot`: `∇²ₓH u + ∂²H/∂x∂θ θ̇` (shape of x, overwritten);
  /// - `dtheta_dot`: `+= Σ_columns ∂²H/∂θ∂x u + ∂²H/∂θ² θ̇` (the tangent of `∇_θH`; accumulated).
  /// Cost about 4 first-order vjps.
  /// \throws nde::error (invalid_input) on mismatching shapes.
  template <class X, class U>
  void run(const Eigen::Ref<const vector>& theta, const vector* theta_dot,
           const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<U>& u, matrix* h, matrix* g,
           matrix* g_dot, Eigen::Ref<vector>* dtheta_dot) {
    check(theta, x, u);
    if (theta_dot && theta_dot->size() != m_net.num_params())
      throw nde::error(status::invalid_input,
                       "second_order_pass: theta_dot has " + std::to_string(theta_dot->size()) +
                           " entries, expected " + std::to_string(m_net.num_params()));
    if (dtheta_dot && dtheta_dot->size() != m_net.num_params())
      throw nde::error(status::invalid_input,
                       "second_order_pass: dtheta_dot has " + std::to_string(dtheta_dot->size()) +
                           " entries, expected " + std::to_string(m_net.num_params()));
    const Eigen::Index n = x.cols();
    m_value[0] = x;
    m_tangent[0] = u;
    // Forward: values X_k and tangents Ẋ_k of each layer's output.
    for_each_layer([&](auto k) {
      constexpr std::size_t K = k();
      const auto& layer = m_net.template layer<K>();
      using L = std::remove_cvref_t<decltype(layer)>;
      if constexpr (detail::is_linear_layer<L>::value) {
        const auto seg = segment<K>(theta);
        const auto w = layer.weight(seg);
        m_value[K + 1].noalias() = w * m_value[K];
        m_value[K + 1].colwise() += layer.bias(seg);
        m_tangent[K + 1].noalias() = w * m_tangent[K];
        if (theta_dot) {
          const auto seg_dot = segment<K>(*theta_dot);
          m_tangent[K + 1].noalias() += layer.weight(seg_dot) * m_value[K];
          m_tangent[K + 1].colwise() += layer.bias(seg_dot);
        }
      } else {
        const matrix& xv = m_value[K];
        const matrix& xt = m_tangent[K];
        m_value[K + 1].resize(xv.rows(), n);
        m_tangent[K + 1].resize(xv.rows(), n);
        m_dvalue[K].resize(xv.rows(), n);
        m_dtangent[K].resize(xv.rows(), n);
        for (Eigen::Index j = 0; j < xv.size(); ++j) {
          const dual<S> xd{xv.data()[j], xt.data()[j]};
          const dual<S> yd = layer.value(xd);
          const dual<S> dd = layer.derivative(xd, yd);  // σ'(x) + ε σ''(x) ẋ
          m_value[K + 1].data()[j] = yd.value;
          m_tangent[K + 1].data()[j] = yd.tangent;
          m_dvalue[K].data()[j] = dd.value;
          m_dtangent[K].data()[j] = dd.tangent;
        }
      }
    });
    if (h) *h = m_value[count];
    // Reverse: cotangents G_k (seeded with 1 at the output) and their tangents Ġ_k.
    m_g.setOnes(1, n);
    m_g_dot.setZero(1, n);
    for_each_layer_reversed([&](auto k) {
      constexpr std::size_t K = k();
      const auto& layer = m_net.template layer<K>();
      using L = std::remove_cvref_t<decltype(layer)>;
      if constexpr (detail::is_linear_layer<L>::value) {
        const auto seg = segment<K>(theta);
        const auto w = layer.weight(seg);
        if (dtheta_dot) {
          // d/dε of the weight gradient G Xᵀ and of the bias gradient (row sums of G); the
          // layer's segment is the {out, in} weight (column-major), then the bias.
          S* out = dtheta_dot->data() + m_net.parameter_offset(K);
          const Eigen::Index rows = w.rows(), cols = w.cols();
          Eigen::Map<matrix> dw(out, rows, cols);
          dw.noalias() += m_g_dot * m_value[K].transpose();
          dw.noalias() += m_g * m_tangent[K].transpose();
          Eigen::Map<vector>(out + rows * cols, rows) += m_g_dot.rowwise().sum();
        }
        if (K == 0 && !g && !g_dot) return;
        m_next_dot.noalias() = w.transpose() * m_g_dot;
        if (theta_dot)
          m_next_dot.noalias() += layer.weight(segment<K>(*theta_dot)).transpose() * m_g;
        m_next.noalias() = w.transpose() * m_g;
      } else {
        m_next_dot = m_g_dot.cwiseProduct(m_dvalue[K]) + m_g.cwiseProduct(m_dtangent[K]);
        m_next = m_g.cwiseProduct(m_dvalue[K]);
      }
      m_g.swap(m_next);
      m_g_dot.swap(m_next_dot);
    });
    if (g) *g = m_g;
    if (g_dot) *g_dot = m_g_dot;
  }

  /// \brief `hu = ∇²ₓH u` (per column, overwritten) and `dtheta += Σ_columns ∂²H/∂θ∂x u`;
  /// optionally `g = ∇ₓH`. This is the vjp of the input gradient with cotangent `u`.
  template <class X, class U>
  void gradient_vjp(const Eigen::Ref<const vector>& theta, const Eigen::MatrixBase<X>& x,
                    const Eigen::MatrixBase<U>& u, matrix& hu, Eigen::Ref<vector> dtheta,
                    matrix* g = nullptr) {
    run(theta, nullptr, x, u, nullptr, g, &hu, &dtheta);
  }

  /// \brief `g_dot = ∇²ₓH u + ∂²H/∂x∂θ θ̇`: the jvp of the input gradient; optionally `g = ∇ₓH`.
  template <class X, class U>
  void gradient_jvp(const Eigen::Ref<const vector>& theta, const vector& theta_dot,
                    const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<U>& u, matrix& g_dot,
                    matrix* g = nullptr) {
    run(theta, &theta_dot, x, u, nullptr, g, &g_dot, nullptr);
  }

  /// \brief `g = ∇ₓH` (and optionally `h = H`): first order only (one GEMM per linear layer
  /// forward and one backward; no weight gradient is formed).
  template <class X>
  void gradient(const Eigen::Ref<const vector>& theta, const Eigen::MatrixBase<X>& x, matrix& g,
                matrix* h = nullptr) {
    check(theta, x, x);
    const Eigen::Index n = x.cols();
    m_value[0] = x;
    for_each_layer([&](auto k) {
      constexpr std::size_t K = k();
      const auto& layer = m_net.template layer<K>();
      using L = std::remove_cvref_t<decltype(layer)>;
      if constexpr (detail::is_linear_layer<L>::value) {
        const auto seg = segment<K>(theta);
        m_value[K + 1].noalias() = layer.weight(seg) * m_value[K];
        m_value[K + 1].colwise() += layer.bias(seg);
      } else {
        const matrix& xv = m_value[K];
        m_value[K + 1].resize(xv.rows(), n);
        m_dvalue[K].resize(xv.rows(), n);
        for (Eigen::Index j = 0; j < xv.size(); ++j) {
          const S y = layer.value(xv.data()[j]);
          m_value[K + 1].data()[j] = y;
          m_dvalue[K].data()[j] = layer.derivative(xv.data()[j], y);
        }
      }
    });
    if (h) *h = m_value[count];
    m_g.setOnes(1, n);
    for_each_layer_reversed([&](auto k) {
      constexpr std::size_t K = k();
      const auto& layer = m_net.template layer<K>();
      using L = std::remove_cvref_t<decltype(layer)>;
      if constexpr (detail::is_linear_layer<L>::value) {
        m_next.noalias() = layer.weight(segment<K>(theta)).transpose() * m_g;
      } else {
        m_next = m_g.cwiseProduct(m_dvalue[K]);
      }
      m_g.swap(m_next);
    });
    g = m_g;
  }

 private:
  template <std::size_t K>
  auto segment(const Eigen::Ref<const vector>& theta) const {
    const Eigen::Index offset = m_net.parameter_offset(K);
    const Eigen::Index size =
        (K + 1 < count ? m_net.parameter_offset(K + 1) : m_net.num_params()) - offset;
    return theta.segment(offset, size);
  }
  template <class X, class U>
  void check(const Eigen::Ref<const vector>& theta, const Eigen::MatrixBase<X>& x,
             const Eigen::MatrixBase<U>& u) const {
    if (theta.size() != m_net.num_params())
      throw nde::error(status::invalid_input,
                       "second_order_pass: theta has " + std::to_string(theta.size()) +
                           " entries, the network has " + std::to_string(m_net.num_params()));
    if (x.rows() != m_net.in_size())
      throw nde::error(status::invalid_input,
                       "second_order_pass: x has " + std::to_string(x.rows()) +
                           " rows, the network expects " + std::to_string(m_net.in_size()));
    if (u.rows() != x.rows() || u.cols() != x.cols())
      throw nde::error(status::invalid_input,
                       "second_order_pass: the direction u must have the shape of x");
  }
  template <class F>
  static void for_each_layer(F&& f) {
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (f(std::integral_constant<std::size_t, K>{}), ...);
    }
    (std::make_index_sequence<count>{});
  }
  template <class F>
  static void for_each_layer_reversed(F&& f) {
    [&]<std::size_t... K>(std::index_sequence<K...>) {
      (f(std::integral_constant<std::size_t, count - 1 - K>{}), ...);
    }
    (std::make_index_sequence<count>{});
  }

  Net m_net;
  std::vector<matrix> m_value, m_tangent;    // layer outputs: X_k, Ẋ_k (k = 0 is the input)
  std::vector<matrix> m_dvalue, m_dtangent;  // activations: σ'(X_k) and its tangent
  matrix m_g, m_g_dot, m_next, m_next_dot;
};

/// \brief The same second-order pass for any `sequential` network, by running its `vjp` on
/// `nde::dual<S>` numbers (forward-over-reverse). General but slower than
/// `second_order_pass`; the tests use it as an independent reference.
template <class Net, class S>
class dual_second_order {
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  using dmatrix = Eigen::Matrix<dual<S>, Eigen::Dynamic, Eigen::Dynamic>;
  using dvector = Eigen::Matrix<dual<S>, Eigen::Dynamic, 1>;
  using workspace_type =
      decltype(std::declval<const Net&>().template make_workspace<dual<S>>(Eigen::Index{1}));

 public:
  /// \brief Passes through `net`.
  explicit dual_second_order(Net net) : m_net(std::move(net)) {
    detail::check_scalar_network(m_net, "dual_second_order");
  }

  /// \brief As `second_order_pass::run` (without `h`): `g = ∇ₓH`, `g_dot` its tangent along
  /// `(u, θ̇)`, `dtheta_dot += ` the tangent of `Σ_columns ∇_θH`.
  template <class X, class U>
  void run(const Eigen::Ref<const vector>& theta, const vector* theta_dot,
           const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<U>& u, matrix* g, matrix* g_dot,
           Eigen::Ref<vector>* dtheta_dot) {
    if (u.rows() != x.rows() || u.cols() != x.cols())
      throw nde::error(status::invalid_input,
                       "dual_second_order: the direction u must have the shape of x");
    if (!m_ws || m_ws->capacity() < x.cols())
      m_ws.emplace(m_net.template make_workspace<dual<S>>(x.cols()));
    m_theta.resize(theta.size());
    for (Eigen::Index k = 0; k < theta.size(); ++k)
      m_theta[k] = {theta[k], theta_dot ? (*theta_dot)[k] : S(0)};
    m_x.resize(x.rows(), x.cols());
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      for (Eigen::Index i = 0; i < x.rows(); ++i) m_x(i, j) = {x(i, j), u(i, j)};
    const dmatrix ones = dmatrix::Constant(1, x.cols(), dual<S>(S(1)));
    m_dtheta.setZero(theta.size());
    m_net.vjp(m_theta, m_x, ones, m_dx, m_dtheta, *m_ws);
    if (g) *g = m_dx.unaryExpr([](const dual<S>& d) { return d.value; });
    if (g_dot) *g_dot = m_dx.unaryExpr([](const dual<S>& d) { return d.tangent; });
    if (dtheta_dot) *dtheta_dot += m_dtheta.unaryExpr([](const dual<S>& d) { return d.tangent; });
  }

  /// \brief As `second_order_pass::gradient_vjp`.
  template <class X, class U>
  void gradient_vjp(const Eigen::Ref<const vector>& theta, const Eigen::MatrixBase<X>& x,
                    const Eigen::MatrixBase<U>& u, matrix& hu, Eigen::Ref<vector> dtheta,
                    matrix* g = nullptr) {
    run(theta, nullptr, x, u, g, &hu, &dtheta);
  }
  /// \brief As `second_order_pass::gradient_jvp`.
  template <class X, class U>
  void gradient_jvp(const Eigen::Ref<const vector>& theta, const vector& theta_dot,
                    const Eigen::MatrixBase<X>& x, const Eigen::MatrixBase<U>& u, matrix& g_dot,
                    matrix* g = nullptr) {
    run(theta, &theta_dot, x, u, g, &g_dot, nullptr);
  }
  /// \brief `g = ∇ₓH` (this pass does not form the value `h`: pass null).
  /// \throws nde::error (invalid_input) if `h` is not null.
  template <class X>
  void gradient(const Eigen::Ref<const vector>& theta, const Eigen::MatrixBase<X>& x, matrix& g,
                matrix* h = nullptr) {
    if (h) throw nde::error(status::invalid_input, "dual_second_order::gradient: h is not formed");
    m_zero.setZero(x.rows(), x.cols());
    run(theta, nullptr, x, m_zero, &g, nullptr, nullptr);
  }

 private:
  Net m_net;
  std::optional<workspace_type> m_ws;
  dvector m_theta, m_dtheta;
  dmatrix m_x, m_dx;
  matrix m_zero;
};

/// \brief The second-order pass for `Net` in scalar `S`: `second_order_pass` where it applies
/// (linear layers and activations), `dual_second_order` otherwise. Both have `gradient`,
/// `gradient_vjp` and `gradient_jvp`.
template <class Net, class S>
using second_order_pass_for =
    std::conditional_t<has_fast_second_order<Net, S>, second_order_pass<Net, S>,
                       dual_second_order<Net, S>>;

}  // namespace nde::nn
