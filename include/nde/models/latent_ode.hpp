/// \file
/// \brief `nde::latent_ode`: the latent ODE of Rubanova, Chen & Duvenaud 2019 ("Latent ODEs
/// for irregularly-sampled time series", §3.2, eqs. 3–6), a variational autoencoder whose
/// encoder is an ODE-RNN run backward in time over the observations and whose decoder is a
/// neural ODE in latent space:
///
///     q(z₀ | x) = N(μ, diag σ²),  [μ; log σ²] = A h_enc(t₀) + a     (ODE-RNN, backward in time)
///     z₀ = μ + σ ⊙ ε,  ε ~ N(0, I)                                   (reparameterisation)
///     z(t) = ODESolve(g_φ, z₀, t₀, t),  x̂(t) = W z(t) + c           (decoder)
///     ELBO = Σ_{observed targets} log N(xᵢ; x̂(tᵢ), s²) − β KL(q(z₀|x) ‖ N(0, I))
///
/// `elbo_and_gradient` returns −ELBO and its exact gradient for a given ε (the
/// reparameterisation gradient: an unbiased estimate of ∇ of the expected ELBO); β < 1 is the
/// usual KL warm-up. One sample at a time with its own observation and target times.
///
/// θ = [encoder field network | encoder GRU (input 2D) | head A (2L × H, column-major), a (2L)
/// | decoder field network | readout W (D × L), c (D)].
#pragma once

#include "nde/models/ode_rnn.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <numbers>
#include <span>
#include <utility>
#include <vector>

namespace nde {

/// \brief Settings of the ELBO.
struct latent_ode_elbo_options {
  double obs_std = 0.1;  ///< s, the standard deviation of the Gaussian likelihood (data units).
  double beta = 1.0;     ///< KL weight (1: the ELBO; ramp it from 0 for warm-up).
};

/// \brief What `latent_ode::elbo_and_gradient` returns.
struct latent_ode_loss {
  double loss = 0;               ///< −(log-likelihood − β KL).
  double log_likelihood = 0;     ///< Σ log N(xᵢ; x̂ᵢ, s²) over observed targets.
  double kl = 0;                 ///< KL(q(z₀|x) ‖ N(0, I)).
  Eigen::VectorXd gradient;      ///< d loss / dθ.
  Eigen::MatrixXd prediction;    ///< D × q decoded values at the target times.
  Eigen::VectorXd mean;          ///< μ (L).
  Eigen::VectorXd log_variance;  ///< log σ² (L).
  nde::status status = nde::status::success;  ///< A solve can fail (e.g. step budget).
  std::string message;                        ///< Empty on success.
};

/// \brief Latent ODE (see the file comment). \tparam EncNet H → H network of the encoder's
/// ODE. \tparam DecNet L → L network of the decoder. \tparam Method solver of both.
/// \tparam Gradient gradient method of both.
template <class EncNet, class DecNet, class Method = dopri5, class Gradient = discrete_adjoint>
class latent_ode {
 public:
  using decoder_field = network_field<DecNet, Eigen::VectorXd>;  ///< The decoder's field.

  /// \brief Length of θ.
  [[nodiscard]] static Eigen::Index parameter_count(const EncNet& enc, const DecNet& dec,
                                                    Eigen::Index hidden, Eigen::Index latent,
                                                    Eigen::Index channels) {
    return enc.num_params() + nn::gru_cell(2 * channels, hidden).num_params() +
           2 * latent * hidden + 2 * latent + dec.num_params() + channels * latent + channels;
  }

  /// \brief A model with encoder hidden size `hidden`, latent size `latent`, `channels` data
  /// channels D and θ `theta`.
  /// \throws nde::error (invalid_input) on inconsistent sizes or a non-finite θ.
  latent_ode(EncNet enc, DecNet dec, Eigen::Index hidden, Eigen::Index latent,
             Eigen::Index channels, Eigen::VectorXd theta, ode_rnn_options options = {},
             Gradient gradient = {}, Method method = {})
      : m_channels(checked(channels, "channels")),
        m_latent(checked(latent, "latent")),
        m_encoder(std::move(enc), hidden, 2 * channels, gradient, method),
        m_dec_params(dec.num_params()),
        m_decoder(make_decoder(std::move(dec), std::move(gradient), std::move(method))),
        m_params(std::move(theta)),
        m_options(options) {
    if (m_decoder.field().state_rows() != latent)
      throw error(status::invalid_input,
                  detail::concatenate("latent_ode: the decoder network takes ",
                                      m_decoder.field().state_rows(),
                                      " inputs but the latent size is ", latent));
    check_params();
  }

