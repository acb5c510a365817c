// Hostile inputs to the file layer (issue 17): layouts that do not fit the vector, huge sparse
// files that are not what they claim, crashed saves' temporaries, names at the file-system limit,
// and save paths that are empty, missing, read-only or symbolic links.
#include <nde/io/npz.hpp>
#include <nde/io/parameter_file.hpp>

#include <catch.hpp>

#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

using bytes = std::vector<std::uint8_t>;

struct scratch_directory {
  fs::path path;
  explicit scratch_directory(const std::string& tag) {
    path = fs::temp_directory_path() / ("nde_untrusted_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_directory() {
    std::error_code ignored;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ignored);
    fs::remove_all(path, ignored);
  }
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(path)) out.push_back(entry.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
};

void append(bytes& out, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

void write_bytes(const fs::path& file, const bytes& data) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

bytes make_npy(const std::string& dict, const bytes& data) {
  bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  append(out, header.size(), 2);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

bytes doubles(const std::vector<double>& values) {
  bytes out(values.size() * 8);
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// A STORED zip of the given members (no ZIP64), as Python's zipfile writes small archives.
bytes make_zip(const std::vector<std::pair<std::string, bytes>>& members) {
  bytes out, directory;
  for (const auto& [name, data] : members) {
    const std::uint32_t crc = nde::io::detail::crc32(data);
    const auto local = out.size();
    append(out, 0x04034b50, 4);
    append(out, 20, 2);
    append(out, 0, 2);
    append(out, 0, 2);
    append(out, 0, 4);
    append(out, crc, 4);
    append(out, data.size(), 4);
    append(out, data.size(), 4);
    append(out, name.size(), 2);
    append(out, 0, 2);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), data.begin(), data.end());
    append(directory, 0x02014b50, 4);
    append(directory, 20, 2);
    append(directory, 20, 2);
    append(directory, 0, 2);
    append(directory, 0, 2);
    append(directory, 0, 4);
    append(directory, crc, 4);
    append(directory, data.size(), 4);
    append(directory, data.size(), 4);
    append(directory, name.size(), 2);
    append(directory, 0, 2);
    append(directory, 0, 2);
    append(directory, 0, 2);
    append(directory, 0, 2);
    append(directory, 0, 4);
    append(directory, local, 4);
    directory.insert(directory.end(), name.begin(), name.end());
  }
  const auto directory_offset = out.size();
  out.insert(out.end(), directory.begin(), directory.end());
  append(out, 0x06054b50, 4);
  append(out, 0, 2);
  append(out, 0, 2);
  append(out, members.size(), 2);
  append(out, members.size(), 2);
  append(out, directory.size(), 4);
  append(out, directory_offset, 4);
  append(out, 0, 2);
  return out;
}

// Writes `prefix` and extends the file to 1 TiB without allocating disk blocks. False if the
// file system refuses (then the caller skips).
bool make_sparse_tebibyte(const fs::path& file, const bytes& prefix) {
  write_bytes(file, prefix);
  std::error_code code;
  fs::resize_file(file, std::uintmax_t{1} << 40, code);
  if (code) {
    WARN("skipped: the file system refuses a 1 TiB sparse file (" << code.message() << ")");
    return false;
  }
  return true;
}

pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;  // reaped: no process has this id now (it is not reused this quickly)
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("npz into a layout whose offset + size overflows is rejected, nothing written",
          "[io][npz][untrusted]") {
  const auto weight = make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                               doubles({1, 2, 3, 4, 5, 6}));
  const auto archive = make_zip({{"w.npy", weight}});
  Eigen::VectorXd values = Eigen::VectorXd::Constant(8, -7);
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max() - 2;
  const nde::parameter_layout overflowing = {{"w", {2, 3}, huge}};
  const auto result = nde::io::decode_npz_into(archive, overflowing, values);
  CHECK_FALSE(result.ok());
  CHECK_THAT(result.message, Catch::Contains("'w'") && Catch::Contains("does not fit"));
  CHECK((values.array() == -7).all());

  // A shape whose product wraps to 0 in 64 bits ({2^32, 2^32}) is not an empty block.
  const nde::parameter_layout wrapping = {{"w", {std::int64_t{1} << 32, std::int64_t{1} << 32}, 0}};
  const auto wrapped = nde::io::decode_npz_into(archive, wrapping, values);
  CHECK_FALSE(wrapped.ok());
  CHECK_THAT(wrapped.message, Catch::Contains("'w'"));
  const nde::parameter_layout negative = {{"w", {-2, 3}, 0}};
  CHECK_THAT(nde::io::decode_npz_into(archive, negative, values).message,
             Catch::Contains("negative"));
  CHECK((values.array() == -7).all());
}

