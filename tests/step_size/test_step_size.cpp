// Adaptive step-size control: step counts against a reference DOPRI5, tolerance
// proportionality, the automatic initial step, norms, per-component tolerances, dtmax.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <array>
#include <cmath>
#include <vector>

namespace {

// ---------------------------------------------------------------------------------------
// Reference: an independent, deliberately plain re-implementation of the algorithm of
// Hairer & Wanner's Fortran code DOPRI5 (version of 1996, as described in Hairer, Nørsett &
// Wanner, "Solving ODEs I", Sec. II.4-II.5 and its appendix) with that code's defaults:
// SAFE = 0.9, FAC1 = 0.2, FAC2 = 10, BETA = 0.04, HINIT starting step, the 1.01 rule for the
// last step, no step increase right after a rejection. It shares no code with nde.
// (Published counts for exactly these problems were not at hand, so this stands in for them.)
// ---------------------------------------------------------------------------------------
template <std::size_t N>
using vec = std::array<double, N>;

struct reference_counts {
  int steps = 0;     // attempted steps (NSTEP)
  int accepted = 0;  // NACCPT
  int evaluations = 0;
  bool ok = false;
};

template <std::size_t N, class F>
reference_counts reference_dopri5(F f, double x, double x_end, vec<N> y, double rtol, double atol) {
  const double c2 = 0.2, c3 = 0.3, c4 = 0.8, c5 = 8.0 / 9.0;
  const double a21 = 0.2, a31 = 3.0 / 40.0, a32 = 9.0 / 40.0, a41 = 44.0 / 45.0, a42 = -56.0 / 15.0,
               a43 = 32.0 / 9.0, a51 = 19372.0 / 6561.0, a52 = -25360.0 / 2187.0,
               a53 = 64448.0 / 6561.0, a54 = -212.0 / 729.0, a61 = 9017.0 / 3168.0,
               a62 = -355.0 / 33.0, a63 = 46732.0 / 5247.0, a64 = 49.0 / 176.0,
               a65 = -5103.0 / 18656.0, a71 = 35.0 / 384.0, a73 = 500.0 / 1113.0,
               a74 = 125.0 / 192.0, a75 = -2187.0 / 6784.0, a76 = 11.0 / 84.0;
  const double e1 = 71.0 / 57600.0, e3 = -71.0 / 16695.0, e4 = 71.0 / 1920.0,
               e5 = -17253.0 / 339200.0, e6 = 22.0 / 525.0, e7 = -1.0 / 40.0;
  const double safe = 0.9, fac1 = 0.2, fac2 = 10.0, beta = 0.04, uround = 2.3e-16;
  reference_counts counts;
  const double posneg = x_end > x ? 1.0 : -1.0;
  const double hmax = std::abs(x_end - x);
  vec<N> k1, k2, k3, k4, k5, k6, k7, y1, ysti;
  f(x, y, k1);
  counts.evaluations = 1;
  // HINIT (sums, not means, as in the Fortran code).
  double dnf = 0, dny = 0;
  for (std::size_t i = 0; i < N; ++i) {
    const double sk = atol + rtol * std::abs(y[i]);
    dnf += (k1[i] / sk) * (k1[i] / sk);
    dny += (y[i] / sk) * (y[i] / sk);
  }
  double h = (dnf <= 1e-10 || dny <= 1e-10) ? 1e-6 : std::sqrt(dny / dnf) * 0.01;
  h = std::min(h, hmax) * posneg;
  for (std::size_t i = 0; i < N; ++i) y1[i] = y[i] + h * k1[i];
  f(x + h, y1, k2);
  ++counts.evaluations;
  double der2 = 0;
  for (std::size_t i = 0; i < N; ++i) {
    const double sk = atol + rtol * std::abs(y[i]);
    der2 += ((k2[i] - k1[i]) / sk) * ((k2[i] - k1[i]) / sk);
  }
  der2 = std::sqrt(der2) / std::abs(h);
  const double der12 = std::max(std::abs(der2), std::sqrt(dnf));
  const double h1 =
      der12 <= 1e-15 ? std::max(1e-6, std::abs(h) * 1e-3) : std::pow(0.01 / der12, 1.0 / 5.0);
  h = std::min({100 * std::abs(h), h1, hmax}) * posneg;

  double facold = 1e-4;
  const double expo1 = 0.2 - beta * 0.75;
  bool reject = false, last = false;
  while (true) {
    if (counts.steps > 100000 || 0.1 * std::abs(h) <= std::abs(x) * uround) return counts;
    if ((x + 1.01 * h - x_end) * posneg > 0) {
      h = x_end - x;
      last = true;
    }
    ++counts.steps;
    for (std::size_t i = 0; i < N; ++i) y1[i] = y[i] + h * a21 * k1[i];
    f(x + c2 * h, y1, k2);
    for (std::size_t i = 0; i < N; ++i) y1[i] = y[i] + h * (a31 * k1[i] + a32 * k2[i]);
    f(x + c3 * h, y1, k3);
    for (std::size_t i = 0; i < N; ++i)
      y1[i] = y[i] + h * (a41 * k1[i] + a42 * k2[i] + a43 * k3[i]);
    f(x + c4 * h, y1, k4);
    for (std::size_t i = 0; i < N; ++i)
      y1[i] = y[i] + h * (a51 * k1[i] + a52 * k2[i] + a53 * k3[i] + a54 * k4[i]);
    f(x + c5 * h, y1, k5);
    for (std::size_t i = 0; i < N; ++i)
      ysti[i] = y[i] + h * (a61 * k1[i] + a62 * k2[i] + a63 * k3[i] + a64 * k4[i] + a65 * k5[i]);
    f(x + h, ysti, k6);
    for (std::size_t i = 0; i < N; ++i)
      y1[i] = y[i] + h * (a71 * k1[i] + a73 * k3[i] + a74 * k4[i] + a75 * k5[i] + a76 * k6[i]);
    f(x + h, y1, k7);
    counts.evaluations += 6;
    double err = 0;
    for (std::size_t i = 0; i < N; ++i) {
      const double e =
          h * (e1 * k1[i] + e3 * k3[i] + e4 * k4[i] + e5 * k5[i] + e6 * k6[i] + e7 * k7[i]);
      const double sk = atol + rtol * std::max(std::abs(y[i]), std::abs(y1[i]));
      err += (e / sk) * (e / sk);
    }
    err = std::sqrt(err / N);
    const double fac11 = std::pow(err, expo1);
    double fac = fac11 / std::pow(facold, beta);
    fac = std::max(1 / fac2, std::min(1 / fac1, fac / safe));
    double hnew = h / fac;
    if (err <= 1) {
      facold = std::max(err, 1e-4);
      ++counts.accepted;
      k1 = k7;
      y = y1;
      x += h;
      if (last) {
        counts.ok = true;
        return counts;
      }
      if (std::abs(hnew) > hmax) hnew = posneg * hmax;
      if (reject) hnew = posneg * std::min(std::abs(hnew), std::abs(h));
      reject = false;
    } else {
      hnew = h / std::min(1 / fac1, fac11 / safe);
      reject = true;
      last = false;
    }
    h = hnew;
  }
}

constexpr double mu = 1.0;

template <class V>
void van_der_pol(double, const V& y, V& dydt) {
  dydt[0] = y[1];
  dydt[1] = mu * (1 - y[0] * y[0]) * y[1] - y[0];
}

template <class V>
void two_body(double, const V& y, V& dydt) {
  const double r = std::sqrt(y[0] * y[0] + y[1] * y[1]);
  const double r3 = r * r * r;
  dydt[0] = y[2];
  dydt[1] = y[3];
  dydt[2] = -y[0] / r3;
  dydt[3] = -y[1] / r3;
}

// Eccentricity 0.5, period 2 pi, starting at pericentre.
const Eigen::Vector4d orbit_start(0.5, 0.0, 0.0, std::sqrt(3.0));

}  // namespace

