// No heap allocation inside the stepping loop once the workspace and outputs exist, for
// dynamic sizes: checked two ways, with Eigen's runtime malloc guard and with a counting
// global operator new (which also sees std::vector / std::string growth).
#define EIGEN_RUNTIME_NO_MALLOC
#include <nde/nde.hpp>

#include <catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

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

namespace {

// A dynamic-size linear field with a preallocated matrix: y' = A y, no allocation per call.
struct linear_field {
  Eigen::MatrixXd a;
  template <class State>
  void operator()(double, const State& y, State& dydt) const {
    dydt.noalias() = a * y;
  }
};

linear_field make_field(Eigen::Index n) {
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(n, n);
  for (Eigen::Index i = 0; i < n; ++i) {
    a(i, i) = -0.1 * double(i + 1);
    if (i + 1 < n) {
      a(i, i + 1) = 1.0;
      a(i + 1, i) = -1.0;
    }
  }
  return {a};
}

template <class Stepper, class State>
void check_no_allocation(const State& y0, const nde::solve_options& options) {
  auto f = make_field(y0.rows());
  nde::integrator<Stepper, State> solver(Stepper{}, y0);
  nde::solution<double, State> out;
  REQUIRE(solver.solve(f, 0.0, 3.0, y0, options, out) == nde::status::success);  // sizes everything
  const State first = out.ys.back();
  const std::size_t steps = out.stats.accepted_steps;

  allocations = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  const nde::status again = solver.solve(f, 0.0, 3.0, y0, options, out);
  Eigen::internal::set_is_malloc_allowed(true);
  const std::size_t counted = allocations;
  REQUIRE(again == nde::status::success);
  CHECK(counted == 0);
  CHECK(out.stats.accepted_steps == steps);
  CHECK(out.ys.back() == first);
}

}  // namespace

TEMPLATE_TEST_CASE("repeated solves allocate nothing once sized (dynamic vectors and batches)",
                   "[integrate][malloc]", Eigen::VectorXd, Eigen::MatrixXd) {
  TestType y0 = TestType::Ones(6, TestType::ColsAtCompileTime == 1 ? 1 : 3);
  const nde::solve_options adaptive{
      .save_at = {.t0 = true, .t1 = true, .steps = false, .ts = {0.1, 0.77, 2.5}},
      .controller = nde::pi_controller{.rtol = 1e-8, .atol = 1e-10}};
  const nde::solve_options constant{
      .save_at = {.t0 = false, .t1 = true, .steps = false, .ts = {0.33, 1.01}},
      .controller = nde::constant_step{.dt = 0.01}};
  check_no_allocation<nde::dopri5>(y0, adaptive);  // native dense output, FSAL
  check_no_allocation<nde::tsit5>(y0, adaptive);
  check_no_allocation<nde::bosh3>(y0, adaptive);  // Hermite dense output
  check_no_allocation<nde::heun>(y0, adaptive);   // not FSAL: f(t1, y1) evaluated per step
  check_no_allocation<nde::rk4>(y0, constant);
}

TEST_CASE("repeated step() calls allocate nothing", "[solvers][malloc]") {
  auto f = make_field(8);
  const nde::dopri5 method;
  Eigen::VectorXd y = Eigen::VectorXd::Ones(8), y_next(8);
  auto ws = method.make_workspace(y);
  allocations = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  REQUIRE(method.init(f, 0.0, y, ws) == nde::status::success);
  double t = 0;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(method.step(f, t, t + 0.01, y, y_next, ws) == nde::status::success);
    method.advance(ws);
    y.swap(y_next);
    t += 0.01;
  }
  Eigen::internal::set_is_malloc_allowed(true);
  CHECK(allocations == 0);
}

TEST_CASE("the allocation counter does see allocations (negative control)", "[integrate][malloc]") {
  auto f = make_field(6);
  const Eigen::VectorXd y0 = Eigen::VectorXd::Ones(6);
  allocations = 0;
  auto fresh = nde::solve(f, nde::dopri5{}, 0.0, 1.0, y0);  // new workspace and outputs
  CHECK(fresh.success());
  CHECK(allocations > 0);
}

namespace {

// A differentiable solve with fixed-size states: the forward pass records the tape and
// allocates nothing once the tape has grown to the step count; the backward pass may allocate.
template <class State, class Stepper>
void check_differentiable_forward(const nde::solve_options& options) {
  using field = nde::linear_field<State>;
  nde::ode_term<field> term{field(State::RowsAtCompileTime)};
  Eigen::VectorXd theta(State::RowsAtCompileTime * State::RowsAtCompileTime);
  for (Eigen::Index i = 0; i < theta.size(); ++i) theta[i] = 0.3 * std::sin(double(i + 1));
  State y0 = State::Ones();
  nde::differentiable_integrator<Stepper, State> solver(Stepper{}, y0);
  nde::solution<double, State> out;
  const Eigen::Ref<const Eigen::VectorXd> view(theta);
  REQUIRE(solver.solve(term, 0.0, 2.0, y0, view, options, out) == nde::status::success);
  const State first = out.ys.back();
  allocations = 0;
  Eigen::internal::set_is_malloc_allowed(false);
  const nde::status again = solver.solve(term, 0.0, 2.0, y0, view, options, out);
  Eigen::internal::set_is_malloc_allowed(true);
  const std::size_t counted = allocations;
  REQUIRE(again == nde::status::success);
  CHECK(counted == 0);
  CHECK(out.ys.back() == first);
  // The tape is usable: backward runs (and may allocate); inference refuses.
  std::vector<State> cot(out.ys.size(), State::Ones());
  if (std::holds_alternative<nde::inference>(options.adjoint)) {
    CHECK_THROWS(solver.backward(term, std::span<const State>(cot)));
  } else {
    CHECK(solver.backward(term, std::span<const State>(cot)).status == nde::status::success);
  }
}

}  // namespace

TEST_CASE("the differentiable solve's forward pass allocates nothing for fixed sizes",
          "[adjoint][malloc]") {
  const nde::solve_options base{
      .save_at = {.t0 = true, .t1 = true, .steps = false, .ts = {0.1, 0.77, 1.5}},
      .controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-10}};
  for (const nde::adjoint_method& m :
       {nde::adjoint_method(nde::inference{}), nde::adjoint_method(nde::discrete_adjoint{}),
        nde::adjoint_method(nde::discrete_adjoint{.max_checkpoints = 4}),
        nde::adjoint_method(nde::backsolve_adjoint{}),
        nde::adjoint_method(nde::checkpointed_adjoint{})}) {
    INFO("method index " << m.index());
    nde::solve_options o = base;
    o.adjoint = m;
    check_differentiable_forward<Eigen::Vector3d, nde::dopri5>(o);
    check_differentiable_forward<Eigen::Vector2d, nde::bosh3>(o);
  }
}
