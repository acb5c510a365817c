/// \file
/// \brief Reads NumPy `.npy` arrays of `float32`/`float64` (format versions 1.0, 2.0
/// and 3.0; C or Fortran order; little- or big-endian) and writes them (`<f4`/`<f8`, version
/// 1.0, Fortran or C order: see `nde::io::npy_order`).
///
/// Format (NumPy Enhancement Proposal 1, "A Simple File Format for NumPy Arrays", and
/// `numpy/lib/format.py`): the 6 bytes `\x93NUMPY`; major and minor version bytes;
/// the header length, a 2-byte (v1.0) or 4-byte (v2.0, v3.0) little-endian integer;
/// that many bytes of header, an ASCII (v3.0: UTF-8) Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces
/// and ended by a newline; then the raw data, exactly prod(shape) items.
///
/// ## Layout mapping
///
/// A loaded \ref nde::io::npy_array always holds its values in **column-major order** (first
/// index fastest), whatever the file's order, because that is how nde stores blocks:
/// a PyTorch `Linear.weight` saved as a C-order `(out, in)` array becomes the values
/// of an Eigen `out x in` matrix, i.e. exactly the `{out, in}` block of a
/// `nde::parameter_layout`. For rank >= 3 the same rule holds (element
/// `(i0, i1, ...)` lands at `i0 + d0*(i1 + d1*(i2 + ...))`).
///
/// The header is parsed by a small hand-written parser (no `eval`), every length is
/// checked against the bytes present, the element count is overflow-checked and must
/// match the data length exactly, so a malformed file can never cause an
/// allocation larger than the input.
#pragma once

#include "nde/core/checked.hpp"
#include "nde/io/common.hpp"
#include "nde/io/detail/bytes.hpp"
#include "nde/io/detail/file.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace nde::io {

/// \brief Most dimensions a `.npy` array may have (NumPy's own limit is 64).
inline constexpr std::size_t npy_max_rank = 64;
/// \brief Longest `.npy` header accepted, in bytes (NumPy's reader refuses more than 10000 by
/// default; a 64-dimensional header needs under 2 KiB).
inline constexpr std::uint32_t npy_max_header_length = 1U << 20;

/// \brief A decoded `.npy` array.
template <class Scalar>
struct npy_array {
  std::vector<std::int64_t> shape;                  ///< NumPy shape; `{}` for a 0-d array.
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> values;  ///< prod(shape) values in column-major order.
  scalar_type stored_type = scalar_type::float64;   ///< The dtype in the file.
  bool fortran_order = false;                       ///< The order in the file (informational).

  /// \brief A rank-2 array as an Eigen matrix view (rank 1: a column; rank 0: 1x1).
  /// \throws nde::error (`invalid_input`) for rank > 2.
  [[nodiscard]] Eigen::Map<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>> matrix()
      const {
    if (shape.size() > 2) throw error(status::invalid_input, "npy_array::matrix: rank > 2");
    const Eigen::Index rows = shape.empty() ? 1 : shape[0];
    const Eigen::Index cols = shape.size() == 2 ? shape[1] : 1;
    return {values.data(), rows, cols};
  }
};

namespace detail {

struct npy_header {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

// Parser for the restricted Python literal grammar NumPy writes: a dict with string
// keys whose values are strings, True/False, or tuples of non-negative integers.
class npy_header_parser {
 public:
  explicit npy_header_parser(std::string_view text) : m_text(text) {}

  io_status parse(npy_header& header) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    if (!eat('{')) return fail("expected '{'");
    while (true) {
      skip_space();
      if (eat('}')) break;
      std::string key;
      if (!string_literal(key)) return fail("expected a quoted key");
      skip_space();
      if (!eat(':')) return fail("expected ':' after '" + key + "'");
      skip_space();
      if (key == "descr") {
        if (have_descr) return fail("duplicate key 'descr'");
        have_descr = true;
        if (!string_literal(header.descr))
          return fail(
              "'descr' must be a string such as '<f4' (structured dtypes are not supported)");
      } else if (key == "fortran_order") {
        if (have_order) return fail("duplicate key 'fortran_order'");
        have_order = true;
        if (m_text.substr(m_position, 4) == "True")
          header.fortran_order = true, m_position += 4;
        else if (m_text.substr(m_position, 5) == "False")
          header.fortran_order = false, m_position += 5;
        else
          return fail("'fortran_order' must be True or False");
      } else if (key == "shape") {
        if (have_shape) return fail("duplicate key 'shape'");
        have_shape = true;
        if (auto shape_ok = shape(header.shape); !shape_ok) return shape_ok;
      } else {
        return fail("unexpected key '" + key.substr(0, 64) + "'");
      }
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat('}')) break;
      return fail("expected ',' or '}'");
    }
    skip_space();
    if (m_position != m_text.size()) return fail("unexpected text after the dict");
    if (!have_descr || !have_order || !have_shape)
      return io_status::failure(
          "bad .npy header: it must have the keys 'descr', 'fortran_order' and 'shape'");
    return {};
  }

