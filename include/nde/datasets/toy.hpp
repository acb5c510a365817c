/// \file
/// \brief Seeded generators of the 2-D toy densities of FFJORD (Grathwohl et al. 2019,
/// `lib/toy_data.py`): eight Gaussians, two moons, checkerboard, pinwheel, two spirals and
/// concentric circles, with the closed-form log-densities where they exist.
///
/// Every generator returns a 2×n matrix whose columns are samples, draws its randomness from
/// `nde::nn::uniform_01` / `nde::nn::standard_normal` (so a seed gives the same data with any
/// standard library), and uses FFJORD's scales and noise levels. Where FFJORD calls
/// scikit-learn (`make_moons`, `make_circles`) the generator follows scikit-learn's definition:
/// evenly spaced angles on the curves, shuffled, plus Gaussian noise.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nde/core/status.hpp"
#include "nde/nn/initialisers.hpp"

namespace nde::datasets {

/// \brief The toy densities of FFJORD's `inf_train_gen`.
enum class toy {
  eight_gaussians,  ///< FFJORD "8gaussians".
  two_moons,        ///< FFJORD "moons".
  checkerboard,     ///< FFJORD "checkerboard".
  pinwheel,         ///< FFJORD "pinwheel".
  two_spirals,      ///< FFJORD "2spirals".
  circles,          ///< FFJORD "circles".
};

/// \brief The parameters of the eight-Gaussians mixture, as FFJORD builds it: centres
/// 4·(unit vectors at multiples of 45°), per-coordinate standard deviation 0.5, and the whole
/// sample divided by 1.414 (FFJORD's literal, not √2).
struct eight_gaussians_parameters {
  static constexpr double scale = 4.0;      ///< Radius of the centres before the division.
  static constexpr double std_dev = 0.5;    ///< Per-coordinate std before the division.
  static constexpr double divisor = 1.414;  ///< FFJORD divides every sample by 1.414.
  /// \brief Radius of the circle of centres in the returned data: 4/1.414 ≈ 2.8289.
  static constexpr double radius = scale / divisor;
  /// \brief Per-coordinate standard deviation in the returned data: 0.5/1.414 ≈ 0.35361.
  static constexpr double sigma = std_dev / divisor;
};

namespace detail {

inline void require_count(const char* who, Eigen::Index n) {
  if (n < 0) {
    throw nde::error(nde::status::invalid_input,
                     std::string(who) + ": sample count n = " + std::to_string(n) + " is negative");
  }
}

/// Integer uniform on {0, …, count − 1} from one engine draw.
inline Eigen::Index uniform_index(std::mt19937_64& rng, Eigen::Index count) {
  const auto k = static_cast<Eigen::Index>(nde::nn::uniform_01(rng) * static_cast<double>(count));
  return k < count ? k : count - 1;
}

/// Fisher–Yates shuffle of the columns (uniform random permutation).
inline void shuffle_columns(Eigen::MatrixXd& data, std::mt19937_64& rng) {
  for (Eigen::Index i = data.cols() - 1; i > 0; --i) {
    const Eigen::Index j = uniform_index(rng, i + 1);
    if (j != i) data.col(i).swap(data.col(j));
  }
}

/// numpy.linspace(start, stop, count, endpoint): the k-th of `count` evenly spaced points.
inline double linspace_at(double start, double stop, Eigen::Index count, Eigen::Index k,
                          bool endpoint) {
  const Eigen::Index divisions = endpoint ? count - 1 : count;
  if (divisions <= 0) return start;
  return start + (stop - start) * static_cast<double>(k) / static_cast<double>(divisions);
}

/// The eight centres of FFJORD's mixture in the returned coordinates.
inline std::array<std::array<double, 2>, 8> eight_gaussians_centres() {
  constexpr double h = 1.0 / std::numbers::sqrt2;
  constexpr std::array<std::array<double, 2>, 8> unit = {
      {{1, 0}, {-1, 0}, {0, 1}, {0, -1}, {h, h}, {h, -h}, {-h, h}, {-h, -h}}};
  std::array<std::array<double, 2>, 8> centres{};
  for (std::size_t k = 0; k < unit.size(); ++k) {
    centres[k] = {eight_gaussians_parameters::radius * unit[k][0],
                  eight_gaussians_parameters::radius * unit[k][1]};
  }
  return centres;
}

inline void require_points(const char* who, const Eigen::MatrixXd& x) {
  if (x.rows() != 2) {
    throw nde::error(nde::status::invalid_input,
                     std::string(who) + ": points must be a 2×n matrix (columns are points), got " +
                         std::to_string(x.rows()) + " rows");
  }
}

}  // namespace detail

/// \brief FFJORD's "8gaussians": an equal-weight mixture of 8 isotropic Gaussians whose
/// centres lie on a circle of radius 4/1.414 ≈ 2.829 at angles k·45°, each with per-coordinate
/// standard deviation 0.5/1.414 ≈ 0.354. Mean 0, covariance (8.25/1.414²)·I ≈ 4.126·I.
/// Differential entropy ≈ 2.83 nats (2.832 by quadrature; the centres are 6.1 σ apart, so
/// it is just below log 8 + log(2πeσ²) = 2.838, which ignores the overlap of the tails). \param n number of samples (≥ 0). \returns 2×n, columns are samples.
/// O(n).
inline Eigen::MatrixXd eight_gaussians(Eigen::Index n, std::mt19937_64& rng) {
  detail::require_count("eight_gaussians", n);
  const auto centres = detail::eight_gaussians_centres();
  Eigen::MatrixXd data(2, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double zx = nde::nn::standard_normal(rng);
    const double zy = nde::nn::standard_normal(rng);
    const auto& c = centres[static_cast<std::size_t>(detail::uniform_index(rng, 8))];
    data(0, i) = c[0] + eight_gaussians_parameters::sigma * zx;
    data(1, i) = c[1] + eight_gaussians_parameters::sigma * zy;
  }
  return data;
}

/// \brief Exact log-density (nats) of `eight_gaussians` at each column of the 2×n matrix `x`:
/// log((1/8) Σ_k N(x; μ_k, σ²I)), evaluated with a stable log-sum-exp. O(n).
inline Eigen::VectorXd eight_gaussians_log_density(const Eigen::MatrixXd& x) {
  detail::require_points("eight_gaussians_log_density", x);
  const auto centres = detail::eight_gaussians_centres();
  constexpr double sigma = eight_gaussians_parameters::sigma;
  const double log_norm = -std::log(8.0) - std::log(2.0 * std::numbers::pi * sigma * sigma);
  Eigen::VectorXd out(x.cols());
  for (Eigen::Index i = 0; i < x.cols(); ++i) {
    std::array<double, 8> e{};
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t k = 0; k < centres.size(); ++k) {
      const double dx = x(0, i) - centres[k][0];
      const double dy = x(1, i) - centres[k][1];
      e[k] = -(dx * dx + dy * dy) / (2.0 * sigma * sigma);
      top = std::max(top, e[k]);
    }
    double sum = 0.0;
    for (const double v : e) sum += std::exp(v - top);
    out(i) = log_norm + top + std::log(sum);
  }
  return out;
}

