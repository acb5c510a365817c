/// \file
/// \brief `nde::rkn4`: the classical fourth-order Runge–Kutta–Nyström method (Nyström 1925)
/// for second-order systems `q'' = b(t, q)` on `y = [q; p = q']`: a partitioned term with
/// `coupling::second_order` (a = p exactly). Three stages, c = (0, ½, 1):
///
///     k_i = b(t0 + c_i h, Q_i),  Q_i = q0 + c_i h p0 + h² Σ_j ā_ij k_j,
///     q1 = q0 + h p0 + h² Σ b̄_i k_i,   p1 = p0 + h Σ b_i k_i,
///     ā_21 = 1/8, ā_32 = ½,  b̄ = (1/6, 1/3, 0),  b = (1/6, 2/3, 1/6)
///
/// (Hairer, Nørsett & Wanner I, Sec. II.14: the order conditions there hold for these
/// coefficients, checked by `static_assert` below). Not symplectic; order 4 in q and p with
/// three force evaluations per step (k_1 is b(t1, y1) of the previous step). Fixed step only.
/// `stats.rhs_evals` counts force evaluations (vf_p); a = p is never evaluated.
///
/// Dense output: cubic Hermite through (y0, f0, y1, f1), f = [p; b(t, q)]. Exact discrete
/// adjoint (`replay`, `pull_step`, `pull_dense`) through `vjp_p`; no forward sensitivities.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/splitting.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/partitioned_term.hpp"

#include <Eigen/Core>

#include <array>
#include <cstddef>

namespace nde {

/// \brief Coefficients of the 3-stage, fourth-order Runge–Kutta–Nyström method.
struct rkn4_table {
  static constexpr int stages = 3;                                           ///< s.
  static constexpr int order = 4;                                            ///< Of q1 and p1.
  static constexpr std::array<double, 3> c{0.0, 0.5, 1.0};                   ///< Nodes.
  static constexpr std::array<std::array<double, 3>, 3> a{{{0.0, 0.0, 0.0},  // ā
                                                           {0.125, 0.0, 0.0},
                                                           {0.0, 0.5, 0.0}}};
  static constexpr std::array<double, 3> b_q{1.0 / 6, 1.0 / 3, 0.0};      ///< b̄ (positions).
  static constexpr std::array<double, 3> b_p{1.0 / 6, 2.0 / 3, 1.0 / 6};  ///< b (velocities).
};

namespace detail {

constexpr bool near(double x, double y) { return x - y < 1e-15 && y - x < 1e-15; }

/// The RKN order conditions up to order 4 (Hairer, Nørsett & Wanner I, Sec. II.14).
constexpr bool rkn4_conditions() {
  using R = rkn4_table;
  double s[8] = {};
  for (int i = 0; i < 3; ++i) {
    const auto I = static_cast<std::size_t>(i);
    double row = 0, row_c = 0;
    for (int j = 0; j < 3; ++j) {
      row += R::a[I][static_cast<std::size_t>(j)];
      row_c += R::a[I][static_cast<std::size_t>(j)] * R::c[static_cast<std::size_t>(j)];
    }
    s[0] += R::b_p[I];
    s[1] += R::b_p[I] * R::c[I];
    s[2] += R::b_p[I] * R::c[I] * R::c[I];
    s[3] += R::b_p[I] * R::c[I] * R::c[I] * R::c[I];
    s[4] += R::b_p[I] * row;
    s[5] += R::b_p[I] * R::c[I] * row;
    s[6] += R::b_p[I] * row_c;
    // b̄_i = b_i (1 − c_i) makes the position conditions follow from the velocity ones.
    if (!near(R::b_q[I], R::b_p[I] * (1 - R::c[I]))) return false;
    if (!near(row, R::c[I] * R::c[I] / 2)) return false;
  }
  return near(s[0], 1) && near(s[1], 0.5) && near(s[2], 1.0 / 3) && near(s[3], 0.25) &&
         near(s[4], 1.0 / 6) && near(s[5], 1.0 / 8) && near(s[6], 1.0 / 24);
}

}  // namespace detail

static_assert(detail::rkn4_conditions(), "rkn4 coefficients fail the order-4 RKN conditions");

namespace detail {

/// The term promises a = p (`second_order()`); a term without that member promises nothing.
template <class Term>
bool claims_second_order(const Term& term) {
  if constexpr (requires { term.second_order(); }) {
    return static_cast<bool>(term.second_order());
  } else {
    return false;
  }
}

}  // namespace detail

/// \brief Fourth-order Runge–Kutta–Nyström for `q'' = b(t, q)` (see the file comment).
class rkn4 {
  using R = rkn4_table;
  static constexpr std::size_t s = 3;

