// FFJORD's toy network (Grathwohl et al. 2019, train_toy.py `--dims 64-64-64`,
// `--layer_type concatsquash`, `--nonlinearity tanh`): D → h → h → h → D concat-squash layers
// with tanh between them. Shared by examples/cnf_toy and benchmarks/bench_cnf.
#pragma once

#include <nde/nn/activations.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/nn/time_layers.hpp>

namespace examples {

using ffjord_network =
    nde::nn::sequential<nde::nn::concat_squash_linear<>, nde::nn::tanh_activation,
                        nde::nn::concat_squash_linear<>, nde::nn::tanh_activation,
                        nde::nn::concat_squash_linear<>, nde::nn::tanh_activation,
                        nde::nn::concat_squash_linear<>>;

/// The network for data of dimension `d` with hidden width `h`.
inline ffjord_network make_ffjord_network(Eigen::Index d, Eigen::Index h) {
  namespace nn = nde::nn;
  return ffjord_network(nn::concat_squash_linear<>(d, h), nn::tanh_activation{},
                        nn::concat_squash_linear<>(h, h), nn::tanh_activation{},
                        nn::concat_squash_linear<>(h, h), nn::tanh_activation{},
                        nn::concat_squash_linear<>(h, d));
}

}  // namespace examples
