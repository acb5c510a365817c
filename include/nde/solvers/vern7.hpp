/// \file
/// \brief Verner's "most efficient" 7(6) pair (J. H. Verner, "Numerically optimal Runge–Kutta
/// pairs with interpolants", Numer. Algorithms 53, 383–396, 2010; the "efficient" 7(6) set of
/// Verner's page http://people.math.sfu.ca/~jverner/, as also tabulated by OrdinaryDiffEq.jl's
/// `Vern7Tableau`, `Vern7ExtraStages` and `Vern7InterpolationCoefficients`; rational and
/// 40-digit coefficients rounded to 20 digits here), with its 7th-order interpolant and its 6
/// lazy extra stages.
///
/// Order 7, embedded order 6. 10 stages, no FSAL: 10 evaluations of f per step (9 stages and
/// f(t1, y1), which is the next step's first stage). A step that holds dense output adds the
/// extra stages 11–16: stage 11 is f(t1, y1) itself (free), so 5 more evaluations.
///
/// The published interpolant satisfies its order-7 conditions to about 3e-7 (order ≤ 6 exactly;
/// checked against the rooted-tree conditions in 50-digit arithmetic): its local error is
/// 7th-order-like (h⁸) at practical steps, with a small h⁷ term that only shows at steps where
/// the interpolation error is far below the solution's. The method to pick at tolerances around
/// 1e-7..1e-12 when f is cheap to moderately expensive.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>
#include <cstddef>

