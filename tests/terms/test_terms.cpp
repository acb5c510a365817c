// Terms and fields: every derivative capability (vjp, time vjp, jvp, dense Jacobian) of
// linear_field, autodiff_field, network_field (autonomous mlp and a time-dependent network)
// and sum_field against central finite differences of the field itself, the adjoint identity
// <a, J v> = <J^T a, v> between vjp and jvp, forwarding through ode_term, control_term and
// multi_term algebra, and partitioned_term (values, a solve against the exact solution, and
// the error for a wrong-size state).
#include <nde/nde.hpp>

#include <catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using vec2 = Eigen::Vector2d;
using vecx = Eigen::VectorXd;

// Central-difference step and the agreement asked of a first derivative computed from it
// (truncation ~h^2, cancellation ~eps/h: both well below 1e-7 for these smooth fields).
constexpr double fd_step = 1e-6;
constexpr double fd_tolerance = 1e-7;

vecx random_vector(Eigen::Index n, std::mt19937_64& engine, double scale = 1.0) {
  vecx v(n);
  for (Eigen::Index i = 0; i < n; ++i) v[i] = nde::nn::uniform(engine, -scale, scale);
  return v;
}

template <class State>
State random_state(Eigen::Index n, std::mt19937_64& engine, double scale = 1.0) {
  State s = State::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) s[i] = nde::nn::uniform(engine, -scale, scale);
  return s;
}

// f(t, y; theta) through the field's (or term's) operator().
template <class F, class State>
State evaluate(F& f, double t, const State& y, const vecx& theta) {
  State out = State::Zero(y.rows());
  f(t, y, nde::params_view<double>(theta), out);
  return out;
}

// (f(t + e t_dot, y + e y_dot, theta + e theta_dot) - f(minus)) / 2e.
template <class F, class State>
State directional_fd(F& f, double t, const State& y, const vecx& theta, const State& y_dot,
                     const vecx& theta_dot, double t_dot) {
  const double h = fd_step;
  const State plus = evaluate(f, t + h * t_dot, State(y + h * y_dot), vecx(theta + h * theta_dot));
  const State minus = evaluate(f, t - h * t_dot, State(y - h * y_dot), vecx(theta - h * theta_dot));
  return (plus - minus) / (2 * h);
}

bool close(double got, double expected, double tolerance = fd_tolerance) {
  return std::abs(got - expected) <= tolerance * std::max(1.0, std::abs(expected));
}

// What check_capabilities found: which capabilities it exercised.
struct exercised {
  bool vjp = false;
  bool time_vjp = false;
  bool jvp = false;
  bool jacobian = false;
};

