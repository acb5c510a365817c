# Configures, builds and runs the consumer project in one MODE:
#   find_package       install this build tree into a temporary prefix, find_package(nde) from it;
#   add_subdirectory   add_subdirectory(<nde source>);
#   without_tests      configure nde afresh with NDE_BUILD_TESTS=OFF and Catch2 made unfindable,
#                      install it, consume it through find_package and (where pkg-config is
#                      present) through `pkg-config --cflags nde`;
#   vcpkg / conan      install nde with packaging/vcpkg or packaging/conan and consume it through
#                      the tool's toolchain file; prints "SKIP:" (the test is then reported as
#                      skipped) when the tool is not on PATH.
# Invoked by CTest with -DMODE=... -DNDE_SOURCE_DIR=... -DNDE_BINARY_DIR=... -DWORK_DIR=...
# -DCXX_COMPILER=...
cmake_minimum_required(VERSION 3.21)

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(JOIN " " cmd ${ARGN})
    message(FATAL_ERROR "step failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(consumer_src ${CMAKE_CURRENT_LIST_DIR}/consumer)
set(consumer_build ${WORK_DIR}/build)
set(configure_args -S ${consumer_src} -B ${consumer_build} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  -DCMAKE_BUILD_TYPE=Release)
set(strict_flags -Wall -Wextra -Wconversion -Wsign-conversion -Werror)
# nde's own options for a build that only installs: no tests, examples, benchmarks or docs.
set(install_only_options -DNDE_BUILD_TESTS=OFF -DNDE_BUILD_EXAMPLES=OFF -DNDE_BUILD_BENCHMARKS=OFF
  -DNDE_BUILD_DOCS=OFF)

if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  run_step(${CMAKE_COMMAND} --install ${NDE_BINARY_DIR} --prefix ${prefix})
  if(NOT EXISTS ${prefix}/include/nde/nde.hpp)
    message(FATAL_ERROR "install did not place include/nde/nde.hpp under ${prefix}")
  endif()
  list(APPEND configure_args -DNDE_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args -DNDE_CONSUMER_MODE=add_subdirectory -DNDE_SOURCE_DIR=${NDE_SOURCE_DIR})
elseif(MODE STREQUAL "without_tests")
  set(prefix ${WORK_DIR}/prefix)
  run_step(${CMAKE_COMMAND} -S ${NDE_SOURCE_DIR} -B ${WORK_DIR}/nde-build
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} ${install_only_options} -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON)
  run_step(${CMAKE_COMMAND} --install ${WORK_DIR}/nde-build --prefix ${prefix})
  set(pc_file ${prefix}/share/pkgconfig/nde.pc)
  if(NOT EXISTS ${pc_file})
    message(FATAL_ERROR "install did not place share/pkgconfig/nde.pc under ${prefix}")
  endif()
  find_program(PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
  if(PKG_CONFIG_EXECUTABLE)
    set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --cflags --libs nde RESULT_VARIABLE rc
      OUTPUT_VARIABLE pc_flags ERROR_VARIABLE pc_err OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "pkg-config --cflags --libs nde failed: ${pc_err}")
    endif()
    separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
    # Eigen's own headers are not -Wsign-conversion clean: its -I (from eigen3.pc) becomes
    # -isystem, as CMake does for imported targets; nde's -I stays, so its warnings show.
    set(flags "")
    foreach(flag IN LISTS pc_flags)
      string(FIND "${flag}" "-I${prefix}" at)
      if(flag MATCHES "^-I(.+)" AND NOT at EQUAL 0)
        set(flag -isystem ${CMAKE_MATCH_1})
      endif()
      list(APPEND flags ${flag})
    endforeach()
    set(pc_flags ${flags})
    run_step(${CXX_COMPILER} -std=c++20 ${strict_flags} ${consumer_src}/minimal.cpp ${pc_flags}
      -o ${WORK_DIR}/pc_consumer)
    run_step(${WORK_DIR}/pc_consumer)
    message(STATUS "pkg-config consumer built and ran (flags: ${pc_flags})")
  else()
    message(STATUS "pkg-config not found: nde.pc installed but not exercised")
  endif()
  list(APPEND configure_args -DNDE_CONSUMER_MODE=find_package -DNDE_CONSUMER_MINIMAL=ON
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
    -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON)
elseif(MODE STREQUAL "vcpkg")
  find_program(VCPKG_EXECUTABLE vcpkg)
  if(NOT VCPKG_EXECUTABLE OR NOT DEFINED ENV{VCPKG_ROOT})
    message("SKIP: vcpkg not on PATH or VCPKG_ROOT not set; packaging/vcpkg not exercised")
    return()
  endif()
  set(installed ${WORK_DIR}/vcpkg_installed)
  # The port builds from this source tree (NDE_SOURCE_DIR, passed through the scrubbed
  # environment) rather than a release tarball.
  set(ENV{NDE_SOURCE_DIR} ${NDE_SOURCE_DIR})
  set(ENV{VCPKG_KEEP_ENV_VARS} NDE_SOURCE_DIR)
  run_step(${VCPKG_EXECUTABLE} install nde --classic --overlay-ports=${NDE_SOURCE_DIR}/packaging/vcpkg
    --x-install-root=${installed})
  list(APPEND configure_args -DNDE_CONSUMER_MODE=toolchain -DNDE_CONSUMER_MINIMAL=ON
    -DCMAKE_TOOLCHAIN_FILE=$ENV{VCPKG_ROOT}/scripts/buildsystems/vcpkg.cmake
    -DVCPKG_MANIFEST_MODE=OFF -DVCPKG_INSTALLED_DIR=${installed})
elseif(MODE STREQUAL "conan")
  find_program(CONAN_EXECUTABLE conan)
  if(NOT CONAN_EXECUTABLE)
    message("SKIP: conan not on PATH; packaging/conan not exercised")
    return()
  endif()
  set(ENV{CONAN_HOME} ${WORK_DIR}/conan_home)
  set(conan_settings -s compiler.cppstd=20 -s build_type=Release)
  run_step(${CONAN_EXECUTABLE} profile detect --exist-ok)
  run_step(${CONAN_EXECUTABLE} create ${NDE_SOURCE_DIR}/packaging/conan ${conan_settings}
    --build=missing)
  run_step(${CONAN_EXECUTABLE} install --requires=nde/0.1.0 ${conan_settings} --build=missing
    -g CMakeDeps -g CMakeToolchain --output-folder=${WORK_DIR}/conan)
  list(APPEND configure_args -DNDE_CONSUMER_MODE=toolchain -DNDE_CONSUMER_MINIMAL=ON
    -DNDE_CONSUMER_NO_REFUSALS=ON -DCMAKE_TOOLCHAIN_FILE=${WORK_DIR}/conan/conan_toolchain.cmake)
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

run_step(${CMAKE_COMMAND} ${configure_args})
run_step(${CMAKE_COMMAND} --build ${consumer_build})
run_step(${consumer_build}/consumer ${WORK_DIR})
message(STATUS "consumer (${MODE}) configured, built and ran")
