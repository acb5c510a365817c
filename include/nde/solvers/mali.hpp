/// \file
/// \brief The asynchronous leapfrog (ALF) method of MALI (Zhuang, Dvornek, Tatikonda & Duncan
/// 2021, "MALI: a memory efficient and reverse accurate integrator for neural ODEs", ICLR,
/// Algorithm 1 with η = 1): an algebraically reversible order-2 method with one evaluation of f
/// per step, and an adaptive step.
///
/// The state is (y, v), v an approximation of f carried between steps, v0 = f(t0, y0):
///
///     k = y0 + h/2 v0,   u = f(t0 + h/2, k),   v1 = 2u − v0,   y1 = k + h/2 v1
///
/// and its inverse, in closed form and at the same cost:
///
///     k = y1 − h/2 v1,   u = f(t0 + h/2, k),   v0 = 2u − v1,   y0 = k − h/2 v0.
///
/// Error estimate (for `pid_controller`): the difference between the ALF step and the explicit
/// Euler step y0 + h v0 from the same (y0, v0), `h/2 (v1 − v0)`, an order-1 estimate
/// (`error_order = 1`) that costs nothing extra. A rejected step is retried from the same
/// (y0, v0): v moves only on `advance`. `reversible_adjoint` inverts the recorded steps.
///
/// Dense output: linear interpolation between the step ends (degree 1, order 1).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"

#include <array>
#include <cstddef>
#include <type_traits>

namespace nde {

/// \brief MALI's asynchronous leapfrog (Zhuang et al. 2021, Alg. 1, η = 1): order 2, one f
/// per step, adaptive (order-1 embedded estimate), algebraically reversible.
class mali {
 public:
  static constexpr int order = 2;                         ///< Order of y.
  static constexpr int stages = 1;                        ///< f evaluations per step.
  static constexpr bool adaptive = true;                  ///< Has an error estimate.
  static constexpr int error_order = 1;                   ///< Order of the Euler comparison.
  static constexpr bool fsal = true;                      ///< Nothing to evaluate at the end.
  static constexpr int dense_degree = 1;                  ///< Linear between step ends.
  static constexpr int dense_order = 1;                   ///< Order of the interpolant.
  static constexpr bool algebraically_reversible = true;  ///< Has an exact closed-form inverse.

  /// \brief Buffers of one integration.
  template <state State>
  struct workspace {
    State v;       ///< v at the step start (after `init`: f(t0, y0)).
    State v_next;  ///< v1 of the last trial step.
    State k;       ///< Midpoint argument y0 + h/2 v0.
    State u;       ///< f at the midpoint.
    State error;   ///< h/2 (v1 − v0).
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
    for (State* s : {&ws.v, &ws.v_next, &ws.k, &ws.u, &ws.error})
      s->setZero(like.rows(), like.cols());
  }

  /// \brief The midpoint time of a step (the same expression forward and backward).
  template <time_scalar T>
  [[nodiscard]] static T midpoint(T t0, T t1) {
    return t0 + (t1 - t0) / 2;
  }

  /// \brief v0 = f(t0, y0). \return non_finite if it is not finite.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    term.vf(t0, y0, theta, ws.v);
    return ws.v.allFinite() ? status::success : status::non_finite;
  }