// Checks every capability F has at (t, y, theta) against finite differences of F itself.
template <class F, class State>
exercised check_capabilities(F& f, double t, const State& y, const vecx& theta,
                             std::mt19937_64& engine) {
  exercised done;
  const Eigen::Index n = y.rows();
  const Eigen::Index p = f.num_params();
  REQUIRE(theta.size() == p);
  const State a = random_state<State>(n, engine);
  const State zero_state = State::Zero(n);
  const vecx zero_params = vecx::Zero(p);

  // Finite-difference gradients of <a, f> in y, theta and t.
  State fd_y = State::Zero(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    State e = zero_state;
    e[i] = 1;
    fd_y[i] = a.dot(directional_fd(f, t, y, theta, e, zero_params, 0.0));
  }
  vecx fd_theta(p);
  for (Eigen::Index k = 0; k < p; ++k) {
    vecx e = zero_params;
    e[k] = 1;
    fd_theta[k] = a.dot(directional_fd(f, t, y, theta, zero_state, e, 0.0));
  }
  const double fd_t = a.dot(directional_fd(f, t, y, theta, zero_state, zero_params, 1.0));

  // vjp: a_y overwritten, a_theta accumulated.
  State a_y = State::Constant(n, 1e3);
  const vecx offset = random_vector(p, engine);
  vecx a_theta = offset;
  double a_t = 0;
  if constexpr (nde::vjp_field<F, double, State>) {
    done.vjp = true;
    f.vjp(t, y, nde::params_view<double>(theta), a, a_y, nde::params_ref<double>(a_theta));
    for (Eigen::Index i = 0; i < n; ++i) {
      INFO("a_y[" << i << "] = " << a_y[i] << ", finite difference " << fd_y[i]);
      CHECK(close(a_y[i], fd_y[i]));
    }
    for (Eigen::Index k = 0; k < p; ++k) {
      INFO("a_theta[" << k << "] = " << a_theta[k] - offset[k] << ", finite difference "
                      << fd_theta[k]);
      CHECK(close(a_theta[k] - offset[k], fd_theta[k]));
    }
    a_theta -= offset;

    if constexpr (nde::time_vjp_field<F, double, State>) {
      done.time_vjp = true;
      // The 7-argument vjp: the same a_y and a_theta, and a_t accumulated.
      State a_y7 = State::Constant(n, -7.0);
      vecx a_theta7 = offset;
      const double t_offset = 0.25;
      double a_t7 = t_offset;
      f.vjp(t, y, nde::params_view<double>(theta), a, a_y7, nde::params_ref<double>(a_theta7),
            a_t7);
      CHECK((a_y7 - a_y).cwiseAbs().maxCoeff() <= 1e-13 * std::max(1.0, a_y.cwiseAbs().maxCoeff()));
      CHECK((a_theta7 - offset - a_theta).cwiseAbs().maxCoeff() <=
            1e-13 * std::max(1.0, a_theta.cwiseAbs().maxCoeff()));
      a_t = a_t7 - t_offset;
      INFO("a_t = " << a_t << ", finite difference " << fd_t);
      CHECK(close(a_t, fd_t));
    } else {
      // Without a time vjp the field must be autonomous, so its t-derivative is zero.
      STATIC_REQUIRE(nde::autonomous_field<F>);
      INFO("finite difference in t of an autonomous field: " << fd_t);
      CHECK(std::abs(fd_t) <= fd_tolerance);
    }
  }

  if constexpr (nde::value_and_vjp_field<F, double, State>) {
    // The fast path gives the same value and vjp as the separate calls.
    State value = State::Zero(n), a_y_fast = State::Zero(n);
    vecx a_theta_fast = vecx::Zero(p);
    f.value_and_vjp(t, y, nde::params_view<double>(theta), a, value, a_y_fast,
                    nde::params_ref<double>(a_theta_fast));
    CHECK((value - evaluate(f, t, y, theta)).cwiseAbs().maxCoeff() <= 1e-14);
    CHECK((a_y_fast - a_y).cwiseAbs().maxCoeff() <= 1e-14 * std::max(1.0, a_y.norm()));
    CHECK((a_theta_fast - a_theta).cwiseAbs().maxCoeff() <= 1e-14 * std::max(1.0, a_theta.norm()));
  }
  if constexpr (nde::time_stage_cached_field<F, double, State>) {
    // Two cache slots filled at different points, then pulled back in reverse order.
    const State y_other = random_state<State>(n, engine);
    State value = State::Zero(n), other = State::Zero(n), a_y_slot = State::Zero(n);
    f.evaluate_for_vjp(0, t, y, nde::params_view<double>(theta), value);
    f.evaluate_for_vjp(1, t + 0.5, y_other, nde::params_view<double>(theta), other);
    CHECK((value - evaluate(f, t, y, theta)).cwiseAbs().maxCoeff() <= 1e-14);
    CHECK((other - evaluate(f, t + 0.5, y_other, theta)).cwiseAbs().maxCoeff() <= 1e-14);
    vecx a_theta_slot = vecx::Zero(p);
    double a_t_slot = 0;
    f.vjp_from(0, t, y, nde::params_view<double>(theta), a, a_y_slot,
               nde::params_ref<double>(a_theta_slot), a_t_slot);
    CHECK((a_y_slot - a_y).cwiseAbs().maxCoeff() <= 1e-14 * std::max(1.0, a_y.norm()));
    CHECK((a_theta_slot - a_theta).cwiseAbs().maxCoeff() <= 1e-14 * std::max(1.0, a_theta.norm()));
    CHECK(a_t_slot == Approx(a_t).margin(1e-14));
  }

  if constexpr (nde::jvp_field<F, double, State>) {
    done.jvp = true;
    const State y_dot = random_state<State>(n, engine);
    const vecx theta_dot = random_vector(p, engine);
    const double t_dot = 0.7;
    // Each direction alone, then all three together.
    const std::vector<std::pair<const char*, std::tuple<State, vecx, double>>> directions{
        {"y", {y_dot, zero_params, 0.0}},
        {"theta", {zero_state, theta_dot, 0.0}},
        {"t", {zero_state, zero_params, t_dot}},
        {"y, theta, t", {y_dot, theta_dot, t_dot}}};
    for (const auto& [name, direction] : directions) {
      const auto& [yd, thd, td] = direction;
      State out = State::Constant(n, 1e3);
      f.jvp(t, y, nde::params_view<double>(theta), yd, nde::params_view<double>(thd), td, out);
      const State fd = directional_fd(f, t, y, theta, yd, thd, td);
      INFO("jvp along " << name << ": " << out.transpose() << ", finite difference "
                        << fd.transpose());
      for (Eigen::Index i = 0; i < n; ++i) CHECK(close(out[i], fd[i]));

      if (done.vjp) {
        // Adjoint identity <a, J v> = <J^T a, v>, exact up to rounding.
        const double left = a.dot(out);
        const double right = a_y.dot(yd) + a_theta.dot(thd) + a_t * td;
        const double scale = std::abs(left) + (a_y.cwiseProduct(yd)).cwiseAbs().sum() +
                             (a_theta.cwiseProduct(thd)).cwiseAbs().sum() + std::abs(a_t * td);
        INFO("adjoint identity along " << name << ": <a, jvp> = " << left
                                       << ", <vjp, v> = " << right);
        CHECK(std::abs(left - right) <= 1e-12 * std::max(1.0, scale));
      }
    }
  }

  if constexpr (nde::jacobian_field<F, double, State>) {
    done.jacobian = true;
    Eigen::MatrixXd jac;
    f.jacobian(t, y, nde::params_view<double>(theta), jac);
    REQUIRE(jac.rows() == n);
    REQUIRE(jac.cols() == n);
    for (Eigen::Index k = 0; k < n; ++k) {
      State e = zero_state;
      e[k] = 1;
      const State column = directional_fd(f, t, y, theta, e, zero_params, 0.0);
      for (Eigen::Index i = 0; i < n; ++i) {
        INFO("J(" << i << ", " << k << ") = " << jac(i, k) << ", finite difference " << column[i]);
        CHECK(close(jac(i, k), column[i]));
      }
    }
  }
  return done;
}