TEST_CASE("a 1 TiB sparse file that is not a valid file is rejected from its header",
          "[io][untrusted][sparse]") {
  scratch_directory dir("sparse");
  SECTION("parameter file: zeros") {
    const auto file = dir.path / "zeros.ndep";
    if (!make_sparse_tebibyte(file, {})) return;
    nde::io::parameter_set<double> out;
    nde::io::io_status result;
    CHECK_NOTHROW(result = nde::io::read_parameters(file, out));
    CHECK_THAT(result.message, Catch::StartsWith("bad magic"));
    Eigen::VectorXd values(3);
    CHECK_NOTHROW(result = nde::io::read_parameters(file, {{"w", {3}, 0}}, values));
    CHECK_THAT(result.message, Catch::StartsWith("bad magic"));
  }
  SECTION("parameter file: a valid header for 3 scalars, then 1 TiB") {
    const auto file = dir.path / "long.ndep";
    const Eigen::Vector3d v(1, 2, 3);
    if (!make_sparse_tebibyte(file, nde::io::encode_parameters({{"w", {3}, 0}}, v))) return;
    nde::io::parameter_set<double> out;
    nde::io::io_status result;
    CHECK_NOTHROW(result = nde::io::read_parameters(file, out));
    CHECK_FALSE(result.ok());
    CHECK_THAT(result.message, Catch::Contains("1099511627776 bytes"));
  }
  SECTION(".npy: a valid header for 2 doubles, then 1 TiB") {
    const auto file = dir.path / "long.npy";
    const auto npy =
        make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", doubles({1, 2}));
    if (!make_sparse_tebibyte(file, npy)) return;
    nde::io::npy_array<double> out;
    nde::io::io_status result;
    CHECK_NOTHROW(result = nde::io::read_npy(file, out));
    CHECK_THAT(result.message, Catch::StartsWith("data length mismatch"));
  }
  SECTION(".npy and .npz: zeros") {
    const auto file = dir.path / "zeros.npz";
    if (!make_sparse_tebibyte(file, {})) return;
    nde::io::npy_array<double> array;
    nde::io::npz_arrays<double> arrays;
    nde::io::io_status result;
    CHECK_NOTHROW(result = nde::io::read_npy(file, array));
    CHECK_THAT(result.message, Catch::StartsWith("bad magic"));
    CHECK_NOTHROW(result = nde::io::read_npz(file, arrays));
    CHECK_THAT(result.message, Catch::StartsWith("not a zip archive"));
    Eigen::VectorXd values(3);
    CHECK_NOTHROW(result = nde::io::read_npz_into(file, {{"w", {3}, 0}}, values));
    CHECK_THAT(result.message, Catch::StartsWith("not a zip archive"));
  }
}

TEST_CASE("a save removes the temporaries that dead writers left for the same target",
          "[io][atomic][untrusted]") {
  scratch_directory dir("stale");
  const auto file = dir.path / "params.ndep";
  const Eigen::Vector3d v(1, 2, 3);
  const nde::parameter_layout layout = {{"w", {3}, 0}};
  // A writer killed mid-write.
  const auto big = nde::io::encode_parameters({{"w", {40000}, 0}}, Eigen::VectorXd::Zero(40000));
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    nde::io::detail::atomic_write_file(file, big, [](std::size_t written) {
      if (written >= 65536) ::_exit(42);
    });
    ::_exit(0);
  }
  int wait_status = 0;
  REQUIRE(::waitpid(child, &wait_status, 0) == child);
  REQUIRE(WEXITSTATUS(wait_status) == 42);
  REQUIRE(dir.names().size() == 1);  // only the crashed writer's temporary
  const std::string crashed = dir.names()[0];
  CHECK(crashed.rfind(".params.ndep.tmp-" + std::to_string(child) + "-", 0) == 0);

  // Another dead writer's temporary, a live writer's (locked) one, and one of another target.
  const std::string dead = ".params.ndep.tmp-" + std::to_string(dead_pid()) + "-3";
  const std::string locked = ".params.ndep.tmp-" + std::to_string(dead_pid()) + "-0";
  const std::string mine = ".params.ndep.tmp-" + std::to_string(::getpid()) + "-7";
  const std::string other = ".other.ndep.tmp-" + std::to_string(dead_pid()) + "-0";
  for (const auto& name : {dead, locked, mine, other}) write_bytes(dir.path / name, {1, 2, 3});
  // A writer in another pid namespace would look dead by its pid but holds the lock.
  const int lock_fd = ::open((dir.path / locked).c_str(), O_RDONLY);
  REQUIRE(lock_fd >= 0);
  REQUIRE(::flock(lock_fd, LOCK_EX) == 0);

  nde::io::save_parameters(file, layout, v);
  ::close(lock_fd);
  std::vector<std::string> expected = {locked, mine, other, "params.ndep"};
  std::sort(expected.begin(), expected.end());
  CHECK(dir.names() == expected);
  CHECK(nde::io::load_parameters<double>(file).values == v);
}

