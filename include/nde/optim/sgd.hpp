/// \file
/// \brief Stochastic gradient descent with optional momentum, Nesterov momentum and
/// L2 weight decay, acting on one flat parameter vector.
///
/// The update follows PyTorch's `torch.optim.SGD` formulation exactly (which
/// differs from Sutskever et al. 2013 by where the learning rate enters):
/// \f[
///   g_t = \nabla_\theta + \lambda \theta_{t-1}, \qquad
///   b_t = \begin{cases} g_t & t = 1 \\ \mu b_{t-1} + (1-\tau) g_t & t > 1 \end{cases}, \qquad
///   \theta_t = \theta_{t-1} - \gamma \cdot \begin{cases} g_t + \mu b_t & \text{Nesterov} \\ b_t & \text{otherwise} \end{cases}
/// \f]
/// with learning rate \f$\gamma\f$, momentum \f$\mu\f$, dampening \f$\tau\f$ and weight
/// decay \f$\lambda\f$. With \f$\mu = 0\f$ it is plain gradient descent.
#pragma once

#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <string>

namespace nde::optim {

/// \brief Hyper-parameters of \ref sgd (PyTorch's names and defaults, except that
/// the learning rate has a default).
template <class Scalar>
struct sgd_options {
  Scalar learning_rate = Scalar(1e-2);  ///< \f$\gamma \ge 0\f$.
  Scalar momentum = Scalar(0);          ///< \f$\mu \ge 0\f$.
  Scalar dampening = Scalar(0);         ///< \f$\tau\f$; must be 0 with Nesterov.
  Scalar weight_decay = Scalar(0);  ///< \f$\lambda \ge 0\f$ (coupled L2, added to the gradient).
  bool nesterov = false;            ///< Nesterov momentum; needs momentum > 0 and dampening 0.
};

/// \brief SGD on a flat parameter vector (PyTorch `torch.optim.SGD` semantics).
///
/// \tparam Scalar `float` or `double`.
///
/// Cost per step: O(n) flops, no allocation after construction (the momentum
/// buffer is allocated once, only when momentum is non-zero).
template <class Scalar>
class sgd {
 public:
  /// \brief Flat parameter and gradient vector.
  using vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  /// \brief Prepares an optimiser for `num_params` parameters.
  /// \throws nde::error (`invalid_input`) for a negative or non-finite learning rate, negative
  /// momentum or weight decay, or Nesterov without momentum / with dampening.
  explicit sgd(Eigen::Index num_params, sgd_options<Scalar> options = {}) : m_options(options) {
    const auto fail = [](const std::string& what) {
      throw error(status::invalid_input, "sgd: " + what);
    };
    if (num_params < 0) fail("num_params must be non-negative");
    if (!(options.learning_rate >= 0) || !std::isfinite(options.learning_rate))
      fail("learning_rate must be >= 0 and finite");
    if (!(options.momentum >= 0) || !std::isfinite(options.momentum))
      fail("momentum must be >= 0 and finite");
    if (!(options.weight_decay >= 0) || !std::isfinite(options.weight_decay))
      fail("weight_decay must be >= 0 and finite");
    if (!std::isfinite(options.dampening)) fail("dampening must be finite");
    if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
      fail("Nesterov momentum requires momentum > 0 and dampening = 0");
    if (options.momentum != 0) m_momentum_buffer = vector::Zero(num_params);
    m_size = num_params;
  }

