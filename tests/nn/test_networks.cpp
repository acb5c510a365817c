// Whole-network properties: batch = column by column, float ≈ double, dual numbers give
// directional derivatives and Hessian-vector products, parameter views and layout names,
// and clear errors for bad input.
#include <nde/nn/activations.hpp>
#include <nde/core/dual.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/nn/time_layers.hpp>

#include <catch.hpp>

#include "nn_test_support.hpp"

#include <string>
#include <vector>

namespace nn = nde::nn;
constexpr int dynamic = Eigen::Dynamic;

namespace {

template <class Net>
void check_batch_equals_columns(const Net& net, double t, std::mt19937_64& engine) {
  const Eigen::Index n = 5;
  const Eigen::VectorXd theta = nde_test::random_matrix(net.num_params(), 1, engine);
  const Eigen::MatrixXd x = nde_test::random_matrix(net.in_size(), n, engine);
  const Eigen::MatrixXd dy = nde_test::random_matrix(net.out_size(), n, engine);
  auto batch_ws = net.template make_workspace<double>(n);
  Eigen::MatrixXd y, dx;
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  double dt = 0;
  net.forward(theta, t, x, y, batch_ws);
  net.backward(theta, t, x, dy, dx, dtheta, dt, batch_ws);

  auto ws = net.template make_workspace<double>();
  Eigen::VectorXd dtheta_sum = Eigen::VectorXd::Zero(net.num_params());
  double dt_sum = 0;
  for (Eigen::Index j = 0; j < n; ++j) {
    Eigen::VectorXd yj, dxj;
    net.forward(theta, t, x.col(j), yj, ws);
    net.backward(theta, t, x.col(j), dy.col(j), dxj, dtheta_sum, dt_sum, ws);
    CHECK(nde_test::relative_error(y.col(j), yj) < 1e-14);
    CHECK(nde_test::relative_error(dx.col(j), dxj) < 1e-14);
  }
  CHECK(nde_test::relative_error(dtheta, dtheta_sum) < 1e-13);
  CHECK(std::abs(dt - dt_sum) < 1e-13 * std::max(1.0, std::abs(dt)));

  // A smaller batch through the same (larger) workspace.
  Eigen::MatrixXd y_small;
  net.forward(theta, t, x.leftCols(2), y_small, batch_ws);
  CHECK(nde_test::relative_error(y_small, y.leftCols(2)) < 1e-15);
}

}  // namespace

TEST_CASE("a batch gives the same results as its columns one by one", "[nn][batch]") {
  std::mt19937_64 engine(11);
  SECTION("mlp 2-50-2 tanh") {
    check_batch_equals_columns(nn::mlp<nn::tanh_activation, 2, 50, 2>{}, 0.0, engine);
  }
  SECTION("dynamic mlp") {
    check_batch_equals_columns(
        nn::mlp<nn::softplus_activation, dynamic, dynamic, dynamic>({3, 9, 4}), 0.0, engine);
  }
  SECTION("concat squash") {
    check_batch_equals_columns(nn::sequential{nn::concat_squash_linear<2, 6>{},
                                              nn::tanh_activation{}, nn::concat_linear<6, 2>{}},
                               0.8, engine);
  }
}

TEST_CASE("float evaluation agrees with double to float accuracy", "[nn][float]") {
  std::mt19937_64 engine(12);
  const nn::mlp<nn::tanh_activation, 2, 50, 2> net;
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net, theta, engine);
  const Eigen::Vector2d x(0.3, -1.2), dy(1.0, -0.5);

  auto ws = net.make_workspace<double>();
  Eigen::Vector2d y, dx;
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  net.forward(theta, x, y, ws);
  net.backward(theta, x, dy, dx, dtheta, ws);

  auto ws_float = net.make_workspace<float>();
  const Eigen::VectorXf theta_float = theta.cast<float>();
  Eigen::Vector2f y_float, dx_float;
  Eigen::VectorXf dtheta_float = Eigen::VectorXf::Zero(net.num_params());
  net.forward(theta_float, x.cast<float>(), y_float, ws_float);
  net.backward(theta_float, x.cast<float>(), dy.cast<float>(), dx_float, dtheta_float, ws_float);

  CHECK(nde_test::relative_error(y_float.cast<double>(), y) < 1e-5);
  CHECK(nde_test::relative_error(dx_float.cast<double>(), dx) < 1e-5);
  CHECK(nde_test::relative_error(dtheta_float.cast<double>(), dtheta) < 1e-5);
  // ... and is not bit-identical to double (the test would not notice a silent promotion).
  CHECK(nde_test::relative_error(y_float.cast<double>(), y) > 0);
}

