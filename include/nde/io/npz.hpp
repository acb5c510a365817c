/// \file
/// \brief Reads and writes NumPy `.npz` archives (`np.savez`; `np.savez_compressed` too when nde
/// is built with zlib, `NDE_HAVE_ZLIB=1`), and fills a flat parameter vector from one, checking
/// every shape against a `nde::parameter_layout` (or writes one member per block).
///
/// An `.npz` is a ZIP archive of `.npy` members. The ZIP structures are parsed here
/// directly (PKWARE APPNOTE.TXT 6.3: end of central directory record, 4.3.16; ZIP64
/// end record and locator, 4.3.14-15; central directory headers, 4.3.12; local file
/// headers, 4.3.7; ZIP64 extended information extra field, 4.5.3). Sizes, CRC and
/// offsets come from the central directory (NumPy writes members with
/// `force_zip64=True`, so local headers may carry 0xFFFFFFFF placeholders). STORED members
/// (method 0) are always accepted; deflated members (method 8) when nde is built with zlib,
/// else they are rejected with a message saying so. A deflated member is inflated into exactly
/// the size its headers declare (after checking that deflate can expand that far), never more,
/// so a zip bomb gives a status, not an exhausted memory. Each member's CRC-32 is verified;
/// encrypted members, other methods, multi-disk archives and ranges outside the archive are
/// rejected.
///
/// ## From PyTorch
///
/// ```python
/// np.savez("mlp.npz", **{k: v.detach().numpy() for k, v in model.state_dict().items()})
/// ```
/// gives members `"0.weight.npy"`, `"0.bias.npy"`, `"2.weight.npy"`, ... A PyTorch
/// `Linear.weight` is an `(out, in)` C-order array; it is read into column-major order
/// (see npy.hpp), which is exactly nde's `{out, in}` block, so no transposition is
/// needed or done. Names map to blocks one to one: by default the block named
/// `"0.weight"` takes the member `"0.weight.npy"`; \ref nde::io::npz_import_options::names
/// renames (block name -> member name without `.npy`).
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/io/common.hpp"
#include "nde/io/detail/bytes.hpp"
#include "nde/io/detail/deflate.hpp"
#include "nde/io/detail/file.hpp"
#include "nde/io/detail/zip_write.hpp"
#include "nde/io/npy.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nde::io {

/// \brief The arrays of an `.npz`, keyed by member name without the `.npy` suffix (as `np.load` does).
template <class Scalar>
using npz_arrays = std::map<std::string, npy_array<Scalar>, std::less<>>;

/// \brief Options of \ref nde::io::decode_npz_into() / \ref nde::io::load_npz_into().
struct npz_import_options {
  /// Block name -> member name (without `.npy`) for blocks whose names differ;
  /// blocks not listed use their own name.
  std::map<std::string, std::string, std::less<>> names;
  /// Accept members that no block uses (e.g. buffers such as batch-norm statistics).
  /// Off by default, like PyTorch's `load_state_dict(strict=True)`.
  bool allow_unused = false;
};