// The field's results equal the term's (ode_term forwards, it does not recompute).
template <class F, class State>
void check_term_forwards(F& field, nde::ode_term<F>& term, double t, const State& y,
                         const vecx& theta, std::mt19937_64& engine) {
  const Eigen::Index n = y.rows();
  const Eigen::Index p = field.num_params();
  CHECK(term.num_params() == p);
  const State f_field = evaluate(field, t, y, theta);
  State f_vf = State::Zero(n);
  term.vf(t, y, nde::params_view<double>(theta), f_vf);
  CHECK(f_vf == f_field);
  CHECK(evaluate(term, t, y, theta) == f_field);
  if constexpr (nde::vjp_field<F, double, State>) {
    STATIC_REQUIRE(nde::vjp_field<nde::ode_term<F>, double, State>);
    const State a = random_state<State>(n, engine);
    State a_y1 = State::Zero(n), a_y2 = State::Zero(n);
    vecx g1 = vecx::Zero(p), g2 = vecx::Zero(p);
    field.vjp(t, y, nde::params_view<double>(theta), a, a_y1, nde::params_ref<double>(g1));
    term.vjp(t, y, nde::params_view<double>(theta), a, a_y2, nde::params_ref<double>(g2));
    CHECK(a_y1 == a_y2);
    CHECK(g1 == g2);
    STATIC_REQUIRE(nde::time_vjp_field<nde::ode_term<F>, double, State>);
  }
  if constexpr (nde::jvp_field<F, double, State>) {
    STATIC_REQUIRE(nde::jvp_field<nde::ode_term<F>, double, State>);
  }
  if constexpr (nde::jacobian_field<F, double, State>) {
    STATIC_REQUIRE(nde::jacobian_field<nde::ode_term<F>, double, State>);
  }
  STATIC_REQUIRE(nde::ode_term<F>::autonomous == nde::autonomous_field<F>);
}

