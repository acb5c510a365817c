// Initialisers: determinism for a seed, bounds and variances of each scheme.
#include <nde/nn/initialisers.hpp>
#include <nde/nn/linear.hpp>
#include <nde/nn/mlp.hpp>
#include <nde/nn/sequential.hpp>
#include <nde/nn/time_layers.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <random>

namespace nn = nde::nn;
constexpr int dynamic = Eigen::Dynamic;

namespace {

struct moments {
  double mean = 0, variance = 0, max_abs = 0;
};

moments block_moments(const Eigen::VectorXd& theta, const nde::parameter_block& block) {
  const auto values = theta.segment(block.offset, block.size());
  moments m;
  m.mean = values.mean();
  m.variance = (values.array() - m.mean).square().mean();
  m.max_abs = values.cwiseAbs().maxCoeff();
  return m;
}

}  // namespace

TEST_CASE("uniforms come from the engine bits: exact, in [0, 1), reproducible", "[nn][init]") {
  std::mt19937_64 a(42), b(42), reference(42);
  for (int i = 0; i < 1000; ++i) {
    const double u = nn::uniform_01(a);
    // 53 bits: u·2⁵³ is an integer equal to the top bits of the engine output.
    CHECK(u * 0x1.0p53 == double(reference() >> 11));
    CHECK(u >= 0.0);
    CHECK(u < 1.0);
    CHECK(u == nn::uniform_01(b));
  }
}

TEST_CASE("same seed gives the same network, another seed a different one", "[nn][init]") {
  const nn::mlp<nn::tanh_activation, dynamic, dynamic, dynamic> net({3, 20, 2});
  auto make = [&](unsigned seed, auto init) {
    std::mt19937_64 engine(seed);
    Eigen::VectorXd theta(net.num_params());
    init(theta, engine);
    return theta;
  };
  auto pytorch = [&](Eigen::VectorXd& theta, std::mt19937_64& engine) {
    nn::init_pytorch_default(net, theta, engine);
  };
  auto xavier = [&](Eigen::VectorXd& theta, std::mt19937_64& engine) {
    nn::init_xavier_normal(net, theta, engine);
  };
  CHECK(make(7, pytorch) == make(7, pytorch));
  CHECK(make(7, pytorch) != make(8, pytorch));
  CHECK(make(7, xavier) == make(7, xavier));

  // The first weight is -b + 2b·u with u from the first engine output (b = 1/sqrt(3)).
  std::mt19937_64 engine(7);
  const double u = double(engine() >> 11) * 0x1.0p-53;
  const double bound = 1 / std::sqrt(3.0);
  CHECK(make(7, pytorch)(0) == -bound + 2 * bound * u);

  // float parameters get the same values rounded.
  std::mt19937_64 float_engine(7);
  Eigen::VectorXf theta_float(net.num_params());
  nn::init_pytorch_default(net, theta_float, float_engine);
  CHECK(theta_float == make(7, pytorch).cast<float>());
}

TEST_CASE("initialiser bounds and variances", "[nn][init]") {
  // Large layers so sample moments are close to the distribution's (≈ 20000 samples).
  const nn::sequential net{nn::linear<dynamic, dynamic>(200, 100), nn::tanh_activation{},
                           nn::linear<dynamic, dynamic>(100, 300)};
  const auto layout = net.layout();
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(2024);

  SECTION("PyTorch default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias") {
    nn::init_pytorch_default(net, theta, engine);
    for (const auto& block : layout) {
      const double in = block.name[0] == '0' ? 200 : 100;
      const double bound = 1 / std::sqrt(in);
      const auto m = block_moments(theta, block);
      CHECK(m.max_abs <= bound);
      CHECK(m.max_abs > 0.95 * bound);
      if (block.shape.size() == 2) {
        CHECK(m.variance == Approx(bound * bound / 3).epsilon(0.05));
        CHECK(std::abs(m.mean) < 0.05 * bound);
      }
    }
  }
  SECTION("Xavier uniform: bound gain*sqrt(6/(in+out)), zero bias") {
    nn::init_xavier_uniform(net, theta, engine, 2.0);
    const double bound = 2.0 * std::sqrt(6.0 / (200 + 100));
    const auto m = block_moments(theta, layout[0]);
    CHECK(m.max_abs <= bound);
    CHECK(m.variance == Approx(bound * bound / 3).epsilon(0.05));
    CHECK(block_moments(theta, layout[1]).max_abs == 0.0);
  }
  SECTION("Xavier normal: variance gain^2 * 2/(in+out)") {
    nn::init_xavier_normal(net, theta, engine);
    CHECK(block_moments(theta, layout[2]).variance == Approx(2.0 / (100 + 300)).epsilon(0.05));
    CHECK(block_moments(theta, layout[3]).max_abs == 0.0);
  }
  SECTION("Kaiming uniform: bound sqrt(6/in) for relu gain") {
    nn::init_kaiming_uniform(net, theta, engine);
    const double bound = std::sqrt(6.0 / 200);
    const auto m = block_moments(theta, layout[0]);
    CHECK(m.max_abs <= bound);
    CHECK(m.variance == Approx(2.0 / 200).epsilon(0.05));
  }
  SECTION("Kaiming normal: variance 2/in") {
    nn::init_kaiming_normal(net, theta, engine);
    const auto m = block_moments(theta, layout[2]);
    CHECK(m.variance == Approx(2.0 / 100).epsilon(0.05));
    CHECK(std::abs(m.mean) < 0.05 * std::sqrt(2.0 / 100));
  }
  SECTION("zeros") {
    theta.setOnes();
    nn::init_zeros(net, theta);
    CHECK(theta.isZero(0.0));
  }
}

