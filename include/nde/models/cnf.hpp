/// \file
/// \brief Continuous normalising flows (Chen et al. 2018 §4; FFJORD, Grathwohl et al. 2019):
/// `cnf_field`, the augmented dynamics `d[z; ℓ; E_K; E_J]/dt = [f; −tr ∂f/∂z; ‖f‖²; ‖∂f/∂z‖²_F]`
/// over a time-dependent network `f(t, z; θ)`, and `cnf`, the model that trains it by maximum
/// likelihood under a standard normal base with any gradient method.
///
/// Change of variables along the flow (instantaneous change of variables, Chen et al. 2018,
/// Theorem 1): `d log p(z(t))/dt = −tr(∂f/∂z)`. With ℓ(0) = 0 and z(0) = x integrated to T,
///   `log p_x(x) = log N(z(T); 0, I) − ℓ(T)`.
///
/// The divergence is chosen at compile time:
/// - `exact_trace`: `Σ_i (∂f/∂z e_i)_i` for all samples in one batched forward-mode pass
///   through the layers (the batch replicated D times with tangents e_1 … e_D;
///   `nn::jacobian_pass`), not D reverse passes (FFJORD's `divergence_bf` loops over D).
/// - `hutchinson_trace`: `εᵀ(∂f/∂z)ε`, ε Rademacher or Gaussian (Hutchinson 1989; FFJORD eq. 7),
///   unbiased with variance `2‖S‖²_F` (Gaussian) or `2Σ_{i≠j} S_ij²` (Rademacher), S the
///   symmetric part of the Jacobian. The probe is drawn **once per solve** (`draw_probe`) and
///   held fixed over every evaluation of that solve and its backward pass (redrawing it per
///   evaluation makes the solve noisy and the step count explode, torchdiffeq #120).
///   `probes > 1` averages several probes per sample.
///
/// RNODE regularisers (Finlay, Jacobsen, Nurbekyan & Oberman 2020, "How to train your neural
/// ODE", eq. 3): with `regularised = true` two channels integrate the kinetic energy ‖f‖² and the
/// Jacobian Frobenius norm ‖∂f/∂z‖²_F — exact with `exact_trace`, and with `hutchinson_trace`
/// estimated as ‖(∂f/∂z) ε‖² from the same probe's Jacobian–vector product (RNODE writes
/// ‖εᵀ∂f/∂z‖²; both have expectation ‖∂f/∂z‖²_F). They cost nothing beyond the trace's pass.
///
/// Gradients: the field's `vjp` differentiates every channel in (z, θ, t) with one
/// forward-over-reverse pass (`nn::jacobian_pass`), so every gradient method of
/// `nde::solve` applies (the discrete adjoint, backsolve, checkpointed and reversible adjoints).
/// There is no `jvp`, so `forward_sensitivity` does not apply.
#pragma once

#include "nde/adjoint/methods.hpp"
#include "nde/core/status.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/nn/initialisers.hpp"
#include "nde/nn/jacobian_pass.hpp"
#include "nde/solvers/dopri5.hpp"
#include "nde/terms/field.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