// The damped, driven pendulum: y0' = y1, y1' = -theta1 sin y0 - theta0 y1 + 0.3 sin t.
const auto pendulum = [](auto t, const auto& y, const auto& theta, auto& dydt) {
  using std::sin;
  dydt[0] = y[1];
  dydt[1] = -theta[1] * sin(y[0]) - theta[0] * y[1] + 0.3 * sin(t);
};
using pendulum_field = nde::autodiff_field<vec2, std::remove_const_t<decltype(pendulum)>>;

using small_mlp = nde::nn::mlp<nde::nn::tanh_activation, 2, 8, 2>;
using time_net_type = decltype(nde::nn::sequential{
    nde::nn::concat_linear<2, 8>{}, nde::nn::tanh_activation{}, nde::nn::concat_linear<8, 2>{}});

time_net_type make_time_net() {
  return nde::nn::sequential{nde::nn::concat_linear<2, 8>{}, nde::nn::tanh_activation{},
                             nde::nn::concat_linear<8, 2>{}};
}

template <class Net>
vecx network_params(const Net& net, std::mt19937_64& engine) {
  vecx theta(net.num_params());
  nde::nn::init_pytorch_default(net, theta, engine);
  // Scale up so tanh is well inside its non-linear range.
  return 2.0 * theta;
}

}  // namespace

TEST_CASE("linear_field: vjp, jvp, Jacobian against finite differences", "[terms][linear]") {
  std::mt19937_64 engine(101);
  using vec3 = Eigen::Vector3d;
  nde::linear_field<vec3> field(3);
  const vecx theta = random_vector(field.num_params(), engine);
  const vec3 y = random_state<vec3>(3, engine);
  STATIC_REQUIRE(nde::autonomous_field<nde::linear_field<vec3>>);
  const exercised done = check_capabilities(field, 0.4, y, theta, engine);
  CHECK(done.vjp);
  CHECK(done.jvp);
  CHECK(done.jacobian);
  CHECK_FALSE(done.time_vjp);

  // The value itself: A y with A = theta read column-major.
  const Eigen::Map<const Eigen::Matrix3d> A(theta.data());
  CHECK((evaluate(field, 0.4, y, theta) - A * y).norm() <= 1e-14 * (1 + (A * y).norm()));

  nde::ode_term<nde::linear_field<vec3>> term(field);
  check_term_forwards(field, term, 0.4, y, theta, engine);
  // Through the term the autonomous field gains the 7-argument vjp (a_t += 0).
  const exercised through_term = check_capabilities(term, 0.4, y, theta, engine);
  CHECK(through_term.time_vjp);
  CHECK(through_term.jacobian);

  // A batch state: a_theta sums over the columns.
  nde::linear_field<Eigen::Matrix<double, 3, Eigen::Dynamic>> batch_field(3);
  Eigen::Matrix<double, 3, Eigen::Dynamic> ys(3, 2), as(3, 2), a_ys(3, 2);
  ys.col(0) = y;
  ys.col(1) = random_state<vec3>(3, engine);
  as.col(0) = random_state<vec3>(3, engine);
  as.col(1) = random_state<vec3>(3, engine);
  vecx g_batch = vecx::Zero(9), g_sum = vecx::Zero(9);
  batch_field.vjp(0.0, ys, nde::params_view<double>(theta), as, a_ys,
                  nde::params_ref<double>(g_batch));
  for (int c = 0; c < 2; ++c) {
    vec3 a_c = as.col(c), a_y_c;
    field.vjp(0.0, vec3(ys.col(c)), nde::params_view<double>(theta), a_c, a_y_c,
              nde::params_ref<double>(g_sum));
    CHECK((a_y_c - a_ys.col(c)).norm() <= 1e-14);
  }
  CHECK((g_batch - g_sum).norm() <= 1e-14 * std::max(1.0, g_sum.norm()));
}

TEST_CASE("linear_field rejects a state of the wrong size", "[terms][linear]") {
  nde::linear_field<vecx> field(3);
  const vecx theta = vecx::Zero(9);
  vecx y = vecx::Zero(2), out;
  CHECK_THROWS_AS(field(0.0, y, nde::params_view<double>(theta), out), nde::error);
}

