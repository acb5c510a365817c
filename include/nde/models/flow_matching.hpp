/// \file
/// \brief Conditional flow matching: simulation-free training of a continuous normalising flow
/// by regression on the velocity of a conditional probability path (Lipman et al. 2023, "Flow
/// matching for generative modeling"; Tong et al. 2024, "Improving and generalizing flow-based
/// generative models with minibatch optimal transport", the method of torchcfm).
///
/// Given a source batch x0 ~ q0 and a target batch x1 ~ q1 (columns are samples), each pair
/// (x0_i, x1_π(i)) of a coupling π defines the Gaussian path of Tong et al. eq. 14–15
///   `x_t = t x1 + (1 − t) x0 + σ ε`,  ε ~ N(0, I),  t ~ U(0, 1) per sample,
/// whose conditional velocity is `u_t = x1 − x0` (σ constant in t, so no σ' term). The
/// network v_θ(t, x) is fitted by
///   `L(θ) = (1/B) Σ_i ‖v_θ(t_i, x_t,i) − u_t,i‖²`                            (Tong et al. eq. 9)
/// whose gradient equals that of the marginal flow-matching loss (Lipman et al. Theorem 2), so
/// the minimiser is the marginal velocity field and dx/dt = v_θ(t, x) carries q0 at t = 0 to q1
/// at t = 1. The loss here is the **mean over samples of the squared norm**; torchcfm's
/// `torch.mean((vt − ut)²)` averages over all B·D elements and is this value divided by D.
///
/// Couplings (`fm_pairing`): `independent` keeps the batches' own order (I-CFM: the product
/// coupling; with σ = 0 rectified flow's first iteration, Liu et al. 2023); `exact_ot` pairs the
/// batches by the exact minimum of Σ_i ‖x0_i − x1_π(i)‖² (OT-CFM, minibatch optimal transport,
/// torchcfm's `ExactOptimalTransportConditionalFlowMatcher`); `sinkhorn` draws, for each x0_i, a
/// partner from row i of the entropic plan (torchcfm's `OTPlanSampler(method="sinkhorn")`).
///
/// The trained field is a time-input network for `nde::cnf`, so its exact log-density comes
/// from the instantaneous change of variables integrated from the data end t = 1 to the source
/// end t = 0 (`flow_matching::log_density`).
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/status.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/models/cnf.hpp"
#include "nde/nn/initialisers.hpp"
#include "nde/nn/jacobian_pass.hpp"
#include "nde/ot/assignment.hpp"
#include "nde/solvers/dopri5.hpp"
#include "nde/solvers/euler.hpp"
#include "nde/step_size/constant_step.hpp"
#include "nde/step_size/pid_controller.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace nde {

/// \brief How a source batch is coupled to a target batch before the path is drawn.
enum class fm_pairing {
  independent,  ///< Keep the order of the independently drawn batches (I-CFM).
  exact_ot,     ///< Exact minibatch OT on squared Euclidean cost: a permutation (OT-CFM).
  sinkhorn      ///< A partner per source drawn from the entropic plan (with replacement).
};

/// \brief Settings of `flow_matching`.
struct flow_matching_options {
  /// \brief Standard deviation σ ≥ 0 of the Gaussian around the straight path, in data units
  /// (torchcfm's toy notebooks: 0.1; σ = 0 is rectified flow / I-CFM without noise).
  double sigma = 0.0;
  fm_pairing pairing = fm_pairing::independent;  ///< Coupling of each minibatch.
  /// \brief Sinkhorn regularisation, **relative to the largest entry of the batch's squared
  /// distance matrix** (ε_abs = sinkhorn_epsilon · max C; torchcfm/POT's reg = 0.05 on a
  /// normalised cost). Must be > 0. Only used with `fm_pairing::sinkhorn`.
  double sinkhorn_epsilon = 0.05;
};

