// NumPy import: .npy files built here from the format spec (NEP 1), the committed
// fixtures in data/ (see data/README.md), and .npz archives assembled here byte by byte.
#include <nde/io/npz.hpp>

#include <catch.hpp>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using bytes = std::vector<std::uint8_t>;

void append(bytes& out, std::uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// Builds a .npy exactly as NEP 1 describes: magic, version, header length (u16 for
// 1.0, u32 for 2.0/3.0), the dict padded with spaces to a multiple of 64 and ended
// by '\n', then the data.
bytes make_npy(const std::string& dict, const bytes& data, int major = 1) {
  bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  append(out, header.size(), major == 1 ? 2 : 4);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

template <class Scalar>
bytes raw(const std::vector<Scalar>& values, bool big_endian = false) {
  bytes out;
  for (const Scalar v : values) {
    std::uint8_t b[sizeof(Scalar)];
    std::memcpy(b, &v, sizeof(Scalar));  // the test machine is little-endian (x86-64, aarch64)
    for (std::size_t i = 0; i < sizeof(Scalar); ++i)
      out.push_back(b[big_endian ? sizeof(Scalar) - 1 - i : i]);
  }
  return out;
}

std::string dict(const std::string& descr, bool fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

std::uint32_t reference_crc32(const bytes& data) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const auto byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320U & (0U - (crc & 1U)));
  }
  return ~crc;
}

struct zip_entry {
  std::string name;
  bytes data;
  std::uint16_t method = 0;
  bool wrong_crc = false;
};

// A plain (non-ZIP64) STORED zip archive following APPNOTE 4.3.7 / 4.3.12 / 4.3.16.
bytes make_zip(const std::vector<zip_entry>& entries) {
  bytes out, directory;
  for (const auto& e : entries) {
    const std::uint32_t crc = reference_crc32(e.data) ^ (e.wrong_crc ? 1U : 0U);
    const auto offset = out.size();
    append(out, 0x04034b50, 4);
    append(out, 20, 2);        // version needed
    append(out, 0, 2);         // flags
    append(out, e.method, 2);  // method
    append(out, 0, 4);         // time, date
    append(out, crc, 4);
    append(out, e.data.size(), 4);
    append(out, e.data.size(), 4);
    append(out, e.name.size(), 2);
    append(out, 0, 2);
    out.insert(out.end(), e.name.begin(), e.name.end());
    out.insert(out.end(), e.data.begin(), e.data.end());

    append(directory, 0x02014b50, 4);
    append(directory, 20, 2);  // made by
    append(directory, 20, 2);  // needed
    append(directory, 0, 2);
    append(directory, e.method, 2);
    append(directory, 0, 4);
    append(directory, crc, 4);
    append(directory, e.data.size(), 4);
    append(directory, e.data.size(), 4);
    append(directory, e.name.size(), 2);
    append(directory, 0, 2);  // extra
    append(directory, 0, 2);  // comment
    append(directory, 0, 2);  // disk
    append(directory, 0, 2);  // internal attributes
    append(directory, 0, 4);  // external attributes
    append(directory, offset, 4);
    directory.insert(directory.end(), e.name.begin(), e.name.end());
  }
  const auto directory_offset = out.size();
  out.insert(out.end(), directory.begin(), directory.end());
  append(out, 0x06054b50, 4);
  append(out, 0, 4);  // disk numbers
  append(out, entries.size(), 2);
  append(out, entries.size(), 2);
  append(out, directory.size(), 4);
  append(out, directory_offset, 4);
  append(out, 0, 2);  // comment length
  return out;
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

const std::filesystem::path data_directory = NDE_IO_TEST_DATA;

}  // namespace

TEMPLATE_TEST_CASE("a C-order .npy (2, 3) lands column-major", "[io][npy]", float, double) {
  // A[i][j] = 10 i + j stored row by row, as PyTorch's Linear.weight (out, in) is.
  const auto file = make_npy(dict("<f4", false, "(2, 3)"), raw<float>({0, 1, 2, 10, 11, 12}));
  const auto array = nde::io::decode_npy<TestType>(file);
  REQUIRE(array.shape == std::vector<std::int64_t>{2, 3});
  CHECK(array.stored_type == nde::io::scalar_type::float32);
  CHECK_FALSE(array.fortran_order);
  const auto m = array.matrix();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(m(i, j) == TestType(10 * i + j));
  // Column-major storage: (0,0), (1,0), (0,1), ...
  CHECK(array.values[1] == TestType(10));
}

