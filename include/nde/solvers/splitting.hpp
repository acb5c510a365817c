/// \file
/// \brief The one engine of the explicit symplectic (splitting) methods: `nde::splitting<Table>`
/// over a `constexpr` table of kick and drift coefficients, for separable (q, p) terms
/// (`terms/partitioned_term.hpp`: `vf_q`, `vf_p`, `half()`, `separable()`).
///
/// One step of size h = t1 − t0 is the composition (kick–drift–kick form)
///
///     K(d_0) D(c_0) K(d_1) D(c_1) … D(c_{m−1}) K(d_m),
///     kick  K(d): p ← p + h d · b(τ, q, p),   drift D(c): q ← q + h c · a(τ, q, p),
///
/// (Hairer, Lubich & Wanner, *Geometric Numerical Integration*, 2nd ed., §II.5 and §VI.3;
/// McLachlan & Quispel, Acta Numerica 11, 2002). For a separable term every kick and drift is
/// the exact flow of one half of the system, so the step is symplectic. Time: a kick is
/// evaluated at the drift clock τ = t0 + h Σ_{j<i} c_j, a drift at the kick clock
/// τ = t0 + h Σ_{j≤i} d_j (time advances as an extra coordinate of the splitting).
///
/// Cost: `m` evaluations of b and `m` of a per step (b at the end of a step is the first
/// kick's b of the next: first same as last), plus one of a at the end of each accepted step
/// for the cubic Hermite dense output (`evaluate_end`). `stats.rhs_evals` counts f-evaluation
/// equivalents: a `vf_q` or a `vf_p` call is half of one.
///
/// Dense output: cubic Hermite through (y0, f0, y1, f1) (Hairer, Nørsett & Wanner I,
/// eq. II.6.7), order 3.
///
/// Exact derivatives (the `reversible` capability `nde::discrete_adjoint` uses): `replay`
/// recomputes every kick and drift of a recorded step bit for bit, `pull_dense` and
/// `pull_step` pull cotangents of dense outputs and of y1 back to y0, θ, t0 and t1 through
/// `vjp_q` / `vjp_p` (terms with `partitioned_vjp_field`). Forward sensitivities
/// (`tangent_step`) are not implemented: they throw `nde::error` naming the method.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/partitioned_term.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <string>

