// The shared pieces of the implicit methods: the Jacobian from each source, ∂f/∂t, and the LU
// workspace's solves by M and Mᵀ and its singularity test.
#include <nde/integrate/solve.hpp>
#include <nde/linalg/jacobian.hpp>
#include <nde/linalg/lu.hpp>
#include <nde/terms/autodiff_field.hpp>
#include <nde/terms/ode_term.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>

namespace {

using vec = Eigen::VectorXd;
using mat = Eigen::MatrixXd;

// A non-autonomous field, f = (−k1 y0 + k3 y1 y2 + sin t, k1 y0 − k2 y1² − k3 y1 y2, k2 y1² t),
// written once over its scalar.
auto robertson_like = [](auto t, const auto& y, const auto& theta, auto& dydt) {
  using std::sin;
  dydt[0] = -theta[0] * y[0] + theta[2] * y[1] * y[2] + sin(t);
  dydt[1] = theta[0] * y[0] - theta[1] * y[1] * y[1] - theta[2] * y[1] * y[2];
  dydt[2] = theta[1] * y[1] * y[1] * t;
};
using ad_field = nde::autodiff_field<vec, decltype(robertson_like)>;

// The same field with only a value (finite differences are the only source).
struct plain {
  ad_field inner{robertson_like, 3};
  [[nodiscard]] Eigen::Index num_params() const { return 3; }
  void operator()(double t, const vec& y, nde::params_view<double> theta, vec& dydt) {
    inner(t, y, theta, dydt);
  }
};

// The same field offering a jvp but no dense Jacobian.
struct jvp_only : plain {
  void jvp(double t, const vec& y, nde::params_view<double> theta, const vec& y_dot,
           nde::params_view<double> theta_dot, double t_dot, vec& out) {
    inner.jvp(t, y, theta, y_dot, theta_dot, t_dot, out);
  }
};

struct decay {
  static constexpr bool autonomous = true;
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  void operator()(double, const vec& y, nde::params_view<double>, vec& dydt) const { dydt = -y; }
};

const vec y_at = (vec(3) << 0.7, 2e-3, 0.3).finished();
const vec theta_at = (vec(3) << 0.04, 3.0, 1.5).finished();

template <class Field>
mat jacobian_of(Field field, nde::jacobian_source source, double t, std::size_t* jacobians) {
  auto term = nde::ode_term<Field>(std::move(field));
  std::size_t evaluations = 0, jvps = 0;
  nde::detail::counting_term<decltype(term)> counted{&term, &evaluations, &jvps, jacobians};
  vec f(3);
  counted.vf(t, y_at, nde::params_view<double>(theta_at), f);
  mat jac;
  nde::jacobian_workspace<vec> ws;
  REQUIRE(nde::state_jacobian(counted, t, y_at, nde::params_view<double>(theta_at), f, jac, ws,
                              source) == nde::status::success);
  return jac;
}

}  // namespace

