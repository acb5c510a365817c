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

// nn (layers, networks, initialisers)

// optim (optimisers, schedules, losses) and io (parameter files, .npy)
#include "nde/optim/sgd.hpp"
#include "nde/optim/adam.hpp"
#include "nde/optim/clip.hpp"
#include "nde/optim/schedule.hpp"
#include "nde/optim/loss.hpp"
