// Once a workspace exists, forward / backward / vjp do not touch the heap, for fixed and
// dynamic sizes, single vectors and batches.
#define EIGEN_RUNTIME_NO_MALLOC
#include <nde/nn/activations.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/nn/time_layers.hpp>

#include <catch.hpp>

namespace nn = nde::nn;
constexpr int dynamic = Eigen::Dynamic;

namespace {

// Runs forward, backward and vjp with Eigen's heap allocation forbidden; an allocation
// would trip Eigen's assertion (abort), so reaching the checks means none happened.
template <class Net, class Input, class Output>
void run_without_malloc(const Net& net, auto& ws, const Input& x, Output& y, const Output& dy,
                        Input& dx) {
  Eigen::VectorXd theta = Eigen::VectorXd::LinSpaced(net.num_params(), -1, 1);
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  double dt = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  for (int repeat = 0; repeat < 3; ++repeat) {
    net.forward(theta, 0.5, x, y, ws);
    net.backward(theta, 0.5, x, dy, dx, dtheta, dt, ws);
    net.vjp(theta, x, dy, dx, dtheta, ws);
  }
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(dtheta.allFinite());
  CHECK(dtheta.norm() > 0);
  CHECK(y.allFinite());
}

}  // namespace

TEST_CASE("fixed-size mlp on one vector does not allocate", "[nn][malloc]") {
  const nn::mlp<nn::tanh_activation, 2, 50, 2> net;
  auto ws = net.make_workspace();
  Eigen::Vector2d x(0.1, 0.2), y, dy(1, -1), dx;
  run_without_malloc(net, ws, x, y, dy, dx);
}

TEST_CASE("dynamic-size network on one vector and on a batch does not allocate", "[nn][malloc]") {
  const nn::sequential net{nn::concat_squash_linear<dynamic, dynamic>(3, 16),
                           nn::softplus_activation{}, nn::linear<dynamic, dynamic>(16, 16),
                           nn::elu_activation{}, nn::concat_linear<dynamic, dynamic>(16, 3)};
  SECTION("vector") {
    auto ws = net.make_workspace();
    Eigen::VectorXd x = Eigen::VectorXd::Constant(3, 0.3), y(3), dy = Eigen::VectorXd::Ones(3),
                    dx(3);
    run_without_malloc(net, ws, x, y, dy, dx);
  }
  SECTION("batch") {
    auto ws = net.make_workspace(16);
    Eigen::MatrixXd x = Eigen::MatrixXd::Constant(3, 16, 0.3), y(3, 16),
                    dy = Eigen::MatrixXd::Ones(3, 16), dx(3, 16);
    run_without_malloc(net, ws, x, y, dy, dx);
  }
}
