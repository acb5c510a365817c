// Fuzzes the .npz (STORED zip of .npy) reader and the import into a layout.
#include <nde/io/npz.hpp>

#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  nde::io::npz_arrays<double> arrays;
  (void)nde::io::decode_npz(bytes, arrays);
  const nde::parameter_layout layout = {{"0.weight", {2, 3}, 0}, {"0.bias", {2}, 6}};
  Eigen::Matrix<float, 8, 1> values = Eigen::Matrix<float, 8, 1>::Zero();
  nde::io::npz_import_options options;
  options.allow_unused = true;
  (void)nde::io::decode_npz_into(bytes, layout, values, options);
  return 0;
}
