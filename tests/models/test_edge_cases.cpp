// Edge cases of neural_ode found in review: inputs that alias the previous result, settings
// changed between forward and backward, overflow in the discrete adjoint,
// decreasing output times for every method, float states, long intervals with one checkpoint.
#include <nde/nde.hpp>

#include <catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace {

using vec = Eigen::VectorXd;

template <class Gradient, class Method = nde::dopri5, class State = vec>
using linear_model = nde::neural_ode<nde::linear_field<State>, Method, Gradient, State>;

vec rotation_decay() {
  vec theta(4);  // column-major A = [[-0.2, 1], [-1, -0.2]]
  theta << -0.2, -1.0, 1.0, -0.2;
  return theta;
}

const nde::neural_ode_options tight{.controller = nde::pi_controller{.rtol = 1e-10, .atol = 1e-12}};

}  // namespace

TEST_CASE("forward accepts y0 and ts taken from its own previous result", "[models][edge]") {
  linear_model<nde::discrete_adjoint> model(nde::linear_field<vec>(2), rotation_decay(), {}, tight);
  const std::vector<double> ts{0.0, 0.5, 1.0};
  const vec y0 = vec::Ones(2);
  REQUIRE(model.forward(y0, ts).status == nde::status::success);
  const vec end = model.last_forward().ys.back();
  // Both arguments alias storage that forward() rewrites.
  const auto& again = model.forward(model.last_forward().ys.back(), model.last_forward().ts);
  REQUIRE(again.status == nde::status::success);
  CHECK(again.ts == ts);
  CHECK(again.ys.front() == end);
  linear_model<nde::discrete_adjoint> fresh(nde::linear_field<vec>(2), rotation_decay(), {}, tight);
  CHECK(fresh.forward(end, ts).ys.back() == again.ys.back());
}

TEST_CASE("settings changed between forward and backward", "[models][edge]") {
  linear_model<nde::discrete_adjoint> model(nde::linear_field<vec>(2), rotation_decay(), {}, tight);
  const std::vector<double> ts{0.0, 0.7};
  REQUIRE(model.forward(vec::Ones(2), ts).status == nde::status::success);
  const std::vector<vec> c{vec::Zero(2), vec::Ones(2)};
  const auto reference = model.backward(c);

  SECTION("the checkpoint budget: the mode of the forward pass is used") {
    model.gradient_method().max_checkpoints = 3;
    const auto g = model.backward(c);
    CHECK(g.params == reference.params);
  }
  SECTION("the parameters: refused") {
    model.params()[0] += 1e-3;
    CHECK_THROWS_WITH(model.backward(c), Catch::Contains("parameters changed since forward()"));
  }
  SECTION("fixed_times set through options(): refused at forward") {
    model.options().controller = nde::fixed_times{{0.0, 0.7}};
    CHECK(model.forward(vec::Ones(2), ts).status == nde::status::invalid_input);
  }
}

TEST_CASE("overflow in the discrete adjoint is a status, not a silent Inf", "[models][edge]") {
  linear_model<nde::discrete_adjoint> model(nde::linear_field<vec>(2), rotation_decay() * -50.0, {},
                                            {.controller = nde::constant_step{.dt = 0.01}});
  const std::vector<double> ts{0.0, 20.0};
  REQUIRE(model.forward(vec::Constant(2, 1e-300), ts).status == nde::status::success);
  const std::vector<vec> c{vec::Zero(2), vec::Constant(2, 1e300)};
  const auto g = model.backward(c);
  CHECK(g.status == nde::status::non_finite);
  CHECK_THAT(g.message, Catch::Contains("NaN or Inf"));
}