namespace nde {

/// \brief Distribution of a Hutchinson probe's entries.
enum class probe_distribution {
  rademacher,  ///< ±1 with probability ½ each (the lower-variance choice for a fixed matrix).
  gaussian     ///< Standard normal.
};

/// \brief Divergence by the exact trace (one batched forward-mode pass, D tangents per sample).
struct exact_trace {};

/// \brief Divergence by Hutchinson's estimator εᵀ(∂f/∂z)ε with a probe held fixed per solve.
struct hutchinson_trace {
  probe_distribution distribution = probe_distribution::rademacher;  ///< Probe entries.
  Eigen::Index probes = 1;  ///< Probes per sample (the estimate is their mean), ≥ 1.
};

/// \brief Options of a `cnf_field`.
struct cnf_field_options {
  bool regularised = false;  ///< Add the RNODE channels E_K = ∫‖f‖², E_J = ∫‖∂f/∂z‖²_F.
  /// The network takes the time as its last input row: `f(t, z) = net([z; t])` (D + 1 inputs,
  /// D outputs; torchcfm's time-varying MLP). Otherwise the network is D → D and sees t through
  /// its time layers (`concat_linear`, `concat_squash_linear`).
  bool time_input = false;
};

/// \brief The augmented CNF dynamics as a differentiable field over a batch matrix state.
///
/// State: (D + 1) × B, or (D + 3) × B when regularised; column b is sample b with rows
/// `[z (D); ℓ; E_K; E_J]`. dℓ/dt = −div f, dE_K/dt = ‖f‖², dE_J/dt = ‖∂f/∂z‖²_F (estimate).
/// \tparam Net a `jacobian_pass_network` mapping D inputs to D outputs (e.g. FFJORD's
/// `concat_squash_linear` stack with `tanh`). \tparam Divergence `exact_trace` or
/// `hutchinson_trace`.
///
/// Cost per evaluation with B samples and K tangents per sample (K = D exact, K = probes
/// Hutchinson): one `jacobian_pass` forward over K·B columns; a vjp adds its reverse pass.
template <class Net, class Divergence = exact_trace>
requires nn::jacobian_pass_network<Net, double> &&
    (std::is_same_v<Divergence, exact_trace> ||
     std::is_same_v<Divergence, hutchinson_trace>)class cnf_field {
 public:
  using scalar = double;               ///< Scalar of states and θ.
  using state_type = Eigen::MatrixXd;  ///< Batch state (columns are samples).
  using divergence_type = Divergence;  ///< `exact_trace` or `hutchinson_trace`.
  static constexpr bool exact = std::is_same_v<Divergence, exact_trace>;  ///< Exact divergence.

  /// \brief The field of `net` (D → D, or D + 1 → D with `options.time_input`).
  /// \throws nde::error (invalid_input) if the network's sizes do not fit or `probes < 1`.
  explicit cnf_field(Net net, Divergence divergence = {}, cnf_field_options options = {})
      : m_pass(std::move(net)),
        m_divergence(divergence),
        m_regularised(options.regularised),
        m_time_input(options.time_input) {
    const auto& n = m_pass.network();
    const Eigen::Index extra = m_time_input ? 1 : 0;
    if (n.in_size() != n.out_size() + extra || n.out_size() < 1)
      throw error(status::invalid_input,
                  "cnf_field: the network maps " + std::to_string(n.in_size()) + " inputs to " +
                      std::to_string(n.out_size()) + " outputs; a flow needs D → D" +
                      (m_time_input ? " plus the time input (D + 1 → D)" : "") + " with D ≥ 1");
    if constexpr (!exact) {
      if (m_divergence.probes < 1)
        throw error(status::invalid_input, "cnf_field: hutchinson_trace::probes must be ≥ 1");
    }
  }

  /// \brief The network.
  [[nodiscard]] const Net& network() const noexcept { return m_pass.network(); }
  /// \brief Data dimension D.
  [[nodiscard]] Eigen::Index dimension() const { return m_pass.network().out_size(); }
  /// \brief Whether the network takes [z; t] as its input.
  [[nodiscard]] bool time_input() const noexcept { return m_time_input; }
  /// \brief State rows: D + 1, or D + 3 with the regularisers.
  [[nodiscard]] Eigen::Index state_rows() const { return dimension() + (m_regularised ? 3 : 1); }
  /// \brief Whether the kinetic and Jacobian channels are present.
  [[nodiscard]] bool regularised() const noexcept { return m_regularised; }
  /// \brief Number of network parameters.
  [[nodiscard]] Eigen::Index num_params() const { return m_pass.network().num_params(); }
  /// \brief Tangents per sample: D (exact) or `probes` (Hutchinson).
  [[nodiscard]] Eigen::Index tangents_per_sample() const {
    if constexpr (exact) {
      return dimension();
    } else {
      return m_divergence.probes;
    }
  }

  /// \brief Draws a new Hutchinson probe for a batch of `batch` samples: D × (probes·batch),
  /// column `b·probes + k` is probe k of sample b. Call once per solve (the model does).
  /// With `exact_trace` this does nothing.
  /// \throws nde::error (invalid_input) if batch < 0.
  void draw_probe(Eigen::Index batch, std::mt19937_64& rng) {
    if (batch < 0) throw error(status::invalid_input, "cnf_field::draw_probe: negative batch");
    if constexpr (!exact) {
      m_probe.resize(dimension(), batch * m_divergence.probes);
      for (Eigen::Index j = 0; j < m_probe.size(); ++j) {
        m_probe.data()[j] = m_divergence.distribution == probe_distribution::rademacher
                                ? ((rng() >> 63) != 0 ? 1.0 : -1.0)
                                : nn::standard_normal(rng);
      }
    } else {
      (void)rng;
    }
  }
  /// \brief Sets the Hutchinson probe (D × probes·batch, layout as `draw_probe`).
  /// \throws nde::error (invalid_input) on the wrong number of rows or non-finite entries.
  void set_probe(const Eigen::MatrixXd& probe) {
    if (probe.rows() != dimension() || !probe.allFinite() ||
        probe.cols() % tangents_per_sample() != 0)
      throw error(status::invalid_input,
                  "cnf_field::set_probe: the probe is " + std::to_string(probe.rows()) + "x" +
                      std::to_string(probe.cols()) + "; it must be finite with " +
                      std::to_string(dimension()) + " rows and a multiple of " +
                      std::to_string(tangents_per_sample()) + " columns");
    m_probe = probe;
  }
  /// \brief The current probe (empty until drawn or set; unused by `exact_trace`).
  [[nodiscard]] const Eigen::MatrixXd& probe() const noexcept { return m_probe; }

  /// \brief dy/dt for every column (see the class comment).
  template <class T>
  void operator()(T t, const state_type& y, params_view<scalar> theta, state_type& dydt) {
    evaluate(static_cast<scalar>(t), y, theta);
    write_value(y.cols(), dydt);
  }

  /// \brief `a_y = aᵀ ∂F/∂y`, `a_θ += aᵀ ∂F/∂θ` for the augmented F, every channel included.
  template <class T>
  void vjp(T t, const state_type& y, params_view<scalar> theta, const state_type& a,
           state_type& a_y, params_ref<scalar> a_theta) {
    scalar a_t = 0;
    vjp(t, y, theta, a, a_y, a_theta, a_t);
  }

  /// \brief The vjp with the time cotangent `a_t += aᵀ ∂F/∂t`.
  template <class T>
  void vjp(T t, const state_type& y, params_view<scalar> theta, const state_type& a,
           state_type& a_y, params_ref<scalar> a_theta, scalar& a_t) {
    evaluate(static_cast<scalar>(t), y, theta);
    pull_back(static_cast<scalar>(t), y, theta, a, a_y, a_theta, a_t);
  }

  /// \brief dy/dt and the vjp at one point sharing the forward pass.
  template <class T>
  void value_and_vjp(T t, const state_type& y, params_view<scalar> theta, const state_type& a,
                     state_type& dydt, state_type& a_y, params_ref<scalar> a_theta) {
    evaluate(static_cast<scalar>(t), y, theta);
    write_value(y.cols(), dydt);
    scalar a_t = 0;
    pull_back(static_cast<scalar>(t), y, theta, a, a_y, a_theta, a_t);
  }

 private:
  scalar weight() const { return exact ? 1.0 : 1.0 / double(tangents_per_sample()); }

  void evaluate(scalar t, const state_type& y, params_view<scalar> theta) {
    const Eigen::Index d = dimension(), k = tangents_per_sample(), b = y.cols();
    if (y.rows() != state_rows())
      throw error(status::invalid_input, "cnf_field: the state has " + std::to_string(y.rows()) +
                                             " rows, the flow needs " +
                                             std::to_string(state_rows()));
    const Eigen::Index rows = m_time_input ? d + 1 : d;
    m_x.resize(rows, k * b);
    for (Eigen::Index s = 0; s < b; ++s)
      for (Eigen::Index j = 0; j < k; ++j) m_x.col(s * k + j).head(d) = y.col(s).head(d);
    if (m_time_input) m_x.row(d).setConstant(t);
    if constexpr (exact) {
      // The unit tangents e_j depend only on the batch's shape: built once per shape.
      if (m_v.rows() != rows || m_v.cols() != k * b) {
        m_v.setZero(rows, k * b);
        for (Eigen::Index s = 0; s < b; ++s)
          for (Eigen::Index j = 0; j < k; ++j) m_v(j, s * k + j) = 1.0;
      }
    } else {
      if (m_probe.rows() != d || m_probe.cols() != k * b)
        throw error(status::invalid_input,
                    "cnf_field: the Hutchinson probe is " + std::to_string(m_probe.rows()) + "x" +
                        std::to_string(m_probe.cols()) + " but the batch of " + std::to_string(b) +
                        " samples needs " + std::to_string(d) + "x" + std::to_string(k * b) +
                        " (call draw_probe(batch, rng) before the solve)");
      m_v.setZero(rows, k * b);
      m_v.topRows(d) = m_probe;
    }
    m_pass.forward(theta, t, m_x, m_v);
  }

  void write_value(Eigen::Index b, state_type& dydt) const {
    const Eigen::Index d = dimension(), k = tangents_per_sample();
    const auto& f = m_pass.value();
    const auto& jv = m_pass.tangent();
    const auto v = m_v.topRows(d);
    dydt.resize(state_rows(), b);
    for (Eigen::Index s = 0; s < b; ++s) {
      dydt.col(s).head(d) = f.col(s * k);
      scalar trace = 0, frobenius = 0;
      for (Eigen::Index j = 0; j < k; ++j) {
        const Eigen::Index n = s * k + j;
        trace += exact ? jv(j, n) : v.col(n).dot(jv.col(n));
        frobenius += jv.col(n).squaredNorm();
      }
      dydt(d, s) = -weight() * trace;
      if (m_regularised) {
        dydt(d + 1, s) = f.col(s * k).squaredNorm();
        dydt(d + 2, s) = weight() * frobenius;
      }
    }
  }

  void pull_back(scalar t, const state_type& y, params_view<scalar> theta, const state_type& a,
                 state_type& a_y, params_ref<scalar> a_theta, scalar& a_t) {
    const Eigen::Index d = dimension(), k = tangents_per_sample(), b = y.cols();
    if (a.rows() != y.rows() || a.cols() != b)
      throw error(status::invalid_input, "cnf_field::vjp: the cotangent's shape differs from y's");
    const auto& f = m_pass.value();
    const auto& jv = m_pass.tangent();
    const auto v = m_v.topRows(d);
    // φ = a_z·f − a_ℓ w·tr + a_K ‖f‖² + a_J w Σ‖J v‖²: its gradient is the tangent part of the
    // reverse pass with cotangent W = w(−a_ℓ v + 2 a_J J v) and cotangent tangent
    // Ẇ = a_z + 2 a_K f (first tangent column of each sample only).
    m_w.resize(d, k * b);
    m_wdot.setZero(d, k * b);
    for (Eigen::Index s = 0; s < b; ++s) {
      const scalar alpha = -a(d, s);
      const scalar beta = m_regularised ? a(d + 2, s) : 0.0;
      const scalar kappa = m_regularised ? a(d + 1, s) : 0.0;
      for (Eigen::Index j = 0; j < k; ++j) {
        const Eigen::Index n = s * k + j;
        m_w.col(n) = weight() * (alpha * v.col(n) + 2.0 * beta * jv.col(n));
      }
      m_wdot.col(s * k) = a.col(s).head(d) + 2.0 * kappa * f.col(s * k);
    }
    m_pass.reverse(theta, t, m_w, m_wdot, m_rdot, a_theta, a_t);
    a_y.setZero(y.rows(), b);
    for (Eigen::Index s = 0; s < b; ++s)
      for (Eigen::Index j = 0; j < k; ++j) a_y.col(s).head(d) += m_rdot.col(s * k + j).head(d);
    if (m_time_input) a_t += m_rdot.row(d).sum();  // the time row of every column
  }

  nn::jacobian_pass<Net, double> m_pass;
  Divergence m_divergence;
  bool m_regularised;
  bool m_time_input;
  Eigen::MatrixXd m_probe;              // Hutchinson probe, D × (probes·B)
  Eigen::MatrixXd m_x, m_v;             // replicated inputs ([z; t]) and their tangents
  Eigen::MatrixXd m_w, m_wdot, m_rdot;  // reverse-pass inputs and output
};

/// \brief Settings of a `cnf` model.
struct cnf_options {
  double t0 = 0.0;     ///< Time of the data end of the flow.
  double t1 = 1.0;     ///< Time of the base end (FFJORD's toy runs: T = 0.5); ≠ t0, either side.
  double rtol = 1e-5;  ///< Forward relative tolerance (FFJORD's toy default).
  double atol = 1e-5;  ///< Forward absolute tolerance.
  double kinetic_weight = 0.0;  ///< λ_K of RNODE's ∫‖f‖² (RNODE uses 0.01); needs regularised.
  double jacobian_weight = 0.0;  ///< λ_J of RNODE's ∫‖∂f/∂z‖²_F (0.01); needs regularised.
  bool time_input = false;  ///< The network takes [z; t] (see `cnf_field_options::time_input`).
  std::int64_t max_steps = 100000;  ///< Step budget of each solve.
};

/// \brief What `cnf::loss_and_gradient` returns.
struct cnf_loss {
  double loss = 0;           ///< NLL + λ_K E_K + λ_J E_J (batch means), nats.
  double nll = 0;            ///< Mean negative log-likelihood, nats per sample.
  double kinetic = 0;        ///< Mean ∫‖f‖² dt (0 unless regularised).
  double jacobian = 0;       ///< Mean ∫‖∂f/∂z‖²_F dt (estimate; 0 unless regularised).
  Eigen::VectorXd gradient;  ///< d loss / dθ.
  gradient_stats stats;      ///< Forward and backward work (NFE).
  nde::status status = nde::status::success;  ///< A solve can fail (e.g. step budget).
  std::string message;                        ///< Empty on success.
  /// \brief True on success.
  [[nodiscard]] bool success() const noexcept { return status == nde::status::success; }
};

/// \brief A continuous normalising flow trained by maximum likelihood under N(0, I).
///
/// \code
/// nde::cnf<Net, nde::hutchinson_trace, nde::dopri5, nde::backsolve_adjoint> flow(net, theta);
/// auto l = flow.loss_and_gradient(x, rng);   // x: D × B data batch; l.nll, l.gradient
/// Eigen::VectorXd logp = flow.log_density(x_test, rng);
/// Eigen::MatrixXd samples = flow.sample(1000, rng);
/// \endcode
/// \tparam Gradient any gradient method of `nde::solve` except `forward_sensitivity`.
template <class Net, class Divergence = exact_trace, class Method = dopri5,
          class Gradient = backsolve_adjoint>
class cnf {
 public:
  using field_type = cnf_field<Net, Divergence>;  ///< The augmented field.
  using params_type = Eigen::VectorXd;            ///< Flat θ.

