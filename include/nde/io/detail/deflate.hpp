/// \file
/// \brief Not API. Raw deflate (RFC 1951, zip method 8) through zlib, compiled only when
/// `NDE_HAVE_ZLIB` is defined to 1 (CMake: option `NDE_WITH_ZLIB`; the `nde` target then links
/// `ZLIB::ZLIB`). Without it, `have_zlib` is false and nothing here needs zlib.
///
/// Inflation is bounded: the caller passes the uncompressed size its zip headers declare, the
/// output buffer is allocated once at exactly that size, and a stream that would produce more
/// (a zip bomb lying about its size), fewer bytes, or that leaves input unused is reported as a
/// failure; the data are never inflated past the declared size. Inputs and outputs larger than
/// zlib's 32-bit counters are fed in chunks.
#pragma once

#include "nde/io/common.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#if defined(NDE_HAVE_ZLIB) && NDE_HAVE_ZLIB
#include <zlib.h>
#define NDE_IO_ZLIB 1
#else
#define NDE_IO_ZLIB 0
#endif

namespace nde::io::detail {

/// True when this translation unit was compiled with zlib (`NDE_HAVE_ZLIB=1`).
inline constexpr bool have_zlib = NDE_IO_ZLIB != 0;

/// The most a deflate stream can expand: 258 bytes per 2 bits of the densest stream is a
/// ratio just under 1032:1 (zlib's FAQ). Declared sizes beyond it are impossible, so they are
/// refused before anything is allocated.
inline constexpr std::uint64_t deflate_max_ratio = 1032;

#if NDE_IO_ZLIB

/// zlib's counters are 32-bit: feed and drain at most this much per call.
inline constexpr std::size_t zlib_step = std::size_t{1} << 30;

/// Inflates the raw deflate stream `in` into `out`, which must come out exactly `size` bytes.
/// `label` names the member in messages.
inline io_status inflate_raw(std::span<const std::uint8_t> in, std::uint64_t size,
                             const std::string& label, std::vector<std::uint8_t>& out) {
  const auto fail = [&](const std::string& what) {
    return io_status::failure("corrupted zip: " + label + ": " + what);
  };
  if (size > std::numeric_limits<std::size_t>::max())
    return io_status::failure(label + " is too large to be inflated here (" + std::to_string(size) +
                              " bytes)");
  if (size > deflate_max_ratio * (in.size() + 1))
    return fail("its header declares " + std::to_string(size) + " bytes from " +
                std::to_string(in.size()) + " compressed bytes, more than deflate can expand to");
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(size));
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK)
    return io_status::failure("zlib: inflateInit2 failed for " + label);
  struct end_guard {
    z_stream* s;
    ~end_guard() { inflateEnd(s); }
  } guard{&stream};
  std::size_t fed = 0, given = 0;  // input handed to zlib, output room handed to zlib
  std::uint8_t spill = 0;          // one byte past the declared size, to catch longer streams
  bool spilling = false;
  while (true) {
    if (stream.avail_in == 0 && fed < in.size()) {
      const std::size_t n = std::min(zlib_step, in.size() - fed);
      stream.next_in = const_cast<Bytef*>(in.data() + fed);  // zlib does not write through it
      stream.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    if (stream.avail_out == 0) {
      if (given < buffer.size()) {
        const std::size_t n = std::min(zlib_step, buffer.size() - given);
        stream.next_out = buffer.data() + given;
        stream.avail_out = static_cast<uInt>(n);
        given += n;
      } else {
        stream.next_out = &spill;
        stream.avail_out = 1;
        spilling = true;
      }
    }
    const int result = inflate(&stream, Z_NO_FLUSH);
    if (spilling && stream.avail_out == 0)
      return fail("it inflates to more than the " + std::to_string(size) +
                  " bytes its zip header declares");
    if (result == Z_STREAM_END) break;
    if (result == Z_BUF_ERROR && stream.avail_in == 0 && fed == in.size())
      return fail("the deflate stream is truncated");
    if (result != Z_OK)
      return fail(std::string("bad deflate data (zlib: ") +
                  (stream.msg != nullptr ? stream.msg : "error " + std::to_string(result)) + ")");
  }
  const std::size_t produced = spilling ? buffer.size() : given - stream.avail_out;
  if (produced != buffer.size())
    return fail("it inflates to " + std::to_string(produced) + " bytes, its zip header declares " +
                std::to_string(size));
  if (fed - stream.avail_in != in.size())
    return fail(std::to_string(in.size() - (fed - stream.avail_in)) +
                " bytes follow the end of the deflate stream");
  out = std::move(buffer);
  return {};
}

/// Compresses `in` into the raw deflate stream `out` at zlib `level` (0..9, or -1 for zlib's
/// default, 6).
inline io_status deflate_raw(std::span<const std::uint8_t> in, int level,
                             std::vector<std::uint8_t>& out) {
  if (level < -1 || level > 9)
    return io_status::failure("compression level " + std::to_string(level) + " is not in -1..9");
  z_stream stream{};
  if (deflateInit2(&stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return io_status::failure("zlib: deflateInit2 failed");
  struct end_guard {
    z_stream* s;
    ~end_guard() { deflateEnd(s); }
  } guard{&stream};
  std::vector<std::uint8_t> buffer;
  const auto bound = in.size() <= zlib_step ? deflateBound(&stream, static_cast<uLong>(in.size()))
                                            : uLong{zlib_step};
  buffer.resize(static_cast<std::size_t>(bound) + 64);
  std::size_t fed = 0, given = 0;
  while (true) {
    if (stream.avail_in == 0 && fed < in.size()) {
      const std::size_t n = std::min(zlib_step, in.size() - fed);
      stream.next_in = const_cast<Bytef*>(in.data() + fed);  // zlib does not write through it
      stream.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    if (stream.avail_out == 0) {
      if (given == buffer.size())
        buffer.resize(buffer.size() + std::max<std::size_t>(buffer.size() / 4, 1U << 16));
      const std::size_t n = std::min(zlib_step, buffer.size() - given);
      stream.next_out = buffer.data() + given;
      stream.avail_out = static_cast<uInt>(n);
      given += n;
    }
    const bool last = fed == in.size() && stream.avail_in == 0;
    const int result = deflate(&stream, last ? Z_FINISH : Z_NO_FLUSH);
    if (result == Z_STREAM_END) break;
    if (result != Z_OK && result != Z_BUF_ERROR)
      return io_status::failure("zlib: deflate failed (error " + std::to_string(result) + ")");
  }
  buffer.resize(given - stream.avail_out);
  out = std::move(buffer);
  return {};
}

#endif

}  // namespace nde::io::detail
