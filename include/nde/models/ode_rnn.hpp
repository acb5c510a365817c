/// \file
/// \brief Recurrent models of irregularly sampled sequences (Rubanova, Chen & Duvenaud 2019,
/// "Latent ODEs for irregularly-sampled time series"): the ODE-RNN (§3, Algorithm 1: the hidden
/// state follows dh/dt = f_θ(h) between observations and a GRU update at each one) and the
/// GRU-Δt baseline (a GRU whose input carries the time gap), both with a linear readout and
/// hand-written gradients. One sample at a time, each with its own observation and query
/// times (no padding, no union grid); `nde::latent_ode` uses the ODE-RNN as its encoder.
///
/// \code
/// nde::irregular_sample s{times, values};                  // D × n values, times increasing
/// nde::ode_rnn<net_type> model(net, hidden, D, theta);     // net: H -> ... -> H
/// auto r = model.loss_and_gradient(s, query_ts, [&](const Eigen::MatrixXd& p, Eigen::MatrixXd& dp) {
///   return nde::optim::mse_loss(p, targets, dp); });        // p: D × q predictions
/// \endcode
///
/// Predictions at a query time use only observations strictly before it (the hidden state
/// h(t⁻) before the update at t), so the models forecast one step ahead and extrapolate past
/// the last observation.
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/nn/gru.hpp"
#include "nde/solvers/dopri5.hpp"
#include "nde/step_size/pid_controller.hpp"
#include "nde/terms/network_field.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace nde {

/// \brief One irregularly observed sample: strictly increasing finite times `t` (length n),
/// values `x` (D × n, column j observed at t[j]) and an optional `mask` (D × n, 1 = observed,
/// 0 = missing; empty means every value is observed). Missing values may be NaN.
struct irregular_sample {
  std::vector<double> t;  ///< Observation times, strictly increasing.
  Eigen::MatrixXd x;      ///< D × n values.
  Eigen::MatrixXd mask;   ///< D × n, entries 0 or 1; empty: all observed.
};

/// \brief What the models' `loss_and_gradient` return.
struct sequence_loss {
  double loss = 0;                            ///< The caller's loss of the predictions.
  Eigen::VectorXd gradient;                   ///< dL/dθ (the whole flat vector).
  Eigen::MatrixXd prediction;                 ///< D × q predictions at the query times.
  nde::status status = nde::status::success;  ///< An ODE solve can fail (e.g. step budget).
  std::string message;                        ///< Empty on success.
};

/// \brief Settings of the ODE solves between observations.
struct ode_rnn_options {
  double rtol = 1e-4;               ///< Relative tolerance of the adaptive solves.
  double atol = 1e-6;               ///< Absolute tolerance.
  double dt = 0;                    ///< > 0: constant steps of this size instead (e.g. rk4).
  std::int64_t max_steps = 100000;  ///< Step budget of each solve.
};