namespace detail {

struct zip_member {
  std::string name;
  std::uint64_t data_offset = 0;
  std::uint64_t size = 0;             ///< Uncompressed size.
  std::uint64_t compressed_size = 0;  ///< Bytes at data_offset (== size when STORED).
  std::uint16_t method = 0;           ///< 0 STORED, 8 deflate.
  std::uint32_t crc = 0;              ///< CRC-32 of the uncompressed data.
};

inline constexpr std::uint32_t zip_end_signature = 0x06054b50;
inline constexpr std::uint32_t zip64_end_signature = 0x06064b50;
inline constexpr std::uint32_t zip64_locator_signature = 0x07064b50;
inline constexpr std::uint32_t zip_central_signature = 0x02014b50;
inline constexpr std::uint32_t zip_local_signature = 0x04034b50;

/// Bytes at the end of an archive that can hold its end record: 22 bytes, a comment of at
/// most 65535 bytes, and the 20-byte ZIP64 locator before them.
inline constexpr std::size_t zip_end_window = 22 + 65535 + 20;

/// Offset of the end-of-central-directory record in an archive of `size` bytes whose last
/// `tail.size()` bytes are `tail`, or nothing. The record is the last 22 bytes plus a comment
/// of at most 65535 bytes; the comment length must reach exactly the end of the data, to
/// avoid false matches.
inline std::optional<std::uint64_t> find_zip_end(std::span<const std::uint8_t> tail,
                                                 std::uint64_t size) {
  if (tail.size() < 22) return std::nullopt;
  const std::uint64_t base = size - tail.size();
  const std::size_t lowest = tail.size() - 22 >= 65535 ? tail.size() - 22 - 65535 : 0;
  for (std::size_t at = tail.size() - 22 + 1; at-- > lowest;) {
    if (byte_reader::load<std::uint32_t>(tail.data() + at) == zip_end_signature &&
        base + at + 22 + byte_reader::load<std::uint16_t>(tail.data() + at + 20) == size)
      return base + at;
  }
  return std::nullopt;
}

/// Reads an `.npz` file, checking that it ends with a zip end record before reading it all.
inline io_status read_npz_file(const std::filesystem::path& path,
                               std::vector<std::uint8_t>& bytes) {
  return read_file_checked(
      path, zip_end_window,
      [](std::span<const std::uint8_t>, std::span<const std::uint8_t> tail, std::uint64_t size) {
        if (!find_zip_end(tail, size))
          return io_status::failure(
              "not a zip archive: no end-of-central-directory record (truncated or not a .npz)");
        return io_status{};
      },
      bytes);
}

/// Checks the CRC-32 of a member's uncompressed bytes.
inline io_status check_member_crc(const zip_member& member, std::span<const std::uint8_t> data) {
  const auto actual = crc32(data);
  if (actual != member.crc)
    return io_status::failure("checksum mismatch: zip entry '" + member.name.substr(0, 128) +
                              "' has CRC-32 " + hex32(actual) + ", the directory says " +
                              hex32(member.crc));
  return {};
}

/// Lists the STORED and deflated members of a ZIP archive, checking every structure, and the
/// CRC of the STORED members (a deflated member's CRC is checked once it is inflated, by
/// \ref member_data).
inline io_status read_zip(std::span<const std::uint8_t> bytes, std::vector<zip_member>& members) {
  const auto fail = [](const std::string& what) { return io_status::failure(what); };
  const std::size_t size = bytes.size();
  if (size < 22) return fail("not a zip archive: " + std::to_string(size) + " bytes, too short");
  const auto found_end = find_zip_end(bytes.last(std::min(size, zip_end_window)), size);
  if (!found_end)
    return fail("not a zip archive: no end-of-central-directory record (truncated or not a .npz)");
  const auto end = static_cast<std::size_t>(*found_end);
  byte_reader record(bytes, end + 4);
  std::uint16_t disk = 0, directory_disk = 0, disk_entries = 0, entries16 = 0;
  std::uint32_t directory_size32 = 0, directory_offset32 = 0;
  (void)(record.read(disk) && record.read(directory_disk) && record.read(disk_entries) &&
         record.read(entries16) && record.read(directory_size32) &&
         record.read(directory_offset32));
  std::uint64_t entries = entries16, directory_size = directory_size32,
                directory_offset = directory_offset32;
  std::uint64_t directory_limit = end;  // the central directory must end before this
  const bool needs_zip64 =
      entries16 == 0xFFFF || directory_size32 == 0xFFFFFFFF || directory_offset32 == 0xFFFFFFFF;
  if (end >= 20 &&
      byte_reader::load<std::uint32_t>(bytes.data() + end - 20) == zip64_locator_signature) {
    byte_reader locator(bytes, end - 20 + 4);
    std::uint32_t zip64_disk = 0, disks = 0;
    std::uint64_t zip64_offset = 0;
    (void)(locator.read(zip64_disk) && locator.read(zip64_offset) && locator.read(disks));
    if (zip64_disk != 0 || disks > 1) return fail("multi-disk zip archives are not supported");
    if (zip64_offset > end - 20 || end - 20 - zip64_offset < 56)
      return fail("corrupted zip: the ZIP64 end record offset " + std::to_string(zip64_offset) +
                  " is out of range");
    byte_reader zip64(bytes, static_cast<std::size_t>(zip64_offset));
    std::uint32_t signature = 0, disk32 = 0, directory_disk32 = 0;
    std::uint64_t record_size = 0, disk_entries64 = 0;
    std::uint16_t made_by = 0, needed = 0;
    (void)(zip64.read(signature) && zip64.read(record_size) && zip64.read(made_by) &&
           zip64.read(needed) && zip64.read(disk32) && zip64.read(directory_disk32) &&
           zip64.read(disk_entries64) && zip64.read(entries) && zip64.read(directory_size) &&
           zip64.read(directory_offset));
    if (signature != zip64_end_signature)
      return fail("corrupted zip: bad ZIP64 end-of-central-directory signature");
    if (disk32 != 0 || directory_disk32 != 0 || disk_entries64 != entries)
      return fail("multi-disk zip archives are not supported");
    directory_limit = zip64_offset;
  } else if (needs_zip64) {
    return fail("corrupted zip: the end record needs ZIP64 values but there is no ZIP64 locator");
  } else if (disk != 0 || directory_disk != 0 || disk_entries != entries16) {
    return fail("multi-disk zip archives are not supported");
  }
  if (directory_offset > directory_limit || directory_size > directory_limit - directory_offset)
    return fail("corrupted zip: the central directory (offset " + std::to_string(directory_offset) +
                ", " + std::to_string(directory_size) + " bytes) lies outside the archive");
  if (entries > directory_size / 46)
    return fail("corrupted zip: " + std::to_string(entries) +
                " entries cannot fit in a central directory of " + std::to_string(directory_size) +
                " bytes");

  std::vector<zip_member> found;
  const auto directory =
      bytes.subspan(0, static_cast<std::size_t>(directory_offset + directory_size));
  byte_reader central(directory, static_cast<std::size_t>(directory_offset));
  for (std::uint64_t e = 0; e < entries; ++e) {
    const std::string which = "zip entry " + std::to_string(e);
    std::uint32_t signature = 0, crc = 0, compressed32 = 0, uncompressed32 = 0, external = 0,
                  local32 = 0;
    std::uint16_t made_by = 0, needed = 0, flags = 0, method = 0, time = 0, date = 0,
                  name_length = 0, extra_length = 0, comment_length = 0, start_disk = 0,
                  internal = 0;
    if (!(central.read(signature) && central.read(made_by) && central.read(needed) &&
          central.read(flags) && central.read(method) && central.read(time) && central.read(date) &&
          central.read(crc) && central.read(compressed32) && central.read(uncompressed32) &&
          central.read(name_length) && central.read(extra_length) && central.read(comment_length) &&
          central.read(start_disk) && central.read(internal) && central.read(external) &&
          central.read(local32)))
      return fail("corrupted zip: the central directory ends inside " + which);
    if (signature != zip_central_signature)
      return fail("corrupted zip: bad central directory signature at " + which);
    std::span<const std::uint8_t> name_bytes, extra;
    if (!central.read_bytes(name_length, name_bytes) || !central.read_bytes(extra_length, extra) ||
        !central.skip(comment_length))
      return fail("corrupted zip: the central directory ends inside " + which +
                  "'s name, extra field or comment");
    zip_member member;
    member.name.assign(name_bytes.begin(), name_bytes.end());
    const std::string label = "zip entry '" + member.name.substr(0, 128) + "'";
    std::uint64_t compressed = compressed32, uncompressed = uncompressed32, local = local32;
    // ZIP64 extended information: only the fields whose 32-bit value is saturated.
    byte_reader extras(extra);
    while (extras.remaining() >= 4) {
      std::uint16_t id = 0, length = 0;
      (void)(extras.read(id) && extras.read(length));
      std::span<const std::uint8_t> body;
      if (!extras.read_bytes(length, body))
        return fail("corrupted zip: " + label + " has a truncated extra field");
      if (id != 0x0001) continue;
      byte_reader zip64(body);
      if ((uncompressed32 == 0xFFFFFFFF && !zip64.read(uncompressed)) ||
          (compressed32 == 0xFFFFFFFF && !zip64.read(compressed)) ||
          (local32 == 0xFFFFFFFF && !zip64.read(local)))
        return fail("corrupted zip: " + label + " has a short ZIP64 extra field");
    }
    if (flags & 0x1) return fail(label + " is encrypted; encrypted archives are not supported");
    if (method == 8 && !have_zlib)
      return fail(label +
                  " is compressed (method 8, deflate): compressed .npz members need nde built "
                  "with zlib (NDE_WITH_ZLIB), or save with np.savez instead of "
                  "np.savez_compressed");
    if (method != 0 && method != 8)
      return fail(label + " uses compression method " + std::to_string(method) +
                  "; only STORED (0) and deflate (8) are supported");
    if (method == 0 && compressed != uncompressed)
      return fail("corrupted zip: " + label +
                  " is STORED but its compressed and uncompressed sizes differ");
    // Local header: 30 fixed bytes, then its own name and extra field, then the data.
    if (local > directory_offset || directory_offset - local < 30)
      return fail("corrupted zip: " + label + "'s local header offset " + std::to_string(local) +
                  " is out of range");
    byte_reader header(bytes, static_cast<std::size_t>(local));
    std::uint32_t local_signature = 0, local_crc = 0, local_compressed = 0, local_uncompressed = 0;
    std::uint16_t local_flags = 0, local_name_length = 0, local_extra_length = 0, local_method = 0;
    (void)(header.read(local_signature) && header.skip(2) && header.read(local_flags) &&
           header.read(local_method) && header.skip(4) && header.read(local_crc) &&
           header.read(local_compressed) && header.read(local_uncompressed) &&
           header.read(local_name_length) && header.read(local_extra_length));
    if (local_signature != zip_local_signature)
      return fail("corrupted zip: bad local header signature for " + label);
    std::span<const std::uint8_t> local_name;
    if (!header.read_bytes(local_name_length, local_name) ||
        !std::equal(local_name.begin(), local_name.end(), name_bytes.begin(), name_bytes.end()))
      return fail("corrupted zip: the local header of " + label + " names a different file");
    // With bit 3 the local CRC and sizes are zero and follow the data; 0xFFFFFFFF
    // sizes defer to a ZIP64 extra field (NumPy's force_zip64).
    const bool deferred = (local_flags & 0x8) != 0;
    const bool sizes_agree = local_compressed == 0xFFFFFFFF ||
                             (local_compressed == compressed && local_uncompressed == uncompressed);
    if (local_method != method || (!deferred && (local_crc != crc || !sizes_agree)))
      return fail("corrupted zip: " + label + "'s local and central headers disagree");
    const std::uint64_t data = local + 30 + local_name_length + local_extra_length;
    if (data > directory_offset || compressed > directory_offset - data)
      return fail("corrupted zip: " + label + "'s data (" + std::to_string(compressed) +
                  " bytes at offset " + std::to_string(data) +
                  ") runs past the end of the archive data");
    // A deflated member may not claim more than deflate can expand to: checked here, before
    // any member is inflated (and so before anything is allocated for it).
    if (method == 8 && uncompressed > deflate_max_ratio * (compressed + 1))
      return fail("corrupted zip: " + label + " declares " + std::to_string(uncompressed) +
                  " bytes from " + std::to_string(compressed) +
                  " compressed bytes, more than deflate can expand to");
    member.data_offset = data;
    member.size = uncompressed;
    member.compressed_size = compressed;
    member.method = method;
    member.crc = crc;
    if (method == 0) {
      if (auto checked = check_member_crc(
              member,
              bytes.subspan(static_cast<std::size_t>(data), static_cast<std::size_t>(compressed)));
          !checked)
        return checked;
    }
    found.push_back(std::move(member));
  }
  members = std::move(found);
  return {};
}

/// The uncompressed bytes of `member`: a view into `archive` when STORED, else inflated into
/// `inflated` (exactly the size the headers declare, never more) and checked against the CRC.
inline io_status member_data(std::span<const std::uint8_t> archive, const zip_member& member,
                             std::vector<std::uint8_t>& inflated,
                             std::span<const std::uint8_t>& data) {
  const auto stored = archive.subspan(static_cast<std::size_t>(member.data_offset),
                                      static_cast<std::size_t>(member.compressed_size));
  if (member.method == 0) {
    data = stored;
    return {};
  }
#if NDE_IO_ZLIB
  if (auto inflated_ok = inflate_raw(stored, member.size,
                                     "zip entry '" + member.name.substr(0, 128) + "'", inflated);
      !inflated_ok)
    return inflated_ok;
  if (auto checked = check_member_crc(member, inflated); !checked) return checked;
  data = inflated;
  return {};
#else
  static_cast<void>(inflated);
  return io_status::failure("zip entry '" + member.name.substr(0, 128) +
                            "' is compressed: compressed .npz members need nde built with zlib "
                            "(NDE_WITH_ZLIB)");
#endif
}

}  // namespace detail

