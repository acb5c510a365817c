/// \file
/// \brief The reversible wrapper of an explicit Runge–Kutta method (McCallum & Foster 2024,
/// "Efficient, accurate and stable gradients for neural ODEs", arXiv:2410.11648):
/// any `explicit_rk<Tableau>` becomes algebraically reversible, keeping its order.
///
/// With Φ_h(t, x) the base method's step from (t, x) over h, the state is (y, z), z0 = y0:
///
///     y1 = λ (y0 − z0) + Φ_h(t0, z0)
///     z1 = y1 + z0 − Φ_{−h}(t1, y1)
///
/// (in the paper's increment form, Ψ = Φ − id: y1 = λ y0 + (1 − λ) z0 + Ψ_h(t0, z0),
/// z1 = z0 − Ψ_{−h}(t1, y1)); the inverse is explicit too:
///
///     z0 = z1 − y1 + Φ_{−h}(t1, y1),   y0 = (y1 − Φ_h(t0, z0)) / λ + z0.
///
/// The coupling λ ∈ (0, 1] (default 0.999) damps the y − z mode and makes
/// the method stable where the base method is; the inverse divides by λ, so its errors grow
/// like λ^(−steps) at worst (`reversible_adjoint` measures the reconstruction of y0).
/// Order: that of the base method (the paper's convergence theorem).
///
/// Cost: two base steps per step (2s evaluations of f for an s-stage method). Adaptive when the
/// base tableau has an embedded pair: the error estimate is the base method's for Φ_h(t0, z0).
/// A rejected step is retried from the same (y0, z0): z moves only on `advance`.
///
/// Dense output: linear interpolation between the step ends (degree 1, order 1).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/explicit_rk.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"

#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <string>

namespace nde {

/// \brief McCallum & Foster's reversible wrapper of `explicit_rk<Tableau>`.
/// \tparam Tableau the base method's Butcher tableau (e.g. `dopri5_tableau`, `rk4_tableau`).
template <butcher_tableau Tableau>
class reversible_rk {
 public:
  using base_method = explicit_rk<Tableau>;                     ///< The wrapped method.
  static constexpr int order = base_method::order;              ///< Same as the base method.
  static constexpr int stages = 2 * base_method::stages;        ///< f evaluations per step.
  static constexpr bool adaptive = base_method::adaptive;       ///< Base has an embedded pair.
  static constexpr int error_order = base_method::error_order;  ///< Base estimate's order.
  static constexpr bool fsal = true;                            ///< Nothing to evaluate at the end.
  static constexpr int dense_degree = 1;                        ///< Linear between step ends.
  static constexpr int dense_order = 1;                         ///< Order of the interpolant.
  static constexpr bool algebraically_reversible = true;        ///< Has an explicit inverse.

  /// \brief The wrapper with the default coupling λ = 0.999.
  reversible_rk() = default;
  /// \brief The wrapper with coupling λ.
  /// \throws nde::error (invalid_input) unless 0 < λ ≤ 1.
  explicit reversible_rk(double lambda) : m_lambda(lambda) {
    if (!(lambda > 0.0 && lambda <= 1.0))
      throw error(
          status::invalid_input,
          "reversible_rk: the coupling lambda must lie in (0, 1], got " + std::to_string(lambda));
  }
  /// \brief The coupling λ.
  [[nodiscard]] double lambda() const noexcept { return m_lambda; }

  /// \brief Buffers of one integration.
  template <state State>
  struct workspace {
    typename base_method::template workspace<State> forward;   ///< Φ_h(t0, z0): its stages, error.
    typename base_method::template workspace<State> backward;  ///< Φ_{−h}(t1, y1).
    State z;                                                   ///< z at the step start.
    State z_next;                                              ///< z1 of the last trial step.
    State phi;                                                 ///< Base step output.
  };

  /// \brief A workspace shaped like `like`.
  template <state State>
  [[nodiscard]] static workspace<State> make_workspace(const State& like) {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }
  /// \brief Resizes every buffer like `like`.
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    base_method::resize(ws.forward, like);
    base_method::resize(ws.backward, like);
    for (State* s : {&ws.z, &ws.z_next, &ws.phi}) s->setZero(like.rows(), like.cols());
  }