 private:
  io_status fail(const std::string& what) const {
    return io_status::failure("bad .npy header at character " + std::to_string(m_position) + ": " +
                              what);
  }
  bool eat(char c) {
    if (m_position < m_text.size() && m_text[m_position] == c) return ++m_position, true;
    return false;
  }
  void skip_space() {
    while (m_position < m_text.size() && (m_text[m_position] == ' ' || m_text[m_position] == '\t' ||
                                          m_text[m_position] == '\n' || m_text[m_position] == '\r'))
      ++m_position;
  }
  bool string_literal(std::string& out) {
    if (m_position >= m_text.size()) return false;
    const char quote = m_text[m_position];
    if (quote != '\'' && quote != '"') return false;
    const auto end = m_text.find(quote, m_position + 1);
    if (end == std::string_view::npos) return false;
    const auto body = m_text.substr(m_position + 1, end - m_position - 1);
    if (body.find('\\') != std::string_view::npos)
      return false;  // escapes never occur in valid headers
    out.assign(body);
    m_position = end + 1;
    return true;
  }
  io_status shape(std::vector<std::int64_t>& dims) {
    dims.clear();
    if (!eat('(')) return fail("'shape' must be a tuple");
    while (true) {
      skip_space();
      if (eat(')')) return {};
      if (m_position >= m_text.size() || m_text[m_position] < '0' || m_text[m_position] > '9')
        return fail("expected a non-negative integer in 'shape'");
      std::uint64_t value = 0;
      while (m_position < m_text.size() && m_text[m_position] >= '0' && m_text[m_position] <= '9') {
        value = value * 10 + static_cast<std::uint64_t>(m_text[m_position++] - '0');
        if (value > (std::uint64_t{1} << 62)) return fail("absurd dimension in 'shape'");
      }
      eat('L');  // Python 2 long literal, in files written by old NumPy
      if (dims.size() == npy_max_rank) return fail("more than 64 dimensions");
      dims.push_back(static_cast<std::int64_t>(value));
      skip_space();
      if (eat(',')) continue;
      skip_space();
      if (eat(')')) return {};
      return fail("expected ',' or ')' in 'shape'");
    }
  }

  std::string_view m_text;
  std::size_t m_position = 0;
};

template <class Scalar, class Stored>
void convert_npy_data(const std::uint8_t* data, bool big_endian,
                      const std::vector<std::int64_t>& shape, bool fortran_order,
                      Eigen::Matrix<Scalar, Eigen::Dynamic, 1>& values) {
  const Eigen::Index count = values.size();
  // An empty array (some dimension 0) has nothing to place, and the strides of its other,
  // possibly huge, dimensions must not be multiplied (they can overflow: found by fuzzing).
  if (count == 0) return;
  if (fortran_order || shape.size() <= 1) {
    for (Eigen::Index k = 0; k < count; ++k)
      values[k] = static_cast<Scalar>(
          load_scalar<Stored>(data + static_cast<std::size_t>(k) * sizeof(Stored), big_endian));
    return;
  }
  // C order: walk the file in order (last index fastest) and place each item at its
  // column-major position, updating the target offset incrementally.
  const std::size_t rank = shape.size();
  std::vector<std::int64_t> index(rank, 0), stride(rank, 1);
  for (std::size_t d = 1; d < rank; ++d) stride[d] = stride[d - 1] * shape[d - 1];
  std::int64_t target = 0;
  for (Eigen::Index k = 0; k < count; ++k) {
    values[target] = static_cast<Scalar>(
        load_scalar<Stored>(data + static_cast<std::size_t>(k) * sizeof(Stored), big_endian));
    for (std::size_t d = rank; d-- > 0;) {
      target += stride[d];
      if (++index[d] < shape[d]) break;
      target -= stride[d] * shape[d];
      index[d] = 0;
    }
  }
}

}  // namespace detail