TEST_CASE("dopri5 step counts match a reference DOPRI5 within 25 %",
          "[step_size][dopri5][reference]") {
  for (const double tol : {1e-4, 1e-6, 1e-8, 1e-10}) {
    auto vdp_reference =
        reference_dopri5<2>(van_der_pol<vec<2>>, 0.0, 20.0, vec<2>{2.0, 0.0}, tol, tol);
    auto vdp = nde::solve(van_der_pol<Eigen::Vector2d>, nde::dopri5{}, 0.0, 20.0,
                          Eigen::Vector2d(2.0, 0.0),
                          {.controller = nde::pi_controller{.rtol = tol, .atol = tol}});
    auto orbit_reference = reference_dopri5<4>(two_body<vec<4>>, 0.0, 20.0,
                                               vec<4>{0.5, 0.0, 0.0, std::sqrt(3.0)}, tol, tol);
    auto orbit = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 20.0, orbit_start,
                            {.controller = nde::pi_controller{.rtol = tol, .atol = tol}});
    REQUIRE(vdp_reference.ok);
    REQUIRE(orbit_reference.ok);
    REQUIRE(vdp.success());
    REQUIRE(orbit.success());
    const auto attempted = [](const auto& sol) {
      return static_cast<double>(sol.stats.accepted_steps + sol.stats.rejected_steps);
    };
    INFO("tol " << tol << ": van der Pol " << attempted(vdp) << " vs reference "
                << vdp_reference.steps << "; two-body " << attempted(orbit) << " vs reference "
                << orbit_reference.steps);
    CHECK(std::abs(attempted(vdp) / vdp_reference.steps - 1) < 0.25);
    CHECK(std::abs(attempted(orbit) / orbit_reference.steps - 1) < 0.25);
    CHECK(std::abs(double(vdp.stats.accepted_steps) / vdp_reference.accepted - 1) < 0.25);
    CHECK(std::abs(double(orbit.stats.accepted_steps) / orbit_reference.accepted - 1) < 0.25);
  }
}

