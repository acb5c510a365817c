/// \file
/// \brief Concepts for states, time scalars and vector fields, and the adapter that
/// turns a return-style field `f(t, y) -> State` into the in-place form.
///
/// The in-place form `f(t, y, dydt)` is what every solver calls: it lets a dynamic-size
/// state run without a heap allocation per evaluation. A return-style lambda is accepted
/// everywhere too (through `detail::evaluate`), at the price of one temporary per call.
#pragma once

#include <Eigen/Core>

#include <concepts>
#include <type_traits>
#include <utility>

namespace nde {

/// \brief A time scalar: `float`, `double` or `long double`, independent of the state scalar.
template <class T>
concept time_scalar = std::floating_point<T>;

/// \brief A state: a plain Eigen matrix (fixed or dynamic size). A column vector is one
/// state; a matrix with several columns is a batch of states that share one step size.
template <class State>
concept state = std::is_base_of_v<Eigen::PlainObjectBase<State>, State> &&
    std::is_base_of_v<Eigen::MatrixBase<State>, State> &&
    std::floating_point<typename State::Scalar>;

/// \brief Scalar type of a state (`float` or `double`).
template <state State>
using scalar_of_t = typename State::Scalar;

/// \brief A vector field written in place: `f(t, y, dydt)` writes dy/dt into `dydt`, which
/// arrives sized like `y`. This is the allocation-free form.
template <class F, class T, class State>
concept in_place_vector_field = requires(F& f, T t, const State& y, State& dydt) {
  f(t, y, dydt);
};

/// \brief A vector field that returns the derivative: `f(t, y) -> State` (or any Eigen
/// expression assignable to a `State`).
template <class F, class T, class State>
concept returning_vector_field = requires(F& f, T t, const State& y, State& dydt) {
  dydt = f(t, y);
};

/// \brief Either form of vector field. The in-place form wins when both are callable.
template <class F, class T, class State>
concept vector_field = in_place_vector_field<F, T, State> || returning_vector_field<F, T, State>;

/// \brief Wraps a return-style field `f(t, y) -> State` so it can be called in place as
/// `f(t, y, dydt)`. Each call still builds one temporary for dynamic sizes.
/// \tparam F the wrapped callable.
template <class F>
struct in_place_adapter {
  F field;  ///< The return-style vector field.

  /// \brief Evaluates `dydt = field(t, y)`.
  template <class T, class State>
  void operator()(T t, const State& y, State& dydt) {
    dydt = field(t, y);
  }
};

/// \brief Makes an `in_place_adapter` from a return-style field.
template <class F>
[[nodiscard]] in_place_adapter<std::decay_t<F>> make_in_place(F&& f) {
  return {std::forward<F>(f)};
}

namespace detail {

/// A state of the compile-time shape, zero-filled when its size is fixed (empty otherwise), so
/// that a default "shape only" argument is never an uninitialised fixed-size matrix.
template <state State>
State zero_state() {
  State s;
  if constexpr (State::SizeAtCompileTime != Eigen::Dynamic) s.setZero();
  return s;
}

/// Calls either form of vector field, writing the derivative into `dydt`.
template <class F, class T, class State>
void evaluate(F& f, T t, const State& y, State& dydt) {
  if constexpr (in_place_vector_field<F, T, State>) {
    f(t, y, dydt);
  } else {
    static_assert(returning_vector_field<F, T, State>,
                  "the vector field must be callable as f(t, y, dydt) or as dydt = f(t, y)");
    dydt = f(t, y);
  }
}

}  // namespace detail
}  // namespace nde
