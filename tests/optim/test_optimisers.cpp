// SGD / Adam / AdamW against independent long-double reference loops and hand-worked
// first steps; gradient clipping; schedules at known points.
#include <nde/optim/adam.hpp>
#include <nde/optim/clip.hpp>
#include <nde/optim/schedule.hpp>
#include <nde/optim/sgd.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace {

template <class Scalar>
using vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

// Gradient of an anisotropic quadratic, so later steps depend on earlier updates.
long double quadratic_gradient(long double p, int i) { return (1.0L + i) * p - 0.5L * (i - 1); }

template <class Scalar>
vector<Scalar> quadratic_gradient(const vector<Scalar>& p) {
  vector<Scalar> g(p.size());
  for (int i = 0; i < p.size(); ++i)
    g[i] = static_cast<Scalar>(quadratic_gradient(static_cast<long double>(p[i]), i));
  return g;
}

template <class Scalar>
vector<Scalar> start_point() {
  vector<Scalar> p(4);
  p << Scalar(1), Scalar(-2), Scalar(0.5), Scalar(0);
  return p;
}

template <class Scalar>
Scalar tolerance() {
  return std::is_same_v<Scalar, float> ? Scalar(2e-6) : Scalar(1e-13);
}

// Textbook Adam/AdamW (Kingma & Ba Algorithm 1, Loshchilov & Hutter Algorithm 2 in
// PyTorch's parametrisation), one scalar at a time, in long double.
struct reference_adam {
  long double lr, beta1, beta2, epsilon, weight_decay;
  bool decoupled, amsgrad;
  std::vector<long double> m, v, vmax;
  int t = 0;
  void step(std::vector<long double>& p) {
    if (m.empty()) m.assign(p.size(), 0), v.assign(p.size(), 0), vmax.assign(p.size(), 0);
    ++t;
    for (std::size_t i = 0; i < p.size(); ++i) {
      long double g = quadratic_gradient(p[i], static_cast<int>(i));
      if (decoupled)
        p[i] = p[i] - lr * weight_decay * p[i];
      else
        g = g + weight_decay * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      vmax[i] = std::max(vmax[i], v[i]);
      const long double m_hat = m[i] / (1 - std::pow(beta1, static_cast<long double>(t)));
      const long double v_hat =
          (amsgrad ? vmax[i] : v[i]) / (1 - std::pow(beta2, static_cast<long double>(t)));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + epsilon);
    }
  }
};

// PyTorch SGD in long double.
struct reference_sgd {
  long double lr, momentum, dampening, weight_decay;
  bool nesterov;
  std::vector<long double> b;
  void step(std::vector<long double>& p) {
    const bool first = b.empty();
    if (first) b.assign(p.size(), 0);
    for (std::size_t i = 0; i < p.size(); ++i) {
      long double g = quadratic_gradient(p[i], static_cast<int>(i)) + weight_decay * p[i];
      if (momentum != 0) {
        b[i] = first ? g : momentum * b[i] + (1 - dampening) * g;
        g = nesterov ? g + momentum * b[i] : b[i];
      }
      p[i] -= lr * g;
    }
  }
};

template <class Scalar, class Optimiser, class Reference>
void compare_sequence(Optimiser& optimiser, Reference& reference, int steps) {
  vector<Scalar> p = start_point<Scalar>();
  std::vector<long double> q(p.data(), p.data() + p.size());
  for (int k = 0; k < steps; ++k) {
    optimiser.step(p, quadratic_gradient(p));
    reference.step(q);
    for (int i = 0; i < p.size(); ++i) {
      INFO("step " << k + 1 << " index " << i);
      // Relative to the size of the iterate (some entries pass near zero).
      CHECK(std::abs(static_cast<long double>(p[i]) - q[i]) <=
            tolerance<Scalar>() * (1 + std::abs(q[i])));
    }
  }
}

}  // namespace

