/// \file
/// \brief The one explicit Runge–Kutta engine: every method in `nde/solvers/` is this
/// class over a `constexpr` Butcher tableau (see `butcher_tableau.hpp`).
///
/// Protocol (what `solve()` does, and what a discrete adjoint replays):
///  1. `init(f, t0, y0, ws)` writes `ws.k[0] = f(t0, y0)`.
///  2. `step(f, t0, t1, y0, y1, ws)` computes the remaining stages into `ws.k[1..s-1]`,
///     `y1` and (for embedded tableaux) `ws.y_error = h Σ b_error_i k_i`. It is
///     deterministic: `init` + `step` from the same `(t0, t1, y0)` reproduce every stage
///     bit for bit. The stage arguments are `Y_i = y0 + h Σ_j a_ij k_j` at
///     `t0 + c_i h`, `h = t1 - t0` (negative when integrating backward).
///  3. After an accepted step: `evaluate_end(f, t1, y1, ws)` (one evaluation, only for
///     methods without FSAL) makes `end_derivative(ws) = f(t1, y1)` available, and
///     `advance(ws)` moves it into `ws.k[0]` for the next step. For FSAL methods the
///     last stage already is f(t1, y1), so both are free.
///
/// Dense output: `dense_coefficients` writes the monomial coefficients c_j of
/// `y(t0 + θh) = Σ_j c_j θ^j` for the step just taken: the tableau's own continuous
/// extension when it has one, otherwise the cubic Hermite interpolant through
/// (y0, f0, y1, f1) (Hairer, Nørsett & Wanner I, eq. II.6.7).
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/butcher_tableau.hpp"

#include <array>
#include <cstddef>
#include <utility>

