// Catch2 compatibility: the tests include this one header and build against
// Catch2 v2 (Debian's 2.13, single header) or Catch2 v3 (split headers).
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
