// The Fréchet derivative of the matrix exponential, D(X)[E], as the top-right block of
// exp([[X, E], [0, X]]) (Van Loan 1978): the exact reference for gradients of y' = A y.
#pragma once

#include <Eigen/Core>
#include <unsupported/Eigen/MatrixFunctions>

namespace nde_test {

inline Eigen::MatrixXd expm_frechet(const Eigen::MatrixXd& x, const Eigen::MatrixXd& e) {
  const Eigen::Index n = x.rows();
  Eigen::MatrixXd block = Eigen::MatrixXd::Zero(2 * n, 2 * n);
  block.topLeftCorner(n, n) = x;
  block.bottomRightCorner(n, n) = x;
  block.topRightCorner(n, n) = e;
  return block.exp().topRightCorner(n, n);
}

}  // namespace nde_test