TEMPLATE_TEST_CASE("a Fortran-order float64 .npy needs no reordering", "[io][npy]", float, double) {
  const auto file = make_npy(dict("<f8", true, "(2, 3)"), raw<double>({0, 10, 1, 11, 2, 12}));
  const auto array = nde::io::decode_npy<TestType>(file);
  CHECK(array.fortran_order);
  CHECK(array.stored_type == nde::io::scalar_type::float64);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(array.matrix()(i, j) == TestType(10 * i + j));
}

TEST_CASE("rank-3 C-order arrays, versions 2.0 and 3.0, big-endian, 0-d and empty arrays",
          "[io][npy]") {
  std::vector<double> values;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) values.push_back(100 * i + 10 * j + k);
  for (int major : {1, 2, 3}) {
    const auto array =
        nde::io::decode_npy<double>(make_npy(dict("<f8", false, "(2, 3, 4)"), raw(values), major));
    REQUIRE(array.shape == std::vector<std::int64_t>{2, 3, 4});
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 4; ++k)
          CHECK(array.values[i + 2 * (j + 3 * k)] == 100 * i + 10 * j + k);
  }
  const auto big = nde::io::decode_npy<float>(
      make_npy(dict(">f4", false, "(3,)"), raw<float>({1.5f, -2, 3}, true)));
  CHECK(big.values == Eigen::Vector3f(1.5f, -2, 3));
  const auto scalar =
      nde::io::decode_npy<double>(make_npy(dict("<f8", false, "()"), raw<double>({2.5})));
  CHECK(scalar.shape.empty());
  CHECK(scalar.values.size() == 1);
  CHECK(scalar.values[0] == 2.5);
  const auto empty = nde::io::decode_npy<double>(make_npy(dict("<f8", false, "(0, 3)"), {}));
  CHECK(empty.values.size() == 0);
  // Found by fuzzing: an empty C-order array whose other dimensions multiply past 2^63 (their
  // strides overflowed before the zero dimension was reached). NumPy cannot create such an
  // array ("array is too big"), and nde::checked_size refuses it the same way.
  nde::io::npy_array<double> huge_empty;
  CHECK(
      nde::io::decode_npy(
          make_npy(dict("<f8", false, "(20000, 54035799992000, 54035799992000, 54035715, 0)"), {}),
          huge_empty)
          .message ==
      "bad .npy header: the non-zero dimensions of the empty shape {20000, "
      "54035799992000, 54035799992000, 54035715, 0} overflow 64 bits");
  const auto wide_empty =
      nde::io::decode_npy<double>(make_npy(dict("<f8", false, "(0, 4611686018427387904)"), {}));
  CHECK(wide_empty.values.size() == 0);
  CHECK(wide_empty.shape.size() == 2);
  // Python 2 era headers: long literals and double quotes, keys in another order.
  const auto old = nde::io::decode_npy<double>(make_npy(
      "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<f8\"}", raw<double>({1, 2})));
  CHECK(old.shape == std::vector<std::int64_t>{2, 1});
}

TEST_CASE("the committed fixture linear_weight.npy loads", "[io][npy]") {
  const auto array = nde::io::load_npy<double>(data_directory / "linear_weight.npy");
  REQUIRE(array.shape == std::vector<std::int64_t>{2, 3});
  Eigen::Matrix<double, 2, 3> expected;
  expected << 1.5, -2.0, 0.25, 3.0, 4.5, -0.125;
  CHECK(array.matrix() == expected);
}

