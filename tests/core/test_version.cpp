#include <nde/nde.hpp>

#include <catch.hpp>

#include <string>

TEST_CASE("header version equals the CMake project version", "[core][version]") {
  CHECK(std::string(nde::version_string) == NDE_PROJECT_VERSION);
  CHECK(std::to_string(NDE_VERSION_MAJOR) + "." + std::to_string(NDE_VERSION_MINOR) + "." +
            std::to_string(NDE_VERSION_PATCH) ==
        NDE_PROJECT_VERSION);
}
