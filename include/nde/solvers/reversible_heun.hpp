/// \file
/// \brief The reversible Heun method (Kidger, Foster, Li & Lyons 2021, "Efficient and accurate
/// gradients for neural SDEs", Algorithm 1, here for ODEs: no noise term): an algebraically
/// reversible order-2 method with one evaluation of f per step.
///
/// The state is the pair (y, ŷ) with ŷ0 = y0; the driver sees y, the auxiliary ŷ and
/// f(t, ŷ) live in the workspace:
///
///     ŷ1 = 2 y0 − ŷ0 + h f(t0, ŷ0)
///     y1 = y0 + h/2 (f(t0, ŷ0) + f(t1, ŷ1))
///
/// and the step is inverted exactly, in closed form (same cost):
///
///     ŷ0 = 2 y1 − ŷ1 − h f(t1, ŷ1),   y0 = y1 − h/2 (f(t0, ŷ0) + f(t1, ŷ1)).
///
/// This is what `reversible_adjoint` (adjoint/methods.hpp) uses to rebuild the forward states
/// from the final one, so the exact gradient of the computed solution needs O(1) memory in the
/// number of steps. Fixed steps only (no error estimate: use `constant_step` or `fixed_times`).
/// Its linear stability is weak (McCallum & Foster 2024 discuss it): on y' = κy the step map of
/// (y, ŷ) has determinant −1 and eigenvalues z ± sqrt(z² + 1), z = hκ, so for Re κ < 0 the
/// parasitic root ≈ −(1 − z) grows like e^{|Re κ| t} whatever the step. On strongly damped
/// problems over long times the forward parasitic mode and the reconstruction error grow;
/// `reversible_adjoint` detects a reconstruction that has diverged.
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

/// \brief Reversible Heun (Kidger et al. 2021, Alg. 1 without noise): order 2, one f per
/// step, algebraically reversible. Stateless; (ŷ, f(t, ŷ)) live in the workspace and move
/// only on `advance`, so a retried step starts from the same (y, ŷ).
class reversible_heun {
 public:
  static constexpr int order = 2;          ///< Order of y.
  static constexpr int stages = 1;         ///< f evaluations per step.
  static constexpr bool adaptive = false;  ///< No error estimate.
  static constexpr int error_order = 0;    ///< No embedded method.
  static constexpr bool fsal = true;       ///< f(t1, ŷ1) is the next step's f(t0, ŷ0).
  static constexpr int dense_degree = 1;   ///< Linear between step ends.
  static constexpr int dense_order = 1;    ///< Order of the interpolant.
  static constexpr bool algebraically_reversible = true;  ///< Has an exact closed-form inverse.

  /// \brief Buffers of one integration: the auxiliary state at the step start and end.
  template <state State>
  struct workspace {
    State z;       ///< ŷ at the step start.
    State f;       ///< f(t0, ŷ0).
    State z_next;  ///< ŷ1 of the last trial step.
    State f_next;  ///< f(t1, ŷ1) of the last trial step.
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
    for (State* s : {&ws.z, &ws.f, &ws.z_next, &ws.f_next}) s->setZero(like.rows(), like.cols());
  }

