/// \file
/// \brief The one Rosenbrock (linearly implicit Runge–Kutta) engine: `rosenbrock23`, `rodas4`
/// and `rodas5` are this class over a `constexpr` tableau that checks itself.
///
/// A Rosenbrock method replaces the Newton iterations of an implicit Runge–Kutta method by one
/// Jacobian `J = ∂f/∂y(t0, y0)`, one LU factorisation of `M = I − hγJ` and s linear solves per
/// step. This engine uses the transformed form of Hairer & Wanner, *Solving ODEs II*, 2nd ed.,
/// Sec. IV.7, eq. (7.25), which needs only vector work besides the solves:
///
///     (I − hγJ) u_i = hγ f(t0 + α_i h, y0 + Σ_{j<i} a_ij u_j) + γ Σ_{j<i} c_ij u_j
///                     + γ γ_i h² ∂f/∂t(t0, y0),
///     y1 = y0 + Σ_i m_i u_i,   error estimate Σ_i e_i u_i  (e = m − m̂).
///
/// (Eq. (7.25) divided by 1/(hγ); u = Γk in the book's notation, a = αΓ⁻¹,
/// c = diag(γ⁻¹) − Γ⁻¹, m = bΓ⁻¹.) ∂f/∂t is taken only for non-autonomous terms
/// (`linalg/jacobian.hpp`: `time_derivative`).
///
/// Stepper contract (`solvers/stepper.hpp`): `init` evaluates f(t0, y0); `step` takes J (and
/// ∂f/∂t) at (t0, y0) once per step start — retries of a rejected step from the same point
/// reuse them and only refactor M — then factors M and runs the stages. A singular M returns
/// `status::not_converged` (the PID controller halves the step; constant steps fail with that
/// status); a non-finite J or ∂f/∂t throws `nde::error` (non_finite) naming the method (both
/// are taken at the step's start, so no smaller step can help) and a term's `jacobian` of the
/// wrong size throws invalid_input (`state_jacobian`); the solve reports either as its status.
/// Batch states (D × B) use the flattened (D·B) × (D·B) Jacobian. Once the workspace is sized
/// (and, for a term without a dense `jacobian`, after the first step has sized the
/// Jacobian scratch for θ), stepping allocates nothing.
///
/// Gradients: only the continuous adjoints (`backsolve_adjoint`, `checkpointed_adjoint`). The
/// exact discrete adjoint of a Rosenbrock step needs the derivative of J(y0) with respect to
/// y0 (second derivatives of f), so `discrete_adjoint` and `forward_sensitivity` are refused
/// with `invalid_input`.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/linalg/jacobian.hpp"
#include "nde/linalg/lu.hpp"
#include "nde/solvers/butcher_tableau.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

namespace nde {

/// \brief What a Rosenbrock tableau provides, in the transformed form of the file comment
/// (Hairer & Wanner II, eq. (7.25)): `a`, `c` strictly lower triangular, nodes `alpha`, the
/// ∂f/∂t weights `gamma_sum` (γ_i = Σ_j γ_ij), the diagonal `gamma`, solution weights `m`,
/// error weights `m_error` (m − m̂), and the dense output as monomial weights: `dense[j][i]`
/// is the weight of u_i in the coefficient of θ^(j+1).
template <class T>
concept rosenbrock_tableau = requires {
  { T::name } -> std::convertible_to<std::string_view>;
  { T::stages } -> std::convertible_to<int>;
  { T::order } -> std::convertible_to<int>;
  { T::embedded_order } -> std::convertible_to<int>;
  { T::dense_degree } -> std::convertible_to<int>;
  { T::dense_order } -> std::convertible_to<int>;
  { T::gamma } -> std::convertible_to<double>;
  T::a;
  T::c;
  T::alpha;
  T::gamma_sum;
  T::m;
  T::m_error;
  T::dense;
};

namespace detail {

template <int S>
using rosenbrock_square =
    std::array<std::array<double, static_cast<std::size_t>(S)>, static_cast<std::size_t>(S)>;
template <int S>
using rosenbrock_row = std::array<double, static_cast<std::size_t>(S)>;

/// The book's coefficients recovered from the transformed ones: Γ = (diag(γ⁻¹) − c)⁻¹ (lower
/// triangular, diagonal γ), α = aΓ, b = mΓ, b̂ = (m − e)Γ, β = α + Γ (strictly lower part).
template <class Tableau>
struct rosenbrock_original {
  static constexpr int s = Tableau::stages;
  rosenbrock_square<s> gamma{}, alpha{}, beta{};
  rosenbrock_row<s> b{}, b_hat{}, nodes{}, beta_sum{};

