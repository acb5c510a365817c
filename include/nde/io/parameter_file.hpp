/// \file
/// \brief Save and load a network's parameters (a `nde::parameter_layout` plus one
/// flat vector) in a small self-describing, checksummed binary file, written atomically.
///
/// ## Format, version 1 (all integers unsigned little-endian)
///
/// | offset | bytes  | field |
/// |-------:|-------:|-------|
/// | 0      | 8      | magic `89 4E 44 45 50 0D 0A 1A` (`\x89` `NDEP` CR LF ^Z, the PNG trick: a high-bit byte catches 7-bit transfers, CR LF catches newline conversion) |
/// | 8      | 2      | format version, `01 00` |
/// | 10     | 1      | scalar type: `1` = IEEE-754 binary32 (`float`), `2` = binary64 (`double`) |
/// | 11     | 1      | reserved, `0` |
/// | 12     | 4      | block count B (at most 65536) |
/// | 16     | 8      | scalar count N, the sum of all block sizes (at most 2^40) |
/// | 24     | ...    | B block records, each: 2-byte name length L (1..1024); L bytes of name (UTF-8, no NUL); 1-byte rank R (0..8); R 8-byte dimensions (the product of the non-zero ones at most 2^40) |
/// | P      | N·s    | payload: the blocks in record order, each block's entries in column-major order (first index fastest; a weight `{out, in}` is stored exactly as Eigen stores it), each scalar as its s = 4 or 8 IEEE bytes, little-endian |
/// | P+N·s  | 4      | CRC-32 (ISO-HDLC, as zlib/PNG/ZIP) of every preceding byte |
///
/// The file size is therefore exactly P + N·s + 4. Blocks carry no offsets: a loaded
/// layout is contiguous in record order. NaN payloads, signed zeros, denormals and
/// infinities round-trip bit for bit.
///
/// ## Checks on load
///
/// Magic, version, then the CRC. If the CRC matches, every header field is still
/// validated. If it does not, the header is parsed (bounds-checked) only to tell
/// `"truncated: ..."` (the file ends before what the header describes) from
/// `"corrupted: ..."` / `"checksum mismatch: ..."`. Then the scalar type must be
/// the one requested (`"wrong scalar type: ..."`; no silent conversion), and, when
/// loading into an expected layout, every block name and shape must match
/// (blocks are matched by name, so reordering blocks is fine). No allocation is
/// sized by a field before that field has been checked against the bytes present.
///
/// ## Writes
///
/// \ref nde::io::save_parameters() writes a temporary file in the same directory, fsyncs it and
/// renames it over the target (see `detail/file.hpp`): a crash mid-write leaves the
/// previous file intact.
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"
#include "nde/io/common.hpp"
#include "nde/io/detail/bytes.hpp"
#include "nde/io/detail/file.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nde::io {

/// \brief The 8 magic bytes that open every parameter file.
inline constexpr std::array<std::uint8_t, 8> parameter_file_magic = {0x89, 'N',  'D',  'E',
                                                                     'P',  0x0D, 0x0A, 0x1A};
/// \brief The format version this code writes and reads.
inline constexpr std::uint16_t parameter_file_version = 1;
/// \brief Limits a reader enforces (and a writer refuses to exceed).
inline constexpr std::uint32_t parameter_file_max_blocks = 1U << 16;
inline constexpr std::size_t parameter_file_max_name_length = 1024;  ///< Bytes per block name.
inline constexpr std::size_t parameter_file_max_rank = 8;            ///< Dimensions per block.
inline constexpr std::uint64_t parameter_file_max_scalars = std::uint64_t{1}
                                                            << 40;  ///< Total scalars.

/// \brief A decoded parameter file: the layout it describes (contiguous offsets) and the values.
template <class Scalar>
struct parameter_set {
  parameter_layout layout;                          ///< Blocks in file order, offsets recomputed.
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> values;  ///< All scalars, `total_size(layout)` of them.
};