/// \brief FFJORD's "moons": scikit-learn's `make_moons(n, noise=0.1)` scaled by 2 and shifted
/// by (−1, −0.2). The upper moon is the half circle of radius 2 about (−1, −0.2) (angles
/// 0…π), the lower one the half circle of radius 2 about (1, 0.8) (angles π…2π); ⌊n/2⌋ points
/// on the upper and the rest on the lower moon, at evenly spaced angles (endpoints included,
/// as numpy's linspace), shuffled, plus Gaussian noise of standard deviation 0.2 per
/// coordinate. Mean (0, 0.3) for even n; entropy ≈ 2.39 nats. O(n).
inline Eigen::MatrixXd two_moons(Eigen::Index n, std::mt19937_64& rng) {
  detail::require_count("two_moons", n);
  const Eigen::Index n_out = n / 2;
  const Eigen::Index n_in = n - n_out;
  Eigen::MatrixXd data(2, n);
  for (Eigen::Index k = 0; k < n_out; ++k) {
    const double t = detail::linspace_at(0.0, std::numbers::pi, n_out, k, true);
    data(0, k) = std::cos(t);
    data(1, k) = std::sin(t);
  }
  for (Eigen::Index k = 0; k < n_in; ++k) {
    const double t = detail::linspace_at(0.0, std::numbers::pi, n_in, k, true);
    data(0, n_out + k) = 1.0 - std::cos(t);
    data(1, n_out + k) = 1.0 - std::sin(t) - 0.5;
  }
  detail::shuffle_columns(data, rng);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double ex = 0.1 * nde::nn::standard_normal(rng);
    const double ey = 0.1 * nde::nn::standard_normal(rng);
    data(0, i) = 2.0 * (data(0, i) + ex) - 1.0;
    data(1, i) = 2.0 * (data(1, i) + ey) - 0.2;
  }
  return data;
}

