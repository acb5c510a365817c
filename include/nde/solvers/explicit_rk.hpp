/// \file
/// \brief The one explicit Runge–Kutta engine: every method in `nde/solvers/` is this
/// class over a `constexpr` Butcher tableau (see `butcher_tableau.hpp`).
///
/// It follows the stepper contract of `solvers/stepper.hpp` for any `ode_like_term`:
///  1. `init(term, t0, y0, θ, ws)` writes `ws.k[0] = f(t0, y0)`.
///  2. `step(term, t0, t1, y0, θ, ws, y1)` computes the remaining stages into `ws.k[1..s-1]`,
///     `y1` and (for embedded tableaux) `ws.y_error = h Σ b_error_i k_i`. The stage arguments
///     are `Y_i = y0 + h Σ_j a_ij k_j` at `t0 + c_i h`, `h = t1 - t0` (negative backward),
///     formed in one function (`form_stage`) that the reverse and tangent steps call too.
///  3. After an accepted step: `evaluate_end(term, t1, y1, θ, ws)` (one evaluation, only for
///     methods without FSAL) makes `end_derivative(ws) = f(t1, y1)` available, and
///     `advance(ws)` moves it into `ws.k[0]` for the next step. For FSAL methods the
///     last stage already is f(t1, y1), so both are free.
///
/// Exact derivatives of a step (the discrete adjoint, Hairer, Nørsett & Wanner I, II.3, and
/// forward sensitivities): `replay` recomputes the stages of a recorded step, `pull_dense`
/// and `pull_step` pull cotangents of dense outputs and of y1 back to y0, θ and the step's
/// end times; `tangent_step` pushes tangents of (y0, θ, t0, t1) forward through it.
///
/// Dense output: `dense_coefficients` writes the monomial coefficients c_j of
/// `y(t0 + θh) = Σ_j c_j θ^j` for the step just taken: the tableau's own continuous
/// extension when it has one, otherwise the cubic Hermite interpolant through
/// (y0, f0, y1, f1) (Hairer, Nørsett & Wanner I, eq. II.6.7).
///
/// Extra dense-output stages (tableaux with `extra_stages`, e.g. DOP853, Vern7): their
/// continuous extension also reads stages s..s+e-1 that y1 does not need. They are evaluated
/// lazily by `evaluate_dense_stages(term, t0, t1, y0, θ, ws)`, which the driver calls after an
/// accepted step (and its `evaluate_end`) only when the step holds dense output, before
/// `dense_coefficients` and before a recorder sees the step. They live in `ws.k[s..s+e-1]`;
/// `ws.dense_ready` says they belong to the last step. Every derivative follows them:
/// `replay(…, dense = true)` recomputes them, `pull_dense`/`pull_step` pull cotangents through
/// them (one more vjp each), `tangent_step(…, dense = true)` pushes tangents through them when
/// `ws.dense_ready`. Stage indices run over the extended list 0..s+e-1 everywhere (the stage
/// cache slots of the discrete adjoint too). Tableaux without extra stages see no change.
///
/// Two embedded estimates (tableaux with `b_error_secondary`, DOP853): `step` returns the
/// primary estimate (`ws.y_error`, `h Σ b_error_i k_i`) and the secondary one
/// (`ws.y_error_secondary`, `h Σ b_error_secondary_i k_i`) in `step_result::error_secondary`;
/// the controller measures the step by ‖e‖² / √(‖e‖² + 0.01 ‖e₂‖²) of the two scaled norms
/// (Hairer, Nørsett & Wanner I, Sec. II.10, as `dop853.f` does), which behaves like an estimate
/// of order `error_order` = 2 (q + 1) - (q₂ + 1) - 1 (q, q₂ the orders of the embedded
/// methods: 7 for DOP853's 5 and 3).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/butcher_tableau.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/ode_term.hpp"

#include <array>
#include <functional>
#include <cstddef>
#include <utility>