  /// \brief One update \f$\theta \leftarrow \theta - \gamma \cdot (\ldots)\f$ in place.
  /// \param parameters the flat parameter vector (size `num_params`).
  /// \param gradient   \f$\partial L / \partial \theta\f$ at `parameters` (same size).
  /// \return `status::success`, or `status::non_finite` when `gradient` has a NaN or Inf
  /// entry: then nothing changes (parameters, momentum, step count) and `skipped_steps()`
  /// counts the call, so one bad batch cannot poison the momentum buffer.
  /// \throws nde::error (`invalid_input`) on a size mismatch.
  nde::status step(Eigen::Ref<vector> parameters, const Eigen::Ref<const vector>& gradient) {
    if (parameters.size() != m_size || gradient.size() != m_size)
      throw error(status::invalid_input, "sgd::step: parameters (" +
                                             std::to_string(parameters.size()) +
                                             ") and gradient (" + std::to_string(gradient.size()) +
                                             ") must both have size " + std::to_string(m_size));
    if (!gradient.allFinite()) {
      ++m_skipped_steps;
      return status::non_finite;
    }
    const Scalar lr = m_options.learning_rate;
    const Scalar wd = m_options.weight_decay;
    const Scalar mu = m_options.momentum;
    ++m_step_count;
    if (mu == 0) {
      parameters.array() -= lr * (gradient.array() + wd * parameters.array());
      return status::success;
    }
    auto buffer = m_momentum_buffer.array();
    const Scalar keep = Scalar(1) - m_options.dampening;
    for (Eigen::Index i = 0; i < m_size; ++i) {
      const Scalar g = gradient[i] + wd * parameters[i];
      buffer[i] = m_step_count == 1 ? g : mu * buffer[i] + keep * g;
      parameters[i] -= lr * (m_options.nesterov ? g + mu * buffer[i] : buffer[i]);
    }
    return status::success;
  }

  /// \brief Current learning rate (changed by schedules through \ref set_learning_rate).
  [[nodiscard]] Scalar learning_rate() const noexcept { return m_options.learning_rate; }
  /// \brief Sets the learning rate for the following steps.
  /// \throws nde::error if `learning_rate` is negative or not finite (0 is allowed, e.g. at the start of a warmup).
  void set_learning_rate(Scalar learning_rate) {
    if (!(learning_rate >= 0) || !std::isfinite(learning_rate))
      throw error(status::invalid_input, "sgd: learning_rate must be >= 0 and finite");
    m_options.learning_rate = learning_rate;
  }
  /// \brief Number of steps taken since construction or the last \ref reset.
  [[nodiscard]] std::int64_t step_count() const noexcept { return m_step_count; }
  /// \brief Number of calls of `step` refused for a NaN/Inf gradient.
  [[nodiscard]] std::int64_t skipped_steps() const noexcept { return m_skipped_steps; }
  /// \brief Length of the flat state for checkpoints: [step count, skipped steps, momentum
  /// buffer (n, or 0 without momentum)].
  [[nodiscard]] Eigen::Index state_size() const noexcept { return 2 + m_momentum_buffer.size(); }
  /// \brief Copies the state into `out` (size `state_size()`). \throws nde::error on a size
  /// mismatch.
  void write_state(Eigen::Ref<vector> out) const {
    if (out.size() != state_size())
      throw error(status::invalid_input, "sgd::write_state: the buffer has " +
                                             std::to_string(out.size()) + " entries, the state " +
                                             std::to_string(state_size()));
    out[0] = static_cast<Scalar>(m_step_count);
    out[1] = static_cast<Scalar>(m_skipped_steps);
    out.tail(m_momentum_buffer.size()) = m_momentum_buffer;
  }
  /// \brief Restores a state written by `write_state`. \throws nde::error if it has the wrong
  /// size, a NaN/Inf, or counts that are not whole numbers ≥ 0.
  void read_state(const Eigen::Ref<const vector>& in) {
    if (in.size() != state_size())
      throw error(status::invalid_input,
                  "sgd::read_state: the state has " + std::to_string(in.size()) +
                      " entries, this optimiser needs " + std::to_string(state_size()));
    if (!in.allFinite()) throw error(status::invalid_input, "sgd::read_state: NaN or Inf");
    for (int k = 0; k < 2; ++k)
      if (!(in[k] >= 0) || in[k] != std::floor(in[k]) || in[k] > Scalar(9.0e15))
        throw error(status::invalid_input, "sgd::read_state: bad step count");
    m_step_count = static_cast<std::int64_t>(in[0]);
    m_skipped_steps = static_cast<std::int64_t>(in[1]);
    m_momentum_buffer = in.tail(m_momentum_buffer.size());
  }
  /// \brief Forgets the momentum buffer and the step counts.
  void reset() {
    m_momentum_buffer.setZero();
    m_step_count = 0;
    m_skipped_steps = 0;
  }
  /// \brief The hyper-parameters in use.
  [[nodiscard]] const sgd_options<Scalar>& options() const noexcept { return m_options; }

 private:
  sgd_options<Scalar> m_options;
  vector m_momentum_buffer;
  Eigen::Index m_size = 0;
  std::int64_t m_step_count = 0;
  std::int64_t m_skipped_steps = 0;
};

}  // namespace nde::optim
