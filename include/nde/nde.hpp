/// \file
/// \brief Umbrella header: include this one file to use all of nde.
///
/// nde is a header-only C++20 library for neural differential equations built on
/// Eigen 3.4: explicit Runge–Kutta solvers with adaptive step control and dense
/// output, neural-network layers with hand-written vector–Jacobian products, and
/// the adjoint methods that train neural ODEs.
#pragma once

// core
#include "nde/version.hpp"
#include "nde/core/status.hpp"
#include "nde/core/parameter_layout.hpp"

// solvers, step_size, integrate, testing (solver core)
#include "nde/core/concepts.hpp"
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
#include "nde/step_size/error_norm.hpp"
#include "nde/step_size/constant_step.hpp"
#include "nde/step_size/fixed_times.hpp"
#include "nde/step_size/pi_controller.hpp"
#include "nde/integrate/save_at.hpp"
#include "nde/integrate/solution.hpp"
#include "nde/integrate/solve.hpp"
#include "nde/testing/convergence.hpp"

// nn (layers, networks, initialisers)
#include "nde/nn/dual.hpp"
#include "nde/nn/activations.hpp"
#include "nde/nn/linear.hpp"
#include "nde/nn/time_layers.hpp"
#include "nde/nn/sequential.hpp"
#include "nde/nn/mlp.hpp"
#include "nde/nn/initialisers.hpp"

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

// models and gradients (neural_ode, differentiable fields, adjoint methods)
#include "nde/models/differentiable_field.hpp"
#include "nde/models/network_field.hpp"
#include "nde/gradients/gradient_methods.hpp"
#include "nde/gradients/discrete_reverse.hpp"
#include "nde/models/neural_ode.hpp"