/// \brief Log-density (nats) of the `two_moons` distribution in the limit of many samples
/// (angles uniform on each half circle) at each column of the 2×n matrix `x`:
/// p(x) = ½·(1/π)∫₀^π [φ(x − c_up(θ)) + φ(x − c_low(θ))] dθ, φ the N(0, 0.2²I) density,
/// c_up(θ) = (−1 + 2cos θ, −0.2 + 2sin θ), c_low(θ) = (1 − 2cos θ, 0.8 − 2sin θ), by the
/// trapezoid rule on `nodes` ≥ 2 angles (400: nodes 0.016 apart on the curve, σ/13, where the
/// trapezoid error for a Gaussian is far below 1e-6 relative). O(n · nodes).
inline Eigen::VectorXd two_moons_log_density(const Eigen::MatrixXd& x, int nodes = 400) {
  detail::require_points("two_moons_log_density", x);
  if (nodes < 2)
    throw nde::error(nde::status::invalid_input, "two_moons_log_density: nodes must be >= 2");
  constexpr double sigma = 0.2;
  const double h = std::numbers::pi / (nodes - 1);
  std::vector<double> c(static_cast<std::size_t>(nodes));
  std::vector<double> s(c.size());
  for (std::size_t k = 0; k < c.size(); ++k) {
    c[k] = std::cos(static_cast<double>(k) * h);
    s[k] = std::sin(static_cast<double>(k) * h);
  }
  const double norm = 0.5 * h / std::numbers::pi / (2.0 * std::numbers::pi * sigma * sigma);
  Eigen::VectorXd out(x.cols());
  for (Eigen::Index i = 0; i < x.cols(); ++i) {
    double sum = 0;
    for (std::size_t k = 0; k < c.size(); ++k) {
      const double weight = (k == 0 || k + 1 == c.size()) ? 0.5 : 1.0;
      const double ux = x(0, i) - (-1.0 + 2.0 * c[k]);
      const double uy = x(1, i) - (-0.2 + 2.0 * s[k]);
      const double lx = x(0, i) - (1.0 - 2.0 * c[k]);
      const double ly = x(1, i) - (0.8 - 2.0 * s[k]);
      sum += weight * (std::exp(-(ux * ux + uy * uy) / (2 * sigma * sigma)) +
                       std::exp(-(lx * lx + ly * ly) / (2 * sigma * sigma)));
    }
    out(i) = std::log(norm * sum);
  }
  return out;
}

/// \brief FFJORD's "checkerboard": uniform on the 8 black squares of a 4×4 board of side-2
/// squares covering [−4, 4)²: the squares [2i, 2i+2)×[2j, 2j+2) with i, j ∈ {−2, …, 1} and
/// i + j even. Density 1/32 on its support (area 32), so the entropy is log 32 ≈ 3.466 nats.
/// Mean 0, variances 16/3, covariance 1. O(n).
inline Eigen::MatrixXd checkerboard(Eigen::Index n, std::mt19937_64& rng) {
  detail::require_count("checkerboard", n);
  Eigen::MatrixXd data(2, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double x1 = 4.0 * nde::nn::uniform_01(rng) - 2.0;
    const double u = nde::nn::uniform_01(rng);
    const double shift = 2.0 * static_cast<double>(detail::uniform_index(rng, 2));
    const auto column = static_cast<std::int64_t>(std::floor(x1));
    const auto parity = static_cast<double>(((column % 2) + 2) % 2);  // Python's floor(x1) % 2
    data(0, i) = 2.0 * x1;
    data(1, i) = 2.0 * (u - shift + parity);
  }
  return data;
}

