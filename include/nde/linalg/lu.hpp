/// \file
/// \brief `nde::dense_lu`: a caller-owned LU workspace for the iteration matrices of implicit
/// methods, `M = I − hγJ` (ESDIRK, Rosenbrock), with solves by M and by Mᵀ (discrete adjoints)
/// and a singularity test that is a status, never a silent answer.
///
/// Partial pivoting (`Eigen::PartialPivLU`, PA = LU): factor O(n³), each solve O(n²). Once sized,
/// `factor`, `solve` and `solve_transpose` allocate nothing (the transposed solve is written as
/// two in-place triangular solves and a permutation: Eigen's `transpose().solve()` allocates).
#pragma once

#include "nde/core/format.hpp"
#include "nde/core/status.hpp"

#include <Eigen/Core>
#include <Eigen/LU>

#include <cmath>
#include <limits>
#include <string>

namespace nde {

/// \brief LU factorisation of a dense n × n matrix with singularity detection (see the file
/// comment). \tparam S scalar.
template <class S>
class dense_lu {
 public:
  using matrix_type = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  ///< Dense matrix.
  using vector_type = Eigen::Matrix<S, Eigen::Dynamic, 1>;               ///< Column vector.

  /// \brief Empty (size 0).
  dense_lu() = default;
  /// \brief Storage for n × n matrices.
  explicit dense_lu(Eigen::Index n) : m_lu(n), m_scratch(n) {}

  /// \brief Order n of the last factorised matrix.
  [[nodiscard]] Eigen::Index size() const noexcept { return m_size; }
  /// \brief True after a successful `factor`.
  [[nodiscard]] bool valid() const noexcept { return m_valid; }
  /// \brief max|u_ii| / min|u_ii| of the last factorisation (a cheap lower bound on the
  /// condition number; +∞ when singular).
  [[nodiscard]] S pivot_ratio() const noexcept { return m_pivot_ratio; }
  /// \brief Why the last `factor` failed (empty after a success).
  [[nodiscard]] const std::string& problem() const noexcept { return m_problem; }

  /// \brief Factorises `m` (n × n). \return `success`; `non_finite` when `m` has NaN/Inf;
  /// `not_converged` when it is singular to working precision (a zero pivot, or
  /// max|u_ii|/min|u_ii| above 1/ε) — an implicit step then fails and is retried smaller.
  status factor(const matrix_type& m) {
    m_valid = false;
    m_problem.clear();
    if (m.rows() != m.cols()) {
      m_problem =
          detail::concatenate("the iteration matrix is ", m.rows(), "x", m.cols(), ", not square");
      return status::invalid_input;
    }
    if (!m.allFinite()) {
      m_problem =
          "the iteration matrix I - h*gamma*J contains NaN or Inf (is the Jacobian finite?)";
      return status::non_finite;
    }
    m_size = m.rows();
    if (m_scratch.size() != m_size) m_scratch.resize(m_size);
    m_lu.compute(m);
    S largest = 0, smallest = std::numeric_limits<S>::infinity();
    for (Eigen::Index i = 0; i < m_size; ++i) {
      const S u = std::abs(m_lu.matrixLU()(i, i));
      largest = u > largest ? u : largest;
      smallest = u < smallest ? u : smallest;
    }
    m_pivot_ratio = smallest > 0 ? largest / smallest : std::numeric_limits<S>::infinity();
    if (m_size > 0 &&
        (!(smallest > 0) || !(m_pivot_ratio * std::numeric_limits<S>::epsilon() < 1) ||
         !std::isfinite(m_pivot_ratio))) {
      m_problem = detail::concatenate(
          "the iteration matrix I - h*gamma*J is singular to working "
          "precision (pivot ratio ",
          m_pivot_ratio, ")");
      return status::not_converged;
    }
    m_valid = true;
    return status::success;
  }

  /// \brief x = M⁻¹ b in place (x holds b on entry; any contiguous storage of n scalars).
  template <class Vector>
  void solve_in_place(Vector& x) const {
    check(x.size());
    m_scratch = m_lu.permutationP() * Eigen::Map<const vector_type>(x.data(), m_size);
    m_lu.matrixLU().template triangularView<Eigen::UnitLower>().solveInPlace(m_scratch);
    m_lu.matrixLU().template triangularView<Eigen::Upper>().solveInPlace(m_scratch);
    Eigen::Map<vector_type>(x.data(), m_size) = m_scratch;
  }

  /// \brief x = M⁻ᵀ b in place (the discrete adjoint's transposed stage systems).
  template <class Vector>
  void solve_transpose_in_place(Vector& x) const {
    check(x.size());
    m_scratch = Eigen::Map<const vector_type>(x.data(), m_size);
    // Mᵀ = Uᵀ Lᵀ P: solve Uᵀ z = b, Lᵀ w = z, x = Pᵀ w.
    m_lu.matrixLU().template triangularView<Eigen::Upper>().transpose().solveInPlace(m_scratch);
    m_lu.matrixLU().template triangularView<Eigen::UnitLower>().transpose().solveInPlace(m_scratch);
    Eigen::Map<vector_type>(x.data(), m_size) = m_lu.permutationP().transpose() * m_scratch;
  }

 private:
  void check(Eigen::Index n) const {
    if (!m_valid || n != m_size)
      throw error(status::invalid_input,
                  detail::concatenate(
                      "dense_lu: solve of a vector of size ", n, " with ",
                      m_valid ? "a factorisation of size " : "no valid factorisation (size ",
                      m_size, m_valid ? "" : ")"));
  }

  Eigen::PartialPivLU<matrix_type> m_lu;
  mutable vector_type m_scratch;
  Eigen::Index m_size = 0;
  S m_pivot_ratio = 0;
  bool m_valid = false;
  std::string m_problem;
};

}  // namespace nde
