// Compiled, never run: every io entry point a user program calls, instantiated for float and
// double, so that the io headers are checked under -O2 -Wall -Wextra -Wconversion
// -Wsign-conversion -Werror (see CMakeLists.txt). GCC 12 used to print two
// -Wstringop-overflow false positives from save_parameters here.
#include <nde/io/npy.hpp>
#include <nde/io/npz.hpp>
#include <nde/io/parameter_file.hpp>

#include <filesystem>

namespace nde_io_strict {

template <class Scalar>
bool round_trips(const std::filesystem::path& directory) {
  using vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const nde::parameter_layout layout = {{"0.weight", {2, 3}, 0}, {"0.bias", {2}, 6}};
  const vector theta = vector::LinSpaced(8, Scalar(0), Scalar(1));
  nde::io::save_parameters(directory / "p.ndep", layout, theta);
  const auto set = nde::io::load_parameters<Scalar>(directory / "p.ndep");
  vector back(8);
  nde::io::load_parameters(directory / "p.ndep", layout, back);
  nde::io::npz_write_options options;
  options.compress = nde::io::detail::have_zlib;
  options.order = nde::io::npy_order::c;
  nde::io::save_npz(directory / "p.npz", layout, theta, options);
  nde::io::load_npz_into(directory / "p.npz", layout, back);
  const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic> m =
      Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>::Ones(3, 4);
  nde::io::save_npy(directory / "m.npy", m);
  nde::io::npy_array<Scalar> array;
  if (!nde::io::read_npy(directory / "m.npy", array)) return false;
  nde::io::npz_arrays<Scalar> arrays;
  if (!nde::io::read_npz(directory / "p.npz", arrays)) return false;
  const auto bytes = nde::io::encode_npz(arrays);
  const auto parameters = nde::io::encode_parameters(layout, theta);
  return set.values == theta && back == theta && !bytes.empty() && !parameters.empty() &&
         nde::io::write_npy(directory / "v.npy", theta).ok();
}

template bool round_trips<float>(const std::filesystem::path&);
template bool round_trips<double>(const std::filesystem::path&);

}  // namespace nde_io_strict
