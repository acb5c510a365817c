// nde::training: the window sampler (deterministic per step, consecutive windows, masks, bad
// input), the trajectory losses against hand values and central differences, and fit: it
// recovers a linear system, resumes from a checkpoint bit for bit, stops early, stops on the
// callback, and reports a failed forward pass with its step.
#include <nde/nde.hpp>
#include <nde/training/fit.hpp>

#include <catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

namespace {

using vec2 = Eigen::Vector2d;
using batch_state = Eigen::Matrix<double, 2, Eigen::Dynamic>;
using Catch::Matchers::Contains;
namespace tr = nde::training;

// y' = A y, A = [[-0.1, 1], [-1, -0.1]] (column-major θ = -0.1, -1, 1, -0.1).
const Eigen::Vector4d true_theta(-0.1, -1.0, 1.0, -0.1);

std::vector<tr::trajectory<vec2>> make_data(int count, int samples, double dt) {
  std::vector<tr::trajectory<vec2>> data;
  for (int j = 0; j < count; ++j) {
    tr::trajectory<vec2> t;
    for (int i = 0; i < samples; ++i) t.ts.push_back(dt * i);
    const vec2 y0(std::cos(0.7 * j), std::sin(0.7 * j) + 0.2);
    auto f = [](double, const vec2& y, vec2& d) { d << -0.1 * y[0] + y[1], -y[0] - 0.1 * y[1]; };
    t.ys = nde::solve_or_throw(f, nde::dopri5{}, 0.0, t.ts.back(), y0,
                               {.save_at = nde::save_at::times(t.ts),
                                .controller = nde::pid_controller{.rtol = 1e-10, .atol = 1e-12}})
               .ys;
    data.push_back(std::move(t));
  }
  return data;
}

using model_type = nde::neural_ode<nde::linear_field<batch_state>, nde::dopri5,
                                   nde::discrete_adjoint, batch_state>;

model_type make_model() {
  return model_type(nde::linear_field<batch_state>(2), Eigen::VectorXd::Zero(4), {},
                    {.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-10}});
}

}  // namespace

TEST_CASE("window_sampler: consecutive windows, deterministic per step, checked input",
          "[training][data]") {
  const auto data = make_data(3, 30, 0.1);
  const tr::window_sampler<batch_state, vec2> sample(data, 5, 4, 42);
  const auto a = sample(7), b = sample(7), c = sample(8);
  REQUIRE(a.ts.size() == 5);
  REQUIRE(a.targets.size() == 5);
  CHECK(a.y0.cols() == 4);
  CHECK((a.y0.array() == b.y0.array()).all());
  CHECK_FALSE((a.y0.array() == c.y0.array()).all());
  // Each column is 5 consecutive observations of one trajectory, starting at y0.
  for (Eigen::Index col = 0; col < 4; ++col) {
    bool found = false;
    for (const auto& t : data)
      for (std::size_t s = 0; s + 5 <= t.ys.size(); ++s) {
        bool same = true;
        for (std::size_t i = 0; i < 5; ++i) same = same && t.ys[s + i] == a.targets[i].col(col);
        found = found || same;
      }
    CHECK(found);
    CHECK(a.targets[0].col(col) == a.y0.col(col));
  }
  CHECK(a.ts[1] - a.ts[0] == Approx(0.1));

  auto irregular = data;
  irregular[1].ts[3] += 0.01;
  CHECK_THROWS_WITH((tr::window_sampler<batch_state, vec2>(irregular, 5, 4)),
                    Contains("uniform grids"));
  CHECK_NOTHROW(tr::window_sampler<batch_state, vec2>(irregular, 5, 1));
  CHECK_THROWS_WITH((tr::window_sampler<batch_state, vec2>(data, 31, 2)),
                    Contains("fewer than the window length"));
  CHECK_THROWS_WITH((tr::window_sampler<vec2, vec2>(data, 5, 2)), Contains("batch_size 1"));
  CHECK_THROWS_AS((tr::window_sampler<batch_state, vec2>(data, 1, 2)), nde::error);
}

TEST_CASE("window_sampler: epochs visit every window once, in a new order each epoch",
          "[training][data]") {
  const auto data = make_data(3, 12, 0.1);  // 3 × (12 − 4 + 1) = 27 windows of 4
  const tr::window_sampler<batch_state, vec2> sample(data, 4, 9, 5, tr::sampling::epochs);
  REQUIRE(sample.windows() == 27);
  REQUIRE(sample.steps_per_epoch() == 3);
  auto starts_of = [&](std::int64_t epoch) {
    std::vector<double> firsts;  // y0 components identify the window
    for (std::int64_t k = 0; k < 3; ++k) {
      const auto b = sample(epoch * 3 + k);
      for (Eigen::Index c = 0; c < b.y0.cols(); ++c) firsts.push_back(b.y0(0, c) * 7 + b.y0(1, c));
    }
    return firsts;
  };
  auto e0 = starts_of(0), e1 = starts_of(1);
  CHECK(e0 != e1);  // reshuffled
  std::sort(e0.begin(), e0.end());
  std::sort(e1.begin(), e1.end());
  CHECK(e0 == e1);                                              // the same 27 windows
  CHECK(std::adjacent_find(e0.begin(), e0.end()) == e0.end());  // each once
  // Resumable: the same step gives the same batch, whatever came before.
  const auto again = sample(4);
  (void)sample(0);
  CHECK((sample(4).y0.array() == again.y0.array()).all());
}

