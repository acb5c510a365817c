/// \file
/// \brief Status codes shared by every solver, model and file reader, and the
/// exception that the throwing convenience wrappers raise.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace nde {

/// \brief Outcome of a solve, a backward pass or a file operation.
///
/// Failures are reported as values: the partial result up to the failure is
/// still returned next to the status and a human-readable message.
enum class status {
  success,              ///< Finished normally.
  max_steps_reached,    ///< The step budget (`max_steps`) ran out before the end time.
  step_size_too_small,  ///< The controller asked for |dt| below `dtmin`, or t + dt == t.
  non_finite,           ///< NaN or Inf appeared in the state or in the vector field.
  invalid_input,        ///< The arguments were inconsistent (see the message).
  /// A backward pass that rebuilds the forward states (`reversible_adjoint`) drifted from
  /// them past its tolerance: the gradient is not that of the forward solve.
  reconstruction_failed,
  /// An implicit method's Newton iteration did not converge, or its iteration matrix
  /// `I − hγJ` was singular or not finite, and shrinking the step (where the controller can)
  /// did not help.
  not_converged,
};

/// \brief Stable lower-case name of a status, e.g. `"max_steps_reached"`.
constexpr std::string_view to_string(status s) noexcept {
  switch (s) {
    case status::success: return "success";
    case status::max_steps_reached: return "max_steps_reached";
    case status::step_size_too_small: return "step_size_too_small";
    case status::non_finite: return "non_finite";
    case status::invalid_input: return "invalid_input";
    case status::reconstruction_failed: return "reconstruction_failed";
    case status::not_converged: return "not_converged";
  }
  return "unknown";
}

/// \brief Exception thrown by the throwing wrappers (and by constructors given bad
/// arguments). Carries the status code; `what()` names the problem.
class error : public std::runtime_error {
 public:
  /// \brief Error with status `code`; `what()` reads `"<code name>: <message>"`.
  error(status code, const std::string& message)
      : std::runtime_error(std::string(to_string(code)) + ": " + message), m_code(code) {}

  /// \brief The status code that caused the exception.
  [[nodiscard]] status code() const noexcept { return m_code; }

 private:
  status m_code;
};

}  // namespace nde