/// \brief One draw of the conditional path for a paired batch (D × B each, t of length B).
struct fm_path {
  Eigen::VectorXd t;   ///< t_i ~ U(0, 1).
  Eigen::MatrixXd xt;  ///< x_t = t x1 + (1 − t) x0 + σ ε.
  Eigen::MatrixXd ut;  ///< u_t = x1 − x0 (the regression target).
};

/// \brief What `flow_matching::loss_and_gradient` returns.
struct fm_loss {
  double loss = 0;  ///< (1/B) Σ_i ‖v_θ(t_i, x_t,i) − u_t,i‖² (data units² per time unit²).
  Eigen::VectorXd gradient;  ///< dL/dθ.
};

/// \brief Integrator of `flow_matching::sample`.
enum class fm_sampler {
  euler_steps,  ///< `steps` equal Euler steps from t = 0 to 1 (steps = 1: x1 = x0 + v_θ(0, x0)).
  adaptive      ///< Adaptive Dormand–Prince 5(4) with the given tolerances.
};

/// \brief Settings of `flow_matching::sample`.
struct fm_sample_options {
  fm_sampler method = fm_sampler::adaptive;  ///< Integrator.
  std::int64_t steps = 1;                    ///< Euler steps (≥ 1; ignored by dopri5).
  double rtol = 1e-5;                        ///< dopri5 relative tolerance.
  double atol = 1e-5;                        ///< dopri5 absolute tolerance.
  std::vector<double> save_times{};          ///< Extra output times in [0, 1] (trajectories).
};

/// \brief What `flow_matching::sample` returns.
struct fm_sample_result {
  Eigen::MatrixXd x;                        ///< End points at t = 1 (D × B).
  std::vector<double> ts;                   ///< Times of `trajectory` (`save_times`, then 1).
  std::vector<Eigen::MatrixXd> trajectory;  ///< States at `ts` (empty without `save_times`).
  std::int64_t nfe = 0;                     ///< Batched network evaluations (1 per Euler step).
};

/// \brief log N(z; 0, I) per column, nats: −½‖z‖² − (D/2) log 2π.
inline Eigen::VectorXd standard_normal_log_density(const Eigen::MatrixXd& z) {
  const double c = -0.5 * double(z.rows()) * std::log(2.0 * std::numbers::pi);
  return (c - 0.5 * z.colwise().squaredNorm().array()).matrix().transpose();
}

namespace detail {

inline void fm_check_batch(const char* who, const char* what, const Eigen::MatrixXd& x,
                           Eigen::Index rows) {
  if (x.cols() == 0)
    throw error(status::invalid_input, std::string(who) + ": " + what + " is an empty batch");
  if (x.rows() != rows)
    throw error(status::invalid_input, std::string(who) + ": " + what + " has " +
                                           std::to_string(x.rows()) + " rows, the model has " +
                                           std::to_string(rows) + " dimensions");
  if (!x.allFinite())
    throw error(status::invalid_input,
                std::string(who) + ": a sample of " + what + " contains NaN or Inf");
}

inline void fm_check_pair(const char* who, const Eigen::MatrixXd& x0, const Eigen::MatrixXd& x1,
                          Eigen::Index rows) {
  fm_check_batch(who, "x0", x0, rows);
  fm_check_batch(who, "x1", x1, rows);
  if (x0.cols() != x1.cols())
    throw error(status::invalid_input, std::string(who) + ": batch sizes differ (x0 has " +
                                           std::to_string(x0.cols()) + " samples, x1 has " +
                                           std::to_string(x1.cols()) + ")");
}

}  // namespace detail