namespace detail {

/// What the header of a `.npy` says, validated against the total size of the input.
struct npy_layout {
  npy_header header;
  std::size_t data_offset = 0;
  std::size_t item = 0;
  bool big_endian = false;
  std::uint64_t count = 0;
};

/// Parses and validates everything up to the data from `head`, the first bytes of an input of
/// `size` bytes in all (`head` may be the whole input, or only its first
/// `12 + npy_max_header_length` bytes): the data length must match the shape exactly.
inline io_status parse_npy(std::span<const std::uint8_t> head, std::uint64_t size,
                           npy_layout& layout) {
  constexpr std::uint8_t magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (head.size() < 6 || !std::equal(std::begin(magic), std::end(magic), head.begin())) {
    if (size < 6 && std::equal(head.begin(), head.end(), std::begin(magic)))
      return io_status::failure("truncated: " + std::to_string(size) +
                                " bytes, shorter than the .npy magic");
    return io_status::failure("bad magic: not a .npy file (it must start with \\x93NUMPY)");
  }
  byte_reader reader(head, 6);
  std::uint8_t major = 0, minor = 0;
  if (!reader.read(major) || !reader.read(minor))
    return io_status::failure("truncated: the file ends inside the version");
  if (major < 1 || major > 3 || minor != 0)
    return io_status::failure("unsupported .npy version " + std::to_string(major) + "." +
                              std::to_string(minor) + " (supported: 1.0, 2.0, 3.0)");
  std::uint32_t header_length = 0;
  if (major == 1) {
    std::uint16_t short_length = 0;
    if (!reader.read(short_length))
      return io_status::failure("truncated: the file ends inside the header length");
    header_length = short_length;
  } else if (!reader.read(header_length)) {
    return io_status::failure("truncated: the file ends inside the header length");
  }
  if (header_length > npy_max_header_length)
    return io_status::failure("bad .npy header: its length " + std::to_string(header_length) +
                              " exceeds the limit of " + std::to_string(npy_max_header_length) +
                              " bytes");
  std::span<const std::uint8_t> header_bytes;
  if (!reader.read_bytes(header_length, header_bytes))
    return io_status::failure("truncated: the header needs " + std::to_string(header_length) +
                              " bytes, only " + std::to_string(size - reader.position()) +
                              " remain");
  const std::string_view header_text(reinterpret_cast<const char*>(header_bytes.data()),
                                     header_bytes.size());
  npy_header& header = layout.header;
  if (auto parsed = npy_header_parser(header_text).parse(header); !parsed) return parsed;

  const auto& descr = header.descr;
  const bool known = descr.size() == 3 && (descr[0] == '<' || descr[0] == '>') && descr[1] == 'f' &&
                     (descr[2] == '4' || descr[2] == '8');
  if (!known)
    return io_status::failure(
        "unsupported dtype '" + descr.substr(0, 32) +
        "': only float32 ('<f4') and float64 ('<f8'), little- or big-endian, can be loaded");
  layout.big_endian = descr[0] == '>';
  layout.item = descr[2] == '4' ? 4 : 8;
  const std::size_t item = layout.item;
  // Overflow-checked element count, capped by what the data could possibly hold (the product
  // of the non-zero dimensions too, so that strides cannot overflow: see nde::checked_size).
  const std::uint64_t data_bytes = size - reader.position();
  const auto limit = static_cast<std::int64_t>(
      std::min<std::uint64_t>(data_bytes / item, std::numeric_limits<std::int64_t>::max()));
  const auto count = checked_size(header.shape);
  if (!count && std::find(header.shape.begin(), header.shape.end(), 0) != header.shape.end())
    return io_status::failure("bad .npy header: the non-zero dimensions of the empty shape " +
                              shape_string(header.shape) + " overflow 64 bits");
  if (!count || *count > limit || std::uint64_t(*count) * item > data_bytes)
    return io_status::failure("truncated: shape " + shape_string(header.shape) + " of " + descr +
                              " needs more than the " + std::to_string(data_bytes) +
                              " data bytes present");
  if (std::uint64_t(*count) * item != data_bytes)
    return io_status::failure("data length mismatch: shape " + shape_string(header.shape) + " of " +
                              descr + " needs " + std::to_string(std::uint64_t(*count) * item) +
                              " bytes, the file has " + std::to_string(data_bytes) +
                              " (trailing bytes)");
  layout.count = static_cast<std::uint64_t>(*count);
  layout.data_offset = reader.position();
  return {};
}

}  // namespace detail