TEST_CASE("trajectory_loss: values, masks and cotangents against central differences",
          "[training][loss]") {
  tr::batch<batch_state> b;
  b.ts = {0.0, 0.5, 1.0};
  b.y0 = batch_state::Zero(2, 2);
  b.targets = {batch_state::Zero(2, 2), batch_state::Constant(2, 2, 0.5),
               batch_state::Constant(2, 2, -1.0)};
  b.mask = {batch_state::Ones(2, 2), batch_state::Ones(2, 2), batch_state::Ones(2, 2)};
  b.mask[2](1, 1) = 0;
  b.targets[2](1, 1) = std::numeric_limits<double>::quiet_NaN();    // missing: ignored
  std::vector<batch_state> ys = {batch_state::Constant(2, 2, 9.0),  // output 0 is not scored
                                 batch_state::Constant(2, 2, 0.8),
                                 batch_state::Constant(2, 2, 1.5)};
  ys[1](0, 0) = 0.5;  // r = 0 (MAE subgradient 0)
  for (const auto kind : {tr::loss_kind::mse, tr::loss_kind::mae, tr::loss_kind::huber}) {
    const tr::trajectory_loss loss{.kind = kind, .delta = 1.0};
    std::vector<batch_state> c;
    const double l = loss(std::span<const batch_state>(ys), b, c);
    // 7 observed entries: 3 at r = 0.3, 1 at 0, 3 at r = 2.5.
    const double expected = kind == tr::loss_kind::mse   ? (3 * 0.09 + 3 * 6.25) / 7
                            : kind == tr::loss_kind::mae ? (3 * 0.3 + 3 * 2.5) / 7
                                                         : (3 * 0.045 + 3 * 2.0) / 7;
    CHECK(l == Approx(expected).epsilon(1e-12));
    CHECK(c[0].isZero(0));
    CHECK(c[2](1, 1) == 0);
    for (std::size_t i = 1; i < 3; ++i)
      for (Eigen::Index e = 0; e < 4; ++e) {
        if (i == 1 && e == 0 && kind == tr::loss_kind::mae) continue;  // kink
        if (i == 2 && e == 3) continue;                                // masked
        auto plus = ys, minus = ys;
        const double h = 1e-6;
        plus[i].data()[e] += h;
        minus[i].data()[e] -= h;
        std::vector<batch_state> scratch;
        const double fd = (loss(std::span<const batch_state>(plus), b, scratch) -
                           loss(std::span<const batch_state>(minus), b, scratch)) /
                          (2 * h);
        CHECK(c[i].data()[e] == Approx(fd).margin(1e-8));
      }
  }
  b.mask.clear();
  std::vector<batch_state> c;
  CHECK_THROWS_WITH(tr::trajectory_loss{}(std::span<const batch_state>(ys), b, c),
                    Contains("not masked"));
}

TEST_CASE("fit recovers a linear system from windows of its trajectories", "[training][fit]") {
  const auto data = make_data(4, 40, 0.1);
  const tr::window_sampler<batch_state, vec2> sample(data, 8, 6, 3);
  model_type model = make_model();
  nde::optim::adam<double> adam(4, {.learning_rate = 0.05});
  const auto r = tr::fit(
      model, adam, sample, tr::trajectory_loss{},
      {.iterations = 400,
       .learning_rate =
           nde::optim::cosine_schedule<double>{.base = 0.05, .total_steps = 400, .minimum = 5e-4},
       .quiet = true});
  REQUIRE(r.success());
  CHECK(r.iterations == 400);
  CHECK(r.losses.size() == 400);
  CHECK(r.final_loss < 1e-3 * r.losses.front());
  CHECK((model.params() - true_theta).norm() < 2e-2);
}