  /// \brief A flow of `net` (D → D, or D + 1 → D with `time_input`) with parameters `theta`.
  /// Non-zero regularisation weights add the RNODE channels.
  /// \throws nde::error (invalid_input) on a θ length mismatch, t0 = t1 or a non-finite time,
  /// or negative weights.
  cnf(const Net& net, params_type theta, Divergence divergence = {}, cnf_options options = {},
      Gradient gradient = {})
      : m_options(options),
        m_model(field_type(
                    net, divergence,
                    {.regularised = options.kinetic_weight != 0.0 || options.jacobian_weight != 0.0,
                     .time_input = options.time_input}),
                std::move(theta), std::move(gradient), model_options(options, net.out_size())) {
    if (!std::isfinite(options.t0) || !std::isfinite(options.t1) || options.t0 == options.t1)
      throw error(status::invalid_input, "cnf: t0 and t1 must be finite and distinct");
    if (!(options.kinetic_weight >= 0.0) || !(options.jacobian_weight >= 0.0))
      throw error(status::invalid_input, "cnf: the regularisation weights must be ≥ 0");
  }

  /// \brief θ (writable: optimisers update it in place).
  [[nodiscard]] params_type& params() noexcept { return m_model.params(); }
  /// \brief The augmented field.
  [[nodiscard]] field_type& field() noexcept { return m_model.field(); }
  /// \brief The settings.
  [[nodiscard]] const cnf_options& options() const noexcept { return m_options; }
  /// \brief Data dimension D.
  [[nodiscard]] Eigen::Index dimension() { return field().dimension(); }