TEMPLATE_TEST_CASE("tolerance proportionality: the error falls with rtol",
                   "[step_size][proportionality]", nde::heun, nde::bosh3, nde::dopri5, nde::tsit5) {
  // One period of the two-body orbit returns to the start exactly.
  const std::vector<double> tolerances = TestType::order <= 2
                                             ? std::vector<double>{1e-3, 1e-4, 1e-5, 1e-6}
                                             : std::vector<double>{1e-4, 1e-6, 1e-8, 1e-10};
  std::vector<double> errors;
  for (double tol : tolerances) {
    auto sol = nde::solve(
        two_body<Eigen::Vector4d>, TestType{}, 0.0, 2 * M_PI, orbit_start,
        {.controller = nde::pi_controller{.rtol = tol, .atol = tol}, .max_steps = 1000000});
    REQUIRE(sol.success());
    errors.push_back((sol.ys.back() - orbit_start).norm());
  }
  for (std::size_t i = 1; i < errors.size(); ++i) CHECK(errors[i] < errors[i - 1]);
  const double slope = nde::testing::convergence_order(tolerances, errors);
  INFO("log(error) / log(tol) slope " << slope << ", error at the tightest tol " << errors.back());
  CHECK(slope > 0.7);
  CHECK(slope < 1.2);
  // Global error stays within a modest multiple of the requested local tolerance.
  for (std::size_t i = 0; i < errors.size(); ++i) CHECK(errors[i] < 1000 * tolerances[i]);
}

TEST_CASE("automatic initial step follows Hairer-Norsett-Wanner II.4", "[step_size][initial]") {
  // y' = -2 y, y0 = 1 (scalar, so rms norms are plain scaled absolute values).
  const double rtol = 1e-6, atol = 1e-9, lambda = -2;
  auto f = [&](double, const Eigen::Matrix<double, 1, 1>& y, Eigen::Matrix<double, 1, 1>& dydt) {
    dydt = lambda * y;
  };
  const double sk = atol + rtol;
  const double d0 = 1 / sk, d1 = std::abs(lambda) / sk;
  const double h0 = 0.01 * d0 / d1;
  const double f1 = lambda * (1 + h0 * lambda);
  const double d2 = std::abs(f1 - lambda) / sk / h0;
  const double expected = std::min(100 * h0, std::pow(0.01 / std::max(d1, d2), 1.0 / 5));
  auto sol = nde::solve(
      f, nde::dopri5{}, 0.0, 1.0, Eigen::Matrix<double, 1, 1>(1.0),
      {.controller = nde::pi_controller{.rtol = rtol, .atol = atol}, .record_steps = true});
  REQUIRE(sol.success());
  REQUIRE(sol.stats.rejected_steps == 0);
  CHECK(sol.step_times[1] - sol.step_times[0] == Approx(expected).epsilon(1e-12));
  // Backward: same magnitude, negative direction.
  auto back = nde::solve(
      f, nde::dopri5{}, 1.0, 0.0, Eigen::Matrix<double, 1, 1>(1.0),
      {.controller = nde::pi_controller{.rtol = rtol, .atol = atol}, .record_steps = true});
  REQUIRE(back.success());
  CHECK(back.step_times[1] < 1.0);
}