TEST_CASE("time-layer biases take the fan-in of their own weight", "[nn][init]") {
  const nn::sequential net{nn::concat_squash_linear<dynamic, dynamic>(400, 50)};
  Eigen::VectorXd theta(net.num_params());
  std::mt19937_64 engine(5);
  nn::init_pytorch_default(net, theta, engine);
  const auto layout = net.layout();
  // _layer.bias follows _layer.weight (fan-in 400); _hyper_gate.bias its {50, 1} weight (fan-in 1).
  CHECK(block_moments(theta, layout[1]).max_abs <= 1 / std::sqrt(400.0));
  CHECK(block_moments(theta, layout[4]).max_abs > 1 / std::sqrt(400.0));
  CHECK(block_moments(theta, layout[4]).max_abs <= 1.0);
}

TEST_CASE("initialiser given a vector of the wrong size throws", "[nn][init]") {
  const nn::mlp<nn::tanh_activation, 2, 3, 1> net;
  Eigen::VectorXd theta(5);
  std::mt19937_64 engine(1);
  CHECK_THROWS_AS(nn::init_pytorch_default(net, theta, engine), nde::error);
}

TEST_CASE("initialisers reject layouts that do not fit the vector, before writing", "[nn][init]") {
  std::mt19937_64 engine(1);
  Eigen::VectorXd theta = Eigen::VectorXd::Constant(4, -7);
  const auto rejected = [&](const nde::parameter_layout& layout) {
    bool threw = false;
    try {
      nn::init_pytorch_default(layout, theta, engine);
    } catch (const nde::error& e) {
      threw = e.code() == nde::status::invalid_input;
    }
    return threw && (theta.array() == -7).all();
  };
  // The total size matches, but a block lies outside the vector.
  CHECK(rejected({{"0.weight", {1, 2}, 0}, {"0.bias", {2}, 100}}));
  CHECK(rejected({{"0.weight", {1, 2}, 0}, {"0.bias", {2}, -1}}));
  // Overlapping blocks (index 3 would never be written).
  CHECK(rejected({{"0.weight", {1, 2}, 0}, {"0.bias", {2}, 1}}));
  // A negative dimension makes the total match while a block is too long.
  CHECK(rejected({{"a", {-1}, 0}, {"b", {5}, 0}}));
  // A shape whose product wraps to 0 in 64 bits, next to a block that fills the vector.
  CHECK(rejected({{"a", {std::int64_t{1} << 32, std::int64_t{1} << 32}, 0}, {"b", {4}, 0}}));
  // Offset + size overflowing int64.
  CHECK(rejected({{"a", {4}, std::numeric_limits<std::int64_t>::max() - 1}}));
  // A non-finite gain.
  const nde::parameter_layout good = {{"0.weight", {1, 2}, 0}, {"0.bias", {2}, 2}};
  CHECK_THROWS_WITH(nn::init_kaiming_uniform(good, theta, engine, std::nan("")),
                    Catch::Contains("gain"));
  CHECK((theta.array() == -7).all());
  nn::init_xavier_uniform(good, theta, engine);
  CHECK(theta.segment(2, 2).isZero(0.0));
}