/// \brief Decodes every member of an uncompressed `.npz` held in memory (never throws: a
/// failed allocation is reported as a status too). Keys drop the `.npy` suffix.
/// \return success, or `invalid_input` naming the problem (zip structure, compressed
/// member, CRC, duplicate name, or the member's `.npy` problem). `out` is only written on success.
template <class Scalar>
io_status decode_npz(std::span<const std::uint8_t> bytes, npz_arrays<Scalar>& out) {
  return detail::without_exceptions([&]() -> io_status {
    std::vector<detail::zip_member> members;
    if (auto listed = detail::read_zip(bytes, members); !listed) return listed;
    npz_arrays<Scalar> arrays;
    for (const auto& member : members) {
      std::string key = member.name;
      if (key.size() >= 4 && key.compare(key.size() - 4, 4, ".npy") == 0)
        key.resize(key.size() - 4);
      npy_array<Scalar> array;
      std::vector<std::uint8_t> inflated;
      std::span<const std::uint8_t> data;
      if (auto got = detail::member_data(bytes, member, inflated, data); !got) return got;
      if (auto decoded = decode_npy(data, array); !decoded)
        return io_status::failure("member '" + member.name.substr(0, 128) +
                                  "': " + decoded.message);
      if (!arrays.emplace(std::move(key), std::move(array)).second)
        return io_status::failure("duplicate member '" + member.name.substr(0, 128) + "'");
    }
    out = std::move(arrays);
    return {};
  });
}