namespace nde {

/// \brief What a splitting table has: `kicks` (m + 1 kick coefficients d_i), `drifts` (m drift
/// coefficients c_i), `order`, and `name` (for messages).
template <class Table>
concept splitting_table = requires {
  { Table::order } -> std::convertible_to<int>;
  Table::kicks[0];
  Table::drifts[0];
  { Table::name } -> std::convertible_to<const char*>;
}
&&(std::tuple_size_v<std::remove_cvref_t<decltype(Table::kicks)>> ==
   std::tuple_size_v<std::remove_cvref_t<decltype(Table::drifts)>> + 1);

namespace detail {

/// Σ of a coefficient array.
template <std::size_t N>
constexpr double coefficient_sum(const std::array<double, N>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

/// The table is consistent: kicks and drifts each sum to 1 (within 1e-14; first order), at
/// least one drift, every drift non-zero.
template <class Table>
constexpr bool valid_splitting() {
  const double dk = coefficient_sum(Table::kicks) - 1.0;
  const double dd = coefficient_sum(Table::drifts) - 1.0;
  if (dk > 1e-14 || dk < -1e-14 || dd > 1e-14 || dd < -1e-14) return false;
  for (double c : Table::drifts)
    if (c == 0.0) return false;
  return Table::order >= 1;
}

/// Unwraps the solve driver's evaluation counter (`counting_term`, which forwards only `vf`)
/// to reach the partitioned term's `vf_q` / `vf_p`; anything else is itself.
template <class Term>
decltype(auto) partitioned_target(Term& term) {
  if constexpr (requires {
                  *term.term;
                  *term.evaluations;
                  *term.jvps;
                }) {
    return (*term.term);
  } else {
    return (term);
  }
}

/// Adds half an f evaluation to the driver's counter, if there is one (`halves` carries).
template <class Term>
void count_half_evaluation(Term& term, std::size_t& halves) {
  if constexpr (requires {
                  *term.term;
                  *term.evaluations;
                  *term.jvps;
                }) {
    if (++halves == 2) {
      ++*term.evaluations;
      halves = 0;
    }
  } else {
    (void)term;
    (void)halves;
  }
}

/// The term behind the driver's counter (see `partitioned_target`).
template <class Term>
using partitioned_target_t =
    std::remove_cvref_t<decltype(partitioned_target(std::declval<Term&>()))>;

/// Thrown when a (q, p) method is handed a term without the (q, p) blocks: a plain ODE term, or
/// the augmented system of a continuous adjoint (use `discrete_adjoint` with these methods).
[[noreturn]] inline void not_partitioned(const char* method) {
  throw error(status::invalid_input,
              concatenate(method,
                          " needs a partitioned (q, p) term (half(), separable(), vf_q, vf_p; "
                          "nde/terms/partitioned_term.hpp); a continuous adjoint's augmented "
                          "system is not one: use nde::discrete_adjoint{} with this method"));
}

/// Thrown when the discrete adjoint of a (q, p) method meets a term without block vjps.
[[noreturn]] inline void no_block_vjp(const char* method) {
  throw error(status::invalid_input,
              concatenate("the discrete adjoint of ", method,
                          " needs vjp_q and vjp_p on the term (nde/terms/partitioned_term.hpp)"));
}

/// Throws the message every explicit symplectic method gives a term it cannot integrate.
template <class Term, class State>
void check_separable(const char* method, const Term& term, const State& y) {
  if (!term.separable())
    throw error(status::invalid_input,
                concatenate(method,
                            " needs a separable term (a = a(t, p), b = b(t, q)); this term is "
                            "not separable: construct it with nde::coupling::separable if it is, "
                            "or use a Runge-Kutta method (or an implicit one) for a general H"));
  if (y.rows() != 2 * static_cast<Eigen::Index>(term.half()))
    throw error(status::invalid_input,
                concatenate(method, ": the state has ", y.rows(),
                            " rows, the term's [q; p] has 2 x ", term.half()));
}

}  // namespace detail

/// \brief Explicit symplectic splitting method for separable (q, p) terms (see the file
/// comment). Fixed step only (no error estimate): use `constant_step` or `fixed_times`.
/// \tparam Table a `splitting_table`.
template <splitting_table Table>
class splitting {
  static_assert(detail::valid_splitting<Table>(),
                "splitting table failed its checks: kicks and drifts must each sum to 1, every "
                "drift must be non-zero, order >= 1");

 public:
  using table = Table;  ///< The coefficients.
  /// \brief Number of drifts m (kicks: m + 1).
  static constexpr int drifts = static_cast<int>(Table::drifts.size());
  /// \brief f-evaluation equivalents per step (m kicks + m drifts, halves): what the discrete
  /// adjoint's statistics count per recomputed step.
  static constexpr int stages = drifts + 1;
  static constexpr int order = Table::order;        ///< Order of y1.
  static constexpr bool fsal = false;               ///< f(t1, y1)'s a part costs one vf_q.
  static constexpr bool adaptive = false;           ///< No error estimate.
  static constexpr int error_order = 0;             ///< None.
  static constexpr int dense_degree = 3;            ///< Cubic Hermite.
  static constexpr int dense_order = 3;             ///< Of the interpolant.
  static constexpr bool reversible = true;          ///< `replay`/`pull_step`/`pull_dense`.
  static constexpr bool symplectic = true;          ///< For separable terms.
  static constexpr const char* name = Table::name;  ///< For messages.

 private:
  static constexpr std::size_t m = Table::drifts.size();

  // Clock fractions: kick i at Σ_{j<i} c_j, drift i at Σ_{j≤i} d_j.
  static constexpr std::array<double, m + 1> kick_clock = [] {
    std::array<double, m + 1> r{};
    double s = 0;
    for (std::size_t i = 0; i <= m; ++i) {
      r[i] = s;
      if (i < m) s += Table::drifts[i];
    }
    r[m] = 1.0;
    return r;
  }();
  static constexpr std::array<double, m> drift_clock = [] {
    std::array<double, m> r{};
    double s = 0;
    for (std::size_t i = 0; i < m; ++i) {
      s += Table::kicks[i];
      r[i] = s;
    }
    return r;
  }();

  template <time_scalar T>
  static T at(double fraction, T t0, T t1) {
    if (fraction == 0.0) return t0;
    if (fraction == 1.0) return t1;
    return t0 + static_cast<T>(fraction) * (t1 - t0);
  }

