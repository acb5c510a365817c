/// \file
/// \brief `nde::auto_switch<Explicit, Implicit>`: integrates with an explicit pair while the
/// problem is non-stiff and switches to an implicit (or Rosenbrock) method once Hairer's
/// stiffness test decides it is stiff — the idea of OrdinaryDiffEq's `AutoTsit5(Rosenbrock23())`.
///
/// \code
/// auto sol = nde::solve(f, nde::auto_switch<nde::tsit5, nde::rodas5>{}, 0.0, 3000.0, y0,
///                       {.controller = nde::pid_controller{.rtol = 1e-6, .atol = 1e-9}});
/// // sol.stiff, sol.stiff_from: where the switch happened
/// \endcode
///
/// The test (Hairer & Wanner, *Solving ODEs II*, IV.2; DOPRI5's bookkeeping) runs after every
/// accepted explicit step: a step is stiff when h·ρ > `threshold` × the explicit method's
/// stability boundary (ρ: `explicit_rk::stiffness_estimate`), and `stiff_steps` stiff steps
/// with fewer than `reset_after` non-stiff ones in a row between them trigger the switch, at
/// the start of the next step (one extra f(t0, y0) for the implicit method). The switch is one
/// way: once implicit, the solve stays implicit (a stiff phase is usually followed by more).
/// Both methods keep their own workspaces; the dense output is the active method's, padded
/// with zero coefficients to the larger degree. The controller sees the smaller of the two
/// error orders.
///
/// Gradients: inference and the continuous adjoints (which solve their backward systems with
/// this stepper); no exact discrete adjoint or forward sensitivities.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/solvers/stepper.hpp"
#include "nde/terms/field.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <utility>

namespace nde {

/// \brief Explicit while non-stiff, `Implicit` once stiff (see the file comment).
/// \tparam Explicit an adaptive method with `stiffness_detection` (dopri5, tsit5).
/// \tparam Implicit an adaptive implicit or Rosenbrock method (rodas5, kvaerno5, ...).
template <class Explicit, class Implicit>
struct auto_switch {
  static_assert(Explicit::stiffness_detection,
                "auto_switch: the explicit method needs Hairer's stiffness test (dopri5, tsit5)");
  static_assert(Explicit::adaptive && Implicit::adaptive,
                "auto_switch: both methods need embedded error estimates");

  Explicit explicit_method{};  ///< Used while the problem is non-stiff.
  Implicit implicit_method{};  ///< Used once it is stiff.
  /// \brief A step is stiff when h·ρ exceeds this fraction of the explicit stability boundary.
  double threshold = 0.9;
  /// \brief Stiff steps that trigger the switch (DOPRI5: 15).
  int stiff_steps = 15;
  /// \brief Consecutive non-stiff steps that reset the count (DOPRI5: 6).
  int reset_after = 6;

  static constexpr int order = std::min(Explicit::order, Implicit::order);  ///< The lower one.
  static constexpr bool adaptive = true;  ///< Both methods have error estimates.
  static constexpr int error_order =
      std::min(Explicit::error_order, Implicit::error_order);  ///< The lower one.
  static constexpr int dense_degree =
      std::max(Explicit::dense_degree, Implicit::dense_degree);  ///< The larger one.
  static constexpr bool fsal = false;        ///< Delegated through `evaluate_end`.
  static constexpr bool reversible = false;  ///< No exact reverse step.
  /// \brief Why the discrete gradient methods are refused.
  static constexpr std::string_view exact_gradient_unavailable =
      "discrete_adjoint and forward_sensitivity are not available for auto_switch (the method "
      "changes during the solve); use backsolve_adjoint or checkpointed_adjoint, or a fixed "
      "method";

  /// \brief Both workspaces and the test's bookkeeping.
  template <state State>
  struct workspace {
    using explicit_ws = decltype(std::declval<const Explicit&>().make_workspace(
        std::declval<const State&>()));  ///< The explicit method's workspace.
    using implicit_ws = decltype(std::declval<const Implicit&>().make_workspace(
        std::declval<const State&>()));  ///< The implicit method's workspace.
    explicit_ws explicit_part;           ///< Stages of the explicit method.
    implicit_ws implicit_part;           ///< Stages of the implicit method.
    std::array<State, static_cast<std::size_t>(Explicit::dense_degree) + 1>
        explicit_dense;  ///< Dense coefficients of the explicit method.
    std::array<State, static_cast<std::size_t>(Implicit::dense_degree) + 1>
        implicit_dense;                 ///< Dense coefficients of the implicit method.
    bool stiff = false;                 ///< The implicit method is active.
    bool switch_pending = false;        ///< Switch at the start of the next step.
    double last_h_rho = 0;              ///< h·ρ of the last explicit trial step.
    int stiff_count = 0;                ///< Stiff accepted steps since the last reset.
    int nonstiff_in_a_row = 0;          ///< Consecutive non-stiff accepted steps.
    std::size_t explicit_steps = 0;     ///< Accepted explicit steps.
    std::optional<double> switch_time;  ///< Where the implicit method took over.
  };

  /// \brief Both workspaces sized like `like`.
  template <state State>
  [[nodiscard]] workspace<State> make_workspace(const State& like) const {
    workspace<State> ws{explicit_method.make_workspace(like),
                        implicit_method.make_workspace(like),
                        {},
                        {},
                        false,
                        false,
                        0,
                        0,
                        0,
                        0,
                        {}};
    resize(ws, like);
    return ws;
  }
  /// \brief Resizes both workspaces like `like`.
  template <state State>
  static void resize(workspace<State>& ws, const State& like) {
    Explicit::resize(ws.explicit_part, like);
    Implicit::resize(ws.implicit_part, like);
    for (auto& c : ws.explicit_dense) c.setZero(like.rows(), like.cols());
    for (auto& c : ws.implicit_dense) c.setZero(like.rows(), like.cols());
  }

