# vcpkg overlay port for nde (header-only): `vcpkg install nde --overlay-ports=packaging/vcpkg`.
# Builds from the source tree named by NDE_SOURCE_DIR when set (the packaging:vcpkg test passes
# it through VCPKG_KEEP_ENV_VARS), otherwise from the release tarball. Not run here: vcpkg is not
# installed on the Debian machines nde's CI uses; packaging:vcpkg runs where it is on PATH.
set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is enough

if(DEFINED ENV{NDE_SOURCE_DIR})
  set(SOURCE_PATH "$ENV{NDE_SOURCE_DIR}")
else()
  vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO nde-authors/nde
    REF "v${VERSION}"
    SHA512 0  # fill in on release: vcpkg prints the expected hash
    HEAD_REF main)
endif()

vcpkg_check_features(OUT_FEATURE_OPTIONS feature_options FEATURES zlib NDE_WITH_ZLIB)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${feature_options}
    -DNDE_BUILD_TESTS=OFF
    -DNDE_BUILD_EXAMPLES=OFF
    -DNDE_BUILD_BENCHMARKS=OFF
    -DNDE_BUILD_DOCS=OFF
    -DNDE_INSTALL=ON)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/nde/cmake)
vcpkg_fixup_pkgconfig()

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/lib")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