TEST_CASE("autodiff_field: a driven damped pendulum, every capability against finite differences",
          "[terms][autodiff]") {
  std::mt19937_64 engine(102);
  pendulum_field field(pendulum, 2);
  STATIC_REQUIRE(pendulum_field::dual_time);
  STATIC_REQUIRE_FALSE(nde::autonomous_field<pendulum_field>);
  const vecx theta = (vecx(2) << 0.35, 1.7).finished();
  for (const double t : {0.0, 0.9, -2.3}) {
    const vec2 y = random_state<vec2>(2, engine, 2.0);
    // The value against the formula.
    const vec2 f = evaluate(field, t, y, theta);
    CHECK(f[0] == y[1]);
    CHECK(f[1] == Approx(-theta[1] * std::sin(y[0]) - theta[0] * y[1] + 0.3 * std::sin(t))
                      .epsilon(1e-15)
                      .margin(1e-15));
    const exercised done = check_capabilities(field, t, y, theta, engine);
    CHECK(done.vjp);
    CHECK(done.time_vjp);
    CHECK(done.jvp);
    CHECK(done.jacobian);

    nde::ode_term<pendulum_field> term(field);
    check_term_forwards(field, term, t, y, theta, engine);
    const exercised through_term = check_capabilities(term, t, y, theta, engine);
    CHECK(through_term.time_vjp);
    CHECK(through_term.jacobian);
  }
}

TEST_CASE("autodiff_field: a batch state is differentiated column by column", "[terms][autodiff]") {
  std::mt19937_64 engine(103);
  using batch = Eigen::Matrix<double, 2, Eigen::Dynamic>;
  nde::autodiff_field<batch, std::remove_const_t<decltype(pendulum)>> batch_field(pendulum, 2);
  pendulum_field field(pendulum, 2);
  const vecx theta = (vecx(2) << 0.35, 1.7).finished();
  batch ys(2, 3), as(2, 3), a_ys(2, 3);
  for (int c = 0; c < 3; ++c) {
    ys.col(c) = random_state<vec2>(2, engine);
    as.col(c) = random_state<vec2>(2, engine);
  }
  vecx g_batch = vecx::Zero(2), g_sum = vecx::Zero(2);
  double at_batch = 0, at_sum = 0;
  batch_field.vjp(0.6, ys, nde::params_view<double>(theta), as, a_ys,
                  nde::params_ref<double>(g_batch), at_batch);
  for (int c = 0; c < 3; ++c) {
    vec2 a_y_c;
    field.vjp(0.6, vec2(ys.col(c)), nde::params_view<double>(theta), vec2(as.col(c)), a_y_c,
              nde::params_ref<double>(g_sum), at_sum);
    CHECK((a_y_c - a_ys.col(c)).norm() <= 1e-14);
  }
  CHECK((g_batch - g_sum).norm() <= 1e-14);
  CHECK(at_batch == Approx(at_sum).epsilon(1e-14));
}

TEST_CASE("network_field over an mlp: vjp, time vjp (zero), jvp against finite differences",
          "[terms][network]") {
  std::mt19937_64 engine(104);
  const small_mlp net;
  nde::network_field<small_mlp, vec2> field(net);
  const vecx theta = network_params(net, engine);
  REQUIRE(field.num_params() == net.num_params());
  for (const double t : {0.0, 1.3}) {
    const vec2 y = random_state<vec2>(2, engine, 1.5);
    const exercised done = check_capabilities(field, t, y, theta, engine);
    CHECK(done.vjp);
    CHECK(done.time_vjp);
    CHECK(done.jvp);
    CHECK_FALSE(done.jacobian);
    nde::ode_term<nde::network_field<small_mlp, vec2>> term(field);
    check_term_forwards(field, term, t, y, theta, engine);
    check_capabilities(term, t, y, theta, engine);
  }
  // The mlp ignores t: its time cotangent is zero (checked against finite differences above,
  // here directly).
  const vec2 y = random_state<vec2>(2, engine);
  const vec2 a = random_state<vec2>(2, engine);
  vec2 a_y;
  vecx g = vecx::Zero(theta.size());
  double a_t = 0;
  field.vjp(0.5, y, nde::params_view<double>(theta), a, a_y, nde::params_ref<double>(g), a_t);
  CHECK(a_t == 0.0);
}

