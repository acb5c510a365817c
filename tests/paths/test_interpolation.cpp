// Interpolated control paths: polynomial reproduction, derivatives against finite differences,
// continuity and causality, empirical interpolation order, the vjp with respect to the data,
// the missing-value preparation and the errors of bad input.
#include <nde/paths/interpolation.hpp>
#include <nde/paths/observations.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace {

using matrix = Eigen::MatrixXd;
constexpr double missing = std::numeric_limits<double>::quiet_NaN();

std::vector<double> irregular_times(std::size_t n, std::mt19937_64& rng, double t0 = 0.3) {
  std::uniform_real_distribution<double> gap(0.2, 1.0);
  std::vector<double> t(n);
  t[0] = t0;
  for (std::size_t k = 1; k < n; ++k) t[k] = t[k - 1] + gap(rng);
  return t;
}

// x_k(c, b) = alpha(c, b) + beta(c, b) t_k.
struct linear_data {
  matrix alpha, beta;
  nde::path_values<> values;
};
linear_data linear_function(const std::vector<double>& t, Eigen::Index channels,
                            Eigen::Index batch) {
  linear_data d{matrix::Random(channels, batch), matrix::Random(channels, batch), {}};
  for (double tk : t) d.values.push_back(d.alpha + tk * d.beta);
  return d;
}

nde::path_values<> random_values(std::size_t n, Eigen::Index channels, Eigen::Index batch) {
  nde::path_values<> v;
  for (std::size_t k = 0; k < n; ++k) v.push_back(matrix::Random(channels, batch));
  return v;
}

