/// \file
/// \brief `nde::neural_cde`: the neural controlled differential equation classifier / regressor
/// of Kidger et al. 2020 ("Neural controlled differential equations for irregular time series",
/// eqs. 3–5): h(t0) = ζ(X(t0)) (a linear map of the path's first value), dh = f_θ(h) dX(t) on
/// [t0, tN] (`nde::cde_field`), output ℓ(h(tN)) (a linear readout). X is an interpolated path
/// of the observations (`nde/paths/interpolation.hpp`), a batch of samples sharing knots.
///
/// \code
/// using net_type = nde::nn::sequential<...>;             // n -> ... -> n·C, tanh at the end
/// nde::neural_cde<net_type, nde::hermite_cubic_path<>> model(net, n, C, 1, theta);
/// nde::hermite_cubic_path<> X(times, nde::prepare_observations(times, raw));
/// auto r = model.loss_and_gradient(X, [&](const Eigen::MatrixXd& z, Eigen::MatrixXd& dz) {
///   return nde::optim::binary_cross_entropy_with_logits(z, labels, dz); });
/// \endcode
///
/// θ is one flat vector: [ζ's n × C weights (column-major), ζ's n biases | f's network
/// parameters | the readout's k × n weights (column-major), k biases]. Any method and gradient
/// method of `nde::solve` applies (the field has vjps in h, θ and t, stage caching and a jvp).
/// When the path's derivative jumps at its knots (linear, rectilinear), the interior knots are
/// handed to the controller as `jump_ts`, so no step straddles a kink.
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/format.hpp"
#include "nde/core/status.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/solvers/dopri5.hpp"
#include "nde/step_size/pid_controller.hpp"
#include "nde/terms/cde_field.hpp"

#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace nde {

/// \brief Settings of a `neural_cde` solve.
struct neural_cde_options {
  double rtol = 1e-3;               ///< Relative tolerance of the adaptive solve.
  double atol = 1e-5;               ///< Absolute tolerance.
  std::int64_t max_steps = 100000;  ///< Step budget of each solve.
  bool jumps_at_knots = true;       ///< Pass the interior knots as `jump_ts` when X' jumps there.
};

/// \brief What `neural_cde::loss_and_gradient` returns.
struct neural_cde_loss {
  double loss = 0;                            ///< The caller's loss of the predictions.
  Eigen::VectorXd gradient;                   ///< dL/dθ (the whole flat vector).
  Eigen::MatrixXd prediction;                 ///< k × B readout at the path's end.
  gradient_stats stats;                       ///< Forward and backward work.
  nde::status status = nde::status::success;  ///< A solve can fail (e.g. step budget).
  std::string message;                        ///< Empty on success.
};

/// \brief A neural CDE with initial map, vector field network and linear readout (see the file
/// comment). \tparam Net n → n·C network. \tparam Path an interpolated path type.
/// \tparam Method a solver (default dopri5). \tparam Gradient any gradient method of
/// `nde::solve` (default the exact discrete adjoint).
template <class Net, class Path, class Method = dopri5, class Gradient = discrete_adjoint>
class neural_cde {
 public:
  using field_type = cde_field<Net, Path, Eigen::MatrixXd>;  ///< The vector field.

  /// \brief Length of θ for these sizes.
  [[nodiscard]] static Eigen::Index parameter_count(const Net& net, Eigen::Index hidden,
                                                    Eigen::Index channels, Eigen::Index outputs) {
    return hidden * channels + hidden + net.num_params() + outputs * hidden + outputs;
  }

  /// \brief A model with hidden size `hidden`, `channels` path channels, `outputs` readout
  /// rows and parameters `theta` (length `parameter_count`).
  /// \throws nde::error (invalid_input) on inconsistent sizes.
  neural_cde(Net net, Eigen::Index hidden, Eigen::Index channels, Eigen::Index outputs,
             Eigen::VectorXd theta, neural_cde_options options = {}, Gradient gradient = {},
             Method method = {})
      : m_hidden(hidden),
        m_channels(channels),
        m_outputs(checked_outputs(outputs)),
        m_net_params(net.num_params()),
        m_params(std::move(theta)),
        m_options(options),
        m_model(field_type(std::move(net), hidden, channels), Eigen::VectorXd::Zero(m_net_params),
                std::move(gradient), neural_ode_options{}, std::move(method)) {
    check_params();
  }