namespace nde {

namespace detail {

/// `Tableau::stability_boundary`, or 0 when the tableau does not state it.
template <class Tableau>
constexpr double stability_boundary_of() {
  if constexpr (requires { Tableau::stability_boundary; }) {
    return Tableau::stability_boundary;
  } else {
    return 0.0;
  }
}

/// The tableau supports DOPRI5's stiffness test (see `explicit_rk::stiffness_detection`).
template <class Tableau>
constexpr bool stiffness_test_applies() {
  if constexpr (requires { Tableau::stability_boundary; }) {
    return Tableau::fsal && Tableau::stages >= 3 && Tableau::c[idx(Tableau::stages - 2)] == 1.0 &&
           Tableau::stability_boundary > 0;
  } else {
    return false;
  }
}

template <class Tableau>
constexpr int error_order_of() {
  if constexpr (secondary_error_tableau<Tableau>) {
    // ‖e‖²/‖e₂‖ with e = O(h^(q+1)), e₂ = O(h^(q₂+1)).
    return 2 * (Tableau::error_order + 1) - (Tableau::secondary_error_order + 1) - 1;
  } else if constexpr (embedded_tableau<Tableau>) {
    return Tableau::error_order;
  } else {
    return 0;
  }
}

template <class Tableau>
constexpr int dense_degree_of() {
  if constexpr (dense_tableau<Tableau>) {
    return Tableau::dense_degree;
  } else {
    return 3;
  }
}

template <class Tableau>
constexpr int dense_order_of() {
  if constexpr (dense_tableau<Tableau>) {
    return Tableau::dense_order;
  } else {
    return 3;
  }
}

/// Stage i's derivative reaches y1 (b_i != 0) or a later stage (a_ji != 0 for some j > i).
/// Otherwise its cotangent is zero and its vjp can be skipped (the FSAL stage of dopri5/tsit5,
/// the extra dense-output stages), unless a dense output reads it.
template <class Tableau>
constexpr bool stage_is_used(int i) {
  if (i >= Tableau::stages) return false;
  if (Tableau::b[detail::idx(i)] != 0.0) return true;
  for (int j = i + 1; j < Tableau::stages; ++j)
    if (Tableau::a[detail::idx(j)][detail::idx(i)] != 0.0) return true;
  return false;
}

}  // namespace detail

/// \brief Explicit Runge–Kutta method defined by a Butcher tableau.
///
/// \tparam Tableau a `butcher_tableau` (static constexpr `a`, `b`, `c`, `order`, `fsal`, and
///   optionally `b_error`/`error_order` and `dense_degree`/`dense_order`/`dense`).
///
/// Cost per step: `stages - 1` evaluations of f (stage 1 is reused from the previous step),
/// plus one `evaluate_end` per accepted step for methods without FSAL, plus
/// `dense_evaluations` for a step with dense output when the tableau has extra stages.
/// Stateless: all buffers live in a `workspace` the caller owns.
template <butcher_tableau Tableau>
class explicit_rk {
  static_assert(valid_tableau<Tableau>(),
                "Butcher tableau failed its checks: it must be explicit, rows of a must sum to c, "
                "b must sum to 1, b_error to 0, an FSAL last row must equal b, and dense weights "
                "must sum to b at theta = 1");

 public:
  using tableau = Tableau;                                     ///< The coefficients.
  static constexpr int stages = Tableau::stages;               ///< s.
  static constexpr int order = Tableau::order;                 ///< Order of `y1`.
  static constexpr bool fsal = Tableau::fsal;                  ///< Last stage is f(t1, y1).
  static constexpr bool adaptive = embedded_tableau<Tableau>;  ///< Has an error estimate.
  static constexpr int error_order =
      detail::error_order_of<Tableau>();                        ///< Order of b_hat (0: none).
  static constexpr bool native_dense = dense_tableau<Tableau>;  ///< Own continuous extension.
  static constexpr int dense_degree = detail::dense_degree_of<Tableau>();  ///< Polynomial degree.
  static constexpr int dense_order =
      detail::dense_order_of<Tableau>();    ///< Order of the interpolant.
  static constexpr bool reversible = true;  ///< Has `replay`/`pull_step`/`tangent_step`.
  /// \brief Hairer's stiffness test applies: FSAL with the last two stages at t1 (as DOPRI5)
  /// and a tableau that states its `stability_boundary` (dopri5, tsit5); see
  /// `stiffness_estimate`.
  static constexpr bool stiffness_detection = detail::stiffness_test_applies<Tableau>();
  /// \brief The tableau's stability boundary on the negative real axis (0 when not stated).
  static constexpr double stability_boundary = detail::stability_boundary_of<Tableau>();
  /// Extra stages only the dense output reads (0 for most tableaux).
  static constexpr int extra_stages = detail::extra_stage_count<Tableau>();
  /// Stages of the extended list: the step's, then the extra dense-output ones.
  static constexpr int total_stages = stages + extra_stages;
  /// The step also returns a secondary error estimate (DOP853's combined estimate).
  static constexpr bool secondary_error = secondary_error_tableau<Tableau>;

 private:
  static constexpr std::size_t total_count = detail::idx(total_stages);

 public:
  /// \brief Entry (i, j) of the extended Butcher matrix: `a` for the step's stages, `a_extra`
  /// for the extra ones (j < i; 0 otherwise).
  [[nodiscard]] static constexpr double coefficient(int i, int j) {
    if (j >= i) return 0.0;
    if constexpr (extra_stages > 0) {
      if (i >= stages) return Tableau::a_extra[detail::idx(i - stages)][detail::idx(j)];
    }
    return Tableau::a[detail::idx(i)][detail::idx(j)];
  }
  /// \brief Node of stage i of the extended list.
  [[nodiscard]] static constexpr double node(int i) {
    if constexpr (extra_stages > 0) {
      if (i >= stages) return Tableau::c_extra[detail::idx(i - stages)];
    }
    return Tableau::c[detail::idx(i)];
  }
  /// \brief Extra stage i is f(t1, y1) (its row is b, its node 1) in a method without FSAL:
  /// `evaluate_dense_stages` copies it from `evaluate_end` (Verner's k11).
  [[nodiscard]] static constexpr bool is_end_stage(int i) {
    if (fsal || i < stages || node(i) != 1.0) return false;
    for (int j = 0; j < i; ++j)
      if (coefficient(i, j) != (j < stages ? Tableau::b[detail::idx(j)] : 0.0)) return false;
    return true;
  }
  /// Evaluations of f that `evaluate_dense_stages` makes.
  static constexpr int dense_evaluations = [] {
    int n = 0;
    for (int i = stages; i < total_stages; ++i) n += is_end_stage(i) ? 0 : 1;
    return n;
  }();