TEST_CASE("malformed .npy files give clear errors", "[io][npy]") {
  const auto good = make_npy(dict("<f4", false, "(2, 3)"), raw<float>({0, 1, 2, 3, 4, 5}));
  nde::io::npy_array<float> out;
  const auto message = [&](const bytes& file) { return nde::io::decode_npy(file, out).message; };

  CHECK(starts_with(message(bytes{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0}), "bad magic"));
  auto version = good;
  version[6] = 4;
  CHECK(message(version) == "unsupported .npy version 4.0 (supported: 1.0, 2.0, 3.0)");
  CHECK(starts_with(message(bytes(good.begin(), good.end() - 1)), "truncated"));
  auto longer = good;
  longer.push_back(0);
  CHECK(starts_with(message(longer), "data length mismatch"));
  CHECK(starts_with(message(make_npy(dict("<i8", false, "(2,)"), bytes(16))),
                    "unsupported dtype '<i8'"));
  CHECK(starts_with(
      message(
          make_npy("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,)}", bytes(4))),
      "bad .npy header"));
  CHECK(starts_with(message(make_npy("{'descr': '<f4', 'shape': (1,)}", bytes(4))),
                    "bad .npy header"));
  CHECK(starts_with(message(make_npy(dict("<f4", false, "(-1,)"), bytes(4))), "bad .npy header"));
  // An absurd shape with a few data bytes: rejected without allocating.
  CHECK(starts_with(
      message(make_npy(dict("<f8", false, "(4611686018427387904, 4611686018427387904)"), bytes(8))),
      "truncated"));
  CHECK(starts_with(message(make_npy(dict("<f8", false, "(99999999999999999999999,)"), bytes(8))),
                    "bad .npy header"));
  // Every truncation of a valid file fails cleanly.
  for (std::size_t length = 0; length < good.size(); ++length) {
    INFO("length " << length);
    CHECK_FALSE(nde::io::decode_npy(std::span<const std::uint8_t>(good.data(), length), out));
  }
}

TEST_CASE("an .npz built here (STORED, CRC-32) fills a layout, weights column-major", "[io][npz]") {
  const auto weight = make_npy(dict("<f4", false, "(2, 3)"), raw<float>({0, 1, 2, 10, 11, 12}));
  const auto bias = make_npy(dict("<f8", false, "(2,)"), raw<double>({0.5, -0.5}));
  const auto archive = make_zip({{"0.weight.npy", weight}, {"0.bias.npy", bias}});
  const nde::parameter_layout layout = {{"0.weight", {2, 3}, 0}, {"0.bias", {2}, 6}};

  Eigen::VectorXd theta = Eigen::VectorXd::Zero(8);
  REQUIRE(nde::io::decode_npz_into(archive, layout, theta));
  const Eigen::Map<const Eigen::MatrixXd> w(theta.data(), 2, 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) CHECK(w(i, j) == 10 * i + j);
  CHECK(theta[6] == 0.5);
  CHECK(theta[7] == -0.5);

  const auto arrays = nde::io::decode_npz<float>(archive);
  CHECK(arrays.size() == 2);
  CHECK(arrays.count("0.weight") == 1);

  SECTION("renamed blocks") {
    const nde::parameter_layout named = {{"layer0.weight", {2, 3}, 0}, {"layer0.bias", {2}, 6}};
    nde::io::npz_import_options options;
    options.names = {{"layer0.weight", "0.weight"}, {"layer0.bias", "0.bias"}};
    Eigen::VectorXf theta_f = Eigen::VectorXf::Zero(8);
    REQUIRE(nde::io::decode_npz_into(archive, named, theta_f, options));
    CHECK(theta_f[1] == 10.0f);
    CHECK(nde::io::decode_npz_into(archive, named, theta_f).message ==
          "missing array: block 'layer0.weight' needs member 'layer0.weight.npy', which the "
          "archive does not have");
  }
  SECTION("shape mismatch, unused members; the target stays untouched") {
    Eigen::VectorXd target = Eigen::VectorXd::Constant(8, -7);
    const nde::parameter_layout transposed = {{"0.weight", {3, 2}, 0}, {"0.bias", {2}, 6}};
    CHECK(
        nde::io::decode_npz_into(archive, transposed, target).message ==
        "shape mismatch: member '0.weight.npy' has shape {2, 3}, block '0.weight' expects {3, 2}");
    const nde::parameter_layout weight_only = {{"0.weight", {2, 3}, 0}};
    CHECK(starts_with(nde::io::decode_npz_into(archive, weight_only, target).message,
                      "unused arrays: no block takes '0.bias.npy'"));
    CHECK((target.array() == -7).all());
    nde::io::npz_import_options lenient;
    lenient.allow_unused = true;
    CHECK(nde::io::decode_npz_into(archive, weight_only, target, lenient));
    CHECK(target[1] == 10);
  }
}

