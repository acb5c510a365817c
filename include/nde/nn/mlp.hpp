/// \file
/// \brief `nde::nn::mlp`: a multilayer perceptron `linear → act → linear → … → linear`
/// with widths fixed at compile time or `Eigen::Dynamic`.
#pragma once

#include "nde/nn/activations.hpp"
#include "nde/nn/linear.hpp"
#include "nde/nn/sequential.hpp"

#include <Eigen/Core>

#include <array>
#include <cstddef>
#include <tuple>
#include <utility>

namespace nde::nn {

namespace detail {

template <class... Layers>
struct layer_list {};

template <class Activation, class Chain, int... Widths>
struct mlp_chain;

template <class Activation, class... Layers, int A, int B>
struct mlp_chain<Activation, layer_list<Layers...>, A, B> {
  using type = sequential<Layers..., linear<A, B>>;
};

template <class Activation, class... Layers, int A, int B, int C, int... Rest>
struct mlp_chain<Activation, layer_list<Layers...>, A, B, C, Rest...> {
  using type = typename mlp_chain<Activation, layer_list<Layers..., linear<A, B>, Activation>, B, C,
                                  Rest...>::type;
};

}  // namespace detail

/// \brief The sequential chain behind `mlp<Activation, Widths...>` (a type alias, useful
/// for naming workspaces).
template <class Activation, int... Widths>
using mlp_sequential =
    typename detail::mlp_chain<Activation, detail::layer_list<>, Widths...>::type;

/// \brief Multilayer perceptron: `linear<W0, W1>`, `Activation`, `linear<W1, W2>`, …,
/// `linear<W_{n-2}, W_{n-1}>` (no activation after the last layer), e.g.
/// `mlp<tanh_activation, 2, 50, 2>` (the torchdiffeq spiral field) or
/// `mlp<tanh_activation, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic>{{2, 50, 2}}`.
///
/// Parameter names follow PyTorch's `nn.Sequential(Linear, Act, Linear, …)`:
/// `"0.weight"`, `"0.bias"`, `"2.weight"`, `"2.bias"`, ….
/// Forward cost Σ 2·Wᵢ·Wᵢ₊₁ flops per column plus the activations.
///
/// \tparam Activation an activation layer type (`tanh_activation`, `softplus_activation`, …).
/// \tparam Widths at least two layer widths; each an integer or `Eigen::Dynamic`.
template <class Activation, int... Widths>
class mlp : public mlp_sequential<Activation, Widths...> {
  static_assert(sizeof...(Widths) >= 2, "nde::nn::mlp needs an input and an output width");
  using base = mlp_sequential<Activation, Widths...>;
  static constexpr std::size_t num_linear = sizeof...(Widths) - 1;
  static constexpr std::array<int, sizeof...(Widths)> static_widths{Widths...};

 public:
  /// \brief All widths fixed at compile time.
  mlp() requires((Widths != Eigen::Dynamic) && ...)
      : base(std::in_place,
             make_layers(std::array<Eigen::Index, sizeof...(Widths)>{Widths...}, Activation{})) {}

  /// \brief Runtime widths (must equal the compile-time ones where those are fixed).
  /// \throws nde::error (invalid_input) on a mismatch or a negative width.
  explicit mlp(const std::array<Eigen::Index, sizeof...(Widths)>& widths,
               Activation activation = {})
      : base(std::in_place, make_layers(widths, activation)) {}

 private:
  static auto make_layers(const std::array<Eigen::Index, sizeof...(Widths)>& widths,
                          const Activation& activation) {
    return [&]<std::size_t... K>(std::index_sequence<K...>) {
      return std::tuple_cat(layer_group<K>(widths, activation)...);
    }
    (std::make_index_sequence<num_linear>{});
  }

  template <std::size_t K>
  static auto layer_group(const std::array<Eigen::Index, sizeof...(Widths)>& widths,
                          const Activation& activation) {
    linear<static_widths[K], static_widths[K + 1]> layer(widths[K], widths[K + 1]);
    if constexpr (K + 1 < num_linear) {
      return std::tuple(layer, activation);
    } else {
      return std::tuple(layer);
    }
  }
};

}  // namespace nde::nn