 public:
  /// \brief Buffers for one integration; after `step`, `k[i]` is the derivative at stage i.
  /// \tparam State the state type (column vector, or matrix of batched columns).
  template <state State>
  struct workspace {
    std::array<State, total_count> k;  ///< Stage derivatives k_i = f(t0 + c_i h, Y_i) (then the
                                       ///< extra dense-output stages).
    State stage;                       ///< Scratch: the current stage argument Y_i.
    State y_error;                     ///< Embedded error estimate h Σ b_error_i k_i.
    State end;                         ///< f(t1, y1) after `evaluate_end` (methods without FSAL).
    State y_error_secondary;  ///< h Σ b_error_secondary_i k_i (sized only when the tableau has it).
    bool dense_ready = false;  ///< The extra stages in `k` belong to the last step.
  };

  /// \brief A workspace whose buffers are sized like `like` (allocates for dynamic sizes).
  template <state State>
  [[nodiscard]] static workspace<State> make_workspace(const State& like) {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }

  /// \brief Resizes every buffer to the shape of `like`; no allocation if already that shape.
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    for (auto& k : ws.k) k.setZero(like.rows(), like.cols());
    ws.stage.setZero(like.rows(), like.cols());
    ws.y_error.setZero(like.rows(), like.cols());
    ws.end.setZero(like.rows(), like.cols());
    if constexpr (secondary_error) ws.y_error_secondary.setZero(like.rows(), like.cols());
    ws.dense_ready = false;
  }

  /// \brief The one place a stage argument is formed: `out = y0 + h Σ_{j<i} a_ij k_j` (i over
  /// the extended list). The forward step, its replay and its tangent all call this, so they
  /// agree bit for bit.
  template <state State>
  static void form_stage(int i, scalar_of_t<State> h, const State& y0,
                         const std::array<State, total_count>& k, State& out) {
    out = y0;
    accumulate(
        out, h, [i](int j) { return coefficient(i, j); }, k, i);
  }

  /// \brief Time of stage i: `t0 + c_i (t1 - t0)`, exactly t1 when c_i = 1.
  template <time_scalar T>
  [[nodiscard]] static T stage_time(int i, T t0, T t1) {
    return node(i) == 1.0 ? t1 : t0 + static_cast<T>(node(i)) * (t1 - t0);
  }