 public:
  static constexpr int stages = 3;             ///< Force evaluations per step.
  static constexpr int order = 4;              ///< Order of y1.
  static constexpr bool fsal = false;          ///< b(t1, y1) comes from `evaluate_end`.
  static constexpr bool adaptive = false;      ///< No error estimate.
  static constexpr int error_order = 0;        ///< None.
  static constexpr int dense_degree = 3;       ///< Cubic Hermite.
  static constexpr int dense_order = 3;        ///< Of the interpolant.
  static constexpr bool reversible = true;     ///< `replay`/`pull_step`/`pull_dense`.
  static constexpr const char* name = "rkn4";  ///< For messages.

  /// \brief f0 = [p0; b(t0, q0)], f1 = [p1; b(t1, q1)], the stage values k_i (bottom rows).
  template <state State>
  struct workspace {
    State f0;                ///< f(t0, y0).
    State f1;                ///< f(t1, y1) after `evaluate_end`.
    std::array<State, s> k;  ///< k_i in the bottom rows (k_0 is f0's).
    State stage;             ///< [Q_i; p0].
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
    for (State* x : {&ws.f0, &ws.f1, &ws.stage}) x->setZero(like.rows(), like.cols());
    for (auto& x : ws.k) x.setZero(like.rows(), like.cols());
  }

