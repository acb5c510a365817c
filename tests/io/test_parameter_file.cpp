// Parameter files: byte layout as documented, bit-exact round trips, every truncation,
// every flipped byte, mismatched files, and atomic replacement under injected crashes.
#include <nde/io/parameter_file.hpp>

#include <catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using bytes = std::vector<std::uint8_t>;

template <class Scalar>
using bits_of = std::conditional_t<sizeof(Scalar) == 4, std::uint32_t, std::uint64_t>;

// A scratch directory per test case, removed afterwards.
struct scratch_directory {
  std::filesystem::path path;
  explicit scratch_directory(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("nde_io_test_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~scratch_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  [[nodiscard]] std::size_t file_count() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(path), {}));
  }
};

// Bitwise CRC-32 (reflected 0xEDB88320), written independently of the library's table.
std::uint32_t reference_crc32(const bytes& data, std::size_t length) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (std::size_t i = 0; i < length; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

void append(bytes& out, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

void fix_crc(bytes& file) {
  const auto crc = reference_crc32(file, file.size() - 4);
  for (int i = 0; i < 4; ++i) file[file.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
}

nde::parameter_layout small_layout() {
  return {{"layer0.weight", {3, 2}, 0}, {"layer0.bias", {3}, 6}, {"scale", {}, 9}};
}

template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> awkward_values() {
  using bits = std::conditional_t<sizeof(Scalar) == 4, std::uint32_t, std::uint64_t>;
  using limits = std::numeric_limits<Scalar>;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> v(10);
  const bits quiet_nan_payload =
      sizeof(Scalar) == 4 ? bits(0x7FC01234U) : bits(0x7FF8000000001234ULL);
  const bits negative_signalling_nan =
      sizeof(Scalar) == 4 ? bits(0xFFA00001U) : bits(0xFFF0000000000001ULL);
  v << Scalar(-0.0), limits::denorm_min(), -limits::denorm_min(), limits::infinity(),
      -limits::infinity(), std::bit_cast<Scalar>(quiet_nan_payload),
      std::bit_cast<Scalar>(negative_signalling_nan), limits::max(), Scalar(0.1), limits::min() / 2;
  return v;
}

template <class Scalar, class A, class B>
bool same_bits(const A& a, const B& b) {
  if (a.size() != b.size()) return false;
  return std::memcmp(a.data(), b.data(), sizeof(Scalar) * static_cast<std::size_t>(a.size())) == 0;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("the encoding follows the documented byte layout", "[io][parameter_file]") {
  // Hand-built from the table in parameter_file.hpp: one float block "w" of shape {2}.
  bytes expected = {0x89, 'N', 'D', 'E', 'P', 0x0D, 0x0A, 0x1A};
  append(expected, 1, 2);  // version
  append(expected, 1, 1);  // float32
  append(expected, 0, 1);  // reserved
  append(expected, 1, 4);  // one block
  append(expected, 2, 8);  // two scalars
  append(expected, 1, 2);  // name length
  expected.push_back('w');
  append(expected, 1, 1);           // rank
  append(expected, 2, 8);           // dimension
  append(expected, 0x3F800000, 4);  // 1.0f
  append(expected, 0xC0000000, 4);  // -2.0f
  append(expected, 0, 4);
  fix_crc(expected);

  Eigen::Vector2f v(1.0f, -2.0f);
  const auto encoded = nde::io::encode_parameters(nde::parameter_layout{{"w", {2}, 0}}, v);
  CHECK(encoded == expected);

  nde::io::parameter_set<float> decoded;
  REQUIRE(nde::io::decode_parameters(expected, decoded));
  CHECK(decoded.values == v);
  REQUIRE(decoded.layout.size() == 1);
  CHECK(decoded.layout[0].name == "w");
  CHECK(decoded.layout[0].shape == std::vector<std::int64_t>{2});
}

TEMPLATE_TEST_CASE("save/load round trip is bit-exact", "[io][parameter_file]", float, double) {
  scratch_directory dir("roundtrip");
  const auto layout = small_layout();
  const auto values = awkward_values<TestType>();
  const auto file = dir.path / "params.ndep";
  nde::io::save_parameters(file, layout, values);

  const auto loaded = nde::io::load_parameters<TestType>(file);
  CHECK(same_bits<TestType>(loaded.values, values));
  REQUIRE(loaded.layout.size() == layout.size());
  for (std::size_t b = 0; b < layout.size(); ++b) {
    CHECK(loaded.layout[b].name == layout[b].name);
    CHECK(loaded.layout[b].shape == layout[b].shape);
    CHECK(loaded.layout[b].offset == layout[b].offset);
  }

  // Into an expected layout whose blocks are in another order, in a fixed-size vector.
  const nde::parameter_layout reordered = {
      {"scale", {}, 0}, {"layer0.bias", {3}, 1}, {"layer0.weight", {3, 2}, 4}};
  Eigen::Matrix<TestType, 10, 1> target;
  target.setZero();
  nde::io::load_parameters(file, reordered, target);
  CHECK(std::bit_cast<bits_of<TestType>>(target[0]) == std::bit_cast<bits_of<TestType>>(values[9]));
  CHECK(same_bits<TestType>(target.segment(1, 3).eval(), values.segment(6, 3).eval()));
  CHECK(same_bits<TestType>(target.segment(4, 6).eval(), values.segment(0, 6).eval()));

  // Into a segment of a larger vector.
  Eigen::Matrix<TestType, Eigen::Dynamic, 1> big =
      Eigen::Matrix<TestType, Eigen::Dynamic, 1>::Constant(14, 7);
  nde::io::load_parameters(file, layout, big.segment(2, 10));
  CHECK(big[0] == 7);
  CHECK(big[13] == 7);
  CHECK(same_bits<TestType>(big.segment(2, 10).eval(), values));

  // Empty layout and an empty vector round-trip too.
  const auto empty_file = dir.path / "empty.ndep";
  nde::io::save_parameters(empty_file, {}, Eigen::Matrix<TestType, Eigen::Dynamic, 1>());
  CHECK(nde::io::load_parameters<TestType>(empty_file).values.size() == 0);
}

TEST_CASE("every truncation of a small file is reported as truncated", "[io][parameter_file]") {
  const auto file = nde::io::encode_parameters(small_layout(), awkward_values<double>());
  for (std::size_t length = 0; length < file.size(); ++length) {
    const std::span<const std::uint8_t> prefix(file.data(), length);
    nde::io::parameter_set<double> out;
    const auto result = nde::io::decode_parameters(prefix, out);
    INFO("length " << length << ": " << result.message);
    CHECK(result.code == nde::status::invalid_input);
    CHECK(starts_with(result.message, "truncated"));
    CHECK(out.values.size() == 0);
  }
}

TEST_CASE("every flipped byte is detected with a clear message", "[io][parameter_file]") {
  const auto file = nde::io::encode_parameters(small_layout(), awkward_values<float>());
  const std::size_t payload_begin = file.size() - 4 - 10 * sizeof(float);
  const char* classes[] = {"bad magic", "unsupported version", "truncated", "corrupted",
                           "checksum mismatch"};
  for (std::size_t at = 0; at < file.size(); ++at) {
    auto damaged = file;
    damaged[at] ^= 0xFF;
    nde::io::parameter_set<float> out;
    const auto result = nde::io::decode_parameters(damaged, out);
    INFO("byte " << at << ": " << result.message);
    REQUIRE_FALSE(result.ok());
    bool known = false;
    for (const char* prefix : classes) known = known || starts_with(result.message, prefix);
    CHECK(known);
    if (at < 8) CHECK(starts_with(result.message, "bad magic"));
    if (at == 8 || at == 9) CHECK(starts_with(result.message, "unsupported version"));
    if (at >= payload_begin) CHECK(starts_with(result.message, "checksum mismatch"));
  }
}

TEST_CASE("mismatched files give errors naming the problem", "[io][parameter_file]") {
  const auto layout = small_layout();
  const Eigen::VectorXf values = Eigen::VectorXf::LinSpaced(10, 0, 9);
  const auto file = nde::io::encode_parameters(layout, values);

  SECTION("wrong scalar type") {
    nde::io::parameter_set<double> out;
    const auto result = nde::io::decode_parameters(file, out);
    CHECK(result.message == "wrong scalar type: the file stores float32 but float64 was requested");
  }
  SECTION("shape differs from the expected layout; the target stays untouched") {
    auto expected = layout;
    expected[0].shape = {2, 3};
    Eigen::VectorXf target = Eigen::VectorXf::Constant(10, -1);
    const auto result = nde::io::decode_parameters(file, expected, target);
    CHECK(result.message ==
          "shape mismatch: block 'layer0.weight' has shape {3, 2} in the file, the layout expects "
          "{2, 3}");
    CHECK((target.array() == -1).all());
  }
  SECTION("missing and unexpected blocks") {
    auto expected = layout;
    expected[2].name = "gain";
    Eigen::VectorXf target(10);
    auto result = nde::io::decode_parameters(file, expected, target);
    CHECK(result.message == "missing blocks: the file has no 'gain'");
    expected.pop_back();
    Eigen::VectorXf shorter(9);
    result = nde::io::decode_parameters(file, expected, shorter);
    CHECK(result.message == "unexpected blocks: the layout has no 'scale'");
  }
  SECTION("expected layout larger than the vector") {
    Eigen::VectorXf target(5);
    const auto result = nde::io::decode_parameters(file, layout, target);
    CHECK(starts_with(result.message, "invalid expected layout: layout block 'layer0.weight'"));
  }
  SECTION("newer version") {
    auto newer = file;
    newer[8] = 2;
    fix_crc(newer);
    nde::io::parameter_set<float> out;
    CHECK(nde::io::decode_parameters(newer, out).message ==
          "unsupported version 2 (this reader supports version 1)");
  }
  SECTION("absurd sizes with a valid checksum are rejected before any allocation") {
    nde::io::parameter_set<float> out;
    auto absurd = file;
    absurd[12] = 0xFF, absurd[13] = 0xFF, absurd[14] = 0xFF, absurd[15] = 0x7F;  // block count
    fix_crc(absurd);
    CHECK(starts_with(nde::io::decode_parameters(absurd, out).message,
                      "invalid file: absurd block count"));
    absurd = file;
    for (int i = 16; i < 24; ++i) absurd[i] = 0xFF;  // scalar count
    fix_crc(absurd);
    CHECK(starts_with(nde::io::decode_parameters(absurd, out).message,
                      "invalid file: absurd scalar count"));
    absurd = file;
    const std::size_t first_dimension = 24 + 2 + 13 + 1;  // after "layer0.weight" and its rank
    for (std::size_t i = 0; i < 8; ++i) absurd[first_dimension + i] = i == 7 ? 0x40 : 0;  // 2^62
    fix_crc(absurd);
    CHECK(starts_with(nde::io::decode_parameters(absurd, out).message,
                      "invalid file: block 'layer0.weight': absurd"));
  }
  SECTION("trailing garbage") {
    auto longer = file;
    longer.insert(longer.end() - 4, 0);
    fix_crc(longer);
    nde::io::parameter_set<float> out;
    CHECK(starts_with(nde::io::decode_parameters(longer, out).message,
                      "invalid file: the file has 1 bytes more"));
  }
  SECTION("not a parameter file at all") {
    const std::string text = "{\"weights\": [1, 2, 3]}";
    const bytes json(text.begin(), text.end());
    nde::io::parameter_set<float> out;
    CHECK(starts_with(nde::io::decode_parameters(json, out).message, "bad magic"));
  }
}

TEST_CASE("the writer rejects layouts it could not read back", "[io][parameter_file]") {
  const Eigen::VectorXd v = Eigen::VectorXd::Zero(4);
  CHECK_THROWS_WITH(
      nde::io::encode_parameters(nde::parameter_layout{{"a", {2}, 0}, {"a", {2}, 2}}, v),
      Catch::Contains("duplicate block name 'a'"));
  CHECK_THROWS_WITH(nde::io::encode_parameters(nde::parameter_layout{{"", {2}, 0}}, v),
                    Catch::Contains("empty name"));
  CHECK_THROWS_WITH(nde::io::encode_parameters(nde::parameter_layout{{"a", {5}, 0}}, v),
                    Catch::Contains("does not fit in the parameter vector of size 4"));
  CHECK_THROWS_AS(
      nde::io::encode_parameters(nde::parameter_layout{{"a", {1, 1, 1, 1, 1, 1, 1, 1, 1}, 0}}, v),
      nde::error);
}

TEST_CASE("a huge dimension next to a zero one is rejected, not wrapped negative",
          "[io][parameter_file]") {
  // Found by the CI fuzzing run: block "t" of shape (2, 0, 0xf2afbabbb8890000) has 0 scalars,
  // so the running product stayed in range while the last dimension exceeded int64.
  std::vector<std::uint8_t> bytes = {
      0x89, 0x4e, 0x44, 0x45, 0x50, 0x0d, 0x0a, 0x1a, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x74, 0x03,
      0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x89, 0xb8, 0xbb, 0xba, 0xaf, 0xf2, 0x00, 0x00, 0x00, 0x00};
  const auto crc =
      nde::io::detail::crc32(std::span<const std::uint8_t>(bytes.data(), bytes.size() - 4));
  for (int i = 0; i < 4; ++i)
    bytes[bytes.size() - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  nde::io::parameter_set<float> decoded;
  const auto result = nde::io::decode_parameters(std::span<const std::uint8_t>(bytes), decoded);
  CHECK_FALSE(result.ok());
  CHECK_THAT(result.message, Catch::Contains("absurd dimension"));
  const Eigen::VectorXd none(0);
  CHECK_THROWS_AS(nde::io::encode_parameters(
                      nde::parameter_layout{{"t", {2, 0, std::int64_t{1} << 62}, 0}}, none),
                  nde::error);
}

TEST_CASE("an empty shape whose other dimensions multiply past 2^40 is refused on read",
          "[io][parameter_file]") {
  // Found by fuzzing (issue 17): {2, 0, 2^40} decoded (the running product stayed 0) but the
  // writer, which checks the product of the non-zero dimensions, could not write it back.
  bytes file = {0x89, 'N', 'D', 'E', 'P', 0x0D, 0x0A, 0x1A, 1, 0, 2, 0};
  append(file, 1, 4);
  append(file, 0, 8);
  append(file, 1, 2);
  file.push_back('t');
  file.push_back(3);
  append(file, 2, 8);
  append(file, 0, 8);
  append(file, std::uint64_t{1} << 40, 8);
  append(file, 0, 4);
  fix_crc(file);
  nde::io::parameter_set<double> decoded;
  CHECK(nde::io::decode_parameters(file, decoded).message ==
        "invalid file: block 't': absurd shape {2, 0, 1099511627776} (its non-zero dimensions "
        "multiply past 2^40)");
}

TEST_CASE("load errors name the file", "[io][parameter_file]") {
  scratch_directory dir("errors");
  CHECK_THROWS_WITH(nde::io::load_parameters<double>(dir.path / "absent.ndep"),
                    Catch::Contains("absent.ndep") && Catch::Contains("does not exist"));
  const auto file = dir.path / "short.ndep";
  std::ofstream(file, std::ios::binary) << "\x89NDEP";
  CHECK_THROWS_WITH(nde::io::load_parameters<double>(file),
                    Catch::Contains("short.ndep") && Catch::Contains("truncated"));
  CHECK_THROWS_AS(nde::io::load_parameters<double>(dir.path), nde::error);
}

TEST_CASE("a write that fails midway leaves the old file intact", "[io][parameter_file][atomic]") {
  scratch_directory dir("atomic");
  const auto file = dir.path / "params.ndep";
  const nde::parameter_layout old_layout = {{"w", {3}, 0}};
  const Eigen::VectorXd old_values = Eigen::Vector3d(1, 2, 3);
  nde::io::save_parameters(file, old_layout, old_values);

  // A payload of several 64 KiB chunks, so the crash lands in the middle of the data.
  const Eigen::VectorXd new_values = Eigen::VectorXd::LinSpaced(40000, -1, 1);
  const auto new_bytes =
      nde::io::encode_parameters(nde::parameter_layout{{"w", {40000}, 0}}, new_values);
  REQUIRE(new_bytes.size() > 3 * 65536);

  SECTION("an exception thrown after the first chunk") {
    const auto crash = [](std::size_t written) {
      if (written >= 65536) throw std::runtime_error("injected crash");
    };
    CHECK_THROWS_WITH(nde::io::detail::atomic_write_file(file, new_bytes, crash), "injected crash");
    CHECK(nde::io::load_parameters<double>(file).values == old_values);
    CHECK(dir.file_count() == 1);  // the temporary file was removed
  }
  SECTION("a process killed mid-write (fork, _exit in the child)") {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      const auto die = [](std::size_t written) {
        if (written >= 65536) ::_exit(42);
      };
      nde::io::detail::atomic_write_file(file, new_bytes, die);
      ::_exit(0);  // not reached unless the hook failed to fire
    }
    int wait_status = 0;
    REQUIRE(::waitpid(child, &wait_status, 0) == child);
    REQUIRE(WIFEXITED(wait_status));
    CHECK(WEXITSTATUS(wait_status) == 42);
    CHECK(nde::io::load_parameters<double>(file).values == old_values);
    // The dead writer's partial temporary file is left beside the target, never over it.
    CHECK(dir.file_count() == 2);
  }
  SECTION("a completed write replaces the file") {
    nde::io::detail::atomic_write_file(file, new_bytes);
    CHECK(nde::io::load_parameters<double>(file).values == new_values);
    CHECK(dir.file_count() == 1);
  }
}