  /// \brief θ (writable: optimisers update it in place).
  [[nodiscard]] Eigen::VectorXd& params() noexcept { return m_params; }
  /// \brief θ, read-only.
  [[nodiscard]] const Eigen::VectorXd& params() const noexcept { return m_params; }
  /// \brief Length of θ.
  [[nodiscard]] Eigen::Index num_params() const noexcept { return m_params.size(); }
  /// \brief Hidden size n.
  [[nodiscard]] Eigen::Index hidden() const noexcept { return m_hidden; }
  /// \brief Path channels C.
  [[nodiscard]] Eigen::Index channels() const noexcept { return m_channels; }
  /// \brief Readout rows k.
  [[nodiscard]] Eigen::Index outputs() const noexcept { return m_outputs; }
  /// \brief The settings.
  [[nodiscard]] neural_cde_options& options() noexcept { return m_options; }
  /// \brief The vector field (its network, the path last used).
  [[nodiscard]] field_type& field() noexcept { return m_model.field(); }

  /// \brief The readout at the path's end, k × B, without recording a tape.
  /// \throws nde::error on a path of the wrong shape or a failed solve.
  [[nodiscard]] Eigen::MatrixXd predict(const Path& path) {
    const std::array<double, 2> ts{path.start(), path.end()};
    return predict_at(path, ts).back();
  }

  /// \brief The readout ℓ(h(t)) at each of `ts` (increasing, inside the path; ts[0] is the
  /// path's start): how the prediction forms as the data arrive. No tape is recorded.
  /// \throws nde::error on bad times, a path of the wrong shape or a failed solve.
  [[nodiscard]] std::vector<Eigen::MatrixXd> predict_at(const Path& path,
                                                        std::span<const double> ts) {
    if (ts.empty() || ts.front() != path.start())
      throw error(status::invalid_input,
                  "neural_cde::predict_at: ts must start at the path's start");
    prepare(path);
    const auto& result = m_model.predict(initial_state(path), ts);
    if (!result.success()) throw error(result.status, "neural_cde: " + result.message);
    std::vector<Eigen::MatrixXd> out;
    out.reserve(result.ys.size());
    for (const auto& h : result.ys) out.push_back(readout(h));
    return out;
  }

  /// \brief Loss of the batch driven by `path` and dL/dθ: one forward solve and one backward
  /// pass of the gradient method. `loss(z, dz) -> double` receives the k × B readout z and
  /// writes dL/dz into dz (already sized).
  /// \throws nde::error (invalid_input) on a path of the wrong shape or a NaN/Inf dL/dz.
  template <class Loss>
  [[nodiscard]] neural_cde_loss loss_and_gradient(const Path& path, Loss&& loss) {
    prepare(path);
    const std::array<double, 2> ts{path.start(), path.end()};
    const auto& result = m_model.forward(initial_state(path), ts);
    neural_cde_loss out;
    if (!result.success()) {
      out.status = result.status;
      out.message = "neural_cde: " + result.message;
      return out;
    }
    const Eigen::MatrixXd h_end = result.ys.back();
    out.prediction = readout(h_end);
    Eigen::MatrixXd dz = Eigen::MatrixXd::Zero(m_outputs, out.prediction.cols());
    out.loss = static_cast<double>(loss(static_cast<const Eigen::MatrixXd&>(out.prediction), dz));
    if (dz.rows() != m_outputs || dz.cols() != out.prediction.cols() || !dz.allFinite())
      throw error(status::invalid_input,
                  "neural_cde::loss_and_gradient: the loss must write a finite dL/dz of the "
                  "readout's shape");
    out.gradient = Eigen::VectorXd::Zero(m_params.size());
    const Eigen::Index net_at = m_hidden * m_channels + m_hidden;
    const Eigen::Index read_at = net_at + m_net_params;
    // Readout z = W h + c.
    Eigen::Map<Eigen::MatrixXd>(out.gradient.data() + read_at, m_outputs, m_hidden) =
        dz * h_end.transpose();
    out.gradient.segment(read_at + m_outputs * m_hidden, m_outputs) = dz.rowwise().sum();
    std::array<Eigen::MatrixXd, 2> cot{Eigen::MatrixXd::Zero(m_hidden, dz.cols()),
                                       readout_weights().transpose() * dz};
    auto g = m_model.backward(std::span<const Eigen::MatrixXd>(cot.data(), cot.size()));
    out.stats = g.stats;
    if (g.status != nde::status::success) {
      out.status = g.status;
      out.message = "neural_cde: " + g.message;
      return out;
    }
    out.gradient.segment(net_at, m_net_params) = g.params;
    // Initial map h0 = A X(t0) + a.
    Eigen::Map<Eigen::MatrixXd>(out.gradient.data(), m_hidden, m_channels) =
        g.y0 * m_x0.transpose();
    out.gradient.segment(m_hidden * m_channels, m_hidden) = g.y0.rowwise().sum();
    return out;
  }

