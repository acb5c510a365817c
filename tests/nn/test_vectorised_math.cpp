// Accuracy of the SIMD activation kernels in ulp against long-double references
// (rounded to the tested type), over a wide range and at special values.
#include <nde/nn/activations.hpp>

#include <catch.hpp>

#include "nn_test_support.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

// Packets (__m128d, ...) as template arguments drop their alignment attributes; harmless here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace {

template <class T>
std::vector<T> test_inputs() {
  using limits = std::numeric_limits<T>;
  std::vector<T> xs = {T(0),
                       T(-0.0),
                       limits::denorm_min(),
                       limits::min(),
                       T(1e-30),
                       T(1e-8),
                       T(0.5),
                       T(0.625),
                       T(0.6249999),
                       T(0.6250001),
                       T(1),
                       T(2),
                       T(10),
                       T(19),
                       T(20),
                       T(21),
                       T(40),
                       T(87),
                       T(88.5),
                       T(89),
                       limits::max(),
                       limits::infinity()};
  if constexpr (sizeof(T) == 8) {
    for (double x :
         {300.0, 700.0, 708.0, 708.5, 709.0, 709.7, 709.8, 710.0, 740.0, 745.0, 746.0, 800.0}) {
      xs.push_back(T(x));
    }
  }
  // Logarithmic sweep over magnitudes, then a dense sweep where the formulas switch.
  const T smallest = sizeof(T) == 8 ? T(1e-300) : T(1e-37);
  for (T x = smallest; x < T(1e3); x *= T(1.37)) xs.push_back(x);
  for (int i = 0; i <= 20000; ++i) xs.push_back(T(-0.0) + T(12) * T(i) / T(20000));
  const std::size_t positive = xs.size();
  for (std::size_t i = 0; i < positive; ++i) xs.push_back(-xs[i]);
  xs.push_back(limits::quiet_NaN());
  return xs;
}

// Runs the packet kernel over the inputs (a scalar tail would hide packet errors).
template <class T, class Kernel>
std::vector<T> apply_packets(const std::vector<T>& xs, Kernel kernel) {
  using packet = typename Eigen::internal::packet_traits<T>::type;
  constexpr std::size_t width = Eigen::internal::unpacket_traits<packet>::size;
  std::vector<T> padded = xs;
  while (padded.size() % width != 0) padded.push_back(T(0));
  std::vector<T> out(padded.size());
  for (std::size_t i = 0; i < padded.size(); i += width) {
    Eigen::internal::pstoreu(out.data() + i,
                             kernel(Eigen::internal::ploadu<packet>(padded.data() + i)));
  }
  out.resize(xs.size());
  return out;
}

template <class T, class Kernel, class Reference>
double max_ulp_error(const std::string& name, Kernel kernel, Reference reference) {
  const auto xs = test_inputs<T>();
  const auto ys = apply_packets(xs, kernel);
  double worst = 0;
  T worst_x = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const T expected = static_cast<T>(reference(static_cast<long double>(xs[i])));
    const double error = nde_test::ulp_distance(ys[i], expected);
    if (error > worst) {
      worst = error;
      worst_x = xs[i];
    }
  }
  INFO(name << ": worst ulp error " << worst << " at x = " << worst_x);
  CHECK(worst <= 4);
  return worst;
}

long double reference_sigmoid(long double x) { return 1.0L / (1.0L + std::exp(-x)); }
long double reference_softplus(long double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
long double reference_silu(long double x) {
  if (std::isinf(x)) return x > 0 ? x : -0.0L;
  return x * reference_sigmoid(x);
}
long double reference_elu(long double x) { return x > 0 ? x : std::expm1(x); }

}  // namespace

TEMPLATE_TEST_CASE("vectorised activations are within 4 ulp of the long-double reference",
                   "[nn][math]", float, double) {
  namespace detail = nde::nn::detail;
  using packet = typename Eigen::internal::packet_traits<TestType>::type;
  max_ulp_error<TestType>(
      "tanh", [](packet x) { return detail::tanh(x); }, [](long double x) { return std::tanh(x); });
  max_ulp_error<TestType>(
      "sigmoid", [](packet x) { return detail::sigmoid(x); }, reference_sigmoid);
  max_ulp_error<TestType>(
      "softplus", [](packet x) { return detail::softplus(x); }, reference_softplus);
  max_ulp_error<TestType>(
      "silu", [](packet x) { return detail::silu(x); }, reference_silu);
  max_ulp_error<TestType>(
      "elu", [](packet x) { return detail::elu(x, Eigen::internal::pset1<packet>(TestType(1))); },
      reference_elu);
  max_ulp_error<TestType>(
      "exp", [](packet x) { return detail::exp_full_range(x); },
      [](long double x) { return std::exp(x); });
  max_ulp_error<TestType>(
      "relu", [](packet x) { return detail::relu(x); },
      [](long double x) { return std::isnan(x) ? x : (x < 0 ? 0.0L : x); });
}

