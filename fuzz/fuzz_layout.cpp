// Fuzzes layouts against vectors: the shared layout check, the initialisers, the parameter-file
// writer and reader, and the .npz import into a layout. Input: one byte n (vector size), one
// byte B (blocks, at most 8), then per block a rank byte (at most 4), that many 8-byte
// dimensions and an 8-byte offset (little-endian int64 v: if v & 3 is 0, v itself, so that
// negative, huge and wrapping values occur; else (v >> 2) % 7 for a dimension, % 64 for an offset);
// the remaining bytes are an .npz archive. Whatever the layout, nothing may be written outside
// the vector: a layout either passes nde::layout_problem or every consumer rejects it.
#include <nde/core/parameter_layout.hpp>
#include <nde/io/npz.hpp>
#include <nde/io/parameter_file.hpp>
#include <nde/nn/initialisers.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <span>

namespace {

bool take(std::span<const std::uint8_t>& bytes, std::int64_t& value) {
  if (bytes.size() < 8) return false;
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= std::uint64_t(bytes[i]) << (8 * i);
  value = static_cast<std::int64_t>(bits);
  bytes = bytes.subspan(8);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  if (bytes.size() < 2) return 0;
  const std::int64_t n = bytes[0];
  const std::size_t blocks = bytes[1] % 9;
  bytes = bytes.subspan(2);
  nde::parameter_layout layout;
  for (std::size_t b = 0; b < blocks && !bytes.empty(); ++b) {
    nde::parameter_block block;
    block.name = b % 2 == 0 ? std::to_string(b / 2) + ".weight" : std::to_string(b / 2) + ".bias";
    const std::size_t rank = bytes[0] % 5;
    bytes = bytes.subspan(1);
    for (std::size_t d = 0; d < rank; ++d) {
      std::int64_t dimension = 0;
      if (!take(bytes, dimension)) break;
      // Low bits not both 0: a small dimension, so that valid layouts occur; else the raw value.
      block.shape.push_back((dimension & 3) != 0 ? (dimension >> 2) % 7 : dimension);
    }
    std::int64_t offset = 0;
    if (!take(bytes, offset)) offset = 0;
    block.offset = (offset & 3) != 0 ? (offset >> 2) % 64 : offset;
    layout.push_back(std::move(block));
  }

  Eigen::VectorXd values = Eigen::VectorXd::Constant(n, 7.0);
  const bool within = !nde::layout_problem(layout, n, nde::layout_fit::within);
  const bool exact = !nde::layout_problem(layout, n, nde::layout_fit::exact);
  if (exact && !within) std::abort();  // an exact tiling lies within the vector

  std::mt19937_64 engine(1);
  try {
    nde::nn::init_pytorch_default(layout, values, engine);
    nde::nn::init_kaiming_normal(layout, values, engine);
    if (!exact) std::abort();  // accepted a layout the check refuses
  } catch (const nde::error&) {
    if (exact) std::abort();
  }
  try {
    const auto file = nde::io::encode_parameters(layout, values);
    nde::io::parameter_set<double> decoded;
    if (!nde::io::decode_parameters(file, decoded)) std::abort();  // written, must read back
    Eigen::VectorXd again = Eigen::VectorXd::Zero(n);
    if (!nde::io::decode_parameters(file, layout, again)) std::abort();
  } catch (const nde::error&) {
  }

  nde::io::npz_import_options options;
  options.allow_unused = true;
  Eigen::VectorXf into = Eigen::VectorXf::Zero(n);
  const auto imported = nde::io::decode_npz_into(bytes, layout, into, options);
  if (imported.ok() && !within) std::abort();
  Eigen::VectorXd parameters = Eigen::VectorXd::Zero(n);
  (void)nde::io::decode_parameters(bytes, layout, parameters);
  return 0;
}