namespace detail {

/// Checks a sample and returns its GRU inputs [x ⊙ m; m] (2D × n; NaN where m = 0 becomes 0).
inline Eigen::MatrixXd sample_inputs(const irregular_sample& s, Eigen::Index channels,
                                     const char* who) {
  const auto n = static_cast<Eigen::Index>(s.t.size());
  if (n == 0)
    throw error(status::invalid_input, concatenate(who, ": the sample has no observations"));
  if (s.x.rows() != channels || s.x.cols() != n)
    throw error(status::invalid_input,
                concatenate(who, ": values are ", s.x.rows(), "x", s.x.cols(), " but ", channels,
                            " channels at ", n, " times were expected"));
  if (s.mask.size() != 0 && (s.mask.rows() != channels || s.mask.cols() != n))
    throw error(status::invalid_input,
                concatenate(who, ": the mask is ", s.mask.rows(), "x", s.mask.cols(),
                            ", not the values' ", channels, "x", n));
  for (Eigen::Index j = 0; j < n; ++j) {
    if (!std::isfinite(s.t[std::size_t(j)]))
      throw error(status::invalid_input,
                  concatenate(who, ": observation time ", j, " is not finite"));
    if (j > 0 && !(s.t[std::size_t(j)] > s.t[std::size_t(j - 1)]))
      throw error(status::invalid_input,
                  concatenate(who, ": observation times must increase strictly (t[", j - 1,
                              "] = ", s.t[std::size_t(j - 1)], ", t[", j,
                              "] = ", s.t[std::size_t(j)], ")"));
  }
  Eigen::MatrixXd in(2 * channels, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index c = 0; c < channels; ++c) {
      const double m = s.mask.size() == 0 ? 1.0 : s.mask(c, j);
      if (m != 0.0 && m != 1.0)
        throw error(status::invalid_input,
                    concatenate(who, ": mask entries must be 0 or 1 (entry ", c, ", ", j, ")"));
      const double v = s.x(c, j);
      if (m == 1.0 && !std::isfinite(v))
        throw error(status::invalid_input,
                    concatenate(who, ": observed value (", c, ", ", j, ") is not finite"));
      in(c, j) = m == 1.0 ? v : 0.0;
      in(channels + c, j) = m;
    }
  return in;
}

/// Checks query times: finite and strictly increasing, at least one.
inline void check_queries(std::span<const double> ts, const char* who) {
  if (ts.empty()) throw error(status::invalid_input, concatenate(who, ": no query times"));
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (!std::isfinite(ts[i]))
      throw error(status::invalid_input, concatenate(who, ": query time ", i, " is not finite"));
    if (i > 0 && !(ts[i] > ts[i - 1]))
      throw error(status::invalid_input,
                  concatenate(who, ": query times must increase strictly (ts[", i - 1,
                              "] = ", ts[i - 1], ", ts[", i, "] = ", ts[i], ")"));
  }
}

/// The controller and step budget of `o` on a neural ODE's settings.
inline void configure_solve(const ode_rnn_options& o, neural_ode_options& d) {
  if (o.dt > 0)
    d.controller = constant_step{.dt = o.dt};
  else
    d.controller = pid_controller{.rtol = o.rtol, .atol = o.atol};
  d.max_steps = o.max_steps;
}

/// Columns of `states` at the query events (`query[j]` ≥ 0), in query order (q columns).
inline Eigen::MatrixXd query_columns(const Eigen::MatrixXd& states,
                                     const std::vector<Eigen::Index>& query, std::size_t q) {
  Eigen::MatrixXd out(states.rows(), Eigen::Index(q));
  for (std::size_t j = 0; j < query.size(); ++j)
    if (query[j] >= 0) out.col(query[j]) = states.col(Eigen::Index(j));
  return out;
}

/// The events of one pass: sorted times with the sample column observed there (or -1) and the
/// query index reported there (or -1).
struct sequence_events {
  std::vector<double> t;
  std::vector<Eigen::Index> observation;
  std::vector<Eigen::Index> query;
};

/// Merges increasing observation times and increasing query times into one increasing list.
inline sequence_events merge_events(std::span<const double> obs, std::span<const double> qs) {
  sequence_events e;
  std::size_t i = 0, k = 0;
  while (i < obs.size() || k < qs.size()) {
    const bool take_obs = k == qs.size() || (i < obs.size() && obs[i] <= qs[k]);
    const bool take_query = i == obs.size() || (k < qs.size() && qs[k] <= obs[i]);
    e.t.push_back(take_obs ? obs[i] : qs[k]);
    e.observation.push_back(take_obs ? Eigen::Index(i++) : -1);
    e.query.push_back(take_query ? Eigen::Index(k++) : -1);
  }
  return e;
}

/// The ODE-RNN recurrence over a list of events travelled in either direction, with its
/// reverse pass. θ = [field network | GRU]. h(τ₀⁻) = 0; at each event the pre-update state
/// h(τⱼ⁻) is kept, an observed event applies the GRU, and the ODE carries h to the next event
/// (the last one to `t_end`). The backward pass re-solves each segment from its stored start
/// (the tape of one segment at a time) and runs the gradient method over it.
template <class Net, class Method, class Gradient>
class ode_rnn_recurrence {
 public:
  using field_type = network_field<Net, Eigen::VectorXd>;
  using model_type = neural_ode<field_type, Method, Gradient, Eigen::VectorXd>;