/// \brief Throwing form of \ref nde::io::decode_npz().
template <class Scalar>
npz_arrays<Scalar> decode_npz(std::span<const std::uint8_t> bytes) {
  npz_arrays<Scalar> arrays;
  decode_npz(bytes, arrays).throw_if_error("cannot decode .npz data");
  return arrays;
}

/// \brief Reads a `.npz` file (non-throwing).
template <class Scalar>
io_status read_npz(const std::filesystem::path& path, npz_arrays<Scalar>& out) {
  std::vector<std::uint8_t> bytes;
  if (auto read = detail::read_npz_file(path, bytes); !read) return read;
  return decode_npz(bytes, out);
}

/// \brief Loads a `.npz` file.
/// \throws nde::error (`invalid_input`) naming the file and the problem.
template <class Scalar>
npz_arrays<Scalar> load_npz(const std::filesystem::path& path) {
  npz_arrays<Scalar> arrays;
  read_npz(path, arrays).throw_if_error("cannot load '" + path.string() + "'");
  return arrays;
}

/// \brief Fills `values` (laid out as `layout`) from the arrays of an `.npz` in memory.
///
/// Every block needs a member (its own name, or `options.names[block]`) of exactly the
/// block's shape; the values are copied in column-major order (see npy.hpp), so an
/// `(out, in)` PyTorch weight fills an `{out, in}` block correctly. Unless
/// `options.allow_unused`, every member must be used. On any failure `values` is untouched.
/// \tparam Derived a writable Eigen vector of `float` or `double`; `float64` members are
/// rounded when `Derived::Scalar` is `float`.
template <class Derived>
io_status decode_npz_into(std::span<const std::uint8_t> bytes, const parameter_layout& layout,
                          Eigen::MatrixBase<Derived>& values,
                          const npz_import_options& options = {}) {
  using Scalar = typename Derived::Scalar;
  return detail::without_exceptions([&]() -> io_status {
    // The one layout check shared with the parameter files and the initialisers.
    if (auto problem = layout_problem(layout, values.size(), layout_fit::within))
      return io_status::failure("invalid layout: " + *problem);
    npz_arrays<Scalar> arrays;
    if (auto decoded = decode_npz(bytes, arrays); !decoded) return decoded;
    std::map<std::string_view, bool> used;
    for (const auto& [name, array] : arrays) used.emplace(name, false);
    std::vector<std::pair<const parameter_block*, const npy_array<Scalar>*>> plan;
    for (const auto& block : layout) {
      const auto renamed = options.names.find(block.name);
      const std::string& member = renamed == options.names.end() ? block.name : renamed->second;
      const auto found = arrays.find(member);
      if (found == arrays.end())
        return io_status::failure("missing array: block '" + block.name + "' needs member '" +
                                  member + ".npy', which the archive does not have");
      if (found->second.shape != block.shape)
        return io_status::failure("shape mismatch: member '" + member + ".npy' has shape " +
                                  detail::shape_string(found->second.shape) + ", block '" +
                                  block.name + "' expects " + detail::shape_string(block.shape));
      used[found->first] = true;
      plan.emplace_back(&block, &found->second);
    }
    if (!options.allow_unused) {
      std::string unused;
      for (const auto& [name, is_used] : used)
        if (!is_used) unused += (unused.empty() ? "'" : ", '") + std::string(name) + ".npy'";
      if (!unused.empty())
        return io_status::failure("unused arrays: no block takes " + unused +
                                  " (set npz_import_options::allow_unused to ignore them)");
    }
    for (const auto& [block, array] : plan) {
      const std::int64_t size = block->size();
      for (std::int64_t k = 0; k < size; ++k) values(block->offset + k) = array->values[k];
    }
    return {};
  });
}

