/// \file
/// \brief `nde::sum_field`: `f = g + h` with θ = [θ_g; θ_h], e.g. known physics plus a neural
/// network (a universal differential equation, Rackauckas et al. 2020, "Universal
/// differential equations for scientific machine learning").
#pragma once

#include "nde/core/concepts.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <utility>

namespace nde {

/// \brief `f(t, y; θ) = g(t, y; θ_g) + h(t, y; θ_h)` with θ = [θ_g; θ_h].
/// Has every capability both parts have (vjp, time vjp, jvp). Costs one evaluation (one vjp)
/// of each part; keeps one scratch state.
/// \tparam G first part (its parameters come first). \tparam H second part.
/// \tparam State the state type the field is used with.
template <class G, class H, state State>
class sum_field {
 public:
  using scalar = scalar_of_t<State>;  ///< Scalar of states and parameters.
  /// \brief Autonomous when both parts are.
  static constexpr bool autonomous = autonomous_field<G> && autonomous_field<H>;

  /// \brief Sums `g` and `h`; θ_g comes first in θ.
  sum_field(G g, H h) : m_g(std::move(g)), m_h(std::move(h)) {}

  /// \brief Length of θ = [θ_g; θ_h].
  [[nodiscard]] Eigen::Index num_params() const { return m_g.num_params() + m_h.num_params(); }
  /// \brief Rows of the state, when either part knows them.
  [[nodiscard]] Eigen::Index state_rows() const requires(sized_field<G> || sized_field<H>) {
    if constexpr (sized_field<G>) {
      return m_g.state_rows();
    } else {
      return m_h.state_rows();
    }
  }
  /// \brief The first part.
  [[nodiscard]] G& first() noexcept { return m_g; }
  /// \brief The second part.
  [[nodiscard]] H& second() noexcept { return m_h; }

  /// \brief dy/dt = g(t, y; θ_g) + h(t, y; θ_h).
  template <class T>
  void operator()(T t, const State& y, params_view<scalar> theta, State& dydt) {
    m_g(t, y, head(theta), dydt);
    m_scratch.resizeLike(dydt);
    m_h(t, y, tail(theta), m_scratch);
    dydt += m_scratch;
  }

  /// \brief a_y = aᵀ(∂g/∂y + ∂h/∂y); a_theta += [aᵀ ∂g/∂θ_g; aᵀ ∂h/∂θ_h].
  template <class T>
  requires vjp_field<G, T, State> && vjp_field<H, T, State>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta) {
    m_g.vjp(t, y, head(theta), a, a_y, head(a_theta));
    m_scratch.resizeLike(a_y);
    m_h.vjp(t, y, tail(theta), a, m_scratch, tail(a_theta));
    a_y += m_scratch;
  }

  /// \brief The vjp with the time cotangent (both parts time-differentiable).
  template <class T>
  requires time_differentiable_field<G, T, State> && time_differentiable_field<H, T, State>
  void vjp(T t, const State& y, params_view<scalar> theta, const State& a, State& a_y,
           params_ref<scalar> a_theta, scalar& a_t) {
    detail::vjp_with_time(m_g, t, y, head(theta), a, a_y, head(a_theta), a_t);
    m_scratch.resizeLike(a_y);
    detail::vjp_with_time(m_h, t, y, tail(theta), a, m_scratch, tail(a_theta), a_t);
    a_y += m_scratch;
  }

  /// \brief out = jvp_g + jvp_h.
  template <class T>
  requires jvp_field<G, T, State> && jvp_field<H, T, State>
  void jvp(T t, const State& y, params_view<scalar> theta, const State& y_dot,
           params_view<scalar> theta_dot, scalar t_dot, State& out) {
    m_g.jvp(t, y, head(theta), y_dot, head(theta_dot), t_dot, out);
    m_scratch.resizeLike(out);
    m_h.jvp(t, y, tail(theta), y_dot, tail(theta_dot), t_dot, m_scratch);
    out += m_scratch;
  }

 private:
  params_view<scalar> head(params_view<scalar> theta) const {
    return params_view<scalar>(theta.head(m_g.num_params()));
  }
  params_view<scalar> tail(params_view<scalar> theta) const {
    return params_view<scalar>(theta.tail(m_h.num_params()));
  }
  params_ref<scalar> head(params_ref<scalar> theta) const {
    return params_ref<scalar>(theta.head(m_g.num_params()));
  }
  params_ref<scalar> tail(params_ref<scalar> theta) const {
    return params_ref<scalar>(theta.tail(m_h.num_params()));
  }

  G m_g;
  H m_h;
  State m_scratch = detail::zero_state<State>();
};

}  // namespace nde