/// \brief A velocity field v_θ(t, x) = net([x; t]) trained by conditional flow matching.
///
/// \code
/// nde::nn::mlp<nde::nn::tanh_activation, 3, 64, 64, 64, 2> net;  // torchcfm's toy MLP, tanh
/// Eigen::VectorXd theta(net.num_params());
/// nde::nn::init_pytorch_default(net.layout(), theta, rng);
/// nde::flow_matching fm(net, theta, {.sigma = 0.1, .pairing = nde::fm_pairing::exact_ot});
/// nde::optim::adam<double> adam(theta.size(), {.learning_rate = 1e-3});
/// auto l = fm.loss_and_gradient(x0, x1, rng);  // x0 ~ source, x1 ~ target, D × 256 each
/// adam.step(fm.params(), l.gradient);
/// auto s = fm.sample(x0_test, {.method = nde::fm_sampler::euler_steps, .steps = 1});
/// double nll = -fm.log_density(x1_test, nde::standard_normal_log_density, rng).mean();
/// \endcode
///
/// \tparam Net an `nn::sequential`-like network with D + 1 inputs (the time last) and D outputs;
/// `log_density` needs an `nn::jacobian_pass_network` (`linear` layers with `tanh`, `softplus`,
/// `sigmoid` or `identity`). Not thread-safe (one workspace per model).
///
/// Cost of one `loss_and_gradient` on B samples: one forward and one reverse pass of the network
/// on B columns, plus the pairing: none (independent), O(B³) (exact OT, the Hungarian-type
/// `ot::linear_assignment`), or O(B² · iterations) (Sinkhorn).
template <class Net>
class flow_matching {
 public:
  using params_type = Eigen::VectorXd;  ///< Flat θ.

  /// \brief The model of `net` with parameters `theta`.
  /// \throws nde::error (invalid_input) if the network is not D + 1 → D with D ≥ 1, θ has the
  /// wrong length or a non-finite entry, σ is negative or not finite, or sinkhorn_epsilon ≤ 0
  /// or not finite.
  flow_matching(Net net, params_type theta, flow_matching_options options = {})
      : m_net(std::move(net)), m_theta(std::move(theta)), m_options(options) {
    if (m_net.out_size() < 1 || m_net.in_size() != m_net.out_size() + 1)
      throw error(status::invalid_input,
                  "flow_matching: the network maps " + std::to_string(m_net.in_size()) +
                      " inputs to " + std::to_string(m_net.out_size()) +
                      " outputs; it needs D + 1 inputs ([x; t]) and D outputs, D ≥ 1");
    if (m_theta.size() != m_net.num_params())
      throw error(status::invalid_input, "flow_matching: theta has " +
                                             std::to_string(m_theta.size()) +
                                             " entries, the network has " +
                                             std::to_string(m_net.num_params()) + " parameters");
    if (!m_theta.allFinite())
      throw error(status::invalid_input, "flow_matching: theta contains NaN or Inf");
    if (!(options.sigma >= 0.0) || !std::isfinite(options.sigma))
      throw error(status::invalid_input,
                  "flow_matching: sigma must be finite and non-negative (got " +
                      std::to_string(options.sigma) + ")");
    if (!(options.sinkhorn_epsilon > 0.0) || !std::isfinite(options.sinkhorn_epsilon))
      throw error(status::invalid_input,
                  "flow_matching: sinkhorn_epsilon is zero or negative or not finite (got " +
                      std::to_string(options.sinkhorn_epsilon) + ")");
  }

