/// \file
/// \brief The one diagonally implicit Runge–Kutta engine (ESDIRK: explicit first stage, then
/// s − 1 implicit stages with the same diagonal γ, stiffly accurate): `implicit_euler`, `trbdf2`
/// and `kvaerno3/4/5` are this class over a tableau (`diagonally_implicit_tableau.hpp`).
///
/// Step (t0, y0) → t1, h = t1 − t0: `k_0 = f(t0, y0)` (the previous step's last stage, FSAL),
/// and for i = 1 … s − 1 the stage equation `z_i = ψ_i + hγ f(t0 + c_i h, z_i)`,
/// `ψ_i = y0 + h Σ_{j<i} a_ij k_j`, is solved by simplified Newton (`linalg/newton.hpp`) with
/// `k_i = (z_i − ψ_i)/(hγ)` (Hairer & Wanner II, IV.8: not f(z_i), which would amplify the
/// Newton error by ‖J‖). `y1 = z_{s−1}` (stiff accuracy); the error estimate is
/// `h Σ (b_i − b̂_i) k_i`, filtered by (I − hγJ̃)⁻¹ where the tableau says so.
///
/// Jacobian reuse (Hairer & Wanner IV.8): J̃ is computed at a step's (t0, y0) and kept across
/// its stages and the following steps while the Newton iteration contracts faster than
/// `newton.reuse_rate`; it is recomputed at the start of the next step when a stage was slower,
/// at the retry of a rejected step, after `init`, and within a step when the iteration fails
/// with a J̃ from an earlier step (the step is then redone with the fresh one). `I − hγJ̃` is
/// refactorised whenever hγ changes. A step whose iteration fails with a fresh J̃, or whose
/// matrix is singular, returns `status::not_converged` (the PID controller halves the step); a
/// Jacobian with NaN/Inf at an accepted state throws `nde::error` (`non_finite`), which the
/// solve reports as its status: no smaller step can change it. `ws.newton.stats` counts
/// iterations, Jacobians and factorisations.
///
/// Cost per step: the Newton iterations (one f and one O(n²) solve each; ~2–4 per stage once
/// J̃ is good), one factorisation O(n³) when h changed, sometimes a Jacobian.
///
/// Dense output: the cubic Hermite interpolant through (y0, f0, y1, f1) (Hairer, Nørsett &
/// Wanner I, eq. II.6.7), order 3, with f1 = k_{s−1}.
///
/// Exact derivatives: the discrete adjoint differentiates the map with exactly solved stage
/// equations. `replay` re-solves the recorded step from f(t0, y0) with a Jacobian at (t0, y0)
/// (the stages agree with the forward pass to the Newton tolerance, not bit for bit: the forward
/// J̃ may have come from an earlier step). `pull_step` gives each implicit stage
/// `λ_i = (I − hγJ_i)⁻ᵀ k̄_i` with J_i the exact Jacobian at z_i: from the term's dense
/// `jacobian` when it has one (one factorisation per stage), otherwise by the iteration
/// `λ ← λ + M̃⁻ᵀ(k̄_i + hγ J_iᵀλ − λ)` on vjps, preconditioned by the LU of M̃ = I − hγJ̃
/// (exact at convergence; a stage that converges slowly gets its own J̃ at z_i). Then
/// `Ȳ_i = J_iᵀλ_i` flows to y0 and the earlier stages, `θ̄ += (∂f/∂θ)ᵀλ_i`. `tangent_step` does
/// the same forward with jvps: `(I − hγJ_i) k̇_i = ∂f(z_i)·(ψ̇_i + γḣ k_i, θ̇, ṫ_i)`.
/// Cost of a reverse step: the replay (a forward step with a fresh Jacobian), then per implicit
/// stage one Jacobian and factorisation (dense-Jacobian terms) or a few vjps, and one vjp.
/// The continuous adjoints also run on these methods (their augmented systems' Jacobians come
/// from finite differences); `backsolve_adjoint` integrates y backward, which fails (with a
/// status) on strongly stiff problems such as ROBER: use `checkpointed_adjoint` or the discrete
/// adjoint there.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/linalg/jacobian.hpp"
#include "nde/linalg/lu.hpp"
#include "nde/linalg/newton.hpp"
#include "nde/solvers/diagonally_implicit_tableau.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

