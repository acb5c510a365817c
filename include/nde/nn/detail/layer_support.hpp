/// \file
/// \brief Small helpers shared by the layers (not API).
#pragma once

#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <string>
#include <type_traits>

namespace nde::nn::detail {

/// Writable view of an output argument: outputs are taken as forwarding references,
/// so temporaries such as `m.col(i)` or `v.segment(a, n)` can be written into.
template <class Derived>
Derived& as_mutable(const Eigen::MatrixBase<Derived>& x) {
  return const_cast<Derived&>(x.derived());  // Eigen's documented idiom for output blocks
}

template <class T>
using plain = std::remove_cvref_t<T>;

/// A parameter vector must be a contiguous run of scalars (a vector, a segment of
/// one, an `Eigen::Map` or an `Eigen::Ref`), because layers view it as matrices.
template <class Params>
inline constexpr bool is_contiguous_vector = (int(plain<Params>::Flags) & Eigen::DirectAccessBit) !=
                                                 0 &&
                                             plain<Params>::InnerStrideAtCompileTime == 1 &&
                                             (plain<Params>::ColsAtCompileTime == 1 ||
                                              plain<Params>::RowsAtCompileTime == 1);

inline constexpr int add_rows(int rows, int extra) {
  return rows == Eigen::Dynamic ? Eigen::Dynamic : rows + extra;
}
inline constexpr int multiply_rows(int rows, int factor) {
  return rows == Eigen::Dynamic ? Eigen::Dynamic : rows * factor;
}

inline std::string shape_string(Eigen::Index rows, Eigen::Index cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

/// Resizes a plain matrix/vector output (a no-op once sized, so it does not allocate
/// on later calls) or checks the shape of a block/map output.
template <class Out>
void prepare_output(Out&& out, Eigen::Index rows, Eigen::Index cols, const char* name) {
  using type = plain<Out>;
  if constexpr (std::is_base_of_v<Eigen::PlainObjectBase<type>, type>) {
    const bool rows_fit =
        type::RowsAtCompileTime == Eigen::Dynamic || type::RowsAtCompileTime == rows;
    const bool cols_fit =
        type::ColsAtCompileTime == Eigen::Dynamic || type::ColsAtCompileTime == cols;
    if (rows_fit && cols_fit) {
      if (out.rows() != rows || out.cols() != cols) out.resize(rows, cols);
      return;
    }
  } else if (out.rows() == rows && out.cols() == cols) {
    return;
  }
  throw nde::error(status::invalid_input, std::string(name) + " has shape " +
                                              shape_string(out.rows(), out.cols()) + ", expected " +
                                              shape_string(rows, cols));
}

inline void check_shape(Eigen::Index rows, Eigen::Index cols, Eigen::Index expected_rows,
                        Eigen::Index expected_cols, const char* name) {
  if (rows != expected_rows || cols != expected_cols) {
    throw nde::error(status::invalid_input, std::string(name) + " has shape " +
                                                shape_string(rows, cols) + ", expected " +
                                                shape_string(expected_rows, expected_cols));
  }
}

}  // namespace nde::nn::detail
