/// \file
/// \brief Dormand–Prince 8(5,3) with FSAL: the method of Hairer's DOP853 code (P. J. Prince,
/// J. R. Dormand, "High order embedded Runge–Kutta formulae", J. Comp. Appl. Math. 7(1),
/// 67–75, 1981; Hairer, Nørsett & Wanner I, Sec. II.10, and E. Hairer's `dop853.f`, whose
/// coefficients (given there to 30 digits) are used here), with its 7th-order dense output
/// (Hairer, Nørsett & Wanner I, Sec. II.6; `dop853.f`'s `CONTD8`).
///
/// Order 8. 12 evaluations of f per step (13 stages, the last one f(t1, y1), reused as the next
/// step's first), plus 3 for a step that holds dense output (stages 14–16, evaluated only then).
/// The step is measured by DOP853's combination of a 5th- and a 3rd-order embedded estimate,
/// err = ‖e5‖² / √(‖e5‖² + 0.01 ‖e3‖²) (see `pid_controller`), which behaves like an error of
/// order h⁸: `dop853::error_order` is 7. The method to pick at tight tolerances (rtol ≲ 1e-8)
/// on smooth non-stiff problems.
#pragma once

#include "nde/solvers/explicit_rk.hpp"

#include <array>
#include <cstddef>

