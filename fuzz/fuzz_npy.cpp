// Fuzzes the .npy reader: no crash, no out-of-bounds read, and a decoded array's
// value count always equals the product of its shape.
#include <nde/io/npy.hpp>

#include <cstdint>
#include <span>

namespace {

template <class Scalar>
void check(std::span<const std::uint8_t> bytes) {
  nde::io::npy_array<Scalar> array;
  if (!nde::io::decode_npy(bytes, array)) return;
  std::int64_t count = 1;
  for (const auto dimension : array.shape) count *= dimension;
  if (count != array.values.size()) __builtin_trap();
  if (array.shape.size() <= 2 && array.matrix().size() != count) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  check<float>(bytes);
  check<double>(bytes);
  return 0;
}
