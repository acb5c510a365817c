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
  // The product of the shape; an empty array's other dimensions may multiply past 2^63.
  std::int64_t count = 1;
  bool empty = false;
  for (const auto dimension : array.shape) empty = empty || dimension == 0;
  if (!empty)
    for (const auto dimension : array.shape)
      if (__builtin_mul_overflow(count, dimension, &count)) __builtin_trap();
  if (empty) count = 0;
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
