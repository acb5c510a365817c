/// \file
/// \brief Not API. Whole-file reads and atomic replacement of a file.
///
/// Atomic replacement (POSIX): write a uniquely named temporary file in the target's
/// directory (same file system, so `rename` is atomic), `fsync` it, `rename` it over
/// the target (POSIX guarantees readers see either the old or the new file, never a
/// mix), then `fsync` the directory so the rename itself survives a power cut. A
/// crash at any point before the rename leaves the old file untouched (and at worst
/// an orphaned temporary file beside it, removed by the next save of the same target).
/// Without `<unistd.h>` a plain `std::ofstream` + `std::filesystem::rename` fallback is
/// used (no fsync, no locking, no clean-up of stale temporaries).
///
/// ## Rules of a save (`atomic_write_file`)
///
/// - **Symbolic links are followed**: when the path (its last component) is a symbolic link,
///   the chain is resolved (at most 40 links; relative links from the link's directory) and
///   the link's final target is replaced; the temporary file is created beside that target,
///   so the link itself survives. A dangling link creates its target.
/// - **Messages** name the user's path and the cause: `"cannot save 'p': the path is empty"`,
///   `"... directory 'd' does not exist"`, `"... 'd' is not a directory"`, `"... 'p' is a
///   directory"`, `"... directory 'd' is not writable (Permission denied)"`; they never name
///   the temporary file.
/// - **Temporary names**: `.<name>.tmp-<pid>-<n>` (n < 100 per process and target). When that
///   could exceed the directory's name limit (`pathconf(_PC_NAME_MAX)`, else 255 bytes),
///   `<name>` is replaced by its first bytes (cut at a UTF-8 character boundary), `~` and 16
///   hex digits of its 64-bit FNV-1a hash, so every legal target name can be saved.
/// - **Stale temporaries**: before writing, a save removes the temporaries of the **same
///   target** left by crashed writers. A writer holds an exclusive `flock` on its temporary
///   until the rename; a temporary is removed only if that lock can be taken **and** either
///   its pid names no live process (`kill(pid, 0)` fails with `ESRCH`) or it was last
///   modified more than 60 s ago (a pid reused by an unrelated process). A concurrent writer
///   of the same target, in this or any other process, therefore keeps its file (it holds the
///   lock). The only loss is a writer in another pid namespace sharing the directory, caught
///   in the microseconds between creating its file and locking it: its rename then fails and
///   its save throws; the target is never damaged. Temporaries of other targets and files
///   whose names do not match the pattern exactly are never touched. Cost: one scan of the
///   directory per save.
#pragma once

#include "nde/core/status.hpp"
#include "nde/io/common.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#if __has_include(<unistd.h>) && __has_include(<fcntl.h>)
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#define NDE_IO_HAVE_POSIX 1
#else
#define NDE_IO_HAVE_POSIX 0
#endif

namespace nde::io::detail {

/// Files at most this large are read whole at once; larger ones are validated from their
/// header (and their size) first, so a hostile file cannot make a reader allocate more than
/// what a valid file of that header would need.
inline constexpr std::uint64_t small_file_bytes = std::uint64_t{1} << 20;

/// Runs a reader and turns any exception (above all `std::bad_alloc`) into a failure status,
/// so that the non-throwing readers never throw.
template <class Read>
io_status without_exceptions(Read&& read) noexcept {
  try {
    try {
      return read();
    } catch (const std::bad_alloc&) {
      return io_status::failure("out of memory: the input is too large to be read here");
    } catch (const std::exception& e) {
      return io_status::failure(std::string("unexpected error: ") + e.what());
    }
  } catch (...) {
    return io_status{status::invalid_input, {}};  // could not even build the message
  }
}

/// Opens a regular file for reading and reports its size.
inline io_status open_for_reading(const std::filesystem::path& path, std::ifstream& in,
                                  std::uint64_t& size) {
  std::error_code code;
  if (!std::filesystem::is_regular_file(path, code))
    return io_status::failure("'" + path.string() + "' does not exist or is not a regular file");
  in.open(path, std::ios::binary);
  if (!in) return io_status::failure("cannot open '" + path.string() + "' for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end < 0) return io_status::failure("cannot determine the size of '" + path.string() + "'");
  size = static_cast<std::uint64_t>(end);
  return {};
}

/// Reads `count` bytes at `offset` of a file of `size` bytes into `out` (resized to `count`;
/// the caller bounds `count`).
inline io_status read_range(std::ifstream& in, const std::filesystem::path& path,
                            std::uint64_t offset, std::uint64_t count,
                            std::vector<std::uint8_t>& out) {
  if (count > std::numeric_limits<std::size_t>::max() ||
      count > static_cast<std::uint64_t>(std::numeric_limits<std::streamsize>::max()))
    return io_status::failure("'" + path.string() + "' is too large to be read here (" +
                              std::to_string(count) + " bytes)");
  out.resize(static_cast<std::size_t>(count));
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset), std::ios::beg);
  if (count > 0 &&
      !in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count)))
    return io_status::failure("read error on '" + path.string() + "'");
  return {};
}