  /// \brief Training loss of the batch `x` (D × B, columns are samples) and its gradient: one
  /// forward solve data → base (a new Hutchinson probe for it) and one backward pass.
  /// \throws nde::error (invalid_input) on an empty batch, wrong rows or a NaN/Inf sample.
  [[nodiscard]] cnf_loss loss_and_gradient(const Eigen::MatrixXd& x, std::mt19937_64& rng) {
    check_batch(x, "loss_and_gradient");
    const Eigen::Index d = dimension(), b = x.cols();
    field().draw_probe(b, rng);
    const auto& result = m_model.forward(augment(x), m_times);
    cnf_loss out;
    if (!result.success()) {
      out.status = result.status;
      out.message = result.message;
      return out;
    }
    const Eigen::MatrixXd& y1 = result.ys.back();
    std::array<Eigen::MatrixXd, 2> cot{Eigen::MatrixXd::Zero(y1.rows(), b),
                                       Eigen::MatrixXd::Zero(y1.rows(), b)};
    const double inv_b = 1.0 / double(b);
    const Eigen::VectorXd logp = log_density_from(y1);
    out.nll = -logp.mean();
    cot[1].topRows(d) = y1.topRows(d) * inv_b;  // d(−log N(z))/dz = z
    cot[1].row(d).setConstant(inv_b);           // d(+ℓ)/dℓ
    if (field().regularised()) {
      out.kinetic = y1.row(d + 1).mean();
      out.jacobian = y1.row(d + 2).mean();
      cot[1].row(d + 1).setConstant(m_options.kinetic_weight * inv_b);
      cot[1].row(d + 2).setConstant(m_options.jacobian_weight * inv_b);
    }
    out.loss =
        out.nll + m_options.kinetic_weight * out.kinetic + m_options.jacobian_weight * out.jacobian;
    auto g = m_model.backward(std::span<const Eigen::MatrixXd>(cot.data(), cot.size()));
    out.stats = g.stats;
    if (g.status != nde::status::success) {
      out.status = g.status;
      out.message = g.message;
      return out;
    }
    out.gradient = std::move(g.params);
    return out;
  }