  /// \brief Evaluates `ws.k[0] = f(t0, y0)`.
  /// \return `status::non_finite` if the derivative has a NaN or Inf, else success.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    term.vf(t0, y0, theta, ws.k[0]);
    return ws.k[0].allFinite() ? status::success : status::non_finite;
  }

  /// \brief One step from (t0, y0) to t1; `ws.k[0]` must hold f(t0, y0).
  ///
  /// Writes `y1` (which must not alias `y0`), the stages `ws.k[1..s-1]`, and for embedded
  /// tableaux `ws.y_error`. Works for t1 < t0 (h < 0).
  /// \return `non_finite` if y1, the error estimate or (FSAL) f(t1, y1) is not finite; the error
  ///   estimate (null without an embedded method). The caller decides whether to accept.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    for (int i = 1; i < stages; ++i) {
      // The FSAL stage argument is y1 itself, computed once so that k_s = f(t1, y1) exactly.
      State& argument = (fsal && i == stages - 1) ? y1 : ws.stage;
      form_stage(i, h, y0, ws.k, argument);
      term.vf(stage_time(i, t0, t1), static_cast<const State&>(argument), theta,
              ws.k[detail::idx(i)]);
    }
    if constexpr (!fsal) {
      y1 = y0;
      accumulate(
          y1, h, [](int j) { return Tableau::b[detail::idx(j)]; }, ws.k);
    }
    bool finite = y1.allFinite();
    if constexpr (adaptive) {
      ws.y_error.setZero();
      accumulate(
          ws.y_error, h, [](int j) { return Tableau::b_error[detail::idx(j)]; }, ws.k);
      finite = finite && ws.y_error.allFinite();
    }
    if constexpr (fsal) finite = finite && ws.k[stages - 1].allFinite();
    if constexpr (extra_stages > 0) ws.dense_ready = false;
    if constexpr (secondary_error) {
      ws.y_error_secondary.setZero();
      accumulate(
          ws.y_error_secondary, h, [](int j) { return Tableau::b_error_secondary[detail::idx(j)]; },
          ws.k);
      finite = finite && ws.y_error_secondary.allFinite();
      return {finite ? status::success : status::non_finite, &ws.y_error, &ws.y_error_secondary};
    } else {
      return {finite ? status::success : status::non_finite, adaptive ? &ws.y_error : nullptr};
    }
  }

  /// \brief Evaluates the extra dense-output stages of the accepted step (t0, y0) → t1 into
  /// `ws.k[stages..]` (`dense_evaluations` evaluations of f; an extra stage that is f(t1, y1) is
  /// copied from `end_derivative`, so `evaluate_end` must have run). Only for tableaux with
  /// extra stages; the driver calls it only for steps that hold dense output.
  /// \return `status::non_finite` if a stage has a NaN or Inf.
  template <class Term, time_scalar T, state State>
  requires(extra_stages > 0) status
      evaluate_dense_stages(Term& term, T t0, T t1, const State& y0,
                            params_view<scalar_of_t<State>> theta, workspace<State>& ws)
  const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    for (int i = stages; i < total_stages; ++i) {
      State& k = ws.k[detail::idx(i)];
      if (is_end_stage(i)) {
        k = end_derivative(ws);
        continue;
      }
      form_stage(i, h, y0, ws.k, ws.stage);
      term.vf(stage_time(i, t0, t1), static_cast<const State&>(ws.stage), theta, k);
      if (!k.allFinite()) return status::non_finite;
    }
    ws.dense_ready = true;
    return status::success;
  }

  /// \brief Makes f(t1, y1) available through `end_derivative` (one evaluation of f for
  /// methods without FSAL, none with FSAL).
  /// \return `status::non_finite` if f(t1, y1) has a NaN or Inf.
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term& term, T t1, const State& y1, params_view<scalar_of_t<State>> theta,
                      workspace<State>& ws) const {
    if constexpr (fsal) {
      return status::success;
    } else {
      term.vf(t1, y1, theta, ws.end);
      return ws.end.allFinite() ? status::success : status::non_finite;
    }
  }

  /// \brief f(t0, y0) after `init` (the initial-step heuristic and size checks read it).
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.k[0];
  }

  /// \brief f(t1, y1) of the last step (after `evaluate_end` for methods without FSAL).
  template <state State>
  [[nodiscard]] const State& end_derivative(const workspace<State>& ws) const {
    if constexpr (fsal) {
      return ws.k[stages - 1];
    } else {
      return ws.end;
    }
  }

  /// \brief Moves f(t1, y1) into `ws.k[0]` so the next step can start (a pointer swap for
  /// dynamic sizes).
  template <state State>
  void advance(workspace<State>& ws) const {
    if constexpr (fsal) {
      ws.k[0].swap(ws.k[stages - 1]);
    } else {
      ws.k[0].swap(ws.end);
    }
  }

  /// \brief h·ρ for the step just taken, ρ = ‖k_s − k_{s−1}‖₂ / ‖y1 − Y_{s−1}‖₂: both stages are
  /// f at t1, so ρ estimates the modulus of the dominant eigenvalue of ∂f/∂y along the step
  /// (Hairer & Wanner, *Solving ODEs II*, IV.2, and DOPRI5's test). A step is limited by
  /// stability when h·ρ approaches `Tableau::stability_boundary`. 0 when y1 and Y_{s−1}
  /// coincide. O(n), no evaluation of f.
  template <time_scalar T, state State>
  requires stiffness_detection [[nodiscard]] scalar_of_t<State> stiffness_estimate(
      T t0, T t1, const State& y1, const workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    // After `step`, ws.stage holds the argument of stage s−1 (the last one not at y1).
    const scalar numerator =
        (ws.k[detail::idx(stages - 1)] - ws.k[detail::idx(stages - 2)]).squaredNorm();
    const scalar denominator = (y1 - ws.stage).squaredNorm();
    if (!(denominator > 0)) return scalar(0);
    return std::abs(static_cast<scalar>(t1 - t0)) * std::sqrt(numerator / denominator);
  }

  /// \brief Monomial coefficients of the dense output of the step just taken:
  /// `y(t0 + θ(t1 - t0)) = Σ_{j=0}^{dense_degree} coefficients[j] θ^j`, θ in [0, 1].
  /// Needs `end_derivative(ws)` when the tableau has no continuous extension, and
  /// `evaluate_dense_stages` when it has extra stages.
  template <time_scalar T, state State>
  void dense_coefficients(T t0, T t1, const State& y0, const State& y1, const workspace<State>& ws,
                          std::array<State, detail::idx(dense_degree) + 1>& coefficients) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    coefficients[0] = y0;
    if constexpr (native_dense) {
      for (int j = 0; j < dense_degree; ++j) {
        State& c = coefficients[static_cast<std::size_t>(j) + 1];
        c.setZero(y0.rows(), y0.cols());
        accumulate(
            c, h, [j](int i) { return Tableau::dense[detail::idx(i)][detail::idx(j)]; }, ws.k,
            total_stages);
      }
    } else {
      // Cubic Hermite through (y0, h f0) and (y1, h f1), expanded in monomials of θ.
      const State& f1 = end_derivative(ws);
      coefficients[1] = h * ws.k[0];
      coefficients[2] = scalar(3) * (y1 - y0) - (scalar(2) * h) * ws.k[0] - h * f1;
      coefficients[3] = scalar(2) * (y0 - y1) + h * ws.k[0] + h * f1;
    }
  }

  /// \name Plain-field convenience (a callable `f(t, y, dydt)` or `f(t, y) -> State`, no θ)
  /// \{
  /// \brief `init` for a plain field.
  template <class F, time_scalar T, state State>
  requires vector_field<F, T, State> status init(F& f, T t0, const State& y0, workspace<State>& ws)
  const {
    auto term = make_ode_term(std::ref(f));
    return init(term, t0, y0, params_view<scalar_of_t<State>>(no_params<State>()), ws);
  }
  /// \brief `step` for a plain field (old argument order: y1 before the workspace).
  template <class F, time_scalar T, state State>
  requires vector_field<F, T, State> status step(F& f, T t0, T t1, const State& y0, State& y1,
                                                 workspace<State>& ws)
  const {
    auto term = make_ode_term(std::ref(f));
    return step(term, t0, t1, y0, params_view<scalar_of_t<State>>(no_params<State>()), ws, y1)
        .status;
  }
  /// \brief `evaluate_end` for a plain field.
  template <class F, time_scalar T, state State>
  requires vector_field<F, T, State> status evaluate_end(F& f, T t1, const State& y1,
                                                         workspace<State>& ws)
  const {
    auto term = make_ode_term(std::ref(f));
    return evaluate_end(term, t1, y1, params_view<scalar_of_t<State>>(no_params<State>()), ws);
  }
  /// \}

  // ---- exact derivatives of a step ----------------------------------------------------------

  /// \brief The dense output as weights: `p(θ) = w_y0 y0 + w_y1 y1 + h Σ_i w_k[i] k_i + h w_end
  /// f(t1, y1)`, and the same weights differentiated in θ (`d_*`). One definition serves the
  /// reverse (`pull_dense`) and tangent (`tangent_dense`) derivatives of an output.
  template <class S>
  struct interpolant_weights {
    S y0 = 0;                          ///< Weight of y0.
    S y1 = 0;                          ///< Weight of y1.
    S end = 0;                         ///< Weight of h·f(t1, y1) (Hermite without FSAL).
    std::array<S, total_count> k{};    ///< Weights of h·k_i (extra stages included).
    S d_y0 = 0;                        ///< θ-derivative of `y0`.
    S d_y1 = 0;                        ///< θ-derivative of `y1`.
    S d_end = 0;                       ///< θ-derivative of `end`.
    std::array<S, total_count> d_k{};  ///< θ-derivatives of the stage weights.
  };

  /// \brief The weights of the continuous extension at θ (Hermite: Hairer, Nørsett & Wanner I,
  /// eq. II.6.7; otherwise the tableau's own b_i(θ)). f(t1, y1) is folded into the last stage
  /// for FSAL methods.
  template <class S>
  [[nodiscard]] static interpolant_weights<S> weights(S theta) {
    interpolant_weights<S> w;
    if constexpr (native_dense) {
      w.y0 = 1;
      for (int i = 0; i < total_stages; ++i) {
        S power = theta;  // θ^(j+1)
        S d_power = 1;    // (j+1) θ^j
        for (int j = 0; j < dense_degree; ++j) {
          w.k[detail::idx(i)] +=
              static_cast<S>(Tableau::dense[detail::idx(i)][detail::idx(j)]) * power;
          w.d_k[detail::idx(i)] +=
              static_cast<S>(Tableau::dense[detail::idx(i)][detail::idx(j)]) * d_power;
          d_power = static_cast<S>(j + 2) * power;
          power *= theta;
        }
      }
    } else {
      const S t2 = theta * theta, t3 = t2 * theta;
      w.y0 = 1 - 3 * t2 + 2 * t3;
      w.y1 = 3 * t2 - 2 * t3;
      w.k[0] = theta - 2 * t2 + t3;
      w.end = t3 - t2;
      w.d_y0 = 6 * t2 - 6 * theta;
      w.d_y1 = 6 * theta - 6 * t2;
      w.d_k[0] = 1 - 4 * theta + 3 * t2;
      w.d_end = 3 * t2 - 2 * theta;
      if constexpr (fsal) {
        w.k[stages - 1] += w.end;
        w.d_k[stages - 1] += w.d_end;
        w.end = w.d_end = 0;
      }
    }
    return w;
  }

  /// \brief Whether a dense output needs f(t1, y1) beyond the stages (Hermite, no FSAL).
  static constexpr bool dense_needs_end = !native_dense && !fsal;

  /// \brief Buffers of the reverse step; after `replay`, `forward.k` and `arguments` hold the
  /// recorded step's stages, and the cotangent members are cleared.
  template <state State>
  struct reverse_workspace {
    using scalar = scalar_of_t<State>;         ///< State scalar.
    workspace<State> forward;                  ///< Replayed stages k_i (and f(t1, y1) if needed).
    std::array<State, total_count> arguments;  ///< Stage arguments Y_i.
    std::array<State, total_count> k_bar;      ///< k̄_i.
    std::array<bool, total_count> active{};    ///< k̄_i may be non-zero.
    State y1;                                  ///< y1 of the replay.
    State y0_bar;                              ///< ȳ0 being accumulated.
    State y1_bar_extra;                        ///< ȳ1 contributions of Hermite dense outputs.
    State end_bar;                             ///< Cotangent of f(t1, y1) (Hermite, no FSAL).
    State argument_bar;                        ///< Ȳ_i.
    bool end_active = false;                   ///< `end_bar` may be non-zero.
    bool have_end = false;                     ///< `forward.end` holds f(t1, y1).
    scalar h_bar = 0;                          ///< Cotangent of h = t1 - t0.
    scalar t0_bar = 0;                         ///< Cotangent of the step's start time.
    scalar t1_bar = 0;                         ///< Cotangent of the step's end time.

    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      explicit_rk{}.resize(forward, like);
      for (auto& s : arguments) s.setZero(like.rows(), like.cols());
      for (auto& s : k_bar) s.setZero(like.rows(), like.cols());
      for (State* s : {&y1, &y0_bar, &y1_bar_extra, &end_bar, &argument_bar})
        s->setZero(like.rows(), like.cols());
    }
  };

  /// \brief Recomputes the stages of the recorded step (t0, y0) → t1 (bit-identical to the
  /// forward pass) and clears the cotangents. A `stage_cached_field` keeps each stage's forward
  /// values (cache slot i; slot `stages` for f(t1, y1)), so the vjps skip their forward pass.
  /// Stages no derivative reads (the FSAL stage, the extra dense-output stages) are skipped
  /// unless `dense` (the step holds dense outputs). \return evaluations of f.
  template <class Term, time_scalar T, state State>
  std::size_t replay(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                     reverse_workspace<State>& ws, bool dense) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    std::size_t evaluations = 0;
    for (int i = 0; i < total_stages; ++i) {
      if (i >= stages && !dense) break;
      if (i == 0) {
        ws.arguments[0] = y0;
      } else {
        form_stage(i, h, y0, ws.forward.k, ws.arguments[detail::idx(i)]);
      }
      if (!detail::stage_is_used<Tableau>(i) && !dense) continue;
      evaluate(term, i, stage_time(i, t0, t1), ws.arguments[detail::idx(i)], theta,
               ws.forward.k[detail::idx(i)]);
      ++evaluations;
    }
    if constexpr (fsal) {
      ws.y1 = ws.arguments[stages - 1];
    } else {
      ws.y1 = y0;
      accumulate(
          ws.y1, h, [](int j) { return Tableau::b[detail::idx(j)]; }, ws.forward.k);
    }
    ws.have_end = false;
    if constexpr (dense_needs_end) {
      if (dense) {
        evaluate(term, stages, t1, ws.y1, theta, ws.forward.end);
        ws.have_end = true;
        ++evaluations;
      }
    }
    for (int i = 0; i < total_stages; ++i) {
      ws.k_bar[detail::idx(i)].setZero();
      ws.active[detail::idx(i)] = false;
    }
    ws.y0_bar.setZero();
    ws.y1_bar_extra.setZero();
    ws.end_bar.setZero();
    ws.end_active = false;
    ws.h_bar = ws.t0_bar = ws.t1_bar = 0;
    return evaluations;
  }

  /// \brief Pulls the cotangent `y_bar` of the dense output at θ = (tau - t0)/(t1 - t0) of the
  /// replayed step back into the stage, y0, y1 and time cotangents of `ws` (call after `replay`
  /// with `dense = true`, before `pull_step`). \return dL/dτ, the output time's cotangent.
  template <time_scalar T, state State>
  scalar_of_t<State> pull_dense(T t0, T t1, T tau, const State& y0, const State& y_bar,
                                reverse_workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto theta = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto w = weights(theta);
    ws.y0_bar += w.y0 * y_bar;
    scalar theta_bar = w.d_y0 * y_bar.cwiseProduct(y0).sum();
    if (w.y1 != 0 || w.d_y1 != 0) {
      ws.y1_bar_extra += w.y1 * y_bar;
      theta_bar += w.d_y1 * y_bar.cwiseProduct(ws.y1).sum();
    }
    for (int i = 0; i < total_stages; ++i) {
      if (w.k[detail::idx(i)] == 0 && w.d_k[detail::idx(i)] == 0) continue;
      const scalar dot = y_bar.cwiseProduct(ws.forward.k[detail::idx(i)]).sum();
      if (w.k[detail::idx(i)] != 0) {
        ws.k_bar[detail::idx(i)] += (h * w.k[detail::idx(i)]) * y_bar;
        ws.active[detail::idx(i)] = true;
      }
      ws.h_bar += w.k[detail::idx(i)] * dot;
      theta_bar += h * w.d_k[detail::idx(i)] * dot;
    }
    if constexpr (dense_needs_end) {
      const scalar dot = y_bar.cwiseProduct(ws.forward.end).sum();
      if (w.end != 0) {
        ws.end_bar += (h * w.end) * y_bar;
        ws.end_active = true;
      }
      ws.h_bar += w.end * dot;
      theta_bar += h * w.d_end * dot;
    }
    // θ = (τ - t0)/(t1 - t0): ∂θ/∂τ = 1/h, ∂θ/∂t0 = (θ - 1)/h, ∂θ/∂t1 = -θ/h.
    ws.t0_bar += theta_bar * (theta - 1) / h;
    ws.t1_bar -= theta_bar * theta / h;
    return theta_bar / h;
  }

  /// \brief Pulls the cotangent of y1 (`y_bar` on entry) back through the replayed step: on
  /// return `y_bar` holds the cotangent of y0, `theta_bar` has been incremented, and `ws.t0_bar`
  /// / `ws.t1_bar` hold the cotangents of the step's start and end times (when `with_time`;
  /// the term must then be time-differentiable).
  ///
  /// Stage cotangents follow from the tableau: `k̄_i = h b_i ȳ1 + h Σ_{j>i} a_ji Ȳ_j`,
  /// `Ȳ_i = (∂f/∂y)ᵀ(Y_i) k̄_i`, `ȳ0 = ȳ1 + Σ_i Ȳ_i`, `θ̄ += Σ_i (∂f/∂θ)ᵀ(Y_i) k̄_i`, i and j
  /// over the extended list (the extra dense-output stages come last, so they are pulled first).
  /// \return number of vjps.
  template <class Term, time_scalar T, state State>
  std::size_t pull_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                        reverse_workspace<State>& ws, State& y_bar,
                        params_ref<scalar_of_t<State>> theta_bar, bool with_time) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    std::size_t vjps = 0;
    y_bar += ws.y1_bar_extra;
    if constexpr (dense_needs_end) {
      if (ws.end_active) {
        scalar a_t = 0;
        pull_back(term, stages, t1, ws.y1, theta, ws.end_bar, ws.argument_bar, theta_bar, a_t,
                  with_time);
        ws.t1_bar += a_t;
        y_bar += ws.argument_bar;
        ++vjps;
      }
    }
    for (int i = 0; i < stages; ++i) {
      if (Tableau::b[detail::idx(i)] == 0.0) continue;
      ws.k_bar[detail::idx(i)].noalias() +=
          (h * static_cast<scalar>(Tableau::b[detail::idx(i)])) * y_bar;
      ws.active[detail::idx(i)] = true;
      ws.h_bar += static_cast<scalar>(Tableau::b[detail::idx(i)]) *
                  y_bar.cwiseProduct(ws.forward.k[detail::idx(i)]).sum();
    }
    ws.y0_bar += y_bar;
    for (int i = total_stages - 1; i >= 0; --i) {
      if (!ws.active[detail::idx(i)]) continue;
      scalar a_t = 0;
      const T t_stage = stage_time(i, t0, t1);
      pull_back(term, i, t_stage, ws.arguments[detail::idx(i)], theta, ws.k_bar[detail::idx(i)],
                ws.argument_bar, theta_bar, a_t, with_time);
      ++vjps;
      const auto c = static_cast<scalar>(node(i));
      ws.t0_bar += (1 - c) * a_t;
      ws.t1_bar += c * a_t;
      ws.y0_bar += ws.argument_bar;
      for (int j = 0; j < i; ++j) {
        if (coefficient(i, j) == 0.0) continue;
        const auto a = static_cast<scalar>(coefficient(i, j));
        ws.k_bar[detail::idx(j)].noalias() += (h * a) * ws.argument_bar;
        ws.active[detail::idx(j)] = true;
        ws.h_bar += a * ws.argument_bar.cwiseProduct(ws.forward.k[detail::idx(j)]).sum();
      }
    }
    ws.t1_bar += ws.h_bar;
    ws.t0_bar -= ws.h_bar;
    y_bar.swap(ws.y0_bar);
    return vjps;
  }

  /// \brief Buffers of `tangent_step`.
  template <state State>
  struct tangent_workspace {
    std::array<State, total_count> k_dot;  ///< k̇_i (extra dense-output stages included).
    State argument;                        ///< Y_i.
    State argument_dot;                    ///< Ẏ_i.
    State end_dot;                         ///< d/dε f(t1, y1) (Hermite dense without FSAL).
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      for (auto& s : k_dot) s.setZero(like.rows(), like.cols());
      for (State* s : {&argument, &argument_dot, &end_dot}) s->setZero(like.rows(), like.cols());
    }
  };

  /// \brief Forward-mode derivative of the accepted step in `ws` (its stages k_i are read):
  /// given tangents ẏ0, θ̇, ṫ0, ṫ1, writes ẏ1. `Ẏ_i = ẏ0 + h Σ a_ij k̇_j + ḣ Σ a_ij k_j`,
  /// `k̇_i = jvp(t_i, Y_i; Ẏ_i, θ̇, ṫ_i)`. Needs a `jvp_field` term. `dense`: also the stages
  /// and f(t1, y1) a dense output reads (the extra dense-output stages when `ws.dense_ready`).
  /// \return jvps.
  template <class Term, time_scalar T, state State>
  std::size_t tangent_step(Term& term, T t0, T t1, const State& y0, const State& y1,
                           params_view<scalar_of_t<State>> theta, const workspace<State>& ws,
                           const State& y0_dot, params_view<scalar_of_t<State>> theta_dot,
                           scalar_of_t<State> t0_dot, scalar_of_t<State> t1_dot, State& y1_dot,
                           tangent_workspace<State>& tw, bool dense) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const scalar h_dot = t1_dot - t0_dot;
    std::size_t jvps = 0;
    const int last = dense && ws.dense_ready ? total_stages : stages;
    for (int i = 0; i < last; ++i) {
      if (!detail::stage_is_used<Tableau>(i) && !dense) continue;
      const State* argument = &y0;
      const State* argument_dot = &y0_dot;
      if (i > 0) {
        form_stage(i, h, y0, ws.k, tw.argument);
        form_stage(i, h, y0_dot, tw.k_dot, tw.argument_dot);
        accumulate(
            tw.argument_dot, h_dot, [i](int j) { return coefficient(i, j); }, ws.k, i);
        argument = &tw.argument;
        argument_dot = &tw.argument_dot;
      }
      const auto c = static_cast<scalar>(node(i));
      term.jvp(stage_time(i, t0, t1), *argument, theta, *argument_dot, theta_dot,
               (1 - c) * t0_dot + c * t1_dot, tw.k_dot[detail::idx(i)]);
      ++jvps;
    }
    y1_dot = y0_dot;
    accumulate(
        y1_dot, h, [](int j) { return Tableau::b[detail::idx(j)]; }, tw.k_dot);
    accumulate(
        y1_dot, h_dot, [](int j) { return Tableau::b[detail::idx(j)]; }, ws.k);
    if constexpr (dense_needs_end) {
      if (dense) {
        term.jvp(t1, y1, theta, y1_dot, theta_dot, t1_dot, tw.end_dot);
        ++jvps;
      }
    }
    return jvps;
  }

  /// \brief dp/dτ of the dense output of the step in `ws` at τ (the rate of an output time):
  /// `(w'_y0 y0 + w'_y1 y1 + h Σ w'_k[i] k_i + h w'_end f1) / h`. Without `ws.dense_ready` the
  /// extra stages were not evaluated for this step; that happens only at τ = t1 (an output on a
  /// step end), where b_i(1) = 0 and b_i'(1) = 0 for them except an extra stage that is
  /// f(t1, y1) (Verner's k11, b'(1) = 1), read from `end_derivative` instead.
  template <time_scalar T, state State>
  void dense_derivative(T t0, T t1, T tau, const State& y0, const State& y1,
                        const workspace<State>& ws, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto w = weights(static_cast<scalar>((tau - t0) / (t1 - t0)));
    out = (w.d_y0 / h) * y0;
    if (w.d_y1 != 0) out += (w.d_y1 / h) * y1;
    for (int i = 0; i < total_stages; ++i) {
      const State* k = dense_stage(ws, i);
      if (k != nullptr && w.d_k[detail::idx(i)] != 0) out += w.d_k[detail::idx(i)] * *k;
    }
    if constexpr (dense_needs_end) out += w.d_end * ws.end;
  }

  /// \brief Tangent of the dense output at τ (fixed) of the step of `tangent_step`:
  /// `out = d/dε p((τ - t0)/(t1 - t0))`, from ẏ0, ẏ1, the stage tangents in `tw` and ṫ0, ṫ1
  /// (extra stages not evaluated for this step: as in `dense_derivative`).
  template <time_scalar T, state State>
  void tangent_dense(T t0, T t1, T tau, const State& y0, const State& y1,
                     const workspace<State>& ws, const State& y0_dot, const State& y1_dot,
                     scalar_of_t<State> t0_dot, scalar_of_t<State> t1_dot,
                     const tangent_workspace<State>& tw, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const scalar h_dot = t1_dot - t0_dot;
    const auto theta = static_cast<scalar>((tau - t0) / (t1 - t0));
    const scalar theta_dot = (-t0_dot - theta * h_dot) / h;
    const auto w = weights(theta);
    out = w.y0 * y0_dot + theta_dot * w.d_y0 * y0;
    if (w.y1 != 0 || w.d_y1 != 0) out += w.y1 * y1_dot + theta_dot * w.d_y1 * y1;
    for (int i = 0; i < total_stages; ++i) {
      const State* k = dense_stage(ws, i);
      if (k == nullptr || (w.k[detail::idx(i)] == 0 && w.d_k[detail::idx(i)] == 0)) continue;
      const scalar rate = h_dot * w.k[detail::idx(i)] + theta_dot * h * w.d_k[detail::idx(i)];
      if (i < stages || ws.dense_ready) {
        out += (h * w.k[detail::idx(i)]) * tw.k_dot[detail::idx(i)] + rate * *k;
      } else {
        out += rate * *k;  // f(t1, y1) at θ = 1, whose weight (not slope) vanishes there
      }
    }
    if constexpr (dense_needs_end)
      out += (h * w.end) * tw.end_dot + (h_dot * w.end + theta_dot * h * w.d_end) * ws.end;
  }

 private:
  /// Stage i as a dense output of the step in `ws` reads it: an extra stage only once
  /// evaluated for this step, or f(t1, y1) from `evaluate_end`; else null (see
  /// `dense_derivative`).
  template <state State>
  const State* dense_stage(const workspace<State>& ws, int i) const {
    if (i < stages || ws.dense_ready) return &ws.k[detail::idx(i)];
    return is_end_stage(i) ? &end_derivative(ws) : nullptr;
  }

  template <state State>
  static const params_of_t<State>& no_params() {
    static const params_of_t<State> empty;
    return empty;
  }

  /// out += Σ_{j<count} (h · weight(j)) k_j over the non-zero weights (count: the step's stages
  /// unless told otherwise).
  template <class Weight, state State, class K>
  static void accumulate(State& out, scalar_of_t<State> h, Weight weight, const K& k,
                         int count = stages) {
    for (int j = 0; j < count; ++j) {
      const double w = weight(j);
      if (w != 0.0) out += (h * static_cast<scalar_of_t<State>>(w)) * k[detail::idx(j)];
    }
  }

  template <class Term, time_scalar T, state State>
  static void evaluate(Term& term, int slot, T t, const State& y,
                       params_view<scalar_of_t<State>> theta, State& out) {
    if constexpr (stage_cached_field<Term, T, State>) {
      term.evaluate_for_vjp(static_cast<std::size_t>(slot), t, y, theta, out);
    } else {
      term.vf(t, y, theta, out);
    }
  }

  template <class Term, time_scalar T, state State>
  static void pull_back(Term& term, int slot, T t, const State& y,
                        params_view<scalar_of_t<State>> theta, const State& cotangent, State& y_bar,
                        params_ref<scalar_of_t<State>> theta_bar, scalar_of_t<State>& t_bar,
                        bool with_time) {
    if constexpr (stage_cached_field<Term, T, State>) {
      if constexpr (time_stage_cached_field<Term, T, State>) {
        if (with_time) {
          term.vjp_from(static_cast<std::size_t>(slot), t, y, theta, cotangent, y_bar, theta_bar,
                        t_bar);
          return;
        }
      }
      term.vjp_from(static_cast<std::size_t>(slot), t, y, theta, cotangent, y_bar, theta_bar);
    } else {
      if constexpr (time_vjp_field<Term, T, State>) {
        if (with_time) {
          term.vjp(t, y, theta, cotangent, y_bar, theta_bar, t_bar);
          return;
        }
      }
      term.vjp(t, y, theta, cotangent, y_bar, theta_bar);
    }
  }
};

}  // namespace nde