TEST_CASE("network_field over a time-dependent network (concat_linear): a_t and the t-part of jvp",
          "[terms][network][time]") {
  std::mt19937_64 engine(105);
  const time_net_type net = make_time_net();
  nde::network_field<time_net_type, vec2> field(net);
  const vecx theta = network_params(net, engine);
  for (const double t : {0.0, 0.8, -1.4}) {
    const vec2 y = random_state<vec2>(2, engine, 1.5);
    const exercised done = check_capabilities(field, t, y, theta, engine);
    CHECK(done.vjp);
    CHECK(done.time_vjp);
    CHECK(done.jvp);
    // The network really depends on t (so the a_t check above compared something non-zero).
    const vec2 a = vec2::Ones();
    CHECK(std::abs(a.dot(directional_fd(field, t, y, theta, vec2::Zero().eval(),
                                        vecx::Zero(theta.size()).eval(), 1.0))) > 1e-3);
    nde::ode_term<nde::network_field<time_net_type, vec2>> term(field);
    check_term_forwards(field, term, t, y, theta, engine);
    check_capabilities(term, t, y, theta, engine);
  }
}

TEST_CASE("sum_field: known physics plus a network, every capability against finite differences",
          "[terms][sum]") {
  std::mt19937_64 engine(106);
  SECTION("autodiff pendulum + time-dependent network") {
    const time_net_type net = make_time_net();
    using net_field = nde::network_field<time_net_type, vec2>;
    using sum = nde::sum_field<pendulum_field, net_field, vec2>;
    sum field(pendulum_field(pendulum, 2), net_field(net));
    STATIC_REQUIRE_FALSE(nde::autonomous_field<sum>);
    const vecx theta_g = (vecx(2) << 0.35, 1.7).finished();
    const vecx theta_h = network_params(net, engine);
    vecx theta(theta_g.size() + theta_h.size());
    theta << theta_g, theta_h;
    REQUIRE(field.num_params() == theta.size());
    for (const double t : {0.2, 2.1}) {
      const vec2 y = random_state<vec2>(2, engine, 1.5);
      // The value is the sum of the parts with their own parameter blocks.
      const vec2 expected =
          evaluate(field.first(), t, y, theta_g) + evaluate(field.second(), t, y, theta_h);
      CHECK((evaluate(field, t, y, theta) - expected).norm() <= 1e-14 * (1 + expected.norm()));
      const exercised done = check_capabilities(field, t, y, theta, engine);
      CHECK(done.vjp);
      CHECK(done.time_vjp);
      CHECK(done.jvp);
      nde::ode_term<sum> term(field);
      check_term_forwards(field, term, t, y, theta, engine);
      check_capabilities(term, t, y, theta, engine);
    }
  }
  SECTION("linear field (autonomous, no time vjp of its own) + mlp") {
    const small_mlp net;
    using net_field = nde::network_field<small_mlp, vec2>;
    using sum = nde::sum_field<nde::linear_field<vec2>, net_field, vec2>;
    sum field(nde::linear_field<vec2>(2), net_field(net));
    const vecx theta_g = random_vector(4, engine);
    const vecx theta_h = network_params(net, engine);
    vecx theta(theta_g.size() + theta_h.size());
    theta << theta_g, theta_h;
    const vec2 y = random_state<vec2>(2, engine, 1.5);
    const vec2 expected =
        evaluate(field.first(), 0.0, y, theta_g) + evaluate(field.second(), 0.0, y, theta_h);
    CHECK((evaluate(field, 0.0, y, theta) - expected).norm() <= 1e-14 * (1 + expected.norm()));
    const exercised done = check_capabilities(field, 0.0, y, theta, engine);
    CHECK(done.vjp);
    CHECK(done.time_vjp);
    CHECK(done.jvp);
    nde::ode_term<sum> term(field);
    check_term_forwards(field, term, 0.0, y, theta, engine);
  }
}