  constexpr rosenbrock_original() {
    // Forward substitution for the inverse of the lower-triangular L = diag(1/γ) − c.
    rosenbrock_square<s> l{};
    for (int i = 0; i < s; ++i)
      for (int j = 0; j < s; ++j)
        l[idx(i)][idx(j)] =
            i == j ? 1.0 / Tableau::gamma : (j < i ? -Tableau::c[idx(i)][idx(j)] : 0.0);
    for (int j = 0; j < s; ++j) {
      for (int i = j; i < s; ++i) {
        double sum = i == j ? 1.0 : 0.0;
        for (int k = j; k < i; ++k) sum -= l[idx(i)][idx(k)] * gamma[idx(k)][idx(j)];
        gamma[idx(i)][idx(j)] = sum / l[idx(i)][idx(i)];
      }
    }
    for (int i = 0; i < s; ++i) {
      for (int j = 0; j < s; ++j) {
        double sum = 0;
        for (int k = 0; k < s; ++k) sum += Tableau::a[idx(i)][idx(k)] * gamma[idx(k)][idx(j)];
        alpha[idx(i)][idx(j)] = sum;
        beta[idx(i)][idx(j)] = j < i ? sum + gamma[idx(i)][idx(j)] : 0.0;
      }
    }
    for (int j = 0; j < s; ++j) {
      double sum = 0, sum_hat = 0;
      for (int k = 0; k < s; ++k) {
        sum += Tableau::m[idx(k)] * gamma[idx(k)][idx(j)];
        sum_hat += (Tableau::m[idx(k)] - Tableau::m_error[idx(k)]) * gamma[idx(k)][idx(j)];
      }
      b[idx(j)] = sum;
      b_hat[idx(j)] = sum_hat;
    }
    for (int i = 0; i < s; ++i) {
      double node = 0, bsum = 0;
      for (int j = 0; j < i; ++j) {
        node += alpha[idx(i)][idx(j)];
        bsum += beta[idx(i)][idx(j)];
      }
      nodes[idx(i)] = node;
      beta_sum[idx(i)] = bsum;
    }
  }
};

/// Largest residual of the Rosenbrock order conditions up to `order` (≤ 4) for weights `w`
/// (Hairer & Wanner II, Table IV.7.1; β'_i = Σ_{j<i} β_ij, α_i the nodes).
template <class Tableau>
constexpr double rosenbrock_order_residual(const rosenbrock_original<Tableau>& o,
                                           const rosenbrock_row<Tableau::stages>& w, int order) {
  constexpr int s = Tableau::stages;
  const double g = Tableau::gamma;
  double worst = 0;
  auto note = [&worst](double value, double target) {
    const double r = absolute(value - target);
    worst = r > worst ? r : worst;
  };
  const auto& al = o.nodes;
  const auto& bp = o.beta_sum;
  double c1 = 0, c2 = 0, c3a = 0, c3b = 0, c4a = 0, c4b = 0, c4c = 0, c4d = 0;
  for (int i = 0; i < s; ++i) {
    const auto I = idx(i);
    c1 += w[I];
    c2 += w[I] * bp[I];
    c3a += w[I] * al[I] * al[I];
    c4a += w[I] * al[I] * al[I] * al[I];
    for (int k = 0; k < i; ++k) {
      const auto K = idx(k);
      c3b += w[I] * o.beta[I][K] * bp[K];
      c4b += w[I] * al[I] * o.alpha[I][K] * bp[K];
      c4c += w[I] * o.beta[I][K] * al[K] * al[K];
      for (int l = 0; l < k; ++l) c4d += w[I] * o.beta[I][K] * o.beta[K][idx(l)] * bp[idx(l)];
    }
  }
  if (order >= 1) note(c1, 1.0);
  if (order >= 2) note(c2, 0.5 - g);
  if (order >= 3) {
    note(c3a, 1.0 / 3);
    note(c3b, 1.0 / 6 - g + g * g);
  }
  if (order >= 4) {
    note(c4a, 1.0 / 4);
    note(c4b, 1.0 / 8 - g / 3);
    note(c4c, 1.0 / 12 - g / 3);
    note(c4d, 1.0 / 24 - g / 2 + 1.5 * g * g - g * g * g);
  }
  return worst;
}

/// Largest residual of the tableau's consistency checks: a and c strictly lower triangular, the
/// nodes α_i = Σ_j α_ij and γ_i = Σ_j γ_ij agree with `alpha` and `gamma_sum`, the order
/// conditions of m (to `order`) and of m̂ (to `embedded_order`), at most 4, and a dense output
/// that is y0 at θ = 0 and y1 at θ = 1.
template <class Tableau>
constexpr double rosenbrock_residual() {
  constexpr int s = Tableau::stages;
  const rosenbrock_original<Tableau> o;
  double worst = 0;
  auto note = [&worst](double r) {
    r = absolute(r);
    worst = r > worst ? r : worst;
  };
  for (int i = 0; i < s; ++i) {
    for (int j = i; j < s; ++j) {
      note(Tableau::a[idx(i)][idx(j)]);
      note(Tableau::c[idx(i)][idx(j)]);
    }
    double gamma_row = 0;
    for (int j = 0; j <= i; ++j) gamma_row += o.gamma[idx(i)][idx(j)];
    note(gamma_row - Tableau::gamma_sum[idx(i)]);
    note(o.nodes[idx(i)] - Tableau::alpha[idx(i)]);
    double at_one = 0;
    for (int j = 0; j < Tableau::dense_degree; ++j) at_one += Tableau::dense[idx(j)][idx(i)];
    note(at_one - Tableau::m[idx(i)]);
  }
  note(rosenbrock_order_residual(o, o.b, Tableau::order < 4 ? Tableau::order : 4));
  note(rosenbrock_order_residual(o, o.b_hat,
                                 Tableau::embedded_order < 4 ? Tableau::embedded_order : 4));
  return worst;
}

/// Monomial dense weights from Hairer's form (RODAS's `CONTRO`, OrdinaryDiffEq's Rodas
/// interpolants): y(θ) = (1 − θ) y0 + θ (y1 + (1 − θ)(q_1 + θ q_2 + … + θ^(r−1) q_r)) with
/// q_j = Σ_i h[j][i] u_i and y1 − y0 = Σ_i m_i u_i. Expanding, the weight of u_i in θ is
/// m_i + h[0][i], in θ^j (1 < j ≤ r) h[j−1][i] − h[j−2][i], in θ^(r+1) −h[r−1][i].
template <std::size_t S, std::size_t R>
constexpr std::array<std::array<double, S>, R + 1> rosenbrock_dense_from_hairer(
    const std::array<double, S>& m, const std::array<std::array<double, S>, R>& h) {
  std::array<std::array<double, S>, R + 1> w{};
  for (std::size_t i = 0; i < S; ++i) {
    w[0][i] = m[i] + h[0][i];
    for (std::size_t j = 1; j < R; ++j) w[j][i] = h[j][i] - h[j - 1][i];
    w[R][i] = -h[R - 1][i];
  }
  return w;
}

/// The last stage's argument is y1 at t1 (a_sj = m_j, m_s = 0, α_s = 1): its f is f(t1, y1).
template <class Tableau>
constexpr bool rosenbrock_fsal() {
  constexpr int last = Tableau::stages - 1;
  if (Tableau::alpha[idx(last)] != 1.0 || Tableau::m[idx(last)] != 0.0) return false;
  for (int j = 0; j < last; ++j)
    if (Tableau::a[idx(last)][idx(j)] != Tableau::m[idx(j)]) return false;
  return true;
}

}  // namespace detail

/// \brief Rosenbrock method over a tableau (see the file comment for the scheme, its cost and
/// failure modes).
///
/// Cost per step: one Jacobian (the term's `jacobian`, n jvps or n evaluations of f), one ∂f/∂t
/// for non-autonomous terms (a jvp or one evaluation), one O(n³) LU, s O(n²) solves, s − 1
/// evaluations of f plus f(t1, y1) (free for FSAL tableaus). A stepper value: set `jacobian`
/// to force finite differences, e.g. `nde::rodas5{.jacobian = nde::jacobian_source::finite_differences}`.
/// \tparam Tableau a `rosenbrock_tableau`.
template <rosenbrock_tableau Tableau>
struct rosenbrock {
  static_assert(detail::rosenbrock_residual<Tableau>() < 1e-12,
                "Rosenbrock tableau failed its checks: a and c must be strictly lower triangular, "
                "alpha and gamma_sum must be the row sums of the recovered alpha_ij and gamma_ij, "
                "m and m - m_error must satisfy the order conditions of their orders, and the "
                "dense output must reach y1 at theta = 1");

