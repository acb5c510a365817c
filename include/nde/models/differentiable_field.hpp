/// \file
/// \brief Differentiable vector fields: what the gradient methods need from `f_θ(t, y)`,
/// and ready-made fields — a sum of two fields (a hybrid "universal differential
/// equation"), a linear field `A y`, and forward-mode automatic differentiation of a field
/// written as a template over its scalar.
///
/// A differentiable field is stateless with respect to its parameters: the model owns the
/// flat parameter vector θ and passes it in. It provides
///
/// | member | meaning |
/// |---|---|
/// | `Eigen::Index num_params() const` | length of θ |
/// | `void operator()(T t, const State& y, const Params& theta, State& dydt)` | dy/dt = f(t, y; θ), written in place |
/// | `void vjp(T t, const State& y, const Params& theta, const State& a, State& a_y, ParamsRef a_theta)` | `a_y = aᵀ ∂f/∂y` (overwritten); `a_theta += aᵀ ∂f/∂θ` (accumulated) |
///
/// `Params` is `Eigen::Ref<const Eigen::VectorX<S>>`, `ParamsRef` is
/// `Eigen::Ref<Eigen::VectorX<S>>` (S the state scalar), so a field can be handed a segment of
/// a bigger vector without a copy. A batch state (a matrix whose columns are samples) is
/// allowed: `a_theta` then accumulates the sum over the columns. A field may keep mutable
/// scratch space (e.g. a network workspace); the parallel per-sample solves copy the field
/// for each thread, so scratch is never shared.
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/core/status.hpp"
#include "nde/nn/dual.hpp"

#include <Eigen/Core>

#include <concepts>
#include <cstddef>
#include <string>
#include <utility>

namespace nde {

/// \brief Read-only view of a flat parameter vector of scalar `S`.
template <class S>
using params_view = Eigen::Ref<const Eigen::Matrix<S, Eigen::Dynamic, 1>>;
/// \brief Writable view of a flat parameter (cotangent) vector of scalar `S`.
template <class S>
using params_ref = Eigen::Ref<Eigen::Matrix<S, Eigen::Dynamic, 1>>;

/// \brief A vector field with parameters and a vector–Jacobian product (see the file comment).
template <class F, class T, class State>
concept differentiable_vector_field = state<State> &&
    requires(F& f, const F& cf, T t, const State& y, const State& a, State& out,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta) {
  { cf.num_params() } -> std::convertible_to<Eigen::Index>;
  f(t, y, theta, out);
  f.vjp(t, y, theta, a, out, a_theta);
};

/// \brief Optional fast path of a differentiable field: `value_and_vjp(t, y, θ, a, dydt, a_y,
/// a_theta)` computes f and the vjp at one point sharing their common work (a network's
/// forward pass). The backsolve adjoint uses it when present.
template <class F, class T, class State>
concept value_and_vjp_field = state<State> &&
    requires(F& f, T t, const State& y, const State& a, State& out, State& out2,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta) {
  f.value_and_vjp(t, y, theta, a, out, out2, a_theta);
};

/// \brief Optional fast path: `evaluate_for_vjp(slot, t, y, θ, dydt)` evaluates f and keeps
/// what its vjp needs in cache slot `slot`; `vjp_from(slot, t, y, θ, a, a_y, a_theta)` is the
/// vjp at that same point reusing the cache. The discrete adjoint uses one slot per RK stage.
template <class F, class T, class State>
concept stage_cached_field = state<State> &&
    requires(F& f, std::size_t slot, T t, const State& y, const State& a, State& out,
             params_view<scalar_of_t<State>> theta, params_ref<scalar_of_t<State>> a_theta) {
  f.evaluate_for_vjp(slot, t, y, theta, out);
  f.vjp_from(slot, t, y, theta, a, out, a_theta);
};

/// \brief `f(t, y; θ) = g(t, y; θ_g) + h(t, y; θ_h)` with θ = [θ_g; θ_h]: e.g. known physics
/// plus a neural network (a universal differential equation, Rackauckas et al. 2020).
/// Costs one evaluation (one vjp) of each term; keeps one scratch state.
/// \tparam G first term (its parameters come first). \tparam H second term.
/// \tparam State the state type the field is used with.
template <class G, class H, state State>
class sum_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.