/// \brief Reads a `.npz` file into `values` (non-throwing form of \ref nde::io::load_npz_into()).
template <class Derived>
io_status read_npz_into(const std::filesystem::path& path, const parameter_layout& layout,
                        Eigen::MatrixBase<Derived>& values,
                        const npz_import_options& options = {}) {
  if (auto problem = layout_problem(layout, values.size(), layout_fit::within))
    return io_status::failure("invalid layout: " + *problem);
  std::vector<std::uint8_t> bytes;
  if (auto read = detail::read_npz_file(path, bytes); !read) return read;
  return decode_npz_into(bytes, layout, values, options);
}

/// \brief Loads a `.npz` file into `values` laid out as `layout` (see \ref
/// nde::io::decode_npz_into()). \throws nde::error (`invalid_input`) naming the file and the
/// problem; `values` is then untouched.
template <class Derived>
void load_npz_into(const std::filesystem::path& path, const parameter_layout& layout,
                   Eigen::MatrixBase<Derived>& values, const npz_import_options& options = {}) {
  read_npz_into(path, layout, values, options)
      .throw_if_error("cannot load '" + path.string() + "'");
}

/// \brief Overload for temporaries such as `theta.segment(a, n)` or an `Eigen::Map`.
template <class Derived>
void load_npz_into(const std::filesystem::path& path, const parameter_layout& layout,
                   Eigen::MatrixBase<Derived>&& values, const npz_import_options& options = {}) {
  load_npz_into(path, layout, values, options);
}