TEST_CASE("vectorised tanh agrees with std::tanh and keeps special values", "[nn][math]") {
  namespace detail = nde::nn::detail;
  using packet = Eigen::internal::packet_traits<double>::type;
  const auto xs = test_inputs<double>();
  const auto ys = apply_packets(xs, [](packet x) { return detail::tanh(x); });
  double worst = 0;
  for (std::size_t i = 0; i < xs.size(); ++i)
    worst = std::max(worst, nde_test::ulp_distance(ys[i], std::tanh(xs[i])));
  CHECK(worst <= 3);

  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> special = {0.0, -0.0, inf, -inf, std::nan(""), 1e-310, -1e-310};
  const auto out = apply_packets(special, [](packet x) { return detail::tanh(x); });
  CHECK(out[0] == 0.0);
  CHECK_FALSE(std::signbit(out[0]));
  CHECK(out[1] == 0.0);
  CHECK(std::signbit(out[1]));
  CHECK(out[2] == 1.0);
  CHECK(out[3] == -1.0);
  CHECK(std::isnan(out[4]));
  CHECK(out[5] == 1e-310);  // tanh(x) = x to double precision for subnormal x
  CHECK(out[6] == -1e-310);

  const auto sig = apply_packets(special, [](packet x) { return detail::sigmoid(x); });
  CHECK(sig[2] == 1.0);
  CHECK(sig[3] == 0.0);
  CHECK(std::isnan(sig[4]));
  const auto soft = apply_packets(special, [](packet x) { return detail::softplus(x); });
  CHECK(soft[2] == inf);
  CHECK(soft[3] == 0.0);
  CHECK(std::isnan(soft[4]));
  const auto elu = apply_packets(
      special, [](packet x) { return detail::elu(x, Eigen::internal::pset1<packet>(1.0)); });
  CHECK(elu[2] == inf);
  CHECK(elu[3] == -1.0);
  CHECK(std::isnan(elu[4]));
  const auto relu = apply_packets(special, [](packet x) { return detail::relu(x); });
  CHECK(relu[2] == inf);
  CHECK(relu[3] == 0.0);
  CHECK(std::isnan(relu[4]));
}

TEST_CASE(
    "activation layers use the packet path for float and double and agree with the scalar path",
    "[nn][math]") {
  using nde::nn::detail::activation_value_op;
  STATIC_REQUIRE(Eigen::internal::functor_traits<
                 activation_value_op<nde::nn::tanh_activation, double>>::PacketAccess);
  STATIC_REQUIRE(Eigen::internal::functor_traits<
                 activation_value_op<nde::nn::tanh_activation, float>>::PacketAccess);

  std::mt19937_64 engine(7);
  // 51 rows: the packet loop plus a scalar tail element.
  const Eigen::VectorXd x = nde_test::random_matrix(51, 1, engine, 6.0);
  auto check_layer = [&](const auto& act) {
    Eigen::VectorXd y(51), scalar_y(51);
    const Eigen::VectorXd none;
    act.forward(none, 0.0, x, y, none);
    for (Eigen::Index i = 0; i < x.size(); ++i) scalar_y(i) = act.value(x(i));
    for (Eigen::Index i = 0; i < x.size(); ++i)
      CHECK(nde_test::ulp_distance(y(i), scalar_y(i)) <= 4);
  };
  check_layer(nde::nn::tanh_activation{});
  check_layer(nde::nn::sigmoid_activation{});
  check_layer(nde::nn::softplus_activation{});
  check_layer(nde::nn::silu_activation{});
  check_layer(nde::nn::elu_activation{});
  check_layer(nde::nn::relu_activation{});
  check_layer(nde::nn::identity_activation{});
}
