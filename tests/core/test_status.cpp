#include <nde/core/status.hpp>

#include <catch.hpp>

#include <set>
#include <string>

TEST_CASE("every status has a distinct name", "[core][status]") {
  const nde::status all[] = {
      nde::status::success,      nde::status::max_steps_reached, nde::status::step_size_too_small,
      nde::status::non_finite,   nde::status::invalid_input,     nde::status::reconstruction_failed,
      nde::status::not_converged};
  std::set<std::string> names;
  for (auto s : all) {
    const auto name = nde::to_string(s);
    CHECK(name != "unknown");
    names.emplace(name);
  }
  CHECK(names.size() == std::size(all));
}

TEST_CASE("nde::error carries its code and names it in what()", "[core][status]") {
  const nde::error e(nde::status::invalid_input, "rtol must be positive");
  CHECK(e.code() == nde::status::invalid_input);
  CHECK(std::string(e.what()) == "invalid_input: rtol must be positive");
}