  /// \brief z0 = y0 and f(t0, y0) (for the initial-step heuristic).
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    ws.z = y0;
    return m_base.init(term, t0, y0, theta, ws.forward);
  }

  /// \brief One trial step; z1 goes to `ws.z_next`. The error estimate is the base method's for
  /// Φ_h(t0, z0) (null without an embedded pair).
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using scalar = scalar_of_t<State>;
    const auto lambda = static_cast<scalar>(m_lambda);
    const State* error = nullptr;
    if constexpr (adaptive) error = &ws.forward.y_error;
    if (m_base.init(term, t0, static_cast<const State&>(ws.z), theta, ws.forward) !=
        status::success)
      return {status::non_finite, error};
    step_result<State> r =
        m_base.step(term, t0, t1, static_cast<const State&>(ws.z), theta, ws.forward, ws.phi);
    if (r.status != status::success) return {status::non_finite, error};
    y1 = lambda * (y0 - ws.z) + ws.phi;
    if (!y1.allFinite() ||
        m_base.init(term, t1, static_cast<const State&>(y1), theta, ws.backward) != status::success)
      return {status::non_finite, error};
    r = m_base.step(term, t1, t0, static_cast<const State&>(y1), theta, ws.backward, ws.phi);
    ws.z_next = y1 + ws.z - ws.phi;
    const bool finite = r.status == status::success && ws.z_next.allFinite();
    return {finite ? status::success : status::non_finite, error};
  }

  /// \brief Nothing to do.
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term&, T, const State&, params_view<scalar_of_t<State>>,
                      workspace<State>&) const {
    return status::success;
  }
  /// \brief f(t0, y0) after `init`.
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return base_method::start_derivative(ws.forward);
  }
  /// \brief Moves z1 into place for the next step.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.z.swap(ws.z_next);
  }
  /// \brief z at the start of the current step.
  template <state State>
  [[nodiscard]] static const State& auxiliary(const workspace<State>& ws) noexcept {
    return ws.z;
  }
  /// \brief z at the end of the last trial step.
  template <state State>
  [[nodiscard]] static const State& next_auxiliary(const workspace<State>& ws) noexcept {
    return ws.z_next;
  }
  /// \brief z0 of a solve from y0: y0 itself. \return f evaluations (0).
  template <class Term, time_scalar T, state State>
  std::size_t initial_auxiliary(Term&, T, const State& y0, params_view<scalar_of_t<State>>,
                                State& z0) const {
    z0 = y0;
    return 0;
  }

  /// \brief Linear interpolation: `y(t0 + θh) = y0 + θ (y1 − y0)`.
  template <time_scalar T, state State>
  void dense_coefficients(T, T, const State& y0, const State& y1, const workspace<State>&,
                          std::array<State, 2>& coefficients) const {
    coefficients[0] = y0;
    coefficients[1] = y1 - y0;
  }

  /// \brief Buffers of the backward pass: the current (y, z), their cotangents, and the base
  /// method's reverse step.
  template <state State>
  struct reversal {
    typename base_method::template reverse_workspace<State> base;  ///< Replayed base steps.
    State y, z;                                                    ///< Current (y, z).
    State y_bar, z_bar;                                            ///< Their cotangents.
    State scratch;                                                 ///< Cotangent in flight.
    scalar_of_t<State> t0_bar = 0;  ///< Cotangent of the last reversed step's start time.
    scalar_of_t<State> t1_bar = 0;  ///< Cotangent of its end time.
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      base.resize(like);
      for (State* s : {&y, &z, &y_bar, &z_bar, &scratch}) s->setZero(like.rows(), like.cols());
    }
  };
  /// \brief Evaluation counts of a backward step.
  struct reverse_counts {
    std::size_t evaluations = 0;  ///< f evaluations.
    std::size_t vjps = 0;         ///< vector–Jacobian products.
  };

  /// \brief Starts the backward pass at (t1, y1, z1) with zero cotangents. \return f evaluations.
  template <class Term, time_scalar T, state State>
  std::size_t start_reversal(Term&, T, const State& y1, const State& z1,
                             params_view<scalar_of_t<State>>, reversal<State>& r) const {
    r.resize(y1);
    r.y = y1;
    r.z = z1;
    return 0;
  }

  /// \brief One backward step over [t0, t1]: (y1, z1) becomes (y0, z0) (the explicit inverse,
  /// or the stored start state when `y0`, `z0` are non-null) and the cotangents of (y1, z1)
  /// become those of (y0, z0); `theta_bar` accumulates. Replays both base steps (once each)
  /// and pulls back through them with the base method's exact reverse step. With `with_time`
  /// (a time-differentiable term) `r.t0_bar`, `r.t1_bar` are the cotangents of the step's start
  /// and end times.
  template <class Term, time_scalar T, state State>
  reverse_counts reverse_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                              reversal<State>& r, params_ref<scalar_of_t<State>> theta_bar,
                              const std::type_identity_t<State>* y0,
                              const std::type_identity_t<State>* z0, bool with_time = false) const {
    using scalar = scalar_of_t<State>;
    const auto lambda = static_cast<scalar>(m_lambda);
    reverse_counts counts;
    // z1 = y1 + z0 − Φ_{−h}(t1, y1): z̄0 = z̄1, ȳ1 += z̄1 − J_{Φ−h}ᵀ z̄1.
    counts.evaluations += m_base.replay(term, t1, t0, r.y, theta, r.base, false);
    r.scratch = -r.z_bar;
    counts.vjps += m_base.pull_step(term, t1, t0, theta, r.base, r.scratch, theta_bar, with_time);
    r.t1_bar = r.base.t0_bar;  // Φ_{−h} starts at t1
    r.t0_bar = r.base.t1_bar;
    r.y_bar += r.z_bar + r.scratch;
    if (z0 != nullptr) {
      r.z = *z0;
    } else {
      r.z = r.z - r.y + r.base.y1;
    }
    // y1 = λ (y0 − z0) + Φ_h(t0, z0): ȳ0 = λ ȳ1, z̄0 += J_{Φh}ᵀ ȳ1 − λ ȳ1.
    counts.evaluations += m_base.replay(term, t0, t1, r.z, theta, r.base, false);
    if (y0 != nullptr) {
      r.y = *y0;
    } else {
      r.y = (r.y - r.base.y1) / lambda + r.z;
    }
    r.scratch = r.y_bar;
    counts.vjps += m_base.pull_step(term, t0, t1, theta, r.base, r.scratch, theta_bar, with_time);
    r.t0_bar += r.base.t0_bar;
    r.t1_bar += r.base.t1_bar;
    r.z_bar += r.scratch - lambda * r.y_bar;
    r.y_bar *= lambda;
    return counts;
  }

  /// \brief After the first step: z0 = y0, so z̄0 adds to ȳ0 (no extra time cotangent).
  /// \return vjps (0).
  template <class Term, time_scalar T, state State>
  std::size_t finish_reversal(Term&, T, params_view<scalar_of_t<State>>, reversal<State>& r,
                              params_ref<scalar_of_t<State>>, bool = false) const {
    r.t0_bar = 0;
    r.y_bar += r.z_bar;
    return 0;
  }

 private:
  double m_lambda = 0.999;
  base_method m_base{};
};

}  // namespace nde