namespace {

// g(t, y; theta): a 2x2 diffusion matrix depending on t, y and theta[0].
struct diffusion {
  [[nodiscard]] Eigen::Index num_params() const { return 1; }
  template <class T, class State, class Params>
  void operator()(T t, const State& y, const Params& theta, Eigen::Matrix2d& g) const {
    g << theta[0] * y[0], std::sin(t), y[0] * y[1], 1.0 + y[1] * y[1];
  }
};

}  // namespace

TEST_CASE("control_term with a linear path: contr, vf, prod; multi_term sums the products",
          "[terms][control]") {
  std::mt19937_64 engine(107);
  const vec2 velocity = random_state<vec2>(2, engine);
  nde::control_term<diffusion, nde::linear_path<vec2>> control(diffusion{},
                                                               nde::linear_path<vec2>{velocity});
  STATIC_REQUIRE_FALSE(decltype(control)::is_ode);
  CHECK(control.num_params() == 1);
  const vecx theta = (vecx(2) << 0.8, -0.4).finished();
  for (const auto& [t0, t1] :
       std::vector<std::pair<double, double>>{{0.0, 0.5}, {0.3, 1.1}, {2.0, 1.25}, {-1.0, -1.0}}) {
    const vec2 dx = control.contr(t0, t1);
    INFO("t0 = " << t0 << ", t1 = " << t1);
    CHECK((dx - (t1 - t0) * velocity).norm() <= 1e-15 * (1 + velocity.norm()));

    const vec2 y = random_state<vec2>(2, engine);
    Eigen::Matrix2d g, g_direct;
    control.vf(t0, y, nde::params_view<double>(theta), g);
    diffusion{}(t0, y, theta, g_direct);
    CHECK(g == g_direct);
    vec2 out = vec2::Constant(1e3);
    control.prod(g, dx, out);
    vec2 expected;
    for (int i = 0; i < 2; ++i) expected[i] = g(i, 0) * dx[0] + g(i, 1) * dx[1];
    CHECK((out - expected).norm() <= 1e-15 * (1 + expected.norm()));

    // dy = f dt + g dX: the sum of both products.
    nde::multi_term<nde::ode_term<pendulum_field>, decltype(control)> both(
        nde::ode_term<pendulum_field>(pendulum_field(pendulum, 2)), control);
    STATIC_REQUIRE_FALSE(decltype(both)::is_ode);
    CHECK(both.num_params() == 2);
    std::pair<vec2, Eigen::Matrix2d> v;
    both.vf(t0, y, nde::params_view<double>(theta), v);
    const auto c = both.contr(t0, t1);
    CHECK(c.first == t1 - t0);
    CHECK((c.second - dx).norm() == 0.0);
    vec2 sum = vec2::Constant(1e3);
    both.prod(v, c, sum);

    pendulum_field f(pendulum, 2);
    const vec2 f_value = evaluate(f, t0, y, theta);
    CHECK((v.first - f_value).norm() == 0.0);
    CHECK(v.second == g_direct);
    vec2 ode_part, control_part;
    nde::ode_term<pendulum_field> ode(f);
    ode.prod(f_value, ode.contr(t0, t1), ode_part);
    control.prod(g_direct, dx, control_part);
    CHECK((ode_part - (t1 - t0) * f_value).norm() <= 1e-15 * (1 + f_value.norm()));
    const vec2 expected_sum = (t1 - t0) * f_value + expected;
    CHECK((sum - expected_sum).norm() <= 1e-14 * (1 + expected_sum.norm()));
    CHECK((sum - (ode_part + control_part)).norm() <= 1e-15 * (1 + expected_sum.norm()));
  }
}

namespace {

// The harmonic oscillator q' = p, p' = -q as two block callables.
struct velocity_part {
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  template <class T, class Q, class P, class Params, class D>
  void operator()(T, const Q&, const P& p, const Params&, D& dq) const {
    dq = p;
  }
};
struct force_part {
  [[nodiscard]] Eigen::Index num_params() const { return 0; }
  template <class T, class Q, class P, class Params, class D>
  void operator()(T, const Q& q, const P&, const Params&, D& dp) const {
    dp = -q;
  }
};

}  // namespace

