/// \file
/// \brief Named views into one flat parameter vector.
///
/// Every model keeps all its trainable parameters in one contiguous vector (so an
/// optimiser is a loop over one array). A `parameter_layout` names the pieces of
/// that vector: a linear layer's weight is a block with shape `{out, in}` stored
/// **column-major** (Eigen's default), its bias a block with shape `{out}`.
/// Parameter files and the NumPy importer use the layout to check shapes.
#pragma once

#include "nde/core/checked.hpp"
#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nde {

/// \brief One named tensor inside a flat parameter vector.
struct parameter_block {
  std::string name;                 ///< e.g. `"layer0.weight"`.
  std::vector<std::int64_t> shape;  ///< Dimensions; `{out, in}` for a weight, stored column-major.
  std::int64_t offset = 0;          ///< First index of the block in the flat vector.

  /// \brief Number of scalars in the block (product of the shape; 1 for a scalar). O(rank).
  /// \throws nde::error (`invalid_input`) naming the block if a dimension is negative or the
  /// product overflows 64 bits (see \ref nde::checked_size(), which also refuses an empty shape
  /// whose non-zero dimensions overflow).
  [[nodiscard]] std::int64_t size() const {
    if (const auto n = checked_size(shape)) return *n;
    return size_or_throw(shape, "parameter block '" + name + "'");
  }
};

/// \brief Ordered list of blocks; blocks are contiguous and in offset order.
using parameter_layout = std::vector<parameter_block>;

/// \brief Total number of scalars covered by a layout. O(total rank).
/// \throws nde::error (`invalid_input`) if a block's size or the sum overflows 64 bits.
inline std::int64_t total_size(const parameter_layout& layout) {
  std::int64_t n = 0;
  for (const auto& b : layout) n = add_or_throw(n, b.size(), "the total size of the layout");
  return n;
}

/// \brief How \ref nde::layout_problem() compares a layout with a vector.
enum class layout_fit {
  /// The blocks tile the vector exactly: the first starts at 0, each starts where the previous
  /// ends (in list order), the last ends at the vector's size. What every network's `layout()`
  /// gives, and what the initialisers require.
  exact,
  /// Every block lies inside the vector and no two blocks overlap; gaps and any order are
  /// allowed (loading a file into part of a larger vector).
  within,
};

/// \brief The one check that a layout fits a vector of `size` scalars, before anything is
/// written through it: every shape valid (no negative dimension, no 64-bit overflow),
/// `offset >= 0`, `offset + size` computed without overflow and `<= size`, no two blocks
/// overlapping, and for `layout_fit::exact` the tiling described there.
/// \return `std::nullopt` if it fits, else a message naming the first offending block.
/// Cost: O(B log B + total rank) for `within` (one allocation), O(B + total rank) for `exact`.
[[nodiscard]] inline std::optional<std::string> layout_problem(
    const parameter_layout& layout, std::int64_t size, layout_fit fit = layout_fit::within) {
  const auto label = [](const parameter_block& block) {
    return "layout block '" + block.name + "'";
  };
  if (size < 0) return "the parameter vector has a negative size " + std::to_string(size);
  std::vector<std::pair<std::int64_t, std::int64_t>> extents;  // (offset, end), non-empty blocks
  if (fit == layout_fit::within) extents.reserve(layout.size());
  std::int64_t next = 0;
  for (const auto& block : layout) {
    const auto n = checked_size(block.shape);
    if (!n) {
      const bool negative =
          std::any_of(block.shape.begin(), block.shape.end(), [](std::int64_t d) { return d < 0; });
      return label(block) + ": shape " + shape_to_string(block.shape) +
             (negative ? " has a negative dimension" : " overflows 64-bit sizes");
    }
    const auto end = checked_add(block.offset, *n);
    if (block.offset < 0 || !end || *end > size)
      return label(block) + " (offset " + std::to_string(block.offset) + ", " + std::to_string(*n) +
             " scalars) does not fit in the parameter vector of size " + std::to_string(size);
    if (fit == layout_fit::exact) {
      if (block.offset != next)
        return label(block) + " starts at offset " + std::to_string(block.offset) +
               ", but the blocks before it end at " + std::to_string(next) +
               " (blocks must be contiguous and in offset order)";
      next = *end;
    } else if (*n > 0) {
      extents.emplace_back(block.offset, *end);
    }
  }
  if (fit == layout_fit::exact) {
    if (next != size)
      return "the layout covers " + std::to_string(next) + " scalars, the parameter vector has " +
             std::to_string(size);
    return std::nullopt;
  }
  std::sort(extents.begin(), extents.end());
  for (std::size_t k = 1; k < extents.size(); ++k)
    if (extents[k].first < extents[k - 1].second)
      return "layout blocks overlap: the block at offset " + std::to_string(extents[k].first) +
             " starts before the block at offset " + std::to_string(extents[k - 1].first) +
             " ends (" + std::to_string(extents[k - 1].second) + ")";
  return std::nullopt;
}

/// \brief Throwing form of \ref nde::layout_problem(): \throws nde::error (`invalid_input`)
/// `"<context>: <problem>"`.
inline void require_layout_fits(const parameter_layout& layout, std::int64_t size, layout_fit fit,
                                std::string_view context) {
  if (auto problem = layout_problem(layout, size, fit))
    throw error(status::invalid_input, std::string(context) + ": " + *problem);
}

}  // namespace nde