// ----------------------------------------------------------------------------------------------
// Writing

/// \brief Options of the `.npz` writers.
struct npz_write_options {
  /// Deflate every member (method 8, like `np.savez_compressed`); needs nde built with zlib
  /// (`NDE_HAVE_ZLIB`), else the write fails with a message saying so.
  bool compress = false;
  int level = 6;  ///< zlib level, 0 (fastest) to 9 (smallest), or -1 for zlib's default.
  npy_order order = npy_order::fortran;  ///< Data order of each member (see npy.hpp).
  /// Always write ZIP64 extra fields and end records (otherwise only where sizes or offsets
  /// reach 4 GiB, or there are 65535 members or more).
  bool force_zip64 = false;
};

namespace detail {

inline io_status encode_npz_members(
    const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& members,
    const npz_write_options& options, std::vector<std::uint8_t>& out) {
  std::vector<std::string_view> names;
  names.reserve(members.size());
  for (const auto& member : members) names.push_back(member.first);
  std::sort(names.begin(), names.end());
  if (const auto twin = std::adjacent_find(names.begin(), names.end()); twin != names.end())
    return io_status::failure("cannot encode .npz: two arrays are named '" +
                              std::string(twin->substr(0, twin->size() - 4)) + "'");
  zip_write_options zip;
  zip.deflate = options.compress;
  zip.level = options.level;
  zip.force_zip64 = options.force_zip64;
  if (auto written = write_zip(members, zip, out); !written)
    return io_status::failure("cannot encode .npz: " + written.message);
  return {};
}

inline io_status check_member_name(const std::string& name) {
  if (name.empty() || name.size() > 0xFFFF - 4 || name.find('\0') != std::string::npos)
    return io_status::failure(
        "cannot encode .npz: array names must have 1 to 65531 bytes and no "
        "NUL ('" +
        name.substr(0, 64) + "')");
  return {};
}

}  // namespace detail

