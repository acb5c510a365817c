// The .npy / .npz writers: exact bytes of the .npy header and data in both orders, bit-exact
// round trips through the readers, ZIP64 and deflate variants, bounded inflation (zip bombs),
// and the file forms (atomic save, statuses naming the path).
#include <nde/io/npz.hpp>

#include <catch.hpp>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using bytes = std::vector<std::uint8_t>;
namespace io = nde::io;

constexpr bool with_zlib = io::detail::have_zlib;

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

struct scratch_directory {
  std::filesystem::path path;
  explicit scratch_directory(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("nde_io_writers_" + tag + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~scratch_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

template <class Scalar>
auto bits(Scalar value) {
  return std::bit_cast<io::detail::bits_of<Scalar>>(value);
}

template <class A, class B>
bool same_bits(const A& a, const B& b) {
  if (a.size() != b.size()) return false;
  for (Eigen::Index k = 0; k < a.size(); ++k)
    if (bits(a[k]) != bits(b[k])) return false;
  return true;
}

// Values whose bits a lossy path would change: NaN payloads, signed zero, denormals, infinities.
template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> awkward_values(Eigen::Index n) {
  using limits = std::numeric_limits<Scalar>;
  using bits_type = io::detail::bits_of<Scalar>;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> v(n);
  for (Eigen::Index k = 0; k < n; ++k) v[k] = Scalar(0.1) * Scalar(k) - Scalar(1);
  const Scalar specials[] = {Scalar(-0.0),
                             limits::denorm_min(),
                             -limits::infinity(),
                             limits::infinity(),
                             limits::max(),
                             std::bit_cast<Scalar>(static_cast<bits_type>(
                                 std::bit_cast<bits_type>(limits::quiet_NaN()) | bits_type{5}))};
  for (Eigen::Index k = 0; k < n && k < 6; ++k) v[k] = specials[k];
  return v;
}

std::string header_of(const bytes& npy) {
  const std::size_t length = npy[8] | (std::size_t{npy[9]} << 8);
  return std::string(npy.begin() + 10, npy.begin() + 10 + static_cast<std::ptrdiff_t>(length));
}

template <class Scalar>
Scalar item(const bytes& npy, std::size_t k) {
  Scalar value;
  std::memcpy(&value, npy.data() + 128 + k * sizeof(Scalar), sizeof(Scalar));  // little-endian host
  return value;
}

}  // namespace

TEST_CASE(".npy writer: header and data bytes in Fortran and C order", "[io][npy][write]") {
  Eigen::Matrix<double, 2, 3> m;
  m << 1, 2, 3, 4, 5, 6;  // rows (1 2 3), (4 5 6)

  const bytes fortran = io::encode_npy(m);
  REQUIRE(fortran.size() == 128 + 6 * 8);
  CHECK(std::equal(fortran.begin(), fortran.begin() + 8,
                   bytes{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}.begin()));
  const std::string header = header_of(fortran);
  CHECK(header.size() == 118);  // 10 + 118 = 128: data aligned to 64
  CHECK(header.back() == '\n');
  CHECK(starts_with(header, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }"));
  CHECK(header.find_first_not_of(' ', 58) == header.size() - 1);
  for (std::size_t k = 0; k < 6; ++k)
    CHECK(item<double>(fortran, k) == m.data()[k]);  // 1 4 2 5 3 6

  io::npy_write_options c_order;
  c_order.order = io::npy_order::c;
  const bytes c = io::encode_npy(m, c_order);
  CHECK(starts_with(header_of(c), "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"));
  for (std::size_t k = 0; k < 6; ++k) CHECK(item<double>(c, k) == double(k + 1));  // row order

  // Both read back as the same matrix.
  for (const auto& encoded : {fortran, c}) {
    const auto array = io::decode_npy<double>(encoded);
    CHECK(array.shape == std::vector<std::int64_t>{2, 3});
    CHECK(array.matrix() == m);
  }

  // Vectors are (n,), float is <f4, and rank <= 1 is never flagged Fortran.
  const Eigen::Vector3f v(1.5f, -2.f, 0.25f);
  const bytes vf = io::encode_npy(v);
  CHECK(starts_with(header_of(vf), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"));
  CHECK(io::decode_npy<float>(vf).values == v);
  // A row-major Eigen matrix gives the same array as a column-major one.
  const Eigen::Matrix<double, 2, 3, Eigen::RowMajor> row_major = m;
  CHECK(io::encode_npy(row_major) == fortran);
}

TEST_CASE(".npy writer: ranks 0 to 4, empty shapes and refusals", "[io][npy][write]") {
  const std::vector<std::vector<std::int64_t>> shapes = {
      {}, {0}, {5}, {2, 0}, {3, 4}, {2, 3, 4}, {2, 1, 3, 2}, {0, 7, 3}};
  for (const auto& shape : shapes) {
    for (const auto order : {io::npy_order::fortran, io::npy_order::c}) {
      INFO("shape " << nde::shape_to_string(shape) << (order == io::npy_order::c ? " C" : " F"));
      io::npy_array<float> array;
      array.shape = shape;
      array.values = awkward_values<float>(*nde::checked_size(shape));
      bytes encoded;
      io::npy_write_options options;
      options.order = order;
      REQUIRE(io::encode_npy(array, encoded, options));
      CHECK((encoded.size() - array.values.size() * 4) % 64 == 0);
      io::npy_array<float> back;
      REQUIRE(io::decode_npy(encoded, back));
      CHECK(back.shape == shape);
      CHECK(same_bits(back.values, array.values));
    }
  }
  CHECK(starts_with(header_of(io::encode_npy(Eigen::Matrix<double, 1, 1>::Constant(2.0))),
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }"));

  bytes out = {42};
  const std::vector<double> values = {1, 2, 3};
  const std::vector<std::int64_t> negative = {-1, 3}, wrong = {2, 2};
  CHECK(starts_with(io::encode_npy<double>(negative, values, out).message,
                    "cannot encode .npy: invalid shape"));
  CHECK(starts_with(io::encode_npy<double>(wrong, values, out).message,
                    "cannot encode .npy: shape {2, 2} holds 4 values, 3 were given"));
  const std::vector<std::int64_t> deep(65, 1);
  CHECK(starts_with(
      io::encode_npy<double>(deep, std::span<const double>(values.data(), 1), out).message,
      "cannot encode .npy: rank 65 exceeds 64"));
  CHECK(out == bytes{42});  // untouched on failure
}

TEST_CASE(".npz writer: a parameter vector round-trips bit for bit", "[io][npz][write]") {
  const nde::parameter_layout layout = {
      {"0.weight", {4, 3}, 0}, {"0.bias", {4}, 12}, {"2.weight", {2, 4}, 16}, {"2.bias", {2}, 24}};
  const auto theta = awkward_values<double>(26);
  for (const bool compress : {false, true}) {
    for (const bool zip64 : {false, true}) {
      for (const auto order : {io::npy_order::fortran, io::npy_order::c}) {
        INFO("compress " << compress << " zip64 " << zip64 << " C " << (order == io::npy_order::c));
        io::npz_write_options options;
        options.compress = compress;
        options.force_zip64 = zip64;
        options.order = order;
        bytes archive;
        const auto encoded = io::encode_npz(layout, theta, archive, options);
        if (compress && !with_zlib) {
          CHECK(starts_with(encoded.message,
                            "cannot encode .npz: compressed .npz members need nde "
                            "built with zlib (NDE_WITH_ZLIB)"));
          continue;
        }
        REQUIRE(encoded);
        CHECK(io::encode_npz(layout, theta, options) == archive);  // deterministic
        Eigen::VectorXd back = Eigen::VectorXd::Constant(26, 7.0);
        REQUIRE(io::decode_npz_into(archive, layout, back));
        CHECK(same_bits(back, theta));
        // Members come out in layout order, each a .npy of the block's shape.
        const auto arrays = io::decode_npz<double>(archive);
        REQUIRE(arrays.size() == 4);
        CHECK(arrays.at("2.weight").shape == std::vector<std::int64_t>{2, 4});
        CHECK(arrays.at("0.weight").fortran_order == (order == io::npy_order::fortran));
        // And through encode_npz(arrays): the same members.
        Eigen::VectorXd again(26);
        REQUIRE(io::decode_npz_into(io::encode_npz(arrays, options), layout, again));
        CHECK(same_bits(again, theta));
      }
    }
  }
  // The first local header names the first block.
  const bytes stored = io::encode_npz(layout, theta);
  CHECK(std::string(stored.begin() + 30, stored.begin() + 42) == "0.weight.npy");

  bytes out;
  CHECK(starts_with(io::encode_npz(layout, Eigen::VectorXd(10), out).message,
                    "cannot encode .npz: invalid layout"));
  const nde::parameter_layout twins = {{"a", {1}, 0}, {"a", {1}, 1}};
  CHECK(starts_with(io::encode_npz(twins, Eigen::VectorXd(2), out).message,
                    "cannot encode .npz: two arrays are named 'a'"));
  const nde::parameter_layout unnamed = {{"", {1}, 0}};
  CHECK(starts_with(io::encode_npz(unnamed, Eigen::VectorXd(1), out).message,
                    "cannot encode .npz: array names must have"));
  CHECK(out.empty());
}

TEST_CASE(".npz writer: damaged archives never decode to other values", "[io][npz][write]") {
  const nde::parameter_layout layout = {{"w", {2, 2}, 0}, {"b", {2}, 4}};
  const Eigen::VectorXf theta = awkward_values<float>(6);
  for (const bool compress : {false, with_zlib}) {
    io::npz_write_options options;
    options.compress = compress;
    const bytes good = io::encode_npz(layout, theta, options);
    for (std::size_t at = 0; at < good.size(); ++at) {
      bytes damaged = good;
      damaged[at] ^= 0x5A;
      Eigen::VectorXf back = Eigen::VectorXf::Zero(6);
      const auto result = io::decode_npz_into(damaged, layout, back);
      INFO("compress " << compress << " byte " << at << ": " << result.message);
      if (result.ok())
        CHECK(same_bits(back, theta));  // only fields the reader ignores (dates, attributes)
      else
        CHECK(back.isZero());
    }
    Eigen::VectorXf scratch(6);
    for (std::size_t length = 0; length < good.size(); ++length)
      CHECK_FALSE(
          io::decode_npz_into(std::span<const std::uint8_t>(good.data(), length), layout, scratch));
  }
}

namespace {

// Rewrites the uncompressed size of the (single) member of a non-ZIP64 archive written by
// encode_npz, in both the local and the central header.
bytes with_declared_size(bytes archive, std::uint32_t size) {
  const auto put32 = [&](std::size_t at, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) archive[at + std::size_t(i)] = std::uint8_t(value >> (8 * i));
  };
  const std::size_t end = archive.size() - 22;
  const std::size_t directory = archive[end + 16] | (std::size_t{archive[end + 17]} << 8) |
                                (std::size_t{archive[end + 18]} << 16) |
                                (std::size_t{archive[end + 19]} << 24);
  put32(22, size);
  put32(directory + 24, size);
  return archive;
}

}  // namespace

TEST_CASE("compressed .npz: inflation is bounded by the declared sizes", "[io][npz][zlib]") {
  if constexpr (!with_zlib) {
    // Without zlib a compressed archive cannot be written: refused with the reason.
    io::npz_write_options options;
    options.compress = true;
    CHECK_THROWS_WITH(
        io::encode_npz(nde::parameter_layout{{"z", {4}, 0}}, Eigen::VectorXd::Zero(4), options),
        Catch::Contains("NDE_WITH_ZLIB"));
  } else {
    // 1 Mi zeros deflate to about a kilobyte.
    const nde::parameter_layout layout = {{"z", {1 << 17}, 0}};
    io::npz_write_options options;
    options.compress = true;
    options.level = 9;
    const bytes bomb = io::encode_npz(layout, Eigen::VectorXd::Zero(1 << 17), options);
    const std::uint32_t actual = (1U << 20) + 128;  // data + .npy header
    REQUIRE(bomb.size() < 4096);
    io::npz_arrays<double> arrays;
    REQUIRE(io::decode_npz(bomb, arrays));
    CHECK(arrays.at("z").values.isZero());

    // Declared smaller than the stream inflates to: stops at the declared size.
    CHECK(starts_with(io::decode_npz(with_declared_size(bomb, 4096), arrays).message,
                      "corrupted zip: zip entry 'z.npy': it inflates to more than the 4096 bytes"));
    // Declared larger: the stream ends early.
    CHECK(starts_with(io::decode_npz(with_declared_size(bomb, actual + 1), arrays).message,
                      "corrupted zip: zip entry 'z.npy': it inflates to " + std::to_string(actual) +
                          " bytes, its zip header declares " + std::to_string(actual + 1)));
    // Declared beyond what deflate can produce from these bytes: refused before allocating.
    CHECK(starts_with(io::decode_npz(with_declared_size(bomb, 0xFFFFFFF0U), arrays).message,
                      "corrupted zip: zip entry 'z.npy' declares 4294967280 bytes from"));
  }
}

TEST_CASE("compressed .npz from Python's zipfile (like np.savez_compressed) loads",
          "[io][npz][zlib]") {
  const std::filesystem::path data = NDE_IO_TEST_DATA;
  const nde::parameter_layout layout = {{"0.weight", {2, 3}, 0}, {"0.bias", {2}, 6}};
  Eigen::Matrix<float, 8, 1> theta = Eigen::Matrix<float, 8, 1>::Zero();
  const auto result = io::read_npz_into(data / "linear_compressed.npz", layout, theta);
  if constexpr (with_zlib) {
    REQUIRE(result);
    Eigen::Matrix<float, 8, 1> expected;
    expected << 1.5f, 3.0f, -2.0f, 4.5f, 0.25f, -0.125f, 0.5f, -1.0f;
    CHECK(theta == expected);
  } else {
    CHECK(result.message.find("need nde built with zlib (NDE_WITH_ZLIB)") != std::string::npos);
  }
}

TEST_CASE(".npy/.npz files: atomic saves and statuses naming the path", "[io][write][file]") {
  scratch_directory dir("files");
  const Eigen::MatrixXd m = Eigen::MatrixXd::Random(3, 5);
  REQUIRE(io::write_npy(dir.path / "m.npy", m));
  CHECK(io::load_npy<double>(dir.path / "m.npy").matrix() == m);
  // Overwrite through a symbolic link: the target is replaced, the link survives.
  std::filesystem::create_symlink("m.npy", dir.path / "link.npy");
  const Eigen::MatrixXd m2 = 2 * m;
  io::save_npy(dir.path / "link.npy", m2);
  CHECK(std::filesystem::is_symlink(dir.path / "link.npy"));
  CHECK(io::load_npy<double>(dir.path / "m.npy").matrix() == m2);

  const nde::parameter_layout layout = {{"w", {3, 5}, 0}};
  const Eigen::VectorXd theta = m.reshaped();
  REQUIRE(io::write_npz(dir.path / "p.npz", layout, theta));
  Eigen::VectorXd back(15);
  io::load_npz_into(dir.path / "p.npz", layout, back);
  CHECK(back == theta);
  io::npz_arrays<double> arrays;
  REQUIRE(io::read_npz(dir.path / "p.npz", arrays));
  io::save_npz(dir.path / "q.npz", arrays);
  CHECK(io::load_npz<double>(dir.path / "q.npz").at("w").matrix() == m);
  // Only the three files and the link: no temporaries left.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), {}) == 4);

  const auto missing = dir.path / "no" / "m.npy";
  const auto status = io::write_npy(missing, m);
  CHECK(status.code == nde::status::invalid_input);
  CHECK(starts_with(status.message, "cannot save '" + missing.string() + "': directory"));
  CHECK_THROWS_WITH(io::save_npz(missing, layout, theta),
                    Catch::Contains("cannot save '" + missing.string() + "'") &&
                        Catch::Contains("does not exist"));
  CHECK_THROWS_WITH(io::save_npz(dir.path / "r.npz", layout, Eigen::VectorXd(3)),
                    Catch::Contains("r.npz") && Catch::Contains("invalid layout"));
  CHECK_FALSE(std::filesystem::exists(dir.path / "r.npz"));
}