TEST_CASE("partitioned_term: harmonic oscillator values, a dopri5 solve against cos/sin",
          "[terms][partitioned]") {
  std::mt19937_64 engine(108);
  nde::partitioned_term<velocity_part, force_part> term(velocity_part{}, force_part{}, 1);
  STATIC_REQUIRE(decltype(term)::is_ode);
  CHECK(term.num_params() == 0);
  CHECK(term.half() == 1);
  const vecx no_params;
  for (int k = 0; k < 3; ++k) {
    const vec2 y = random_state<vec2>(2, engine, 3.0);
    vec2 out = vec2::Constant(1e3);
    term.vf(0.5, y, nde::params_view<double>(no_params), out);
    CHECK(out[0] == y[1]);
    CHECK(out[1] == -y[0]);
    vec2 top = vec2::Constant(7.0), bottom = vec2::Constant(7.0);
    term.vf_q(0.5, y, nde::params_view<double>(no_params), top);
    term.vf_p(0.5, y, nde::params_view<double>(no_params), bottom);
    CHECK(top[0] == y[1]);
    CHECK(top[1] == 7.0);  // vf_q writes only the q block
    CHECK(bottom[1] == -y[0]);
    CHECK(bottom[0] == 7.0);  // vf_p writes only the p block
    CHECK(term.contr(0.25, 1.0) == 0.75);
  }

  // y(t) = (cos t, -sin t) from y0 = (1, 0).
  std::vector<double> times;
  for (int k = 1; k <= 20; ++k) times.push_back(0.5 * k);
  const vec2 y0(1.0, 0.0);
  auto sol = nde::solve(term, nde::dopri5{}, 0.0, 10.0, y0, no_params,
                        {.save_at = nde::save_at::times(times),
                         .controller = nde::pid_controller{.rtol = 1e-9, .atol = 1e-12}});
  REQUIRE(sol.success());
  REQUIRE(sol.ys.size() == times.size());
  double worst = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    CHECK(sol.ts[i] == times[i]);
    const vec2 exact(std::cos(times[i]), -std::sin(times[i]));
    worst = std::max(worst, (sol.ys[i] - exact).cwiseAbs().maxCoeff());
  }
  INFO("largest error against (cos t, -sin t): " << worst);
  CHECK(worst < 1e-6);
  CHECK(sol.stats.accepted_steps > 10);  // a real adaptive solve, not one step

  // The same system as one plain field gives the same trajectory (the partition is only a view).
  auto plain = nde::solve([](double, const vec2& y, vec2& dydt) { dydt << y[1], -y[0]; },
                          nde::dopri5{}, 0.0, 10.0, y0,
                          {.save_at = nde::save_at::times(times),
                           .controller = nde::pid_controller{.rtol = 1e-9, .atol = 1e-12}});
  REQUIRE(plain.success());
  for (std::size_t i = 0; i < times.size(); ++i) CHECK((plain.ys[i] - sol.ys[i]).norm() <= 1e-14);
}

TEST_CASE("partitioned_term: a state of the wrong size throws nde::error naming the rows",
          "[terms][partitioned]") {
  nde::partitioned_term<velocity_part, force_part> term(velocity_part{}, force_part{}, 2);
  const vecx no_params;
  const vecx y0 = vecx::Ones(3);  // 2 x 2 = 4 rows expected
  vecx out(3);
  try {
    term.vf(0.0, y0, nde::params_view<double>(no_params), out);
    FAIL("vf on a 3-row state did not throw");
  } catch (const nde::error& e) {
    CHECK(e.code() == nde::status::invalid_input);
    CHECK_THAT(e.what(), Catch::Contains("3 rows"));
  }
  // A solve reports it as a status naming y0 (the term knows its state_rows()).
  const auto sol = nde::solve(term, nde::dopri5{}, 0.0, 1.0, y0, no_params,
                              {.controller = nde::pid_controller{.rtol = 1e-9, .atol = 1e-12}});
  CHECK(sol.status == nde::status::invalid_input);
  CHECK_THAT(sol.message, Catch::Contains("y0 has 3 rows but the vector field takes 4"));
  CHECK_THROWS_AS(
      (nde::partitioned_term<velocity_part, force_part>(velocity_part{}, force_part{}, -1)),
      nde::error);
}
