/// \file
/// \brief Library version. Kept equal to `project(VERSION)` in CMakeLists.txt (a test checks).
#pragma once

/// \brief Major version number.
#define NDE_VERSION_MAJOR 0
/// \brief Minor version number.
#define NDE_VERSION_MINOR 1
/// \brief Patch version number.
#define NDE_VERSION_PATCH 0

namespace nde {

/// \brief The library version as `major.minor.patch`.
inline constexpr const char* version_string = "0.1.0";

}  // namespace nde