  /// \brief θ (writable).
  [[nodiscard]] Eigen::VectorXd& params() noexcept { return m_params; }
  /// \brief θ, read-only.
  [[nodiscard]] const Eigen::VectorXd& params() const noexcept { return m_params; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const noexcept { return m_params.size(); }
  /// \brief Latent size L.
  [[nodiscard]] Eigen::Index latent() const noexcept { return m_latent; }
  /// \brief The solve settings (encoder and decoder).
  [[nodiscard]] ode_rnn_options& options() noexcept { return m_options; }

  /// \brief The posterior q(z₀ | x) at `t0` (≤ the first observation): {μ, log σ²}.
  /// \throws nde::error on a bad sample, `t0` after the first observation, or a failed solve.
  [[nodiscard]] std::pair<Eigen::VectorXd, Eigen::VectorXd> encode(const irregular_sample& s,
                                                                   double t0) {
    Eigen::VectorXd h = run_encoder(s, t0);
    const Eigen::VectorXd head = detail::linear_readout::apply(head_params(), 2 * m_latent, h);
    return {head.head(m_latent), head.tail(m_latent)};
  }

  /// \brief Decoded values (D × q) at `target_ts` (strictly increasing, ≥ t0) from z₀ = μ,
  /// the posterior mean.
  [[nodiscard]] Eigen::MatrixXd predict(const irregular_sample& s, double t0,
                                        std::span<const double> target_ts) {
    auto [mu, logvar] = encode(s, t0);
    return decode(mu, t0, target_ts, false);
  }

  /// \brief Decoded values (D × q) at `target_ts` from a given z₀ (L), e.g. a prior sample.
  [[nodiscard]] Eigen::MatrixXd decode(const Eigen::VectorXd& z0, double t0,
                                       std::span<const double> target_ts) {
    check_params();
    if (z0.size() != m_latent || !z0.allFinite())
      throw error(status::invalid_input,
                  detail::concatenate("latent_ode::decode: z0 must be ", m_latent,
                                      " finite entries (got ", z0.size(), ")"));
    return decode(z0, t0, target_ts, false);
  }

  /// \brief −ELBO for the noise `eps` (L) and its gradient. `targets` (D × q, NaN allowed where
  /// `target_mask` is 0; an empty mask means all observed) are the values at `target_ts`.
  /// \throws nde::error (invalid_input) on bad shapes, times or options.
  [[nodiscard]] latent_ode_loss elbo_and_gradient(const irregular_sample& s, double t0,
                                                  std::span<const double> target_ts,
                                                  const Eigen::MatrixXd& targets,
                                                  const Eigen::MatrixXd& target_mask,
                                                  const Eigen::VectorXd& eps,
                                                  latent_ode_elbo_options o = {}) {
    const auto q = Eigen::Index(target_ts.size());
    if (targets.rows() != m_channels || targets.cols() != q)
      throw error(
          status::invalid_input,
          detail::concatenate("latent_ode: targets are ", targets.rows(), "x", targets.cols(),
                              " but ", m_channels, "x", q, " were expected"));
    if (target_mask.size() != 0 && (target_mask.rows() != m_channels || target_mask.cols() != q))
      throw error(status::invalid_input, "latent_ode: the target mask has the wrong shape");
    if (eps.size() != m_latent || !eps.allFinite())
      throw error(status::invalid_input,
                  detail::concatenate("latent_ode: eps must be ", m_latent, " finite entries"));
    if (!(o.obs_std > 0) || !std::isfinite(o.obs_std) || !(o.beta >= 0) || !std::isfinite(o.beta))
      throw error(status::invalid_input,
                  "latent_ode: obs_std must be positive and beta non-negative, both finite");
    latent_ode_loss out;
    Eigen::VectorXd h_enc;
    try {
      h_enc = run_encoder(s, t0);
    } catch (const error& e) {
      if (e.code() == status::invalid_input) throw;
      out.status = e.code();
      out.message = e.what();
      return out;
    }
    const Eigen::VectorXd head = detail::linear_readout::apply(head_params(), 2 * m_latent, h_enc);
    out.mean = head.head(m_latent);
    out.log_variance = head.tail(m_latent);
    const Eigen::ArrayXd sigma = (0.5 * out.log_variance.array()).exp();
    const Eigen::VectorXd z0 = out.mean + (sigma * eps.array()).matrix();
    try {
      out.prediction = decode(z0, t0, target_ts, true);
    } catch (const error& e) {
      if (e.code() == status::invalid_input) throw;
      out.status = e.code();
      out.message = e.what();
      return out;
    }
    // Likelihood and its cotangent.
    const double s2 = o.obs_std * o.obs_std;
    const double log_norm = -0.5 * std::log(2 * std::numbers::pi * s2);
    Eigen::MatrixXd dpred = Eigen::MatrixXd::Zero(m_channels, q);
    for (Eigen::Index j = 0; j < q; ++j)
      for (Eigen::Index c = 0; c < m_channels; ++c) {
        const double m = target_mask.size() == 0 ? 1.0 : target_mask(c, j);
        if (m != 0.0 && m != 1.0)
          throw error(status::invalid_input, "latent_ode: target mask entries must be 0 or 1");
        if (m == 0.0) continue;
        if (!std::isfinite(targets(c, j)))
          throw error(status::invalid_input, detail::concatenate("latent_ode: observed target (", c,
                                                                 ", ", j, ") is not finite"));
        const double r = targets(c, j) - out.prediction(c, j);
        out.log_likelihood += log_norm - 0.5 * r * r / s2;
        dpred(c, j) = -r / s2;  // d(−log-likelihood)/dx̂
      }
    out.kl =
        0.5 * (sigma.square() + out.mean.array().square() - 1.0 - out.log_variance.array()).sum();
    out.loss = -(out.log_likelihood - o.beta * out.kl);
    out.gradient = Eigen::VectorXd::Zero(m_params.size());
    // Decoder: readout, then the latent ODE.
    const Eigen::Index enc_n = m_encoder.num_params(), head_n = head_size();
    const Eigen::Index dec_at = enc_n + head_n, dec_n = m_dec_params;
    const Eigen::Index read_at = dec_at + dec_n;
    Eigen::MatrixXd dz_cols =
        detail::linear_readout::backward(m_params.tail(m_params.size() - read_at), m_channels, m_z,
                                         dpred, out.gradient.tail(m_params.size() - read_at));
    std::vector<Eigen::VectorXd> cot(m_dec_ts.size(), Eigen::VectorXd::Zero(m_latent));
    for (Eigen::Index j = 0; j < q; ++j) cot[std::size_t(j + m_dec_offset)] += dz_cols.col(j);
    Eigen::VectorXd dz0;
    if (m_dec_ts.size() > 1) {
      auto g = m_decoder.backward(std::span<const Eigen::VectorXd>(cot.data(), cot.size()));
      if (g.status != status::success) {
        out.status = g.status;
        out.message = "latent_ode: " + g.message;
        return out;
      }
      out.gradient.segment(dec_at, dec_n) = g.params;
      dz0 = g.y0;
    } else {
      dz0 = cot[0];
    }
    // Reparameterisation and KL: z0 = μ + σ ε, σ = exp(v / 2).
    Eigen::VectorXd dhead(2 * m_latent);
    dhead.head(m_latent) = dz0 + o.beta * out.mean;
    dhead.tail(m_latent) =
        (0.5 * dz0.array() * sigma * eps.array() + 0.5 * o.beta * (sigma.square() - 1.0)).matrix();
    const Eigen::MatrixXd dh = detail::linear_readout::backward(
        head_params(), 2 * m_latent, h_enc, dhead, out.gradient.segment(enc_n, head_n));
    try {
      m_encoder.backward(Eigen::MatrixXd::Zero(m_encoder.hidden(), Eigen::Index(m_enc_t.size())),
                         dh.col(0), out.gradient.head(enc_n));
    } catch (const error& e) {
      out.status = e.code();
      out.message = e.what();
    }
    return out;
  }

 private:
  using decoder_model = neural_ode<decoder_field, Method, Gradient, Eigen::VectorXd>;

  static Eigen::Index checked(Eigen::Index n, const char* what) {
    if (n < 1)
      throw error(status::invalid_input,
                  detail::concatenate("latent_ode: ", what, " must be positive (got ", n, ")"));
    return n;
  }
  static decoder_model make_decoder(DecNet dec, Gradient gradient, Method method) {
    const Eigen::Index n = dec.num_params();
    return decoder_model(decoder_field(std::move(dec)), Eigen::VectorXd::Zero(n),
                         std::move(gradient), neural_ode_options{}, std::move(method));
  }
  void check_params() const {
    const Eigen::Index expected =
        m_encoder.num_params() + head_size() + m_dec_params + m_channels * (m_latent + 1);
    if (m_params.size() != expected)
      throw error(status::invalid_input,
                  detail::concatenate("latent_ode: θ has ", m_params.size(),
                                      " entries but this model needs ", expected,
                                      " (encoder field, GRU, head, decoder field, readout)"));
    if (!m_params.allFinite())
      throw error(status::invalid_input, "latent_ode: θ has a NaN or infinite entry");
  }
  // Entries of the head A (2L × H) and a (2L).
  [[nodiscard]] Eigen::Index head_size() const { return 2 * m_latent * (m_encoder.hidden() + 1); }
  [[nodiscard]] Eigen::Ref<const Eigen::VectorXd> head_params() const {
    return m_params.segment(m_encoder.num_params(), head_size());
  }
  // ODE-RNN from the last observation back to t0; returns h_enc(t0).
  Eigen::VectorXd run_encoder(const irregular_sample& s, double t0) {
    check_params();
    const Eigen::MatrixXd inputs = detail::sample_inputs(s, m_channels, "latent_ode");
    if (!std::isfinite(t0) || t0 > s.t.front())
      throw error(status::invalid_input,
                  detail::concatenate("latent_ode: t0 = ", t0,
                                      " must be finite and not after the first observation (",
                                      s.t.front(), ")"));
    const auto n = s.t.size();
    m_enc_t.assign(s.t.rbegin(), s.t.rend());
    m_enc_obs.resize(n);
    for (std::size_t j = 0; j < n; ++j) m_enc_obs[j] = Eigen::Index(n - 1 - j);
    m_encoder.configure(m_options);
    return m_encoder.forward(m_params.head(m_encoder.num_params()), m_enc_t, m_enc_obs, inputs, t0);
  }
  Eigen::MatrixXd decode(const Eigen::VectorXd& z0, double t0, std::span<const double> ts,
                         bool record) {
    detail::check_queries(ts, "latent_ode");
    if (ts.front() < t0)
      throw error(status::invalid_input, detail::concatenate("latent_ode: target time ", ts.front(),
                                                             " is before t0 = ", t0));
    m_dec_ts.clear();
    m_dec_offset = ts.front() == t0 ? 0 : 1;
    if (m_dec_offset == 1) m_dec_ts.push_back(t0);
    m_dec_ts.insert(m_dec_ts.end(), ts.begin(), ts.end());
    const Eigen::Index enc_n = m_encoder.num_params(), head_n = head_size();
    const Eigen::Index dec_n = m_dec_params;
    m_decoder.params() = m_params.segment(enc_n + head_n, dec_n);
    detail::configure_solve(m_options, m_decoder.options());
    m_z.resize(m_latent, Eigen::Index(ts.size()));
    if (m_dec_ts.size() == 1) {
      m_z.col(0) = z0;
    } else {
      const auto& r = record ? m_decoder.forward(z0, m_dec_ts) : m_decoder.predict(z0, m_dec_ts);
      if (!r.success()) throw error(r.status, "latent_ode: " + r.message);
      for (std::size_t j = 0; j < ts.size(); ++j)
        m_z.col(Eigen::Index(j)) = r.ys[j + std::size_t(m_dec_offset)];
    }
    const Eigen::Index read_at = enc_n + head_n + dec_n;
    return detail::linear_readout::apply(m_params.tail(m_params.size() - read_at), m_channels, m_z);
  }

  Eigen::Index m_channels;
  Eigen::Index m_latent;
  detail::ode_rnn_recurrence<EncNet, Method, Gradient> m_encoder;
  Eigen::Index m_dec_params;
  decoder_model m_decoder;
  Eigen::VectorXd m_params;
  ode_rnn_options m_options;
  std::vector<double> m_enc_t;
  std::vector<Eigen::Index> m_enc_obs;
  std::vector<double> m_dec_ts;
  Eigen::Index m_dec_offset = 0;
  Eigen::MatrixXd m_z;
};

}  // namespace nde
