/// \file
/// \brief Parameter initialisers (PyTorch default, Xavier/Glorot, Kaiming/He, zeros)
/// driven by an explicit, seeded `std::mt19937_64`.
///
/// Every initialiser walks a `parameter_layout`: a block of rank ≥ 2 is a weight with
/// `fan_out = shape[0]` and `fan_in = shape[1]·shape[2]·…`; a rank-1 block is a bias whose
/// fan-in is that of the weight with the same name prefix (`"0.bias"` ↔ `"0.weight"`).
///
/// **Reproducibility.** The engine's output sequence is fixed by the C++ standard, and
/// uniforms are formed here from its bits with exact arithmetic (not with
/// `std::uniform_real_distribution`, whose algorithm is implementation-defined), so the
/// uniform initialisers give bit-identical parameters on every platform for a given seed.
/// The normal ones use Box–Muller with `std::log`/`std::cos`, which agree to the last bit
/// only where the C libraries do (glibc does for the same version).
#pragma once

#include "nde/core/format.hpp"
#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/detail/layer_support.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <string>

namespace nde::nn {

/// \brief Uniform number in [0, 1) from the top 53 bits of one engine output
/// (exact: multiples of 2⁻⁵³).
inline double uniform_01(std::mt19937_64& engine) { return double(engine() >> 11) * 0x1.0p-53; }

/// \brief Uniform number in [low, high).
inline double uniform(std::mt19937_64& engine, double low, double high) {
  return low + (high - low) * uniform_01(engine);
}

/// \brief Standard normal number by Box–Muller (cosine branch; two engine outputs per number).
inline double standard_normal(std::mt19937_64& engine) {
  const double u1 = 1.0 - uniform_01(engine);  // (0, 1]: log stays finite
  const double u2 = uniform_01(engine);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

namespace detail {

struct block_fans {
  double fan_in = 1;
  double fan_out = 1;
  bool is_weight = false;
};

inline block_fans fans_of(const parameter_layout& layout, const parameter_block& block) {
  block_fans fans;
  if (block.shape.size() >= 2) {
    fans.is_weight = true;
    fans.fan_out = double(block.shape[0]);
    // Exact: size() is the product of the shape, so the integer division loses nothing.
    const auto fan_in = block.size() / (block.shape[0] == 0 ? 1 : block.shape[0]);
    fans.fan_in = double(fan_in);
    return fans;
  }
  const std::string suffix = "bias";
  std::string prefix = block.name;
  if (prefix.size() >= suffix.size() &&
      prefix.compare(prefix.size() - suffix.size(), suffix.size(), suffix) == 0) {
    prefix.resize(prefix.size() - suffix.size());
  }
  for (const auto& other : layout) {
    if (other.name == prefix + "weight" && other.shape.size() >= 2) {
      fans = fans_of(layout, other);
      fans.is_weight = false;
      return fans;
    }
  }
  fans.fan_out = double(block.size());
  return fans;
}

/// Calls `draw(block, fans)` for every scalar of every block, in layout order, after checking
/// (nde::layout_problem, `layout_fit::exact`) that the blocks tile `params` exactly: nothing
/// is written unless every block lies inside the vector, without overlap or overflow.
template <class Params, class Draw>
void fill_blocks(const parameter_layout& layout, Params&& params, Draw&& draw) {
  using scalar = typename plain<Params>::Scalar;
  auto& out = as_mutable(params);
  require_layout_fits(layout, std::int64_t(out.size()), layout_fit::exact, "initialiser");
  for (const auto& block : layout) {
    const block_fans fans = fans_of(layout, block);
    const std::int64_t size = block.size();
    for (std::int64_t i = 0; i < size; ++i) {
      out(Eigen::Index(block.offset + i)) = scalar(draw(fans));
    }
  }
}

/// Throws unless the gain of an initialiser is finite.
inline void require_finite_gain(const char* initialiser, double gain) {
  if (!std::isfinite(gain))
    throw nde::error(status::invalid_input,
                     nde::detail::concatenate(initialiser, ": gain = ", gain, " must be finite"));
}

template <class Network>
concept has_layout = requires(const Network& net) {
  { net.layout() } -> std::convertible_to<parameter_layout>;
};

}  // namespace detail

/// \brief PyTorch's default for `nn.Linear`: weight and bias ~ U(−1/√fan_in, 1/√fan_in)
/// (`kaiming_uniform_(a = √5)` reduces to this bound).
template <class Params>
void init_pytorch_default(const parameter_layout& layout, Params&& params,
                          std::mt19937_64& engine) {
  detail::fill_blocks(layout, params, [&](const detail::block_fans& fans) {
    const double bound = fans.fan_in > 0 ? 1.0 / std::sqrt(fans.fan_in) : 0.0;
    return uniform(engine, -bound, bound);
  });
}

/// \brief Xavier/Glorot uniform (Glorot & Bengio 2010, eq. 16): weight ~ U(−a, a),
/// a = gain·√(6/(fan_in + fan_out)); biases zero.
template <class Params>
void init_xavier_uniform(const parameter_layout& layout, Params&& params, std::mt19937_64& engine,
                         double gain = 1.0) {
  detail::require_finite_gain("init_xavier_uniform", gain);
  detail::fill_blocks(layout, params, [&](const detail::block_fans& fans) {
    if (!fans.is_weight) return 0.0;
    const double bound = gain * std::sqrt(6.0 / (fans.fan_in + fans.fan_out));
    return uniform(engine, -bound, bound);
  });
}

/// \brief Xavier/Glorot normal: weight ~ N(0, gain²·2/(fan_in + fan_out)); biases zero.
template <class Params>
void init_xavier_normal(const parameter_layout& layout, Params&& params, std::mt19937_64& engine,
                        double gain = 1.0) {
  detail::require_finite_gain("init_xavier_normal", gain);
  detail::fill_blocks(layout, params, [&](const detail::block_fans& fans) {
    if (!fans.is_weight) return 0.0;
    return gain * std::sqrt(2.0 / (fans.fan_in + fans.fan_out)) * standard_normal(engine);
  });
}

/// \brief Kaiming/He uniform (He et al. 2015, eq. 10, fan-in mode): weight ~ U(−b, b),
/// b = gain·√(3/fan_in); gain √2 suits relu. Biases zero.
template <class Params>
void init_kaiming_uniform(const parameter_layout& layout, Params&& params, std::mt19937_64& engine,
                          double gain = std::numbers::sqrt2) {
  detail::require_finite_gain("init_kaiming_uniform", gain);
  detail::fill_blocks(layout, params, [&](const detail::block_fans& fans) {
    if (!fans.is_weight) return 0.0;
    const double bound = gain * std::sqrt(3.0 / fans.fan_in);
    return uniform(engine, -bound, bound);
  });
}

/// \brief Kaiming/He normal (fan-in mode): weight ~ N(0, gain²/fan_in); biases zero.
template <class Params>
void init_kaiming_normal(const parameter_layout& layout, Params&& params, std::mt19937_64& engine,
                         double gain = std::numbers::sqrt2) {
  detail::require_finite_gain("init_kaiming_normal", gain);
  detail::fill_blocks(layout, params, [&](const detail::block_fans& fans) {
    if (!fans.is_weight) return 0.0;
    return gain / std::sqrt(fans.fan_in) * standard_normal(engine);
  });
}

/// \brief All parameters zero (e.g. the last layer of a field that should start as f = 0).
template <class Params>
void init_zeros(const parameter_layout& layout, Params&& params) {
  detail::fill_blocks(layout, params, [](const detail::block_fans&) { return 0.0; });
}

/// \brief Network overloads: `init_*(net, params, engine)` uses `net.layout()`.
template <detail::has_layout Network, class Params>
void init_pytorch_default(const Network& net, Params&& params, std::mt19937_64& engine) {
  init_pytorch_default(net.layout(), params, engine);
}
/// \brief Xavier/Glorot uniform initialisation of `net`'s parameters (see the layout overload).
template <detail::has_layout Network, class Params>
void init_xavier_uniform(const Network& net, Params&& params, std::mt19937_64& engine,
                         double gain = 1.0) {
  init_xavier_uniform(net.layout(), params, engine, gain);
}
/// \brief Xavier/Glorot normal initialisation of `net`'s parameters (see the layout overload).
template <detail::has_layout Network, class Params>
void init_xavier_normal(const Network& net, Params&& params, std::mt19937_64& engine,
                        double gain = 1.0) {
  init_xavier_normal(net.layout(), params, engine, gain);
}
/// \brief Kaiming/He uniform initialisation of `net`'s parameters (see the layout overload).
template <detail::has_layout Network, class Params>
void init_kaiming_uniform(const Network& net, Params&& params, std::mt19937_64& engine,
                          double gain = std::numbers::sqrt2) {
  init_kaiming_uniform(net.layout(), params, engine, gain);
}
/// \brief Kaiming/He normal initialisation of `net`'s parameters (see the layout overload).
template <detail::has_layout Network, class Params>
void init_kaiming_normal(const Network& net, Params&& params, std::mt19937_64& engine,
                         double gain = std::numbers::sqrt2) {
  init_kaiming_normal(net.layout(), params, engine, gain);
}
/// \brief Sets all of `net`'s parameters to zero.
template <detail::has_layout Network, class Params>
void init_zeros(const Network& net, Params&& params) {
  init_zeros(net.layout(), params);
}

}  // namespace nde::nn