/// \brief Encodes arrays as an `.npz` archive in memory (never throws): member `<key>.npy` per
/// array, in key order, each written as \ref nde::io::encode_npy() does; STORED like `np.savez`,
/// or deflated like `np.savez_compressed` with `options.compress`. The bytes depend only on the
/// arrays and the options (fixed timestamps). `out` is only written on success.
template <class Scalar>
io_status encode_npz(const npz_arrays<Scalar>& arrays, std::vector<std::uint8_t>& out,
                     const npz_write_options& options = {}) {
  return detail::without_exceptions([&]() -> io_status {
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> members;
    npy_write_options npy;
    npy.order = options.order;
    for (const auto& [name, array] : arrays) {
      if (auto named = detail::check_member_name(name); !named) return named;
      std::vector<std::uint8_t> bytes;
      if (auto encoded = encode_npy(array, bytes, npy); !encoded)
        return io_status::failure("array '" + name.substr(0, 128) + "': " + encoded.message);
      members.emplace_back(name + ".npy", std::move(bytes));
    }
    return detail::encode_npz_members(members, options, out);
  });
}

/// \brief Encodes a parameter vector as an `.npz` archive, one member per block of `layout`
/// (in layout order, named `<block name>.npy`, of the block's shape): the inverse of
/// \ref nde::io::decode_npz_into(), and what `np.load` turns into a `state_dict`-like dict.
/// \return success, or `invalid_input` for a layout that does not fit in `values` or has
/// duplicate or empty names. `out` is only written on success.
template <class Derived>
io_status encode_npz(const parameter_layout& layout, const Eigen::MatrixBase<Derived>& values,
                     std::vector<std::uint8_t>& out, const npz_write_options& options = {}) {
  using Scalar = typename Derived::Scalar;
  return detail::without_exceptions([&]() -> io_status {
    if (auto problem = layout_problem(layout, values.size(), layout_fit::within))
      return io_status::failure("cannot encode .npz: invalid layout: " + *problem);
    const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> flat = values;
    std::vector<std::pair<std::string, std::vector<std::uint8_t>>> members;
    npy_write_options npy;
    npy.order = options.order;
    for (const auto& block : layout) {
      if (auto named = detail::check_member_name(block.name); !named) return named;
      std::vector<std::uint8_t> bytes;
      const auto size = static_cast<std::size_t>(block.size());
      if (auto encoded = encode_npy<Scalar>(
              block.shape, std::span<const Scalar>(flat.data() + block.offset, size), bytes, npy);
          !encoded)
        return io_status::failure("block '" + block.name.substr(0, 128) + "': " + encoded.message);
      members.emplace_back(block.name + ".npy", std::move(bytes));
    }
    return detail::encode_npz_members(members, options, out);
  });
}