namespace detail {

/// Checks a user-supplied layout against the writer's limits and a vector of `size` scalars.
inline io_status check_layout(const parameter_layout& layout, Eigen::Index size) {
  if (layout.size() > parameter_file_max_blocks)
    return io_status::failure("the layout has " + std::to_string(layout.size()) +
                              " blocks (limit " + std::to_string(parameter_file_max_blocks) + ")");
  std::vector<std::string_view> names;
  names.reserve(layout.size());
  for (const auto& block : layout) {
    const std::string label = "layout block '" + block.name + "'";
    if (block.name.empty()) return io_status::failure("a layout block has an empty name");
    if (block.name.size() > parameter_file_max_name_length ||
        block.name.find('\0') != std::string::npos)
      return io_status::failure(label + ": name longer than 1024 bytes or containing NUL");
    if (block.shape.size() > parameter_file_max_rank)
      return io_status::failure(label + ": rank " + std::to_string(block.shape.size()) +
                                " exceeds 8");
    if (!checked_size(block.shape, static_cast<std::int64_t>(parameter_file_max_scalars)) &&
        checked_size(block.shape))
      return io_status::failure(label + ": shape " + shape_string(block.shape) +
                                " is absurdly large (more than 2^40 scalars)");
    names.push_back(block.name);
  }
  // The one check shared with the initialisers and the .npz import: shapes, offsets, overlap.
  if (auto problem = layout_problem(layout, static_cast<std::int64_t>(size), layout_fit::within))
    return io_status::failure(*problem);
  std::sort(names.begin(), names.end());
  const auto duplicate = std::adjacent_find(names.begin(), names.end());
  if (duplicate != names.end())
    return io_status::failure("duplicate block name '" + std::string(*duplicate) + "'");
  return {};
}

struct parameter_header {
  scalar_type type = scalar_type::float32;
  std::uint64_t count = 0;
  parameter_layout layout;
  std::size_t payload_offset = 0;
};

/// Parses everything before the payload. On failure `truncated` says whether the
/// bytes simply ran out (as opposed to a field holding an impossible value).
inline io_status parse_parameter_header(std::span<const std::uint8_t> bytes,
                                        parameter_header& header, bool& truncated) {
  byte_reader reader(bytes, 10);
  truncated = false;
  const auto ran_out = [&](const std::string& field, std::size_t needed) {
    truncated = true;
    return io_status::failure("the file ends at byte " + std::to_string(bytes.size()) + " inside " +
                              field + " (needs " + std::to_string(needed) + " bytes at offset " +
                              std::to_string(reader.position()) + ")");
  };
  std::uint8_t type = 0, reserved = 0;
  std::uint32_t blocks = 0;
  if (!reader.read(type)) return ran_out("the scalar type", 1);
  if (type != 1 && type != 2)
    return io_status::failure("unknown scalar type code " + std::to_string(type));
  header.type = static_cast<scalar_type>(type);
  if (!reader.read(reserved)) return ran_out("the reserved byte", 1);
  if (reserved != 0)
    return io_status::failure("reserved byte at offset 11 is " + std::to_string(reserved));
  if (!reader.read(blocks)) return ran_out("the block count", 4);
  if (blocks > parameter_file_max_blocks)
    return io_status::failure("absurd block count " + std::to_string(blocks) + " (limit 65536)");
  if (!reader.read(header.count)) return ran_out("the scalar count", 8);
  if (header.count > parameter_file_max_scalars)
    return io_status::failure("absurd scalar count " + std::to_string(header.count) +
                              " (limit 2^40)");
  std::uint64_t sum = 0;
  header.layout.clear();
  for (std::uint32_t b = 0; b < blocks; ++b) {
    const std::string which = "block " + std::to_string(b);
    std::uint16_t length = 0;
    if (!reader.read(length)) return ran_out(which + "'s name length", 2);
    if (length == 0) return io_status::failure(which + " has an empty name");
    if (length > parameter_file_max_name_length)
      return io_status::failure(which + ": absurd name length " + std::to_string(length) +
                                " (limit 1024)");
    std::span<const std::uint8_t> name;
    if (!reader.read_bytes(length, name)) return ran_out(which + "'s name", length);
    if (std::find(name.begin(), name.end(), std::uint8_t{0}) != name.end())
      return io_status::failure(which + "'s name contains a NUL byte");
    parameter_block block;
    block.name.assign(name.begin(), name.end());
    std::uint8_t rank = 0;
    if (!reader.read(rank)) return ran_out("the rank of block '" + block.name + "'", 1);
    if (rank > parameter_file_max_rank)
      return io_status::failure("block '" + block.name + "': absurd rank " + std::to_string(rank) +
                                " (limit 8)");
    std::uint64_t size = 1;
    for (std::uint8_t d = 0; d < rank; ++d) {
      std::uint64_t dimension = 0;
      if (!reader.read(dimension)) return ran_out("the shape of block '" + block.name + "'", 8);
      // Each dimension is bounded on its own too: after a zero dimension the running product
      // stays 0, and a dimension past 2^63 would turn negative as an int64 (found by fuzzing).
      if (dimension > parameter_file_max_scalars ||
          !checked_multiply(size, dimension, parameter_file_max_scalars, size))
        return io_status::failure("block '" + block.name + "': absurd dimension " +
                                  std::to_string(dimension));
      block.shape.push_back(static_cast<std::int64_t>(dimension));
    }
    // An empty shape's non-zero dimensions are bounded too (nde::checked_size), as the writer
    // requires: {0, 2^40, 2^40} would decode but could not be written back (found by fuzzing).
    if (!checked_size(block.shape, static_cast<std::int64_t>(parameter_file_max_scalars)))
      return io_status::failure("block '" + block.name + "': absurd shape " +
                                shape_string(block.shape) +
                                " (its non-zero dimensions multiply past 2^40)");
    block.offset = static_cast<std::int64_t>(sum);
    sum += size;  // both <= 2^40, cannot overflow
    if (sum > header.count)
      return io_status::failure("block sizes exceed the scalar count " +
                                std::to_string(header.count) + " at block '" + block.name + "'");
    header.layout.push_back(std::move(block));
  }
  if (sum != header.count)
    return io_status::failure("block sizes add up to " + std::to_string(sum) +
                              " but the scalar count is " + std::to_string(header.count));
  std::vector<std::string_view> names;
  for (const auto& block : header.layout) names.push_back(block.name);
  std::sort(names.begin(), names.end());
  const auto duplicate = std::adjacent_find(names.begin(), names.end());
  if (duplicate != names.end())
    return io_status::failure("duplicate block name '" + std::string(*duplicate) + "'");
  header.payload_offset = reader.position();
  return {};
}

/// The header-first check of a parameter file larger than `small_file_bytes` (see
/// `read_file_checked`): magic, version and the fixed header fields, and the file size
/// against the smallest and largest file that header allows; only then is the file read.
inline io_status check_parameter_file_head(std::span<const std::uint8_t> head, std::uint64_t size) {
  const auto& magic = parameter_file_magic;
  if (head.size() < 24 || !std::equal(magic.begin(), magic.end(), head.begin()))
    return io_status::failure(
        "bad magic: not an nde parameter file (the first 8 bytes are not 89 4E 44 45 50 0D 0A 1A)");
  const auto version = byte_reader::load<std::uint16_t>(head.data() + 8);
  if (version != parameter_file_version)
    return io_status::failure("unsupported version " + std::to_string(version) +
                              " (this reader supports version 1)");
  const std::uint8_t type = head[10];
  const auto blocks = byte_reader::load<std::uint32_t>(head.data() + 12);
  const auto count = byte_reader::load<std::uint64_t>(head.data() + 16);
  if ((type != 1 && type != 2) || head[11] != 0 || blocks > parameter_file_max_blocks ||
      count > parameter_file_max_scalars)
    return io_status::failure("corrupted: the fixed header fields are invalid (scalar type " +
                              std::to_string(type) + ", " + std::to_string(blocks) + " blocks, " +
                              std::to_string(count) + " scalars) in a file of " +
                              std::to_string(size) + " bytes");
  const std::uint64_t payload = count * (type == 1 ? 4 : 8) + 4;  // count <= 2^40
  const std::uint64_t largest = 24 +
                                std::uint64_t{blocks} * (2 + parameter_file_max_name_length + 1 +
                                                         8 * parameter_file_max_rank) +
                                payload;
  const std::uint64_t smallest = 24 + std::uint64_t{blocks} * (2 + 1 + 1) + payload;
  if (size < smallest)
    return io_status::failure("truncated: the header describes at least " +
                              std::to_string(smallest) + " bytes (" + std::to_string(blocks) +
                              " blocks, " + std::to_string(count) +
                              " scalars), the file has only " + std::to_string(size));
  if (size > largest)
    return io_status::failure("corrupted: the file has " + std::to_string(size) +
                              " bytes, more than the at most " + std::to_string(largest) +
                              " that its header allows (" + std::to_string(blocks) + " blocks, " +
                              std::to_string(count) + " scalars)");
  return {};
}

/// Reads a parameter file, validating its header before reading the rest (bounded allocation).
inline io_status read_parameter_file(const std::filesystem::path& path,
                                     std::vector<std::uint8_t>& bytes) {
  return read_file_checked(
      path, 24,
      [](std::span<const std::uint8_t> head, std::span<const std::uint8_t>, std::uint64_t size) {
        return check_parameter_file_head(head, size);
      },
      bytes);
}

}  // namespace detail