  /// \brief θ (writable: optimisers update it in place).
  [[nodiscard]] params_type& params() noexcept { return m_theta; }
  /// \brief θ.
  [[nodiscard]] const params_type& params() const noexcept { return m_theta; }
  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_net; }
  /// \brief The settings.
  [[nodiscard]] const flow_matching_options& options() const noexcept { return m_options; }
  /// \brief Data dimension D.
  [[nodiscard]] Eigen::Index dimension() const { return m_net.out_size(); }

  /// \brief The coupling of one minibatch: `x1.col(p[i])` is the partner of `x0.col(i)`.
  /// independent: the identity; exact_ot: the permutation minimising Σ_i ‖x0_i − x1_p[i]‖²
  /// (O(B³)); sinkhorn: p[i] drawn from row i of the entropic plan (may repeat; at most 1000
  /// Sinkhorn iterations, O(B²) each; if they run out the last plan is used, its columns exact).
  /// `rng` is used only by sinkhorn.
  /// \throws nde::error (invalid_input) on empty batches, wrong rows, different batch sizes or
  /// NaN/Inf samples.
  [[nodiscard]] std::vector<Eigen::Index> pair(const Eigen::MatrixXd& x0, const Eigen::MatrixXd& x1,
                                               std::mt19937_64& rng) const {
    detail::fm_check_pair("flow_matching::pair", x0, x1, dimension());
    std::vector<Eigen::Index> p(static_cast<std::size_t>(x0.cols()));
    switch (m_options.pairing) {
      case fm_pairing::independent: std::iota(p.begin(), p.end(), Eigen::Index(0)); break;
      case fm_pairing::exact_ot:
        p = ot::linear_assignment(ot::squared_euclidean_cost(x0, x1));
        break;
      case fm_pairing::sinkhorn: {
        const Eigen::MatrixXd cost = ot::squared_euclidean_cost(x0, x1);
        const double top = cost.maxCoeff();
        if (!(top > 0.0)) {  // every pair coincides: any coupling is optimal
          std::iota(p.begin(), p.end(), Eigen::Index(0));
          break;
        }
        p = ot::sample_pairing(ot::sinkhorn(cost, m_options.sinkhorn_epsilon * top).plan, rng);
        break;
      }
    }
    return p;
  }

  /// \brief One draw of the conditional path for an already paired batch (column i of x0 with
  /// column i of x1): t ~ U(0, 1), then ε ~ N(0, I) per sample (ε only when σ > 0).
  /// \throws nde::error (invalid_input) as `pair`.
  [[nodiscard]] fm_path conditional_path(const Eigen::MatrixXd& x0, const Eigen::MatrixXd& x1,
                                         std::mt19937_64& rng) const {
    detail::fm_check_pair("flow_matching::conditional_path", x0, x1, dimension());
    const Eigen::Index b = x0.cols(), d = dimension();
    Eigen::VectorXd t(b);
    for (Eigen::Index i = 0; i < b; ++i) t[i] = nn::uniform_01(rng);
    Eigen::MatrixXd noise = Eigen::MatrixXd::Zero(d, b);
    if (m_options.sigma > 0.0) {
      for (Eigen::Index j = 0; j < noise.size(); ++j) noise.data()[j] = nn::standard_normal(rng);
    }
    return conditional_path(x0, x1, t, noise);
  }

  /// \brief The path at given times t (length B, each in [0, 1]) and standard normal draws
  /// `noise` (D × B): x_t = t x1 + (1 − t) x0 + σ·noise, u_t = x1 − x0.
  /// \throws nde::error (invalid_input) as `pair`, or on t outside [0, 1] or bad noise.
  [[nodiscard]] fm_path conditional_path(const Eigen::MatrixXd& x0, const Eigen::MatrixXd& x1,
                                         const Eigen::VectorXd& t,
                                         const Eigen::MatrixXd& noise) const {
    detail::fm_check_pair("flow_matching::conditional_path", x0, x1, dimension());
    if (t.size() != x0.cols() || !(t.array() >= 0.0).all() || !(t.array() <= 1.0).all())
      throw error(status::invalid_input,
                  "flow_matching::conditional_path: t needs one time in [0, 1] per sample");
    if (noise.rows() != x0.rows() || noise.cols() != x0.cols() || !noise.allFinite())
      throw error(status::invalid_input,
                  "flow_matching::conditional_path: the noise must be finite and shaped as x0");
    fm_path path;
    path.t = t;
    path.ut = x1 - x0;
    path.xt = (x1 * t.asDiagonal() + x0 * (1.0 - t.array()).matrix().asDiagonal()).eval();
    if (m_options.sigma > 0.0) path.xt += m_options.sigma * noise;
    return path;
  }

  /// \brief The flow-matching loss of one minibatch and its gradient: pair (x0, x1), draw the
  /// path, L = (1/B) Σ_i ‖v_θ(t_i, x_t,i) − (x1_p[i] − x0_i)‖² and dL/dθ (one reverse pass).
  /// Deterministic given the state of `rng` (the pairing, then t, then ε are drawn from it).
  /// \throws nde::error (invalid_input) as `pair`.
  [[nodiscard]] fm_loss loss_and_gradient(const Eigen::MatrixXd& x0, const Eigen::MatrixXd& x1,
                                          std::mt19937_64& rng) {
    detail::fm_check_pair("flow_matching::loss_and_gradient", x0, x1, dimension());
    const std::vector<Eigen::Index> p = pair(x0, x1, rng);
    Eigen::MatrixXd paired(x1.rows(), x1.cols());
    for (Eigen::Index i = 0; i < x1.cols(); ++i) paired.col(i) = x1.col(p[std::size_t(i)]);
    const fm_path path = conditional_path(x0, paired, rng);
    return loss_and_gradient(path);
  }

  /// \brief The loss and gradient on a given path draw (`conditional_path`'s output).
  /// \throws nde::error (invalid_input) on mismatched shapes or non-finite entries.
  [[nodiscard]] fm_loss loss_and_gradient(const fm_path& path) {
    const Eigen::Index b = path.xt.cols(), d = dimension();
    detail::fm_check_batch("flow_matching::loss_and_gradient", "x_t", path.xt, d);
    detail::fm_check_batch("flow_matching::loss_and_gradient", "u_t", path.ut, d);
    if (path.ut.cols() != b || path.t.size() != b || !path.t.allFinite())
      throw error(status::invalid_input,
                  "flow_matching::loss_and_gradient: x_t, u_t and t have different batch sizes "
                  "or t is not finite");
    m_in.resize(d + 1, b);
    m_in.topRows(d) = path.xt;
    m_in.row(d) = path.t.transpose();
    evaluate(b);
    const Eigen::MatrixXd residual = m_out - path.ut;
    fm_loss out;
    out.loss = residual.squaredNorm() / double(b);
    const Eigen::MatrixXd dy = (2.0 / double(b)) * residual;
    out.gradient = Eigen::VectorXd::Zero(m_theta.size());
    m_net.backward(m_theta, m_in, dy, m_din, out.gradient, *m_ws);
    return out;
  }

  /// \brief v_θ(t, x) for every column of x at one time t (D × B).
  /// \throws nde::error (invalid_input) on an empty batch, wrong rows, NaN/Inf or non-finite t.
  [[nodiscard]] Eigen::MatrixXd velocity(double t, const Eigen::MatrixXd& x) {
    detail::fm_check_batch("flow_matching::velocity", "x", x, dimension());
    if (!std::isfinite(t))
      throw error(status::invalid_input, "flow_matching::velocity: t is not finite");
    Eigen::MatrixXd v;
    velocity_into(t, x, v);
    return v;
  }

  /// \brief Integrates dx/dt = v_θ(t, x) from t = 0 (x0, D × B) to t = 1: `steps` Euler steps
  /// (NFE = steps) or dopri5 at the given tolerances (NFE = its right-hand-side evaluations,
  /// each one batched network pass).
  /// \throws nde::error (invalid_input) on bad x0, steps < 1, bad tolerances or save times,
  /// and with the solver's status if the solve fails.
  [[nodiscard]] fm_sample_result sample(const Eigen::MatrixXd& x0,
                                        const fm_sample_options& options = {}) {
    detail::fm_check_batch("flow_matching::sample", "x0", x0, dimension());
    if (options.method == fm_sampler::euler_steps && options.steps < 1)
      throw error(status::invalid_input, "flow_matching::sample: steps must be at least 1");
    if (options.method == fm_sampler::adaptive &&
        (!(options.rtol > 0.0) || !(options.atol > 0.0) || !std::isfinite(options.rtol) ||
         !std::isfinite(options.atol)))
      throw error(status::invalid_input,
                  "flow_matching::sample: rtol and atol must be positive and finite");
    for (const double s : options.save_times)
      if (!(s >= 0.0 && s <= 1.0))
        throw error(status::invalid_input, "flow_matching::sample: save_times must lie in [0, 1]");
    auto f = [this](double t, const Eigen::MatrixXd& y, Eigen::MatrixXd& dydt) {
      velocity_into(t, y, dydt);
    };
    solve_options so;
    if (!options.save_times.empty()) {
      std::vector<double> ts = options.save_times;
      if (ts.back() != 1.0) ts.push_back(1.0);
      so.save_at = save_at::times(ts);
    }
    fm_sample_result out;
    auto finish = [&](auto& sol) {
      if (!sol.success()) throw error(sol.status, "flow_matching::sample: " + sol.message);
      out.x = sol.ys.back();
      out.nfe = std::int64_t(sol.stats.rhs_evals);
      if (!options.save_times.empty()) {
        out.ts.assign(sol.ts.begin(), sol.ts.end());
        out.trajectory.assign(sol.ys.begin(), sol.ys.end());
      }
    };
    if (options.method == fm_sampler::euler_steps) {
      so.controller = constant_step{.dt = 1.0 / double(options.steps)};
      so.max_steps = options.steps + 1 + std::int64_t(options.save_times.size());
      auto sol = solve(f, euler{}, 0.0, 1.0, x0, so);
      finish(sol);
    } else {
      so.controller = pid_controller{.rtol = options.rtol, .atol = options.atol};
      auto sol = solve(f, dopri5{}, 0.0, 1.0, x0, so);
      finish(sol);
    }
    return out;
  }

  /// \brief log q̂1(x) per column (nats) of the flow's pushforward of the source: x (D × B) at
  /// t = 1 is carried back to z at t = 0 with the exact divergence (`nde::cnf`, dopri5 at
  /// rtol/atol), and log q̂1(x) = log_source(z) − Δlog p. `log_source` maps a D × B matrix to
  /// a length-B vector (e.g. `standard_normal_log_density`, or a data source's closed form).
  /// The NLL of a test set is `−log_density(...).mean()`. Cost: one adaptive solve of the
  /// augmented flow with D tangents per sample (`exact_trace`).
  /// \throws nde::error (invalid_input) on bad x or a `log_source` result of the wrong length,
  /// and with the solver's status if the solve fails.
  template <class LogSource>
  [[nodiscard]] Eigen::VectorXd log_density(
      const Eigen::MatrixXd& x, LogSource&& log_source, std::mt19937_64& rng, double rtol = 1e-5,
      double atol = 1e-5) const requires nn::jacobian_pass_network<Net, double> {
    detail::fm_check_batch("flow_matching::log_density", "x", x, dimension());
    cnf<Net, exact_trace, dopri5, backsolve_adjoint> flow(
        m_net, m_theta, {}, {.t0 = 1.0, .t1 = 0.0, .rtol = rtol, .atol = atol, .time_input = true});
    const auto base = flow.to_base(x, rng);
    const Eigen::VectorXd logq = log_source(base.z);
    if (logq.size() != x.cols())
      throw error(status::invalid_input, "flow_matching::log_density: log_source returned " +
                                             std::to_string(logq.size()) + " values for " +
                                             std::to_string(x.cols()) + " samples");
    return logq - base.delta_logp;
  }

 private:
  void evaluate(Eigen::Index b) {
    if (!m_ws || m_ws->capacity() < b) m_ws.emplace(m_net.template make_workspace<double>(b));
    m_net.forward(m_theta, 0.0, m_in, m_out, *m_ws);
  }

  void velocity_into(double t, const Eigen::MatrixXd& x, Eigen::MatrixXd& v) {
    const Eigen::Index d = dimension(), b = x.cols();
    m_in.resize(d + 1, b);
    m_in.topRows(d) = x;
    m_in.row(d).setConstant(t);
    evaluate(b);
    v = m_out;
  }

  using workspace_type =
      decltype(std::declval<const Net&>().template make_workspace<double>(Eigen::Index(1)));

  Net m_net;
  params_type m_theta;
  flow_matching_options m_options;
  Eigen::MatrixXd m_in, m_out, m_din;
  std::optional<workspace_type> m_ws;
};

}  // namespace nde
