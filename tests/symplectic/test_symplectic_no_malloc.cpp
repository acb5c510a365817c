// No heap allocation inside the stepping loop of the symplectic methods once sized, for
// dynamic vectors and batches: Eigen's runtime malloc guard and a counting operator new.
#define EIGEN_RUNTIME_NO_MALLOC
#include "systems.hpp"

#include <nde/solvers/implicit_midpoint.hpp>

#include <catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

// The replacement operators below pair malloc with free, which is correct; GCC's heuristic
// sees a new-expression inlined next to free() and would warn.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace symplectic_test;

namespace {

template <class Stepper, class State>
void check_no_allocation(const State& y0) {
  auto term = make_term<pendulum_force>(y0.rows() / 2, nde::coupling::second_order);
  const vecx theta = (vecx(3) << 1.0, 0.9, 0.2).finished();
  const nde::solve_options options{
      .save_at = {.t0 = true, .t1 = true, .steps = false, .ts = {0.33, 1.01, 2.5}},
      .controller = nde::constant_step{.dt = 0.01}};
  nde::integrator<Stepper, State> solver(Stepper{}, y0);
  nde::solution<double, State> out;
  const nde::params_view<double> view(theta);
  REQUIRE(solver.solve(term, 0.0, 3.0, y0, view, options, out) == nde::status::success);
  const State first = out.ys.back();
  allocations = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  const nde::status again = solver.solve(term, 0.0, 3.0, y0, view, options, out);
  Eigen::internal::set_is_malloc_allowed(true);
  const std::size_t counted = allocations;
  REQUIRE(again == nde::status::success);
  CHECK(counted == 0);
  CHECK(out.stats.accepted_steps == 300);
  CHECK(out.ys.back() == first);
}

}  // namespace

TEMPLATE_TEST_CASE("repeated symplectic solves allocate nothing once sized", "[symplectic][malloc]",
                   Eigen::VectorXd, Eigen::MatrixXd) {
  TestType y0 = TestType::Ones(6, TestType::ColsAtCompileTime == 1 ? 1 : 3);
  check_no_allocation<nde::symplectic_euler>(y0);
  check_no_allocation<nde::leapfrog>(y0);
  check_no_allocation<nde::forest_ruth>(y0);
  check_no_allocation<nde::rkn4>(y0);
  check_no_allocation<nde::implicit_midpoint>(y0);
}

TEST_CASE("the counter sees allocations (negative control)", "[symplectic][malloc]") {
  auto term = make_term<pendulum_force>(3, nde::coupling::separable);
  const vecx theta = unit_params();
  const vecx y0 = vecx::Ones(6);
  allocations = 0;
  auto fresh = nde::solve(term, nde::leapfrog{}, 0.0, 1.0, y0, theta,
                          {.controller = nde::constant_step{.dt = 0.1}});
  CHECK(fresh.success());
  CHECK(allocations > 0);
}