TEMPLATE_TEST_CASE("adam first step equals the hand-worked value", "[optim][adam]", float, double) {
  // g = 0.5: m1 = 0.05, v1 = 0.00025, m_hat = 0.5, v_hat = 0.25, so
  // p1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 1 - 0.099999998000000004 = 0.900000002.
  nde::optim::adam<TestType> optimiser(1, {.learning_rate = TestType(0.1)});
  vector<TestType> p = vector<TestType>::Constant(1, 1), g = vector<TestType>::Constant(1, 0.5);
  optimiser.step(p, g);
  CHECK(p[0] == Approx(0.900000002).epsilon(tolerance<TestType>()));
  CHECK(optimiser.first_moment()[0] == Approx(0.05).epsilon(tolerance<TestType>()));
  // 1 - 0.999f is only accurate to ~1e-5 in float.
  CHECK(optimiser.second_moment()[0] ==
        Approx(0.00025).epsilon(std::is_same_v<TestType, float> ? 2e-5 : 1e-13));
  CHECK(optimiser.step_count() == 1);
}

TEMPLATE_TEST_CASE("adamw first step shrinks before the Adam update", "[optim][adamw]", float,
                   double) {
  // p <- 1 * (1 - 0.1 * 0.1) = 0.99, then minus 0.099999998 as in Adam: 0.890000002.
  nde::optim::adamw<TestType> optimiser(
      1, {.learning_rate = TestType(0.1), .weight_decay = TestType(0.1)});
  vector<TestType> p = vector<TestType>::Constant(1, 1), g = vector<TestType>::Constant(1, 0.5);
  optimiser.step(p, g);
  CHECK(p[0] == Approx(0.890000002).epsilon(tolerance<TestType>()));
  // The decay must not enter the moments (that is what "decoupled" means).
  CHECK(optimiser.first_moment()[0] == Approx(0.05).epsilon(tolerance<TestType>()));
}

TEMPLATE_TEST_CASE("adam with coupled weight decay adds it to the gradient", "[optim][adam]", float,
                   double) {
  // g' = 0.5 + 0.1 * 1 = 0.6 enters m: m1 = 0.06; the first step is still ~lr.
  nde::optim::adam<TestType> optimiser(
      1, {.learning_rate = TestType(0.1), .weight_decay = TestType(0.1)});
  vector<TestType> p = vector<TestType>::Constant(1, 1), g = vector<TestType>::Constant(1, 0.5);
  optimiser.step(p, g);
  CHECK(optimiser.first_moment()[0] == Approx(0.06).epsilon(tolerance<TestType>()));
  CHECK(p[0] == Approx(1 - 0.1 * 0.6 / (0.6 + 1e-8)).epsilon(tolerance<TestType>()));
}

TEMPLATE_TEST_CASE("adam and adamw match a long-double reference over several steps",
                   "[optim][adam][adamw]", float, double) {
  SECTION("adam") {
    nde::optim::adam<TestType> optimiser(4, {.learning_rate = TestType(0.05),
                                             .beta1 = TestType(0.8),
                                             .beta2 = TestType(0.99),
                                             .epsilon = TestType(1e-6)});
    reference_adam reference{0.05L, 0.8L, 0.99L, 1e-6L, 0, false, false, {}, {}, {}};
    compare_sequence<TestType>(optimiser, reference, 12);
  }
  SECTION("adam with L2 and amsgrad") {
    nde::optim::adam<TestType> optimiser(
        4, {.learning_rate = TestType(0.05), .weight_decay = TestType(0.2), .amsgrad = true});
    reference_adam reference{0.05L, 0.9L, 0.999L, 1e-8L, 0.2L, false, true, {}, {}, {}};
    compare_sequence<TestType>(optimiser, reference, 12);
  }
  SECTION("adamw") {
    nde::optim::adamw<TestType> optimiser(
        4, {.learning_rate = TestType(0.05), .weight_decay = TestType(0.3)});
    reference_adam reference{0.05L, 0.9L, 0.999L, 1e-8L, 0.3L, true, false, {}, {}, {}};
    compare_sequence<TestType>(optimiser, reference, 12);
  }
}

