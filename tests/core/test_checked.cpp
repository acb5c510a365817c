// Checked size arithmetic (issue 17): shapes, offsets and layouts that overflow or do not fit.
#include <nde/core/checked.hpp>
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

TEST_CASE("checked_add, checked_mul and checked_size report overflow instead of wrapping",
          "[core][checked]") {
  CHECK(nde::checked_add<std::int64_t>(max64 - 1, 1) == max64);
  CHECK_FALSE(nde::checked_add<std::int64_t>(max64, 1));
  CHECK_FALSE(nde::checked_add<std::int64_t>(-max64 - 1, -1));
  CHECK(nde::checked_mul<std::int64_t>(big, big / 4) == max64 / 2 + 1);
  CHECK_FALSE(nde::checked_mul<std::int64_t>(big, big / 2));
  CHECK_FALSE(nde::checked_mul<std::int64_t>(big, big));
  CHECK_FALSE(nde::checked_mul<std::uint64_t>(std::uint64_t{1} << 32, std::uint64_t{1} << 32));
  const std::int64_t shape[] = {3, 4, 5};
  CHECK(nde::checked_size(shape) == 60);
  CHECK(nde::checked_size(shape, 59) == std::nullopt);
  CHECK(nde::checked_size({}) == 1);
  const std::int64_t wraps[] = {big, big};
  CHECK_FALSE(nde::checked_size(wraps));
  const std::int64_t negative[] = {2, -3};
  CHECK_FALSE(nde::checked_size(negative));
  const std::int64_t empty_wide[] = {0, max64};
  CHECK(nde::checked_size(empty_wide) == 0);
  const std::int64_t empty_overflowing[] = {big, 0, big};
  CHECK_FALSE(nde::checked_size(empty_overflowing));
  CHECK_THROWS_WITH(nde::add_or_throw<std::int64_t>(max64, 2, "the offset"),
                    Catch::Contains("the offset overflows"));
  CHECK_THROWS_WITH(nde::size_or_throw(negative, "block 'x'"),
                    Catch::Contains("block 'x'") && Catch::Contains("negative"));
}

TEST_CASE("layout_problem: every block inside, no overflow, no overlap; exact means a tiling",
          "[core][checked]") {
  using nde::layout_fit;
  const nde::parameter_layout net = {{"w", {2, 3}, 0}, {"b", {2}, 6}, {"s", {}, 8}};
  CHECK_FALSE(nde::layout_problem(net, 9, layout_fit::exact));
  CHECK_FALSE(nde::layout_problem(net, 9, layout_fit::within));
  CHECK_FALSE(nde::layout_problem(net, 20, layout_fit::within));  // room to spare
  CHECK_THAT(*nde::layout_problem(net, 20, layout_fit::exact),
             Catch::Contains("covers 9 scalars, the parameter vector has 20"));
  CHECK_THAT(*nde::layout_problem(net, 8), Catch::Contains("'s'") && Catch::Contains("size 8"));
  // Reordered offsets are fine within, not exact; a gap is fine within.
  const nde::parameter_layout reordered = {{"b", {2}, 6}, {"w", {2, 3}, 0}};
  CHECK_FALSE(nde::layout_problem(reordered, 8, layout_fit::within));
  CHECK_THAT(*nde::layout_problem(reordered, 8, layout_fit::exact),
             Catch::Contains("contiguous and in offset order"));
  CHECK_FALSE(nde::layout_problem({{"a", {2}, 0}, {"b", {2}, 5}}, 7, layout_fit::within));
  // Overlap, negative offsets, overflowing offsets, bad shapes; empty blocks never overlap.
  CHECK_THAT(*nde::layout_problem({{"a", {3}, 0}, {"b", {2}, 2}}, 8), Catch::Contains("overlap"));
  CHECK_FALSE(nde::layout_problem({{"a", {3}, 0}, {"e", {0}, 1}}, 3));
  CHECK(nde::layout_problem({{"a", {1}, -1}}, 8));
  CHECK(nde::layout_problem({{"a", {2}, max64}}, 8));
  CHECK_THAT(*nde::layout_problem({{"a", {big, big}, 0}}, 8), Catch::Contains("overflows"));
  CHECK_THAT(*nde::layout_problem({{"a", {-1, 2}, 0}}, 8), Catch::Contains("negative"));
  CHECK(nde::layout_problem({}, -1));
  CHECK_FALSE(nde::layout_problem({}, 0, layout_fit::exact));
  CHECK_THROWS_WITH(nde::require_layout_fits({{"a", {3}, 0}}, 2, layout_fit::exact, "ctx"),
                    Catch::StartsWith("invalid_input: ctx: layout block 'a'"));
}
