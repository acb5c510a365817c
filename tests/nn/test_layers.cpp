// Every layer's vector-Jacobian product against central finite differences, over
// sizes 1, small fixed and Eigen::Dynamic, for single vectors and batches.
#include <nde/nn/activations.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/nn/time_layers.hpp>

#include <catch.hpp>

#include "vjp_check.hpp"

namespace nn = nde::nn;
constexpr int dynamic = Eigen::Dynamic;

TEST_CASE("linear layer vjp matches finite differences", "[nn][linear]") {
  std::mt19937_64 engine(1);
  SECTION("1 -> 1") { nde_test::check_vjp_all_modes(nn::sequential{nn::linear<1, 1>{}}, engine); }
  SECTION("3 -> 2 fixed") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::linear<3, 2>{}}, engine);
  }
  SECTION("4 -> 3 dynamic") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::linear<dynamic, dynamic>(4, 3)}, engine);
  }
  SECTION("1 -> 5 dynamic") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::linear<dynamic, dynamic>(1, 5)}, engine);
  }
}

TEMPLATE_TEST_CASE("activation layer vjp matches finite differences", "[nn][activations]",
                   nn::tanh_activation, nn::sigmoid_activation, nn::softplus_activation,
                   nn::relu_activation, nn::silu_activation, nn::elu_activation,
                   nn::identity_activation) {
  std::mt19937_64 engine(2);
  // The activation after a linear layer (fixed sizes) and first in the chain (its size is
  // taken from the next layer; dynamic sizes).
  SECTION("after linear, fixed") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::linear<3, 5>{}, TestType{}}, engine);
  }
  SECTION("first, dynamic") {
    nde_test::check_vjp_all_modes(nn::sequential{TestType{}, nn::linear<dynamic, dynamic>(4, 2)},
                                  engine);
  }
  SECTION("size 1") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::linear<1, 1>{}, TestType{}}, engine);
  }
}

TEST_CASE("elu with a non-default alpha", "[nn][activations]") {
  std::mt19937_64 engine(3);
  nn::elu_activation elu;
  elu.alpha = 0.3;
  nde_test::check_vjp_all_modes(nn::sequential{nn::linear<2, 6>{}, elu}, engine);
}

TEST_CASE("user elementwise function: the cube of the spiral demo", "[nn][elementwise]") {
  std::mt19937_64 engine(4);
  nn::elementwise cube{[](auto x) { return x * x * x; }, [](auto x) { return 3 * x * x; }};
  nde_test::check_vjp_all_modes(
      nn::sequential{cube, nn::linear<2, 50>{}, nn::tanh_activation{}, nn::linear<50, 2>{}},
      engine);
}

TEST_CASE("time layers: vjp in x, parameters and t", "[nn][time]") {
  std::mt19937_64 engine(5);
  SECTION("concat_linear fixed") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::concat_linear<2, 3>{}}, engine, 0.7);
  }
  SECTION("concat_linear dynamic") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::concat_linear<dynamic, dynamic>(3, 2)}, engine,
                                  -0.4);
  }
  SECTION("concat_squash_linear fixed") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::concat_squash_linear<2, 3>{}}, engine, 0.7);
  }
  SECTION("concat_squash_linear size 1") {
    nde_test::check_vjp_all_modes(nn::sequential{nn::concat_squash_linear<1, 1>{}}, engine, 1.3);
  }
  SECTION("FFJORD-style field, dynamic") {
    nde_test::check_vjp_all_modes(
        nn::sequential{nn::concat_squash_linear<dynamic, dynamic>(2, 8), nn::softplus_activation{},
                       nn::concat_squash_linear<dynamic, dynamic>(8, 2)},
        engine, 0.3);
  }
}

TEST_CASE("mlp vjp matches finite differences", "[nn][mlp]") {
  std::mt19937_64 engine(6);
  SECTION("2-50-2 tanh") {
    nde_test::check_vjp_all_modes(nn::mlp<nn::tanh_activation, 2, 50, 2>{}, engine);
  }
  SECTION("1-1-1 softplus") {
    nde_test::check_vjp_all_modes(nn::mlp<nn::softplus_activation, 1, 1, 1>{}, engine);
  }
  SECTION("3-8-8-2 silu, dynamic") {
    nde_test::check_vjp_all_modes(
        nn::mlp<nn::silu_activation, dynamic, dynamic, dynamic, dynamic>({3, 8, 8, 2}), engine);
  }
  SECTION("mixed fixed and dynamic widths") {
    nde_test::check_vjp_all_modes(nn::mlp<nn::elu_activation, 3, dynamic, 2>({3, 7, 2}), engine);
  }
}