/// \brief Decodes a `.npy` file held in memory (never throws: a failed allocation is reported
/// as a status too).
/// \tparam Scalar the type to convert to (`float` or `double`); a `float64` file read
/// as `float` is rounded to nearest.
/// \return success, or `invalid_input` with a message naming the problem (bad magic,
/// unsupported version, truncated header or data, bad header text, unsupported dtype,
/// data length not matching the shape). `out` is only written on success.
template <class Scalar>
io_status decode_npy(std::span<const std::uint8_t> bytes, npy_array<Scalar>& out) {
  static_cast<void>(scalar_type_of<Scalar>());
  return detail::without_exceptions([&]() -> io_status {
    detail::npy_layout layout;
    if (auto parsed = detail::parse_npy(bytes, bytes.size(), layout); !parsed) return parsed;
    npy_array<Scalar> result;
    result.shape = layout.header.shape;
    result.fortran_order = layout.header.fortran_order;
    result.stored_type = layout.item == 4 ? scalar_type::float32 : scalar_type::float64;
    result.values.resize(static_cast<Eigen::Index>(layout.count));
    const std::uint8_t* data = bytes.data() + layout.data_offset;
    if (layout.item == 4)
      detail::convert_npy_data<Scalar, float>(data, layout.big_endian, result.shape,
                                              result.fortran_order, result.values);
    else
      detail::convert_npy_data<Scalar, double>(data, layout.big_endian, result.shape,
                                               result.fortran_order, result.values);
    out = std::move(result);
    return {};
  });
}

/// \brief Throwing form of \ref nde::io::decode_npy().
/// \throws nde::error (`invalid_input`) with the decoder's message.
template <class Scalar>
npy_array<Scalar> decode_npy(std::span<const std::uint8_t> bytes) {
  npy_array<Scalar> result;
  decode_npy(bytes, result).throw_if_error("cannot decode .npy data");
  return result;
}

namespace detail {

/// Reads a `.npy` file, validating its header against the file size before reading the data.
inline io_status read_npy_file(const std::filesystem::path& path,
                               std::vector<std::uint8_t>& bytes) {
  return read_file_checked(
      path, 12 + npy_max_header_length,
      [](std::span<const std::uint8_t> head, std::span<const std::uint8_t>, std::uint64_t size) {
        npy_layout layout;
        return parse_npy(head, size, layout);
      },
      bytes);
}

}  // namespace detail

/// \brief Reads a `.npy` file (non-throwing).
template <class Scalar>
io_status read_npy(const std::filesystem::path& path, npy_array<Scalar>& out) {
  std::vector<std::uint8_t> bytes;
  if (auto read = detail::read_npy_file(path, bytes); !read) return read;
  return decode_npy(bytes, out);
}

/// \brief Loads a `.npy` file.
/// \throws nde::error (`invalid_input`) naming the file and the problem.
template <class Scalar>
npy_array<Scalar> load_npy(const std::filesystem::path& path) {
  npy_array<Scalar> result;
  read_npy(path, result).throw_if_error("cannot load '" + path.string() + "'");
  return result;
}

// ----------------------------------------------------------------------------------------------
// Writing

/// \brief Order of the data a `.npy` writer emits (rank >= 2 only: a rank-0 or rank-1 array is
/// the same in both orders and is written with `'fortran_order': False`, as NumPy does).
///
/// Either way NumPy reads back **the same array**: element `(i, j)` of the Eigen matrix is
/// `a[i, j]` of the loaded array; only the byte order of the data (and the header flag) differ.
enum class npy_order : std::uint8_t {
  fortran,  ///< Column-major data, `'fortran_order': True`: nde's own order, copied as is.
  c,        ///< Row-major data, `'fortran_order': False` (NumPy's default): transposed on write.
};

/// \brief Options of the `.npy` writers.
struct npy_write_options {
  npy_order order = npy_order::fortran;  ///< Data order of arrays of rank >= 2.
};