TEMPLATE_TEST_CASE("adam reset forgets the moments", "[optim][adam]", float, double) {
  nde::optim::adam<TestType> optimiser(4);
  vector<TestType> p = start_point<TestType>();
  optimiser.step(p, quadratic_gradient(p));
  optimiser.reset();
  vector<TestType> fresh_p = p;
  nde::optim::adam<TestType> fresh(4);
  optimiser.step(p, quadratic_gradient(p));
  fresh.step(fresh_p, quadratic_gradient(fresh_p));
  CHECK(p == fresh_p);
}

TEMPLATE_TEST_CASE("sgd momentum and nesterov equal hand-worked steps", "[optim][sgd]", float,
                   double) {
  using T = TestType;
  vector<T> p = vector<T>::Constant(1, 1), g = vector<T>::Constant(1, 1);
  SECTION("plain") {
    nde::optim::sgd<T> optimiser(1, {.learning_rate = T(0.1)});
    optimiser.step(p, g);
    CHECK(p[0] == Approx(0.9));
  }
  SECTION("momentum: b1 = 1, b2 = 0.9 + 1 = 1.9") {
    nde::optim::sgd<T> optimiser(1, {.learning_rate = T(0.1), .momentum = T(0.9)});
    optimiser.step(p, g);
    CHECK(p[0] == Approx(0.9));
    optimiser.step(p, g);
    CHECK(p[0] == Approx(0.71));
  }
  SECTION("nesterov: updates 1 + 0.9 = 1.9, then 1 + 0.9 * 1.9 = 2.71") {
    nde::optim::sgd<T> optimiser(1,
                                 {.learning_rate = T(0.1), .momentum = T(0.9), .nesterov = true});
    optimiser.step(p, g);
    CHECK(p[0] == Approx(0.81));
    optimiser.step(p, g);
    CHECK(p[0] == Approx(0.539));
  }
  SECTION("dampening does not apply to the first step (PyTorch)") {
    nde::optim::sgd<T> optimiser(
        1, {.learning_rate = T(0.1), .momentum = T(0.9), .dampening = T(0.5)});
    optimiser.step(p, g);
    CHECK(p[0] == Approx(0.9));
    optimiser.step(p, g);  // b2 = 0.9 * 1 + 0.5 * 1 = 1.4
    CHECK(p[0] == Approx(0.76));
  }
}

TEMPLATE_TEST_CASE("sgd matches a long-double reference over several steps", "[optim][sgd]", float,
                   double) {
  SECTION("momentum, dampening, weight decay") {
    nde::optim::sgd<TestType> optimiser(4, {.learning_rate = TestType(0.1),
                                            .momentum = TestType(0.9),
                                            .dampening = TestType(0.1),
                                            .weight_decay = TestType(0.01)});
    reference_sgd reference{0.1L, 0.9L, 0.1L, 0.01L, false, {}};
    compare_sequence<TestType>(optimiser, reference, 15);
  }
  SECTION("nesterov") {
    nde::optim::sgd<TestType> optimiser(
        4, {.learning_rate = TestType(0.1), .momentum = TestType(0.5), .nesterov = true});
    reference_sgd reference{0.1L, 0.5L, 0, 0, true, {}};
    compare_sequence<TestType>(optimiser, reference, 15);
  }
}

