// Checked size arithmetic (issue 17): shapes, offsets and layouts that overflow or do not fit.
#include <nde/core/parameter_layout.hpp>
#include <nde/core/status.hpp>

#include <catch.hpp>

#include <cstdint>
#include <limits>

namespace {
constexpr std::int64_t big = std::int64_t{1} << 32;
constexpr std::int64_t max64 = std::numeric_limits<std::int64_t>::max();
}  // namespace

TEST_CASE("parameter_block::size refuses shapes that overflow or are negative", "[core][checked]") {
  CHECK(nde::parameter_block{"w", {3, 2}, 0}.size() == 6);
  CHECK(nde::parameter_block{"s", {}, 0}.size() == 1);
  CHECK(nde::parameter_block{"e", {0, 5}, 0}.size() == 0);
  CHECK_THROWS_WITH((nde::parameter_block{"w", {big, big}, 0}.size()),
                    Catch::Contains("'w'") && Catch::Contains("overflows"));
  CHECK_THROWS_WITH((nde::parameter_block{"n", {-2, 3}, 0}.size()),
                    Catch::Contains("'n'") && Catch::Contains("negative"));
  CHECK_THROWS_AS((nde::parameter_block{"z", {0, big, big}, 0}.size()), nde::error);
  CHECK_THROWS_AS(nde::total_size({{"a", {max64}, 0}, {"b", {2}, 0}}), nde::error);
}