  /// \brief Where J comes from (`linalg/jacobian.hpp`).
  jacobian_source jacobian = jacobian_source::automatic;

  using tableau = Tableau;                                        ///< The coefficients.
  static constexpr std::string_view name = Tableau::name;         ///< For messages.
  static constexpr int stages = Tableau::stages;                  ///< s (linear solves per step).
  static constexpr int order = Tableau::order;                    ///< Order of y1.
  static constexpr int embedded_order = Tableau::embedded_order;  ///< Order of ŷ1.
  /// \brief The error estimate is O(h^(error_order + 1)): min(order, embedded order).
  static constexpr int error_order =
      Tableau::order < Tableau::embedded_order ? Tableau::order : Tableau::embedded_order;
  static constexpr bool adaptive = true;                            ///< Has an error estimate.
  static constexpr bool fsal = detail::rosenbrock_fsal<Tableau>();  ///< Last stage is f(t1, y1).
  static constexpr int dense_degree = Tableau::dense_degree;        ///< Polynomial degree.
  static constexpr int dense_order = Tableau::dense_order;          ///< Order of the interpolant.
  static constexpr bool reversible = false;  ///< No exact reverse step (see the file comment).
  /// \brief Why the discrete gradient methods are refused, and what to use instead.
  static constexpr std::string_view exact_gradient_unavailable =
      "discrete_adjoint and forward_sensitivity are not available for Rosenbrock methods "
      "(rosenbrock23, rodas4, rodas5): the exact derivative of a step needs the derivative of "
      "the Jacobian J(y0), i.e. second derivatives of f; use backsolve_adjoint or "
      "checkpointed_adjoint, or an explicit_rk method with discrete_adjoint";