 public:
  /// \brief Buffers of one integration: f0 = f(t0, y0) (its b part feeds the first kick),
  /// f1 = f(t1, y1) (b part from the step's last kick, a part from `evaluate_end`).
  template <state State>
  struct workspace {
    State f0;                ///< [a(t0, y0); b(t0, y0)].
    State f1;                ///< [a(t1, y1); b(t1, y1)].
    State value;             ///< Scratch for a kick's or a drift's value.
    std::size_t halves = 0;  ///< Half evaluations not yet counted.
  };

  /// \brief A workspace sized like `like`.
  template <state State>
  [[nodiscard]] static workspace<State> make_workspace(const State& like) {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }
  /// \brief Resizes every buffer like `like`.
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    for (State* s : {&ws.f0, &ws.f1, &ws.value}) s->setZero(like.rows(), like.cols());
  }

  /// \brief f(t0, y0) into the workspace (one vf_q and one vf_p).
  /// \throws nde::error (invalid_input) if the term is not separable or y0 is not 2·half rows.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_field<target_type, T, State>) {
      detail::not_partitioned(name);
    } else {
      auto& target = detail::partitioned_target(term);
      detail::check_separable(name, target, y0);
      ws.f0.resize(y0.rows(), y0.cols());
      target.vf_q(t0, y0, theta, ws.f0);
      detail::count_half_evaluation(term, ws.halves);
      target.vf_p(t0, y0, theta, ws.f0);
      detail::count_half_evaluation(term, ws.halves);
      return ws.f0.allFinite() ? status::success : status::non_finite;
    }
  }

  /// \brief One step (t0, y0) → t1 into y1 (must not alias y0); needs `init` (or `advance`)
  /// first. Works for t1 < t0. \return `non_finite` if y1 or b(t1, y1) is NaN/Inf.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_field<target_type, T, State>) {
      detail::not_partitioned(name);
    } else {
      auto& target = detail::partitioned_target(term);
      using scalar = scalar_of_t<State>;
      const auto h = static_cast<scalar>(t1 - t0);
      const Eigen::Index n = target.half();
      y1 = y0;
      for (std::size_t i = 0; i <= m; ++i) {
        const State* b = &ws.f0;
        if (i > 0) {
          State& out = i == m ? ws.f1 : ws.value;
          target.vf_p(at(kick_clock[i], t0, t1), static_cast<const State&>(y1), theta, out);
          detail::count_half_evaluation(term, ws.halves);
          b = &out;
        }
        if (Table::kicks[i] != 0.0)
          y1.bottomRows(n) += (h * static_cast<scalar>(Table::kicks[i])) * b->bottomRows(n);
        if (i < m) {
          target.vf_q(at(drift_clock[i], t0, t1), static_cast<const State&>(y1), theta, ws.value);
          detail::count_half_evaluation(term, ws.halves);
          y1.topRows(n) += (h * static_cast<scalar>(Table::drifts[i])) * ws.value.topRows(n);
        }
      }
      const bool finite = y1.allFinite() && ws.f1.bottomRows(n).allFinite();
      return {finite ? status::success : status::non_finite, nullptr};
    }
  }

  /// \brief a(t1, y1) into f1 (one vf_q): the dense output and the next step need f(t1, y1).
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term& term, T t1, const State& y1, params_view<scalar_of_t<State>> theta,
                      workspace<State>& ws) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_field<target_type, T, State>) {
      detail::not_partitioned(name);
    } else {
      auto& target = detail::partitioned_target(term);
      target.vf_q(t1, y1, theta, ws.f1);
      detail::count_half_evaluation(term, ws.halves);
      return ws.f1.allFinite() ? status::success : status::non_finite;
    }
  }

  /// \brief f(t0, y0) after `init`.
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.f0;
  }
  /// \brief f(t1, y1) after `step` + `evaluate_end`.
  template <state State>
  [[nodiscard]] const State& end_derivative(const workspace<State>& ws) const {
    return ws.f1;
  }
  /// \brief f(t1, y1) becomes the next step's f0 (a swap).
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.f0.swap(ws.f1);
  }

  /// \brief Cubic Hermite monomial coefficients `y(t0 + θh) = Σ_j c_j θ^j` of the last step.
  template <time_scalar T, state State>
  void dense_coefficients(T t0, T t1, const State& y0, const State& y1, const workspace<State>& ws,
                          std::array<State, 4>& c) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    c[0] = y0;
    c[1] = h * ws.f0;
    c[2] = scalar(3) * (y1 - y0) - h * (scalar(2) * ws.f0 + ws.f1);
    c[3] = scalar(2) * (y0 - y1) + h * (ws.f0 + ws.f1);
  }

  /// \brief dy/dτ of the dense output at τ.
  template <time_scalar T, state State>
  void dense_derivative(T t0, T t1, T tau, const State& y0, const State& y1,
                        const workspace<State>& ws, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto w = detail::cubic_hermite(static_cast<scalar>((tau - t0) / (t1 - t0)));
    out = (w.d_y0 / h) * y0 + (w.d_y1 / h) * y1 + w.d_f0 * ws.f0 + w.d_f1 * ws.f1;
  }

  /// \brief Buffers of the reverse step; `replay` fills the kick and drift arguments and values.
  template <state State>
  struct reverse_workspace {
    using scalar = scalar_of_t<State>;  ///< State scalar.
    workspace<State> forward;           ///< f0, f1 of the replayed step.
    std::array<State, m + 1> kick_at;   ///< State each kick's b was evaluated at.
    std::array<State, m + 1> kick_b;    ///< b values (bottom rows; kick 0's is f0's).
    std::array<State, m> drift_at;      ///< State each drift's a was evaluated at.
    std::array<State, m> drift_a;       ///< a values (top rows).
    State y1;                           ///< y1 of the replay.
    State y0_bar;                       ///< ȳ0 contributions of dense outputs.
    State y1_bar_extra;                 ///< ȳ1 contributions of dense outputs.
    State f0_bar, f1_bar;               ///< Cotangents of f0 and f1 (dense outputs).
    State w, w_y;                       ///< Scratch cotangents.
    bool dense_active = false;          ///< f0_bar / f1_bar may be non-zero.
    scalar h_bar = 0;                   ///< Cotangent of h.
    scalar t0_bar = 0;                  ///< Cotangent of the step's start.
    scalar t1_bar = 0;                  ///< Cotangent of the step's end.

    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      splitting::resize(forward, like);
      for (auto& s : kick_at) s.setZero(like.rows(), like.cols());
      for (auto& s : kick_b) s.setZero(like.rows(), like.cols());
      for (auto& s : drift_at) s.setZero(like.rows(), like.cols());
      for (auto& s : drift_a) s.setZero(like.rows(), like.cols());
      for (State* s : {&y1, &y0_bar, &y1_bar_extra, &f0_bar, &f1_bar, &w, &w_y})
        s->setZero(like.rows(), like.cols());
    }
  };

  /// \brief Recomputes the recorded step (t0, y0) → t1 bit for bit (same operations as
  /// `step`), keeping each kick's and drift's argument and value, and clears the cotangents.
  /// `dense`: also a(t0, y0) and a(t1, y1), which the Hermite dense output reads.
  /// \return f-evaluation equivalents (rounded up).
  template <class Term, time_scalar T, state State>
  std::size_t replay(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                     reverse_workspace<State>& ws, bool dense) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_field<target_type, T, State>) {
      detail::not_partitioned(name);
    } else {
      auto& target = detail::partitioned_target(term);
      using scalar = scalar_of_t<State>;
      const auto h = static_cast<scalar>(t1 - t0);
      const Eigen::Index n = target.half();
      std::size_t halves = 0;
      State& y = ws.y1;
      y = y0;
      for (std::size_t i = 0; i <= m; ++i) {
        ws.kick_at[i] = y;
        target.vf_p(at(kick_clock[i], t0, t1), ws.kick_at[i], theta, ws.kick_b[i]);
        ++halves;
        if (Table::kicks[i] != 0.0)
          y.bottomRows(n) +=
              (h * static_cast<scalar>(Table::kicks[i])) * ws.kick_b[i].bottomRows(n);
        if (i < m) {
          ws.drift_at[i] = y;
          target.vf_q(at(drift_clock[i], t0, t1), ws.drift_at[i], theta, ws.drift_a[i]);
          ++halves;
          y.topRows(n) += (h * static_cast<scalar>(Table::drifts[i])) * ws.drift_a[i].topRows(n);
        }
      }
      ws.forward.f0.bottomRows(n) = ws.kick_b[0].bottomRows(n);
      ws.forward.f1.bottomRows(n) = ws.kick_b[m].bottomRows(n);
      if (dense) {
        target.vf_q(t0, y0, theta, ws.forward.f0);
        target.vf_q(t1, static_cast<const State&>(y), theta, ws.forward.f1);
        halves += 2;
      }
      for (State* s : {&ws.y0_bar, &ws.y1_bar_extra, &ws.f0_bar, &ws.f1_bar}) s->setZero();
      ws.dense_active = false;
      ws.h_bar = ws.t0_bar = ws.t1_bar = 0;
      return (halves + 1) / 2;
    }
  }

  /// \brief Pulls the cotangent `y_bar` of the dense output at τ of the replayed step (replayed
  /// with `dense = true`) into the workspace. \return dL/dτ.
  template <time_scalar T, state State>
  scalar_of_t<State> pull_dense(T t0, T t1, T tau, const State& y0, const State& y_bar,
                                reverse_workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto theta = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto w = detail::cubic_hermite(theta);
    const scalar dot_f0 = y_bar.cwiseProduct(ws.forward.f0).sum();
    const scalar dot_f1 = y_bar.cwiseProduct(ws.forward.f1).sum();
    ws.y0_bar += w.y0 * y_bar;
    ws.y1_bar_extra += w.y1 * y_bar;
    ws.f0_bar += (h * w.f0) * y_bar;
    ws.f1_bar += (h * w.f1) * y_bar;
    ws.dense_active = true;
    ws.h_bar += w.f0 * dot_f0 + w.f1 * dot_f1;
    const scalar theta_bar = w.d_y0 * y_bar.cwiseProduct(y0).sum() +
                             w.d_y1 * y_bar.cwiseProduct(ws.y1).sum() +
                             h * (w.d_f0 * dot_f0 + w.d_f1 * dot_f1);
    // θ = (τ − t0)/(t1 − t0): ∂θ/∂τ = 1/h, ∂θ/∂t0 = (θ − 1)/h, ∂θ/∂t1 = −θ/h.
    ws.t0_bar += theta_bar * (theta - 1) / h;
    ws.t1_bar -= theta_bar * theta / h;
    return theta_bar / h;
  }

  /// \brief Pulls the cotangent of y1 (`y_bar` on entry) back through the replayed step: on
  /// return `y_bar` is the cotangent of y0, `theta_bar` has been incremented, and
  /// `ws.t0_bar` / `ws.t1_bar` hold the cotangents of the step's start and end (`with_time`:
  /// the term then has time vjps or is autonomous). Kick i: `B̄ = h d_i p̄`, `ȳ += ∂b/∂yᵀ B̄`;
  /// drift i: `Ā = h c_i q̄`, `ȳ += ∂a/∂yᵀ Ā`, in reverse order. \return vjps (f equivalents).
  template <class Term, time_scalar T, state State>
  std::size_t pull_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                        reverse_workspace<State>& ws, State& y_bar,
                        params_ref<scalar_of_t<State>> theta_bar, bool with_time) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_vjp_field<target_type, T, State>) {
      detail::no_block_vjp(name);
    } else {
      auto& target = detail::partitioned_target(term);
      using scalar = scalar_of_t<State>;
      const auto h = static_cast<scalar>(t1 - t0);
      const Eigen::Index n = target.half();
      std::size_t halves = 0;
      y_bar += ws.y1_bar_extra;
      if (ws.dense_active) {
        // a(t1, y1) read by the dense output.
        ws.w.topRows(n) = ws.f1_bar.topRows(n);
        ws.w.bottomRows(n).setZero();
        ws.t1_bar += pull(target, true, t1, ws.y1, theta, ws.w, ws.w_y, theta_bar, with_time);
        y_bar += ws.w_y;
        ++halves;
      }
      for (std::size_t k = m + 1; k-- > 0;) {
        // Kick k.
        ws.w.topRows(n).setZero();
        ws.w.bottomRows(n) = (h * static_cast<scalar>(Table::kicks[k])) * y_bar.bottomRows(n);
        ws.h_bar += static_cast<scalar>(Table::kicks[k]) *
                    y_bar.bottomRows(n).cwiseProduct(ws.kick_b[k].bottomRows(n)).sum();
        if (ws.dense_active && k == m) ws.w.bottomRows(n) += ws.f1_bar.bottomRows(n);
        if (ws.dense_active && k == 0) ws.w.bottomRows(n) += ws.f0_bar.bottomRows(n);
        if (Table::kicks[k] != 0.0 || ws.dense_active) {
          const scalar a_t = pull(target, false, at(kick_clock[k], t0, t1), ws.kick_at[k], theta,
                                  ws.w, ws.w_y, theta_bar, with_time);
          add_time(kick_clock[k], a_t, ws);
          y_bar += ws.w_y;
          ++halves;
        }
        if (k == 0) break;
        // Drift k − 1.
        const std::size_t i = k - 1;
        ws.w.topRows(n) = (h * static_cast<scalar>(Table::drifts[i])) * y_bar.topRows(n);
        ws.w.bottomRows(n).setZero();
        ws.h_bar += static_cast<scalar>(Table::drifts[i]) *
                    y_bar.topRows(n).cwiseProduct(ws.drift_a[i].topRows(n)).sum();
        const scalar a_t = pull(target, true, at(drift_clock[i], t0, t1), ws.drift_at[i], theta,
                                ws.w, ws.w_y, theta_bar, with_time);
        add_time(drift_clock[i], a_t, ws);
        y_bar += ws.w_y;
        ++halves;
      }
      y_bar += ws.y0_bar;
      if (ws.dense_active) {
        // a(t0, y0) read by the dense output (kick 0's argument is y0).
        ws.w.topRows(n) = ws.f0_bar.topRows(n);
        ws.w.bottomRows(n).setZero();
        ws.t0_bar +=
            pull(target, true, t0, ws.kick_at[0], theta, ws.w, ws.w_y, theta_bar, with_time);
        y_bar += ws.w_y;
        ++halves;
      }
      ws.t1_bar += ws.h_bar;
      ws.t0_bar -= ws.h_bar;
      return (halves + 1) / 2;
    }
  }

  /// \brief Buffers of `tangent_step` (unused: forward sensitivities are not implemented).
  template <state State>
  struct tangent_workspace {
    /// \brief Nothing to size.
    void resize(const State&) {}
  };

  /// \brief Not implemented for splitting methods.
  /// \throws nde::error (invalid_input) naming the method and the alternative.
  template <class Term, time_scalar T, state State>
  std::size_t tangent_step(Term&, T, T, const State&, const State&, params_view<scalar_of_t<State>>,
                           const workspace<State>&, const State&, params_view<scalar_of_t<State>>,
                           scalar_of_t<State>, scalar_of_t<State>, State&,
                           tangent_workspace<State>&, bool) const {
    throw error(status::invalid_input,
                detail::concatenate(name,
                                    ": forward sensitivities (tangent_step) are not implemented "
                                    "for splitting methods; use nde::discrete_adjoint{}"));
  }
  /// \brief Not implemented (see `tangent_step`).
  template <time_scalar T, state State>
  void tangent_dense(T, T, T, const State&, const State&, const workspace<State>&, const State&,
                     const State&, scalar_of_t<State>, scalar_of_t<State>,
                     const tangent_workspace<State>&, State&) const {
    throw error(status::invalid_input,
                detail::concatenate(name, ": forward sensitivities are not implemented"));
  }

 private:
  template <state State>
  static void add_time(double fraction, scalar_of_t<State> a_t, reverse_workspace<State>& ws) {
    using scalar = scalar_of_t<State>;
    ws.t0_bar += (1 - static_cast<scalar>(fraction)) * a_t;
    ws.t1_bar += static_cast<scalar>(fraction) * a_t;
  }

  // vjp of a (q_part) or b at (t, y) with cotangent w; returns the time cotangent (0 unless
  // with_time and the term has time vjps).
  template <class Target, time_scalar T, state State>
  static scalar_of_t<State> pull(Target& target, bool q_part, T t, const State& y,
                                 params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
                                 params_ref<scalar_of_t<State>> theta_bar, bool with_time) {
    scalar_of_t<State> a_t = 0;
    if constexpr (partitioned_time_vjp_field<Target, T, State>) {
      if (with_time) {
        if (q_part) {
          target.vjp_q(t, y, theta, w, w_y, theta_bar, a_t);
        } else {
          target.vjp_p(t, y, theta, w, w_y, theta_bar, a_t);
        }
        return a_t;
      }
    }
    if (q_part) {
      target.vjp_q(t, y, theta, w, w_y, theta_bar);
    } else {
      target.vjp_p(t, y, theta, w, w_y, theta_bar);
    }
    return a_t;
  }
};

}  // namespace nde