  /// \brief Starts from (t0, y0): ŷ0 = y0, f = f(t0, y0). \return non_finite if f is not finite.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    ws.z = y0;
    term.vf(t0, y0, theta, ws.f);
    return ws.f.allFinite() ? status::success : status::non_finite;
  }

  /// \brief One step (t0, y0) → (t1, y1); ŷ1 and f(t1, ŷ1) go to `ws.z_next`, `ws.f_next`.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using scalar = scalar_of_t<State>;
    (void)t0;
    const auto h = static_cast<scalar>(t1 - t0);
    ws.z_next = 2 * y0 - ws.z + h * ws.f;
    term.vf(t1, static_cast<const State&>(ws.z_next), theta, ws.f_next);
    y1 = y0 + (h / 2) * (ws.f + ws.f_next);
    const bool finite = y1.allFinite() && ws.z_next.allFinite() && ws.f_next.allFinite();
    return {finite ? status::success : status::non_finite, nullptr};
  }

  /// \brief Nothing to do (f(t1, ŷ1) is already known).
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term&, T, const State&, params_view<scalar_of_t<State>>,
                      workspace<State>&) const {
    return status::success;
  }
  /// \brief f(t0, ŷ0) (after `init`: f(t0, y0)).
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.f;
  }
  /// \brief Moves (ŷ1, f(t1, ŷ1)) into place for the next step.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.z.swap(ws.z_next);
    ws.f.swap(ws.f_next);
  }
  /// \brief ŷ at the start of the current step.
  template <state State>
  [[nodiscard]] static const State& auxiliary(const workspace<State>& ws) noexcept {
    return ws.z;
  }
  /// \brief ŷ at the end of the last trial step.
  template <state State>
  [[nodiscard]] static const State& next_auxiliary(const workspace<State>& ws) noexcept {
    return ws.z_next;
  }
  /// \brief ŷ0 of a solve from y0: y0 itself. \return f evaluations (0).
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

  /// \brief Buffers of the backward pass: the current (y, ŷ, f(t, ŷ)) and their cotangents.
  template <state State>
  struct reversal {
    using scalar = scalar_of_t<State>;  ///< State scalar.
    State y, z, f;                      ///< State at the current step boundary.
    State y_bar, z_bar, f_bar;          ///< Cotangents of y, ŷ and f(t, ŷ) there.
    State z_prev, f_prev;               ///< ŷ0 and f(t0, ŷ0) being rebuilt.
    State scratch;                      ///< vjp output.
    scalar t0_bar = 0;                  ///< Cotangent of the last reversed step's start time.
    scalar t1_bar = 0;                  ///< Cotangent of its end time.
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      for (State* s : {&y, &z, &f, &y_bar, &z_bar, &f_bar, &z_prev, &f_prev, &scratch})
        s->setZero(like.rows(), like.cols());
    }
  };
  /// \brief Evaluation counts of a backward step.
  struct reverse_counts {
    std::size_t evaluations = 0;  ///< f evaluations.
    std::size_t vjps = 0;         ///< vector–Jacobian products.
  };

  /// \brief Starts the backward pass at (t1, y1, ŷ1) with zero cotangents. \return f evaluations.
  template <class Term, time_scalar T, state State>
  std::size_t start_reversal(Term& term, T t1, const State& y1, const State& z1,
                             params_view<scalar_of_t<State>> theta, reversal<State>& r) const {
    r.resize(y1);
    r.y = y1;
    r.z = z1;
    term.vf(t1, r.z, theta, r.f);
    return 1;
  }

  /// \brief One backward step over [t0, t1]: the cotangents of (y1, ŷ1, f1) in `r` become those
  /// of (y0, ŷ0, f0) (`theta_bar` accumulates), and (y1, ŷ1, f1) becomes (y0, ŷ0, f0): the
  /// closed-form inverse, or the stored start state (`y0`, `z0` non-null: the stored-state
  /// reference mode). With `with_time` (a time-differentiable term) `r.t0_bar`, `r.t1_bar` are
  /// the cotangents of the step's start and end times. One f and one vjp.
  template <class Term, time_scalar T, state State>
  reverse_counts reverse_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                              reversal<State>& r, params_ref<scalar_of_t<State>> theta_bar,
                              const std::type_identity_t<State>* y0,
                              const std::type_identity_t<State>* z0, bool with_time = false) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    r.t0_bar = r.t1_bar = 0;
    // y1 = y0 + h/2 (f0 + f1), f1 = f(t1, ŷ1), ŷ1 = 2 y0 − ŷ0 + h f0.
    r.f_bar += (h / 2) * r.y_bar;
    pull(term, t1, r.z, theta, r.f_bar, r.scratch, theta_bar, r.t1_bar, with_time);
    r.z_bar += r.scratch;
    // Back to (y0, ŷ0, f0).
    if (y0 != nullptr) {
      r.z_prev = *z0;
      term.vf(t0, r.z_prev, theta, r.f_prev);
    } else {
      r.z_prev = 2 * r.y - r.z - h * r.f;
      term.vf(t0, r.z_prev, theta, r.f_prev);
    }
    if (with_time) {
      const scalar h_bar =
          r.y_bar.cwiseProduct(r.f_prev + r.f).sum() / 2 + r.z_bar.cwiseProduct(r.f_prev).sum();
      r.t1_bar += h_bar;
      r.t0_bar -= h_bar;
    }
    if (y0 != nullptr) {
      r.y = *y0;
    } else {
      r.y -= (h / 2) * (r.f_prev + r.f);
    }
    r.f_bar = (h / 2) * r.y_bar + h * r.z_bar;
    r.y_bar += 2 * r.z_bar;
    r.z_bar = -r.z_bar;
    r.z.swap(r.z_prev);
    r.f.swap(r.f_prev);
    return {1, 1};
  }

  /// \brief After the first step: folds the cotangents of ŷ0 = y0 and f(t0, y0) into ȳ0
  /// (`r.y`, `r.z` must hold y0); with `with_time`, `r.t0_bar` is the extra cotangent of t0.
  /// \return vjps.
  template <class Term, time_scalar T, state State>
  std::size_t finish_reversal(Term& term, T t0, params_view<scalar_of_t<State>> theta,
                              reversal<State>& r, params_ref<scalar_of_t<State>> theta_bar,
                              bool with_time = false) const {
    r.t0_bar = 0;
    pull(term, t0, r.y, theta, r.f_bar, r.scratch, theta_bar, r.t0_bar, with_time);
    r.y_bar += r.z_bar + r.scratch;
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
