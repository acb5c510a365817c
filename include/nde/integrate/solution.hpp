/// \file
/// \brief What a solve returns: output times and states, statistics, status, the
/// recorded step times, and the dense solution that can be evaluated anywhere in [t0, t1].
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace nde {

/// \brief Work done by a solve.
struct solve_stats {
  std::size_t rhs_evals =
      0;  ///< Evaluations of the vector field (including the initial-step guess).
  std::size_t accepted_steps = 0;  ///< Steps kept.
  std::size_t rejected_steps =
      0;  ///< Steps retried with a smaller dt (error too large, NaN/Inf, or no Newton convergence).
  /// \brief Accepted steps in which Hairer's stiffness test fired (h·ρ above 0.9 × the method's
  /// stability boundary, ρ an estimate of the dominant eigenvalue of ∂f/∂y: the step is limited
  /// by stability, not accuracy); only for methods with the test (`stiffness_detection`:
  /// dopri5, tsit5).
  std::size_t stiff_steps = 0;
  /// \brief Dense Jacobians the term computed (`jacobian()`, implicit methods); Jacobians by
  /// finite differences count as evaluations in `rhs_evals` instead.
  std::size_t jacobian_evals = 0;
  /// \brief Adds another solve's counters (the one place statistics are summed).
  solve_stats& operator+=(const solve_stats& other) noexcept {
    rhs_evals += other.rhs_evals;
    accepted_steps += other.accepted_steps;
    rejected_steps += other.rejected_steps;
    jacobian_evals += other.jacobian_evals;
    stiff_steps += other.stiff_steps;
    return *this;
  }
};

/// \brief Piecewise-polynomial solution of a solve: on step i, `y(t) = Σ_j c_ij θ^j` with
/// θ = (t - t_i) / (t_{i+1} - t_i), the method's own dense output.
///
/// Evaluation costs one binary search over the steps plus a Horner sum (O(log n + degree·N)).
/// Storage: (degree + 1) states per accepted step.
/// \tparam T time scalar. \tparam State state type.
template <time_scalar T, state State>
class dense_solution {
 public:
  /// \brief True when nothing was recorded (the solve did not ask for `dense`).
  [[nodiscard]] bool empty() const noexcept { return m_times.empty(); }
  /// \brief First time covered (t0).
  [[nodiscard]] T t_begin() const { return m_times.front(); }
  /// \brief Last time covered (t1, or where a failed solve stopped).
  [[nodiscard]] T t_end() const { return m_times.back(); }
  /// \brief Number of steps (polynomial pieces).
  [[nodiscard]] std::size_t segments() const noexcept {
    return m_times.empty() ? 0 : m_times.size() - 1;
  }
  /// \brief Step boundaries t0, t1, … (monotone in the direction of integration).
  [[nodiscard]] const std::vector<T>& step_times() const noexcept { return m_times; }

  /// \brief Writes y(t) into `out` without allocating (once `out` has the state's shape).
  /// \return `status::invalid_input` if t is NaN or outside the covered interval, or if the
  /// solution is empty; `out` is then left unchanged.
  status evaluate(T t, State& out) const {
    if (m_times.empty() || !(within(t))) return status::invalid_input;
    if (m_times.size() == 1) {
      out = m_start;
      return status::success;
    }
    if (t == m_times.back()) {  // the end exactly, not the polynomial's rounding of it
      out = m_end;
      return status::success;
    }
    const bool forward = m_times.back() > m_times.front();
    // Index of the first boundary strictly after t (in the direction of integration).
    const auto after = forward
                           ? std::upper_bound(m_times.begin(), m_times.end(), t)
                           : std::upper_bound(m_times.begin(), m_times.end(), t, std::greater<T>{});
    std::size_t segment = static_cast<std::size_t>(after - m_times.begin());
    segment = std::clamp<std::size_t>(segment, 1, m_times.size() - 1) - 1;
    evaluate_piece(segment, t, out);
    return status::success;
  }

  /// \brief `evaluate`, and outside the covered interval the first or last step's polynomial
  /// continued beyond its step (the interpolating adjoint reads y at the stage times of implicit
  /// methods with nodes c > 1, slightly past a segment's end). \return `invalid_input` for an
  /// empty solution or a NaN t.
  status extrapolate(T t, State& out) const {
    if (m_times.empty() || std::isnan(t)) return status::invalid_input;
    if (within(t) || m_times.size() == 1) return evaluate(within(t) ? t : m_times.front(), out);
    const bool past_end = std::abs(t - m_times.back()) < std::abs(t - m_times.front());
    evaluate_piece(past_end ? m_times.size() - 2 : 0, t, out);
    return status::success;
  }

  /// \brief y(t); throws `nde::error` (invalid_input) if t is outside the covered interval.
  [[nodiscard]] State operator()(T t) const {
    State out = m_start;
    if (evaluate(t, out) != status::success)
      throw error(status::invalid_input,
                  detail::concatenate("dense_solution evaluated at t = ", t,
                                      ", outside the solved interval or on an empty solution"));
    return out;
  }

  /// \name Used by the solve driver
  /// \{

  /// \brief Starts a new solution at (t0, y0) with polynomials of `degree`.
  void start(T t0, const State& y0, int degree) {
    m_times.assign(1, t0);
    m_coefficients.clear();
    m_start = y0;
    m_end = y0;
    m_terms = static_cast<std::size_t>(degree) + 1;
  }
  /// \brief Appends the step ending at (t1, y1) with monomial coefficients `coefficients[0..degree]`.
  template <class Coefficients>
  void append(T t1, const Coefficients& coefficients, const State& y1) {
    m_times.push_back(t1);
    m_end = y1;
    for (std::size_t j = 0; j < m_terms; ++j) m_coefficients.push_back(coefficients[j]);
  }
  /// \brief Forgets everything.
  void clear() {
    m_times.clear();
    m_coefficients.clear();
  }
  /// \}

 private:
  void evaluate_piece(std::size_t segment, T t, State& out) const {
    const T t0 = m_times[segment];
    const T t1 = m_times[segment + 1];
    const auto theta = static_cast<scalar_of_t<State>>((t - t0) / (t1 - t0));
    const std::size_t first = segment * m_terms;
    out = m_coefficients[first + m_terms - 1];
    for (std::size_t j = m_terms - 1; j-- > 0;) {
      out *= theta;
      out += m_coefficients[first + j];
    }
  }

  [[nodiscard]] bool within(T t) const {
    const T lo = std::min(m_times.front(), m_times.back());
    const T hi = std::max(m_times.front(), m_times.back());
    return t >= lo && t <= hi;
  }

  std::vector<T> m_times;
  std::vector<State> m_coefficients;
  State m_start;
  State m_end;
  std::size_t m_terms = 1;
};

/// \brief Result of `nde::solve`.
///
/// On failure `status` says why, `message` names the problem (time, step size), and `ts`/`ys`
/// hold the outputs reached before the failure.
template <time_scalar T, state State>
struct solution {
  std::vector<T> ts;                          ///< Output times (see `save_at`).
  std::vector<State> ys;                      ///< States at `ts`.
  solve_stats stats;                          ///< Work counters.
  nde::status status = nde::status::success;  ///< Outcome.
  std::string message;        ///< Empty on success (or a note); otherwise what went wrong.
  std::vector<T> step_times;  ///< t0 and every accepted step end, if `record_steps`.
  /// \brief The problem was found stiff (DOPRI5's rule: 15 stiff accepted steps with fewer than
  /// 6 non-stiff ones in a row between them; see `solve_stats::stiff_steps`); `message` then carries a note, and
  /// `stiff_from` is the end of the step where it was decided. Methods without the test
  /// never set it.
  bool stiff = false;
  T stiff_from = T(0);             ///< Where `stiff` was decided (meaningful only when `stiff`).
  dense_solution<T, State> dense;  ///< Evaluable solution, if `dense` was requested.

  /// \brief True when the solve reached t1 without error.
  [[nodiscard]] bool success() const noexcept { return status == nde::status::success; }

  /// \brief Output `i`, checked: a failed solve has fewer outputs than requested, and indexing
  /// `ys` past them is undefined behaviour; this says so instead.
  /// \throws nde::error (the solve's status, or invalid_input) naming the index, the count
  ///   and, after a failure, the failure's message.
  [[nodiscard]] const State& at(std::size_t i) const {
    if (i >= ys.size())
      throw error(success() ? nde::status::invalid_input : status,
                  detail::concatenate("output ", i, " requested but the solve has ", ys.size(),
                                      " outputs", success() ? "" : " (it failed: ",
                                      success() ? "" : message, success() ? "" : ")"));
    return ys[i];
  }
  /// \brief Throws `nde::error` with the status and message unless the solve succeeded;
  /// returns the solution for chaining (`auto& ys = model.forward(y0, ts).value().ys`).
  const solution& value() const {
    if (!success()) throw error(status, message);
    return *this;
  }
};

}  // namespace nde
