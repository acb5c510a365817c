/// \file
/// \brief Not API. Whole-file reads and atomic replacement of a file.
///
/// Atomic replacement (POSIX): write a uniquely named temporary file in the target's
/// directory (same file system, so `rename` is atomic), `fsync` it, `rename` it over
/// the target (POSIX guarantees readers see either the old or the new file, never a
/// mix), then `fsync` the directory so the rename itself survives a power cut. A
/// crash at any point before the rename leaves the old file untouched (and at worst
/// an orphaned `.<name>.tmp-*` file beside it). Without `<unistd.h>` a plain
/// `std::ofstream` + `std::filesystem::rename` fallback is used (no fsync).
#pragma once

#include "nde/core/status.hpp"
#include "nde/io/common.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#if __has_include(<unistd.h>) && __has_include(<fcntl.h>)
#include <fcntl.h>
#include <unistd.h>
#define NDE_IO_HAVE_POSIX 1
#else
#define NDE_IO_HAVE_POSIX 0
#endif

namespace nde::io::detail {

/// Reads a whole file into `out`; the only allocation is the file's actual size.
inline io_status read_file(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
  std::error_code code;
  if (!std::filesystem::is_regular_file(path, code))
    return io_status::failure("'" + path.string() + "' does not exist or is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_status::failure("cannot open '" + path.string() + "' for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return io_status::failure("cannot determine the size of '" + path.string() + "'");
  in.seekg(0, std::ios::beg);
  out.resize(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size)))
    return io_status::failure("read error on '" + path.string() + "'");
  return {};
}

/// Called after every chunk written to the temporary file, with the bytes written so
/// far; lets tests inject a crash (throw, or `_exit`) in the middle of a write.
struct no_fault {
  void operator()(std::size_t /*bytes_written*/) const noexcept {}
};

[[noreturn]] inline void throw_io(const std::string& what, int error_number) {
  throw error(status::invalid_input, what + ": " + std::generic_category().message(error_number));
}

/// Replaces `path` by `bytes` atomically; throws `nde::error` on failure, leaving the
/// old file (if any) as it was and removing the temporary file.
template <class Fault = no_fault>
void atomic_write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                       Fault&& fault = {}) {
  constexpr std::size_t chunk = std::size_t{1} << 16;
  const std::filesystem::path directory =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
#if NDE_IO_HAVE_POSIX
  std::filesystem::path temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary = directory / ("." + path.filename().string() + ".tmp-" + std::to_string(::getpid()) +
                             "-" + std::to_string(attempt));
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST)
      throw_io("cannot create temporary file '" + temporary.string() + "'", errno);
  }
  if (fd < 0)
    throw error(status::invalid_input,
                "cannot create a temporary file next to '" + path.string() + "'");
  try {
    std::size_t written = 0;
    while (written < bytes.size()) {
      const std::size_t want = std::min(chunk, bytes.size() - written);
      const ::ssize_t n = ::write(fd, bytes.data() + written, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_io("write to '" + temporary.string() + "' failed", errno);
      }
      written += static_cast<std::size_t>(n);
      fault(written);
    }
    if (::fsync(fd) != 0) throw_io("fsync of '" + temporary.string() + "' failed", errno);
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) throw_io("close of '" + temporary.string() + "' failed", errno);
    if (::rename(temporary.c_str(), path.c_str()) != 0)
      throw_io("cannot rename '" + temporary.string() + "' to '" + path.string() + "'", errno);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  // Make the rename durable; some file systems refuse fsync on a directory, which
  // does not undo the (already atomic) replacement, so errors are ignored here.
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    (void)::fsync(directory_fd);
    ::close(directory_fd);
  }
#else
  const std::filesystem::path temporary = directory / ("." + path.filename().string() + ".tmp");
  try {
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      if (!out)
        throw error(status::invalid_input,
                    "cannot create temporary file '" + temporary.string() + "'");
      std::size_t written = 0;
      while (written < bytes.size()) {
        const std::size_t want = std::min(chunk, bytes.size() - written);
        out.write(reinterpret_cast<const char*>(bytes.data() + written),
                  static_cast<std::streamsize>(want));
        if (!out)
          throw error(status::invalid_input, "write to '" + temporary.string() + "' failed");
        written += want;
        fault(written);
      }
      out.flush();
      if (!out) throw error(status::invalid_input, "write to '" + temporary.string() + "' failed");
    }
    std::error_code code;
    std::filesystem::rename(temporary, path, code);
    if (code)
      throw error(status::invalid_input,
                  "cannot rename '" + temporary.string() + "': " + code.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
#endif
}

}  // namespace nde::io::detail
