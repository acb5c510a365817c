/// \file
/// \brief Umbrella header: include this one file to use all of nde.
///
/// nde is a header-only C++20 library for neural differential equations built on
/// Eigen 3.4: terms (what is integrated), steppers (explicit Runge–Kutta with dense output
/// and exact reverse steps), step-size controllers, gradients of any solve (discrete,
/// backsolve and checkpointed adjoints, forward sensitivities), neural-network layers with
/// hand-written vector–Jacobian products, and the models on top.
#pragma once

// core
#include "nde/version.hpp"
#include "nde/core/status.hpp"
#include "nde/core/checked.hpp"
#include "nde/core/parameter_layout.hpp"

// core, terms (what a solver integrates)
#include "nde/core/concepts.hpp"
#include "nde/core/dual.hpp"
#include "nde/core/format.hpp"
#include "nde/terms/field.hpp"
#include "nde/terms/ode_term.hpp"
#include "nde/terms/control_term.hpp"
#include "nde/terms/partitioned_term.hpp"
#include "nde/terms/linear_field.hpp"
#include "nde/terms/sum_field.hpp"
#include "nde/terms/autodiff_field.hpp"
#include "nde/terms/network_field.hpp"
#include "nde/terms/cde_field.hpp"

// solvers, step_size, integrate, testing (solver core)
#include "nde/solvers/stepper.hpp"
#include "nde/solvers/butcher_tableau.hpp"
#include "nde/solvers/explicit_rk.hpp"
#include "nde/solvers/euler.hpp"
#include "nde/solvers/midpoint.hpp"
#include "nde/solvers/heun.hpp"
#include "nde/solvers/rk4.hpp"
#include "nde/solvers/rk38.hpp"
#include "nde/solvers/bosh3.hpp"
#include "nde/solvers/dopri5.hpp"
#include "nde/solvers/tsit5.hpp"
#include "nde/solvers/dop853.hpp"
#include "nde/solvers/vern7.hpp"
#include "nde/linalg/jacobian.hpp"
#include "nde/linalg/lu.hpp"
#include "nde/linalg/newton.hpp"
#include "nde/solvers/diagonally_implicit.hpp"
#include "nde/solvers/implicit_euler.hpp"
#include "nde/solvers/trbdf2.hpp"
#include "nde/solvers/kvaerno3.hpp"
#include "nde/solvers/kvaerno4.hpp"
#include "nde/solvers/kvaerno5.hpp"
#include "nde/solvers/rosenbrock.hpp"
#include "nde/solvers/rosenbrock23.hpp"
#include "nde/solvers/rodas4.hpp"
#include "nde/solvers/rodas5.hpp"
#include "nde/solvers/auto_switch.hpp"
#include "nde/solvers/splitting.hpp"
#include "nde/solvers/symplectic_euler.hpp"
#include "nde/solvers/leapfrog.hpp"
#include "nde/solvers/forest_ruth.hpp"
#include "nde/solvers/rkn4.hpp"
#include "nde/solvers/implicit_midpoint.hpp"
#include "nde/solvers/reversible_heun.hpp"
#include "nde/solvers/mali.hpp"
#include "nde/solvers/reversible_rk.hpp"
#include "nde/step_size/controller.hpp"
#include "nde/step_size/error_norm.hpp"
#include "nde/step_size/constant_step.hpp"
#include "nde/step_size/fixed_times.hpp"
#include "nde/step_size/pid_controller.hpp"
#include "nde/integrate/save_at.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/integrate/events.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/testing/convergence.hpp"

// adjoint (gradients of any solve)
#include "nde/adjoint/methods.hpp"
#include "nde/adjoint/binomial.hpp"
#include "nde/adjoint/differentiable_solve.hpp"

// nn (layers, networks, initialisers)
#include "nde/nn/activations.hpp"
#include "nde/nn/linear.hpp"
#include "nde/nn/time_layers.hpp"
#include "nde/nn/sequential.hpp"
#include "nde/nn/mlp.hpp"
#include "nde/nn/initialisers.hpp"
#include "nde/nn/second_order.hpp"
#include "nde/nn/hessian.hpp"

// optim (optimisers, schedules, losses) and io (parameter files, .npy)
#include "nde/optim/sgd.hpp"
#include "nde/optim/adam.hpp"
#include "nde/optim/clip.hpp"
#include "nde/optim/schedule.hpp"
#include "nde/optim/loss.hpp"
#include "nde/io/common.hpp"
#include "nde/io/parameter_file.hpp"
#include "nde/io/npy.hpp"
#include "nde/io/npz.hpp"

// models
#include "nde/models/per_sample.hpp"
#include "nde/models/neural_ode.hpp"
#include "nde/models/hamiltonian.hpp"
#include "nde/models/second_order.hpp"
#include "nde/models/lagrangian.hpp"
#include "nde/models/augmented.hpp"
#include "nde/nn/jacobian_pass.hpp"
#include "nde/models/cnf.hpp"
#include "nde/models/flow_matching.hpp"

// datasets, optimal transport
#include "nde/datasets/toy.hpp"
#include "nde/ot/assignment.hpp"
#include "nde/ot/wasserstein.hpp"
#include "nde/paths/interpolation.hpp"
#include "nde/paths/observations.hpp"
#include "nde/models/neural_cde.hpp"
#include "nde/nn/gru.hpp"
#include "nde/models/ode_rnn.hpp"
#include "nde/models/latent_ode.hpp"