/// \brief Exact log-density (nats) of `checkerboard` at each column of `x`: −log 32 on the
/// support (half-open squares, as the generator draws them), −∞ off it. O(n).
inline Eigen::VectorXd checkerboard_log_density(const Eigen::MatrixXd& x) {
  detail::require_points("checkerboard_log_density", x);
  Eigen::VectorXd out(x.cols());
  const double inside = -std::log(32.0);
  for (Eigen::Index i = 0; i < x.cols(); ++i) {
    const double a = std::floor(x(0, i) / 2.0);
    const double b = std::floor(x(1, i) / 2.0);
    const bool on_board = a >= -2 && a <= 1 && b >= -2 && b <= 1;
    const bool black = on_board && (static_cast<std::int64_t>(a + b) % 2 == 0);
    out(i) = black ? inside : -std::numeric_limits<double>::infinity();
  }
  return out;
}

/// \brief FFJORD's "pinwheel": 5 curved arms (rads 2πk/5). Each sample draws a radial feature
/// r ~ N(1, 0.3²) and a tangential one s ~ N(0, 0.1²), turns (r, s) by the angle
/// −(2πk/5 + 0.25·e^r) and scales by 2. The arms hold ⌊n/5⌋ or ⌈n/5⌉ samples each (FFJORD
/// returns 5⌊n/5⌋ samples; this returns n, the first n mod 5 arms one more), shuffled.
/// Mean 0; E|x|² = 4·(1 + 0.3² + 0.1²) = 4.4, isotropic when 5 divides n. O(n).
inline Eigen::MatrixXd pinwheel(Eigen::Index n, std::mt19937_64& rng) {
  detail::require_count("pinwheel", n);
  constexpr int classes = 5;
  constexpr double radial_std = 0.3;
  constexpr double tangential_std = 0.1;
  constexpr double rate = 0.25;
  Eigen::MatrixXd data(2, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const Eigen::Index label = i % classes;  // ⌊n/5⌋ or ⌈n/5⌉ per arm; shuffled below
    const double r = 1.0 + radial_std * nde::nn::standard_normal(rng);
    const double s = tangential_std * nde::nn::standard_normal(rng);
    const double angle =
        2.0 * std::numbers::pi * static_cast<double>(label) / classes + rate * std::exp(r);
    const double c = std::cos(angle);
    const double sn = std::sin(angle);
    // FFJORD's einsum("ti,tij->tj", features, R) with R = [[cos, −sin], [sin, cos]].
    data(0, i) = 2.0 * (r * c + s * sn);
    data(1, i) = 2.0 * (-r * sn + s * c);
  }
  detail::shuffle_columns(data, rng);
  return data;
}

/// \brief FFJORD's "2spirals": a spiral t·(−cos t, sin t) with t = 3π·√u (u uniform, so t runs
/// over 0…540°), jittered by U(0, 0.5) per coordinate, together with its point reflection
/// through the origin, divided by 3, plus N(0, 0.1²) noise per coordinate. The first ⌈n/2⌉
/// columns are the spiral and the remaining ⌊n/2⌋ the reflections of its first ⌊n/2⌋ points
/// (not shuffled, as in FFJORD). Mean 0 for even n; radius up to π ≈ 3.14. O(n).
inline Eigen::MatrixXd two_spirals(Eigen::Index n, std::mt19937_64& rng) {
  detail::require_count("two_spirals", n);
  const Eigen::Index half = n / 2;
  const Eigen::Index first = n - half;
  Eigen::MatrixXd data(2, n);
  for (Eigen::Index k = 0; k < first; ++k) {
    const double t = std::sqrt(nde::nn::uniform_01(rng)) * 3.0 * std::numbers::pi;
    data(0, k) = (-std::cos(t) * t + 0.5 * nde::nn::uniform_01(rng)) / 3.0;
    data(1, k) = (std::sin(t) * t + 0.5 * nde::nn::uniform_01(rng)) / 3.0;
  }
  for (Eigen::Index k = 0; k < half; ++k) data.col(first + k) = -data.col(k);
  for (Eigen::Index i = 0; i < n; ++i) {
    data(0, i) += 0.1 * nde::nn::standard_normal(rng);
    data(1, i) += 0.1 * nde::nn::standard_normal(rng);
  }
  return data;
}