/// Reads a whole file into `out`; the only allocation is the file's actual size (a failed
/// allocation is reported, not thrown).
inline io_status read_file(const std::filesystem::path& path, std::vector<std::uint8_t>& out) {
  return without_exceptions([&]() -> io_status {
    std::ifstream in;
    std::uint64_t size = 0;
    if (auto opened = open_for_reading(path, in, size); !opened) return opened;
    try {
      return read_range(in, path, 0, size, out);
    } catch (const std::bad_alloc&) {
      return io_status::failure("out of memory: cannot allocate " + std::to_string(size) +
                                " bytes to read '" + path.string() + "'");
    }
  });
}

/// Reads a file guarded by `check(head, tail, file_size)`, called with the first and the last
/// (at most) `window` bytes before the whole file is read, for files over `small_file_bytes`:
/// a failure from `check` is returned without reading (or allocating for) the rest.
template <class Check>
io_status read_file_checked(const std::filesystem::path& path, std::size_t window, Check&& check,
                            std::vector<std::uint8_t>& out) {
  return without_exceptions([&]() -> io_status {
    std::ifstream in;
    std::uint64_t size = 0;
    if (auto opened = open_for_reading(path, in, size); !opened) return opened;
    if (size > small_file_bytes) {
      std::vector<std::uint8_t> head, tail;
      const std::uint64_t part = std::min<std::uint64_t>(window, size);
      if (auto read = read_range(in, path, 0, part, head); !read) return read;
      if (auto read = read_range(in, path, size - part, part, tail); !read) return read;
      if (auto checked =
              check(std::span<const std::uint8_t>(head), std::span<const std::uint8_t>(tail), size);
          !checked)
        return checked;
    }
    try {
      return read_range(in, path, 0, size, out);
    } catch (const std::bad_alloc&) {
      return io_status::failure("out of memory: cannot allocate " + std::to_string(size) +
                                " bytes to read '" + path.string() + "'");
    }
  });
}

/// Called after every chunk written to the temporary file, with the bytes written so
/// far; lets tests inject a crash (throw, or `_exit`) in the middle of a write.
struct no_fault {
  void operator()(std::size_t /*bytes_written*/) const noexcept {}
};

[[noreturn]] inline void throw_save(const std::filesystem::path& user, const std::string& cause) {
  throw error(status::invalid_input, "cannot save '" + user.string() + "': " + cause);
}

/// Follows a chain of symbolic links in the last component of `user` (see the file comment).
inline std::filesystem::path resolve_save_target(const std::filesystem::path& user) {
  if (user.empty()) throw_save(user, "the path is empty");
  std::filesystem::path target = user;
  for (int links = 0;; ++links) {
    std::error_code code;
    if (!std::filesystem::is_symlink(std::filesystem::symlink_status(target, code))) break;
    if (links == 40) throw_save(user, "more than 40 symbolic links (a cycle?)");
    const std::filesystem::path next = std::filesystem::read_symlink(target, code);
    if (code)
      throw_save(user,
                 "cannot read the symbolic link '" + target.string() + "': " + code.message());
    target = next.is_absolute() ? next : target.parent_path() / next;
  }
  if (!target.has_filename() || target.filename() == "." || target.filename() == "..")
    throw_save(user, "the path names a directory, not a file");
  return target;
}

/// 64-bit FNV-1a hash (for shortened temporary names).
inline std::uint64_t fnv1a64(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash;
}

/// The part of a temporary's name that identifies its target: `.<name>.tmp-`, with `<name>`
/// shortened (prefix + `~` + hash) when `.<name>.tmp-<pid>-<n>` could exceed `name_max`.
inline std::string temporary_prefix(const std::string& name, std::size_t name_max) {
  constexpr std::size_t longest_suffix = 5 + 10 + 1 + 2;  // ".tmp-" pid "-" n
  if (1 + name.size() + longest_suffix <= name_max) return "." + name + ".tmp-";
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a64(name)));
  std::size_t keep = name_max > 1 + 1 + 16 + longest_suffix + 8
                         ? std::min(name.size(), name_max - (1 + 1 + 16 + longest_suffix))
                         : 8;
  while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0) == 0x80)
    --keep;  // do not cut a UTF-8 sequence
  return "." + name.substr(0, keep) + "~" + hash + ".tmp-";
}

/// If `entry` is `<prefix><digits>-<digits>`, the pid it names.
inline bool temporary_pid(std::string_view entry, std::string_view prefix, long long& pid) {
  if (entry.size() <= prefix.size() || entry.substr(0, prefix.size()) != prefix) return false;
  const std::string_view rest = entry.substr(prefix.size());
  const auto dash = rest.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash + 1 == rest.size() || dash > 10)
    return false;
  pid = 0;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (i == dash) continue;
    if (rest[i] < '0' || rest[i] > '9') return false;
    if (i < dash) pid = pid * 10 + (rest[i] - '0');
  }
  return pid > 0;
}

