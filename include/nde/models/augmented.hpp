/// \file
/// \brief Augmented neural ODEs (Dupont, Doucet & Teh 2019, "Augmented Neural ODEs", NeurIPS;
/// arXiv:1904.01681): the input x ∈ ℝ^d is padded with p zeros, the ODE is solved in ℝ^(d+p),
/// and a linear readout maps the final state to k outputs.
///
/// With h(t) ∈ ℝ^(d+p) (the paper's eq. 5):
///
///   h(0) = [x; 0_p],   dh/dt = f(t, h; θ),   ŷ = W h(T) + b,   W ∈ ℝ^(k × (d+p)), b ∈ ℝ^k.
///
/// A plain neural ODE (p = 0) is a homeomorphism of ℝ^d, so its trajectories cannot cross: it
/// cannot map the inner disc of Dupont's concentric-circles data across the annulus (§3, the
/// function g), and in 1-D it cannot reverse or fold the line (g(−1) = 1, g(1) = −1 is
/// impossible for the flow itself). The extra p dimensions let trajectories go around each
/// other; Dupont et al. report lower loss, fewer function evaluations (NFE) and NFE that stay
/// flat during training.
///
/// \code
/// using net = nde::nn::mlp<nde::nn::tanh_activation, Eigen::Dynamic, Eigen::Dynamic,
///                          Eigen::Dynamic, Eigen::Dynamic>;
/// using field = nde::network_field<net, Eigen::MatrixXd>;
/// const nde::augmented_options opt{.data_dims = 2, .augment_dims = 5, .outputs = 1};
/// field f(net({7, 32, 32, 7}));
/// Eigen::VectorXd params(nde::augmented_neural_ode<field>::param_count(f, opt));
/// // ... initialise params.head(f.num_params()) (e.g. nn::init_pytorch_default) ...
/// nde::augmented_neural_ode<field, nde::dopri5, nde::backsolve_adjoint> model(f, params, opt);
/// model.initialise_readout(rng);
/// auto l = model.loss_and_gradient(x, y);   // x: d × B, y: k × B; MSE
/// adam.step(model.params(), l.gradient);    // one flat vector: field θ, then W, then b
/// \endcode
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/status.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/nn/initialisers.hpp"
#include "nde/optim/loss.hpp"
#include "nde/solvers/dopri5.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace nde {

/// \brief Shape and solve settings of an `augmented_neural_ode`.
struct augmented_options {
  Eigen::Index data_dims = 1;     ///< d: rows of an input batch.
  Eigen::Index augment_dims = 0;  ///< p ≥ 0: zero rows appended to the input (0: plain NODE).
  Eigen::Index outputs = 1;       ///< k ≥ 1: rows of a prediction.
  double t0 = 0.0;                ///< Start of the flow.
  double t1 = 1.0;                ///< End T of the flow (Dupont et al.: T = 1); ≠ t0.
  /// Forward step-size policy and step budget (the adjoint's own tolerances are set in the
  /// gradient method, e.g. `backsolve_adjoint::controller`).
  neural_ode_options ode{};
};

/// \brief What `augmented_neural_ode::loss_and_gradient` returns.
struct augmented_loss {
  double loss = 0;             ///< The loss of the batch.
  Eigen::MatrixXd prediction;  ///< ŷ = W h(T) + b, k × B.
  /// dL/d(parameter vector), laid out as the parameters: field θ, then W (column-major), then b.
  Eigen::VectorXd gradient;
  Eigen::MatrixXd inputs;                     ///< dL/dx, d × B.
  gradient_stats stats;                       ///< Work of the forward and backward passes (NFE).
  nde::status status = nde::status::success;  ///< A solve can fail (step budget, NaN field).
  std::string message;                        ///< Empty on success.
  /// \brief True on success.
  [[nodiscard]] bool success() const noexcept { return status == nde::status::success; }
  /// \brief f evaluations of the forward solve (the NFE Dupont et al. report).
  [[nodiscard]] std::size_t forward_nfe() const noexcept { return stats.forward_rhs_evals; }
};

/// \brief An augmented neural ODE with a linear readout, trained on batches (columns).
///
/// **Parameters.** One flat vector (`params()`), so one optimiser updates everything:
/// `[θ (field.num_params()); vec(W) (k·(d+p), column-major); b (k)]`; `param_count` gives its
/// length, `field_params`, `readout_weight` and `readout_bias` view its parts.
///
/// **Cost.** One forward solve of a (d+p) × B batch state with one shared step, one backward
/// pass of the chosen gradient method, and O(k·(d+p)·B) for the readout.
///
/// With p = 0 the model is the plain neural ODE classifier `ŷ = W φ_T(x) + b`: the same solve as
/// `neural_ode` from x, bit for bit.
///
/// \tparam Field a parametric field with a vjp over a batch state `Eigen::MatrixXd`
///   ((d+p) × B), e.g. `network_field<mlp<…>, Eigen::MatrixXd>`.
/// \tparam Method any method of `nde::solve` (`dopri5`, `tsit5`, `rk4`, …).
/// \tparam Gradient any gradient method of `nde::solve` the field supports.
/// Not thread-safe: one model per thread.
template <class Field, class Method = dopri5, class Gradient = backsolve_adjoint>
requires vjp_field<Field, double, Eigen::MatrixXd>
class augmented_neural_ode {
 public:
  using params_type = Eigen::VectorXd;  ///< Flat parameter vector.
  using model_type = neural_ode<Field, Method, Gradient, Eigen::MatrixXd>;  ///< The inner NODE.

