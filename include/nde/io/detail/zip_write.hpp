/// \file
/// \brief Not API. Writes a ZIP archive (PKWARE APPNOTE.TXT 6.3) in memory: one local file
/// header (4.3.7) and data per member, the central directory (4.3.12) and the end record
/// (4.3.16), with ZIP64 extra fields (4.5.3), end record and locator (4.3.14-15) where a size,
/// an offset or the member count needs them, or always with `force_zip64`.
///
/// Members are STORED (method 0) or deflated (method 8, zlib); CRC-32 and both sizes are in
/// the local header (no data descriptors). Every timestamp is 1980-01-01 00:00 (the DOS
/// epoch), so the same arrays always give the same bytes. Names with bytes >= 0x80 set the
/// UTF-8 flag (bit 11).
#pragma once

#include "nde/io/common.hpp"
#include "nde/io/detail/bytes.hpp"
#include "nde/io/detail/deflate.hpp"

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace nde::io::detail {

struct zip_write_options {
  bool deflate = false;
  int level = 6;
  bool force_zip64 = false;
};

/// Assembles the archive of `members` (name, uncompressed bytes) into `out`.
inline io_status write_zip(
    const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& members,
    const zip_write_options& options, std::vector<std::uint8_t>& out) {
  constexpr std::uint64_t max32 = 0xFFFFFFFF;
  struct entry {
    const std::string* name;
    std::span<const std::uint8_t> data;  // as stored in the archive
    std::vector<std::uint8_t> deflated;
    std::uint64_t size = 0;
    std::uint32_t crc = 0;
    std::uint64_t offset = 0;
    bool zip64_sizes = false, zip64_offset = false;
  };
  if (options.deflate && !have_zlib)
    return io_status::failure(
        "compressed .npz members need nde built with zlib (NDE_WITH_ZLIB); write them "
        "uncompressed or rebuild with zlib");
  std::vector<entry> entries(members.size());
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    entry& e = entries[i];
    e.name = &members[i].first;
    if (e.name->empty() || e.name->size() > 0xFFFF)
      return io_status::failure("zip member names must have 1 to 65535 bytes");
    e.size = members[i].second.size();
    e.crc = crc32(members[i].second);
    e.data = members[i].second;
#if NDE_IO_ZLIB
    if (options.deflate) {
      if (auto deflated = deflate_raw(members[i].second, options.level, e.deflated); !deflated)
        return deflated;
      e.data = e.deflated;
    }
#endif
    e.zip64_sizes = options.force_zip64 || e.size >= max32 || e.data.size() >= max32;
    e.zip64_offset = options.force_zip64 || offset >= max32;
    e.offset = offset;
    offset += 30 + e.name->size() + (e.zip64_sizes ? 20 : 0) + e.data.size();
  }
  const std::uint64_t directory_offset = offset;
  std::uint64_t directory_size = 0;
  for (const entry& e : entries) {
    const std::size_t fields = (e.zip64_sizes ? 2U : 0U) + (e.zip64_offset ? 1U : 0U);
    directory_size += 46 + e.name->size() + (fields > 0 ? 4 + 8 * fields : 0);
  }
  const bool zip64_end = options.force_zip64 || entries.size() >= 0xFFFF ||
                         directory_offset >= max32 || directory_size >= max32;
  const std::uint64_t total = directory_offset + directory_size + (zip64_end ? 56 + 20 : 0) + 22;
  if (total > std::numeric_limits<std::size_t>::max())
    return io_status::failure("the archive is too large to be assembled here");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(total));
  byte_writer w(bytes);
  const auto flags_of = [](const std::string& name) {
    for (const char c : name)
      if (static_cast<unsigned char>(c) >= 0x80) return std::uint16_t{1U << 11};
    return std::uint16_t{0};
  };
  const std::uint16_t method = options.deflate ? 8 : 0;
  constexpr std::uint16_t dos_date = (0 << 9) | (1 << 5) | 1;  // 1980-01-01; time 00:00 is 0
  for (const entry& e : entries) {
    const std::uint16_t needed = e.zip64_sizes || e.zip64_offset ? 45 : 20;
    w.put(std::uint32_t{0x04034b50});
    w.put(needed);
    w.put(flags_of(*e.name));
    w.put(method);
    w.put(std::uint16_t{0});
    w.put(dos_date);
    w.put(e.crc);
    w.put(static_cast<std::uint32_t>(e.zip64_sizes ? max32 : e.data.size()));
    w.put(static_cast<std::uint32_t>(e.zip64_sizes ? max32 : e.size));
    w.put(static_cast<std::uint16_t>(e.name->size()));
    w.put(static_cast<std::uint16_t>(e.zip64_sizes ? 20 : 0));
    w.put_text(*e.name);
    if (e.zip64_sizes) {
      w.put(std::uint16_t{0x0001});
      w.put(std::uint16_t{16});
      w.put(e.size);
      w.put(std::uint64_t{e.data.size()});
    }
    w.put_bytes(e.data);
  }
  for (const entry& e : entries) {
    const std::uint16_t needed = e.zip64_sizes || e.zip64_offset ? 45 : 20;
    const std::size_t fields = (e.zip64_sizes ? 2U : 0U) + (e.zip64_offset ? 1U : 0U);
    w.put(std::uint32_t{0x02014b50});
    w.put(static_cast<std::uint16_t>((3U << 8) | needed));  // made by: UNIX, this version
    w.put(needed);
    w.put(flags_of(*e.name));
    w.put(method);
    w.put(std::uint16_t{0});
    w.put(dos_date);
    w.put(e.crc);
    w.put(static_cast<std::uint32_t>(e.zip64_sizes ? max32 : e.data.size()));
    w.put(static_cast<std::uint32_t>(e.zip64_sizes ? max32 : e.size));
    w.put(static_cast<std::uint16_t>(e.name->size()));
    w.put(static_cast<std::uint16_t>(fields > 0 ? 4 + 8 * fields : 0));
    w.put(std::uint16_t{0});           // comment length
    w.put(std::uint16_t{0});           // disk number start
    w.put(std::uint16_t{0});           // internal attributes
    w.put(std::uint32_t{0x81A40000});  // external: regular file, mode 0644
    w.put(static_cast<std::uint32_t>(e.zip64_offset ? max32 : e.offset));
    w.put_text(*e.name);
    if (fields > 0) {
      w.put(std::uint16_t{0x0001});
      w.put(static_cast<std::uint16_t>(8 * fields));
      if (e.zip64_sizes) {
        w.put(e.size);
        w.put(std::uint64_t{e.data.size()});
      }
      if (e.zip64_offset) w.put(e.offset);
    }
  }
  const std::uint64_t count = entries.size();
  if (zip64_end) {
    const std::uint64_t record = directory_offset + directory_size;
    w.put(std::uint32_t{0x06064b50});
    w.put(std::uint64_t{44});  // size of the rest of this record
    w.put(std::uint16_t{(3U << 8) | 45U});
    w.put(std::uint16_t{45});
    w.put(std::uint32_t{0});
    w.put(std::uint32_t{0});
    w.put(count);
    w.put(count);
    w.put(directory_size);
    w.put(directory_offset);
    w.put(std::uint32_t{0x07064b50});
    w.put(std::uint32_t{0});
    w.put(record);
    w.put(std::uint32_t{1});
  }
  const auto small16 = static_cast<std::uint16_t>(zip64_end ? 0xFFFF : count);
  w.put(std::uint32_t{0x06054b50});
  w.put(std::uint16_t{0});
  w.put(std::uint16_t{0});
  w.put(small16);
  w.put(small16);
  w.put(static_cast<std::uint32_t>(zip64_end ? max32 : directory_size));
  w.put(static_cast<std::uint32_t>(zip64_end ? max32 : directory_offset));
  w.put(std::uint16_t{0});  // comment length
  if (!w.complete()) return io_status::failure("zip writer: internal size mismatch (a bug)");
  out = std::move(bytes);
  return {};
}

}  // namespace nde::io::detail