template <class Path>
void check_linear_reproduction(const std::vector<double>& t) {
  const auto d = linear_function(t, 3, 2);
  const Path path(t, d.values);
  matrix x, dx, ddx;
  for (int q = 0; q <= 40; ++q) {
    const double tq = t.front() + (t.back() - t.front()) * q / 40.0;
    path.evaluate(tq, x);
    path.derivative(tq, dx);
    path.second_derivative(tq, ddx);
    CHECK((x - (d.alpha + tq * d.beta)).cwiseAbs().maxCoeff() < 1e-13);
    CHECK((dx - d.beta).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(ddx.cwiseAbs().maxCoeff() < 1e-10);
  }
}

// X' against central differences of X, X'' against central differences of X', away from knots.
template <class Path>
void check_derivatives(const Path& path, std::mt19937_64& rng, double tol1, double tol2) {
  std::uniform_real_distribution<double> where(path.start(), path.end());
  const auto knots = path.knots();
  const double h = 1e-5;
  matrix xp, xm, dx, dxp, dxm, ddx;
  int checked = 0;
  while (checked < 20) {
    const double tq = where(rng);
    bool near_knot = false;
    for (double k : knots) near_knot = near_knot || std::abs(tq - k) < 10 * h;
    if (near_knot) continue;
    ++checked;
    path.evaluate(tq + h, xp);
    path.evaluate(tq - h, xm);
    path.derivative(tq, dx);
    path.derivative(tq + h, dxp);
    path.derivative(tq - h, dxm);
    path.second_derivative(tq, ddx);
    CHECK(((xp - xm) / (2 * h) - dx).cwiseAbs().maxCoeff() < tol1 * (1 + dx.cwiseAbs().maxCoeff()));
    CHECK(((dxp - dxm) / (2 * h) - ddx).cwiseAbs().maxCoeff() <
          tol2 * (1 + ddx.cwiseAbs().maxCoeff()));
  }
}

// ⟨ḡ, X'(t)⟩ is linear in the data: its gradient is exact by one central difference per entry.
template <class Path>
void check_derivative_vjp(const std::vector<double>& t, const nde::path_values<>& values,
                          double tq) {
  const Path path(t, values);
  const matrix g = matrix::Random(values[0].rows(), values[0].cols());
  nde::path_values<> bar;
  path.derivative_vjp(tq, g, bar);
  REQUIRE(bar.size() == values.size());
  const double h = 1e-3;
  double worst = 0;
  for (std::size_t k = 0; k < values.size(); ++k) {
    for (Eigen::Index e = 0; e < values[k].size(); ++e) {
      auto plus = values, minus = values;
      plus[k].data()[e] += h;
      minus[k].data()[e] -= h;
      matrix dp, dm;
      Path(t, plus).derivative(tq, dp);
      Path(t, minus).derivative(tq, dm);
      const double fd = (g.cwiseProduct(dp).sum() - g.cwiseProduct(dm).sum()) / (2 * h);
      worst = std::max(worst, std::abs(fd - bar[k].data()[e]));
    }
  }
  CHECK(worst < 1e-9);
}

// Max |X − sin| over a fine grid, knots uniform on [0, π] (sin'' = 0 at both ends, so the
// natural spline's end condition is exact there).
template <class Path>
double sine_error(std::size_t n) {
  std::vector<double> t(n);
  nde::path_values<> v;
  for (std::size_t k = 0; k < n; ++k) {
    t[k] = std::numbers::pi * static_cast<double>(k) / static_cast<double>(n - 1);
    v.push_back(matrix::Constant(1, 1, std::sin(t[k])));
  }
  const Path path(t, v);
  double worst = 0;
  matrix x;
  for (int q = 0; q <= 2000; ++q) {
    const double tq = std::numbers::pi * q / 2000.0;
    path.evaluate(tq, x);
    worst = std::max(worst, std::abs(x(0, 0) - std::sin(tq)));
  }
  return worst;
}
template <class Path>
double sine_order() {
  return std::log2(sine_error<Path>(33) / sine_error<Path>(65));
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const nde::error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("every interpolation reproduces linear functions exactly", "[paths]") {
  std::mt19937_64 rng(1);
  const auto t = irregular_times(9, rng);
  check_linear_reproduction<nde::linear_interpolation_path<>>(t);
  check_linear_reproduction<nde::hermite_cubic_path<>>(t);
  check_linear_reproduction<nde::natural_cubic_path<>>(t);
}

TEST_CASE("paths pass through the observations", "[paths]") {
  std::mt19937_64 rng(2);
  const auto t = irregular_times(7, rng);
  const auto v = random_values(7, 2, 3);
  const nde::linear_interpolation_path<> lin(t, v);
  const nde::hermite_cubic_path<> her(t, v);
  const nde::natural_cubic_path<> nat(t, v);
  matrix x;
  for (std::size_t k = 0; k < t.size(); ++k) {
    lin.evaluate(t[k], x);
    CHECK((x - v[k]).cwiseAbs().maxCoeff() < 1e-14);
    her.evaluate(t[k], x);
    CHECK((x - v[k]).cwiseAbs().maxCoeff() < 1e-14);
    nat.evaluate(t[k], x);
    CHECK((x - v[k]).cwiseAbs().maxCoeff() < 1e-13);
  }
  CHECK((her.increment(t[1], t[4]) - (v[4] - v[1])).cwiseAbs().maxCoeff() < 1e-14);
}

TEST_CASE("path derivatives match central differences", "[paths]") {
  std::mt19937_64 rng(3);
  const auto t = irregular_times(8, rng);
  const auto v = random_values(8, 3, 2);
  check_derivatives(nde::linear_interpolation_path<>(t, v), rng, 1e-8, 1e-6);
  check_derivatives(nde::hermite_cubic_path<>(t, v), rng, 1e-8, 1e-6);
  check_derivatives(nde::natural_cubic_path<>(t, v), rng, 1e-8, 1e-6);
  check_derivatives(nde::rectilinear_path<>(t, v, 0), rng, 1e-8, 1e-6);
}

TEST_CASE("hermite path is C1 and natural spline C2 with zero end curvature", "[paths]") {
  std::mt19937_64 rng(4);
  const auto t = irregular_times(8, rng);
  const auto v = random_values(8, 2, 2);
  const nde::hermite_cubic_path<> her(t, v);
  const nde::natural_cubic_path<> nat(t, v);
  const nde::linear_interpolation_path<> lin(t, v);
  matrix left, right;
  double hermite_jump = 0, natural_jump = 0, linear_jump = 0, hermite_curvature_jump = 0;
  for (std::size_t k = 1; k + 1 < t.size(); ++k) {
    const double eps = 1e-9;
    her.derivative(t[k] - eps, left);
    her.derivative(t[k] + eps, right);
    hermite_jump = std::max(hermite_jump, (left - right).cwiseAbs().maxCoeff());
    her.second_derivative(t[k] - eps, left);
    her.second_derivative(t[k] + eps, right);
    hermite_curvature_jump = std::max(hermite_curvature_jump, (left - right).cwiseAbs().maxCoeff());
    nat.second_derivative(t[k] - eps, left);
    nat.second_derivative(t[k] + eps, right);
    natural_jump = std::max(natural_jump, (left - right).cwiseAbs().maxCoeff());
    lin.derivative(t[k] - eps, left);
    lin.derivative(t[k] + eps, right);
    linear_jump = std::max(linear_jump, (left - right).cwiseAbs().maxCoeff());
  }
  CHECK(hermite_jump < 1e-6);
  CHECK(natural_jump < 1e-6);
  CHECK(hermite_curvature_jump > 1e-3);  // only C¹: X'' jumps (the reason tests need care)
  CHECK(linear_jump > 1e-3);             // X' jumps: jump_ts are needed
  nat.second_derivative(t.front(), left);
  nat.second_derivative(t.back(), right);
  CHECK(left.cwiseAbs().maxCoeff() < 1e-12);
  CHECK(right.cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("hermite and linear paths are causal, the natural spline is not", "[paths]") {
  std::mt19937_64 rng(5);
  const auto t = irregular_times(9, rng);
  const auto v = random_values(9, 2, 2);
  for (std::size_t i = 0; i + 2 < t.size(); ++i) {
    auto changed = v;
    for (std::size_t j = i + 2; j < t.size(); ++j) changed[j].array() += 10.0;
    const nde::hermite_cubic_path<> a(t, v), b(t, changed);
    const nde::linear_interpolation_path<> la(t, v), lb(t, changed);
    const nde::natural_cubic_path<> na(t, v), nb(t, changed);
    double hermite = 0, linear = 0, natural = 0;
    matrix xa, xb;
    for (int q = 0; q < 10; ++q) {  // [t_i, t_{i+1}): t_{i+1} itself belongs to the next interval
      const double tq = t[i] + (t[i + 1] - t[i]) * q / 10.0;
      a.derivative(tq, xa);
      b.derivative(tq, xb);
      hermite = std::max(hermite, (xa - xb).cwiseAbs().maxCoeff());
      la.evaluate(tq, xa);
      lb.evaluate(tq, xb);
      linear = std::max(linear, (xa - xb).cwiseAbs().maxCoeff());
      na.evaluate(tq, xa);
      nb.evaluate(tq, xb);
      natural = std::max(natural, (xa - xb).cwiseAbs().maxCoeff());
    }
    CHECK(hermite == 0.0);
    CHECK(linear == 0.0);
    if (i + 2 < t.size()) CHECK(natural > 1e-6);
  }
}

TEST_CASE("interpolation error of sin falls at each method's order", "[paths]") {
  // Hermite with backward differences: slopes are first order, so values are O(h²); linear O(h²);
  // the natural spline O(h⁴) (its end condition holds exactly for sin on [0, π]).
  CHECK(std::abs(sine_order<nde::linear_interpolation_path<>>() - 2) < 0.2);
  CHECK(std::abs(sine_order<nde::hermite_cubic_path<>>() - 2) < 0.3);
  CHECK(std::abs(sine_order<nde::natural_cubic_path<>>() - 4) < 0.3);
}

TEST_CASE("rectilinear path moves the leading channel first", "[paths]") {
  std::mt19937_64 rng(6);
  const auto t = irregular_times(5, rng);
  auto v = random_values(5, 3, 2);
  for (std::size_t k = 0; k < t.size(); ++k) v[k].row(0).setConstant(t[k]);
  const nde::rectilinear_path<> path(t, v, 0);
  CHECK(path.start() == 0.0);
  CHECK(path.end() == 8.0);
  matrix x;
  for (std::size_t i = 0; i + 1 < t.size(); ++i) {
    path.evaluate(2.0 * static_cast<double>(i), x);
    CHECK((x - v[i]).cwiseAbs().maxCoeff() < 1e-14);
    path.evaluate(2.0 * static_cast<double>(i) + 1, x);
    CHECK(std::abs(x(0, 0) - t[i + 1]) < 1e-14);
    CHECK((x.bottomRows(2) - v[i].bottomRows(2)).cwiseAbs().maxCoeff() < 1e-14);
    // Halfway along the data leg: time held, data halfway.
    path.evaluate(2.0 * static_cast<double>(i) + 1.5, x);
    CHECK(std::abs(x(0, 1) - t[i + 1]) < 1e-14);
    CHECK((x.bottomRows(2) - 0.5 * (v[i] + v[i + 1]).bottomRows(2)).cwiseAbs().maxCoeff() < 1e-14);
  }
}

TEST_CASE("derivative vjp with respect to the data matches finite differences", "[paths]") {
  std::mt19937_64 rng(7);
  const auto t = irregular_times(7, rng);
  const auto v = random_values(7, 2, 2);
  for (double frac : {0.05, 0.37, 0.62, 0.97}) {
    const double tq = t.front() + frac * (t.back() - t.front());
    check_derivative_vjp<nde::linear_interpolation_path<>>(t, v, tq);
    check_derivative_vjp<nde::hermite_cubic_path<>>(t, v, tq);
    check_derivative_vjp<nde::natural_cubic_path<>>(t, v, tq);
  }
  // Rectilinear: parameter s, N original observations.
  struct rect : nde::rectilinear_path<> {
    rect(const std::vector<double>& tt, const nde::path_values<>& vv)
        : nde::rectilinear_path<>(tt, vv, 1) {}
  };
  for (double s : {0.4, 1.3, 4.6, 11.9}) check_derivative_vjp<rect>(t, v, s);
}

TEST_CASE("prepare_observations fills forward and adds time and intensity channels", "[paths]") {
  const std::vector<double> t{0.0, 1.0, 2.5, 3.0};
  nde::path_values<> raw(4, matrix(2, 2));
  raw[0] << missing, 1.0, 5.0, missing;
  raw[1] << 2.0, missing, missing, 7.0;
  raw[2] << missing, 3.0, 6.0, missing;
  raw[3] << 4.0, missing, missing, missing;
  const auto out = nde::prepare_observations(t, raw);
  REQUIRE(out.size() == 4);
  REQUIRE(out[0].rows() == 5);  // time, 2 channels, 2 intensities
  for (std::size_t k = 0; k < 4; ++k) CHECK((out[k].row(0).array() == t[k]).all());
  // Sample 0, channel 0: leading NaN takes the first observation (2), then 2, 2, 4.
  CHECK(out[0](1, 0) == 2.0);
  CHECK(out[1](1, 0) == 2.0);
  CHECK(out[2](1, 0) == 2.0);
  CHECK(out[3](1, 0) == 4.0);
  // Its intensity: 0, 1, 1, 2.
  CHECK(out[0](3, 0) == 0.0);
  CHECK(out[1](3, 0) == 1.0);
  CHECK(out[3](3, 0) == 2.0);
  // Sample 1, channel 1: 7 at knot 1 only: 7 throughout; intensity 0, 1, 1, 1.
  CHECK(out[0](2, 1) == 7.0);
  CHECK(out[3](2, 1) == 7.0);
  CHECK(out[3](4, 1) == 1.0);
  const auto plain =
      nde::prepare_observations(t, raw, {.time_channel = false, .intensity_channels = false});
  CHECK(plain[0].rows() == 2);
  CHECK(plain[2](0, 1) == 3.0);
}

TEST_CASE("align_samples puts samples on the union grid", "[paths]") {
  const std::vector<std::vector<double>> times{{0.0, 2.0}, {1.0, 2.0, 3.0}};
  std::vector<matrix> values{matrix(1, 2), matrix(1, 3)};
  values[0] << 10, 20;
  values[1] << 1, 2, 3;
  const auto a = nde::align_samples(times, values);
  REQUIRE(a.times == std::vector<double>{0.0, 1.0, 2.0, 3.0});
  CHECK(a.values[0](0, 0) == 10);
  CHECK(std::isnan(a.values[1](0, 0)));
  CHECK(a.values[2](0, 0) == 20);
  CHECK(std::isnan(a.values[0](0, 1)));
  CHECK(a.values[3](0, 1) == 3);
}

TEST_CASE("bad path input gets a clear error", "[paths]") {
  const std::vector<double> t{0.0, 1.0, 2.0};
  const nde::path_values<> v(3, matrix::Ones(2, 1));
  CHECK(error_of([&] {
          nde::hermite_cubic_path<>({0.0, 2.0, 1.0}, v);
        }).find("strictly increasing") != std::string::npos);
  CHECK(error_of([&] {
          nde::natural_cubic_path<>({0.0}, {matrix::Ones(2, 1)});
        }).find("at least 2 knots") != std::string::npos);
  auto with_nan = v;
  with_nan[1](0, 0) = missing;
  CHECK(error_of([&] {
          nde::linear_interpolation_path<>(t, with_nan);
        }).find("prepare_observations") != std::string::npos);
  auto mismatched = v;
  mismatched[2] = matrix::Ones(3, 1);
  CHECK(error_of([&] { nde::hermite_cubic_path<>(t, mismatched); }).find("channels x samples") !=
        std::string::npos);
  const nde::hermite_cubic_path<> path(t, v);
  matrix x;
  CHECK(error_of([&] { path.derivative(2.5, x); }).find("outside the path") != std::string::npos);
  CHECK(error_of([&] { path.evaluate(std::nan(""), x); }).find("outside the path") !=
        std::string::npos);
  CHECK(error_of([&] { nde::rectilinear_path<>(t, v, 2); }).find("leading channel") !=
        std::string::npos);
  // Observations.
  nde::path_values<> raw(3, matrix::Constant(2, 2, missing));
  raw[0](0, 0) = 1;
  raw[2](1, 0) = 1;  // sample 0 observes both channels, sample 1 nothing
  CHECK(error_of([&] {
          (void)nde::prepare_observations(t, raw);
        }).find("sample 1 has no observations") != std::string::npos);
  raw[1](0, 1) = 2;
  CHECK(error_of([&] {
          (void)nde::prepare_observations(t, raw);
        }).find("never observes channel 1") != std::string::npos);
  CHECK(error_of([&] {
          (void)nde::prepare_observations({0.0, 0.0, 1.0}, raw);
        }).find("strictly increasing") != std::string::npos);
  CHECK(error_of([&] {
          (void)nde::align_samples<double>({{0.0, 1.0}, {}}, {matrix(1, 2), matrix(1, 0)});
        }).find("sample 1 has no observations") != std::string::npos);
  CHECK(error_of([&] {
          (void)nde::align_samples<double>({{0.0, 1.0}, {0.5}}, {matrix(1, 2), matrix(2, 1)});
        }).find("channels") != std::string::npos);
  CHECK(error_of([&] {
          (void)nde::align_samples<double>({{1.0, 0.0}}, {matrix(1, 2)});
        }).find("strictly increasing") != std::string::npos);
}
