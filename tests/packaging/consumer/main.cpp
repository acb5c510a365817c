// A downstream program: includes the umbrella header and instantiates the main paths (solves with
// dopri5 and tsit5, a neural ODE with an MLP field, forward and backward with the discrete
// adjoint, an Adam step, a parameter-file round trip), so that warnings inside the templates
// show up under the consumer's strict flags (-Wall -Wextra -Wconversion -Wsign-conversion).
#include <nde/nde.hpp>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

int check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "consumer: %s failed\n", what);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int failures = 0;
  const nde::error e(nde::status::invalid_input, "consumer check");
  failures += check(e.code() == nde::status::invalid_input, "nde::error");
  std::printf("nde %s\n", nde::version_string);
  failures += check(!std::string(nde::version_string).empty(), "version_string");

  // Solves with two adaptive steppers.
  auto decay = [](double, const Eigen::Vector2d& y, Eigen::Vector2d& dydt) {
    dydt << -y[0], -2 * y[1];
  };
  const auto a = nde::solve(decay, nde::dopri5{}, 0.0, 1.0, Eigen::Vector2d(1, 1),
                            {.save_at = nde::save_at::times({0.5, 1.0})});
  const auto b = nde::solve(decay, nde::tsit5{}, 0.0, 1.0, Eigen::Vector2d(1, 1),
                            {.save_at = nde::save_at::times({0.5, 1.0})});
  failures += check(a.success() && b.success(), "solve");

  // A neural ODE: forward, backward with the discrete adjoint, one Adam step.
  using net = nde::nn::mlp<nde::nn::tanh_activation, 2, 8, 2>;
  using field = nde::network_field<net, Eigen::Vector2d>;
  Eigen::VectorXd theta(net{}.num_params());
  std::mt19937_64 rng(0);
  nde::nn::init_pytorch_default(net{}, theta, rng);
  nde::neural_ode<field, nde::tsit5, nde::discrete_adjoint, Eigen::Vector2d> model(field(net{}),
                                                                                   theta);
  const std::vector<double> ts{0.0, 0.5, 1.0};
  const auto& out = model.forward(Eigen::Vector2d(1, 0), ts);
  failures += check(out.ys.size() == ts.size(), "forward");
  std::vector<Eigen::Vector2d> dL_dy(ts.size(), Eigen::Vector2d::Zero());
  dL_dy.back() = out.ys.back();
  const auto grad = model.backward(dL_dy);
  failures += check(grad.status == nde::status::success, "backward");
  nde::optim::adam<double> optimiser(theta.size(), {.learning_rate = 1e-2});
  failures += check(optimiser.step(theta, grad.params) == nde::status::success, "adam step");

  // Parameter file round trip.
  const std::filesystem::path file =
      std::filesystem::path(argc > 1 ? argv[1] : ".") / "consumer_params.ndep";
  nde::io::save_parameters(file, net{}.layout(), theta);
  Eigen::VectorXd loaded(theta.size());
  nde::io::load_parameters(file, net{}.layout(), loaded);
  failures += check(loaded == theta, "parameter file round trip");
  std::filesystem::remove(file);
  return failures == 0 ? 0 : 1;
}