TEST_CASE("a file name at the file-system limit can be saved", "[io][atomic][untrusted]") {
  scratch_directory dir("long_name");
  const Eigen::Vector3d v(1, 2, 3);
  for (const std::size_t length : {200, 236, 254, 255}) {
    INFO("name length " << length);
    const auto file = dir.path / (std::string(length - 5, 'n') + ".ndep");
    REQUIRE(file.filename().string().size() == length);
    nde::io::save_parameters(file, {{"w", {3}, 0}}, v);
    CHECK(nde::io::load_parameters<double>(file).values == v);
    CHECK(fs::remove(file));
    CHECK(dir.names().empty());
  }
  // The shortened temporary names of two long names that share a prefix differ.
  const std::string stem(240, 'p');
  nde::io::save_parameters(dir.path / (stem + "1.ndep"), {{"w", {3}, 0}}, v);
  nde::io::save_parameters(dir.path / (stem + "2.ndep"), {{"w", {3}, 0}}, v);
  CHECK(dir.names().size() == 2);
}

TEST_CASE("save errors name the user's path and the real cause", "[io][atomic][untrusted]") {
  scratch_directory dir("messages");
  const Eigen::Vector3d v(1, 2, 3);
  const nde::parameter_layout layout = {{"w", {3}, 0}};
  const auto message_of = [&](const fs::path& target) -> std::string {
    try {
      nde::io::save_parameters(target, layout, v);
    } catch (const nde::error& e) {
      return e.what();
    }
    return "no error";
  };
  SECTION("empty path") {
    const auto message = message_of("");
    CHECK(contains(message, "path is empty"));
    CHECK_FALSE(contains(message, ".tmp-"));
  }
  SECTION("missing directory") {
    const auto target = dir.path / "absent" / "p.ndep";
    const auto message = message_of(target);
    CHECK(contains(message, target.string()));
    CHECK(contains(message, "directory '" + (dir.path / "absent").string() + "' does not exist"));
    CHECK_FALSE(contains(message, ".tmp-"));
  }
  SECTION("the directory is a file") {
    write_bytes(dir.path / "plain", {1});
    const auto message = message_of(dir.path / "plain" / "p.ndep");
    CHECK(contains(message, "'" + (dir.path / "plain").string() + "' is not a directory"));
  }
  SECTION("the target is a directory") {
    fs::create_directory(dir.path / "sub");
    const auto message = message_of(dir.path / "sub");
    CHECK(contains(message, "'" + (dir.path / "sub").string() + "' is a directory"));
    CHECK_FALSE(contains(message, ".tmp-"));
    CHECK(dir.names() == std::vector<std::string>{"sub"});
  }
  SECTION("read-only directory") {
    const auto locked = dir.path / "locked";
    fs::create_directory(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    if (::access(locked.c_str(), W_OK) == 0) {
      WARN("skipped: running with privileges that ignore directory permissions");
      return;
    }
    const auto message = message_of(locked / "p.ndep");
    CHECK(contains(message, (locked / "p.ndep").string()));
    CHECK(contains(message, "directory '" + locked.string() + "' is not writable"));
    CHECK_FALSE(contains(message, ".tmp-"));
  }
}

TEST_CASE("a save through a symbolic link replaces the link's target, the link survives",
          "[io][atomic][untrusted]") {
  scratch_directory dir("symlink");
  fs::create_directory(dir.path / "real");
  const auto target = dir.path / "real" / "p.ndep";
  const auto link = dir.path / "link.ndep";
  const Eigen::Vector3d old_values(1, 2, 3), new_values(4, 5, 6);
  nde::io::save_parameters(target, {{"w", {3}, 0}}, old_values);
  fs::create_symlink(fs::path("real") / "p.ndep", link);  // relative, resolved from the link
  const auto chain = dir.path / "chain.ndep";
  fs::create_symlink(link, chain);  // a link to a link

  nde::io::save_parameters(chain, {{"w", {3}, 0}}, new_values);
  CHECK(fs::is_symlink(chain));
  CHECK(fs::is_symlink(link));
  CHECK(nde::io::load_parameters<double>(target).values == new_values);
  CHECK(fs::directory_iterator(dir.path / "real")->path().filename() == "p.ndep");

  // A dangling link creates its target.
  const auto dangling = dir.path / "dangling.ndep";
  fs::create_symlink(dir.path / "real" / "new.ndep", dangling);
  nde::io::save_parameters(dangling, {{"w", {3}, 0}}, old_values);
  CHECK(fs::is_symlink(dangling));
  CHECK(nde::io::load_parameters<double>(dir.path / "real" / "new.ndep").values == old_values);

  // A link into a missing directory names that directory.
  const auto broken = dir.path / "broken.ndep";
  fs::create_symlink(dir.path / "gone" / "x.ndep", broken);
  try {
    nde::io::save_parameters(broken, {{"w", {3}, 0}}, old_values);
    FAIL("no error");
  } catch (const nde::error& e) {
    CHECK(contains(e.what(), broken.string()));
    CHECK(contains(e.what(), "directory '" + (dir.path / "gone").string() + "' does not exist"));
  }
  // A cycle of links is an error, not a hang.
  fs::create_symlink(dir.path / "b", dir.path / "a");
  fs::create_symlink(dir.path / "a", dir.path / "b");
  CHECK_THROWS_AS(nde::io::save_parameters(dir.path / "a", {{"w", {3}, 0}}, old_values),
                  nde::error);
}