namespace nde {

/// \brief ESDIRK method defined by a tableau, with simplified Newton and exact gradients (see
/// the file comment). \tparam Tableau a stiffly accurate `diagonally_implicit_tableau`.
template <diagonally_implicit_tableau Tableau>
struct diagonally_implicit {
  static_assert(valid_diagonally_implicit_tableau<Tableau>(),
                "ESDIRK tableau failed its checks: explicit first stage, diagonal gamma, rows of a "
                "summing to c, b summing to 1 and b_error to 0, the order conditions of b and "
                "b_hat, stiff accuracy as claimed, predictor rows summing to 1");
  static_assert(Tableau::stiffly_accurate,
                "diagonally_implicit propagates the last stage: the tableau must be stiffly "
                "accurate");

  /// \brief Tolerances and policies of the stage iteration. Set rtol/atol like the controller's
  /// (`nde::kvaerno5{.newton = {.rtol = 1e-8, .atol = 1e-14}}`): a looser Newton tolerance
  /// pollutes the error estimate (ROBER to t = 100 at controller tolerances 1e-8/1e-14 takes
  /// kvaerno5 116 steps with matched Newton tolerances, 1303 with the defaults 1e-6/1e-9).
  newton_options newton{};

  using tableau = Tableau;                                  ///< The coefficients.
  static constexpr int stages = Tableau::stages;            ///< s, with the explicit first stage.
  static constexpr int order = Tableau::order;              ///< Order of y1.
  static constexpr int error_order = Tableau::error_order;  ///< Order of the estimate's weights.
  static constexpr bool fsal = true;               ///< The last stage is the next step's first.
  static constexpr bool adaptive = true;           ///< Has an error estimate.
  static constexpr int dense_degree = 3;           ///< Cubic Hermite.
  static constexpr int dense_order = 3;            ///< Of the interpolant.
  static constexpr bool reversible = true;         ///< `replay`/`pull_step`/`tangent_step`.
  static constexpr double gamma = Tableau::gamma;  ///< The diagonal.

 private:
  static constexpr std::size_t stage_count = static_cast<std::size_t>(stages);
  static constexpr std::size_t last = stage_count - 1;
  static constexpr std::size_t idx(int i) { return static_cast<std::size_t>(i); }

 public:
  /// \brief Buffers of one integration; after `step`, `k[i]` and `z[i]` are stage i's
  /// derivative and value (`z[0]` unused: it is y0).
  template <state State>
  struct workspace {
    std::array<State, stage_count> k;  ///< Stage derivatives.
    std::array<State, stage_count> z;  ///< Stage values z_i = ψ_i + hγ k_i.
    State psi;                         ///< ψ_i.
    State w;                           ///< Newton unknown w_i = hγ k_i.
    State y_error;                     ///< Error estimate.
    newton_workspace<State> newton;    ///< J̃, the LU of I − hγJ̃, the iteration's statistics.
    bool pending = false;              ///< A trial from the current (t0, y0) has been made.
    bool fresh = false;                ///< J̃ was computed at the current (t0, y0).
    bool refresh_next = true;          ///< The next step starts with a fresh J̃.
  };

  /// \brief A workspace sized like `like`.
  template <state State>
  [[nodiscard]] static workspace<State> make_workspace(const State& like) {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }
  /// \brief Resizes every buffer like `like` (J̃ as n × n).
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    for (auto& k : ws.k) k.setZero(like.rows(), like.cols());
    for (auto& z : ws.z) z.setZero(like.rows(), like.cols());
    for (State* s : {&ws.psi, &ws.w, &ws.y_error}) s->setZero(like.rows(), like.cols());
    ws.newton.resize(like);
    ws.pending = ws.fresh = false;
    ws.refresh_next = true;
  }