  /// \brief Length of the parameter vector: `field.num_params() + k·(d+p) + k`.
  /// \throws nde::error (invalid_input) on invalid `options` (see the constructor).
  [[nodiscard]] static Eigen::Index param_count(const Field& field,
                                                const augmented_options& options) {
    check_options(options);
    return static_cast<Eigen::Index>(field.num_params()) + readout_count(options);
  }

  /// \brief The model of `field` over (d+p) × B states with the parameters `params` (layout
  /// above; length `param_count(field, options)`).
  /// \throws nde::error (invalid_input) if d < 1, p < 0, k < 1, t0 = t1 or a time is not finite,
  ///   the field's state rows (when it reports them) differ from d + p, `params` has the wrong
  ///   length or a NaN/Inf entry, or the controller is `fixed_times`.
  augmented_neural_ode(Field field, params_type params, augmented_options options,
                       Gradient gradient = {}, Method method = {})
      : m_options(checked(options)),
        m_params(std::move(params)),
        m_model(make_model(std::move(field), m_options, m_params, std::move(gradient),
                           std::move(method))) {}

  /// \brief The whole parameter vector (writable: optimisers update it in place).
  [[nodiscard]] params_type& params() noexcept { return m_params; }
  /// \brief The whole parameter vector, read-only.
  [[nodiscard]] const params_type& params() const noexcept { return m_params; }
  /// \brief The field's θ (the first `field().num_params()` entries of `params()`).
  [[nodiscard]] auto field_params() noexcept { return m_params.head(field_count()); }
  /// \brief The readout weight W, k × (d+p), a view into `params()`.
  [[nodiscard]] Eigen::Map<Eigen::MatrixXd> readout_weight() noexcept {
    return {m_params.data() + field_count(), m_options.outputs, state_rows()};
  }
  /// \brief The readout bias b (k), a view into `params()`.
  [[nodiscard]] auto readout_bias() noexcept {
    return m_params.segment(field_count() + m_options.outputs * state_rows(), m_options.outputs);
  }
  /// \brief The vector field.
  [[nodiscard]] Field& field() noexcept { return m_model.field(); }
  /// \brief The inner neural ODE (its gradient method and forward options are writable).
  [[nodiscard]] model_type& ode() noexcept { return m_model; }
  /// \brief The settings.
  [[nodiscard]] const augmented_options& options() const noexcept { return m_options; }
  /// \brief Rows of the ODE state, d + p.
  [[nodiscard]] Eigen::Index state_rows() const noexcept {
    return m_options.data_dims + m_options.augment_dims;
  }

  /// \brief Fills W and b like PyTorch's `nn.Linear` default: U(−1/√(d+p), 1/√(d+p)).
  void initialise_readout(std::mt19937_64& rng) {
    const double bound = 1.0 / std::sqrt(double(state_rows()));
    for (Eigen::Index j = field_count(); j < m_params.size(); ++j)
      m_params[j] = nn::uniform(rng, -bound, bound);
  }

  /// \brief The padded initial state h(t0) = [x; 0_p], (d+p) × B.
  /// \throws nde::error (invalid_input) on an empty batch, wrong rows or a NaN/Inf entry.
  [[nodiscard]] Eigen::MatrixXd initial_state(const Eigen::MatrixXd& x) const {
    check_inputs(x, "initial_state");
    return pad(x);
  }

  /// \brief Mean squared error `L = mean((ŷ − y)²)` over all k·B entries (PyTorch's
  /// `MSELoss`) of the batch `x` (d × B) against `target` (k × B), with every gradient: one
  /// forward solve and one backward pass.
  /// \throws nde::error (invalid_input) on bad input (see `initial_state`), a target of the
  ///   wrong shape or with NaN/Inf, or a parameter vector of the wrong length.
  [[nodiscard]] augmented_loss loss_and_gradient(const Eigen::MatrixXd& x,
                                                 const Eigen::MatrixXd& target) {
    if (target.rows() != m_options.outputs || target.cols() != x.cols())
      throw error(status::invalid_input,
                  "augmented_neural_ode::loss_and_gradient: the target is " +
                      std::to_string(target.rows()) + "x" + std::to_string(target.cols()) +
                      " but the predictions are " + std::to_string(m_options.outputs) + "x" +
                      std::to_string(x.cols()));
    if (!target.allFinite())
      throw error(status::invalid_input,
                  "augmented_neural_ode::loss_and_gradient: the target contains NaN or Inf");
    return loss_and_gradient(x, [&target](const Eigen::MatrixXd& prediction, Eigen::MatrixXd& g) {
      return optim::mse_loss(prediction, target, g);
    });
  }