  ode_rnn_recurrence(Net net, Eigen::Index hidden, Eigen::Index gru_input, Gradient gradient,
                     Method method)
      : m_cell(gru_input, hidden),
        m_field_params(net.num_params()),
        m_ode(make_model(std::move(net), std::move(gradient), std::move(method))) {
    if (m_ode.field().state_rows() != hidden)
      throw error(status::invalid_input,
                  concatenate("ode_rnn: the field network takes ", m_ode.field().state_rows(),
                              " inputs but the hidden size is ", hidden));
  }

  [[nodiscard]] Eigen::Index field_params() const { return m_field_params; }
  [[nodiscard]] Eigen::Index num_params() const { return field_params() + m_cell.num_params(); }
  [[nodiscard]] Eigen::Index hidden() const { return m_cell.hidden_size(); }
  [[nodiscard]] const nn::gru_cell& cell() const { return m_cell; }

  void configure(const ode_rnn_options& o) { configure_solve(o, m_ode.options()); }

  /// h(τⱼ⁻) of the last `forward`, H × m.
  [[nodiscard]] const Eigen::MatrixXd& pre() const noexcept { return m_pre; }

  /// Runs over `times` (monotone, either direction) with GRU inputs `inputs.col(observed[j])`
  /// where observed[j] ≥ 0, ending at `t_end`. Returns the final state h(t_end); `pre()`
  /// holds h(τⱼ⁻) (H × m). Records what `backward` needs.
  Eigen::VectorXd forward(const Eigen::Ref<const Eigen::VectorXd>& theta,
                          const std::vector<double>& times,
                          const std::vector<Eigen::Index>& observed, const Eigen::MatrixXd& inputs,
                          double t_end) {
    const Eigen::Index H = hidden(), m = Eigen::Index(times.size());
    m_ode.params() = theta.head(field_params());
    m_theta_gru = theta.segment(field_params(), m_cell.num_params());
    m_times = times;
    m_times.push_back(t_end);
    m_observed = observed;
    m_inputs = inputs;
    m_pre.resize(H, m);
    m_post.resize(H, m);
    m_caches.resize(std::size_t(m));
    Eigen::VectorXd h = Eigen::VectorXd::Zero(H);
    Eigen::MatrixXd h_new;
    for (Eigen::Index j = 0; j < m; ++j) {
      m_pre.col(j) = h;
      if (observed[std::size_t(j)] >= 0) {
        m_cell.forward(m_theta_gru, inputs.col(observed[std::size_t(j)]), h, h_new,
                       m_caches[std::size_t(j)]);
        h = h_new.col(0);
      }
      m_post.col(j) = h;
      h = segment(j, h);
    }
    return h;
  }

  /// Gradient of the last `forward` from dL/dh(τⱼ⁻) (`d_pre`, H × m) and dL/dh(t_end):
  /// adds dL/dθ into `dtheta` (length num_params()).
  void backward(const Eigen::MatrixXd& d_pre, const Eigen::VectorXd& d_end,
                Eigen::Ref<Eigen::VectorXd> dtheta) {
    const Eigen::Index m = Eigen::Index(m_times.size()) - 1;
    Eigen::VectorXd a = d_end;
    Eigen::MatrixXd dx, dh;
    auto d_field = dtheta.head(field_params());
    auto d_gru = dtheta.segment(field_params(), m_cell.num_params());
    for (Eigen::Index j = m - 1; j >= 0; --j) {
      const double t0 = m_times[std::size_t(j)], t1 = m_times[std::size_t(j + 1)];
      if (t1 != t0) {
        const std::array<double, 2> ts{t0, t1};
        const Eigen::VectorXd start = m_post.col(j);
        const auto& r = m_ode.forward(start, ts);
        if (!r.success()) throw error(r.status, "ode_rnn: " + r.message);
        const std::array<Eigen::VectorXd, 2> cot{Eigen::VectorXd::Zero(a.size()), a};
        auto g = m_ode.backward(std::span<const Eigen::VectorXd>(cot.data(), cot.size()));
        if (g.status != status::success) throw error(g.status, "ode_rnn: " + g.message);
        d_field += g.params;
        a = g.y0;
      }
      if (m_observed[std::size_t(j)] >= 0) {
        m_cell.backward(m_theta_gru, m_inputs.col(m_observed[std::size_t(j)]), m_pre.col(j),
                        m_caches[std::size_t(j)], a, dx, dh, d_gru);
        a = dh.col(0);
      }
      a += d_pre.col(j);
    }
  }