/// \brief Throwing form of \ref nde::io::encode_npz() for arrays.
/// \throws nde::error (`invalid_input`) with the encoder's message.
template <class Scalar>
std::vector<std::uint8_t> encode_npz(const npz_arrays<Scalar>& arrays,
                                     const npz_write_options& options = {}) {
  std::vector<std::uint8_t> bytes;
  encode_npz(arrays, bytes, options).throw_if_error("cannot encode .npz data");
  return bytes;
}

/// \brief Throwing form of \ref nde::io::encode_npz() for a parameter vector.
/// \throws nde::error (`invalid_input`) with the encoder's message.
template <class Derived>
std::vector<std::uint8_t> encode_npz(const parameter_layout& layout,
                                     const Eigen::MatrixBase<Derived>& values,
                                     const npz_write_options& options = {}) {
  std::vector<std::uint8_t> bytes;
  encode_npz(layout, values, bytes, options).throw_if_error("cannot encode .npz data");
  return bytes;
}

/// \brief Writes arrays to an `.npz` file atomically (non-throwing; see \ref
/// nde::io::encode_npz()). A failed save leaves the previous file, if any, intact.
template <class Scalar>
io_status write_npz(const std::filesystem::path& path, const npz_arrays<Scalar>& arrays,
                    const npz_write_options& options = {}) {
  std::vector<std::uint8_t> bytes;
  if (auto encoded = encode_npz(arrays, bytes, options); !encoded) return encoded;
  return detail::write_file_status(path, bytes);
}

/// \brief Writes a parameter vector to an `.npz` file atomically, one member per block
/// (non-throwing; see \ref nde::io::encode_npz()).
template <class Derived>
io_status write_npz(const std::filesystem::path& path, const parameter_layout& layout,
                    const Eigen::MatrixBase<Derived>& values,
                    const npz_write_options& options = {}) {
  std::vector<std::uint8_t> bytes;
  if (auto encoded = encode_npz(layout, values, bytes, options); !encoded) return encoded;
  return detail::write_file_status(path, bytes);
}

/// \brief Saves arrays to an `.npz` file atomically.
/// \throws nde::error (`invalid_input`) naming the file and the problem.
template <class Scalar>
void save_npz(const std::filesystem::path& path, const npz_arrays<Scalar>& arrays,
              const npz_write_options& options = {}) {
  const auto written = write_npz(path, arrays, options);
  if (!written && written.message.rfind("cannot save", 0) == 0)
    throw error(written.code, written.message);
  written.throw_if_error("cannot save '" + path.string() + "'");
}

/// \brief Saves a parameter vector to an `.npz` file atomically, one member per block.
/// \throws nde::error (`invalid_input`) naming the file and the problem.
template <class Derived>
void save_npz(const std::filesystem::path& path, const parameter_layout& layout,
              const Eigen::MatrixBase<Derived>& values, const npz_write_options& options = {}) {
  const auto written = write_npz(path, layout, values, options);
  if (!written && written.message.rfind("cannot save", 0) == 0)
    throw error(written.code, written.message);
  written.throw_if_error("cannot save '" + path.string() + "'");
}

}  // namespace nde::io