 private:
  static constexpr std::size_t stage_count = detail::idx(stages);

 public:
  /// \brief Buffers of one integration (the Jacobian, M's LU, the stages).
  template <state State>
  struct workspace {
    std::array<State, stage_count> u;            ///< Stage increments u_i.
    State f0;                                    ///< f(t0, y0).
    State f1;                                    ///< f(t1, y1) (the last stage for FSAL tableaus).
    State stage_f;                               ///< f at the current stage argument.
    State argument;                              ///< The current stage argument.
    State dfdt;                                  ///< ∂f/∂t(t0, y0) (non-autonomous terms).
    State error;                                 ///< The error estimate Σ e_i u_i.
    jacobian_matrix_t<State> jacobian;           ///< J at (t0, y0).
    jacobian_matrix_t<State> matrix;             ///< M = I − hγJ.
    dense_lu<scalar_of_t<State>> lu;             ///< M's factors.
    jacobian_workspace<State> jacobian_scratch;  ///< Finite differences / jvps.
    bool jacobian_current = false;  ///< J and ∂f/∂t belong to the current step start.
  };

  /// \brief A workspace sized like `like` (allocates for dynamic sizes).
  template <state State>
  [[nodiscard]] static workspace<State> make_workspace(const State& like) {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }

  /// \brief Sizes every buffer like `like` (n = like.size(): J and M are n × n).
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    for (auto& u : ws.u) u.setZero(like.rows(), like.cols());
    for (State* s : {&ws.f0, &ws.f1, &ws.stage_f, &ws.argument, &ws.dfdt, &ws.error})
      s->setZero(like.rows(), like.cols());
    const Eigen::Index n = like.size();
    ws.jacobian.setZero(n, n);
    ws.matrix.setZero(n, n);
    ws.lu = dense_lu<scalar_of_t<State>>(n);
    ws.jacobian_scratch.resize(like, 0);
    ws.jacobian_current = false;
  }