namespace detail {

/// The NEP 1 header dict NumPy writes, e.g. `{'descr': '<f8', 'fortran_order': True, 'shape':
/// (2, 3), }` (a 1-tuple keeps its comma: `(3,)`).
inline std::string npy_dict(std::string_view descr, bool fortran_order,
                            std::span<const std::int64_t> shape) {
  std::string text = "{'descr': '" + std::string(descr) +
                     "', 'fortran_order': " + (fortran_order ? "True" : "False") + ", 'shape': (";
  for (std::size_t d = 0; d < shape.size(); ++d)
    text += (d == 0 ? "" : ", ") + std::to_string(shape[d]);
  text += shape.size() == 1 ? ",), }" : "), }";
  return text;
}

/// Encodes `count` column-major values of shape `shape` as a `.npy` file (version 1.0, or 2.0 for
/// a header over 65535 bytes; the header is space-padded so the data start at a multiple of 64).
template <class Scalar>
io_status encode_npy_values(std::span<const std::int64_t> shape, const Scalar* values,
                            std::size_t count, npy_order order, std::vector<std::uint8_t>& out) {
  constexpr scalar_type type = scalar_type_of<Scalar>();
  if (shape.size() > npy_max_rank)
    return io_status::failure("cannot encode .npy: rank " + std::to_string(shape.size()) +
                              " exceeds 64");
  const std::vector<std::int64_t> dims(shape.begin(), shape.end());
  const auto elements = checked_size(shape);
  if (!elements)
    return io_status::failure("cannot encode .npy: invalid shape " + shape_string(dims) +
                              " (a negative dimension, or a product past 2^63)");
  if (static_cast<std::uint64_t>(*elements) != count)
    return io_status::failure("cannot encode .npy: shape " + shape_string(dims) + " holds " +
                              std::to_string(*elements) + " values, " + std::to_string(count) +
                              " were given");
  const bool fortran = order == npy_order::fortran && shape.size() >= 2;
  std::string header = npy_dict(type == scalar_type::float32 ? "<f4" : "<f8", fortran, shape);
  const bool version1 = header.size() + 1 + 63 <= 0xFFFF;
  const std::size_t prefix = version1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  const auto data_bytes = checked_mul<std::uint64_t>(count, sizeof(Scalar));
  const auto total =
      data_bytes ? checked_add<std::uint64_t>(*data_bytes, prefix + header.size()) : data_bytes;
  if (!total || *total > std::numeric_limits<std::size_t>::max())
    return io_status::failure("cannot encode .npy: " + std::to_string(count) +
                              " values are too many to be encoded here");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(*total));
  byte_writer writer(bytes);
  writer.put_bytes(std::array<std::uint8_t, 6>{0x93, 'N', 'U', 'M', 'P', 'Y'});
  writer.put(static_cast<std::uint8_t>(version1 ? 1 : 2));
  writer.put(std::uint8_t{0});
  if (version1)
    writer.put(static_cast<std::uint16_t>(header.size()));
  else
    writer.put(static_cast<std::uint32_t>(header.size()));
  writer.put_text(header);
  using bits = bits_of<Scalar>;
  if (count > 0) {
    if (fortran || shape.size() <= 1) {
      for (std::size_t k = 0; k < count; ++k) writer.put(std::bit_cast<bits>(values[k]));
    } else {
      // C order: walk the file order (last index fastest) and fetch each item from its
      // column-major position (the inverse of convert_npy_data). count > 0, so every
      // stride fits (checked_size bounded the product).
      const std::size_t rank = shape.size();
      std::vector<std::int64_t> index(rank, 0), stride(rank, 1);
      for (std::size_t d = 1; d < rank; ++d) stride[d] = stride[d - 1] * shape[d - 1];
      std::int64_t source = 0;
      for (std::size_t k = 0; k < count; ++k) {
        writer.put(std::bit_cast<bits>(values[source]));
        for (std::size_t d = rank; d-- > 0;) {
          source += stride[d];
          if (++index[d] < shape[d]) break;
          source -= stride[d] * shape[d];
          index[d] = 0;
        }
      }
    }
  }
  if (!writer.complete())
    return io_status::failure("cannot encode .npy: internal size mismatch (a bug)");
  out = std::move(bytes);
  return {};
}

/// Replaces `path` by `bytes` atomically (detail/file.hpp), as a status instead of an exception.
inline io_status write_file_status(const std::filesystem::path& path,
                                   std::span<const std::uint8_t> bytes) {
  return without_exceptions([&]() -> io_status {
    try {
      atomic_write_file(path, bytes);
      return {};
    } catch (const error& e) {
      // what() is "<code>: cannot save '<path>': <cause>"; keep the part after the code.
      const std::string what = e.what();
      const std::string code = std::string(to_string(e.code())) + ": ";
      return io_status{e.code(), what.rfind(code, 0) == 0 ? what.substr(code.size()) : what};
    }
  });
}

}  // namespace detail