  /// \brief Time of stage i, exactly t1 when c_i = 1.
  template <time_scalar T>
  [[nodiscard]] static T stage_time(int i, T t0, T t1) {
    return Tableau::c[idx(i)] == 1.0 ? t1 : t0 + static_cast<T>(Tableau::c[idx(i)]) * (t1 - t0);
  }

  /// \brief `k[0] = f(t0, y0)`; the next step computes a fresh Jacobian.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    check();
    term.vf(t0, y0, theta, ws.k[0]);
    ws.pending = ws.fresh = false;
    ws.refresh_next = true;
    return ws.k[0].allFinite() ? status::success : status::non_finite;
  }

  /// \brief One trial step (see the file comment). \return `not_converged` when the Newton
  /// iteration fails with a fresh Jacobian or `I − hγJ̃` is singular; `non_finite` for NaN/Inf
  /// in y1 or the estimate. \throws nde::error (non_finite) for a Jacobian with NaN/Inf,
  /// (invalid_input) for a term `jacobian` of the wrong size.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    set_newton_scale(ws.newton, y0, newton);
    const bool retry = ws.pending;
    ws.pending = true;
    if (!ws.newton.have_jacobian || (!ws.fresh && (ws.refresh_next || retry)))
      refresh(term, t0, y0, theta, ws);
    scalar rate = 0;
    while (!solve_stages(term, t0, t1, y0, theta, ws, rate)) {
      if (ws.fresh) return {status::not_converged, nullptr};
      refresh(term, t0, y0, theta, ws);  // a J̃ from an earlier step: redo with a fresh one
    }
    ws.refresh_next = rate > static_cast<scalar>(newton.reuse_rate);
    y1 = ws.z[last];
    ws.y_error.setZero();
    for (int i = 0; i < stages; ++i)
      if (Tableau::b_error[idx(i)] != 0.0)
        ws.y_error += (h * static_cast<scalar>(Tableau::b_error[idx(i)])) * ws.k[idx(i)];
    if constexpr (Tableau::filter_error) ws.newton.lu.solve_in_place(ws.y_error);
    const bool finite = y1.allFinite() && ws.y_error.allFinite();
    return {finite ? status::success : status::non_finite, &ws.y_error};
  }

  /// \brief Nothing to do: f(t1, y1) is the last stage.
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term&, T, const State&, params_view<scalar_of_t<State>>,
                      workspace<State>&) const {
    return status::success;
  }
  /// \brief f(t0, y0).
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.k[0];
  }
  /// \brief f(t1, y1) of the last step: the last stage's k.
  template <state State>
  [[nodiscard]] const State& end_derivative(const workspace<State>& ws) const {
    return ws.k[last];
  }
  /// \brief The last stage becomes the next step's first; J̃ is now from an earlier step.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.k[0].swap(ws.k[last]);
    ws.pending = ws.fresh = false;
  }

  /// \brief Cubic Hermite monomial coefficients of the last step.
  template <time_scalar T, state State>
  void dense_coefficients(T t0, T t1, const State& y0, const State& y1, const workspace<State>& ws,
                          std::array<State, 4>& c) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const State& f0 = ws.k[0];
    const State& f1 = ws.k[last];
    c[0] = y0;
    c[1] = h * f0;
    c[2] = scalar(3) * (y1 - y0) - h * (scalar(2) * f0 + f1);
    c[3] = scalar(2) * (y0 - y1) + h * (f0 + f1);
  }
  /// \brief dy/dτ of the dense output at τ.
  template <time_scalar T, state State>
  void dense_derivative(T t0, T t1, T tau, const State& y0, const State& y1,
                        const workspace<State>& ws, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto w = detail::cubic_hermite(static_cast<scalar>((tau - t0) / (t1 - t0)));
    out = (w.d_y0 / h) * y0 + (w.d_y1 / h) * y1 + w.d_f0 * ws.k[0] + w.d_f1 * ws.k[last];
  }

  // ---- exact derivatives of a step ----------------------------------------------------------

  /// \brief Buffers of the reverse step.
  template <state State>
  struct reverse_workspace {
    using scalar = scalar_of_t<State>;       ///< State scalar.
    workspace<State> forward;                ///< The replayed stages and the Newton state.
    std::array<State, stage_count> k_bar;    ///< k̄_i.
    std::array<bool, stage_count> active{};  ///< k̄_i may be non-zero.
    State y0, y1;                            ///< Ends of the replayed step.
    State y0_bar, y1_bar_extra;              ///< Accumulating ȳ0; ȳ1 from dense outputs.
    State lambda, residual, w;               ///< λ_i, its residual, Jᵀλ.
    Eigen::Matrix<scalar, Eigen::Dynamic, 1> scratch_theta;  ///< θ̄ of the iterations (discarded).
    scalar h_bar = 0;                                        ///< Cotangent of h.
    scalar t0_bar = 0;                                       ///< Cotangent of the start.
    scalar t1_bar = 0;                                       ///< Cotangent of the end.
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      diagonally_implicit::resize(forward, like);
      for (auto& s : k_bar) s.setZero(like.rows(), like.cols());
      for (State* s : {&y0, &y1, &y0_bar, &y1_bar_extra, &lambda, &residual, &w})
        s->setZero(like.rows(), like.cols());
    }
  };

  /// \brief Re-solves the recorded step from f(t0, y0) with a fresh Jacobian (see the file
  /// comment) and clears the cotangents. \return evaluations of f. \throws nde::error
  /// (not_converged) when the replayed Newton iteration fails.
  template <class Term, time_scalar T, state State>
  std::size_t replay(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                     reverse_workspace<State>& ws, bool /*dense*/) const {
    auto& f = ws.forward;
    ws.y0 = y0;
    init(term, t0, y0, theta, f);
    const std::size_t before = f.newton.stats.evaluations;
    if (step(term, t0, t1, y0, theta, f, ws.y1).status == status::not_converged)
      throw error(
          status::not_converged,
          detail::concatenate("diagonally_implicit: replaying the step from t = ", t0, " to ", t1,
                              " for the discrete adjoint, the Newton iteration did not "
                              "converge with a fresh Jacobian"));
    for (std::size_t i = 0; i < stage_count; ++i) {
      ws.k_bar[i].setZero();
      ws.active[i] = false;
    }
    ws.y0_bar.setZero();
    ws.y1_bar_extra.setZero();
    ws.h_bar = ws.t0_bar = ws.t1_bar = 0;
    return 1 + f.newton.stats.evaluations - before;
  }

  /// \brief Pulls the cotangent of the dense output at τ (after `replay`). \return dL/dτ.
  template <time_scalar T, state State>
  scalar_of_t<State> pull_dense(T t0, T t1, T tau, const State& y0, const State& y_bar,
                                reverse_workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto th = static_cast<scalar>((tau - t0) / (t1 - t0));
    const auto w = detail::cubic_hermite(th);
    const auto& k = ws.forward.k;
    const scalar dot_f0 = y_bar.cwiseProduct(k[0]).sum();
    const scalar dot_f1 = y_bar.cwiseProduct(k[last]).sum();
    ws.y0_bar += w.y0 * y_bar;
    ws.y1_bar_extra += w.y1 * y_bar;
    ws.k_bar[0] += (h * w.f0) * y_bar;
    ws.k_bar[last] += (h * w.f1) * y_bar;
    ws.active[0] = ws.active[last] = true;
    ws.h_bar += w.f0 * dot_f0 + w.f1 * dot_f1;
    const scalar theta_bar = w.d_y0 * y_bar.cwiseProduct(y0).sum() +
                             w.d_y1 * y_bar.cwiseProduct(ws.y1).sum() +
                             h * (w.d_f0 * dot_f0 + w.d_f1 * dot_f1);
    ws.t0_bar += theta_bar * (th - 1) / h;
    ws.t1_bar -= theta_bar * th / h;
    return theta_bar / h;
  }

  /// \brief Pulls ȳ1 (`y_bar` on entry) back through the replayed step: on return `y_bar` is
  /// ȳ0, `theta_bar` is incremented and `ws.t0_bar`/`ws.t1_bar` hold the time cotangents.
  /// \return vjps. \throws nde::error (not_converged) when a stage's λ iteration fails even with
  /// a Jacobian at the stage.
  template <class Term, time_scalar T, state State>
  std::size_t pull_step(Term& term, T t0, T t1, params_view<scalar_of_t<State>> theta,
                        reverse_workspace<State>& ws, State& y_bar,
                        params_ref<scalar_of_t<State>> theta_bar, bool with_time) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const scalar hg = h * static_cast<scalar>(gamma);
    const auto& f = ws.forward;
    std::size_t vjps = 0;
    y_bar += ws.y1_bar_extra;
    // y1 = y0 + h Σ b_i k_i.
    for (int i = 0; i < stages; ++i) {
      if (Tableau::b[idx(i)] == 0.0) continue;
      const auto b = static_cast<scalar>(Tableau::b[idx(i)]);
      ws.k_bar[idx(i)] += (h * b) * y_bar;
      ws.active[idx(i)] = true;
      ws.h_bar += b * y_bar.cwiseProduct(f.k[idx(i)]).sum();
    }
    ws.y0_bar += y_bar;
    ws.scratch_theta.setZero(theta_bar.size());
    for (int i = stages - 1; i >= 0; --i) {
      if (!ws.active[idx(i)]) continue;
      const T t_i = stage_time(i, t0, t1);
      const State& point = i == 0 ? ws.y0 : f.z[idx(i)];
      if (i == 0) {
        ws.lambda = ws.k_bar[0];  // the explicit stage: k_0 = f(t0, y0)
      } else {
        vjps += solve_adjoint_stage(term, i, t_i, point, theta, hg, ws);
      }
      scalar a_t = 0;
      pull(term, t_i, point, theta, ws.lambda, ws.w, theta_bar, a_t, with_time);
      ++vjps;
      const auto c = static_cast<scalar>(Tableau::c[idx(i)]);
      ws.t0_bar += (1 - c) * a_t;
      ws.t1_bar += c * a_t;
      ws.y0_bar += ws.w;
      if (i == 0) continue;
      // z_i = y0 + h Σ_{j<i} a_ij k_j + hγ k_i.
      ws.h_bar += static_cast<scalar>(gamma) * f.k[idx(i)].cwiseProduct(ws.w).sum();
      for (int j = 0; j < i; ++j) {
        if (Tableau::a[idx(i)][idx(j)] == 0.0) continue;
        const auto a = static_cast<scalar>(Tableau::a[idx(i)][idx(j)]);
        ws.k_bar[idx(j)] += (h * a) * ws.w;
        ws.active[idx(j)] = true;
        ws.h_bar += a * f.k[idx(j)].cwiseProduct(ws.w).sum();
      }
    }
    ws.t1_bar += ws.h_bar;
    ws.t0_bar -= ws.h_bar;
    y_bar = ws.y0_bar;
    return vjps;
  }

  /// \brief Buffers of `tangent_step`: the stage tangents k̇_i (dense outputs read them) and a
  /// Jacobian at a stage for stages whose preconditioned iteration is slow.
  template <state State>
  struct tangent_workspace {
    std::array<State, stage_count> k_dot;  ///< k̇_i.
    State psi_dot;                         ///< ψ̇_i + γḣ k_i.
    State argument_dot;                    ///< The jvp's tangent.
    State residual;                        ///< The iteration's residual.
    newton_workspace<State> exact;         ///< J and LU at a stage (fallback).
    /// \brief Sizes every buffer like `like`.
    void resize(const State& like) {
      for (auto& s : k_dot) s.setZero(like.rows(), like.cols());
      for (State* s : {&psi_dot, &argument_dot, &residual}) s->setZero(like.rows(), like.cols());
      exact.resize(like);
    }
  };

  /// \brief Forward-mode derivative of the accepted step in `ws` (see the file comment): from
  /// ẏ0, θ̇, ṫ0, ṫ1 writes ẏ1. Needs a `jvp_field` term. \return jvps. \throws nde::error
  /// (not_converged) when a stage's iteration fails even with the Jacobian at the stage.
  template <class Term, time_scalar T, state State>
  std::size_t tangent_step(Term& term, T t0, T t1, const State& y0, const State& /*y1*/,
                           params_view<scalar_of_t<State>> theta, const workspace<State>& ws,
                           const State& y0_dot, params_view<scalar_of_t<State>> theta_dot,
                           scalar_of_t<State> t0_dot, scalar_of_t<State> t1_dot, State& y1_dot,
                           tangent_workspace<State>& tw, bool /*dense*/) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const scalar hg = h * static_cast<scalar>(gamma);
    const scalar h_dot = t1_dot - t0_dot;
    std::size_t jvps = 1;
    term.jvp(t0, y0, theta, y0_dot, theta_dot, t0_dot, tw.k_dot[0]);
    const bool forward_lu = ws.newton.factored && ws.newton.factored_hg == hg;
    for (int i = 1; i < stages; ++i) {
      tw.psi_dot = y0_dot + (static_cast<scalar>(gamma) * h_dot) * ws.k[idx(i)];
      for (int j = 0; j < i; ++j) {
        if (Tableau::a[idx(i)][idx(j)] == 0.0) continue;
        const auto a = static_cast<scalar>(Tableau::a[idx(i)][idx(j)]);
        tw.psi_dot += (h * a) * tw.k_dot[idx(j)] + (h_dot * a) * ws.k[idx(j)];
      }
      const auto c = static_cast<scalar>(Tableau::c[idx(i)]);
      const scalar ti_dot = (1 - c) * t0_dot + c * t1_dot;
      const T t_i = stage_time(i, t0, t1);
      State& k_dot = tw.k_dot[idx(i)];
      const dense_lu<scalar>* lu = forward_lu ? &ws.newton.lu : nullptr;
      for (int attempt = 0;; ++attempt) {
        if (lu == nullptr) {
          // The exact Jacobian at the stage (the term has jvps).
          if (refresh_jacobian(term, t_i, ws.z[idx(i)], theta, tw.exact, newton) !=
                  status::success ||
              factor_iteration_matrix(tw.exact, hg) != status::success)
            throw error(status::not_converged,
                        detail::concatenate("diagonally_implicit: the tangent of the stage at t = ",
                                            t_i, " has a singular or non-finite matrix"));
          lu = &tw.exact.lu;
        }
        k_dot.setZero();
        int iterations = 0;
        const bool ok = linear_iteration(
            [&](const State& x, State& out) {
              tw.argument_dot = tw.psi_dot + hg * x;
              term.jvp(t_i, ws.z[idx(i)], theta, static_cast<const State&>(tw.argument_dot),
                       theta_dot, ti_dot, out);
              out -= x;  // residual of k̇ = jvp(ψ̇ + γḣk + hγk̇)
            },
            [lu](State& r) { lu->solve_in_place(r); }, k_dot, tw.residual, iterations,
            lu == &tw.exact.lu);
        jvps += static_cast<std::size_t>(iterations);
        if (ok) break;
        if (attempt > 0)
          throw error(status::not_converged,
                      detail::concatenate("diagonally_implicit: the tangent iteration of the "
                                          "stage at t = ",
                                          t_i, " did not converge"));
        lu = nullptr;
      }
    }
    y1_dot = y0_dot;
    for (int i = 0; i < stages; ++i) {
      if (Tableau::b[idx(i)] == 0.0) continue;
      const auto b = static_cast<scalar>(Tableau::b[idx(i)]);
      y1_dot += (h * b) * tw.k_dot[idx(i)] + (h_dot * b) * ws.k[idx(i)];
    }
    return jvps;
  }

  /// \brief Tangent of the dense output at τ (fixed) of the step of `tangent_step`.
  template <time_scalar T, state State>
  void tangent_dense(T t0, T t1, T tau, const State& y0, const State& y1,
                     const workspace<State>& ws, const State& y0_dot, const State& y1_dot,
                     scalar_of_t<State> t0_dot, scalar_of_t<State> t1_dot,
                     const tangent_workspace<State>& tw, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const scalar h_dot = t1_dot - t0_dot;
    const auto th = static_cast<scalar>((tau - t0) / (t1 - t0));
    const scalar th_dot = (-t0_dot - th * h_dot) / h;
    const auto w = detail::cubic_hermite(th);
    out = w.y0 * y0_dot + (th_dot * w.d_y0) * y0 + w.y1 * y1_dot + (th_dot * w.d_y1) * y1 +
          (h * w.f0) * tw.k_dot[0] + (h_dot * w.f0 + th_dot * h * w.d_f0) * ws.k[0] +
          (h * w.f1) * tw.k_dot[last] + (h_dot * w.f1 + th_dot * h * w.d_f1) * ws.k[last];
  }

 private:
  void check() const {
    const auto& o = newton;
    if (!(o.rtol >= 0) || !(o.atol >= 0) || !(o.rtol > 0 || o.atol > 0) || !std::isfinite(o.rtol) ||
        !std::isfinite(o.atol) || !(o.kappa > 0) || o.max_iterations < 1 ||
        !(o.linear_tolerance > 0) || o.linear_max_iterations < 1)
      throw error(status::invalid_input,
                  detail::concatenate("diagonally_implicit: newton.rtol/atol must be finite, "
                                      "non-negative and not both zero, kappa and "
                                      "linear_tolerance positive, the iteration limits at least "
                                      "1 (got rtol ",
                                      o.rtol, ", atol ", o.atol, ", kappa ", o.kappa, ")"));
  }

  template <class Term, time_scalar T, state State>
  void refresh(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
               workspace<State>& ws) const {
    if (refresh_jacobian(term, t0, y0, theta, ws.newton, newton) != status::success)
      throw error(status::non_finite,
                  detail::concatenate("diagonally_implicit: the Jacobian df/dy at t = ", t0,
                                      " contains NaN or Inf"));
    ws.fresh = true;
  }

  // The implicit stages; false when the iteration failed or I − hγJ̃ is singular.
  template <class Term, time_scalar T, state State>
  bool solve_stages(Term& term, T t0, T t1, const State& y0, params_view<scalar_of_t<State>> theta,
                    workspace<State>& ws, scalar_of_t<State>& rate) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const scalar hg = h * static_cast<scalar>(gamma);
    rate = 0;
    if (factor_iteration_matrix(ws.newton, hg) != status::success) return false;
    for (int i = 1; i < stages; ++i) {
      ws.psi = y0;
      for (int j = 0; j < i; ++j)
        if (Tableau::a[idx(i)][idx(j)] != 0.0)
          ws.psi += (h * static_cast<scalar>(Tableau::a[idx(i)][idx(j)])) * ws.k[idx(j)];
      // Initial guess w = hγ k_i with k_i predicted from the earlier stages.
      if constexpr (predicted_tableau<Tableau>) {
        ws.w.setZero();
        for (int j = 0; j < i; ++j)
          if (Tableau::predictor[idx(i)][idx(j)] != 0.0)
            ws.w += (hg * static_cast<scalar>(Tableau::predictor[idx(i)][idx(j)])) * ws.k[idx(j)];
      } else {
        ws.w = hg * ws.k[idx(i - 1)];
      }
      const auto r = solve_stage(term, stage_time(i, t0, t1), static_cast<const State&>(ws.psi), hg,
                                 theta, ws.w, ws.newton, newton);
      if (r.status != status::success) return false;
      rate = std::max(rate, r.rate);
      ws.z[idx(i)] = ws.psi + ws.w;
      ws.k[idx(i)] = ws.w / hg;
    }
    return true;
  }

  // Preconditioned iteration x ← x + P(residual(x)) from the x given, until the correction is
  // below linear_tolerance relative to x (∞-norm). `residual(x, r)` writes r; `precondition(r)`
  // applies P in place. False when it stalls (contraction slower than 1/2) or runs out of
  // iterations; with `exact` (P is the inverse at this very point) a stall is the rounding floor
  // of an ill-conditioned matrix and is accepted when the correction is below
  // sqrt(linear_tolerance) relative to x.
  template <class Residual, class Precondition, state State>
  bool linear_iteration(Residual residual, Precondition precondition, State& x, State& r,
                        int& iterations, bool exact) const {
    using scalar = scalar_of_t<State>;
    const auto tol = static_cast<scalar>(newton.linear_tolerance);
    scalar previous = std::numeric_limits<scalar>::infinity();
    for (int it = 0; it < newton.linear_max_iterations; ++it) {
      residual(static_cast<const State&>(x), r);
      ++iterations;
      precondition(r);
      x += r;
      if (!x.allFinite()) return false;
      const scalar change = r.size() > 0 ? r.cwiseAbs().maxCoeff() : scalar(0);
      const scalar size = x.size() > 0 ? x.cwiseAbs().maxCoeff() : scalar(0);
      if (change <= tol * size || change == 0) return true;
      if (it >= 2 && change > scalar(0.5) * previous)  // too slow, or at the rounding floor
        return exact && change <= std::sqrt(tol) * size;
      previous = change;
    }
    return false;
  }

  // λ_i = (I − hγJ_i)⁻ᵀ k̄_i into ws.lambda. \return vjps.
  template <class Term, time_scalar T, state State>
  std::size_t solve_adjoint_stage(Term& term, int i, T t_i, const State& z,
                                  params_view<scalar_of_t<State>> theta, scalar_of_t<State> hg,
                                  reverse_workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    auto& nw = ws.forward.newton;
    const State& k_bar = ws.k_bar[idx(i)];
    auto stage_matrix = [&]() {
      if (refresh_jacobian(term, t_i, z, theta, nw, newton) != status::success ||
          factor_iteration_matrix(nw, hg) != status::success)
        throw error(status::not_converged,
                    detail::concatenate("diagonally_implicit: the adjoint of the stage at t = ",
                                        t_i, " has a singular or non-finite matrix"));
    };
    if (detail::has_dense_jacobian<Term, T, State> &&
        newton.jacobian == jacobian_source::automatic && z.cols() == 1) {
      // The exact Jacobian at the stage: one solve.
      stage_matrix();
      ws.lambda = k_bar;
      nw.lu.solve_transpose_in_place(ws.lambda);
      return 0;
    }
    if (!nw.factored || nw.factored_hg != hg) stage_matrix();
    std::size_t vjps = 0;
    for (int attempt = 0;; ++attempt) {
      ws.lambda.setZero();
      int iterations = 0;
      const bool ok = linear_iteration(
          [&](const State& x, State& out) {
            scalar ignored = 0;
            pull(term, t_i, z, theta, x, ws.w, params_ref<scalar>(ws.scratch_theta), ignored,
                 false);
            out = k_bar + hg * ws.w - x;
          },
          [&nw](State& r) { nw.lu.solve_transpose_in_place(r); }, ws.lambda, ws.residual,
          iterations, attempt > 0);
      vjps += static_cast<std::size_t>(iterations);
      if (ok) return vjps;
      if (attempt > 0)
        throw error(status::not_converged,
                    detail::concatenate("diagonally_implicit: the adjoint iteration of the stage "
                                        "at t = ",
                                        t_i, " did not converge"));
      stage_matrix();  // a J̃ at the stage itself
    }
  }

  template <class Term, time_scalar T, state State>
  static void pull(Term& term, T t, const State& y, params_view<scalar_of_t<State>> theta,
                   const State& w, State& w_y, params_ref<scalar_of_t<State>> theta_bar,
                   scalar_of_t<State>& w_t, bool with_time) {
    if constexpr (time_vjp_field<Term, T, State>) {
      if (with_time) {
        term.vjp(t, y, theta, w, w_y, theta_bar, w_t);
        return;
      }
    }
    term.vjp(t, y, theta, w, w_y, theta_bar);
  }
};

}  // namespace nde