  /// \brief What `to_base` returns: log p_x(x) = log p_base(z) − delta_logp per column.
  struct base_result {
    Eigen::MatrixXd z;           ///< The points at t1 (D × B).
    Eigen::VectorXd delta_logp;  ///< ℓ(t1) = −∫_{t0}^{t1} div f dt per column.
  };

  /// \brief Maps data x (D × B) at t0 to the base at t1 with the log-density change, without
  /// recording a tape: for a base other than N(0, I) (e.g. flow matching from a data source).
  /// With `hutchinson_trace` the trace integral uses one fresh probe per call: an unbiased
  /// estimate (up to the solver's error); use `exact_trace` to evaluate a model.
  /// \throws nde::error on bad input or a failed solve.
  [[nodiscard]] base_result to_base(const Eigen::MatrixXd& x, std::mt19937_64& rng) {
    const Eigen::MatrixXd& y1 = solve_to_base(x, rng, "to_base");
    return {y1.topRows(dimension()), y1.row(dimension()).transpose()};
  }

  /// \brief log p(x) per column (nats) under the N(0, I) base (`to_base` plus the base density).
  /// \throws nde::error on bad input or a failed solve.
  [[nodiscard]] Eigen::VectorXd log_density(const Eigen::MatrixXd& x, std::mt19937_64& rng) {
    return log_density_from(solve_to_base(x, rng, "log_density"));
  }