TEST_CASE("fit resumes from a checkpoint exactly where it stopped", "[training][fit][io]") {
  const auto data = make_data(2, 30, 0.1);
  const tr::window_sampler<batch_state, vec2> sample(data, 6, 3, 9);
  const auto dir = std::filesystem::temp_directory_path() / "nde_test_fit_resume";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const tr::fit_options base{.iterations = 30, .clip_norm = 1.0, .quiet = true};

  model_type straight = make_model();
  nde::optim::adam<double> adam1(4, {.learning_rate = 0.03});
  REQUIRE(tr::fit(straight, adam1, sample, tr::trajectory_loss{}, base).success());

  model_type first = make_model();
  nde::optim::adam<double> adam2(4, {.learning_rate = 0.03});
  tr::fit_options part = base;
  part.checkpoint = dir / "run.ndep";
  part.iterations = 12;
  REQUIRE(tr::fit(first, adam2, sample, tr::trajectory_loss{}, part).success());
  // A fresh model and optimiser, resumed from the file.
  model_type second = make_model();
  nde::optim::adam<double> adam3(4, {.learning_rate = 0.03});
  part.iterations = 30;
  part.resume = true;
  const auto r = tr::fit(second, adam3, sample, tr::trajectory_loss{}, part);
  REQUIRE(r.success());
  CHECK(r.resumed_from == 12);
  CHECK(r.iterations == 30);
  CHECK(r.losses.size() == 18);
  CHECK((second.params().array() == straight.params().array()).all());
  CHECK(adam3.step_count() == adam1.step_count());

  // A checkpoint whose step count lies beyond the planned iterations is refused, untouched.
  {
    model_type fresh = make_model();
    nde::optim::adam<double> opt(4, {.learning_rate = 0.03});
    tr::fit_options shorter = part;
    shorter.iterations = 10;
    const auto beyond = tr::fit(fresh, opt, sample, tr::trajectory_loss{}, shorter);
    CHECK(beyond.status == nde::status::invalid_input);
    CHECK_THAT(beyond.message, Contains("beyond iterations"));
    CHECK(opt.step_count() == 0);
    CHECK(fresh.params().isZero(0));
  }
  // A checkpoint for a different optimiser is refused with a message.
  nde::optim::adam<double> ams(4, {.learning_rate = 0.03, .amsgrad = true});
  model_type other = make_model();
  const auto refused = tr::fit(other, ams, sample, tr::trajectory_loss{}, part);
  CHECK(refused.status == nde::status::invalid_input);
  CHECK_THAT(refused.message, Contains("cannot resume"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("fit: early stopping, the callback, failures and bad options", "[training][fit]") {
  const auto data = make_data(2, 30, 0.1);
  const tr::window_sampler<batch_state, vec2> sample(data, 6, 3, 1);
  nde::optim::adam<double> adam(4, {.learning_rate = 0.01});
  SECTION("patience") {
    model_type model = make_model();
    double v = 1.0;
    const auto r = tr::fit(model, adam, sample, tr::trajectory_loss{},
                           {.iterations = 100,
                            .quiet = true,
                            .evaluate = [&] { return v += 1.0; },  // never improves
                            .evaluate_every = 5,
                            .patience = 3});
    REQUIRE(r.success());
    CHECK(r.stopped_early);
    CHECK(r.iterations == 20);  // the first validation sets the best, 3 more without gain
    CHECK(r.best_validation == 2.0);
  }
  SECTION("callback") {
    model_type model = make_model();
    const auto r =
        tr::fit(model, adam, sample, tr::trajectory_loss{},
                {.iterations = 100, .quiet = true, .callback = [](const tr::fit_progress& p) {
                   return p.iteration < 7;
                 }});
    CHECK(r.stopped_early);
    CHECK(r.iterations == 7);
  }
  SECTION("a failed forward pass names the step") {
    model_type model(nde::linear_field<batch_state>(2), Eigen::VectorXd::Zero(4), {},
                     {.controller = nde::pid_controller{}, .max_steps = 1});
    const auto r = tr::fit(model, adam, sample, tr::trajectory_loss{}, {.quiet = true});
    CHECK(r.status == nde::status::max_steps_reached);
    CHECK_THAT(r.message, Contains("fit: step 1: forward failed"));
  }
  SECTION("bad options") {
    model_type model = make_model();
    CHECK(tr::fit(model, adam, sample, tr::trajectory_loss{}, {.iterations = -1}).status ==
          nde::status::invalid_input);
    CHECK_THAT(tr::fit(model, adam, sample, tr::trajectory_loss{}, {.patience = 2}).message,
               Contains("needs an evaluate"));
  }
}

TEST_CASE("predict solves like forward and records nothing for backward", "[training][models]") {
  model_type model(nde::linear_field<batch_state>(2), true_theta, {},
                   {.controller = nde::pid_controller{.rtol = 1e-8, .atol = 1e-10}});
  const batch_state y0 = batch_state::Ones(2, 3);
  const std::vector<double> ts{0.0, 0.5, 1.0};
  const auto forward = model.forward(y0, ts).ys;
  const auto& predicted = model.predict(y0, ts);
  REQUIRE(predicted.success());
  for (std::size_t i = 0; i < ts.size(); ++i)
    CHECK((predicted.ys[i].array() == forward[i].array()).all());
  CHECK_THROWS_WITH(model.backward(std::vector<batch_state>(3, batch_state::Zero(2, 3))),
                    Contains("inference"));
}