  /// \brief The loss `loss(ŷ, dL_dŷ)` of the batch `x` (d × B) with every gradient. `loss`
  /// returns L and writes dL/dŷ into its second argument (sized k × B, zero on entry).
  /// A non-finite loss or gradient is reported as `status::non_finite` (no gradient).
  /// \throws nde::error (invalid_input) on bad input, a parameter vector of the wrong length, or
  ///   a loss gradient resized by the callback.
  template <class Loss>
  requires std::is_invocable_r_v<double, Loss&, const Eigen::MatrixXd&, Eigen::MatrixXd&>
  [[nodiscard]] augmented_loss loss_and_gradient(const Eigen::MatrixXd& x, Loss&& loss) {
    static constexpr const char* who = "loss_and_gradient";
    check_inputs(x, who);
    sync(who);
    augmented_loss out;
    const auto& result = m_model.forward(pad(x), m_times);
    if (!result.success()) {
      out.status = result.status;
      out.message = result.message;
      out.stats.forward_rhs_evals = result.stats.rhs_evals;
      out.stats.forward_steps = result.stats.accepted_steps;
      out.stats.forward_rejected = result.stats.rejected_steps;
      return out;
    }
    const Eigen::MatrixXd& h1 = result.ys.back();
    const Eigen::Index k = m_options.outputs, b = x.cols();
    const auto w = readout_weight();
    out.prediction = w * h1;
    out.prediction.colwise() += readout_bias();
    Eigen::MatrixXd g_pred = Eigen::MatrixXd::Zero(k, b);
    out.loss = static_cast<double>(loss(std::as_const(out.prediction), g_pred));
    if (g_pred.rows() != k || g_pred.cols() != b)
      throw error(status::invalid_input,
                  "augmented_neural_ode::loss_and_gradient: the loss resized dL/dprediction to " +
                      std::to_string(g_pred.rows()) + "x" + std::to_string(g_pred.cols()) +
                      " (expected " + std::to_string(k) + "x" + std::to_string(b) + ")");
    if (!std::isfinite(out.loss) || !g_pred.allFinite()) {
      out.status = status::non_finite;
      out.message = "loss_and_gradient: the loss or its gradient is NaN or Inf";
      return out;
    }
    std::array<Eigen::MatrixXd, 2> cot{Eigen::MatrixXd::Zero(state_rows(), b),
                                       w.transpose() * g_pred};
    auto g = m_model.backward(std::span<const Eigen::MatrixXd>(cot.data(), cot.size()));
    out.stats = g.stats;
    if (g.status != status::success) {
      out.status = g.status;
      out.message = g.message;
      return out;
    }
    const Eigen::Index nf = field_count();
    out.gradient.resize(m_params.size());
    out.gradient.head(nf) = g.params;
    Eigen::Map<Eigen::MatrixXd>(out.gradient.data() + nf, k, state_rows()).noalias() =
        g_pred * h1.transpose();
    out.gradient.tail(k) = g_pred.rowwise().sum();
    out.inputs = g.y0.topRows(m_options.data_dims);
    return out;
  }

  /// \brief Predictions ŷ (k × B) for the batch `x` (d × B); nothing is recorded.
  /// \throws nde::error on bad input or a failed solve (its status and message).
  [[nodiscard]] Eigen::MatrixXd predict(const Eigen::MatrixXd& x) {
    Eigen::MatrixXd prediction = readout_weight() * features(x);
    prediction.colwise() += readout_bias();
    return prediction;
  }

  /// \brief The final state h(T) ((d+p) × B) of the batch `x`; nothing is recorded.
  /// \throws nde::error on bad input or a failed solve.
  [[nodiscard]] Eigen::MatrixXd features(const Eigen::MatrixXd& x) {
    return trajectory(x, m_times).back();
  }

  /// \brief The states h(ts[i]) ((d+p) × B each) of the batch `x`, h(ts[0]) = [x; 0]: the learned
  /// flow. `ts` must start at `options().t0` and be strictly monotone (toward t1 to follow
  /// the model's flow; any finite end is allowed). Nothing is recorded.
  /// \throws nde::error on bad input, ts[0] ≠ t0, or a failed solve.
  [[nodiscard]] std::vector<Eigen::MatrixXd> trajectory(const Eigen::MatrixXd& x,
                                                        std::span<const double> ts) {
    check_inputs(x, "trajectory");
    sync("trajectory");
    if (ts.empty() || ts.front() != m_options.t0)
      throw error(status::invalid_input,
                  "augmented_neural_ode::trajectory: ts must start at t0 = " +
                      std::to_string(m_options.t0));
    const auto& result = m_model.predict(pad(x), ts);
    if (!result.success())
      throw error(result.status, "augmented_neural_ode::trajectory: " + result.message);
    return result.ys;
  }