/// \brief FFJORD's "circles": scikit-learn's `make_circles(n, factor=0.5, noise=0.08)` scaled
/// by 3: ⌊n/2⌋ points on the circle of radius 3 and the rest on the circle of radius 1.5, at
/// evenly spaced angles (endpoint excluded), shuffled, plus Gaussian noise of standard
/// deviation 0.24 per coordinate. Mean 0; per-coordinate variance (9 + 2.25)/4 + 0.24² ≈ 2.870
/// for even n. O(n).
inline Eigen::MatrixXd circles(Eigen::Index n, std::mt19937_64& rng) {
  detail::require_count("circles", n);
  constexpr double factor = 0.5;
  const Eigen::Index n_out = n / 2;
  const Eigen::Index n_in = n - n_out;
  Eigen::MatrixXd data(2, n);
  for (Eigen::Index k = 0; k < n_out; ++k) {
    const double t = detail::linspace_at(0.0, 2.0 * std::numbers::pi, n_out, k, false);
    data(0, k) = std::cos(t);
    data(1, k) = std::sin(t);
  }
  for (Eigen::Index k = 0; k < n_in; ++k) {
    const double t = detail::linspace_at(0.0, 2.0 * std::numbers::pi, n_in, k, false);
    data(0, n_out + k) = factor * std::cos(t);
    data(1, n_out + k) = factor * std::sin(t);
  }
  detail::shuffle_columns(data, rng);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double ex = 0.08 * nde::nn::standard_normal(rng);
    const double ey = 0.08 * nde::nn::standard_normal(rng);
    data(0, i) = 3.0 * (data(0, i) + ex);
    data(1, i) = 3.0 * (data(1, i) + ey);
  }
  return data;
}

/// \brief Our name of a toy density, e.g. `"eight_gaussians"`.
constexpr std::string_view to_string(toy which) noexcept {
  switch (which) {
    case toy::eight_gaussians: return "eight_gaussians";
    case toy::two_moons: return "two_moons";
    case toy::checkerboard: return "checkerboard";
    case toy::pinwheel: return "pinwheel";
    case toy::two_spirals: return "two_spirals";
    case toy::circles: return "circles";
  }
  return "unknown";
}

/// \brief The toy density of a name: ours (`"eight_gaussians"`, `"two_moons"`,
/// `"checkerboard"`, `"pinwheel"`, `"two_spirals"`, `"circles"`) or FFJORD's (`"8gaussians"`,
/// `"moons"`, `"2spirals"`). Throws `nde::error` (invalid_input) on any other name.
inline toy toy_from_name(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, toy>, 9> names = {{
      {"eight_gaussians", toy::eight_gaussians},
      {"8gaussians", toy::eight_gaussians},
      {"two_moons", toy::two_moons},
      {"moons", toy::two_moons},
      {"checkerboard", toy::checkerboard},
      {"pinwheel", toy::pinwheel},
      {"two_spirals", toy::two_spirals},
      {"2spirals", toy::two_spirals},
      {"circles", toy::circles},
  }};
  for (const auto& [key, value] : names) {
    if (key == name) return value;
  }
  throw nde::error(nde::status::invalid_input,
                   "datasets::sample: unknown toy dataset '" + std::string(name) +
                       "' (known: eight_gaussians, two_moons, checkerboard, pinwheel, "
                       "two_spirals, circles, or FFJORD's 8gaussians, moons, 2spirals)");
}

/// \brief n samples (2×n, columns) of the toy density `which`. O(n).
inline Eigen::MatrixXd sample(toy which, Eigen::Index n, std::mt19937_64& rng) {
  switch (which) {
    case toy::eight_gaussians: return eight_gaussians(n, rng);
    case toy::two_moons: return two_moons(n, rng);
    case toy::checkerboard: return checkerboard(n, rng);
    case toy::pinwheel: return pinwheel(n, rng);
    case toy::two_spirals: return two_spirals(n, rng);
    case toy::circles: return circles(n, rng);
  }
  throw nde::error(nde::status::invalid_input, "datasets::sample: invalid toy value");
}

/// \brief n samples of the toy density named `name` (see `toy_from_name`); throws
/// `nde::error` (invalid_input) on an unknown name or n < 0.
inline Eigen::MatrixXd sample(std::string_view name, Eigen::Index n, std::mt19937_64& rng) {
  return sample(toy_from_name(name), n, rng);
}

}  // namespace nde::datasets
