/// \file
/// \brief Not API. Bounds-checked little-endian reading and writing of byte buffers,
/// and CRC-32 (ISO-HDLC, the polynomial of zlib, PNG and ZIP: reflected 0xEDB88320,
/// initial value and final XOR 0xFFFFFFFF; check value of "123456789" is 0xCBF43926).
#pragma once

#include "nde/core/checked.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace nde::io::detail {

/// Reads fixed-width little-endian integers; every read checks the remaining length
/// first and reports failure instead of reading past the end.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> bytes, std::size_t position = 0) noexcept
      : m_bytes(bytes), m_position(position <= bytes.size() ? position : bytes.size()) {}

  [[nodiscard]] std::size_t position() const noexcept { return m_position; }
  [[nodiscard]] std::size_t remaining() const noexcept { return m_bytes.size() - m_position; }
  [[nodiscard]] std::size_t size() const noexcept { return m_bytes.size(); }

  template <class Unsigned>
  [[nodiscard]] bool read(Unsigned& value) noexcept {
    static_assert(std::is_unsigned_v<Unsigned>);
    if (remaining() < sizeof(Unsigned)) return false;
    value = load<Unsigned>(m_bytes.data() + m_position);
    m_position += sizeof(Unsigned);
    return true;
  }

  [[nodiscard]] bool read_bytes(std::size_t count, std::span<const std::uint8_t>& out) noexcept {
    if (remaining() < count) return false;
    out = m_bytes.subspan(m_position, count);
    m_position += count;
    return true;
  }

  [[nodiscard]] bool skip(std::size_t count) noexcept {
    if (remaining() < count) return false;
    m_position += count;
    return true;
  }

  template <class Unsigned>
  static Unsigned load(const std::uint8_t* data) noexcept {
    Unsigned value = 0;
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
      value |= static_cast<Unsigned>(Unsigned(data[i]) << (8 * i));
    return value;
  }

 private:
  std::span<const std::uint8_t> m_bytes;
  std::size_t m_position;
};

template <class Unsigned>
void put_le(std::vector<std::uint8_t>& out, Unsigned value) {
  static_assert(std::is_unsigned_v<Unsigned>);
  for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
    out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

/// Fills a buffer whose size was computed in advance: little-endian integers and raw bytes
/// are stored in place (no `insert`/`push_back`, so the buffer never reallocates, and GCC 12's
/// `-Wstringop-overflow` false positives on growing vectors cannot fire). A write that does
/// not fit is dropped and remembered: `complete()` is true only if every write fit and the
/// buffer is exactly full.
class byte_writer {
 public:
  explicit byte_writer(std::span<std::uint8_t> bytes) noexcept : m_bytes(bytes) {}

  template <class Unsigned>
  void put(Unsigned value) noexcept {
    static_assert(std::is_unsigned_v<Unsigned>);
    if (!room(sizeof(Unsigned))) return;
    for (std::size_t i = 0; i < sizeof(Unsigned); ++i)
      m_bytes[m_position + i] = static_cast<std::uint8_t>(value >> (8 * i));
    m_position += sizeof(Unsigned);
  }

  void put_bytes(std::span<const std::uint8_t> data) noexcept {
    if (data.empty() || !room(data.size())) return;
    std::memcpy(m_bytes.data() + m_position, data.data(), data.size());
    m_position += data.size();
  }

  void put_text(std::string_view text) noexcept {
    put_bytes({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
  }

  [[nodiscard]] std::size_t position() const noexcept { return m_position; }
  [[nodiscard]] bool complete() const noexcept {
    return !m_overflow && m_position == m_bytes.size();
  }

 private:
  bool room(std::size_t count) noexcept {
    if (m_overflow || m_bytes.size() - m_position < count) return !(m_overflow = true);
    return true;
  }

  std::span<std::uint8_t> m_bytes;
  std::size_t m_position = 0;
  bool m_overflow = false;
};

/// Bit pattern of a float/double as the unsigned integer of the same width.
template <class Scalar>
using bits_of = std::conditional_t<sizeof(Scalar) == 4, std::uint32_t, std::uint64_t>;

/// Decodes one IEEE scalar from `sizeof(Stored)` bytes, bit-exactly (NaN payloads kept).
template <class Stored>
Stored load_scalar(const std::uint8_t* data, bool big_endian) noexcept {
  using bits = bits_of<Stored>;
  bits value = 0;
  for (std::size_t i = 0; i < sizeof(bits); ++i) {
    const std::size_t shift = 8 * (big_endian ? sizeof(bits) - 1 - i : i);
    value |= static_cast<bits>(bits(data[i]) << shift);
  }
  return std::bit_cast<Stored>(value);
}

inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}();

/// CRC-32 of `bytes`, continuing from `previous` (0 for a fresh checksum).
inline std::uint32_t crc32(std::span<const std::uint8_t> bytes,
                           std::uint32_t previous = 0) noexcept {
  std::uint32_t c = previous ^ 0xFFFFFFFFU;
  for (const std::uint8_t b : bytes) c = crc32_table[(c ^ b) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

/// a * b if it does not exceed `limit`, else false (never overflows).
inline bool checked_multiply(std::uint64_t a, std::uint64_t b, std::uint64_t limit,
                             std::uint64_t& result) noexcept {
  if (a != 0 && b > limit / a) return false;
  result = a * b;
  return result <= limit;
}

inline std::string shape_string(const std::vector<std::int64_t>& shape) {
  return nde::shape_to_string(shape);
}

inline std::string hex32(std::uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08X", static_cast<unsigned>(value));
  return text;
}

}  // namespace nde::io::detail