  /// \brief Sums `g` and `h`; θ_g comes first in θ.
  sum_field(G g, H h) : m_g(std::move(g)), m_h(std::move(h)) {}

  /// \brief Length of θ = [θ_g; θ_h].
  [[nodiscard]] Eigen::Index num_params() const { return m_g.num_params() + m_h.num_params(); }
  /// \brief The first term.
  [[nodiscard]] G& first() noexcept { return m_g; }
  /// \brief The second term.
  [[nodiscard]] H& second() noexcept { return m_h; }

  /// \brief dy/dt = g(t, y; θ_g) + h(t, y; θ_h).
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    m_g(t, y, params_view<scalar>(theta.head(m_g.num_params())), dydt);
    m_scratch.resizeLike(dydt);
    m_h(t, y, params_view<scalar>(theta.tail(m_h.num_params())), m_scratch);
    dydt += m_scratch;
  }

  /// \brief a_y = aᵀ(∂g/∂y + ∂h/∂y); a_theta += [aᵀ ∂g/∂θ_g; aᵀ ∂h/∂θ_h].
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    const Eigen::Index ng = m_g.num_params();
    const Eigen::Index nh = m_h.num_params();
    m_g.vjp(t, y, params_view<scalar>(theta.head(ng)), a, a_y,
            params_ref<scalar>(a_theta.head(ng)));
    m_scratch.resizeLike(a_y);
    m_h.vjp(t, y, params_view<scalar>(theta.tail(nh)), a, m_scratch,
            params_ref<scalar>(a_theta.tail(nh)));
    a_y += m_scratch;
  }

 private:
  G m_g;
  H m_h;
  State m_scratch = detail::zero_state<State>();
};

/// \brief The linear field `f(t, y; A) = A y`, θ = vec(A) (column-major, n² entries).
/// Its exact flow `exp(tA) y0` makes it the reference problem for gradient tests.
/// Cost: one n×n matrix–vector product per evaluation and per vjp.
/// \tparam State column-vector (or batch-matrix) state type.
template <state State>
class linear_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.

  /// \brief A field on states with `n` rows.
  explicit linear_field(Eigen::Index n) : m_n(n) {
    if (n < 0) throw error(status::invalid_input, "linear_field: negative dimension");
  }
  /// \brief n².
  [[nodiscard]] Eigen::Index num_params() const { return m_n * m_n; }

  /// \brief dy/dt = A y.
  template <class T>
  void operator()(T, const State& y, params_view<scalar> theta, State& dydt) const {
    check(y);
    const Eigen::Map<const Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>> A(theta.data(),
                                                                                    m_n, m_n);
    dydt.noalias() = A * y;
  }

  /// \brief a_y = Aᵀ a; a_theta += vec(a yᵀ) (summed over batch columns).
  template <class T>
  void vjp(T, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) const {
    check(y);
    const Eigen::Map<const Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>> A(theta.data(),
                                                                                    m_n, m_n);
    a_y.noalias() = A.transpose() * a;
    Eigen::Map<Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>> dA(a_theta.data(), m_n, m_n);
    dA.noalias() += a * y.transpose();
  }

 private:
  void check(const State& y) const {
    if (y.rows() != m_n)
      throw error(status::invalid_input, "linear_field: the state has " + std::to_string(y.rows()) +
                                             " rows, the field was made for " +
                                             std::to_string(m_n));
  }

  Eigen::Index m_n;
};