  /// \brief One trial step (t0, y0) → (t1, y1); v1 goes to `ws.v_next`.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using scalar = scalar_of_t<State>;
    const auto half = static_cast<scalar>(t1 - t0) / 2;
    ws.k = y0 + half * ws.v;
    term.vf(midpoint(t0, t1), static_cast<const State&>(ws.k), theta, ws.u);
    ws.v_next = 2 * ws.u - ws.v;
    y1 = ws.k + half * ws.v_next;
    ws.error = half * (ws.v_next - ws.v);
    const bool finite = y1.allFinite() && ws.v_next.allFinite();
    return {finite ? status::success : status::non_finite, &ws.error};
  }

  /// \brief Nothing to do.
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term&, T, const State&, params_view<scalar_of_t<State>>,
                      workspace<State>&) const {
    return status::success;
  }
  /// \brief v at the step start (after `init`: f(t0, y0)).
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.v;
  }
  /// \brief Moves v1 into place for the next step.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.v.swap(ws.v_next);
  }
  /// \brief v at the start of the current step.
  template <state State>
  [[nodiscard]] static const State& auxiliary(const workspace<State>& ws) noexcept {
    return ws.v;
  }
  /// \brief v at the end of the last trial step.
  template <state State>
  [[nodiscard]] static const State& next_auxiliary(const workspace<State>& ws) noexcept {
    return ws.v_next;
  }
  /// \brief v0 of a solve from y0: f(t0, y0). \return f evaluations (1).
  template <class Term, time_scalar T, state State>
  std::size_t initial_auxiliary(Term& term, T t0, const State& y0,
                                params_view<scalar_of_t<State>> theta, State& v0) const {
    term.vf(t0, y0, theta, v0);
    return 1;
  }

  /// \brief Linear interpolation: `y(t0 + θh) = y0 + θ (y1 − y0)`.
  template <time_scalar T, state State>
  void dense_coefficients(T, T, const State& y0, const State& y1, const workspace<State>&,
                          std::array<State, 2>& coefficients) const {
    coefficients[0] = y0;
    coefficients[1] = y1 - y0;
  }

  /// \brief Buffers of the backward pass: the current (y, v) and their cotangents.
  template <state State>
  struct reversal {
    State y, z;                     ///< State (y, v) at the current step boundary (z holds v).
    State y_bar, z_bar;             ///< Their cotangents.
    State k, u_bar;                 ///< Midpoint argument and the cotangent of f there.
    State scratch;                  ///< f / vjp output.
    scalar_of_t<State> t0_bar = 0;  ///< Cotangent of the last reversed step's start time.
    scalar_of_t<State> t1_bar = 0;  ///< Cotangent of its end time.
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      for (State* s : {&y, &z, &y_bar, &z_bar, &k, &u_bar, &scratch})
        s->setZero(like.rows(), like.cols());
    }
  };
  /// \brief Evaluation counts of a backward step.
  struct reverse_counts {
    std::size_t evaluations = 0;  ///< f evaluations.
    std::size_t vjps = 0;         ///< vector–Jacobian products.
  };

  /// \brief Starts the backward pass at (t1, y1, v1) with zero cotangents. \return f evaluations.
  template <class Term, time_scalar T, state State>
  std::size_t start_reversal(Term&, T, const State& y1, const State& v1,
                             params_view<scalar_of_t<State>>, reversal<State>& r) const {
    r.resize(y1);
    r.y = y1;
    r.z = v1;
    return 0;
  }

  /// \brief One backward step over [t0, t1]: (y1, v1) becomes (y0, v0) (the closed-form inverse,
  /// or the stored start state when `y0`, `v0` are non-null), and the cotangents of (y1, v1)
  /// become those of (y0, v0); `theta_bar` accumulates. With `with_time` (a time-differentiable
  /// term) `r.t0_bar`, `r.t1_bar` are the cotangents of the step's start and end times. One f
  /// and one vjp, at the same point.
  template <class Term, time_scalar T, state State>
  reverse_counts reverse_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                              reversal<State>& r, params_ref<scalar_of_t<State>> theta_bar,
                              const std::type_identity_t<State>* y0,
                              const std::type_identity_t<State>* v0, bool with_time = false) const {
    using scalar = scalar_of_t<State>;
    const auto half = static_cast<scalar>(t1 - t0) / 2;
    const T tm = midpoint(t0, t1);
    std::size_t evaluations = 0;
    r.t0_bar = r.t1_bar = 0;
    scalar h_bar = 0;
    if (with_time) h_bar += r.y_bar.cwiseProduct(r.z).sum() / 2;  // ȳ1 · v1 / 2
    if (y0 != nullptr) {
      r.y = *y0;
      r.z = *v0;
      r.k = r.y + half * r.z;
    } else {
      r.k = r.y - half * r.z;
      term.vf(tm, r.k, theta, r.scratch);
      ++evaluations;
      r.z = 2 * r.scratch - r.z;
      r.y = r.k - half * r.z;
    }
    // y1 = k + h/2 v1, v1 = 2u − v0, u = f(tm, k), k = y0 + h/2 v0.
    r.z_bar += half * r.y_bar;  // v̄1 in full
    r.u_bar = 2 * r.z_bar;
    scalar a_t = 0;
    pull(term, tm, r.k, theta, r.u_bar, r.scratch, theta_bar, a_t, with_time);
    r.y_bar += r.scratch;  // k̄ = ȳ1 + Jᵀ ū, and ȳ0 = k̄
    r.z_bar = half * r.y_bar - r.z_bar;
    if (with_time) {
      h_bar += r.y_bar.cwiseProduct(r.z).sum() / 2;  // k̄ · v0 / 2
      r.t0_bar = a_t / 2 - h_bar;
      r.t1_bar = a_t / 2 + h_bar;
    }
    return {evaluations, 1};
  }

  /// \brief After the first step: folds the cotangent of v0 = f(t0, y0) into ȳ0 (`r.y` must hold
  /// y0); with `with_time`, `r.t0_bar` is the extra cotangent of t0. \return vjps.
  template <class Term, time_scalar T, state State>
  std::size_t finish_reversal(Term& term, T t0, params_view<scalar_of_t<State>> theta,
                              reversal<State>& r, params_ref<scalar_of_t<State>> theta_bar,
                              bool with_time = false) const {
    r.t0_bar = 0;
    pull(term, t0, r.y, theta, r.z_bar, r.scratch, theta_bar, r.t0_bar, with_time);
    r.y_bar += r.scratch;
    return 1;
  }

 private:
  template <class Term, time_scalar T, state State>
  static void pull(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                   const State& a, State& a_y, params_ref<scalar_of_t<State>> a_theta,
                   scalar_of_t<State>& a_t, bool with_time) {
    if constexpr (time_differentiable_field<Term, T, State>) {
      if (with_time) {
        detail::vjp_with_time(term, t, y, theta, a, a_y, a_theta, a_t);
        return;
      }
    }
    term.vjp(t, y, theta, a, a_y, a_theta);
  }
};

}  // namespace nde