 private:
  static Eigen::Index checked_outputs(Eigen::Index outputs) {
    if (outputs < 1)
      throw error(status::invalid_input,
                  detail::concatenate("neural_cde: outputs must be positive (got ", outputs, ")"));
    return outputs;
  }
  void check_params() const {
    const Eigen::Index expected =
        m_hidden * m_channels + m_hidden + m_net_params + m_outputs * m_hidden + m_outputs;
    if (m_params.size() != expected)
      throw error(status::invalid_input,
                  detail::concatenate("neural_cde: θ has ", m_params.size(),
                                      " entries but this model needs ", expected,
                                      " (initial map, network, readout)"));
    if (!m_params.allFinite())
      throw error(status::invalid_input, "neural_cde: θ has a NaN or infinite entry");
  }
  Eigen::Map<const Eigen::MatrixXd> readout_weights() const {
    const Eigen::Index at = m_hidden * m_channels + m_hidden + m_net_params;
    return {m_params.data() + at, m_outputs, m_hidden};
  }
  Eigen::MatrixXd readout(const Eigen::MatrixXd& h) const {
    const Eigen::Index at = m_hidden * m_channels + m_hidden + m_net_params + m_outputs * m_hidden;
    Eigen::MatrixXd z = readout_weights() * h;
    z.colwise() += m_params.segment(at, m_outputs);
    return z;
  }
  void prepare(const Path& path) {
    check_params();
    if (path.channels() != m_channels)
      throw error(status::invalid_input,
                  detail::concatenate("neural_cde: the path has ", path.channels(),
                                      " channels but the model was built for ", m_channels));
    field().set_path(&path);
    m_model.params() = m_params.segment(m_hidden * m_channels + m_hidden, m_net_params);
    pid_controller controller{.rtol = m_options.rtol, .atol = m_options.atol};
    if (!Path::derivative_continuous && m_options.jumps_at_knots) {
      const auto knots = path.knots();
      if (knots.size() > 2) controller.jump_ts.assign(knots.begin() + 1, knots.end() - 1);
    }
    m_model.options().controller = std::move(controller);
    m_model.options().max_steps = m_options.max_steps;
  }
  Eigen::MatrixXd initial_state(const Path& path) {
    path.evaluate(path.start(), m_x0);
    const Eigen::Map<const Eigen::MatrixXd> a(m_params.data(), m_hidden, m_channels);
    Eigen::MatrixXd h0 = a * m_x0;
    h0.colwise() += m_params.segment(m_hidden * m_channels, m_hidden);
    return h0;
  }

  Eigen::Index m_hidden;
  Eigen::Index m_channels;
  Eigen::Index m_outputs;
  Eigen::Index m_net_params;
  Eigen::VectorXd m_params;
  neural_cde_options m_options;
  neural_ode<field_type, Method, Gradient, Eigen::MatrixXd> m_model;
  Eigen::MatrixXd m_x0;
};

}  // namespace nde