namespace nde {

namespace detail {

template <class Tableau>
constexpr int error_order_of() {
  if constexpr (embedded_tableau<Tableau>) {
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

/// Horner evaluation of Σ_j c_j θ^j into `out` (no allocation).
template <class Coefficients, class Scalar, class State>
void evaluate_polynomial(const Coefficients& coefficients, std::size_t count, Scalar theta,
                         State& out) {
  out = coefficients[count - 1];
  for (std::size_t j = count - 1; j-- > 0;) {
    out *= theta;
    out += coefficients[j];
  }
}

}  // namespace detail

/// \brief Explicit Runge–Kutta method defined by a Butcher tableau.
///
/// \tparam Tableau a `butcher_tableau` (static constexpr `a`, `b`, `c`, `order`, `fsal`, and
///   optionally `b_error`/`error_order` and `dense_degree`/`dense_order`/`dense`).
///
/// Cost per step: `stages - 1` evaluations of f (stage 1 is reused from the previous step),
/// plus one `evaluate_end` per accepted step for methods without FSAL.
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
      detail::dense_order_of<Tableau>();  ///< Order of the interpolant.

  /// \brief Buffers for one integration; after `step`, `k[i]` is the derivative at stage i.
  /// \tparam State the state type (column vector, or matrix of batched columns).
  template <state State>
  struct workspace {
    std::array<State, stages> k;  ///< Stage derivatives k_i = f(t0 + c_i h, Y_i).
    State stage;                  ///< Scratch: the current stage argument Y_i.
    State y_error;                ///< Embedded error estimate h Σ b_error_i k_i.
    State end;                    ///< f(t1, y1) after `evaluate_end` (methods without FSAL).
  };

  /// \brief A workspace whose buffers are sized like `like` (allocates for dynamic sizes).
  template <state State>
  [[nodiscard]] workspace<State> make_workspace(const State& like) const {
    workspace<State> ws;
    resize(ws, like);
    return ws;
  }

  /// \brief Resizes every buffer to the shape of `like`; no allocation if already that shape.
  template <state State>
  void resize(workspace<State>& ws, const State& like) const {
    for (auto& k : ws.k) k.setZero(like.rows(), like.cols());
    ws.stage.setZero(like.rows(), like.cols());
    ws.y_error.setZero(like.rows(), like.cols());
    ws.end.setZero(like.rows(), like.cols());
  }

  /// \brief Evaluates `ws.k[0] = f(t0, y0)`.
  /// \return `status::non_finite` if the derivative has a NaN or Inf, else success.
  template <class F, time_scalar T, state State>
  status init(F& f, T t0, const State& y0, workspace<State>& ws) const {
    detail::evaluate(f, t0, y0, ws.k[0]);
    return ws.k[0].allFinite() ? status::success : status::non_finite;
  }

  /// \brief One step from (t0, y0) to t1; `ws.k[0]` must hold f(t0, y0).
  ///
  /// Writes `y1` (which must not alias `y0`), the stages `ws.k[1..s-1]`, and for embedded
  /// tableaux `ws.y_error`. Works for t1 < t0 (h < 0).
  /// \return `status::non_finite` if y1, the error estimate or (FSAL) f(t1, y1) is not
  ///   finite; success otherwise. The caller decides whether to accept the step.
  template <class F, time_scalar T, state State>
  status step(F& f, T t0, T t1, const State& y0, State& y1, workspace<State>& ws) const {
    using scalar = scalar_of_t<State>;
    const T h_time = t1 - t0;
    const auto h = static_cast<scalar>(h_time);
    for (int i = 1; i < stages; ++i) {
      // The FSAL stage argument is y1 itself, computed once so that k_s = f(t1, y1) exactly.
      State& argument = (fsal && i == stages - 1) ? y1 : ws.stage;
      argument = y0;
      for (int j = 0; j < i; ++j)
        if (Tableau::a[i][j] != 0.0)
          argument += (h * static_cast<scalar>(Tableau::a[i][j])) * ws.k[j];
      const T t_stage = Tableau::c[i] == 1.0 ? t1 : t0 + static_cast<T>(Tableau::c[i]) * h_time;
      detail::evaluate(f, t_stage, static_cast<const State&>(argument), ws.k[i]);
    }
    if constexpr (!fsal) {
      y1 = y0;
      for (int j = 0; j < stages; ++j)
        if (Tableau::b[j] != 0.0) y1 += (h * static_cast<scalar>(Tableau::b[j])) * ws.k[j];
    }
    bool finite = y1.allFinite();
    if constexpr (adaptive) {
      ws.y_error.setZero();
      for (int j = 0; j < stages; ++j)
        if (Tableau::b_error[j] != 0.0)
          ws.y_error += (h * static_cast<scalar>(Tableau::b_error[j])) * ws.k[j];
      finite = finite && ws.y_error.allFinite();
    }
    if constexpr (fsal) finite = finite && ws.k[stages - 1].allFinite();
    return finite ? status::success : status::non_finite;
  }

  /// \brief Makes f(t1, y1) available through `end_derivative` (one evaluation of f for
  /// methods without FSAL, none with FSAL).
  /// \return `status::non_finite` if f(t1, y1) has a NaN or Inf.
  template <class F, time_scalar T, state State>
  status evaluate_end(F& f, T t1, const State& y1, workspace<State>& ws) const {
    if constexpr (fsal) {
      return status::success;
    } else {
      detail::evaluate(f, t1, y1, ws.end);
      return ws.end.allFinite() ? status::success : status::non_finite;
    }
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

  /// \brief Monomial coefficients of the dense output of the step just taken:
  /// `y(t0 + θ(t1 - t0)) = Σ_{j=0}^{dense_degree} coefficients[j] θ^j`, θ in [0, 1].
  /// Needs `end_derivative(ws)` when the tableau has no continuous extension.
  template <time_scalar T, state State>
  void dense_coefficients(T t0, T t1, const State& y0, const State& y1, const workspace<State>& ws,
                          std::array<State, dense_degree + 1>& coefficients) const {
    using scalar = scalar_of_t<State>;
    const auto h = static_cast<scalar>(t1 - t0);
    coefficients[0] = y0;
    if constexpr (native_dense) {
      for (int j = 0; j < dense_degree; ++j) {
        State& c = coefficients[static_cast<std::size_t>(j) + 1];
        c.setZero(y0.rows(), y0.cols());
        for (int i = 0; i < stages; ++i)
          if (Tableau::dense[i][j] != 0.0)
            c += (h * static_cast<scalar>(Tableau::dense[i][j])) * ws.k[i];
      }
    } else {
      // Cubic Hermite through (y0, h f0) and (y1, h f1), expanded in monomials of θ.
      const State& f1 = end_derivative(ws);
      coefficients[1] = h * ws.k[0];
      coefficients[2] = scalar(3) * (y1 - y0) - (scalar(2) * h) * ws.k[0] - h * f1;
      coefficients[3] = scalar(2) * (y0 - y1) + h * ws.k[0] + h * f1;
    }
  }
};

}  // namespace nde