TEST_CASE("dual numbers: directional derivative and Hessian-vector product", "[nn][dual]") {
  using dual = nde::dual<double>;
  using dual_vector = Eigen::Matrix<dual, Eigen::Dynamic, 1>;
  std::mt19937_64 engine(13);
  const nn::sequential net{nn::concat_squash_linear<3, 7>{}, nn::softplus_activation{},
                           nn::linear<7, 2>{}};
  const Eigen::Index p = net.num_params();
  Eigen::VectorXd theta = nde_test::random_matrix(p, 1, engine);
  const Eigen::VectorXd v = nde_test::random_matrix(p, 1, engine);
  const Eigen::Vector3d x = nde_test::random_matrix(3, 1, engine);
  const Eigen::Vector2d dy(0.7, -1.1);
  const double t = 0.4;

  auto ws = net.make_workspace<double>();
  auto gradient = [&](const Eigen::VectorXd& parameters) {
    Eigen::VectorXd g = Eigen::VectorXd::Zero(p);
    Eigen::Vector3d dx;
    net.vjp(parameters, t, x, dy, dx, g, ws);
    return g;
  };
  auto output = [&](const Eigen::VectorXd& parameters) {
    Eigen::Vector2d y;
    net.forward(parameters, t, x, y, ws);
    return y;
  };

  dual_vector theta_dual(p);
  for (Eigen::Index i = 0; i < p; ++i) theta_dual(i) = dual(theta(i), v(i));
  const Eigen::Matrix<dual, 3, 1> x_dual = x.cast<dual>();
  const Eigen::Matrix<dual, 2, 1> dy_dual = dy.cast<dual>();
  auto dual_ws = net.make_workspace<dual>();
  Eigen::Matrix<dual, 2, 1> y_dual;
  net.forward(theta_dual, dual(t), x_dual, y_dual, dual_ws);
  dual_vector g_dual = dual_vector::Constant(p, dual(0.0));
  Eigen::Matrix<dual, 3, 1> dx_dual;
  net.backward(theta_dual, dual(t), x_dual, dy_dual, dx_dual, g_dual, dual_ws);

  const double h = 1e-5;
  const Eigen::VectorXd jv = (output(theta + h * v) - output(theta - h * v)) / (2 * h);
  const Eigen::VectorXd hv = (gradient(theta + h * v) - gradient(theta - h * v)) / (2 * h);
  Eigen::VectorXd y_value(2), y_tangent(2), g_value(p), g_tangent(p);
  for (Eigen::Index i = 0; i < 2; ++i) {
    y_value(i) = y_dual(i).value;
    y_tangent(i) = y_dual(i).tangent;
  }
  for (Eigen::Index i = 0; i < p; ++i) {
    g_value(i) = g_dual(i).value;
    g_tangent(i) = g_dual(i).tangent;
  }
  CHECK(nde_test::relative_error(y_value, output(theta)) < 1e-14);
  CHECK(nde_test::relative_error(g_value, gradient(theta)) < 1e-13);
  CHECK(nde_test::relative_error(y_tangent, jv) < 1e-8);
  CHECK(nde_test::relative_error(g_tangent, hv) < 1e-7);
  CHECK(hv.norm() > 1e-3);  // the Hessian is not trivially zero for this network
}

