/// \file
/// \brief Named views into one flat parameter vector.
///
/// Every model keeps all its trainable parameters in one contiguous vector (so an
/// optimiser is a loop over one array). A `parameter_layout` names the pieces of
/// that vector: a linear layer's weight is a block with shape `{out, in}` stored
/// **column-major** (Eigen's default), its bias a block with shape `{out}`.
/// Parameter files and the NumPy importer use the layout to check shapes.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace nde {

/// \brief One named tensor inside a flat parameter vector.
struct parameter_block {
  std::string name;                 ///< e.g. `"layer0.weight"`.
  std::vector<std::int64_t> shape;  ///< Dimensions; `{out, in}` for a weight, stored column-major.
  std::int64_t offset = 0;          ///< First index of the block in the flat vector.

  /// \brief Number of scalars in the block (product of the shape; 1 for a scalar).
  [[nodiscard]] std::int64_t size() const {
    return std::accumulate(shape.begin(), shape.end(), std::int64_t{1},
                           [](std::int64_t a, std::int64_t b) { return a * b; });
  }
};

/// \brief Ordered list of blocks; blocks are contiguous and in offset order.
using parameter_layout = std::vector<parameter_block>;

/// \brief Total number of scalars covered by a layout.
inline std::int64_t total_size(const parameter_layout& layout) {
  std::int64_t n = 0;
  for (const auto& b : layout) n += b.size();
  return n;
}

}  // namespace nde
