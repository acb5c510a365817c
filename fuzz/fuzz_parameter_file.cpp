// Fuzzes the parameter-file reader. Beyond "no crash, no out-of-bounds read", the
// format is canonical: any input that decodes must re-encode to the same bytes.
// Each input is tried as is and with its trailing CRC-32 recomputed, so mutations
// get past the checksum and reach the header validation and payload decoding.
#include <nde/io/parameter_file.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace {

template <class Scalar>
void check_canonical(std::span<const std::uint8_t> bytes) {
  nde::io::parameter_set<Scalar> decoded;
  if (!nde::io::decode_parameters(bytes, decoded)) return;
  const auto encoded = nde::io::encode_parameters(decoded.layout, decoded.values);
  if (!std::equal(encoded.begin(), encoded.end(), bytes.begin(), bytes.end())) __builtin_trap();
}

void run(std::span<const std::uint8_t> bytes) {
  check_canonical<float>(bytes);
  check_canonical<double>(bytes);
  const nde::parameter_layout expected = {
      {"layer0.weight", {3, 2}, 0}, {"layer0.bias", {3}, 6}, {"scale", {}, 9}};
  Eigen::VectorXf values = Eigen::VectorXf::Zero(10);
  (void)nde::io::decode_parameters(bytes, expected, values);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run(std::span<const std::uint8_t>(data, size));
  if (size >= 14) {
    std::vector<std::uint8_t> fixed(data, data + size);
    const auto crc = nde::io::detail::crc32(std::span<const std::uint8_t>(fixed.data(), size - 4));
    for (int i = 0; i < 4; ++i)
      fixed[size - 4 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(crc >> (8 * i));
    run(fixed);
  }
  return 0;
}