TEST_CASE("optimisers reject bad hyper-parameters and sizes with nde::error", "[optim]") {
  using nde::optim::sgd;
  CHECK_THROWS_AS(sgd<double>(2, {.learning_rate = -0.1}), nde::error);
  CHECK_NOTHROW(
      sgd<double>(2, {.learning_rate = 0}));  // PyTorch allows 0 (a warmup may start there)
  CHECK_THROWS_AS(sgd<double>(2, {.learning_rate = std::nan("")}), nde::error);
  CHECK_THROWS_AS(sgd<double>(2, {.momentum = -1}), nde::error);
  CHECK_THROWS_WITH(sgd<double>(2, {.nesterov = true}), Catch::Contains("Nesterov"));
  CHECK_THROWS_AS(nde::optim::adam<double>(2, {.beta1 = 1}), nde::error);
  CHECK_THROWS_AS(nde::optim::adamw<double>(2, {.beta2 = -0.1}), nde::error);
  nde::optim::adam<double> optimiser(3);
  Eigen::VectorXd p(3), g(2);
  p.setZero();
  g.setZero();
  CHECK_THROWS_WITH(optimiser.step(p, g), Catch::Contains("must both have size 3"));
  CHECK_THROWS_AS(optimiser.set_learning_rate(-1), nde::error);
}

TEST_CASE("optimisers work on a segment of a larger vector without copying it back", "[optim]") {
  Eigen::VectorXd all = Eigen::VectorXd::Ones(6), g = Eigen::VectorXd::Ones(3);
  nde::optim::sgd<double> optimiser(3, {.learning_rate = 0.5});
  optimiser.step(all.segment(2, 3), g);
  CHECK(all[1] == 1.0);
  CHECK(all[2] == 0.5);
  CHECK(all[4] == 0.5);
  CHECK(all[5] == 1.0);
}

TEMPLATE_TEST_CASE("clip_by_global_norm follows clip_grad_norm_", "[optim][clip]", float, double) {
  using T = TestType;
  vector<T> g(2);
  g << T(3), T(4);
  const T norm = nde::optim::clip_by_global_norm(g, T(1));
  CHECK(norm == Approx(5));
  CHECK(g[0] == Approx(0.6));
  CHECK(g[1] == Approx(0.8));
  CHECK(g.norm() <= T(1));

  vector<T> inside(2);
  inside << T(0.3), T(-0.4);
  const vector<T> before = inside;
  CHECK(nde::optim::clip_by_global_norm(inside, T(1)) == Approx(0.5));
  CHECK(inside == before);  // untouched bit for bit

  vector<T> huge = vector<T>::Constant(4, std::is_same_v<T, float> ? T(1e30) : T(1e300));
  const T huge_norm = nde::optim::clip_by_global_norm(huge, T(2));
  CHECK(std::isfinite(huge_norm));
  CHECK(huge.norm() == Approx(2).epsilon(1e-5));

  vector<T> bad(2);
  bad << T(1), std::numeric_limits<T>::quiet_NaN();
  CHECK(std::isnan(nde::optim::clip_by_global_norm(bad, T(1))));
  CHECK(bad[0] == T(1));

  Eigen::Matrix<T, 4, 1> fixed = Eigen::Matrix<T, 4, 1>::Constant(T(2));
  nde::optim::clip_by_global_norm(fixed.template head<2>(), T(1));
  CHECK(fixed[0] == Approx(std::sqrt(0.5)));
  CHECK(fixed[3] == T(2));
  CHECK_THROWS_AS(nde::optim::clip_by_global_norm(fixed, T(-1)), nde::error);
}

