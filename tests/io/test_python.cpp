// The Python round trip (issue 16), built only where python3 imports numpy (CMakeLists.txt):
//   C++ writes parameters -> tools/ndep.py reads them -> numpy writes .npz -> C++ loads:
//   identical bits; and back: C++ writes .npz -> numpy + tools/ndep.py write .ndep -> C++
//   reads it, byte for byte the file the C++ writer makes. NumPy reads the C++ .npy files
//   (both orders) as the same matrix.
#include <nde/io/npz.hpp>
#include <nde/io/parameter_file.hpp>

#include <catch.hpp>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace io = nde::io;
namespace fs = std::filesystem;

struct scratch_directory {
  fs::path path;
  scratch_directory() {
    path = fs::temp_directory_path() / ("nde_io_python_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_directory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

std::string shell_quote(const fs::path& path) {
  std::string text = "'";
  for (const char c : path.string()) text += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return text + "'";
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Runs `python3 <script> <arguments>`; returns its exit status, output in `log`.
int python(const fs::path& directory, const std::string& script, const std::string& arguments,
           std::string& log) {
  const fs::path output = directory / "python.log";
  const std::string command = shell_quote(NDE_PYTHON) + " " + shell_quote(script) + " " +
                              arguments + " > " + shell_quote(output) + " 2>&1";
  const int status = std::system(command.c_str());
  log = command + "\n" + slurp(output);
  return status;
}

int ndep_tool(const fs::path& directory, const std::string& arguments, std::string& log) {
  return python(directory, NDE_NDEP_TOOL, arguments, log);
}

int check(const fs::path& directory, const std::string& arguments, std::string& log) {
  return python(directory, std::string(NDE_IO_TEST_SCRIPTS) + "/check_numpy.py", arguments, log);
}

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

// An MLP's blocks named as nn.Sequential's state_dict keys, plus rank 0 and rank 3 blocks.
const nde::parameter_layout layout = {{"0.weight", {4, 3}, 0},  {"0.bias", {4}, 12},
                                      {"2.weight", {2, 4}, 16}, {"2.bias", {2}, 24},
                                      {"scale", {}, 26},        {"kernel", {2, 3, 2}, 27}};
constexpr Eigen::Index layout_size = 39;

template <class Scalar>
Eigen::Matrix<Scalar, Eigen::Dynamic, 1> awkward_values() {
  using limits = std::numeric_limits<Scalar>;
  using bits_type = io::detail::bits_of<Scalar>;
  Eigen::Matrix<Scalar, Eigen::Dynamic, 1> v(layout_size);
  for (Eigen::Index k = 0; k < v.size(); ++k) v[k] = Scalar(0.37) * Scalar(k) - Scalar(3);
  v[1] = Scalar(-0.0);
  v[5] = limits::denorm_min();
  v[13] = -limits::infinity();
  v[20] = std::bit_cast<Scalar>(
      static_cast<bits_type>(std::bit_cast<bits_type>(limits::quiet_NaN()) | bits_type{0x2A}));
  v[26] = limits::max();
  v[30] = Scalar(1) / Scalar(3);
  return v;
}

}  // namespace

TEMPLATE_TEST_CASE("C++ .ndep -> ndep.py -> numpy .npz -> C++: identical bits", "[io][python]",
                   float, double) {
  scratch_directory dir;
  const auto theta = awkward_values<TestType>();
  io::save_parameters(dir.path / "a.ndep", layout, theta);
  std::string log;
  REQUIRE(ndep_tool(dir.path, "show " + shell_quote(dir.path / "a.ndep"), log) == 0);
  INFO(log);
  CHECK(log.find("6 blocks, 39 scalars") != std::string::npos);

  // np.savez (STORED) of the arrays ndep.py read.
  REQUIRE(ndep_tool(
              dir.path,
              "to-npz " + shell_quote(dir.path / "a.ndep") + " " + shell_quote(dir.path / "a.npz"),
              log) == 0);
  Eigen::Matrix<TestType, Eigen::Dynamic, 1> back =
      Eigen::Matrix<TestType, Eigen::Dynamic, 1>::Zero(layout_size);
  REQUIRE(io::read_npz_into(dir.path / "a.npz", layout, back));
  CHECK(same_bits(back, theta));

  // np.savez_compressed of C-contiguous arrays (deflate, C order).
  REQUIRE(ndep_tool(dir.path,
                    "to-npz --compressed --c-order " + shell_quote(dir.path / "a.ndep") + " " +
                        shell_quote(dir.path / "ac.npz"),
                    log) == 0);
  back.setZero();
  const auto compressed = io::read_npz_into(dir.path / "ac.npz", layout, back);
  if constexpr (io::detail::have_zlib) {
    INFO(compressed.message);
    REQUIRE(compressed);
    CHECK(same_bits(back, theta));
  } else {
    CHECK(compressed.message.find("NDE_WITH_ZLIB") != std::string::npos);
  }
}

TEMPLATE_TEST_CASE("C++ .npz -> numpy + ndep.py -> .ndep -> C++: the C++ writer's exact bytes",
                   "[io][python]", float, double) {
  scratch_directory dir;
  const auto theta = awkward_values<TestType>();
  const auto expected = io::encode_parameters(layout, theta);
  for (const bool compress : {false, io::detail::have_zlib}) {
    for (const auto order : {io::npy_order::fortran, io::npy_order::c}) {
      io::npz_write_options options;
      options.compress = compress;
      options.order = order;
      options.force_zip64 = order == io::npy_order::c;
      io::save_npz(dir.path / "b.npz", layout, theta, options);
      std::string log;
      REQUIRE(ndep_tool(dir.path,
                        "from-npz " + shell_quote(dir.path / "b.npz") + " " +
                            shell_quote(dir.path / "b.ndep"),
                        log) == 0);
      INFO("compress " << compress << " C order " << (order == io::npy_order::c) << "\n" << log);
      const std::string written = slurp(dir.path / "b.ndep");
      CHECK(std::vector<std::uint8_t>(written.begin(), written.end()) == expected);
      Eigen::Matrix<TestType, Eigen::Dynamic, 1> back(layout_size);
      io::load_parameters(dir.path / "b.ndep", layout, back);
      CHECK(same_bits(back, theta));
      // numpy's view of the C++ archive is, array by array and bit by bit, ndep.py's view of
      // the C++ parameter file.
      io::save_parameters(dir.path / "a.ndep", layout, theta);
      CHECK(
          check(dir.path,
                "same " + shell_quote(dir.path / "a.ndep") + " " + shell_quote(dir.path / "b.npz"),
                log) == 0);
    }
  }
}

TEST_CASE("numpy reads nde's .npy files as the same matrix, in both orders", "[io][python]") {
  scratch_directory dir;
  Eigen::MatrixXd m(3, 5);
  for (Eigen::Index i = 0; i < 3; ++i)
    for (Eigen::Index j = 0; j < 5; ++j) m(i, j) = 10.0 * double(i) + double(j) + 0.5;
  io::save_npy(dir.path / "f.npy", m);
  io::npy_write_options c_order;
  c_order.order = io::npy_order::c;
  io::save_npy(dir.path / "c.npy", m.cast<float>().eval(), c_order);
  std::string log;
  CHECK(check(dir.path, "matrix " + shell_quote(dir.path / "f.npy") + " 3 5 1", log) == 0);
  INFO(log);
  CHECK(check(dir.path, "matrix " + shell_quote(dir.path / "c.npy") + " 3 5 0", log) == 0);
  INFO(log);
}

TEST_CASE("ndep.py refuses damaged parameter files", "[io][python]") {
  scratch_directory dir;
  const auto theta = awkward_values<double>();
  auto bytes = io::encode_parameters(layout, theta);
  bytes[40] ^= 1;
  {
    std::ofstream out(dir.path / "bad.ndep", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  std::string log;
  CHECK(ndep_tool(dir.path, "show " + shell_quote(dir.path / "bad.ndep"), log) != 0);
  CHECK(log.find("checksum mismatch") != std::string::npos);
}