/// \brief Encodes `values` (column-major, `prod(shape)` of them) as a `.npy` file in memory
/// (never throws: bad input and failed allocations are statuses).
///
/// The dtype is the scalar's (`<f4` for `float`, `<f8` for `double`, little-endian on every
/// host); `options.order` picks the data order (see `nde::io::npy_order`). NumPy's
/// `np.load` returns the array whose element `(i0, i1, ...)` is `values[i0 + d0*(i1 + ...)]`.
/// \return success, or `invalid_input` for a negative dimension, a rank over 64, or a value
/// count that does not match the shape. `out` is only written on success.
template <class Scalar>
io_status encode_npy(std::span<const std::int64_t> shape, std::span<const Scalar> values,
                     std::vector<std::uint8_t>& out, const npy_write_options& options = {}) {
  return detail::without_exceptions([&]() -> io_status {
    return detail::encode_npy_values(shape, values.data(), values.size(), options.order, out);
  });
}

/// \brief Encodes an \ref nde::io::npy_array (its shape and column-major values; the
/// `stored_type` and `fortran_order` fields are ignored: the dtype is `Scalar`'s).
template <class Scalar>
io_status encode_npy(const npy_array<Scalar>& array, std::vector<std::uint8_t>& out,
                     const npy_write_options& options = {}) {
  return encode_npy<Scalar>(
      array.shape,
      std::span<const Scalar>(array.values.data(), static_cast<std::size_t>(array.values.size())),
      out, options);
}

/// \brief Encodes an Eigen matrix or vector: shape `(rows,)` when `Derived` is a column vector at
/// compile time (`VectorXd`, `segment`, ...), else `(rows, cols)`; element `(i, j)` is `a[i, j]`
/// in NumPy, whatever the storage order of `Derived`.
template <class Derived>
requires std::is_base_of_v<Eigen::EigenBase<Derived>, Derived> io_status
encode_npy(const Eigen::MatrixBase<Derived>& matrix, std::vector<std::uint8_t>& out,
           const npy_write_options& options = {}) {
  using Scalar = typename Derived::Scalar;
  return detail::without_exceptions([&]() -> io_status {
    const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> plain = matrix;  // column-major
    std::vector<std::int64_t> shape = {static_cast<std::int64_t>(plain.rows())};
    if constexpr (Derived::ColsAtCompileTime != 1) shape.push_back(plain.cols());
    return detail::encode_npy_values(std::span<const std::int64_t>(shape), plain.data(),
                                     static_cast<std::size_t>(plain.size()), options.order, out);
  });
}

/// \brief Throwing form of \ref nde::io::encode_npy() for an Eigen matrix or vector.
/// \throws nde::error (`invalid_input`) with the encoder's message.
template <class Derived>
requires std::is_base_of_v<Eigen::EigenBase<Derived>, Derived> std::vector<std::uint8_t> encode_npy(
    const Eigen::MatrixBase<Derived>& matrix, const npy_write_options& options = {}) {
  std::vector<std::uint8_t> bytes;
  encode_npy(matrix, bytes, options).throw_if_error("cannot encode .npy data");
  return bytes;
}

/// \brief Writes a `.npy` file atomically (non-throwing; `Array` is an Eigen matrix/vector or an
/// \ref nde::io::npy_array). A failed save leaves the previous file, if any, intact.
template <class Array>
io_status write_npy(const std::filesystem::path& path, const Array& array,
                    const npy_write_options& options = {}) {
  std::vector<std::uint8_t> bytes;
  if (auto encoded = encode_npy(array, bytes, options); !encoded) return encoded;
  return detail::write_file_status(path, bytes);
}

/// \brief Saves a `.npy` file atomically (see \ref nde::io::write_npy()).
/// \throws nde::error (`invalid_input`) naming the file and the problem.
template <class Array>
void save_npy(const std::filesystem::path& path, const Array& array,
              const npy_write_options& options = {}) {
  const auto written = write_npy(path, array, options);
  if (!written && written.message.rfind("cannot save", 0) == 0)
    throw error(written.code, written.message);
  written.throw_if_error("cannot save '" + path.string() + "'");
}

}  // namespace nde::io
