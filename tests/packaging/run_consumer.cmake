# Configures, builds and runs the consumer project in MODE find_package or add_subdirectory.
# Invoked by CTest with -DMODE=... -DNDE_SOURCE_DIR=... -DNDE_BINARY_DIR=... -DWORK_DIR=... -DCXX_COMPILER=...
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
  -DCMAKE_BUILD_TYPE=Release -DNDE_CONSUMER_MODE=${MODE})

if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  run_step(${CMAKE_COMMAND} --install ${NDE_BINARY_DIR} --prefix ${prefix})
  if(NOT EXISTS ${prefix}/include/nde/nde.hpp)
    message(FATAL_ERROR "install did not place include/nde/nde.hpp under ${prefix}")
  endif()
  list(APPEND configure_args -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args -DNDE_SOURCE_DIR=${NDE_SOURCE_DIR})
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

run_step(${CMAKE_COMMAND} ${configure_args})
run_step(${CMAKE_COMMAND} --build ${consumer_build})
run_step(${consumer_build}/consumer)
message(STATUS "consumer (${MODE}) configured, built and ran")