TEST_CASE("layout names follow nn.Sequential and views match the flat vector", "[nn][layout]") {
  const nn::mlp<nn::tanh_activation, 2, 50, 2> net;
  const auto layout = net.layout();
  REQUIRE(layout.size() == 4);
  CHECK(layout[0].name == "0.weight");
  CHECK(layout[0].shape == std::vector<std::int64_t>{50, 2});
  CHECK(layout[0].offset == 0);
  CHECK(layout[1].name == "0.bias");
  CHECK(layout[1].offset == 100);
  CHECK(layout[2].name == "2.weight");
  CHECK(layout[2].shape == std::vector<std::int64_t>{2, 50});
  CHECK(layout[2].offset == 150);
  CHECK(layout[3].name == "2.bias");
  CHECK(layout[3].offset == 250);
  CHECK(nde::total_size(layout) == net.num_params());
  CHECK(net.num_params() == 252);
  CHECK(net.in_size() == 2);
  CHECK(net.out_size() == 2);

  const nn::sequential squash{nn::concat_squash_linear<2, 3>{}, nn::tanh_activation{},
                              nn::concat_linear<3, 1>{}};
  std::vector<std::string> names;
  for (const auto& block : squash.layout()) names.push_back(block.name);
  CHECK(names == std::vector<std::string>{"0._layer.weight", "0._layer.bias",
                                          "0._hyper_bias.weight", "0._hyper_gate.weight",
                                          "0._hyper_gate.bias", "2._layer.weight",
                                          "2._layer.bias"});
  CHECK(nde::total_size(squash.layout()) == squash.num_params());

  // A weight block is {out, in} column-major: write W and b through the layout and compare
  // with W x + b computed independently.
  const nn::sequential affine{nn::linear<3, 2>{}};
  Eigen::Matrix<double, 2, 3> w;
  w << 1, 2, 3, 4, 5, 6;
  const Eigen::Vector2d b(-1, 0.5);
  Eigen::VectorXd theta(affine.num_params());
  const auto blocks = affine.layout();
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i) theta(blocks[0].offset + i + 2 * j) = w(i, j);
  theta.segment(blocks[1].offset, 2) = b;
  const Eigen::Vector3d x(0.5, -1, 2);
  Eigen::Vector2d y;
  auto ws = affine.make_workspace();
  affine.forward(theta, x, y, ws);
  CHECK(y(0) == Approx(1 * 0.5 - 2 + 3 * 2 - 1));
  CHECK(y(1) == Approx(4 * 0.5 - 5 + 6 * 2 + 0.5));
}

TEST_CASE("parameters may be a segment, Map or Ref of a bigger vector", "[nn][params]") {
  std::mt19937_64 engine(14);
  const nn::mlp<nn::tanh_activation, 2, 8, 2> net;
  const Eigen::Index p = net.num_params();
  Eigen::VectorXd big = nde_test::random_matrix(p + 7, 1, engine);
  const Eigen::VectorXd theta = big.segment(3, p);
  const Eigen::Vector2d x(0.1, 0.2), dy(1, 2);
  auto ws = net.make_workspace();

  Eigen::Vector2d y_copy, y_segment, y_map, y_ref, dx;
  net.forward(theta, x, y_copy, ws);
  net.forward(big.segment(3, p), x, y_segment, ws);
  net.forward(Eigen::Map<const Eigen::VectorXd>(big.data() + 3, p), x, y_map, ws);
  const Eigen::Ref<const Eigen::VectorXd> ref = big.segment(3, p);
  net.forward(ref, x, y_ref, ws);
  CHECK(y_segment == y_copy);
  CHECK(y_map == y_copy);
  CHECK(y_ref == y_copy);

  // The gradient lands in a segment of a bigger vector and nowhere else.
  Eigen::VectorXd big_gradient = Eigen::VectorXd::Constant(p + 7, 5.0);
  net.vjp(big.segment(3, p), x, dy, dx, big_gradient.segment(3, p), ws);
  Eigen::VectorXd gradient = Eigen::VectorXd::Zero(p);
  net.vjp(theta, x, dy, dx, gradient, ws);
  CHECK((big_gradient.head(3).array() == 5.0).all());
  CHECK((big_gradient.tail(4).array() == 5.0).all());
  CHECK(nde_test::relative_error((big_gradient.segment(3, p).array() - 5.0).matrix(), gradient) <
        1e-14);

  // Outputs may be columns of bigger matrices.
  Eigen::Matrix<double, 2, 4> ys = Eigen::Matrix<double, 2, 4>::Zero();
  net.forward(theta, x, ys.col(2), ws);
  CHECK(ys.col(2) == y_copy);
  CHECK(ys.col(1).isZero());
}

