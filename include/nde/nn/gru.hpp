/// \file
/// \brief Gated recurrent unit cell (Cho et al. 2014; PyTorch `nn.GRUCell` gate order and
/// equations) on a batch of columns, with a hand-written vector–Jacobian product. The update
/// of an ODE-RNN and of the GRU baselines of Rubanova, Chen & Duvenaud 2019 ("Latent ODEs for
/// irregularly-sampled time series", §3).
#pragma once

#include "nde/core/parameter_layout.hpp"
#include "nde/core/status.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace nde::nn {

/// \brief GRU cell `h' = GRU(x, h)`:
///
///     r  = σ(W_ir x + b_ir + W_hr h + b_hr)
///     z  = σ(W_iz x + b_iz + W_hz h + b_hz)
///     n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
///     h' = (1 − z) ⊙ n + z ⊙ h
///
/// Parameters, in this order: `weight_ih` (3H × I: the r, z, n blocks stacked), `weight_hh`
/// (3H × H), `bias_ih` (3H), `bias_hh` (3H), matrices column-major. Inputs are I × B and
/// hidden states H × B (one column per sample). Forward cost ≈ 6H(I + H)·B flops; the vjp
/// twice that. Sizes are dynamic; the caller owns the cache (4H × B: r, z, n, W_hn h + b_hn).
class gru_cell {
 public:
  /// \brief Cell with `input` input rows and `hidden` hidden rows.
  /// \throws nde::error (invalid_input) unless both are positive.
  gru_cell(Eigen::Index input, Eigen::Index hidden) : m_in(input), m_hidden(hidden) {
    if (input <= 0 || hidden <= 0)
      throw error(status::invalid_input, "gru_cell: sizes must be positive (input " +
                                             std::to_string(input) + ", hidden " +
                                             std::to_string(hidden) + ")");
  }

  /// \brief Input rows I.
  [[nodiscard]] Eigen::Index input_size() const noexcept { return m_in; }
  /// \brief Hidden rows H.
  [[nodiscard]] Eigen::Index hidden_size() const noexcept { return m_hidden; }
  /// \brief 3H·I + 3H·H + 6H.
  [[nodiscard]] Eigen::Index num_params() const noexcept {
    return 3 * m_hidden * (m_in + m_hidden) + 6 * m_hidden;
  }
  /// \brief Cache rows per column: 4H.
  [[nodiscard]] Eigen::Index cache_size() const noexcept { return 4 * m_hidden; }

  /// \brief Appends `<prefix>weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (PyTorch's names).
  void append_layout(parameter_layout& layout, const std::string& prefix,
                     std::int64_t offset) const {
    const auto h3 = std::int64_t(3 * m_hidden), in = std::int64_t(m_in), h = std::int64_t(m_hidden);
    layout.push_back({prefix + "weight_ih", {h3, in}, offset});
    layout.push_back({prefix + "weight_hh", {h3, h}, offset + h3 * in});
    layout.push_back({prefix + "bias_ih", {h3}, offset + h3 * (in + h)});
    layout.push_back({prefix + "bias_hh", {h3}, offset + h3 * (in + h) + h3});
  }

  /// \brief `h_new = GRU(x, h)`; fills `cache` (resized to 4H × B) for `backward`.
  /// \throws nde::error (invalid_input) on wrong shapes.
  void forward(const Eigen::Ref<const Eigen::VectorXd>& theta,
               const Eigen::Ref<const Eigen::MatrixXd>& x,
               const Eigen::Ref<const Eigen::MatrixXd>& h, Eigen::MatrixXd& h_new,
               Eigen::MatrixXd& cache) const {
    check(theta, x, h);
    const Eigen::Index H = m_hidden, B = x.cols();
    cache.resize(4 * H, B);
    // Gate pre-activations from the input, then from the hidden state.
    m_gi.noalias() = w_ih(theta) * x;
    m_gi.colwise() += b_ih(theta);
    m_gh.noalias() = w_hh(theta) * h;
    m_gh.colwise() += b_hh(theta);
    auto r = cache.topRows(H);
    auto z = cache.middleRows(H, H);
    auto n = cache.middleRows(2 * H, H);
    auto g = cache.bottomRows(H);
    r = sigmoid(m_gi.topRows(H) + m_gh.topRows(H));
    z = sigmoid(m_gi.middleRows(H, H) + m_gh.middleRows(H, H));
    g = m_gh.bottomRows(H);
    n = (m_gi.bottomRows(H).array() + r.array() * g.array()).tanh().matrix();
    h_new.resize(H, B);
    h_new = ((1.0 - z.array()) * n.array() + z.array() * h.array()).matrix();
  }