  /// \brief f(t0, y0) = [p0; b(t0, q0)] (one force evaluation).
  /// \throws nde::error (invalid_input) unless the term is `second_order()` with 2·half rows.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_field<target_type, T, State>) {
      detail::not_partitioned(name);
    } else {
      auto& target = detail::partitioned_target(term);
      if (!detail::claims_second_order(target))
        throw error(status::invalid_input,
                    "rkn4 needs a second-order term (q' = p, p' = b(t, q)): construct the "
                    "partitioned_term with nde::coupling::second_order, or use a Runge-Kutta or "
                    "symplectic method");
      detail::check_separable(name, target, y0);
      evaluate_force(term, target, t0, y0, theta, ws.f0);
      return ws.f0.allFinite() ? status::success : status::non_finite;
    }
  }

  /// \brief One step into y1 (two force evaluations; k_0 is f0's).
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
      ws.k[0].bottomRows(n) = ws.f0.bottomRows(n);
      for (std::size_t i = 1; i < s; ++i) {
        form_stage(i, h, n, y0, ws.k, ws.stage);
        evaluate_force(term, target, stage_time(i, t0, t1), ws.stage, theta, ws.k[i]);
      }
      finish(h, n, y0, ws.k, y1);
      return {y1.allFinite() ? status::success : status::non_finite, nullptr};
    }
  }

  /// \brief f(t1, y1) = [p1; b(t1, q1)] (one force evaluation).
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term& term, T t1, const State& y1, params_view<scalar_of_t<State>> theta,
                      workspace<State>& ws) const {
    using target_type = detail::partitioned_target_t<Term>;
    if constexpr (!partitioned_field<target_type, T, State>) {
      detail::not_partitioned(name);
    } else {
      auto& target = detail::partitioned_target(term);
      evaluate_force(term, target, t1, y1, theta, ws.f1);
      return ws.f1.allFinite() ? status::success : status::non_finite;
    }
  }
  /// \brief f(t0, y0) after `init`.
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.f0;
  }
  /// \brief f(t1, y1) after `evaluate_end`.
  template <state State>
  [[nodiscard]] const State& end_derivative(const workspace<State>& ws) const {
    return ws.f1;
  }
  /// \brief f1 becomes the next step's f0.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.f0.swap(ws.f1);
  }

  /// \brief Cubic Hermite monomial coefficients of the last step.
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
    const scalar th = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto w = detail::cubic_hermite(th);
    out = (w.d_y0 / h) * y0 + (w.d_y1 / h) * y1 + w.d_f0 * ws.f0 + w.d_f1 * ws.f1;
  }

  /// \brief Buffers of the reverse step.
  template <state State>
  struct reverse_workspace {
    using scalar = scalar_of_t<State>;  ///< State scalar.
    workspace<State> forward;           ///< f0, f1 and k_i of the replay.
    std::array<State, s> arguments;     ///< [Q_i; p0].
    std::array<State, s> k_bar;         ///< k̄_i (bottom rows).
    State y0, y1;                       ///< Ends of the replayed step.
    State y0_bar, y1_bar_extra;         ///< Dense-output contributions.
    State f0_bar, f1_bar;               ///< Cotangents of f0, f1 (dense outputs).
    State w, w_y;                       ///< Scratch.
    bool dense_active = false;          ///< f0_bar / f1_bar may be non-zero.
    bool have_end = false;              ///< forward.f1 holds f(t1, y1).
    scalar h_bar = 0;                   ///< Cotangent of h.
    scalar t0_bar = 0;                  ///< Cotangent of the step's start.
    scalar t1_bar = 0;                  ///< Cotangent of the step's end.
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      rkn4::resize(forward, like);
      for (auto& x : arguments) x.setZero(like.rows(), like.cols());
      for (auto& x : k_bar) x.setZero(like.rows(), like.cols());
      for (State* x : {&y0, &y1, &y0_bar, &y1_bar_extra, &f0_bar, &f1_bar, &w, &w_y})
        x->setZero(like.rows(), like.cols());
    }
  };

  /// \brief Recomputes the recorded step bit for bit (and b(t1, y1) when `dense`), clears the
  /// cotangents. \return force evaluations.
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
      ws.y0 = y0;
      ws.arguments[0] = y0;
      evaluate_force(term, target, t0, y0, theta, ws.forward.f0);
      ws.forward.k[0].bottomRows(n) = ws.forward.f0.bottomRows(n);
      for (std::size_t i = 1; i < s; ++i) {
        form_stage(i, h, n, y0, ws.forward.k, ws.arguments[i]);
        evaluate_force(term, target, stage_time(i, t0, t1), ws.arguments[i], theta,
                       ws.forward.k[i]);
      }
      finish(h, n, y0, ws.forward.k, ws.y1);
      std::size_t evaluations = s;
      ws.have_end = dense;
      if (dense) {
        evaluate_force(term, target, t1, ws.y1, theta, ws.forward.f1);
        ++evaluations;
      }
      for (auto& x : ws.k_bar) x.setZero();
      for (State* x : {&ws.y0_bar, &ws.y1_bar_extra, &ws.f0_bar, &ws.f1_bar}) x->setZero();
      ws.dense_active = false;
      ws.h_bar = ws.t0_bar = ws.t1_bar = 0;
      return evaluations;
    }
  }

  /// \brief Pulls the cotangent of the dense output at τ (after `replay` with `dense`).
  /// \return dL/dτ.
  template <time_scalar T, state State>
  scalar_of_t<State> pull_dense(T t0, T t1, T tau, const State& y0, const State& y_bar,
                                reverse_workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto th = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto [w_y0, w_y1, w_f0, w_f1, d_y0, d_y1, d_f0, d_f1] = detail::cubic_hermite(th);
    const scalar dot_f0 = y_bar.cwiseProduct(ws.forward.f0).sum();
    const scalar dot_f1 = y_bar.cwiseProduct(ws.forward.f1).sum();
    ws.y0_bar += w_y0 * y_bar;
    ws.y1_bar_extra += w_y1 * y_bar;
    ws.f0_bar += (h * w_f0) * y_bar;
    ws.f1_bar += (h * w_f1) * y_bar;
    ws.dense_active = true;
    ws.h_bar += w_f0 * dot_f0 + w_f1 * dot_f1;
    const scalar theta_bar = d_y0 * y_bar.cwiseProduct(y0).sum() +
                             d_y1 * y_bar.cwiseProduct(ws.y1).sum() +
                             h * (d_f0 * dot_f0 + d_f1 * dot_f1);
    ws.t0_bar += theta_bar * (th - 1) / h;
    ws.t1_bar -= theta_bar * th / h;
    return theta_bar / h;
  }

  /// \brief Pulls ȳ1 (`y_bar`) back through the replayed step to ȳ0, θ̄, t̄0, t̄1.
  /// \return vjps of b.
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
      std::size_t vjps = 0;
      const auto& k = ws.forward.k;
      const auto p0 = ws.y0.bottomRows(n);
      y_bar += ws.y1_bar_extra;
      if (ws.dense_active) {
        // f1 = [p1; b(t1, q1)].
        y_bar.bottomRows(n) += ws.f1_bar.topRows(n);
        ws.w.topRows(n).setZero();
        ws.w.bottomRows(n) = ws.f1_bar.bottomRows(n);
        ws.t1_bar += pull(target, t1, ws.y1, theta, ws.w, ws.w_y, theta_bar, with_time);
        y_bar += ws.w_y;
        ++vjps;
      }
      // y1 = [q0 + h p0 + h² Σ b̄_i k_i; p0 + h Σ b_i k_i].
      const auto q1_bar = y_bar.topRows(n);
      const auto p1_bar = y_bar.bottomRows(n);
      ws.y0_bar.topRows(n) += q1_bar;
      ws.y0_bar.bottomRows(n) += h * q1_bar + p1_bar;
      ws.h_bar += q1_bar.cwiseProduct(p0).sum();
      for (std::size_t i = 0; i < s; ++i) {
        const auto bq = static_cast<scalar>(R::b_q[i]), bp = static_cast<scalar>(R::b_p[i]);
        ws.k_bar[i].bottomRows(n) += (h * h * bq) * q1_bar + (h * bp) * p1_bar;
        ws.h_bar += (2 * h * bq) * q1_bar.cwiseProduct(k[i].bottomRows(n)).sum() +
                    bp * p1_bar.cwiseProduct(k[i].bottomRows(n)).sum();
      }
      if (ws.dense_active) ws.k_bar[0].bottomRows(n) += ws.f0_bar.bottomRows(n);
      if (ws.dense_active) ws.y0_bar.bottomRows(n) += ws.f0_bar.topRows(n);
      for (std::size_t i = s; i-- > 0;) {
        ws.w.topRows(n).setZero();
        ws.w.bottomRows(n) = ws.k_bar[i].bottomRows(n);
        const scalar a_t = pull(target, stage_time(i, t0, t1), ws.arguments[i], theta, ws.w, ws.w_y,
                                theta_bar, with_time);
        ++vjps;
        const auto c = static_cast<scalar>(R::c[i]);
        ws.t0_bar += (1 - c) * a_t;
        ws.t1_bar += c * a_t;
        // Q_i = q0 + c_i h p0 + h² Σ_j ā_ij k_j; the argument's p rows are p0.
        const auto Q_bar = ws.w_y.topRows(n);
        ws.y0_bar.topRows(n) += Q_bar;
        ws.y0_bar.bottomRows(n) += (c * h) * Q_bar + ws.w_y.bottomRows(n);
        ws.h_bar += c * Q_bar.cwiseProduct(p0).sum();
        for (std::size_t j = 0; j < i; ++j) {
          if (R::a[i][j] == 0.0) continue;
          const auto a = static_cast<scalar>(R::a[i][j]);
          ws.k_bar[j].bottomRows(n) += (h * h * a) * Q_bar;
          ws.h_bar += (2 * h * a) * Q_bar.cwiseProduct(k[j].bottomRows(n)).sum();
        }
      }
      ws.t1_bar += ws.h_bar;
      ws.t0_bar -= ws.h_bar;
      y_bar = ws.y0_bar;
      return vjps;
    }
  }

  /// \brief Buffers of `tangent_step` (unused: forward sensitivities are not implemented).
  template <state State>
  struct tangent_workspace {
    /// \brief Nothing to size.
    void resize(const State&) {}
  };
  /// \brief Not implemented. \throws nde::error (invalid_input).
  template <class Term, time_scalar T, state State>
  std::size_t tangent_step(Term&, T, T, const State&, const State&, params_view<scalar_of_t<State>>,
                           const workspace<State>&, const State&, params_view<scalar_of_t<State>>,
                           scalar_of_t<State>, scalar_of_t<State>, State&,
                           tangent_workspace<State>&, bool) const {
    throw error(status::invalid_input,
                "rkn4: forward sensitivities (tangent_step) are not implemented; use "
                "nde::discrete_adjoint{}");
  }
  /// \brief Not implemented. \throws nde::error (invalid_input).
  template <time_scalar T, state State>
  void tangent_dense(T, T, T, const State&, const State&, const workspace<State>&, const State&,
                     const State&, scalar_of_t<State>, scalar_of_t<State>,
                     const tangent_workspace<State>&, State&) const {
    throw error(status::invalid_input, "rkn4: forward sensitivities are not implemented");
  }

 private:
  template <time_scalar T>
  static T stage_time(std::size_t i, T t0, T t1) {
    if (R::c[i] == 0.0) return t0;
    if (R::c[i] == 1.0) return t1;
    return t0 + static_cast<T>(R::c[i]) * (t1 - t0);
  }
  // out = [q0 + c_i h p0 + h² Σ_j ā_ij k_j; p0].
  template <state State, class K>
  static void form_stage(std::size_t i, scalar_of_t<State> h, Eigen::Index n, const State& y0,
                         const K& k, State& out) {
    using scalar = scalar_of_t<State>;
    out = y0;
    out.topRows(n) += (static_cast<scalar>(R::c[i]) * h) * y0.bottomRows(n);
    for (std::size_t j = 0; j < i; ++j)
      if (R::a[i][j] != 0.0)
        out.topRows(n) += (h * h * static_cast<scalar>(R::a[i][j])) * k[j].bottomRows(n);
  }
  template <state State, class K>
  static void finish(scalar_of_t<State> h, Eigen::Index n, const State& y0, const K& k, State& y1) {
    using scalar = scalar_of_t<State>;
    y1 = y0;
    y1.topRows(n) += h * y0.bottomRows(n);
    for (std::size_t i = 0; i < s; ++i) {
      if (R::b_q[i] != 0.0)
        y1.topRows(n) += (h * h * static_cast<scalar>(R::b_q[i])) * k[i].bottomRows(n);
      y1.bottomRows(n) += (h * static_cast<scalar>(R::b_p[i])) * k[i].bottomRows(n);
    }
  }
  // out = [p; b(t, y)] (a = p by the second-order promise), counting one evaluation.
  template <class Term, class Target, time_scalar T, state State>
  static void evaluate_force(Term& term, Target& target, T t, const State& y,
                             params_view<scalar_of_t<State>> theta, State& out) {
    const Eigen::Index n = target.half();
    target.vf_p(t, y, theta, out);
    out.topRows(n) = y.bottomRows(n);
    if constexpr (requires {
                    *term.term;
                    *term.evaluations;
                    *term.jvps;
                  }) {
      ++*term.evaluations;
    }
  }
  template <class Target, time_scalar T, state State>
  static scalar_of_t<State> pull(Target& target, T t, const State& y,
                                 params_view<scalar_of_t<State>> theta, const State& w, State& w_y,
                                 params_ref<scalar_of_t<State>> theta_bar, bool with_time) {
    scalar_of_t<State> a_t = 0;
    if constexpr (partitioned_time_vjp_field<Target, T, State>) {
      if (with_time) {
        target.vjp_p(t, y, theta, w, w_y, theta_bar, a_t);
        return a_t;
      }
    }
    target.vjp_p(t, y, theta, w, w_y, theta_bar);
    return a_t;
  }
};

}  // namespace nde