/// \brief Encodes a layout and its values in the parameter-file format (in memory).
/// \tparam Derived an Eigen vector of `float` or `double`.
/// \throws nde::error (`invalid_input`) if the layout breaks the format's limits, has
/// duplicate names, or does not fit in `values`.
/// Cost: O(header + N), one allocation of the exact file size.
template <class Derived>
std::vector<std::uint8_t> encode_parameters(const parameter_layout& layout,
                                            const Eigen::MatrixBase<Derived>& values) {
  using Scalar = typename Derived::Scalar;
  static_assert(Derived::IsVectorAtCompileTime || Derived::ColsAtCompileTime == Eigen::Dynamic,
                "parameters are a vector");
  constexpr scalar_type type = scalar_type_of<Scalar>();
  if (values.cols() != 1 && values.size() != 0)
    throw error(status::invalid_input, "encode_parameters: values must be a column vector");
  detail::check_layout(layout, values.size()).throw_if_error("encode_parameters");
  std::size_t header_size = 24;
  for (const auto& block : layout) header_size += 3 + block.name.size() + 8 * block.shape.size();
  std::uint64_t count = 0;  // each block <= 2^40 scalars, at most 2^16 blocks: no overflow
  for (const auto& block : layout) count += static_cast<std::uint64_t>(block.size());
  const auto payload = checked_mul<std::uint64_t>(count, sizeof(Scalar));
  const auto total = payload ? checked_add<std::uint64_t>(*payload, header_size + 4) : payload;
  if (!total || *total > std::numeric_limits<std::size_t>::max())
    throw error(status::invalid_input, "encode_parameters: the file would be too large here");
  // Sized once, then filled in place (resize + stores, no inserts: see detail::byte_writer).
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(*total));
  detail::byte_writer out(bytes);
  out.put_bytes(parameter_file_magic);
  out.put(parameter_file_version);
  out.put(static_cast<std::uint8_t>(type));
  out.put(std::uint8_t{0});
  out.put(static_cast<std::uint32_t>(layout.size()));
  out.put(count);
  for (const auto& block : layout) {
    out.put(static_cast<std::uint16_t>(block.name.size()));
    out.put_text(block.name);
    out.put(static_cast<std::uint8_t>(block.shape.size()));
    for (const auto dimension : block.shape) out.put(static_cast<std::uint64_t>(dimension));
  }
  for (const auto& block : layout) {
    const std::int64_t size = block.size();
    for (std::int64_t k = 0; k < size; ++k)
      out.put(std::bit_cast<detail::bits_of<Scalar>>(Scalar(values(block.offset + k))));
  }
  out.put(detail::crc32(std::span<const std::uint8_t>(bytes).first(bytes.size() - 4)));
  if (!out.complete())
    throw error(status::invalid_input, "encode_parameters: internal size mismatch (a bug)");
  return bytes;
}