  /// \brief Vector–Jacobian product at the point of the last `forward` (its `cache`):
  /// `dx = (∂h'/∂x)ᵀ dh_new`, `dh = (∂h'/∂h)ᵀ dh_new` (both overwritten) and
  /// `dtheta += (∂h'/∂θ)ᵀ dh_new`.
  void backward(const Eigen::Ref<const Eigen::VectorXd>& theta,
                const Eigen::Ref<const Eigen::MatrixXd>& x,
                const Eigen::Ref<const Eigen::MatrixXd>& h, const Eigen::MatrixXd& cache,
                const Eigen::Ref<const Eigen::MatrixXd>& dh_new, Eigen::MatrixXd& dx,
                Eigen::MatrixXd& dh, Eigen::Ref<Eigen::VectorXd> dtheta) const {
    check(theta, x, h);
    const Eigen::Index H = m_hidden, B = x.cols();
    if (cache.rows() != 4 * H || cache.cols() != B || dh_new.rows() != H || dh_new.cols() != B ||
        dtheta.size() != num_params())
      throw error(status::invalid_input,
                  "gru_cell::backward: cache, cotangent or parameter gradient has the wrong shape");
    const auto r = cache.topRows(H).array();
    const auto z = cache.middleRows(H, H).array();
    const auto n = cache.middleRows(2 * H, H).array();
    const auto g = cache.bottomRows(H).array();
    const auto d = dh_new.array();
    m_di.resize(3 * H, B);  // d(input pre-activations):  r, z, n
    m_dh.resize(3 * H, B);  // d(hidden pre-activations): r, z, W_hn h + b_hn
    const Eigen::ArrayXXd da_n = d * (1.0 - z) * (1.0 - n * n);
    m_di.topRows(H) = (da_n * g * r * (1.0 - r)).matrix();
    m_di.middleRows(H, H) = (d * (h.array() - n) * z * (1.0 - z)).matrix();
    m_di.bottomRows(H) = da_n.matrix();
    m_dh.topRows(2 * H) = m_di.topRows(2 * H);
    m_dh.bottomRows(H) = (da_n * r).matrix();
    dx.resize(m_in, B);
    dx.noalias() = w_ih(theta).transpose() * m_di;
    dh.resize(H, B);
    dh = (d * z).matrix();
    dh.noalias() += w_hh(theta).transpose() * m_dh;
    const Eigen::Index off_hh = 3 * H * m_in, off_b = 3 * H * (m_in + H);
    Eigen::Map<Eigen::MatrixXd>(dtheta.data(), 3 * H, m_in).noalias() += m_di * x.transpose();
    Eigen::Map<Eigen::MatrixXd>(dtheta.data() + off_hh, 3 * H, H).noalias() += m_dh * h.transpose();
    dtheta.segment(off_b, 3 * H) += m_di.rowwise().sum();
    dtheta.segment(off_b + 3 * H, 3 * H) += m_dh.rowwise().sum();
  }

 private:
  template <class M>
  static Eigen::MatrixXd sigmoid(const M& a) {
    return (1.0 / (1.0 + (-a.array()).exp())).matrix();
  }
  void check(const Eigen::Ref<const Eigen::VectorXd>& theta,
             const Eigen::Ref<const Eigen::MatrixXd>& x,
             const Eigen::Ref<const Eigen::MatrixXd>& h) const {
    if (theta.size() != num_params())
      throw error(status::invalid_input, "gru_cell: " + std::to_string(num_params()) +
                                             " parameters expected, got " +
                                             std::to_string(theta.size()));
    if (x.rows() != m_in || h.rows() != m_hidden || x.cols() != h.cols())
      throw error(status::invalid_input,
                  "gru_cell: input " + std::to_string(x.rows()) + "x" + std::to_string(x.cols()) +
                      " and hidden " + std::to_string(h.rows()) + "x" + std::to_string(h.cols()) +
                      " do not fit a cell of input " + std::to_string(m_in) + ", hidden " +
                      std::to_string(m_hidden));
  }
  [[nodiscard]] Eigen::Map<const Eigen::MatrixXd> w_ih(
      const Eigen::Ref<const Eigen::VectorXd>& t) const {
    return Eigen::Map<const Eigen::MatrixXd>(t.data(), 3 * m_hidden, m_in);
  }
  [[nodiscard]] Eigen::Map<const Eigen::MatrixXd> w_hh(
      const Eigen::Ref<const Eigen::VectorXd>& t) const {
    return Eigen::Map<const Eigen::MatrixXd>(t.data() + 3 * m_hidden * m_in, 3 * m_hidden,
                                             m_hidden);
  }
  [[nodiscard]] Eigen::Map<const Eigen::VectorXd> b_ih(
      const Eigen::Ref<const Eigen::VectorXd>& t) const {
    return {t.data() + 3 * m_hidden * (m_in + m_hidden), 3 * m_hidden};
  }
  [[nodiscard]] Eigen::Map<const Eigen::VectorXd> b_hh(
      const Eigen::Ref<const Eigen::VectorXd>& t) const {
    return {t.data() + 3 * m_hidden * (m_in + m_hidden) + 3 * m_hidden, 3 * m_hidden};
  }

  Eigen::Index m_in;
  Eigen::Index m_hidden;
  mutable Eigen::MatrixXd m_gi, m_gh, m_di, m_dh;  // workspaces: one cell per thread
};

}  // namespace nde::nn