TEST_CASE("norms: max is stricter than rms; a custom rms norm reproduces the built-in one",
          "[step_size][norm]") {
  const nde::pi_controller rms{.rtol = 1e-7, .atol = 1e-7};
  nde::pi_controller max = rms;
  max.norm = nde::error_norm::max;
  nde::pi_controller custom = rms;
  custom.custom_norm = [](const Eigen::Ref<const Eigen::MatrixXd>& scaled) {
    return std::sqrt(scaled.squaredNorm() / static_cast<double>(scaled.size()));
  };
  auto a = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 10.0, orbit_start,
                      {.controller = rms});
  auto b = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 10.0, orbit_start,
                      {.controller = max});
  auto c = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 10.0, orbit_start,
                      {.controller = custom});
  REQUIRE((a.success() && b.success() && c.success()));
  CHECK(b.stats.accepted_steps > a.stats.accepted_steps);
  CHECK(c.stats.accepted_steps == a.stats.accepted_steps);
  CHECK((c.ys.back() - a.ys.back()).norm() <= 1e-14);
}

TEST_CASE(
    "per-component tolerances: equal values match the scalar; loosening one component saves steps",
    "[step_size][tolerance]") {
  const nde::pi_controller scalar{.rtol = 1e-8, .atol = 1e-8};
  const nde::pi_controller same{.rtol = Eigen::Vector4d::Constant(1e-8),
                                .atol = Eigen::Vector4d::Constant(1e-8)};
  const nde::pi_controller loose{.rtol = Eigen::Vector4d(1e-8, 1, 1e-8, 1),
                                 .atol = Eigen::Vector4d(1e-8, 1, 1e-8, 1)};
  auto a = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 10.0, orbit_start,
                      {.controller = scalar});
  auto b = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 10.0, orbit_start,
                      {.controller = same});
  auto c = nde::solve(two_body<Eigen::Vector4d>, nde::dopri5{}, 0.0, 10.0, orbit_start,
                      {.controller = loose});
  REQUIRE((a.success() && b.success() && c.success()));
  CHECK(b.ys.back() == a.ys.back());
  CHECK(b.stats.accepted_steps == a.stats.accepted_steps);
  CHECK(c.stats.accepted_steps < a.stats.accepted_steps);
}

TEST_CASE("dtmax bounds every step; dt0 sets the first trial step", "[step_size][limits]") {
  auto sol =
      nde::solve(van_der_pol<Eigen::Vector2d>, nde::tsit5{}, 0.0, 10.0, Eigen::Vector2d(2.0, 0.0),
                 {.controller = nde::pi_controller{.rtol = 1e-3, .atol = 1e-3, .dtmax = 0.05},
                  .record_steps = true});
  REQUIRE(sol.success());
  for (std::size_t i = 1; i < sol.step_times.size(); ++i)
    CHECK(sol.step_times[i] - sol.step_times[i - 1] <= 0.05 * (1 + 1e-12));
  auto first =
      nde::solve(van_der_pol<Eigen::Vector2d>, nde::tsit5{}, 0.0, 10.0, Eigen::Vector2d(2.0, 0.0),
                 {.controller = nde::pi_controller{.rtol = 1e-3, .atol = 1e-3, .dt0 = 1e-3},
                  .record_steps = true});
  REQUIRE(first.success());
  CHECK(first.step_times[1] == 1e-3);
}
