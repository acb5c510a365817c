// The .npz reader and writer as compiled without zlib, whatever the build: compressed members
// and compressed writes give the documented message; STORED archives work as before.
#undef NDE_HAVE_ZLIB
#define NDE_HAVE_ZLIB 0
#include <nde/io/npz.hpp>

#include <catch.hpp>

#include <filesystem>
#include <string>

static_assert(!nde::io::detail::have_zlib);

TEST_CASE("without zlib, compressed .npz members and writes are refused clearly",
          "[io][npz][zlib]") {
  const std::filesystem::path data = NDE_IO_TEST_DATA;
  nde::io::npz_arrays<double> arrays;
  const auto read = nde::io::read_npz(data / "linear_compressed.npz", arrays);
  CHECK_FALSE(read);
  CHECK(read.message ==
        "zip entry '0.weight.npy' is compressed (method 8, deflate): compressed .npz members need "
        "nde built with zlib (NDE_WITH_ZLIB), or save with np.savez instead of "
        "np.savez_compressed");
  CHECK(arrays.empty());
  REQUIRE(nde::io::read_npz(data / "linear.npz", arrays));
  CHECK(arrays.size() == 2);

  nde::io::npz_write_options options;
  options.compress = true;
  std::vector<std::uint8_t> out;
  const auto written = nde::io::encode_npz(arrays, out, options);
  CHECK(written.message.find("compressed .npz members need nde built with zlib (NDE_WITH_ZLIB)") !=
        std::string::npos);
  options.compress = false;
  REQUIRE(nde::io::encode_npz(arrays, out, options));
  CHECK(nde::io::decode_npz<double>(out).at("0.weight").matrix() == arrays.at("0.weight").matrix());
}