  /// \brief Time of stage i: `t0 + α_i (t1 − t0)`, exactly t1 when α_i = 1.
  template <time_scalar T>
  [[nodiscard]] static T stage_time(int i, T t0, T t1) {
    const double node = Tableau::alpha[detail::idx(i)];
    return node == 1.0 ? t1 : t0 + static_cast<T>(node) * (t1 - t0);
  }

  /// \brief f(t0, y0) into the workspace; a new step start (J is taken afresh).
  /// \return `non_finite` if f(t0, y0) has NaN or Inf.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    ws.jacobian_current = false;
    term.vf(t0, y0, theta, ws.f0);
    return ws.f0.allFinite() ? status::success : status::non_finite;
  }

  /// \brief One step from (t0, y0) to t1 (`ws.f0` = f(t0, y0)); `y1` must not alias `y0`.
  /// \return `not_converged` when M = I − hγJ is singular, `non_finite` for NaN/Inf in y1, the
  ///   error estimate or (FSAL) f(t1, y1); the error estimate.
  /// \throws nde::error (non_finite) when J or ∂f/∂t at (t0, y0) is not finite;
  ///   (invalid_input) when the term's `jacobian` has the wrong size.
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    using scalar = scalar_of_t<State>;
    constexpr bool autonomous = autonomous_field<std::remove_cvref_t<Term>>;
    const auto h = static_cast<scalar>(t1 - t0);
    if (!ws.jacobian_current) {
      differentiate(term, t0, y0, theta, h < 0 ? T(-1) : T(1), ws);
      ws.jacobian_current = true;
    }
    const scalar h_gamma = h * static_cast<scalar>(Tableau::gamma);
    ws.matrix = (-h_gamma) * ws.jacobian;
    ws.matrix.diagonal().array() += scalar(1);
    if (const status factored = ws.lu.factor(ws.matrix); factored != status::success)
      return {factored == status::non_finite ? status::non_finite : status::not_converged, nullptr};
    for (int i = 0; i < stages; ++i) {
      const auto I = detail::idx(i);
      const State* derivative = &ws.f0;
      if (i > 0) {
        const bool last = fsal && i == stages - 1;
        State& argument = last ? y1 : ws.argument;
        argument = y0;
        for (int j = 0; j < i; ++j)
          if (Tableau::a[I][detail::idx(j)] != 0.0)
            argument += static_cast<scalar>(Tableau::a[I][detail::idx(j)]) * ws.u[detail::idx(j)];
        State& out = last ? ws.f1 : ws.stage_f;
        term.vf(stage_time(i, t0, t1), static_cast<const State&>(argument), theta, out);
        derivative = &out;
      }
      State& u = ws.u[I];
      u = h_gamma * *derivative;
      for (int j = 0; j < i; ++j)
        if (Tableau::c[I][detail::idx(j)] != 0.0)
          u += static_cast<scalar>(Tableau::gamma * Tableau::c[I][detail::idx(j)]) *
               ws.u[detail::idx(j)];
      if constexpr (!autonomous) {
        if (Tableau::gamma_sum[I] != 0.0)
          u += (static_cast<scalar>(Tableau::gamma * Tableau::gamma_sum[I]) * h * h) * ws.dfdt;
      }
      ws.lu.solve_in_place(u);
    }
    if constexpr (!fsal) {
      y1 = y0;
      for (int j = 0; j < stages; ++j)
        if (Tableau::m[detail::idx(j)] != 0.0)
          y1 += static_cast<scalar>(Tableau::m[detail::idx(j)]) * ws.u[detail::idx(j)];
    }
    ws.error.setZero();
    for (int j = 0; j < stages; ++j)
      if (Tableau::m_error[detail::idx(j)] != 0.0)
        ws.error += static_cast<scalar>(Tableau::m_error[detail::idx(j)]) * ws.u[detail::idx(j)];
    bool finite = y1.allFinite() && ws.error.allFinite();
    if constexpr (fsal) finite = finite && ws.f1.allFinite();
    return {finite ? status::success : status::non_finite, &ws.error};
  }

  /// \brief f(t1, y1) after an accepted step (free for FSAL tableaus).
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term& term, T t1, const State& y1, params_view<scalar_of_t<State>> theta,
                      workspace<State>& ws) const {
    if constexpr (fsal) {
      return status::success;
    } else {
      term.vf(t1, y1, theta, ws.f1);
      return ws.f1.allFinite() ? status::success : status::non_finite;
    }
  }

  /// \brief f(t0, y0) after `init`.
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.f0;
  }
  /// \brief f(t1, y1) of the last accepted step (after `evaluate_end`).
  template <state State>
  [[nodiscard]] static const State& end_derivative(const workspace<State>& ws) noexcept {
    return ws.f1;
  }
  /// \brief f(t1, y1) becomes the next step's f(t0, y0); the next step takes a new J.
  template <state State>
  void advance(workspace<State>& ws) const {
    ws.f0.swap(ws.f1);
    ws.jacobian_current = false;
  }

  /// \brief Monomial coefficients of the tableau's continuous extension on the last step:
  /// `y(t0 + θh) = c[0] + Σ_j c[j] θ^j`, c[0] = y0, c[j] = Σ_i dense[j−1][i] u_i.
  template <time_scalar T, state State>
  void dense_coefficients(T /*t0*/, T /*t1*/, const State& y0, const State& /*y1*/,
                          const workspace<State>& ws,
                          std::array<State, detail::idx(dense_degree + 1)>& c) const {
    using scalar = scalar_of_t<State>;
    c[0] = y0;
    for (int j = 0; j < dense_degree; ++j) {
      State& out = c[detail::idx(j + 1)];
      out.setZero(y0.rows(), y0.cols());
      for (int i = 0; i < stages; ++i)
        if (Tableau::dense[detail::idx(j)][detail::idx(i)] != 0.0)
          out += static_cast<scalar>(Tableau::dense[detail::idx(j)][detail::idx(i)]) *
                 ws.u[detail::idx(i)];
    }
  }

  /// \brief dy/dτ of the dense output of the last step at τ.
  template <time_scalar T, state State>
  void dense_derivative(T t0, T t1, T tau, const State& /*y0*/, const State& /*y1*/,
                        const workspace<State>& ws, State& out) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    const auto theta = static_cast<scalar>((tau - t0) / (t1 - t0));
    out.setZero(ws.f0.rows(), ws.f0.cols());
    scalar power = 1;  // θ^j
    for (int j = 0; j < dense_degree; ++j) {
      const scalar w = static_cast<scalar>(j + 1) * power / h;
      for (int i = 0; i < stages; ++i)
        if (Tableau::dense[detail::idx(j)][detail::idx(i)] != 0.0)
          out += (w * static_cast<scalar>(Tableau::dense[detail::idx(j)][detail::idx(i)])) *
                 ws.u[detail::idx(i)];
      power *= theta;
    }
  }

 private:
  // J and ∂f/∂t at (t0, y0); ws.f0 holds f(t0, y0).
  template <class Term, time_scalar T, state State>
  void differentiate(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
                     T direction, workspace<State>& ws) const {
    if (state_jacobian(term, t0, y0, theta, static_cast<const State&>(ws.f0), ws.jacobian,
                       ws.jacobian_scratch, jacobian) != status::success)
      throw error(status::non_finite,
                  detail::concatenate(name, ": the Jacobian df/dy at t = ", t0,
                                      " contains NaN or Inf (it is taken at the step's start, so "
                                      "no smaller step can help)"));
    if constexpr (!autonomous_field<std::remove_cvref_t<Term>>) {
      if (time_derivative(term, t0, y0, theta, static_cast<const State&>(ws.f0), ws.dfdt,
                          ws.jacobian_scratch, jacobian, direction) != status::success)
        throw error(status::non_finite,
                    detail::concatenate(name, ": the time derivative df/dt at t = ", t0,
                                        " contains NaN or Inf"));
    }
  }
};

}  // namespace nde
