/// \file
/// \brief Adam (Kingma & Ba 2015, arXiv:1412.6980, Algorithm 1) and AdamW
/// (Loshchilov & Hutter 2019, arXiv:1711.05101, decoupled weight decay) on one flat
/// parameter vector, with bias correction and optional AMSGrad (Reddi, Kale & Kumar 2018,
/// "On the convergence of Adam and beyond").
///
/// Both follow PyTorch's `torch.optim.Adam` / `torch.optim.AdamW` formulation:
/// \f[
///   \begin{aligned}
///   &\text{AdamW only: } \theta \leftarrow \theta\,(1 - \gamma\lambda)
///   \\ &g_t = \nabla_\theta \;(+\,\lambda\theta \text{ for Adam, coupled L2})
///   \\ &m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2
///   \\ &\hat v_t = \max(\hat v_{t-1}, v_t) \text{ with AMSGrad, else } v_t
///   \\ &\theta \leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\;
///       \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}
///   \end{aligned}
/// \f]
/// Note that \f$\epsilon\f$ is added after the bias correction of \f$\sqrt{v}\f$, as
/// in PyTorch and Algorithm 1 of the paper.
///
/// **Numerics.** The second moment is kept as its square root \f$u = \sqrt{v}\f$, updated as
/// \f$u_t = \operatorname{hypot}(\sqrt{\beta_2}\,u_{t-1}, \sqrt{1-\beta_2}\,|g_t|)\f$, so
/// \f$g^2\f$ is never formed: a float gradient of 1e30 still moves the parameter by about the
/// learning rate instead of overflowing \f$v\f$ to Inf (which silently stops the update).
/// Where \f$\sqrt{\hat v}/\sqrt{1-\beta_2^t} + \epsilon = 0\f$ (every gradient so far zero and
/// \f$\epsilon = 0\f$) the update of that entry is 0, not 0/0.
///
/// **Non-finite gradients.** A gradient with a NaN or Inf entry is refused as a whole: `step`
/// changes nothing (parameters, moments, step count) and returns `status::non_finite`;
/// `skipped_steps()` counts such calls. One bad batch therefore cannot poison the moments.
#pragma once

#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace nde::optim {

/// \brief Hyper-parameters of \ref adam (PyTorch's defaults).
template <class Scalar>
struct adam_options {
  Scalar learning_rate = Scalar(1e-3);  ///< \f$\gamma \ge 0\f$.
  Scalar beta1 = Scalar(0.9);           ///< \f$\beta_1 \in [0, 1)\f$.
  Scalar beta2 = Scalar(0.999);         ///< \f$\beta_2 \in [0, 1)\f$.
  Scalar epsilon = Scalar(1e-8);        ///< \f$\epsilon \ge 0\f$.
  Scalar weight_decay = Scalar(0);      ///< \f$\lambda \ge 0\f$, coupled (added to the gradient).
  bool amsgrad = false;                 ///< Use the running maximum of \f$v_t\f$.
};

/// \brief Hyper-parameters of \ref adamw (PyTorch's defaults: weight decay 0.01).
template <class Scalar>
struct adamw_options {
  Scalar learning_rate = Scalar(1e-3);  ///< \f$\gamma \ge 0\f$.
  Scalar beta1 = Scalar(0.9);           ///< \f$\beta_1 \in [0, 1)\f$.
  Scalar beta2 = Scalar(0.999);         ///< \f$\beta_2 \in [0, 1)\f$.
  Scalar epsilon = Scalar(1e-8);        ///< \f$\epsilon \ge 0\f$.
  Scalar weight_decay = Scalar(1e-2);   ///< \f$\lambda \ge 0\f$, decoupled (shrinks \f$\theta\f$).
  bool amsgrad = false;                 ///< Use the running maximum of \f$v_t\f$.
};

namespace detail {

/// Shared engine: `Decoupled` selects AdamW's weight decay.
template <class Scalar, bool Decoupled>
class adam_engine {
 public:
  using vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

