// lagrangian_field evaluates q̈ and its vjp without touching the heap once its buffers have the
// shape of the batch (design.md: no allocation inside a solve once workspaces exist). A separate
// program: EIGEN_RUNTIME_NO_MALLOC must be defined before Eigen is first included.
#define EIGEN_RUNTIME_NO_MALLOC
#include <nde/models/lagrangian.hpp>
#include <nde/nn/mlp.hpp>

#include <catch.hpp>

TEST_CASE("lagrangian_field: no heap allocation after the first call of a shape",
          "[lagrangian][no_malloc]") {
  using net = nde::nn::mlp<nde::nn::softplus_activation, 4, 16, 16, 1>;
  const Eigen::VectorXd theta = Eigen::VectorXd::LinSpaced(net{}.num_params(), -0.5, 0.7);
  nde::lagrangian_field<net, Eigen::MatrixXd> field{net{}};
  const Eigen::MatrixXd y = 0.3 * Eigen::MatrixXd::Random(4, 8);
  const Eigen::MatrixXd w = Eigen::MatrixXd::Random(4, 8);
  Eigen::MatrixXd out(4, 8), a_y(4, 8), first_out, first_a_y;
  Eigen::VectorXd a_theta = Eigen::VectorXd::Zero(theta.size());
  const nde::params_view<double> th(theta);
  field(0.0, y, th, out);
  field.vjp(0.0, y, th, w, a_y, nde::params_ref<double>(a_theta));
  first_out = out;
  first_a_y = a_y;
  REQUIRE(out.allFinite());
  Eigen::internal::set_is_malloc_allowed(false);
  field(0.0, y, th, out);
  field.vjp(0.0, y, th, w, a_y, nde::params_ref<double>(a_theta));
  Eigen::internal::set_is_malloc_allowed(true);
  // The same numbers again (nothing stale in the reused buffers).
  CHECK(out == first_out);
  CHECK(a_y == first_a_y);
}
