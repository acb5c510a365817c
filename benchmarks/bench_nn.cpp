// Forward and vector-Jacobian product of nde::nn networks against a plain Eigen
// implementation (`.array().tanh()`, written the obvious way) in the same run.
//   2-50-2 tanh on one vector (fixed sizes), 32-256-256-32 tanh on a batch of 128 columns.
#include <nde/nn/activations.hpp>
#include <nde/nn/initialisers.hpp>
#include <nde/nn/mlp.hpp>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include <random>

namespace {

namespace nn = nde::nn;
constexpr int dynamic = Eigen::Dynamic;

// Plain Eigen reference: the same network with Eigen's own (scalar) tanh.
template <int In, int Hidden, int Out>
struct plain_mlp2 {
  Eigen::Matrix<double, Hidden, In> w0;
  Eigen::Matrix<double, Hidden, 1> b0;
  Eigen::Matrix<double, Out, Hidden> w1;
  Eigen::Matrix<double, Out, 1> b1;
  Eigen::Matrix<double, Hidden, 1> h;

  void forward(const Eigen::Matrix<double, In, 1>& x, Eigen::Matrix<double, Out, 1>& y) {
    h = (w0 * x + b0).array().tanh();
    y.noalias() = w1 * h;
    y += b1;
  }
  void vjp(const Eigen::Matrix<double, In, 1>& x, const Eigen::Matrix<double, Out, 1>& dy,
           Eigen::Matrix<double, In, 1>& dx, Eigen::Matrix<double, Hidden, In>& dw0,
           Eigen::Matrix<double, Hidden, 1>& db0, Eigen::Matrix<double, Out, Hidden>& dw1,
           Eigen::Matrix<double, Out, 1>& db1) {
    h = (w0 * x + b0).array().tanh();
    dw1.noalias() += dy * h.transpose();
    db1 += dy;
    Eigen::Matrix<double, Hidden, 1> dh = (w1.transpose() * dy).array() * (1 - h.array().square());
    dw0.noalias() += dh * x.transpose();
    db0 += dh;
    dx.noalias() = w0.transpose() * dh;
  }
};

struct plain_mlp3_batch {
  Eigen::MatrixXd w0, w1, w2;
  Eigen::VectorXd b0, b1, b2;
  Eigen::MatrixXd h0, h1, d1, d0;
  void forward(const Eigen::MatrixXd& x, Eigen::MatrixXd& y) {
    h0.noalias() = w0 * x;
    h0.colwise() += b0;
    h0 = h0.array().tanh();
    h1.noalias() = w1 * h0;
    h1.colwise() += b1;
    h1 = h1.array().tanh();
    y.noalias() = w2 * h1;
    y.colwise() += b2;
  }
  void vjp(const Eigen::MatrixXd& x, const Eigen::MatrixXd& dy, Eigen::MatrixXd& dx,
           Eigen::MatrixXd& dw0, Eigen::VectorXd& db0, Eigen::MatrixXd& dw1, Eigen::VectorXd& db1,
           Eigen::MatrixXd& dw2, Eigen::VectorXd& db2) {
    Eigen::MatrixXd y;
    forward(x, y);
    dw2.noalias() += dy * h1.transpose();
    db2 += dy.rowwise().sum();
    d1.noalias() = w2.transpose() * dy;
    d1.array() *= 1 - h1.array().square();
    dw1.noalias() += d1 * h0.transpose();
    db1 += d1.rowwise().sum();
    d0.noalias() = w1.transpose() * d1;
    d0.array() *= 1 - h0.array().square();
    dw0.noalias() += d0 * x.transpose();
    db0 += d0.rowwise().sum();
    dx.noalias() = w0.transpose() * d0;
  }
};

Eigen::VectorXd initial_parameters(const auto& net) {
  std::mt19937_64 engine(1);
  Eigen::VectorXd theta(net.num_params());
  nn::init_pytorch_default(net, theta, engine);
  return theta;
}

// ---- 2-50-2, one vector -----------------------------------------------------------

void nde_2_50_2_forward(benchmark::State& state) {
  const nn::mlp<nn::tanh_activation, 2, 50, 2> net;
  const Eigen::VectorXd theta = initial_parameters(net);
  auto ws = net.make_workspace();
  Eigen::Vector2d x(0.3, -0.7), y;
  for (auto _ : state) {
    net.forward(theta, x, y, ws);
    benchmark::DoNotOptimize(y.data());
    x(0) += 1e-9;
  }
}
BENCHMARK(nde_2_50_2_forward);

void nde_2_50_2_forward_vjp(benchmark::State& state) {
  const nn::mlp<nn::tanh_activation, 2, 50, 2> net;
  const Eigen::VectorXd theta = initial_parameters(net);
  auto ws = net.make_workspace();
  Eigen::Vector2d x(0.3, -0.7), y, dy(1, -1), dx;
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  for (auto _ : state) {
    net.forward(theta, x, y, ws);
    net.backward(theta, x, dy, dx, dtheta, ws);
    benchmark::DoNotOptimize(dx.data());
    x(0) += 1e-9;
  }
}
BENCHMARK(nde_2_50_2_forward_vjp);

void eigen_2_50_2_forward(benchmark::State& state) {
  plain_mlp2<2, 50, 2> net;
  std::mt19937_64 engine(1);
  auto fill = [&](auto& m) {
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = nn::uniform(engine, -0.7, 0.7);
  };
  fill(net.w0), fill(net.b0), fill(net.w1), fill(net.b1);
  Eigen::Vector2d x(0.3, -0.7), y;
  for (auto _ : state) {
    net.forward(x, y);
    benchmark::DoNotOptimize(y.data());
    x(0) += 1e-9;
  }
}
BENCHMARK(eigen_2_50_2_forward);

void eigen_2_50_2_forward_vjp(benchmark::State& state) {
  plain_mlp2<2, 50, 2> net;
  std::mt19937_64 engine(1);
  auto fill = [&](auto& m) {
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = nn::uniform(engine, -0.7, 0.7);
  };
  fill(net.w0), fill(net.b0), fill(net.w1), fill(net.b1);
  Eigen::Vector2d x(0.3, -0.7), y, dy(1, -1), dx;
  Eigen::Matrix<double, 50, 2> dw0 = Eigen::Matrix<double, 50, 2>::Zero();
  Eigen::Matrix<double, 50, 1> db0 = Eigen::Matrix<double, 50, 1>::Zero();
  Eigen::Matrix<double, 2, 50> dw1 = Eigen::Matrix<double, 2, 50>::Zero();
  Eigen::Vector2d db1 = Eigen::Vector2d::Zero();
  for (auto _ : state) {
    net.forward(x, y);
    net.vjp(x, dy, dx, dw0, db0, dw1, db1);
    benchmark::DoNotOptimize(dx.data());
    x(0) += 1e-9;
  }
}
BENCHMARK(eigen_2_50_2_forward_vjp);

// ---- 32-256-256-32, batch of 128 --------------------------------------------------

constexpr Eigen::Index batch = 128;

void nde_32_256_256_32_forward(benchmark::State& state) {
  const nn::mlp<nn::tanh_activation, dynamic, dynamic, dynamic, dynamic> net({32, 256, 256, 32});
  const Eigen::VectorXd theta = initial_parameters(net);
  auto ws = net.make_workspace(batch);
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(32, batch);
  Eigen::MatrixXd y(32, batch);
  for (auto _ : state) {
    net.forward(theta, x, y, ws);
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(nde_32_256_256_32_forward)->Unit(benchmark::kMicrosecond);

void nde_32_256_256_32_forward_vjp(benchmark::State& state) {
  const nn::mlp<nn::tanh_activation, dynamic, dynamic, dynamic, dynamic> net({32, 256, 256, 32});
  const Eigen::VectorXd theta = initial_parameters(net);
  auto ws = net.make_workspace(batch);
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(32, batch);
  const Eigen::MatrixXd dy = Eigen::MatrixXd::Random(32, batch);
  Eigen::MatrixXd y(32, batch), dx(32, batch);
  Eigen::VectorXd dtheta = Eigen::VectorXd::Zero(net.num_params());
  for (auto _ : state) {
    net.forward(theta, x, y, ws);
    net.backward(theta, x, dy, dx, dtheta, ws);
    benchmark::DoNotOptimize(dx.data());
  }
}
BENCHMARK(nde_32_256_256_32_forward_vjp)->Unit(benchmark::kMicrosecond);

plain_mlp3_batch make_plain_batch() {
  plain_mlp3_batch net;
  net.w0 = Eigen::MatrixXd::Random(256, 32) * 0.17;
  net.w1 = Eigen::MatrixXd::Random(256, 256) * 0.06;
  net.w2 = Eigen::MatrixXd::Random(32, 256) * 0.06;
  net.b0 = Eigen::VectorXd::Random(256) * 0.1;
  net.b1 = Eigen::VectorXd::Random(256) * 0.1;
  net.b2 = Eigen::VectorXd::Random(32) * 0.1;
  return net;
}

void eigen_32_256_256_32_forward(benchmark::State& state) {
  auto net = make_plain_batch();
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(32, batch);
  Eigen::MatrixXd y(32, batch);
  for (auto _ : state) {
    net.forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(eigen_32_256_256_32_forward)->Unit(benchmark::kMicrosecond);

void eigen_32_256_256_32_forward_vjp(benchmark::State& state) {
  auto net = make_plain_batch();
  const Eigen::MatrixXd x = Eigen::MatrixXd::Random(32, batch);
  const Eigen::MatrixXd dy = Eigen::MatrixXd::Random(32, batch);
  Eigen::MatrixXd y(32, batch), dx(32, batch);
  Eigen::MatrixXd dw0 = Eigen::MatrixXd::Zero(256, 32), dw1 = Eigen::MatrixXd::Zero(256, 256),
                  dw2 = Eigen::MatrixXd::Zero(32, 256);
  Eigen::VectorXd db0 = Eigen::VectorXd::Zero(256), db1 = Eigen::VectorXd::Zero(256),
                  db2 = Eigen::VectorXd::Zero(32);
  for (auto _ : state) {
    net.vjp(x, dy, dx, dw0, db0, dw1, db1, dw2, db2);  // includes its own forward
    benchmark::DoNotOptimize(dx.data());
  }
}
BENCHMARK(eigen_32_256_256_32_forward_vjp)->Unit(benchmark::kMicrosecond);

// ---- the activation alone -----------------------------------------------------------

void nde_tanh_4096(benchmark::State& state) {
  const Eigen::VectorXd x = Eigen::VectorXd::Random(4096) * 3;
  Eigen::VectorXd y(4096);
  const nn::tanh_activation act;
  for (auto _ : state) {
    act.forward(x, 0.0, x, y, x);
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(nde_tanh_4096);

void eigen_tanh_4096(benchmark::State& state) {
  const Eigen::VectorXd x = Eigen::VectorXd::Random(4096) * 3;
  Eigen::VectorXd y(4096);
  for (auto _ : state) {
    y = x.array().tanh();
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(eigen_tanh_4096);

}  // namespace

BENCHMARK_MAIN();