/// \brief Makes a field differentiable by forward-mode dual numbers: the user writes the
/// field once, as a template over its scalar, and gets `vjp` for free.
///
/// The wrapped callable is `fn(t, y, theta, dydt)` with `y`, `dydt` column vectors and
/// `theta` a dynamic vector, all of a scalar S that is either the state scalar or
/// `nde::dual<scalar>` — a generic lambda works:
/// \code
/// auto fn = [](auto t, const auto& y, const auto& theta, auto& dydt) {
///   using std::sin;
///   dydt[0] = y[1];
///   dydt[1] = -sin(y[0]) - theta[0] * y[1];
/// };
/// nde::autodiff_field<Eigen::Vector2d, decltype(fn)> pendulum(fn, 1);  // one parameter
/// \endcode
/// Cost of one vjp: (n + p) evaluations of `fn` on dual numbers (one per input direction),
/// per batch column — fine for small known-physics models, not for wide networks.
/// \tparam State column-vector state (or batch matrix, handled column by column).
/// \tparam Fn the templated callable.
template <state State, class Fn>
class autodiff_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief One state column (a batch state is differentiated column by column).
  using column = Eigen::Matrix<scalar, State::RowsAtCompileTime, 1>;
  /// \brief A state column of dual numbers (one tangent direction per evaluation of `fn`).
  using dual_column = Eigen::Matrix<dual<scalar>, State::RowsAtCompileTime, 1>;
  /// \brief θ as dual numbers.
  using dual_params = Eigen::Matrix<dual<scalar>, Eigen::Dynamic, 1>;

  /// \brief Wraps `fn`, which uses `num_params` parameters.
  autodiff_field(Fn fn, Eigen::Index num_params) : m_fn(std::move(fn)), m_num_params(num_params) {
    if (num_params < 0)
      throw error(status::invalid_input, "autodiff_field: negative parameter count");
  }
  /// \brief p.
  [[nodiscard]] Eigen::Index num_params() const { return m_num_params; }

  /// \brief dy/dt = fn(t, y, θ), column by column.
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    dydt.resize(y.rows(), y.cols());
    m_theta = theta;
    for (Eigen::Index c = 0; c < y.cols(); ++c) {
      m_y = y.col(c);
      m_dy.resizeLike(m_y);
      m_fn(t, static_cast<const column&>(m_y),
           static_cast<const Eigen::Matrix<scalar, Eigen::Dynamic, 1>&>(m_theta), m_dy);
      dydt.col(c) = m_dy;
    }
  }

  /// \brief a_y = aᵀ ∂f/∂y and a_theta += aᵀ ∂f/∂θ, one dual-number evaluation per input.
  template <class T>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    const Eigen::Index n = y.rows();
    a_y.resize(y.rows(), y.cols());
    m_dual_theta = theta.template cast<dual<scalar>>();
    for (Eigen::Index c = 0; c < y.cols(); ++c) {
      m_dual_y = y.col(c).template cast<dual<scalar>>();
      m_dual_dy.resize(n);
      for (Eigen::Index k = 0; k < n + m_num_params; ++k) {
        auto& seed = k < n ? m_dual_y[k].tangent : m_dual_theta[k - n].tangent;
        seed = 1;
        m_fn(t, static_cast<const dual_column&>(m_dual_y),
             static_cast<const dual_params&>(m_dual_theta), m_dual_dy);
        seed = 0;
        scalar directional = 0;
        for (Eigen::Index i = 0; i < n; ++i) directional += a(i, c) * m_dual_dy[i].tangent;
        if (k < n) {
          a_y(k, c) = directional;
        } else {
          a_theta[k - n] += directional;
        }
      }
    }
  }

 private:
  Fn m_fn;
  Eigen::Index m_num_params;
  Eigen::Matrix<scalar, Eigen::Dynamic, 1> m_theta;
  column m_y = detail::zero_state<column>();
  column m_dy = detail::zero_state<column>();
  dual_column m_dual_y, m_dual_dy;
  dual_params m_dual_theta;
};

}  // namespace nde