namespace nde {

namespace detail {

/// The extra stages 11–16 of Vern7: stage 11 is f(t1, y1) (its row is b), 12–16 Verner's.
constexpr std::array<std::array<double, 16>, 6> vern7_extra(const std::array<double, 10>& b) {
  std::array<std::array<double, 16>, 6> a{{
      {},
      {0.052322276915996898155, 0, 0, 0.22495861826705715502, 0.01744370924877637539,
       -0.007669379876829393188, 0.034358960440732846457, -0.041020972300939498391,
       0.025651133005205616553, 0, -0.0160443457, 0, 0, 0, 0, 0},
      {0.053053341257859086388, 0, 0, 0.12195301011401886071, 0.01774684073760249704,
       -5.9283726676814943289e-4, 0.0083818339708537508736, -0.012933692596986119567,
       0.0094120568152538608048, 0, -0.0053532531072756760324, -0.066667299924558110784, 0, 0, 0,
       0},
      {0.038879032574363036864, 0, 0, -0.0024403203308301315179, -0.0013928917214672622813,
       -4.744629155868013465e-4, 3.9207932413159513694e-4, -4.0554733285128001364e-4,
       1.9897093147716726288e-4, 0, -1.0278198793179168847e-4, 0.033856615138702667153,
       0.18148930631999280043, 0, 0, 0},
      {0.057236812046900129096, 0, 0, 0.22265948066761180993, 0.12344864200186899049,
       0.040063325266664908751, -0.052698948485814520669, 0.047659712142445228569,
       -0.021388958850422130364, 0, 0.015193891064036401655, 0.12060546716289655543,
       -0.022779423016187372882, 0, 0, 0},
      {0.051372038802756814266, 0, 0, 0.54142144734394055824, 0.35039980669218400812,
       0.14193112269692182169, 0.10527377478429422548, -0.031081847805874017008,
       -0.0074018831495191450618, 0, -0.0063779325048653634376, -0.17325495908361864034,
       -0.18228156777622026194, 0, 0, 0},
  }};
  for (std::size_t j = 0; j < 10; ++j) a[0][j] = b[j];
  return a;
}

}  // namespace detail

/// \brief Butcher tableau of Verner's efficient 7(6) pair, with its interpolant's extra stages.
struct vern7_tableau {
  /// \brief Number of stages s (10 evaluations of f per step with `evaluate_end`).
  static constexpr int stages = 10;
  /// \brief Order of the propagated solution.
  static constexpr int order = 7;
  /// \brief Order of the embedded solution b_hat used for the error estimate.
  static constexpr int error_order = 6;
  /// \brief Not FSAL: stages 9 and 10 both sit at t1, neither at y1.
  static constexpr bool fsal = false;
  /// \brief Butcher matrix A (Verner's rationals, rounded).
  static constexpr std::array<std::array<double, 10>, 10> a{{
      {},
      {0.005},
      {-1.0767901234567901235, 1.1856790123456790123},
      {0.040833333333333333333, 0, 0.1225},
      {0.63891392362557267805, 0, -2.4556726382236568097, 2.2722587145980841316},
      {-2.6615773750187571311, 0, 10.804513886456137696, -8.353914657396199412,
       0.82048759495665697914},
      {6.0677414346967709927, 0, -24.711273635911085797, 20.42751793078889394,
       -1.9061579788166471506, 1.0061722492420680148},
      {12.054670076253202995, 0, -49.754784950468989328, 41.142888638604676633,
       -4.4617601499740041856, 2.0423348222391749598, -0.098348436654061073795},
      {10.138146522881807876, 0, -42.641136031717502146, 35.763840039922570071,
       -4.3480228403929076533, 2.0098622683770358954, 0.3487490460338272406,
       -0.27143900510483128424},
      {-45.030072034298677124, 0, 187.32724376545888408, -154.02882369350186906,
       18.564653063475362339, -7.1418096792950788549, 1.3088085781613786251},
  }};
  /// \brief Weights b of y1 = y0 + h Σ b_i k_i.
  static constexpr std::array<double, 10> b{0.047155618486272221704,
                                            0,
                                            0,
                                            0.25750564298434151896,
                                            0.26216653977412620477,
                                            0.15216092656738557403,
                                            0.49399691700324842469,
                                            -0.29430311714032504416,
                                            0.081317472324951099997,
                                            0};
  /// \brief Nodes c (c6 = 3480084980/5709648941).
  static constexpr std::array<double, 10> c{
      0, 0.005, 49.0 / 450, 49.0 / 300, 0.4555, 0.60950944899783813171, 0.884, 0.925, 1, 1};
  /// \brief b - b_hat of the embedded 6th-order method.
  static constexpr std::array<double, 10> b_error{0.002547011879931045417,
                                                  0,
                                                  0,
                                                  -0.0096583948727957490913,
                                                  0.042064709756396902773,
                                                  -0.066682243746930109066,
                                                  0.26500974646212813635,
                                                  -0.29430311714032504416,
                                                  0.081317472324951099997,
                                                  -0.020295184663356282228};
  /// \brief Extra stages 11–16, read only by the interpolant.
  static constexpr int extra_stages = 6;
  /// \brief Their rows over stages 1–16 (stage 11's is b: it is f(t1, y1)).
  static constexpr std::array<std::array<double, 16>, 6> a_extra = detail::vern7_extra(b);
  /// \brief Their nodes.
  static constexpr std::array<double, 6> c_extra{1, 0.29, 0.125, 0.25, 0.53, 0.79};
  /// \brief Degree in θ of the interpolant.
  static constexpr int dense_degree = 7;
  /// \brief Order of the interpolant (see the file comment).
  static constexpr int dense_order = 7;
  /// \brief b_i(θ) = Σ_j dense[i][j] θ^(j+1) over stages 1–16 (Verner's interpolant).
  static constexpr std::array<std::array<double, 7>, 16> dense{{
      {1.0, -8.4133871983327674693, 33.675508884490896545, -70.801590894848861646,
       80.64695108301297873, -47.194139698375215801, 11.133813442539241864},
      {},
      {},
      {0, 8.7549219806743971606, -88.459682869977094261, 346.90176384299163095,
       -629.25800300598370468, 529.67737556041929839, -167.35886986514018604},
      {0, 8.913387586637921663, -90.060818468932177947, 353.1807459217057825,
       -640.64768197443744337, 539.26462790471552616, -170.38809442991548279},
      {0, 5.1733120298478003389, -52.271115900055388234, 204.98538673740730947,
       -371.83061185636028909, 312.98809343745290002, -98.892903521724946936},
      {0, 16.795377440796959864, -169.70040000059727444, 665.49377270092463031,
       -1207.1638892336007284, 1016.1291515818546033, -321.06001557237494219},
      {0, -10.005997536098664769, 101.10054330522750682, -396.4739151237843755,
       719.17877070141829141, -605.36810339188243508, 191.27439892797935207},
      {0, 2.7647088336385991397, -27.934602637390461781, 109.54779186137892178,
       -198.71281130644821164, 167.26633571640316707, -52.850104995257063466},
      {},
      {0, -2.1696320280163504812, 22.016696037569876256, -86.901524277989483508,
       159.22388973861474437, -135.96183065345879084, 43.792401183280004198},
      {0, -4.8900701887938039338, 22.754077374251761208, -30.780342185377309651,
       -2.7971943172072490211, 31.369456637508401832, -15.655927320381800434},
      {0, 10.862170929551967155, -50.542971417827106972, 68.371480404075118276,
       6.2133265216324091626, -69.680063231941581042, 34.77605679450919342},
      {0, -11.372866919229229159, 130.79058078246716441, -488.65113677785602075,
       832.21487932764408735, -664.77433685544262429, 201.79288044241662244},
      {0, -5.9197787327150066987, 63.276799658892188293, -265.43268208873795758,
       520.10092541406108248, -467.4121095339020119, 155.3868452824017054},
      {0, -10.49214619796182281, 105.3553852518801101, -409.43975011988938465,
       732.83144890765403269, -606.3044574733512378, 188.04951963166830246},
  }};
};

/// \brief Verner 7(6): order 7, 7th-order interpolant with lazy extra stages.
using vern7 = explicit_rk<vern7_tableau>;

static_assert(valid_tableau<vern7_tableau>(), "vern7_tableau failed its checks");

}  // namespace nde