  /// \brief Called by the driver when a solve starts: explicit again, the test's counts cleared.
  template <state State>
  static void begin(workspace<State>& ws) noexcept {
    ws.stiff = ws.switch_pending = false;
    ws.last_h_rho = 0;
    ws.stiff_count = ws.nonstiff_in_a_row = 0;
    ws.explicit_steps = 0;
    ws.switch_time.reset();
  }

  /// \brief Starts a solve or restarts after a jump, with the active method.
  template <class Term, time_scalar T, state State>
  status init(Term& term, T t0, const State& y0, params_view<scalar_of_t<State>> theta,
              workspace<State>& ws) const {
    check();
    return ws.stiff ? implicit_method.init(term, t0, y0, theta, ws.implicit_part)
                    : explicit_method.init(term, t0, y0, theta, ws.explicit_part);
  }

  /// \brief One trial step with the active method (switching first when the test decided).
  template <class Term, time_scalar T, state State>
  step_result<State> step(Term& term, T t0, T t1, const State& y0,
                          params_view<scalar_of_t<State>> theta, workspace<State>& ws,
                          State& y1) const {
    if (ws.switch_pending) {
      ws.switch_pending = false;
      ws.stiff = true;
      ws.switch_time = static_cast<double>(t0);
      const status s = implicit_method.init(term, t0, y0, theta, ws.implicit_part);
      if (s != status::success) return {s, nullptr};
    }
    if (ws.stiff) return implicit_method.step(term, t0, t1, y0, theta, ws.implicit_part, y1);
    const step_result<State> r =
        explicit_method.step(term, t0, t1, y0, theta, ws.explicit_part, y1);
    ws.last_h_rho =
        r.status == status::success
            ? static_cast<double>(explicit_method.stiffness_estimate(t0, t1, y1, ws.explicit_part))
            : 0.0;
    return r;
  }

  /// \brief The active method's `evaluate_end`.
  template <class Term, time_scalar T, state State>
  status evaluate_end(Term& term, T t1, const State& y1, params_view<scalar_of_t<State>> theta,
                      workspace<State>& ws) const {
    return ws.stiff ? implicit_method.evaluate_end(term, t1, y1, theta, ws.implicit_part)
                    : explicit_method.evaluate_end(term, t1, y1, theta, ws.explicit_part);
  }
  /// \brief f(t0, y0) of the active method after `init`.
  template <state State>
  [[nodiscard]] static const State& start_derivative(const workspace<State>& ws) noexcept {
    return ws.stiff ? Implicit::start_derivative(ws.implicit_part)
                    : Explicit::start_derivative(ws.explicit_part);
  }

  /// \brief After an accepted step that is not the last: the stiffness bookkeeping, then the
  /// active method's `advance`.
  template <state State>
  void advance(workspace<State>& ws) const {
    if (ws.stiff) {
      implicit_method.advance(ws.implicit_part);
      return;
    }
    ++ws.explicit_steps;
    if (ws.last_h_rho > threshold * Explicit::stability_boundary) {
      ws.nonstiff_in_a_row = 0;
      if (++ws.stiff_count >= stiff_steps) {
        ws.switch_pending = true;
      }
    } else if (++ws.nonstiff_in_a_row >= reset_after) {
      ws.stiff_count = 0;
    }
    explicit_method.advance(ws.explicit_part);
  }

  /// \brief The active method's dense output, padded with zeros to `dense_degree`.
  template <time_scalar T, state State>
  void dense_coefficients(T t0, T t1, const State& y0, const State& y1, const workspace<State>& ws,
                          std::array<State, static_cast<std::size_t>(dense_degree) + 1>& c) const {
    auto copy = [&](auto& own) {
      for (std::size_t j = 0; j < c.size(); ++j) {
        if (j < own.size()) {
          c[j] = own[j];
        } else {
          c[j].setZero(y0.rows(), y0.cols());
        }
      }
    };
    // The per-method arrays are scratch of this const call.
    auto& ws_mut =
        const_cast<workspace<State>&>(ws);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    if (ws.stiff) {
      implicit_method.dense_coefficients(t0, t1, y0, y1, ws.implicit_part, ws_mut.implicit_dense);
      copy(ws.implicit_dense);
    } else {
      explicit_method.dense_coefficients(t0, t1, y0, y1, ws.explicit_part, ws_mut.explicit_dense);
      copy(ws.explicit_dense);
    }
  }

  /// \brief Where the implicit method took over (empty while explicit); the driver copies it
  /// into `solution::stiff` / `stiff_from`.
  template <state State>
  [[nodiscard]] static std::optional<double> switch_time(const workspace<State>& ws) noexcept {
    return ws.switch_time;
  }

 private:
  void check() const {
    if (!(threshold > 0) || stiff_steps < 1 || reset_after < 1)
      throw error(status::invalid_input,
                  detail::concatenate("auto_switch: threshold must be positive and stiff_steps, "
                                      "reset_after at least 1 (got ",
                                      threshold, ", ", stiff_steps, ", ", reset_after, ")"));
  }
};

}  // namespace nde
