// The network of torchdiffeq's spiral demo, f(y) = W2 tanh(W1 y³ + b1) + b2 (2-50-2), shared by
// examples/spiral, examples/gradient_methods and the benchmarks (which add examples/common to
// their include path) so that all of them measure the same field.
#pragma once

#include <nde/nn/activations.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/sequential.hpp>

namespace examples {

/// x³, applied to the state before the network (the demo's `self.net(y**3)`).
struct cube {
  template <class S>
  S operator()(S x) const {
    return x * x * x;
  }
};
/// d(x³)/dx.
struct cube_derivative {
  template <class S>
  S operator()(S x) const {
    return 3 * x * x;
  }
};

/// cube, linear 2→50, tanh, linear 50→2. Parameter names: "1.weight", "1.bias", "3.weight",
/// "3.bias" (the cube is layer 0).
using spiral_network =
    nde::nn::sequential<nde::nn::elementwise<cube, cube_derivative>, nde::nn::linear<2, 50>,
                        nde::nn::tanh_activation, nde::nn::linear<50, 2>>;

inline spiral_network make_spiral_network() {
  return spiral_network(nde::nn::elementwise<cube, cube_derivative>{cube{}, cube_derivative{}},
                        nde::nn::linear<2, 50>{}, nde::nn::tanh_activation{},
                        nde::nn::linear<50, 2>{});
}

}  // namespace examples