 private:
  static model_type make_model(Net net, Gradient gradient, Method method) {
    const Eigen::Index n = net.num_params();
    return model_type(field_type(std::move(net)), Eigen::VectorXd::Zero(n), std::move(gradient),
                      neural_ode_options{}, std::move(method));
  }

  Eigen::VectorXd segment(Eigen::Index j, const Eigen::VectorXd& h) {
    const double t0 = m_times[std::size_t(j)], t1 = m_times[std::size_t(j + 1)];
    if (t1 == t0) return h;
    const std::array<double, 2> ts{t0, t1};
    const auto& r = m_ode.predict(h, ts);
    if (!r.success()) throw error(r.status, "ode_rnn: " + r.message);
    return r.ys.back();
  }

  nn::gru_cell m_cell;
  Eigen::Index m_field_params;
  model_type m_ode;
  Eigen::VectorXd m_theta_gru;
  std::vector<double> m_times;
  std::vector<Eigen::Index> m_observed;
  Eigen::MatrixXd m_inputs, m_pre, m_post;
  std::vector<Eigen::MatrixXd> m_caches;
};

/// Readout y = W h + c on columns, and its gradient.
struct linear_readout {
  static Eigen::MatrixXd apply(const Eigen::Ref<const Eigen::VectorXd>& p, Eigen::Index out,
                               const Eigen::MatrixXd& h) {
    const Eigen::Map<const Eigen::MatrixXd> w(p.data(), out, h.rows());
    Eigen::MatrixXd y = w * h;
    y.colwise() += p.segment(out * h.rows(), out);
    return y;
  }
  /// Adds dL/d(W, c) into `dp`; returns dL/dh.
  static Eigen::MatrixXd backward(const Eigen::Ref<const Eigen::VectorXd>& p, Eigen::Index out,
                                  const Eigen::MatrixXd& h, const Eigen::MatrixXd& dy,
                                  Eigen::Ref<Eigen::VectorXd> dp) {
    const Eigen::Map<const Eigen::MatrixXd> w(p.data(), out, h.rows());
    Eigen::Map<Eigen::MatrixXd>(dp.data(), out, h.rows()).noalias() += dy * h.transpose();
    dp.segment(out * h.rows(), out) += dy.rowwise().sum();
    return w.transpose() * dy;
  }
};

template <class Loss>
double call_loss(Loss& loss, const Eigen::MatrixXd& prediction, Eigen::MatrixXd& dp,
                 const char* who) {
  dp = Eigen::MatrixXd::Zero(prediction.rows(), prediction.cols());
  const double value = static_cast<double>(loss(prediction, dp));
  if (dp.rows() != prediction.rows() || dp.cols() != prediction.cols() || !dp.allFinite())
    throw error(status::invalid_input,
                concatenate(who,
                            ": the loss must write a finite dL/dprediction of the "
                            "predictions' shape"));
  return value;
}

}  // namespace detail