/// \brief Decodes a parameter file held in memory (never throws: a failed allocation is
/// reported as a status too).
/// \tparam Scalar the scalar type the caller wants; a file of the other type is an error.
/// \return success, or `invalid_input` with a message that starts with the class of
/// problem: `bad magic`, `unsupported version`, `truncated`, `corrupted`, `checksum
/// mismatch`, `wrong scalar type`, or `invalid file`. `out` is only written on success.
template <class Scalar>
io_status decode_parameters(std::span<const std::uint8_t> bytes, parameter_set<Scalar>& out) {
  return detail::without_exceptions([&]() -> io_status {
    constexpr scalar_type wanted = scalar_type_of<Scalar>();
    const auto& magic = parameter_file_magic;
    if (bytes.size() < magic.size()) {
      if (std::equal(bytes.begin(), bytes.end(), magic.begin()))
        return io_status::failure("truncated: " + std::to_string(bytes.size()) +
                                  " bytes, shorter than the 8-byte magic");
      return io_status::failure("bad magic: not an nde parameter file");
    }
    if (!std::equal(magic.begin(), magic.end(), bytes.begin()))
      return io_status::failure(
          "bad magic: not an nde parameter file (the first 8 bytes are not 89 4E 44 45 50 0D 0A "
          "1A)");
    if (bytes.size() < 10)
      return io_status::failure("truncated: the file ends inside the version field");
    const auto version = detail::byte_reader::load<std::uint16_t>(bytes.data() + 8);
    if (version != parameter_file_version)
      return io_status::failure("unsupported version " + std::to_string(version) +
                                " (this reader supports version 1)");

    std::uint32_t stored_crc = 0, computed_crc = 0;
    bool crc_ok = false;
    if (bytes.size() >= 14) {
      stored_crc = detail::byte_reader::load<std::uint32_t>(bytes.data() + bytes.size() - 4);
      computed_crc = detail::crc32(bytes.first(bytes.size() - 4));
      crc_ok = stored_crc == computed_crc;
    }
    detail::parameter_header header;
    bool truncated = false;
    if (auto parsed = detail::parse_parameter_header(bytes, header, truncated); !parsed) {
      if (crc_ok) return io_status::failure("invalid file: " + parsed.message);
      if (truncated) return io_status::failure("truncated: " + parsed.message);
      return io_status::failure("corrupted: " + parsed.message +
                                " (and the checksum does not match)");
    }
    const std::size_t scalar_bytes = header.type == scalar_type::float32 ? 4 : 8;
    // count <= 2^40, so this cannot overflow a 64-bit size_t.
    const std::uint64_t expected = header.payload_offset + header.count * scalar_bytes + 4;
    if (bytes.size() < expected)
      return io_status::failure("truncated: the header describes " + std::to_string(expected) +
                                " bytes (" + std::to_string(header.count) + " " +
                                std::string(to_string(header.type)) +
                                " scalars), the file has only " + std::to_string(bytes.size()));
    if (bytes.size() > expected)
      return io_status::failure(std::string(crc_ok ? "invalid file" : "corrupted") +
                                ": the file has " + std::to_string(bytes.size() - expected) +
                                " bytes more than its header describes (" +
                                std::to_string(expected) + ")");
    if (!crc_ok)
      return io_status::failure("checksum mismatch: stored CRC-32 " + detail::hex32(stored_crc) +
                                ", computed " + detail::hex32(computed_crc) +
                                ": the file is corrupted");
    if (header.type != wanted)
      return io_status::failure("wrong scalar type: the file stores " +
                                std::string(to_string(header.type)) + " but " +
                                std::string(to_string(wanted)) + " was requested");
    Eigen::Matrix<Scalar, Eigen::Dynamic, 1> values(static_cast<Eigen::Index>(header.count));
    const std::uint8_t* payload = bytes.data() + header.payload_offset;
    for (Eigen::Index k = 0; k < values.size(); ++k)
      values[k] = detail::load_scalar<Scalar>(
          payload + static_cast<std::size_t>(k) * sizeof(Scalar), false);
    out.layout = std::move(header.layout);
    out.values = std::move(values);
    return {};
  });
}