TEST_CASE("every method agrees with finite differences for decreasing output times",
          "[models][edge]") {
  const std::vector<double> ts{1.2, 0.6, 0.1};
  const vec y1 = (vec(2) << 0.4, -0.3).finished();
  auto loss = [&](auto& model, const vec& y) {
    const auto& r = model.forward(y, ts);
    REQUIRE(r.status == nde::status::success);
    return r.ys[1].sum() + r.ys[2].squaredNorm();
  };
  auto check = [&](auto model) {
    (void)loss(model, y1);
    const auto& r = model.last_forward();
    const std::vector<vec> c{vec::Zero(2), vec::Ones(2), 2 * r.ys[2]};
    const auto g = model.backward(c);
    REQUIRE(g.status == nde::status::success);
    for (int k = 0; k < 2; ++k) {
      vec p = y1, m = y1;
      p[k] += 1e-6;
      m[k] -= 1e-6;
      CHECK(std::abs((loss(model, p) - loss(model, m)) / 2e-6 - g.y0[k]) < 1e-6);
    }
  };
  const nde::pi_controller adjoint{.rtol = 1e-10, .atol = 1e-12};
  check(
      linear_model<nde::discrete_adjoint>(nde::linear_field<vec>(2), rotation_decay(), {}, tight));
  check(linear_model<nde::checkpointed_adjoint>(nde::linear_field<vec>(2), rotation_decay(),
                                                {.controller = adjoint}, tight));
  check(linear_model<nde::backsolve_adjoint>(nde::linear_field<vec>(2), rotation_decay(),
                                             {.controller = adjoint}, tight));
}

TEST_CASE("float states give the double gradient to float accuracy", "[models][edge]") {
  using vecf = Eigen::Vector2f;
  const std::vector<double> ts{0.0, 0.5, 1.0};
  linear_model<nde::discrete_adjoint, nde::rk4, vecf> single(
      nde::linear_field<vecf>(2), rotation_decay().cast<float>(), {},
      {.controller = nde::constant_step{.dt = 0.05}});
  linear_model<nde::discrete_adjoint, nde::rk4> dbl(nde::linear_field<vec>(2), rotation_decay(), {},
                                                    {.controller = nde::constant_step{.dt = 0.05}});
  REQUIRE(single.forward(vecf(1.0f, 0.5f), ts).status == nde::status::success);
  REQUIRE(dbl.forward((vec(2) << 1.0, 0.5).finished(), ts).status == nde::status::success);
  const std::vector<vecf> cf(3, vecf::Ones());
  const std::vector<vec> cd(3, vec::Ones(2));
  const auto gf = single.backward(cf);
  const auto gd = dbl.backward(cd);
  CHECK((gf.params.cast<double>() - gd.params).norm() < 1e-5 * gd.params.norm());
  CHECK((gf.y0.cast<double>() - gd.y0).norm() < 1e-5 * gd.y0.norm());
}

TEST_CASE("one checkpoint on a long interval: same gradient, bounded bookkeeping",
          "[models][edge]") {
  const std::vector<double> ts{0.0, 3.0};
  const nde::neural_ode_options fixed{.controller = nde::constant_step{.dt = 0.01}};  // 300 steps
  linear_model<nde::discrete_adjoint, nde::rk4> all(nde::linear_field<vec>(2), rotation_decay(), {},
                                                    fixed);
  linear_model<nde::discrete_adjoint, nde::rk4> one(nde::linear_field<vec>(2), rotation_decay(),
                                                    {.max_checkpoints = 1}, fixed);
  linear_model<nde::discrete_adjoint, nde::rk4> many(nde::linear_field<vec>(2), rotation_decay(),
                                                     {.max_checkpoints = 1000}, fixed);
  const std::vector<vec> c{vec::Zero(2), vec::Ones(2)};
  REQUIRE(all.forward(vec::Ones(2), ts).status == nde::status::success);
  REQUIRE(one.forward(vec::Ones(2), ts).status == nde::status::success);
  REQUIRE(many.forward(vec::Ones(2), ts).status == nde::status::success);
  const auto g_all = all.backward(c);
  const auto g_one = one.backward(c);
  const auto g_many = many.backward(c);
  CHECK(g_one.params == g_all.params);
  CHECK(g_many.params == g_all.params);
  CHECK(g_one.stats.peak_stored_states == 1);
  CHECK(g_many.stats.peak_stored_states == 299);  // a budget above the steps stores each start once
  // One checkpoint: each step is reached from the nearest stored state: ~n²/2 recomputed steps.
  CHECK(g_one.stats.recomputed_steps < 300 * 300);
  CHECK(g_many.stats.recomputed_steps == 299 + 300);
}

TEST_CASE("linear_field refuses a state of the wrong size", "[models][edge]") {
  const nde::linear_field<vec> field(3);
  vec dydt;
  CHECK_THROWS_WITH(field(0.0, vec::Ones(2), vec::Zero(9), dydt), Catch::Contains("2 rows"));
}
