/// \file
/// \brief `nde::nn::sequential`: a chain of layers with one flat parameter vector, a
/// caller-owned workspace, and a hand-written reverse pass (vector–Jacobian product).
///
/// \code
/// nde::nn::sequential net{nde::nn::linear<2, 50>{}, nde::nn::tanh_activation{},
///                         nde::nn::linear<50, 2>{}};
/// Eigen::VectorXd theta(net.num_params());  // owned by the caller (or an optimiser)
/// auto ws = net.make_workspace<double>();   // one vector; make_workspace<double>(B) for B columns
/// Eigen::Vector2d x(1, 2), y, dy(1, 0), dx;
/// Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
/// net.forward(theta, x, y, ws);                // y = net(x)
/// net.backward(theta, x, dy, dx, dtheta, ws);  // reuses the forward values in ws
/// \endcode
///
/// **Parameter naming.** `layout()` names blocks `"<k>.<name>"` where `k` counts every
/// layer, activations included, exactly like PyTorch's `nn.Sequential` `state_dict`
/// (`"0.weight"`, `"0.bias"`, `"2.weight"`, ... for Linear–Tanh–Linear). Weights are
/// `{out, in}` blocks stored column-major: the same logical `{out, in}` matrix as PyTorch's,
/// only the byte order differs (PyTorch's is row-major), and `.npy` headers record which (see
/// docs/parameter-files.md). Blocks are contiguous in layer order.
///
/// **Layer protocol** (what a layer type provides; see `linear`, `activation_layer`):
/// `size_preserving`, `input_rows_at_compile_time`, `output_rows_at_compile_time(int)`,
/// `cache_rows_at_compile_time(int)`, `input_size()`, `output_size(in)`, `cache_size(in)`,
/// `num_params()`, `append_layout(layout, prefix, offset)`,
/// `forward(theta, t, x, y, cache)` and
/// `backward(theta, t, x, y, cache, dy, dx, dtheta, dt)` (writes dx, accumulates dtheta and dt).
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/detail/layer_support.hpp"

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace nde::nn {

/// \brief A chain `y = f_{N-1}(… f_1(f_0(t, x)) …)` of layers sharing one parameter vector.
///
/// Stateless and `const`: all buffers live in a workspace from `make_workspace`, so one
/// network serves many solver stages and threads (one workspace per thread).
/// Compile-time layer sizes propagate to the workspace buffers, so a fixed-size network
/// evaluated on one vector uses only the stack.
///
/// \tparam Layers layer types (`linear`, activations, `elementwise`, `concat_linear`,
///         `concat_squash_linear`, or any type following the layer protocol above).
template <class... Layers>
class sequential {
  static_assert(sizeof...(Layers) > 0, "nde::nn::sequential needs at least one layer");
  static_assert((!Layers::size_preserving || ...),
                "nde::nn::sequential needs at least one layer with a definite input size (e.g. a "
                "linear layer)");

 public:
  /// \brief Number of layers, activations included.
  static constexpr std::size_t num_layers = sizeof...(Layers);

 private:
  using layer_tuple = std::tuple<Layers...>;
  static constexpr std::size_t count = num_layers;

  static constexpr int first_input_rows() {
    int rows = Eigen::Dynamic;
    bool found = false;
    (
        [&] {
          if (!found && !Layers::size_preserving) {
            rows = Layers::input_rows_at_compile_time;
            found = true;
          }
        }(),
        ...);
    return rows;
  }

 public:
  /// \brief Rows of the input, of each layer's output, and of each layer's cache, known at
  /// compile time (`Eigen::Dynamic` where not).
  static constexpr std::array<int, count + 1> rows_at_compile_time = [] {
    std::array<int, count + 1> rows{};
    rows[0] = first_input_rows();
    std::size_t k = 0;
    ((rows[k + 1] = Layers::output_rows_at_compile_time(rows[k]), ++k), ...);
    return rows;
  }();
  /// \brief Cache rows of each layer at compile time (`Eigen::Dynamic` where not known).
  static constexpr std::array<int, count> cache_rows_at_compile_time = [] {
    std::array<int, count> rows{};
    std::size_t k = 0;
    ((rows[k] = Layers::cache_rows_at_compile_time(rows_at_compile_time[k]), ++k), ...);
    return rows;
  }();
  /// \brief Rows of the network input at compile time (`Eigen::Dynamic` where not known).
  static constexpr int input_rows = rows_at_compile_time[0];
  /// \brief Rows of the network output at compile time (`Eigen::Dynamic` where not known).
  static constexpr int output_rows = rows_at_compile_time[count];

 private:
  static constexpr bool sizes_agree = [] {
    bool agree = true;
    std::size_t k = 0;
    ((agree = agree &&
              (Layers::size_preserving || Layers::input_rows_at_compile_time == Eigen::Dynamic ||
               rows_at_compile_time[k] == Eigen::Dynamic ||
               Layers::input_rows_at_compile_time == rows_at_compile_time[k]),
      ++k),
     ...);
    return agree;
  }();
  static_assert(
      sizes_agree,
      "nde::nn::sequential: a layer's input size differs from the previous layer's output size");

 public:
  /// \brief Buffers for one evaluation: each layer's output, its cotangent and its cache.
  ///
  /// Opaque to users; obtain one from `make_workspace`. Holds the forward values of the last
  /// `forward` call, which `backward` reuses.
  /// \tparam Scalar the scalar the network is evaluated in.
  /// \tparam Columns 1 (one vector; fixed sizes live on the stack) or `Eigen::Dynamic` (a
  ///         batch of up to `capacity()` columns).
  template <class Scalar, int Columns>
  class workspace {
    template <std::size_t... K>
    static auto value_types(std::index_sequence<K...>)
        -> std::tuple<Eigen::Matrix<Scalar, rows_at_compile_time[K + 1], Columns>...>;
    template <std::size_t... K>
    static auto cache_types(std::index_sequence<K...>)
        -> std::tuple<Eigen::Matrix<Scalar, cache_rows_at_compile_time[K], Columns>...>;

   public:
    /// \brief Scalar the buffers hold.
    using scalar = Scalar;
    /// \brief The network type this workspace belongs to.
    using network = sequential;
    /// \brief `Columns`: 1 for one vector, `Eigen::Dynamic` for a batch.
    static constexpr int columns_at_compile_time = Columns;

    /// \brief Largest batch this workspace serves.
    [[nodiscard]] Eigen::Index capacity() const { return m_capacity; }

    /// \brief Each layer's output from the last `forward` (a tuple, one matrix per layer).
    decltype(value_types(std::make_index_sequence<count>{})) values;
    /// \brief Each layer's output cotangent during `backward` (same shapes as `values`).
    decltype(value_types(std::make_index_sequence<count>{})) cotangents;
    /// \brief Each layer's cache (rows `cache_rows_at_compile_time[k]`; empty for most layers).
    decltype(cache_types(std::make_index_sequence<count>{})) caches;
    /// \brief Number of columns the buffers are allocated for (see `capacity()`).
    Eigen::Index m_capacity = 0;
    Eigen::Index m_columns = 0;  ///< Columns of the last forward pass.
    bool m_has_forward = false;  ///< Whether `values` hold a forward pass.
  };

  /// \brief Builds the chain. Runtime sizes are checked: each layer's input size must equal
  /// the previous layer's output size.
  /// \throws nde::error (invalid_input) naming the first mismatching layer.
  explicit sequential(Layers... layers) : m_layers(std::move(layers)...) { compute_sizes(); }

  /// \brief Builds the chain from a tuple of layers (used by `mlp`).
  explicit sequential(std::in_place_t, std::tuple<Layers...> layers) : m_layers(std::move(layers)) {
    compute_sizes();
  }

  /// \brief Input size of the network (rows of `x`).
  [[nodiscard]] Eigen::Index in_size() const { return m_sizes[0]; }
  /// \brief Output size of the network (rows of `y`).
  [[nodiscard]] Eigen::Index out_size() const { return m_sizes[count]; }
  /// \brief Length of the flat parameter vector: the sum over layers.
  [[nodiscard]] Eigen::Index num_params() const { return m_offsets[count]; }
  /// \brief Output size of layer `k` (input size for `k = -1` is `in_size()`).
  [[nodiscard]] Eigen::Index layer_output_size(std::size_t k) const { return m_sizes[k + 1]; }
  /// \brief First index of layer `k`'s parameters in the flat vector.
  [[nodiscard]] Eigen::Index parameter_offset(std::size_t k) const { return m_offsets[k]; }

  /// \brief Layer `K` (e.g. to read a weight: `net.layer<0>().weight(theta.segment(...))`).
  template <std::size_t K>
  [[nodiscard]] const auto& layer() const {
    return std::get<K>(m_layers);
  }

  /// \brief Named blocks of the flat parameter vector (PyTorch `nn.Sequential` names).
  [[nodiscard]] parameter_layout layout() const {
    parameter_layout result;
    for_each_layer([&](auto k) {
      std::get<k()>(m_layers).append_layout(result, std::to_string(k()) + ".",
                                            std::int64_t(m_offsets[k()]));
    });
    return result;
  }

  /// \brief Workspace for single vectors (`x` with one column). Allocates only for
  /// `Eigen::Dynamic` sizes, once.
  template <class Scalar = double>
  [[nodiscard]] workspace<Scalar, 1> make_workspace() const {
    return allocate<Scalar, 1>(1);
  }
  /// \brief Workspace for batches of up to `batch` columns.
  template <class Scalar = double>
  [[nodiscard]] workspace<Scalar, Eigen::Dynamic> make_workspace(Eigen::Index batch) const {
    if (batch < 0) throw nde::error(status::invalid_input, "make_workspace: negative batch size");
    return allocate<Scalar, Eigen::Dynamic>(batch);
  }

  /// \brief `y = net(x)` for an autonomous network (layers that read time see t = 0).
  /// \param params the flat parameter vector (size `num_params()`; any contiguous vector,
  ///        e.g. `big.segment(offset, n)`, an `Eigen::Map` or `Eigen::Ref`; not copied).
  /// \param x input, `in_size()` rows and one column per sample.
  /// \param y output, resized if it is a plain matrix, else must have the right shape.
  /// \param ws workspace; afterwards it holds this evaluation for `backward`.
  /// Does not allocate once `y` has its size, with one exception: Eigen's GEMM packs large
  /// operands into a buffer that lives on the stack only up to `EIGEN_STACK_ALLOCATION_LIMIT`
  /// (128 KB) and on the heap beyond (e.g. a 256×256 layer on a batch of 128); define that
  /// macro larger (1 MB suffices there) before including Eigen to stay allocation-free.
  /// Cost: one GEMM per linear layer.
  template <class Params, class X, class Y, class Workspace>
  void forward(const Eigen::MatrixBase<Params>& params, const Eigen::MatrixBase<X>& x, Y&& y,
               Workspace& ws) const {
    forward(params, typename X::Scalar(0), x, std::forward<Y>(y), ws);
  }

  /// \brief `y = net(t, x)`: time-dependent layers (`concat_linear`, `concat_squash_linear`)
  /// read `t`; every column of a batch shares it.
  template <class Params, class Time, class X, class Y, class Workspace>
  void forward(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
               Y&& y, Workspace& ws) const {
    run_forward(params, t, x, ws);
    detail::prepare_output(y, out_size(), ws.m_columns, "y");
    detail::as_mutable(y) = active(std::get<count - 1>(ws.values), ws.m_columns);
  }

  /// \brief Reverse pass reusing the forward values in `ws`: `dx = (∂y/∂x)ᵀ dy` (overwritten)
  /// and `dparams += (∂y/∂θ)ᵀ dy` (accumulated).
  ///
  /// Precondition: the last `forward` with `ws` used the same `params`, `t` and `x` (only the
  /// column count is checked). Costs about two forward passes; nothing is recomputed.
  /// \throws nde::error (invalid_input) if `ws` holds no forward pass or shapes disagree.
  template <class Params, class X, class DY, class DX, class DParams, class Workspace>
  void backward(const Eigen::MatrixBase<Params>& params, const Eigen::MatrixBase<X>& x,
                const Eigen::MatrixBase<DY>& dy, DX&& dx, DParams&& dparams, Workspace& ws) const {
    typename X::Scalar dt{};
    backward(params, typename X::Scalar(0), x, dy, std::forward<DX>(dx),
             std::forward<DParams>(dparams), dt, ws);
  }
  /// \brief Time-dependent reverse pass (see the autonomous overload).
  template <class Params, class Time, class X, class DY, class DX, class DParams, class Workspace>
  void backward(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
                const Eigen::MatrixBase<DY>& dy, DX&& dx, DParams&& dparams, Workspace& ws) const {
    typename X::Scalar dt{};
    backward(params, t, x, dy, std::forward<DX>(dx), std::forward<DParams>(dparams), dt, ws);
  }
  /// \brief Time-dependent reverse pass that also accumulates `dt += (∂y/∂t)ᵀ dy` (summed over
  /// the batch, whose columns share `t`).
  template <class Params, class Time, class X, class DY, class DX, class DParams, class Workspace>
  void backward(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
                const Eigen::MatrixBase<DY>& dy, DX&& dx, DParams&& dparams, typename X::Scalar& dt,
                Workspace& ws) const {
    check_workspace<Params, X, Workspace>();
    if (!ws.m_has_forward || ws.m_columns != x.cols()) {
      throw nde::error(status::invalid_input,
                       "backward: the workspace holds no forward pass for an input with " +
                           std::to_string(x.cols()) + " columns (call forward first, or use vjp)");
    }
    check_params(params, "params");
    detail::check_shape(x.rows(), x.cols(), in_size(), ws.m_columns, "x");
    detail::check_shape(dy.rows(), dy.cols(), out_size(), ws.m_columns, "dy");
    detail::check_shape(dparams.rows() * dparams.cols(), 1, num_params(), 1, "dparams");
    static_assert(
        detail::is_contiguous_vector<DParams>,
        "dparams must be a contiguous vector (a vector, a segment of one, a Map or a Ref)");
    detail::prepare_output(dx, in_size(), ws.m_columns, "dx");
    run_backward(params, t, x, dy, dx, dparams, dt, ws);
  }

  /// \brief Vector–Jacobian product from scratch: runs `forward` into `ws` (its output is not
  /// returned), then `backward`. Use `forward` + `backward` when `y` is needed too.
  template <class Params, class X, class DY, class DX, class DParams, class Workspace>
  void vjp(const Eigen::MatrixBase<Params>& params, const Eigen::MatrixBase<X>& x,
           const Eigen::MatrixBase<DY>& dy, DX&& dx, DParams&& dparams, Workspace& ws) const {
    run_forward(params, typename X::Scalar(0), x, ws);
    backward(params, x, dy, std::forward<DX>(dx), std::forward<DParams>(dparams), ws);
  }
  /// \brief Time-dependent `vjp` (without the time cotangent).
  template <class Params, class Time, class X, class DY, class DX, class DParams, class Workspace>
  void vjp(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
           const Eigen::MatrixBase<DY>& dy, DX&& dx, DParams&& dparams, Workspace& ws) const {
    run_forward(params, t, x, ws);
    backward(params, t, x, dy, std::forward<DX>(dx), std::forward<DParams>(dparams), ws);
  }
  /// \brief Time-dependent `vjp` that also accumulates `dt += (∂y/∂t)ᵀ dy`.
  template <class Params, class Time, class X, class DY, class DX, class DParams, class Workspace>
  void vjp(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
           const Eigen::MatrixBase<DY>& dy, DX&& dx, DParams&& dparams, typename X::Scalar& dt,
           Workspace& ws) const {
    run_forward(params, t, x, ws);
    backward(params, t, x, dy, std::forward<DX>(dx), std::forward<DParams>(dparams), dt, ws);
  }

 private:
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

  void compute_sizes() {
    bool found = false;
    for_each_layer([&](auto k) {
      const auto& l = std::get<k()>(m_layers);
      if (!found && !std::remove_cvref_t<decltype(l)>::size_preserving) {
        m_sizes[0] = l.input_size();
        found = true;
      }
    });
    m_offsets[0] = 0;
    for_each_layer([&](auto k) {
      const auto& l = std::get<k()>(m_layers);
      if (!std::remove_cvref_t<decltype(l)>::size_preserving && l.input_size() != m_sizes[k()]) {
        throw nde::error(status::invalid_input,
                         "sequential: layer " + std::to_string(k()) + " expects an input of size " +
                             std::to_string(l.input_size()) + " but receives " +
                             std::to_string(m_sizes[k()]));
      }
      m_sizes[k() + 1] = l.output_size(m_sizes[k()]);
      m_cache_sizes[k()] = l.cache_size(m_sizes[k()]);
      m_offsets[k() + 1] = m_offsets[k()] + l.num_params();
    });
  }

  template <class Scalar, int Columns>
  workspace<Scalar, Columns> allocate(Eigen::Index columns) const {
    workspace<Scalar, Columns> ws;
    for_each_layer([&](auto k) {
      std::get<k()>(ws.values).setZero(m_sizes[k() + 1], columns);
      std::get<k()>(ws.cotangents).setZero(m_sizes[k() + 1], columns);
      std::get<k()>(ws.caches).setZero(m_cache_sizes[k()], columns);
    });
    ws.m_capacity = columns;
    return ws;
  }

  /// The first `columns` columns of a workspace buffer (the buffer itself for vectors).
  template <class Buffer>
  static decltype(auto) active(Buffer& buffer, Eigen::Index columns) {
    if constexpr (std::remove_cvref_t<Buffer>::ColsAtCompileTime == 1) {
      return (buffer);
    } else {
      return buffer.leftCols(columns);
    }
  }

  template <std::size_t K, class X, class Workspace>
  static decltype(auto) layer_input(const Eigen::MatrixBase<X>& x, Workspace& ws) {
    if constexpr (K == 0) {
      return (x.derived());
    } else {
      return active(std::get<K - 1>(ws.values), ws.m_columns);
    }
  }

  template <class Params, class X, class Workspace>
  static constexpr void check_workspace() {
    static_assert(std::is_same_v<typename Workspace::network, sequential>,
                  "the workspace was made by a different network type");
    static_assert(std::is_same_v<typename Workspace::scalar, typename X::Scalar> &&
                      std::is_same_v<typename Params::Scalar, typename X::Scalar>,
                  "params, x and the workspace must use the same scalar type");
    static_assert(
        detail::is_contiguous_vector<Params>,
        "params must be a contiguous vector (a vector, a segment of one, a Map or a Ref)");
    static_assert(X::RowsAtCompileTime == Eigen::Dynamic || input_rows == Eigen::Dynamic ||
                      X::RowsAtCompileTime == input_rows,
                  "x has a fixed number of rows different from the network's input size");
  }

  template <class Params>
  void check_params(const Eigen::MatrixBase<Params>& params, const char* name) const {
    if (params.size() != num_params()) {
      throw nde::error(status::invalid_input, std::string(name) + " has " +
                                                  std::to_string(params.size()) +
                                                  " entries, the network has " +
                                                  std::to_string(num_params()) + " parameters");
    }
  }

  template <class Params, class Time, class X, class Workspace>
  void run_forward(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
                   Workspace& ws) const {
    check_workspace<Params, X, Workspace>();
    check_params(params, "params");
    if (x.rows() != in_size()) {
      throw nde::error(status::invalid_input, "x has " + std::to_string(x.rows()) +
                                                  " rows, the network expects " +
                                                  std::to_string(in_size()));
    }
    if (x.cols() > ws.m_capacity || (Workspace::columns_at_compile_time == 1 && x.cols() != 1)) {
      throw nde::error(status::invalid_input, "x has " + std::to_string(x.cols()) +
                                                  " columns, more than the workspace's capacity " +
                                                  std::to_string(ws.m_capacity));
    }
    ws.m_has_forward = false;
    ws.m_columns = x.cols();
    for_each_layer([&](auto k) {
      std::get<k()>(m_layers).forward(
          params.segment(m_offsets[k()], m_offsets[k() + 1] - m_offsets[k()]), t,
          layer_input<k()>(x, ws), active(std::get<k()>(ws.values), ws.m_columns),
          active(std::get<k()>(ws.caches), ws.m_columns));
    });
    ws.m_has_forward = true;
  }

  template <class Params, class Time, class X, class DY, class DX, class DParams, class DTime,
            class Workspace>
  void run_backward(const Eigen::MatrixBase<Params>& params, Time t, const Eigen::MatrixBase<X>& x,
                    const Eigen::MatrixBase<DY>& dy, DX& dx, DParams& dparams, DTime& dt,
                    Workspace& ws) const {
    const Eigen::Index n = ws.m_columns;
    for_each_layer_reversed([&](auto k) {
      constexpr std::size_t K = k();
      auto&& output_cotangent = [&]() -> decltype(auto) {
        if constexpr (K == count - 1) {
          return (dy.derived());
        } else {
          return active(std::get<K>(ws.cotangents), n);
        }
      }();
      auto&& input_cotangent = [&]() -> decltype(auto) {
        if constexpr (K == 0) {
          return (detail::as_mutable(dx));
        } else {
          return active(std::get<K - 1>(ws.cotangents), n);
        }
      }();
      const Eigen::Index offset = m_offsets[K];
      const Eigen::Index size = m_offsets[K + 1] - offset;
      std::get<K>(m_layers).backward(
          params.segment(offset, size), t, layer_input<K>(x, ws), active(std::get<K>(ws.values), n),
          active(std::get<K>(ws.caches), n), output_cotangent, input_cotangent,
          detail::as_mutable(dparams).segment(offset, size), dt);
    });
  }

  layer_tuple m_layers;
  std::array<Eigen::Index, count + 1> m_sizes{};
  std::array<Eigen::Index, count> m_cache_sizes{};
  std::array<Eigen::Index, count + 1> m_offsets{};
};

}  // namespace nde::nn