  /// \brief Maps base points z (D × B) at t1 back to data space at t0 (sampling).
  /// \throws nde::error on bad input or a failed solve.
  [[nodiscard]] Eigen::MatrixXd transform_from_base(const Eigen::MatrixXd& z,
                                                    std::mt19937_64& rng) {
    const std::array<double, 2> back{m_options.t1, m_options.t0};
    return solve_between(z, back, rng, "transform_from_base").topRows(dimension());
  }

  /// \brief `n` samples of the flow: z ~ N(0, I) mapped back to data space.
  [[nodiscard]] Eigen::MatrixXd sample(Eigen::Index n, std::mt19937_64& rng) {
    if (n < 1) throw error(status::invalid_input, "cnf::sample: n must be ≥ 1");
    Eigen::MatrixXd z(dimension(), n);
    for (Eigen::Index j = 0; j < z.size(); ++j) z.data()[j] = nn::standard_normal(rng);
    return transform_from_base(z, rng);
  }

 private:
  // The regulariser channels do not feed back into the flow and only weight a penalty, so the
  // forward error norm is the RMS over z and ℓ alone (the norm of the unregularised flow): with
  // them in the norm, E_J's large rate made the regularised flow take more steps, not fewer.
  static neural_ode_options model_options(const cnf_options& o, Eigen::Index d) {
    neural_ode_options m;
    pid_controller c{.rtol = o.rtol, .atol = o.atol};
    if (o.kinetic_weight != 0.0 || o.jacobian_weight != 0.0) {
      c.custom_norm = [d](const Eigen::Ref<const Eigen::MatrixXd>& e) {
        const auto top = e.topRows(std::min<Eigen::Index>(d + 1, e.rows()));
        return top.size() == 0 ? 0.0 : std::sqrt(top.squaredNorm() / double(top.size()));
      };
    }
    m.controller = c;
    m.max_steps = o.max_steps;
    return m;
  }