  template <class Options>
  adam_engine(Eigen::Index num_params, const Options& options, const char* name)
      : m_name(name),
        m_learning_rate(options.learning_rate),
        m_beta1(options.beta1),
        m_beta2(options.beta2),
        m_epsilon(options.epsilon),
        m_weight_decay(options.weight_decay),
        m_amsgrad(options.amsgrad),
        m_size(num_params) {
    const auto fail = [&](const std::string& what) {
      throw error(status::invalid_input, m_name + ": " + what);
    };
    const auto finite = [](Scalar x) { return std::isfinite(x); };
    if (num_params < 0) fail("num_params must be non-negative");
    if (!(m_learning_rate >= 0) || !finite(m_learning_rate))
      fail("learning_rate must be >= 0 and finite");
    if (!(m_beta1 >= 0 && m_beta1 < 1)) fail("beta1 must lie in [0, 1)");
    if (!(m_beta2 >= 0 && m_beta2 < 1)) fail("beta2 must lie in [0, 1)");
    if (!(m_epsilon >= 0) || !finite(m_epsilon)) fail("epsilon must be >= 0 and finite");
    if (!(m_weight_decay >= 0) || !finite(m_weight_decay))
      fail("weight_decay must be >= 0 and finite");
    m_first_moment = vector::Zero(num_params);
    m_root_second_moment = vector::Zero(num_params);
    if (m_amsgrad) m_max_root_second_moment = vector::Zero(num_params);
  }

  nde::status step(Eigen::Ref<vector> parameters, const Eigen::Ref<const vector>& gradient) {
    if (parameters.size() != m_size || gradient.size() != m_size)
      throw error(status::invalid_input, m_name + "::step: parameters (" +
                                             std::to_string(parameters.size()) +
                                             ") and gradient (" + std::to_string(gradient.size()) +
                                             ") must both have size " + std::to_string(m_size));
    if (!gradient.allFinite()) {
      ++m_skipped_steps;
      return status::non_finite;
    }
    ++m_step_count;
    // Bias corrections in closed form (beta^t), never accumulated products.
    const Scalar t = static_cast<Scalar>(m_step_count);
    const Scalar correction1 = Scalar(1) - std::pow(m_beta1, t);
    const Scalar sqrt_correction2 = std::sqrt(Scalar(1) - std::pow(m_beta2, t));
    const Scalar step_size = m_learning_rate / correction1;
    const Scalar decay = Scalar(1) - m_learning_rate * m_weight_decay;
    const Scalar keep = std::sqrt(m_beta2), add = std::sqrt(Scalar(1) - m_beta2);
    for (Eigen::Index i = 0; i < m_size; ++i) {
      Scalar g = gradient[i];
      if constexpr (Decoupled) {
        parameters[i] *= decay;
      } else {
        g += m_weight_decay * parameters[i];
      }
      m_first_moment[i] = m_beta1 * m_first_moment[i] + (Scalar(1) - m_beta1) * g;
      // sqrt(beta2 u² + (1 - beta2) g²) without forming g² (no overflow for huge g).
      m_root_second_moment[i] = std::hypot(keep * m_root_second_moment[i], add * std::abs(g));
      Scalar u = m_root_second_moment[i];
      if (m_amsgrad) u = m_max_root_second_moment[i] = std::max(m_max_root_second_moment[i], u);
      const Scalar denominator = u / sqrt_correction2 + m_epsilon;
      if (denominator > 0) parameters[i] -= step_size * m_first_moment[i] / denominator;
    }
    return status::success;
  }