/// \brief ODE-RNN forecaster (Rubanova et al. 2019, Algorithm 1, run forward in time): h = 0
/// before the first event; between events dh/dt = f_θ(h); at each observation
/// h ← GRU([x ⊙ m; m], h); the prediction at a query time t is W h(t⁻) + c.
///
/// θ = [field network | GRU (input 2D, hidden H; `nn::gru_cell` layout) | readout W (D × H,
/// column-major), c (D)]. The gradient is exact for the discrete solves (any gradient method
/// of `nde::solve`; the backward pass re-solves each segment once). Cost per sample: one solve
/// per gap between events forward, two backward.
/// \tparam Net H → H network. \tparam Method solver. \tparam Gradient gradient method.
template <class Net, class Method = dopri5, class Gradient = discrete_adjoint>
class ode_rnn {
 public:
  /// \brief Length of θ.
  [[nodiscard]] static Eigen::Index parameter_count(const Net& net, Eigen::Index hidden,
                                                    Eigen::Index channels) {
    return net.num_params() + nn::gru_cell(2 * channels, hidden).num_params() + channels * hidden +
           channels;
  }

  /// \brief A model with hidden size `hidden`, `channels` data channels D and θ `theta`.
  /// \throws nde::error (invalid_input) on inconsistent sizes or a non-finite θ.
  ode_rnn(Net net, Eigen::Index hidden, Eigen::Index channels, Eigen::VectorXd theta,
          ode_rnn_options options = {}, Gradient gradient = {}, Method method = {})
      : m_channels(channels),
        m_rnn(std::move(net), hidden, 2 * checked_channels(channels), std::move(gradient),
              std::move(method)),
        m_params(std::move(theta)),
        m_options(options) {
    check_params();
  }

  /// \brief θ (writable).
  [[nodiscard]] Eigen::VectorXd& params() noexcept { return m_params; }
  /// \brief θ, read-only.
  [[nodiscard]] const Eigen::VectorXd& params() const noexcept { return m_params; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const noexcept { return m_params.size(); }
  /// \brief The solve settings.
  [[nodiscard]] ode_rnn_options& options() noexcept { return m_options; }

  /// \brief Predictions (D × q) at `query_ts` (strictly increasing) from the sample's
  /// observations before each query time.
  /// \throws nde::error on a bad sample or query times, or a failed solve.
  [[nodiscard]] Eigen::MatrixXd predict(const irregular_sample& s,
                                        std::span<const double> query_ts) {
    return run(s, query_ts);
  }

  /// \brief `loss(prediction, dL/dprediction)` of the predictions at `query_ts`, and dL/dθ.
  /// \throws nde::error (invalid_input) on a bad sample, bad query times or a non-finite dL/dp.
  template <class Loss>
  [[nodiscard]] sequence_loss loss_and_gradient(const irregular_sample& s,
                                                std::span<const double> query_ts, Loss&& loss) {
    sequence_loss out;
    try {
      out.prediction = run(s, query_ts);
    } catch (const error& e) {
      if (e.code() == status::invalid_input) throw;
      out.status = e.code();
      out.message = e.what();
      return out;
    }
    Eigen::MatrixXd dp;
    out.loss = detail::call_loss(loss, out.prediction, dp, "ode_rnn::loss_and_gradient");
    out.gradient = Eigen::VectorXd::Zero(m_params.size());
    const Eigen::Index at = m_rnn.num_params();
    const Eigen::MatrixXd dhq =
        detail::linear_readout::backward(m_params.tail(m_params.size() - at), m_channels, m_hq, dp,
                                         out.gradient.tail(m_params.size() - at));
    const Eigen::MatrixXd& pre = m_rnn.pre();
    Eigen::MatrixXd d_pre = Eigen::MatrixXd::Zero(pre.rows(), pre.cols());
    for (std::size_t j = 0; j < m_events.t.size(); ++j)
      if (m_events.query[j] >= 0) d_pre.col(Eigen::Index(j)) = dhq.col(m_events.query[j]);
    try {
      m_rnn.backward(d_pre, Eigen::VectorXd::Zero(pre.rows()), out.gradient.head(at));
    } catch (const error& e) {
      out.status = e.code();
      out.message = e.what();
    }
    return out;
  }

 private:
  static Eigen::Index checked_channels(Eigen::Index c) {
    if (c < 1)
      throw error(status::invalid_input,
                  detail::concatenate("ode_rnn: channels must be positive (got ", c, ")"));
    return c;
  }
  void check_params() const {
    const Eigen::Index expected = m_rnn.num_params() + m_channels * m_rnn.hidden() + m_channels;
    if (m_params.size() != expected)
      throw error(
          status::invalid_input,
          detail::concatenate("ode_rnn: θ has ", m_params.size(), " entries but this model needs ",
                              expected, " (field network, GRU, readout)"));
    if (!m_params.allFinite())
      throw error(status::invalid_input, "ode_rnn: θ has a NaN or infinite entry");
  }
  // Solves and fills m_hq (the hidden states at the query times); returns the predictions.
  Eigen::MatrixXd run(const irregular_sample& s, std::span<const double> query_ts) {
    check_params();
    const Eigen::MatrixXd inputs = detail::sample_inputs(s, m_channels, "ode_rnn");
    detail::check_queries(query_ts, "ode_rnn");
    m_events = detail::merge_events(s.t, query_ts);
    m_rnn.configure(m_options);
    (void)m_rnn.forward(m_params.head(m_rnn.num_params()), m_events.t, m_events.observation, inputs,
                        m_events.t.back());
    m_hq = detail::query_columns(m_rnn.pre(), m_events.query, query_ts.size());
    const Eigen::Index at = m_rnn.num_params();
    return detail::linear_readout::apply(m_params.tail(m_params.size() - at), m_channels, m_hq);
  }

  Eigen::Index m_channels;
  detail::ode_rnn_recurrence<Net, Method, Gradient> m_rnn;
  Eigen::VectorXd m_params;
  ode_rnn_options m_options;
  detail::sequence_events m_events;
  Eigen::MatrixXd m_hq;
};

/// \brief GRU-Δt baseline (Rubanova et al. 2019, §4 "RNN-Δt"): a GRU over the merged events
/// of observations and queries, with input [x ⊙ m; m; Δt] where Δt is the gap to the next
/// event (m = 0 and x = 0 at pure query events); the prediction at event j is W h_{j−1} + c, so
/// it sees only earlier observations and the time elapsed since.
///
/// θ = [GRU (input 2D + 1, hidden H) | readout W (D × H), c (D)]. Cost per sample: one GRU step
/// per event forward, one vjp per event backward.
class gru_forecaster {
 public:
  /// \brief Length of θ.
  [[nodiscard]] static Eigen::Index parameter_count(Eigen::Index hidden, Eigen::Index channels) {
    return nn::gru_cell(2 * channels + 1, hidden).num_params() + channels * hidden + channels;
  }