namespace nde {

namespace detail {

/// The 12 explicit rows of DOP853 (stages 1–12) and, as row 13, the FSAL row b.
constexpr std::array<std::array<double, 13>, 13> dop853_matrix(const std::array<double, 13>& b) {
  std::array<std::array<double, 13>, 13> a{{
      {},
      {0.0526001519587677318785587544488},
      {0.0197250569845378994544595329183, 0.0591751709536136983633785987549},
      {0.0295875854768068491816892993775, 0, 0.0887627564304205475450678981324},
      {0.241365134159266685502369798665, 0, -0.884549479328286085344864962717,
       0.924834003261792003115737966543},
      {0.037037037037037037037037037037, 0, 0, 0.170828608729473871279604482173,
       0.125467687566822425016691814123},
      {0.037109375, 0, 0, 0.170252211019544039314978060272, 0.0602165389804559606850219397283,
       -0.017578125},
      {0.0370920001185047927108779319836, 0, 0, 0.170383925712239993810214054705,
       0.107262030446373284651809199168, -0.0153194377486244017527936158236,
       0.00827378916381402288758473766002},
      {0.624110958716075717114429577812, 0, 0, -3.36089262944694129406857109825,
       -0.868219346841726006818189891453, 27.5920996994467083049415600797,
       20.1540675504778934086186788979, -43.4898841810699588477366255144},
      {0.477662536438264365890433908527, 0, 0, -2.48811461997166764192642586468,
       -0.590290826836842996371446475743, 21.2300514481811942347288949897,
       15.2792336328824235832596922938, -33.2882109689848629194453265587,
       -0.0203312017085086261358222928593},
      {-0.93714243008598732571704021658, 0, 0, 5.18637242884406370830023853209,
       1.09143734899672957818500254654, -8.14978701074692612513997267357,
       -18.5200656599969598641566180701, 22.7394870993505042818970056734,
       2.49360555267965238987089396762, -3.0467644718982195003823669022},
      {2.27331014751653820792359768449, 0, 0, -10.5344954667372501984066689879,
       -2.00087205822486249909675718444, -17.9589318631187989172765950534,
       27.9488845294199600508499808837, -2.85899827713502369474065508674,
       -8.87285693353062954433549289258, 12.3605671757943030647266201528,
       0.643392746015763530355970484046},
      {},
  }};
  a[12] = b;
  return a;
}

/// b - b_hat of the embedded 3rd-order method, whose weights b_hat (`BHH1..3` of `dop853.f`)
/// sit on stages 1, 9 and 12.
constexpr std::array<double, 13> dop853_third_order_error(const std::array<double, 13>& b) {
  std::array<double, 13> e = b;
  e[0] -= 0.244094488188976377952755905512;
  e[8] -= 0.733846688281611857341361741547;
  e[11] -= 0.0220588235294117647058823529412;
  return e;
}

/// The coefficient of θ^m in θ^p (1 - θ)^q.
constexpr double power_basis_coefficient(int p, int q, int m) {
  const int r = m - p;
  if (r < 0 || r > q) return 0;
  double binomial = 1;
  for (int i = 0; i < r; ++i) binomial = binomial * (q - i) / (i + 1);
  return r % 2 == 1 ? -binomial : binomial;
}

/// DOP853's continuous extension (`CONTD8`) in monomial weights. `dop853.f` writes
/// y(t0 + θh) = y0 + θ(r2 + θ'(r3 + θ(r4 + θ'(r5 + θ(r6 + θ'(r7 + θ r8)))))), θ' = 1 - θ, with
/// r2 = Δ = h Σ b_i k_i, r3 = h k1 - Δ, r4 = Δ - h k13 - r3 and r5..r8 = h Σ_i d_{4..7,i} k_i
/// (k13 = f(t1, y1), k14..k16 the extra stages); expanded, b_i(θ) = Σ_j dense[i][j] θ^(j+1).
constexpr std::array<std::array<double, 7>, 16> dop853_dense(const std::array<double, 13>& b) {
  // d_{4..7,i} of dop853.f on stages 1, 6–16 (zero on stages 2–5).
  constexpr std::array<std::array<double, 16>, 4> d{{
      {-0.84289382761090128651353491142e+01, 0, 0, 0, 0, 0.56671495351937776962531783590e+00,
       -0.30689499459498916912797304727e+01, 0.23846676565120698287728149680e+01,
       0.21170345824450282767155149946e+01, -0.87139158377797299206789907490e+00,
       0.22404374302607882758541771650e+01, 0.63157877876946881815570249290e+00,
       -0.88990336451333310820698117400e-01, 0.18148505520854727256656404962e+02,
       -0.91946323924783554000451984436e+01, -0.44360363875948939664310572000e+01},
      {0.10427508642579134603413151009e+02, 0, 0, 0, 0, 0.24228349177525818288430175319e+03,
       0.16520045171727028198505394887e+03, -0.37454675472269020279518312152e+03,
       -0.22113666853125306036270938578e+02, 0.77334326684722638389603898808e+01,
       -0.30674084731089398182061213626e+02, -0.93321305264302278729567221706e+01,
       0.15697238121770843886131091075e+02, -0.31139403219565177677282850411e+02,
       -0.93529243588444783865713862664e+01, 0.35816841486394083752465898540e+02},
      {0.19985053242002433820987653617e+02, 0, 0, 0, 0, -0.38703730874935176555105901742e+03,
       -0.18917813819516756882830838328e+03, 0.52780815920542364900561016686e+03,
       -0.11573902539959630126141871134e+02, 0.68812326946963000169666922661e+01,
       -0.10006050966910838403183860980e+01, 0.77771377980534432092869265740e+00,
       -0.27782057523535084065932004339e+01, -0.60196695231264120758267380846e+02,
       0.84320405506677161018159903784e+02, 0.11992291136182789328035130030e+02},
      {-0.25693933462703749003312586129e+02, 0, 0, 0, 0, -0.15418974869023643374053993627e+03,
       -0.23152937917604549567536039109e+03, 0.35763911791061412378285349910e+03,
       0.93405324183624310003907691704e+02, -0.37458323136451633156875139351e+02,
       0.10409964950896230045147246184e+03, 0.29840293426660503123344363579e+02,
       -0.43533456590011143754432175058e+02, 0.96324553959188282948394950600e+02,
       -0.39177261675615439165231486172e+02, -0.14972683625798562581422125276e+03},
  }};
  // θ^p (1 - θ)^q multiplying r2..r8.
  constexpr std::array<int, 7> p{1, 1, 2, 2, 3, 3, 4};
  constexpr std::array<int, 7> q{0, 1, 1, 2, 2, 3, 3};
  std::array<std::array<double, 7>, 16> dense{};
  for (std::size_t i = 0; i < 16; ++i) {
    const double bi = i < 13 ? b[i] : 0.0;
    const double first = i == 0 ? 1.0 : 0.0;
    const double end = i == 12 ? 1.0 : 0.0;
    const std::array<double, 7> r{bi,      first - bi, 2 * bi - first - end, d[0][i], d[1][i],
                                  d[2][i], d[3][i]};
    for (int m = 1; m <= 7; ++m) {
      double sum = 0;
      for (std::size_t k = 0; k < 7; ++k) sum += r[k] * power_basis_coefficient(p[k], q[k], m);
      dense[i][static_cast<std::size_t>(m - 1)] = sum;
    }
  }
  return dense;
}

}  // namespace detail

/// \brief Butcher tableau of Dormand–Prince 8(5,3) (DOP853), with its extra dense-output stages.
struct dop853_tableau {
  /// \brief Number of stages s: 12 and the FSAL stage f(t1, y1) (12 new evaluations per step).
  static constexpr int stages = 13;
  /// \brief Order of the propagated solution.
  static constexpr int order = 8;
  /// \brief Order of the primary embedded solution (`b_error` = b - b_hat5).
  static constexpr int error_order = 5;
  /// \brief Order of the secondary embedded solution (`b_error_secondary` = b - b_hat3).
  static constexpr int secondary_error_order = 3;
  /// \brief First same as last: the last stage f(t1, y1) is the next step's first stage.
  static constexpr bool fsal = true;
  /// \brief Weights b of y1 = y0 + h Σ b_i k_i (`dop853.f`'s B1, B6..B12); the FSAL row of A.
  static constexpr std::array<double, 13> b{0.0542937341165687622380535766363,
                                            0,
                                            0,
                                            0,
                                            0,
                                            4.45031289275240888144113950566,
                                            1.89151789931450038304281599044,
                                            -5.8012039600105847814672114227,
                                            0.31116436695781989440891606237,
                                            -0.152160949662516078556178806805,
                                            0.201365400804030348374776537501,
                                            0.0447106157277725905176885569043,
                                            0};
  /// \brief Butcher matrix A (`dop853.f`'s A21..A1211, and the FSAL row b).
  static constexpr std::array<std::array<double, 13>, 13> a = detail::dop853_matrix(b);
  /// \brief Nodes c (c2..c5 involve √6: (6 ∓ √6)/30, with c2 = 2c3/3, c3 = 2c4/3).
  static constexpr std::array<double, 13> c{0,
                                            0.0526001519587677318785587544488,
                                            0.0789002279381515978178381316732,
                                            0.118350341907227396726757197510,
                                            0.281649658092772603273242802490,
                                            1.0 / 3,
                                            0.25,
                                            4.0 / 13,
                                            127.0 / 195,
                                            0.6,
                                            6.0 / 7,
                                            1,
                                            1};
  /// \brief b - b_hat5: the 5th-order error estimate (`dop853.f`'s ER1, ER6..ER12).
  static constexpr std::array<double, 13> b_error{0.01312004499419488073250102996,
                                                  0,
                                                  0,
                                                  0,
                                                  0,
                                                  -1.225156446376204440720569753,
                                                  -0.4957589496572501915214079952,
                                                  1.664377182454986536961530415,
                                                  -0.3503288487499736816886487290,
                                                  0.3341791187130174790297318841,
                                                  0.08192320648511571246570742613,
                                                  -0.02235530786388629525884427845,
                                                  0};
  /// \brief b - b_hat3: the 3rd-order error estimate (`dop853.f`'s BHH1..BHH3).
  static constexpr std::array<double, 13> b_error_secondary = detail::dop853_third_order_error(b);
  /// \brief Extra stages 14–16, read only by the dense output.
  static constexpr int extra_stages = 3;
  /// \brief Their rows over stages 1–16 (`dop853.f`'s A141..A1615).
  static constexpr std::array<std::array<double, 16>, 3> a_extra{{
      {0.0561675022830479523392909219681, 0, 0, 0, 0, 0, 0.253500210216624811088794765333,
       -0.246239037470802489917441475441, -0.124191423263816360469010140626,
       0.15329179827876569731206322685, 0.00820105229563468988491666602057,
       0.00756789766054569976138603589584, -0.008298, 0, 0, 0},
      {0.0318346481635021405060768473261, 0, 0, 0, 0, 0.0283009096723667755288322961402,
       0.0535419883074385676223797384372, -0.0549237485713909884646569340306, 0, 0,
       -0.000108347328697249322858509316994, 0.000382571090835658412954920192323,
       -0.000340465008687404560802977114492, 0.141312443674632500278074618366, 0, 0},
      {-0.428896301583791923408573538692, 0, 0, 0, 0, -4.69762141536116384314449447206,
       7.68342119606259904184240953878, 4.06898981839711007970213554331,
       0.356727187455281109270669543021, 0, 0, 0, -0.00139902416515901462129418009734,
       2.9475147891527723389556272149, -9.15095847217987001081870187138, 0},
  }};
  /// \brief Their nodes.
  static constexpr std::array<double, 3> c_extra{0.1, 0.2, 7.0 / 9};
  /// \brief Degree in θ of the dense-output polynomial.
  static constexpr int dense_degree = 7;
  /// \brief Order of the dense output.
  static constexpr int dense_order = 7;
  /// \brief b_i(θ) = Σ_j dense[i][j] θ^(j+1) over stages 1–16 (`CONTD8` in monomial form).
  static constexpr std::array<std::array<double, 7>, 16> dense = detail::dop853_dense(b);
};

/// \brief Dormand–Prince 8(5,3): order 8, FSAL, DOP853's combined error estimate, 7th-order
/// dense output with 3 lazy extra stages.
using dop853 = explicit_rk<dop853_tableau>;

static_assert(valid_tableau<dop853_tableau>(), "dop853_tableau failed its checks");

}  // namespace nde