TEST_CASE("schedules at known points", "[optim][schedule]") {
  const nde::optim::step_schedule<double> step{.base = 1.0, .step_size = 3, .gamma = 0.5};
  CHECK(step(0) == 1.0);
  CHECK(step(2) == 1.0);
  CHECK(step(3) == 0.5);
  CHECK(step(5) == 0.5);
  CHECK(step(6) == 0.25);
  CHECK(step(30) == Approx(std::ldexp(1.0, -10)));

  const nde::optim::cosine_schedule<double> cosine{.base = 1.0, .total_steps = 12, .minimum = 0.1};
  CHECK(cosine(0) == 1.0);
  CHECK(cosine(4) == Approx(0.1 + 0.9 * 0.75));  // cos(pi/3) = 1/2
  CHECK(cosine(6) == Approx(0.55));              // half way: the mean of base and minimum
  CHECK(cosine(8) == Approx(0.1 + 0.9 * 0.25));
  CHECK(cosine(12) == 0.1);
  CHECK(cosine(100) == 0.1);

  const nde::optim::warmup_schedule<nde::optim::cosine_schedule<double>> warm{
      .after = {.base = 2.0, .total_steps = 10, .minimum = 0.0},
      .warmup_steps = 4,
      .start_factor = 0.25};
  CHECK(warm(0) == Approx(0.5));
  CHECK(warm(2) == Approx(2.0 * (0.25 + 0.75 * 0.5)));
  CHECK(warm(4) == 2.0);
  CHECK(warm(9) == Approx(1.0));  // five steps into the cosine: half way
  CHECK(warm(14) == 0.0);

  const nde::optim::warmup_schedule<nde::optim::constant_schedule<float>> linear{
      .after = {.base = 1.0f}, .warmup_steps = 8};
  CHECK(linear(0) == 0.0f);
  CHECK(linear(2) == Approx(0.25f));
  CHECK(linear(8) == 1.0f);

  CHECK_THROWS_AS((nde::optim::step_schedule<double>{.base = 1, .step_size = 0}(1)), nde::error);
  CHECK_THROWS_AS((nde::optim::cosine_schedule<double>{.base = 1, .total_steps = 0}(1)),
                  nde::error);
}

TEST_CASE("a schedule drives an optimiser", "[optim][schedule]") {
  const nde::optim::step_schedule<double> schedule{.base = 0.1, .step_size = 1, .gamma = 0.5};
  nde::optim::sgd<double> optimiser(1, {.learning_rate = 0.1});
  Eigen::VectorXd p = Eigen::VectorXd::Zero(1), g = Eigen::VectorXd::Ones(1);
  for (int k = 0; k < 3; ++k) {
    optimiser.set_learning_rate(schedule(k));
    optimiser.step(p, g);
  }
  CHECK(p[0] == Approx(-(0.1 + 0.05 + 0.025)));
}

TEMPLATE_TEST_CASE("adam: epsilon 0 with a zero gradient gives no update, not NaN",
                   "[optim][adam][edge]", float, double) {
  nde::optim::adam<TestType> optimiser(2, {.learning_rate = TestType(0.1), .epsilon = 0});
  vector<TestType> p = vector<TestType>::Constant(2, 1);
  const vector<TestType> g = (vector<TestType>(2) << 0, 1).finished();
  CHECK(optimiser.step(p, g) == nde::status::success);
  CHECK(p[0] == 1);  // zero gradient so far: untouched
  // Entry 1: m_hat = 1, sqrt(v_hat) = 1, so the step is exactly the learning rate.
  CHECK(p[1] == Approx(0.9).epsilon(1e-5));
  CHECK(p.allFinite());
}

TEMPLATE_TEST_CASE("adam: huge gradients still move the parameters by about the learning rate",
                   "[optim][adam][edge]", float, double) {
  // 1e30 squared overflows float; sqrt(v) does not.
  for (const double scale : {1e19, 1e30, 0.5 * double(std::numeric_limits<TestType>::max())}) {
    INFO("gradient " << scale);
    for (const bool ams : {false, true}) {
      nde::optim::adam<TestType> optimiser(1, {.learning_rate = TestType(0.1), .amsgrad = ams});
      vector<TestType> p = vector<TestType>::Constant(1, 1);
      const vector<TestType> g = vector<TestType>::Constant(1, TestType(scale));
      for (int k = 0; k < 3; ++k) REQUIRE(optimiser.step(p, g) == nde::status::success);
      // Three steps of (almost exactly) the learning rate each, against the gradient.
      CHECK(p[0] == Approx(1 - 0.3).epsilon(1e-4));
      CHECK(std::isfinite(optimiser.root_second_moment()[0]));
    }
  }
}