TEST_CASE("bad input is reported as nde::error naming the problem", "[nn][errors]") {
  const nn::mlp<nn::tanh_activation, 2, 4, 2> net;
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(net.num_params());
  auto ws = net.make_workspace();
  Eigen::VectorXd y, dx;
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  auto message_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const nde::error& e) {
      CHECK(e.code() == nde::status::invalid_input);
      return e.what();
    }
    return "no exception";
  };
  using Catch::Matchers::Contains;
  const Eigen::VectorXd too_short = Eigen::VectorXd::Zero(3);
  CHECK_THAT(message_of([&] { net.forward(too_short, Eigen::Vector2d(1, 2), y, ws); }),
             Contains("params"));
  const Eigen::VectorXd three = Eigen::VectorXd::Ones(3);
  CHECK_THAT(message_of([&] { net.forward(theta, three, y, ws); }), Contains("x has 3 rows"));
  CHECK_THAT(message_of([&] { net.forward(theta, Eigen::MatrixXd::Zero(2, 3), y, ws); }),
             Contains("columns"));
  auto fresh = net.make_workspace();
  CHECK_THAT(message_of([&] {
               net.backward(theta, Eigen::Vector2d(1, 2), Eigen::Vector2d(1, 1), dx, dtheta, fresh);
             }),
             Contains("forward"));
  net.forward(theta, Eigen::Vector2d(1, 2), y, ws);
  CHECK_THAT(message_of([&] {
               Eigen::VectorXd short_gradient(3);
               net.backward(theta, Eigen::Vector2d(1, 2), Eigen::Vector2d(1, 1), dx, short_gradient,
                            ws);
             }),
             Contains("dparams"));
  CHECK_THAT(message_of([&] {
               Eigen::Matrix<double, 5, 1> wrong;
               net.forward(theta, Eigen::Vector2d(1, 2), wrong.head(3), ws);
             }),
             Contains("y has shape 3x1"));
  CHECK_THAT(message_of([&] {
               nn::sequential chain{nn::linear<dynamic, dynamic>(3, 4), nn::tanh_activation{},
                                    nn::linear<dynamic, dynamic>(5, 2)};
             }),
             Contains("layer 2 expects an input of size 5 but receives 4"));
  CHECK_THAT(message_of([] { nn::linear<2, 3> layer(4, 3); }), Contains("linear"));
  CHECK_THAT(message_of([] {
               nn::mlp<nn::tanh_activation, dynamic, 4, dynamic> m({2, 5, 1});
             }),
             Contains("linear"));
  CHECK_THAT(message_of([&] { (void)net.make_workspace(-1); }), Contains("negative"));
}

TEST_CASE("an empty batch (0 columns) passes through every layer, time layers included",
          "[nn][batch][edge]") {
  std::mt19937_64 engine(5);
  auto check_empty = [&](const auto& net) {
    const Eigen::VectorXd theta = nde_test::random_matrix(net.num_params(), 1, engine);
    auto ws = net.template make_workspace<double>(4);
    const Eigen::MatrixXd x(net.in_size(), 0);
    Eigen::MatrixXd y, dx;
    Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
    double dt = 0;
    net.forward(theta, 0.3, x, y, ws);
    CHECK(y.rows() == net.out_size());
    CHECK(y.cols() == 0);
    const Eigen::MatrixXd dy(net.out_size(), 0);
    net.backward(theta, 0.3, x, dy, dx, dtheta, dt, ws);
    CHECK(dx.cols() == 0);
    CHECK(dtheta.isZero(0));
    CHECK(dt == 0);
    // The workspace still serves a full batch afterwards.
    const Eigen::MatrixXd x2 = nde_test::random_matrix(net.in_size(), 3, engine);
    net.forward(theta, 0.3, x2, y, ws);
    CHECK(y.cols() == 3);
    CHECK(y.allFinite());
  };
  SECTION("concat_squash_linear, fixed sizes") {
    check_empty(nn::sequential{nn::concat_squash_linear<2, 6>{}, nn::tanh_activation{},
                               nn::concat_squash_linear<6, 2>{}});
  }
  SECTION("concat_squash_linear, dynamic sizes") {
    check_empty(nn::sequential{nn::concat_squash_linear<dynamic, dynamic>(3, 5),
                               nn::softplus_activation{},
                               nn::concat_linear<dynamic, dynamic>(5, 3)});
  }
  SECTION("linear and activations") {
    check_empty(nn::mlp<nn::tanh_activation, dynamic, dynamic, dynamic>({2, 7, 2}));
  }
}