  /// \brief Work counters of the last solve (forward, or prediction).
  [[nodiscard]] const solve_stats& last_solve_stats() const noexcept {
    return m_model.last_forward().stats;
  }

 private:
  static Eigen::Index readout_count(const augmented_options& o) {
    return o.outputs * (o.data_dims + o.augment_dims) + o.outputs;
  }

  static void check_options(const augmented_options& o) {
    if (o.data_dims < 1)
      throw error(status::invalid_input, "augmented_neural_ode: data_dims must be ≥ 1 (got " +
                                             std::to_string(o.data_dims) + ")");
    if (o.augment_dims < 0)
      throw error(status::invalid_input, "augmented_neural_ode: augment_dims must be ≥ 0 (got " +
                                             std::to_string(o.augment_dims) + ")");
    if (o.outputs < 1)
      throw error(status::invalid_input, "augmented_neural_ode: outputs must be ≥ 1 (got " +
                                             std::to_string(o.outputs) + ")");
    if (!std::isfinite(o.t0) || !std::isfinite(o.t1) || o.t0 == o.t1)
      throw error(status::invalid_input,
                  "augmented_neural_ode: t0 and t1 must be finite and distinct");
  }

  static augmented_options checked(const augmented_options& o) {
    check_options(o);
    return o;
  }

  static model_type make_model(Field field, const augmented_options& o, const params_type& params,
                               Gradient gradient, Method method) {
    const Eigen::Index rows = o.data_dims + o.augment_dims;
    if constexpr (requires { field.state_rows(); }) {
      if (static_cast<Eigen::Index>(field.state_rows()) != rows)
        throw error(status::invalid_input, "augmented_neural_ode: the field's state has " +
                                               std::to_string(field.state_rows()) +
                                               " rows but d + p = " + std::to_string(rows));
    }
    const Eigen::Index expected = static_cast<Eigen::Index>(field.num_params()) + readout_count(o);
    if (params.size() != expected)
      throw error(status::invalid_input,
                  "augmented_neural_ode: the parameter vector has " +
                      std::to_string(params.size()) + " entries but the field (" +
                      std::to_string(field.num_params()) + ") and the readout (" +
                      std::to_string(readout_count(o)) + ") need " + std::to_string(expected));
    if (!params.allFinite())
      throw error(status::invalid_input,
                  "augmented_neural_ode: the parameter vector contains NaN or Inf");
    const Eigen::Index nf = static_cast<Eigen::Index>(field.num_params());
    return model_type(std::move(field), params.head(nf), std::move(gradient), o.ode,
                      std::move(method));
  }

  Eigen::Index field_count() const noexcept { return m_params.size() - readout_count(m_options); }

  // Copies the field's θ into the inner model; the whole vector must keep its length.
  void sync(const char* who) {
    const Eigen::Index nf = static_cast<Eigen::Index>(m_model.field().num_params());
    if (m_params.size() != nf + readout_count(m_options))
      throw error(status::invalid_input,
                  std::string("augmented_neural_ode::") + who + ": the parameter vector has " +
                      std::to_string(m_params.size()) + " entries but the model needs " +
                      std::to_string(nf + readout_count(m_options)));
    m_model.params() = m_params.head(nf);
  }

  void check_inputs(const Eigen::MatrixXd& x, const char* who) const {
    if (x.cols() == 0)
      throw error(status::invalid_input,
                  std::string("augmented_neural_ode::") + who + ": the batch is empty");
    if (x.rows() != m_options.data_dims)
      throw error(status::invalid_input,
                  std::string("augmented_neural_ode::") + who + ": inputs have " +
                      std::to_string(x.rows()) +
                      " rows but the model takes d = " + std::to_string(m_options.data_dims));
    if (!x.allFinite())
      throw error(status::invalid_input,
                  std::string("augmented_neural_ode::") + who + ": an input contains NaN or Inf");
  }

  Eigen::MatrixXd pad(const Eigen::MatrixXd& x) const {
    Eigen::MatrixXd h(state_rows(), x.cols());
    h.topRows(m_options.data_dims) = x;
    h.bottomRows(m_options.augment_dims).setZero();
    return h;
  }

  augmented_options m_options;
  params_type m_params;
  model_type m_model;
  std::array<double, 2> m_times{m_options.t0, m_options.t1};
};

}  // namespace nde