TEMPLATE_TEST_CASE("optimisers refuse a NaN or Inf gradient without touching their state",
                   "[optim][edge]", float, double) {
  const TestType nan = std::numeric_limits<TestType>::quiet_NaN();
  const TestType inf = std::numeric_limits<TestType>::infinity();
  for (const TestType bad : {nan, inf, -inf}) {
    nde::optim::adam<TestType> adam(2, {.learning_rate = TestType(0.1)});
    nde::optim::sgd<TestType> sgd(2, {.learning_rate = TestType(0.1), .momentum = TestType(0.9)});
    vector<TestType> pa = vector<TestType>::Constant(2, 1), ps = pa;
    const vector<TestType> good = vector<TestType>::Constant(2, TestType(0.5));
    vector<TestType> poisoned = good;
    poisoned[1] = bad;
    REQUIRE(adam.step(pa, good) == nde::status::success);
    REQUIRE(sgd.step(ps, good) == nde::status::success);
    const vector<TestType> pa1 = pa, ps1 = ps, m1 = adam.first_moment();
    CHECK(adam.step(pa, poisoned) == nde::status::non_finite);
    CHECK(sgd.step(ps, poisoned) == nde::status::non_finite);
    CHECK((pa.array() == pa1.array()).all());
    CHECK((ps.array() == ps1.array()).all());
    CHECK((adam.first_moment().array() == m1.array()).all());
    CHECK(adam.step_count() == 1);
    CHECK(adam.skipped_steps() == 1);
    CHECK(sgd.skipped_steps() == 1);
    // The next good gradient continues as if the bad one never came.
    nde::optim::adam<TestType> clean(2, {.learning_rate = TestType(0.1)});
    vector<TestType> pc = vector<TestType>::Constant(2, 1);
    clean.step(pc, good);
    clean.step(pc, good);
    adam.step(pa, good);
    CHECK((pa.array() == pc.array()).all());
    CHECK(pa.allFinite());
  }
}

TEMPLATE_TEST_CASE("optimiser state round-trips through write_state / read_state", "[optim][state]",
                   float, double) {
  for (const bool ams : {false, true}) {
    nde::optim::adam<TestType> a(3, {.learning_rate = TestType(0.1), .amsgrad = ams});
    nde::optim::sgd<TestType> s(3, {.learning_rate = TestType(0.1), .momentum = TestType(0.9)});
    vector<TestType> pa = vector<TestType>::Constant(3, 1), ps = pa;
    const vector<TestType> g = (vector<TestType>(3) << 0.5, -1, 2).finished();
    for (int k = 0; k < 3; ++k) {
      a.step(pa, g);
      s.step(ps, g);
    }
    vector<TestType> state_a(a.state_size()), state_s(s.state_size());
    a.write_state(state_a);
    s.write_state(state_s);
    nde::optim::adam<TestType> a2(3, {.learning_rate = TestType(0.1), .amsgrad = ams});
    nde::optim::sgd<TestType> s2(3, {.learning_rate = TestType(0.1), .momentum = TestType(0.9)});
    a2.read_state(state_a);
    s2.read_state(state_s);
    vector<TestType> pa2 = pa, ps2 = ps;
    a.step(pa, g);
    a2.step(pa2, g);
    s.step(ps, g);
    s2.step(ps2, g);
    CHECK((pa.array() == pa2.array()).all());
    CHECK((ps.array() == ps2.array()).all());
    CHECK(a2.step_count() == 4);
    // Bad states are refused with a message, the optimiser untouched.
    vector<TestType> bad = state_a;
    bad[0] = TestType(-1);
    CHECK_THROWS_WITH(a2.read_state(bad), Catch::Contains("step count"));
    bad = state_a;
    bad[bad.size() - 1] = TestType(-1);
    CHECK_THROWS_WITH(a2.read_state(bad), Catch::Contains("negative"));
    CHECK_THROWS_WITH(a2.read_state(vector<TestType>(2)), Catch::Contains("entries"));
    CHECK(a2.step_count() == 4);
  }
}