  [[nodiscard]] Scalar learning_rate() const noexcept { return m_learning_rate; }
  void set_learning_rate(Scalar learning_rate) {
    if (!(learning_rate >= 0) || !std::isfinite(learning_rate))
      throw error(status::invalid_input, m_name + ": learning_rate must be >= 0 and finite");
    m_learning_rate = learning_rate;
  }
  [[nodiscard]] std::int64_t step_count() const noexcept { return m_step_count; }
  [[nodiscard]] std::int64_t skipped_steps() const noexcept { return m_skipped_steps; }
  [[nodiscard]] Eigen::Index state_size() const noexcept {
    return 2 + 2 * m_size + (m_amsgrad ? m_size : 0);
  }
  void write_state(Eigen::Ref<vector> out) const {
    if (out.size() != state_size())
      throw error(status::invalid_input, m_name + "::write_state: the buffer has " +
                                             std::to_string(out.size()) + " entries, the state " +
                                             std::to_string(state_size()));
    out[0] = static_cast<Scalar>(m_step_count);
    out[1] = static_cast<Scalar>(m_skipped_steps);
    out.segment(2, m_size) = m_first_moment;
    out.segment(2 + m_size, m_size) = m_root_second_moment;
    if (m_amsgrad) out.segment(2 + 2 * m_size, m_size) = m_max_root_second_moment;
  }
  void read_state(const Eigen::Ref<const vector>& in) {
    const auto fail = [&](const std::string& what) {
      throw error(status::invalid_input, m_name + "::read_state: " + what);
    };
    if (in.size() != state_size())
      fail("the state has " + std::to_string(in.size()) + " entries, this optimiser needs " +
           std::to_string(state_size()) + " (a different size or amsgrad setting?)");
    if (!in.allFinite()) fail("the state contains NaN or Inf");
    const auto count = [&](Scalar x) {
      if (!(x >= 0) || x != std::floor(x) || x > Scalar(9.0e15)) fail("bad step count");
      return static_cast<std::int64_t>(x);
    };
    const std::int64_t steps = count(in[0]), skipped = count(in[1]);
    if ((in.segment(2 + m_size, in.size() - 2 - m_size).array() < 0).any())
      fail("a square-root second moment is negative");
    m_step_count = steps;
    m_skipped_steps = skipped;
    m_first_moment = in.segment(2, m_size);
    m_root_second_moment = in.segment(2 + m_size, m_size);
    if (m_amsgrad) m_max_root_second_moment = in.segment(2 + 2 * m_size, m_size);
  }
  [[nodiscard]] const vector& first_moment() const noexcept { return m_first_moment; }
  [[nodiscard]] vector second_moment() const { return m_root_second_moment.array().square(); }
  [[nodiscard]] const vector& root_second_moment() const noexcept { return m_root_second_moment; }
  void reset() {
    m_first_moment.setZero();
    m_root_second_moment.setZero();
    m_max_root_second_moment.setZero();
    m_step_count = 0;
    m_skipped_steps = 0;
  }

 private:
  std::string m_name;
  Scalar m_learning_rate, m_beta1, m_beta2, m_epsilon, m_weight_decay;
  bool m_amsgrad;
  Eigen::Index m_size;
  std::int64_t m_step_count = 0;
  std::int64_t m_skipped_steps = 0;
  vector m_first_moment, m_root_second_moment, m_max_root_second_moment;
};

}  // namespace detail

/// \brief Adam with coupled L2 weight decay (PyTorch `torch.optim.Adam`).
///
/// \tparam Scalar `float` or `double`.
///
/// Interface: `step(parameters, gradient)` updates in place (O(n), no allocation) and returns
/// `status::success`, or `status::non_finite` when it refused a gradient with NaN/Inf (see the
/// file comment); `learning_rate()`, `set_learning_rate(lr)`, `step_count()`,
/// `skipped_steps()`, `reset()`, `first_moment()`, `second_moment()` (v, computed from
/// `root_second_moment()` = √v; it may overflow to Inf where √v does not). For checkpoints,
/// `state_size()`, `write_state(out)` and `read_state(in)` copy the whole state as one flat
/// vector: [step count, skipped steps, m, √v, max √v (AMSGrad only)]; `read_state` validates it
/// (size, finite, counts whole and ≥ 0, √v ≥ 0) and throws `nde::error` otherwise. The constructor
/// throws `nde::error` (`invalid_input`) for out-of-range hyper-parameters; `step` throws on a
/// size mismatch.
template <class Scalar>
class adam : public detail::adam_engine<Scalar, false> {
 public:
  /// \brief Prepares an optimiser for `num_params` parameters (allocates the moments once).
  explicit adam(Eigen::Index num_params, const adam_options<Scalar>& options = {})
      : detail::adam_engine<Scalar, false>(num_params, options, "adam") {}
};

/// \brief AdamW: Adam with decoupled weight decay (PyTorch `torch.optim.AdamW`):
/// the parameters shrink by \f$(1-\gamma\lambda)\f$ before the Adam update, and the
/// decay never enters the moments.
///
/// \tparam Scalar `float` or `double`. Same interface as \ref adam.
template <class Scalar>
class adamw : public detail::adam_engine<Scalar, true> {
 public:
  /// \brief Prepares an optimiser for `num_params` parameters (allocates the moments once).
  explicit adamw(Eigen::Index num_params, const adamw_options<Scalar>& options = {})
      : detail::adam_engine<Scalar, true>(num_params, options, "adamw") {}
};

}  // namespace nde::optim