#if NDE_IO_HAVE_POSIX
/// Removes the stale temporaries of one target (the rule is in the file comment).
inline void remove_stale_temporaries(const std::filesystem::path& directory,
                                     const std::string& prefix) {
  std::error_code code;
  std::filesystem::directory_iterator entries(directory, code);
  if (code) return;
  const auto now = ::time(nullptr);
  for (const auto& entry : entries) {
    long long pid = 0;
    if (!temporary_pid(entry.path().filename().string(), prefix, pid)) continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) continue;
    struct ::stat info {};
    if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      const bool dead = pid != ::getpid() && pid <= std::numeric_limits<pid_t>::max() &&
                        ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      const bool old = now - info.st_mtime > 60;
      if (dead || old) (void)::unlink(entry.path().c_str());
    }
    ::close(fd);
  }
}

/// The cause of a failure to create a file in `directory`, for messages.
inline std::string creation_failure(const std::filesystem::path& directory, int error_number) {
  const std::string reason = std::generic_category().message(error_number);
  if (error_number == EACCES || error_number == EPERM || error_number == EROFS)
    return "directory '" + directory.string() + "' is not writable (" + reason + ")";
  if (error_number == ENOENT) return "directory '" + directory.string() + "' does not exist";
  if (error_number == ENAMETOOLONG)
    return "the name is too long for the file system (" + reason + ")";
  return "cannot create a file in directory '" + directory.string() + "': " + reason;
}
#endif

/// Replaces `path` by `bytes` atomically; throws `nde::error` on failure, leaving the
/// old file (if any) as it was and removing the temporary file. The rules (symbolic links,
/// messages, temporary names, stale temporaries) are in the file comment.
template <class Fault = no_fault>
void atomic_write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                       Fault&& fault = {}) {
  constexpr std::size_t chunk = std::size_t{1} << 16;
  const std::filesystem::path target = resolve_save_target(path);
  const std::filesystem::path directory =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string via =
      target == path ? std::string() : " (the symbolic link points to '" + target.string() + "')";
  {
    std::error_code code;
    const auto directory_status = std::filesystem::status(directory, code);
    if (directory_status.type() == std::filesystem::file_type::not_found)
      throw_save(path, "directory '" + directory.string() + "' does not exist" + via);
    if (code && !std::filesystem::exists(directory_status))
      throw_save(path, "cannot access directory '" + directory.string() + "': " + code.message());
    if (!std::filesystem::is_directory(directory_status))
      throw_save(path, "'" + directory.string() + "' is not a directory" + via);
    if (std::filesystem::is_directory(std::filesystem::status(target, code)))
      throw_save(path, "'" + target.string() + "' is a directory");
  }
#if NDE_IO_HAVE_POSIX
  if (::access(directory.c_str(), W_OK | X_OK) != 0 &&
      (errno == EACCES || errno == EROFS || errno == EPERM))
    throw_save(path, creation_failure(directory, errno) + via);
  const long limit = ::pathconf(directory.c_str(), _PC_NAME_MAX);
  const std::string prefix =
      temporary_prefix(target.filename().string(), limit > 0 ? std::size_t(limit) : 255);
  remove_stale_temporaries(directory, prefix);
  std::filesystem::path temporary;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary = directory / (prefix + std::to_string(::getpid()) + "-" + std::to_string(attempt));
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) throw_save(path, creation_failure(directory, errno) + via);
  }
  if (fd < 0)
    throw_save(path,
               "100 temporary files of this process already exist in '" + directory.string() + "'");
  // Held until the rename: tells remove_stale_temporaries in other saves this file is live.
  (void)::flock(fd, LOCK_EX | LOCK_NB);
  const auto fail = [&](const std::string& step, int error_number) {
    throw_save(path, step + " failed: " + std::generic_category().message(error_number));
  };
  try {
    std::size_t written = 0;
    while (written < bytes.size()) {
      const std::size_t want = std::min(chunk, bytes.size() - written);
      const ::ssize_t n = ::write(fd, bytes.data() + written, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail("writing " + std::to_string(bytes.size()) + " bytes", errno);
      }
      written += static_cast<std::size_t>(n);
      fault(written);
    }
    if (::fsync(fd) != 0) fail("fsync", errno);
    if (::rename(temporary.c_str(), target.c_str()) != 0)
      fail("replacing '" + target.string() + "'", errno);
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) fail("close", errno);
  } catch (...) {
    if (fd >= 0) {
      ::close(fd);
      ::unlink(temporary.c_str());
    }
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
  const std::filesystem::path temporary =
      directory / temporary_prefix(target.filename().string(), 255);
  try {
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      if (!out) throw_save(path, "cannot create a file in directory '" + directory.string() + "'");
      std::size_t written = 0;
      while (written < bytes.size()) {
        const std::size_t want = std::min(chunk, bytes.size() - written);
        out.write(reinterpret_cast<const char*>(bytes.data() + written),
                  static_cast<std::streamsize>(want));
        if (!out) throw_save(path, "write failed");
        written += want;
        fault(written);
      }
      out.flush();
      if (!out) throw_save(path, "write failed");
    }
    std::error_code code;
    std::filesystem::rename(temporary, target, code);
    if (code) throw_save(path, "replacing '" + target.string() + "' failed: " + code.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
#endif
}

}  // namespace nde::io::detail