/// \brief Decodes a parameter file held in memory into `values` laid out as `expected`.
///
/// Blocks are matched by name; every expected block must be in the file with the same
/// shape, and the file may hold no other block. On any failure `values` is untouched.
/// \tparam Derived a writable Eigen vector of `float` or `double` (the file's type).
template <class Derived>
io_status decode_parameters(std::span<const std::uint8_t> bytes, const parameter_layout& expected,
                            Eigen::MatrixBase<Derived>& values) {
  return detail::without_exceptions([&]() -> io_status {
    using Scalar = typename Derived::Scalar;
    if (auto layout_ok = detail::check_layout(expected, values.size()); !layout_ok)
      return io_status::failure("invalid expected layout: " + layout_ok.message);
    parameter_set<Scalar> file;
    if (auto decoded = decode_parameters(bytes, file); !decoded) return decoded;
    std::map<std::string_view, const parameter_block*> by_name;
    for (const auto& block : file.layout) by_name.emplace(block.name, &block);
    std::string missing;
    for (const auto& block : expected) {
      const auto found = by_name.find(block.name);
      if (found == by_name.end()) {
        missing += (missing.empty() ? "'" : ", '") + block.name + "'";
        continue;
      }
      if (found->second->shape != block.shape)
        return io_status::failure("shape mismatch: block '" + block.name + "' has shape " +
                                  detail::shape_string(found->second->shape) +
                                  " in the file, the layout expects " +
                                  detail::shape_string(block.shape));
      by_name.erase(found);
    }
    if (!missing.empty()) return io_status::failure("missing blocks: the file has no " + missing);
    if (!by_name.empty()) {
      std::string extra;
      for (const auto& [name, block] : by_name)
        extra += (extra.empty() ? "'" : ", '") + std::string(name) + "'";
      return io_status::failure("unexpected blocks: the layout has no " + extra);
    }
    std::map<std::string_view, const parameter_block*> source;
    for (const auto& block : file.layout) source.emplace(block.name, &block);
    for (const auto& block : expected) {
      const auto from = source.at(block.name)->offset;
      const std::int64_t size = block.size();
      for (std::int64_t k = 0; k < size; ++k) values(block.offset + k) = file.values(from + k);
    }
    return {};
  });
}