TEST_CASE("compressed, corrupted and malformed .npz archives are rejected", "[io][npz]") {
  const auto weight = make_npy(dict("<f4", false, "(2,)"), raw<float>({1, 2}));
  nde::io::npz_arrays<double> out;
  const auto message = [&](const bytes& archive) {
    return nde::io::decode_npz(archive, out).message;
  };

  // Method 8 with bytes that are not a deflate stream: without zlib the member is refused as
  // compressed; with zlib its data are refused as corrupted.
#if defined(NDE_HAVE_ZLIB) && NDE_HAVE_ZLIB
  CHECK(starts_with(message(make_zip({{"w.npy", weight, 8}})), "corrupted zip: zip entry 'w.npy'"));
#else
  CHECK(starts_with(message(make_zip({{"w.npy", weight, 8}})),
                    "zip entry 'w.npy' is compressed (method 8, deflate): compressed .npz members "
                    "need nde built with zlib (NDE_WITH_ZLIB)"));
#endif
  CHECK(starts_with(message(make_zip({{"w.npy", weight, 12}})),
                    "zip entry 'w.npy' uses compression method 12"));
  CHECK(starts_with(message(make_zip({{"w.npy", weight, 0, true}})),
                    "checksum mismatch: zip entry 'w.npy'"));
  CHECK(starts_with(message(make_zip({{"w.npy", bytes{1, 2, 3}}})), "member 'w.npy': bad magic"));
  CHECK(starts_with(message(make_zip({{"w.npy", weight}, {"w", weight}})), "duplicate member"));
  CHECK(starts_with(message(weight), "not a zip archive"));

  const auto good = make_zip({{"a.npy", weight}, {"b.npy", weight}});
  REQUIRE(nde::io::decode_npz(good, out));
  CHECK(out.at("b").values == Eigen::Vector2d(1, 2));
  for (std::size_t length = 0; length < good.size(); ++length) {
    INFO("length " << length);
    CHECK_FALSE(nde::io::decode_npz(std::span<const std::uint8_t>(good.data(), length), out));
  }
  for (std::size_t at = 0; at < good.size(); ++at) {
    auto damaged = good;
    damaged[at] ^= 0xFF;
    nde::io::npz_arrays<double> arrays;
    const auto result = nde::io::decode_npz(damaged, arrays);
    // Member bytes are covered by the CRC and names are cross-checked between the
    // local and central headers; flips in fields the reader ignores (timestamps,
    // attributes, "made by") may pass, but must not change what is read.
    if (result.ok()) {
      INFO("byte " << at << " passed");
      REQUIRE(arrays.size() == 2);
      REQUIRE(arrays.count("a") == 1);
      CHECK(arrays.at("a").values == Eigen::Vector2d(1, 2));
      CHECK(arrays.at("b").values == Eigen::Vector2d(1, 2));
    } else {
      CHECK_FALSE(result.message.empty());
    }
  }
}

TEST_CASE("the committed linear.npz (written by Python's zipfile like np.savez) loads",
          "[io][npz]") {
  const nde::parameter_layout layout = {{"0.weight", {2, 3}, 0}, {"0.bias", {2}, 6}};
  Eigen::Matrix<float, 8, 1> theta;
  nde::io::load_npz_into(data_directory / "linear.npz", layout, theta);
  Eigen::Matrix<float, 8, 1> expected;
  expected << 1.5f, 3.0f, -2.0f, 4.5f, 0.25f, -0.125f, 0.5f, -1.0f;
  CHECK(theta == expected);
  CHECK_THROWS_WITH(
      nde::io::load_npz_into(data_directory / "linear.npz", {{"0.weight", {2, 3}, 0}}, theta),
      Catch::Contains("linear.npz") && Catch::Contains("unused arrays"));
}
