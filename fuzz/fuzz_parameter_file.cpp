// Fuzzes the parameter-file reader. Beyond "no crash, no out-of-bounds read", the
// format is canonical: any input that decodes must re-encode to the same bytes.
#include <nde/io/parameter_file.hpp>

#include <algorithm>
#include <cstdint>
#include <span>

namespace {

template <class Scalar>
void check_canonical(std::span<const std::uint8_t> bytes) {
  nde::io::parameter_set<Scalar> decoded;
  if (!nde::io::decode_parameters(bytes, decoded)) return;
  const auto encoded = nde::io::encode_parameters(decoded.layout, decoded.values);
  if (!std::equal(encoded.begin(), encoded.end(), bytes.begin(), bytes.end())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  check_canonical<float>(bytes);
  check_canonical<double>(bytes);
  const nde::parameter_layout expected = {{"layer0.weight", {3, 2}, 0}, {"layer0.bias", {3}, 6}, {"scale", {}, 9}};
  Eigen::VectorXf values = Eigen::VectorXf::Zero(10);
  (void)nde::io::decode_parameters(bytes, expected, values);
  return 0;
}