/// \brief Writes `values` (laid out as `layout`) to `path` atomically.
/// \throws nde::error (`invalid_input`) for a bad layout or any I/O failure; the
/// previous content of `path`, if any, is then intact.
template <class Derived>
void save_parameters(const std::filesystem::path& path, const parameter_layout& layout,
                     const Eigen::MatrixBase<Derived>& values) {
  const auto bytes = encode_parameters(layout, values);
  detail::atomic_write_file(path, bytes);
}

/// \brief Reads a parameter file (non-throwing form of \ref nde::io::load_parameters()).
template <class Scalar>
io_status read_parameters(const std::filesystem::path& path, parameter_set<Scalar>& out) {
  std::vector<std::uint8_t> bytes;
  if (auto read = detail::read_parameter_file(path, bytes); !read) return read;
  return decode_parameters(bytes, out);
}

/// \brief Reads a parameter file into `values` laid out as `expected` (non-throwing).
template <class Derived>
io_status read_parameters(const std::filesystem::path& path, const parameter_layout& expected,
                          Eigen::MatrixBase<Derived>& values) {
  if (auto layout_ok = detail::check_layout(expected, values.size()); !layout_ok)
    return io_status::failure("invalid expected layout: " + layout_ok.message);
  std::vector<std::uint8_t> bytes;
  if (auto read = detail::read_parameter_file(path, bytes); !read) return read;
  return decode_parameters(bytes, expected, values);
}

/// \brief Loads a parameter file of `Scalar`s, whatever its layout.
/// \throws nde::error (`invalid_input`) naming the file and the problem.
template <class Scalar>
parameter_set<Scalar> load_parameters(const std::filesystem::path& path) {
  parameter_set<Scalar> result;
  read_parameters(path, result)
      .throw_if_error("cannot load parameters from '" + path.string() + "'");
  return result;
}

/// \brief Loads a parameter file into `values`, checking it against `expected`.
/// \throws nde::error (`invalid_input`) naming the file and the problem; `values` is
/// then untouched.
template <class Derived>
void load_parameters(const std::filesystem::path& path, const parameter_layout& expected,
                     Eigen::MatrixBase<Derived>& values) {
  read_parameters(path, expected, values)
      .throw_if_error("cannot load parameters from '" + path.string() + "'");
}

/// \brief Overload for temporaries such as `theta.segment(a, n)` or an `Eigen::Map`.
template <class Derived>
void load_parameters(const std::filesystem::path& path, const parameter_layout& expected,
                     Eigen::MatrixBase<Derived>&& values) {
  load_parameters(path, expected, values);
}

}  // namespace nde::io