TEST_CASE("the Jacobian is the same from the term, from jvps and from finite differences",
          "[linalg][jacobian]") {
  const double t = 0.4;
  std::size_t jacobians = 0;
  const mat exact =
      jacobian_of(ad_field(robertson_like, 3), nde::jacobian_source::automatic, t, &jacobians);
  CHECK(jacobians == 1);  // the term's own jacobian() was used
  // Hand-derived entries.
  CHECK(exact(0, 0) == Catch::Approx(-0.04).epsilon(1e-15));
  CHECK(exact(1, 1) == Catch::Approx(-2 * 3.0 * 2e-3 - 1.5 * 0.3).epsilon(1e-15));
  CHECK(exact(2, 1) == Catch::Approx(2 * 3.0 * 2e-3 * t).epsilon(1e-15));
  const mat from_jvp = jacobian_of(jvp_only{}, nde::jacobian_source::automatic, t, &jacobians);
  CHECK(jacobians == 1);
  CHECK((from_jvp - exact).cwiseAbs().maxCoeff() == 0.0);
  const mat fd = jacobian_of(plain{}, nde::jacobian_source::automatic, t, &jacobians);
  CHECK((fd - exact).cwiseAbs().maxCoeff() < 1e-6);
  CHECK((fd - exact).cwiseAbs().maxCoeff() > 0.0);  // really differences
  const mat forced = jacobian_of(ad_field(robertson_like, 3),
                                 nde::jacobian_source::finite_differences, t, &jacobians);
  CHECK(jacobians == 1);
  CHECK((forced - fd).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("∂f/∂t by jvp and by a difference in t; zero for an autonomous term",
          "[linalg][jacobian]") {
  const double t = 0.4;
  const vec expected = (vec(3) << std::cos(t), 0.0, 3.0 * 2e-3 * 2e-3).finished();
  nde::jacobian_workspace<vec> ws;
  vec f(3), dfdt;
  auto exact_term = nde::ode_term<jvp_only>(jvp_only{});
  exact_term.vf(t, y_at, nde::params_view<double>(theta_at), f);
  REQUIRE(nde::time_derivative(exact_term, t, y_at, nde::params_view<double>(theta_at), f, dfdt,
                               ws) == nde::status::success);
  CHECK((dfdt - expected).cwiseAbs().maxCoeff() < 1e-15);
  auto fd_term = nde::ode_term<plain>(plain{});
  REQUIRE(nde::time_derivative(fd_term, t, y_at, nde::params_view<double>(theta_at), f, dfdt, ws) ==
          nde::status::success);
  CHECK((dfdt - expected).cwiseAbs().maxCoeff() < 1e-7);
  auto autonomous = nde::make_ode_term([](double, const vec& y) -> vec { return -y; });
  static_assert(decltype(autonomous)::autonomous == false);
  auto decay_term = nde::ode_term<decay>(decay{});
  std::size_t evaluations = 0, jvps = 0;
  nde::detail::counting_term<decltype(decay_term)> counted{&decay_term, &evaluations, &jvps};
  static_assert(decltype(counted)::autonomous);
  dfdt.setOnes();
  const vec none(0);
  REQUIRE(nde::time_derivative(counted, t, y_at, nde::params_view<double>(none), f, dfdt, ws) ==
          nde::status::success);
  CHECK(dfdt.isZero(0.0));
  CHECK(evaluations == 0);
}

TEST_CASE("a batch state's Jacobian is block diagonal in the flattened state",
          "[linalg][jacobian]") {
  struct columnwise {
    [[nodiscard]] Eigen::Index num_params() const { return 0; }
    void operator()(double, const mat& y, nde::params_view<double>, mat& dydt) const {
      dydt = y.array().square().matrix();  // each entry depends on itself only
      dydt.row(0) += y.row(1);
    }
  };
  auto term = nde::ode_term<columnwise>(columnwise{});
  const mat y = (mat(2, 3) << 1, 2, 3, 4, 5, 6).finished();
  mat f(2, 3), jac;
  const vec none(0);
  term.vf(0.0, y, nde::params_view<double>(none), f);
  nde::jacobian_workspace<mat> ws;
  REQUIRE(nde::state_jacobian(term, 0.0, y, nde::params_view<double>(none), f, jac, ws) ==
          nde::status::success);
  REQUIRE(jac.rows() == 6);
  mat expected = mat::Zero(6, 6);
  for (Eigen::Index c = 0; c < 3; ++c) {
    expected(2 * c, 2 * c) = 2 * y(0, c);
    expected(2 * c, 2 * c + 1) = 1;
    expected(2 * c + 1, 2 * c + 1) = 2 * y(1, c);
  }
  CHECK((jac - expected).cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("dense_lu solves with M and Mᵀ and reports singular and non-finite matrices",
          "[linalg][lu]") {
  const mat m = (mat(3, 3) << 0.0, 2.0, 1.0, 1.0, -1.0, 4.0, 3.0, 0.5, -2.0).finished();
  nde::dense_lu<double> lu(3);
  REQUIRE(lu.factor(m) == nde::status::success);
  CHECK(lu.valid());
  const vec b = (vec(3) << 1.0, -2.0, 0.5).finished();
  vec x = b;
  lu.solve_in_place(x);
  CHECK((m * x - b).cwiseAbs().maxCoeff() < 1e-14);
  x = b;
  lu.solve_transpose_in_place(x);
  CHECK((m.transpose() * x - b).cwiseAbs().maxCoeff() < 1e-14);

  mat singular = m;
  singular.row(2) = singular.row(0) + 2 * singular.row(1);
  CHECK(lu.factor(singular) == nde::status::not_converged);
  CHECK_THAT(lu.problem(), Catch::Contains("singular"));
  CHECK_FALSE(lu.valid());
  CHECK_THROWS_WITH(lu.solve_in_place(x), Catch::Contains("no valid factorisation"));
  mat nan = m;
  nan(1, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK(lu.factor(nan) == nde::status::non_finite);
  CHECK(lu.factor(mat(2, 3)) == nde::status::invalid_input);
  REQUIRE(lu.factor(m) == nde::status::success);
  vec wrong(2);
  CHECK_THROWS_WITH(lu.solve_in_place(wrong), Catch::Contains("size 2"));
}

TEST_CASE("a Jacobian of the wrong size is a clear error", "[linalg][jacobian]") {
  struct wrong_size {
    [[nodiscard]] Eigen::Index num_params() const { return 0; }
    void operator()(double, const vec& y, nde::params_view<double>, vec& dydt) const { dydt = -y; }
    void jacobian(double, const vec&, nde::params_view<double>, mat& jac) const {
      jac = mat::Identity(2, 2);
    }
  };
  auto term = nde::ode_term<wrong_size>(wrong_size{});
  const vec y = vec::Ones(3), none(0);
  vec f(3);
  mat jac;
  nde::jacobian_workspace<vec> ws;
  CHECK_THROWS_WITH(nde::state_jacobian(term, 0.0, y, nde::params_view<double>(none), f, jac, ws),
                    Catch::Contains("2x2 matrix for a state of size 3"));
}