  // The augmented state at t1 from data x at t0 (a fresh probe, nothing recorded).
  const Eigen::MatrixXd& solve_to_base(const Eigen::MatrixXd& x, std::mt19937_64& rng,
                                       const char* who) {
    return solve_between(x, m_times, rng, who);
  }

  // The augmented state at times[1] from points x at times[0] (a fresh probe, nothing recorded).
  const Eigen::MatrixXd& solve_between(const Eigen::MatrixXd& x, std::span<const double> times,
                                       std::mt19937_64& rng, const char* who) {
    check_batch(x, who);
    field().draw_probe(x.cols(), rng);
    const auto& result = m_model.predict(augment(x), times);
    if (!result.success())
      throw error(result.status, std::string("cnf::") + who + ": " + result.message);
    return result.ys.back();
  }

  void check_batch(const Eigen::MatrixXd& x, const char* who) {
    if (x.cols() == 0)
      throw error(status::invalid_input, std::string("cnf::") + who + ": the batch is empty");
    if (x.rows() != dimension())
      throw error(status::invalid_input, std::string("cnf::") + who + ": samples have " +
                                             std::to_string(x.rows()) + " rows, the flow has " +
                                             std::to_string(dimension()));
    if (!x.allFinite())
      throw error(status::invalid_input,
                  std::string("cnf::") + who + ": a sample contains NaN or Inf");
  }

  Eigen::MatrixXd augment(const Eigen::MatrixXd& x) {
    Eigen::MatrixXd y = Eigen::MatrixXd::Zero(field().state_rows(), x.cols());
    y.topRows(x.rows()) = x;
    return y;
  }

  Eigen::VectorXd log_density_from(const Eigen::MatrixXd& y1) {
    const Eigen::Index d = dimension();
    const double log_norm = -0.5 * double(d) * std::log(2.0 * std::numbers::pi);
    Eigen::VectorXd logp(y1.cols());
    for (Eigen::Index s = 0; s < y1.cols(); ++s)
      logp[s] = log_norm - 0.5 * y1.col(s).head(d).squaredNorm() - y1(d, s);
    return logp;
  }

  cnf_options m_options;
  neural_ode<field_type, Method, Gradient, Eigen::MatrixXd> m_model;
  std::array<double, 2> m_times{m_options.t0, m_options.t1};
};

}  // namespace nde
