// The smallest downstream program: the umbrella header, one solve. Used where the build
// configuration (pkg-config, an install without tests, a package manager) is under test.
#include <nde/nde.hpp>

#include <cstdio>

int main() {
  auto decay = [](double, const Eigen::Vector2d& y, Eigen::Vector2d& dydt) { dydt = -y; };
  const auto sol = nde::solve(decay, nde::dopri5{}, 0.0, 1.0, Eigen::Vector2d(1, 1));
  std::printf("nde %s: y(1) = %.6f\n", nde::version_string, sol.ys.back()[0]);
  return sol.success() ? 0 : 1;
}