  /// \brief A model with hidden size `hidden`, `channels` data channels and θ `theta`.
  /// \throws nde::error (invalid_input) on inconsistent sizes or a non-finite θ.
  gru_forecaster(Eigen::Index hidden, Eigen::Index channels, Eigen::VectorXd theta)
      : m_channels(channels),
        m_cell(2 * checked(channels) + 1, hidden),
        m_params(std::move(theta)) {
    check_params();
  }

  /// \brief θ (writable).
  [[nodiscard]] Eigen::VectorXd& params() noexcept { return m_params; }
  /// \brief θ, read-only.
  [[nodiscard]] const Eigen::VectorXd& params() const noexcept { return m_params; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const noexcept { return m_params.size(); }
  /// \brief The cell.
  [[nodiscard]] const nn::gru_cell& cell() const noexcept { return m_cell; }

  /// \brief Predictions (D × q) at `query_ts`.
  /// \throws nde::error (invalid_input) on a bad sample or query times.
  [[nodiscard]] Eigen::MatrixXd predict(const irregular_sample& s,
                                        std::span<const double> query_ts) {
    return run(s, query_ts);
  }

  /// \brief `loss(prediction, dL/dprediction)` at `query_ts`, and dL/dθ.
  /// \throws nde::error (invalid_input) on a bad sample, bad query times or a non-finite dL/dp.
  template <class Loss>
  [[nodiscard]] sequence_loss loss_and_gradient(const irregular_sample& s,
                                                std::span<const double> query_ts, Loss&& loss) {
    sequence_loss out;
    out.prediction = run(s, query_ts);
    Eigen::MatrixXd dp;
    out.loss = detail::call_loss(loss, out.prediction, dp, "gru_forecaster::loss_and_gradient");
    out.gradient = Eigen::VectorXd::Zero(m_params.size());
    const Eigen::Index ng = m_cell.num_params(), H = m_cell.hidden_size();
    const auto m = Eigen::Index(m_events.t.size());
    // m_hq: the hidden state feeding each query's prediction (column j of m_states).
    const Eigen::MatrixXd dhq =
        detail::linear_readout::backward(m_params.tail(m_params.size() - ng), m_channels, m_hq, dp,
                                         out.gradient.tail(m_params.size() - ng));
    Eigen::VectorXd a = Eigen::VectorXd::Zero(H);
    Eigen::MatrixXd dx, dh;
    auto d_gru = out.gradient.head(ng);
    const auto theta_gru = m_params.head(ng);
    for (Eigen::Index j = m - 1; j >= 0; --j) {
      // m_states.col(j) = GRU(input j-1, m_states.col(j-1)) for j ≥ 1; col(0) = 0.
      if (m_events.query[std::size_t(j)] >= 0) a += dhq.col(m_events.query[std::size_t(j)]);
      if (j == 0) break;
      m_cell.backward(theta_gru, m_step_inputs.col(j - 1), m_states.col(j - 1),
                      m_caches[std::size_t(j - 1)], a, dx, dh, d_gru);
      a = dh.col(0);
    }
    return out;
  }

 private:
  static Eigen::Index checked(Eigen::Index c) {
    if (c < 1)
      throw error(status::invalid_input,
                  detail::concatenate("gru_forecaster: channels must be positive (got ", c, ")"));
    return c;
  }
  void check_params() const {
    const Eigen::Index expected =
        m_cell.num_params() + m_channels * m_cell.hidden_size() + m_channels;
    if (m_params.size() != expected)
      throw error(
          status::invalid_input,
          detail::concatenate("gru_forecaster: θ has ", m_params.size(),
                              " entries but this model needs ", expected, " (GRU, readout)"));
    if (!m_params.allFinite())
      throw error(status::invalid_input, "gru_forecaster: θ has a NaN or infinite entry");
  }
  Eigen::MatrixXd run(const irregular_sample& s, std::span<const double> query_ts) {
    check_params();
    const Eigen::MatrixXd inputs = detail::sample_inputs(s, m_channels, "gru_forecaster");
    detail::check_queries(query_ts, "gru_forecaster");
    m_events = detail::merge_events(s.t, query_ts);
    const auto m = Eigen::Index(m_events.t.size());
    const Eigen::Index H = m_cell.hidden_size(), ng = m_cell.num_params();
    m_states.resize(H, m);
    m_step_inputs.resize(2 * m_channels + 1, std::max<Eigen::Index>(m - 1, 1));
    m_caches.resize(std::size_t(m));
    m_states.col(0).setZero();
    Eigen::MatrixXd h_new;
    for (Eigen::Index j = 0; j + 1 < m; ++j) {
      const Eigen::Index o = m_events.observation[std::size_t(j)];
      if (o >= 0)
        m_step_inputs.col(j).head(2 * m_channels) = inputs.col(o);
      else
        m_step_inputs.col(j).head(2 * m_channels).setZero();
      m_step_inputs(2 * m_channels, j) =
          m_events.t[std::size_t(j + 1)] - m_events.t[std::size_t(j)];
      m_cell.forward(m_params.head(ng), m_step_inputs.col(j), m_states.col(j), h_new,
                     m_caches[std::size_t(j)]);
      m_states.col(j + 1) = h_new.col(0);
    }
    m_hq = detail::query_columns(m_states, m_events.query, query_ts.size());
    return detail::linear_readout::apply(m_params.tail(m_params.size() - ng), m_channels, m_hq);
  }

  Eigen::Index m_channels;
  nn::gru_cell m_cell;
  Eigen::VectorXd m_params;
  detail::sequence_events m_events;
  Eigen::MatrixXd m_states, m_step_inputs, m_hq;
  std::vector<Eigen::MatrixXd> m_caches;
};

}  // namespace nde
