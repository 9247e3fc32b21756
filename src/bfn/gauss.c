/* gauss.c: Gaussian flow, noise-to-data conversion and discretised Gaussian
 * shared by the continuous and discretised families (see gauss.h). */
#include "bfn/gauss.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

/* ---- 1. Gaussian Bayesian flow ---------------------------------------------------- */

/* theta ~ p_F(.|x;t), paper/NOTES.md §4.1. gamma and gamma(1-gamma) are formed from
 * beta directly (gamma = beta/(1+beta), gamma(1-gamma) = beta/(1+beta)^2), which
 * for the exponential schedule equals 1 - sigma1^(2t) without the cancellation
 * of 1 - sigma1^(2t) at small t. */
void bfn_gflow_sample(const bfn_family *f, int B, const float *x, const float *t, gsl_rng *rng,
                      float *theta) {
    int D = f->D;
    for (int b = 0; b < B; b++) {
        double beta = f->sched.beta(&f->sched, t[b]);
        double gamma = beta / (1.0 + beta);
        double sd = sqrt(beta) / (1.0 + beta);
        const float *xb = x + (size_t)b * D;
        float *th = theta + (size_t)b * D * 2;
        for (int d = 0; d < D; d++) {
            double eps = gsl_ran_gaussian_ziggurat(rng, 1.0);
            th[2 * d] = (float)(gamma * xb[d] + sd * eps);
            th[2 * d + 1] = (float)(1.0 + beta);
        }
    }
}

/* Prior (t = 0): N(0, 1) input distribution, [CODE] get_prior_input_params. */
void bfn_gflow_prior(const bfn_family *f, int B, float *theta) {
    size_t n = (size_t)B * f->D;
    for (size_t i = 0; i < n; i++) {
        theta[2 * i] = 0.0f;
        theta[2 * i + 1] = 1.0f;
    }
}

/* The network sees only the mean (the precision is a function of t). */
void bfn_gflow_net_input(const bfn_family *f, int B, const float *theta, float *in) {
    size_t n = (size_t)B * f->D;
    for (size_t i = 0; i < n; i++) in[i] = theta[2 * i];
}

/* One sampler step's sender sample and Bayesian update, paper/NOTES.md §4.1. */
void bfn_gflow_update(const bfn_family *f, int B, float *theta, const float *xs, const float *alpha,
                      gsl_rng *rng) {
    int D = f->D;
    for (int b = 0; b < B; b++) {
        double a = alpha[b], sd = 1.0 / sqrt(a);
        float *th = theta + (size_t)b * D * 2;
        const float *xb = xs + (size_t)b * D;
        for (int d = 0; d < D; d++) {
            double y = xb[d] + gsl_ran_gaussian_ziggurat(rng, sd);
            double rho = th[2 * d + 1], rho_new = rho + a;
            th[2 * d] = (float)((rho * th[2 * d] + a * y) / rho_new);
            th[2 * d + 1] = (float)rho_new;
        }
    }
}

/* ---- 2. noise prediction -> data prediction --------------------------------------- */

/* [CODE] noise_pred_params_to_data_pred_params with gamma(t_c) = beta/(1+beta):
 * A = mu/gamma = mu (1+beta)/beta, B = sqrt((1-gamma)/gamma) = 1/sqrt(beta). */
bfn_noise_pred bfn_noise_pred_at(const bfn_schedule *s, double t) {
    bfn_noise_pred np = {0, 0.0, 0.0};
    if (!(t >= BFN_NOISE_PRED_T_MIN)) { /* also catches NaN t */
        np.zero = 1;
        return np;
    }
    double beta = s->beta(s, t);
    np.a = (1.0 + beta) / beta;
    np.b = 1.0 / sqrt(beta);
    return np;
}

/* ---- 3. discretised Gaussian ------------------------------------------------------ */

/* Mills ratio M(z) = Q(z)/phi(z) = sqrt(pi/2) exp(z^2/2) erfc(z/sqrt2) on
 * [0, 10.5]: 21 intervals of width 0.5, on each a degree-12 polynomial in
 * u = z - centre, coefficients c0..c12. Generated once with mpmath (50 digits,
 * mpmath.chebyfit of M(centre + u) on [-0.25, 0.25], 13 terms); the fit's
 * worst relative error is 1.3e-17, below double rounding. M is smooth and
 * positive, so Q = phi M has no cancellation in either tail. */
static const double mills_coef[21][13] = {
    {1.0378245758537268, -0.74054385603656769, 0.42634430592229222, -0.21131925985225564, 0.093378622739888464, -0.037594920800492634, 0.013996648746893258, -0.0048708244680130356, 0.0015973683440537632, -0.00049678312580822928, 0.00014730381248488977, -4.2432019524850937e-05, 1.1560860866092027e-05},
    {0.75257117906340809, -0.43557161570244385, 0.21294623364328752, -0.091953980156705445, 0.035995187131459168, -0.012991517955727141, 0.0043752581086415245, -0.0013871538055143749, 0.00041686170139936608, -0.00011938109741333071, 3.2729893306071148e-05, -8.7317034966370837e-06, 2.2148757957386696e-06},
    {0.57843034604763111, -0.27696206744046115, 0.11611388087352731, -0.043939905449526528, 0.015297249765409705, -0.0049636686473756592, 0.001515443992191585, -0.00043848058704310601, 0.00012091793174088098, -3.1924185159720877e-05, 8.100671931968911e-06, -2.0037242468145637e-06, 4.7353227193440732e-07},
    {0.46430692803944218, -0.18746287593097621, 0.068123447580116889, -0.022748947555259247, 0.0070781973396046166, -0.0020724204419298549, 0.00057524359424108941, -0.00015224917885935446, 3.8600947503505244e-05, -9.4104545881380096e-06, 2.2131192009076638e-06, -5.0828684911954421e-07, 1.1202822757903375e-07},
    {0.3851482907984346, -0.13341634570352209, 0.042480756482754956, -0.012611547872441646, 0.0035261934424406873, -0.00093552252532673019, 0.00023687796003983485, -5.7506734220713743e-05, 1.3435977659983776e-05, -3.0305501047238745e-06, 6.6168507232401806e-07, -1.4134551576143642e-07, 2.9091931033420093e-08},
    {0.32767831469055203, -0.098884634600981847, 0.027872784768925983, -0.0074114921621452647, 0.0018727953307567402, -0.00045226100049606551, 0.00010484626322132579, -2.3419111868882678e-05, 5.055463683020099e-06, -1.0573739718902926e-06, 2.1475727130144309e-07, -4.2749926040742138e-08, 8.229254618460584e-09},
    {0.28438214674849294, -0.075758023067397998, 0.01908428588972472, -0.0045780313085975882, 0.0010514210341956768, -0.00023218258948750863, 4.9471269723437624e-05, -1.0200137819595187e-05, 2.0401028792240043e-06, -3.9663777748389364e-07, 7.5099502491585137e-08, -1.3959760395541828e-08, 2.5175386047638799e-09},
    {0.25076111144396501, -0.059645832085131148, 0.013544620562361607, -0.0029511683254250533, 0.00061943483550442712, -0.00012565753845520091, 2.4703177715064551e-05, -4.7172317993852257e-06, 8.7669485999510711e-07, -1.5884516236344714e-07, 2.8101378942970204e-08, -4.8883504624421246e-09, 8.274211844155718e-10},
    {0.22399059465382881, -0.048039972721227564, 0.0099103552943058289, -0.0019736542401426007, 0.00038058119342494892, -7.1236833616821195e-05, 1.2970775091818972e-05, -2.3015770950952765e-06, 3.9863407319632733e-07, -6.7486200085153199e-08, 1.1181355744917446e-08, -1.8242611766005997e-09, 2.9036620235073985e-10},
    {0.20222323663305466, -0.039439625992990404, 0.0074425065831751234, -0.0013625732409695236, 0.00024257092214247322, -4.2072272158382053e-05, 7.1212715648643053e-06, -1.1780331845368036e-06, 1.9070174930354294e-07, -3.0244177310964088e-08, 4.7040337200682366e-09, -7.2142562695094012e-10, 1.081914467755035e-10},
    {0.18420767730797019, -0.032909694133156482, 0.0057158915544493405, -0.00096708782409914834, 0.00015967011948220356, -2.5763939363451503e-05, 4.0682396372820052e-06, -6.2938304177974799e-07, 9.5497336295804339e-08, -1.4224575336259565e-08, 2.0817691805299221e-09, -3.007779640568663e-10, 4.2583599802734782e-11},
    {0.16907015040769408, -0.027846635155759063, 0.0044759991310397282, -0.00070321338409354262, 0.0001081305431254649, -1.6292552224398641e-05, 2.4080613058346421e-06, -3.4945710364930124e-07, 4.9835371156958367e-08, -6.9892652278824667e-09, 9.6468356864818857e-10, -1.315941759706768e-10, 1.7622791114477495e-11},
    {0.15618421503397592, -0.023848656037650524, 0.0035650573993300742, -0.00052234909727918684, 7.5093885333789157e-05, -1.0602462788590557e-05, 1.4714154841709358e-06, -2.0087371664402872e-07, 2.6994344908382161e-08, -3.5732138106004216e-09, 4.6616449329212178e-10, -6.0165816666755498e-11, 7.6359233679467024e-12},
    {0.14509024128913092, -0.020640871298366226, 0.002882180012579449, -0.00039538540448498191, 5.3332133076455383e-05, -7.0787012437771562e-06, 9.2514994682105695e-07, -1.1913415777817804e-07, 1.5124297962407777e-08, -1.893898647081875e-09, 2.3404304012784526e-10, -2.8638784193000275e-11, 3.4510484006028731e-12},
    {0.13544405309676344, -0.018030615048465041, 0.0023610469976959479, -0.00030434143838980608, 3.8642892342463519e-05, -4.8360937813871224e-06, 5.9686873789851375e-07, -7.2685061769819583e-08, 8.7377551198092071e-09, -1.0373678769419587e-09, 1.2168135933151285e-10, -1.4144440218147813e-11, 1.6212588455743812e-12},
    {0.12698323748543697, -0.015879909487863556, 0.0019569694772472029, -0.0002377986797325773, 2.8507427329932257e-05, -3.373223585119538e-06, 3.9415742420801144e-07, -4.5500506837571119e-08, 5.1910620817356336e-09, -5.8552927925554059e-10, 6.5319822277700637e-11, -7.2264893267388288e-12, 7.8926129512687924e-13},
    {0.11950448239925296, -0.014088020206163045, 0.001639157849203921, -0.0001883226500768989, 2.1373996517376274e-05, -2.3974357617084843e-06, 2.6585858054622228e-07, -2.9157496053285232e-08, 3.1636547909888166e-09, -3.397042410880257e-10, 3.6108876767592288e-11, -3.8088775979627552e-12, 3.9704846220155959e-13},
    {0.11284798632010301, -0.01258011969909862, 0.0013859694764950413, -0.0001509622599223364, 1.6262425543649473e-05, -1.7332072830804794e-06, 1.828103027822031e-07, -1.9088161974421574e-08, 1.9736107026771953e-09, -2.0211838002294562e-10, 2.0507173678968922e-11, -2.0660064792338323e-12, 2.0588563573190116e-13},
    {0.10688651351067449, -0.011299750026260954, 0.0011819128838803314, -0.00012235195012262983, 1.2539336311501371e-05, -1.2726178482483143e-06, 1.2793686920055976e-07, -1.2743115455204931e-08, 1.257881412720747e-09, -1.2307898921992228e-10, 1.1939908206857376e-11, -1.1507330996455564e-12, 1.0979436453749632e-13},
    {0.1015175685681028, -0.010203706460997639, 0.0010157152866879127, -0.00010016080526349689, 9.7868588422044761e-06, -9.4778631040059063e-07, 9.0990385966351557e-08, -8.6614353216282191e-09, 8.1767395180991848e-10, -7.6568167998143964e-11, 7.1133391465830352e-12, -6.568460428245506e-13, 6.009136447859548e-14},
    {0.096657707476081919, -0.0092584983701603733, 0.00087904959096904304, -8.2746687575893977e-05, 7.7240108290324586e-06, -7.1511531566222234e-07, 6.5679807249056199e-08, -5.985327338805881e-09, 5.4127525567945254e-10, -4.858394980603334e-11, 4.3289251690906809e-12, -3.8354864631912533e-13, 3.3690961021977624e-14},
};

/* M(az) for 0 <= az < 10.5, the polynomial in Estrin's form: the same
 * coefficients as Horner's rule but a dependency chain of depth 5 instead of
 * 12, which matters in the boundary loops (agreement with Horner ~4e-16). */
static inline __attribute__((always_inline)) double mills(double az) {
    int i = (int)(az * 2.0);
    const double *c = mills_coef[i];
    double u = az - 0.5 * i - 0.25, u2 = u * u, u4 = u2 * u2, u8 = u4 * u4;
    double p01 = fma(c[1], u, c[0]), p23 = fma(c[3], u, c[2]), p45 = fma(c[5], u, c[4]);
    double p67 = fma(c[7], u, c[6]), p89 = fma(c[9], u, c[8]), pab = fma(c[11], u, c[10]);
    double q0 = fma(p23, u2, p01), q1 = fma(p67, u2, p45), q2 = fma(c[12], u4, fma(pab, u2, p89));
    return fma(q2, u8, fma(q1, u4, q0));
}

void bfn_norm_cdf2(double z, double *lower, double *upper) {
    double az = fabs(z);
    if (az < 10.5) {
        double tail = BFN_INV_SQRT_2PI * exp(-0.5 * z * z) * mills(az);
        if (z < 0.0) { *lower = tail; *upper = 1.0 - tail; }
        else { *upper = tail; *lower = 1.0 - tail; }
        return;
    }
    if (z < 0.0) { *lower = 0.5 * erfc(-z * BFN_SQRT1_2); *upper = 1.0 - *lower; } /* NaN lands here too */
    else { *upper = 0.5 * erfc(z * BFN_SQRT1_2); *lower = 1.0 - *upper; }
}

/* Boundaries closer than one std (delta = h/s < 1) come in long runs, so phi
 * is advanced by the exact recurrence phi(z + delta) = phi(z) rho,
 * rho(z + delta) = rho(z) exp(-delta^2), rho(z) = exp(-z delta - delta^2/2),
 * restarted from a direct exp every PDF_RUN boundaries: 2 exps per run instead
 * of PDF_RUN. Rounding: ~2 PDF_RUN ulp from the products plus the z^2 ulp any
 * exp(-z^2/2) carries (measured <= 2.3e-14 relative for |z| <= 10). */
#define PDF_RUN 8
void bfn_dgauss_table(double mu, double s, int K, int jlo, int jhi, double *lower, double *upper, double *pdf) {
    double inv_s = 1.0 / s, delta = (2.0 / K) * inv_s;
    double step = delta < 1.0 ? exp(-delta * delta) : 0.0;
    for (int j0 = jlo; j0 <= jhi; j0 += PDF_RUN) {
        int j1 = j0 + PDF_RUN - 1 < jhi ? j0 + PDF_RUN - 1 : jhi;
        double z0 = (bfn_bin_boundary(j0, K) - mu) * inv_s;
        double ph = BFN_INV_SQRT_2PI * exp(-0.5 * z0 * z0);
        double rho = delta < 1.0 ? exp(-z0 * delta - 0.5 * delta * delta) : 0.0;
        for (int j = j0; j <= j1; j++) {
            double z = (bfn_bin_boundary(j, K) - mu) * inv_s;
            if (delta >= 1.0) ph = BFN_INV_SQRT_2PI * exp(-0.5 * z * z);
            double az = fabs(z);
            double tail = az < 10.5 ? ph * mills(az) : 0.5 * erfc(az * BFN_SQRT1_2);
            if (z < 0.0) { lower[j] = tail; upper[j] = 1.0 - tail; }
            else { upper[j] = tail; lower[j] = 1.0 - tail; }
            pdf[j] = ph;
            ph *= rho;
            rho *= step;
        }
    }
}

/* Bin masses from the series at the bin centre (gauss.h). With
 * hd = delta/2, p_k = int_{-hd}^{hd} phi(z + t) dt = phi(z) int e^(-z t - t^2/2) dt
 * = phi(z) sum_i g_i z^(2i), g_i = mu_2i/(2i)!, mu_2i = int_{-hd}^{hd} t^(2i) e^(-t^2/2) dt
 * (odd moments vanish). Since mu_2i <= hd^(2i) mu_0, term i is at most
 * b_i = (hd z)^(2i)/(2i)! of the first, so M terms with b_M < 1e-17 at the
 * largest |z| suffice (M <= 17 for delta <= 1 and |z| <= 6.5, the L^n
 * ranges; ranges with hd |z| > 5.5 fall back to CDF differences). Expanding
 * e^(-t^2/2) inside the moment,
 *   g_i = (2 hd^(2i+1)/(2i)!) sum_{l>=0} (-hd^2/2)^l / (l! (2i+2l+1)),
 * an alternating sum whose terms shrink by >= hd^2/(2(l+1)) <= 1/8 (nothing
 * cancels; at most MASS_SERIES_L = 13 terms, stopping after the first below
 * 1e-20, leave < 1e-20 relative). All divisions
 * come from tables of exact reciprocals rounded to double. */
#define MASS_SERIES_L 13
static const double inv_odd[36] = { /* 1/(2i+1) */
    1, 0.33333333333333331, 0.20000000000000001, 0.14285714285714285,
    0.1111111111111111, 0.090909090909090912, 0.076923076923076927, 0.066666666666666666,
    0.058823529411764705, 0.052631578947368418, 0.047619047619047616, 0.043478260869565216,
    0.040000000000000001, 0.037037037037037035, 0.034482758620689655, 0.032258064516129031,
    0.030303030303030304, 0.028571428571428571, 0.027027027027027029, 0.02564102564102564,
    0.024390243902439025, 0.023255813953488372, 0.022222222222222223, 0.021276595744680851,
    0.020408163265306121, 0.019607843137254902, 0.018867924528301886, 0.018181818181818181,
    0.017543859649122806, 0.016949152542372881, 0.016393442622950821, 0.015873015873015872,
    0.015384615384615385, 0.014925373134328358, 0.014492753623188406, 0.014084507042253521,
};
static const double inv_fact[MASS_SERIES_L] = { /* 1/l! */
    1, 1, 0.5, 0.16666666666666666,
    0.041666666666666664, 0.0083333333333333332, 0.0013888888888888889, 0.00019841269841269841,
    2.4801587301587302e-05, 2.7557319223985893e-06, 2.7557319223985888e-07, 2.505210838544172e-08,
    2.08767569878681e-09,
};
static const double inv_fact2[24] = { /* 1/(2i)! */
    1, 0.5, 0.041666666666666664, 0.0013888888888888889,
    2.4801587301587302e-05, 2.7557319223985888e-07, 2.08767569878681e-09, 1.1470745597729725e-11,
    4.7794773323873853e-14, 1.5619206968586225e-16, 4.1103176233121648e-19, 8.8967913924505741e-22,
    1.6117375710961184e-24, 2.4795962632247976e-27, 3.2798892370698378e-30, 3.7699876288159054e-33,
    3.8003907548547434e-36, 3.3871575355211618e-39, 2.6882202662866363e-42, 1.911963205040282e-45,
    1.2256174391283858e-48, 7.117406731291439e-52, 3.7618428812322616e-55, 1.817315401561479e-58,
};
#define MASS_SERIES_DELTA_MAX 1.0
#define MASS_SERIES_MAX_TERMS 24
#define MASS_SERIES_X_MAX 5.5 /* hd |z| <= 5.5 needs M = 21 <= 24 terms */

/* p[k] = phi(z) sum_{i<n} g[i] z^(2i) for the bins k = jlo..jhi-1. Inlined
 * with n a constant (8, 10, 12, 16, 24 terms, zero-padded), so the Horner loop
 * unrolls (GCC unroll pragma; -O2 does not unroll it by itself) and the loop
 * over bins vectorises (one with an inner loop left in does not). */
static inline __attribute__((always_inline)) void series_masses(double *p, const double *g, const int n, double mu,
                                                                double inv_s, int K, int jlo, int jhi, double lo) {
    const double h = 2.0 / K; /* centre -1 + (k + 1/2) h: no division per bin (vdivpd) */
#pragma omp simd
    for (int k = jlo; k < jhi; k++) {
        double z = ((-1.0 + (k + 0.5) * h) - mu) * inv_s, w = z * z, poly = g[n - 1];
#pragma GCC unroll 24
        for (int i = n - 2; i >= 0; i--) poly = fma(poly, w, g[i]);
        p[k] = BFN_INV_SQRT_2PI * bfn_exp_vec(-0.5 * w, lo) * poly;
    }
}
/* bfn_norm_cdf2 at z given ph = phi(z) (from the vectorised loop): the tail
 * is ph M(|z|) without another exp; beyond |z| = 10.5 the erfc form. */
static inline void cdf2_with_pdf(double z, double ph, double *lower, double *upper) {
    double az = fabs(z);
    if (!(az < 10.5)) {
        bfn_norm_cdf2(z, lower, upper);
        return;
    }
    double tail = ph * mills(az);
    if (z < 0.0) { *lower = tail; *upper = 1.0 - tail; }
    else { *upper = tail; *lower = 1.0 - tail; }
}
void bfn_dgauss_masses(double mu, double s, int K, int jlo, int jhi, double *p, double *pdf) {
    double inv_s = 1.0 / s, delta = (2.0 / K) * inv_s, lo = bfn_exp_vec_lo();
#pragma omp simd
    for (int j = jlo; j <= jhi; j++) {
        double z = (bfn_bin_boundary(j, K) - mu) * inv_s;
        pdf[j] = BFN_INV_SQRT_2PI * bfn_exp_vec(-0.5 * z * z, lo);
    }
    if (jhi < jlo) {
        p[jlo - 1] = 1.0;
        return;
    }
    double lo_a, up_a, lo_b, up_b;
    cdf2_with_pdf((bfn_bin_boundary(jlo, K) - mu) * inv_s, pdf[jlo], &lo_a, &up_a);
    cdf2_with_pdf((bfn_bin_boundary(jhi, K) - mu) * inv_s, pdf[jhi], &lo_b, &up_b);
    p[jlo - 1] = lo_a;
    p[jhi] = up_b;
    double hd = 0.5 * delta, hd2 = hd * hd;
    double zmax = fmax(fabs((bfn_bin_boundary(jlo, K) - mu) * inv_s), fabs((bfn_bin_boundary(jhi, K) - mu) * inv_s));
    if (delta > MASS_SERIES_DELTA_MAX || hd * zmax > MASS_SERIES_X_MAX) {
        /* few bins, or a range too wide for the series: differences of CDFs
         * on the non-cancelling side */
        double pl = lo_a, pu = up_a;
        for (int k = jlo; k < jhi; k++) {
            double ql, qu;
            bfn_norm_cdf2((bfn_bin_boundary(k + 1, K) - mu) * inv_s, &ql, &qu);
            p[k] = pu <= 0.5 ? pu - qu : ql - pl;
            pl = ql;
            pu = qu;
        }
        return;
    }
    double x2 = hd2 * zmax * zmax, xp = x2; /* b_M = x2^M / (2M)! */
    int M = 1;
    while (M < MASS_SERIES_MAX_TERMS && xp * inv_fact2[M] >= 1e-17) {
        xp *= x2;
        M++;
    }
    double tl[MASS_SERIES_L], c = 1.0, hp = 2.0 * hd, g[MASS_SERIES_MAX_TERMS];
    int L = 0; /* terms up to the first below 1e-20 (the alternating remainder is smaller still) */
    while (L < MASS_SERIES_L) {
        tl[L] = c * inv_fact[L];
        L++;
        if (fabs(tl[L - 1]) < 1e-20) break;
        c *= -0.5 * hd2;
    }
    /* the sums for all i at once (independent chains), smallest terms first */
    for (int i = 0; i < MASS_SERIES_MAX_TERMS; i++) g[i] = 0.0;
    for (int l = L - 1; l >= 0; l--) {
        double t = tl[l];
#pragma omp simd
        for (int i = 0; i < M; i++) g[i] += t * inv_odd[i + l];
    }
    for (int i = 0; i < M; i++) { /* terms i >= M stay 0: the padding of series_masses */
        g[i] *= hp * inv_fact2[i];
        hp *= hd2;
    }
    if (M <= 8) series_masses(p, g, 8, mu, inv_s, K, jlo, jhi, lo);
    else if (M <= 10) series_masses(p, g, 10, mu, inv_s, K, jlo, jhi, lo);
    else if (M <= 12) series_masses(p, g, 12, mu, inv_s, K, jlo, jhi, lo);
    else if (M <= 16) series_masses(p, g, 16, mu, inv_s, K, jlo, jhi, lo);
    else series_masses(p, g, MASS_SERIES_MAX_TERMS, mu, inv_s, K, jlo, jhi, lo);
}

/* Boundary range with |z_j| <= ZR (see gauss.h). Computed in double and
 * clamped before conversion so huge mu or s cannot overflow an int. */
void bfn_dgauss_range(double mu, double s, int K, int *jlo, int *jhi) {
    bfn_dgauss_range_z(mu, s, K, BFN_DGAUSS_ZR, 0, jlo, jhi);
}

void bfn_dgauss_range_z(double mu, double s, int K, double zr, int pad, int *jlo, int *jhi) {
    double h = 2.0 / K;
    double lo = ceil((mu - zr * s + 1.0) / h) - pad;
    double hi = floor((mu + zr * s + 1.0) / h) + pad;
    if (!(lo >= 1.0)) lo = 1.0;
    if (lo > K) lo = K;
    if (!(hi <= K - 1)) hi = K - 1;
    if (hi < 0.0) hi = 0.0;
    *jlo = (int)lo;
    *jhi = (int)hi;
}

/* ---- the output mean k_hat = sum_k p_k c_k and its derivatives ------------------ */

/* Phi, Q and phi at z (|z| <= 10.5 in all callers; erfc beyond as a guard). */
static inline void norm_cdf3(double z, double *lower, double *upper, double *pdf) {
    double az = fabs(z), ph = BFN_INV_SQRT_2PI * exp(-0.5 * z * z);
    double tail = az < 10.5 ? ph * mills(az) : 0.5 * erfc(az * BFN_SQRT1_2);
    if (z < 0.0) { *lower = tail; *upper = 1.0 - tail; }
    else { *upper = tail; *lower = 1.0 - tail; }
    *pdf = ph;
}

/* Euler-Maclaurin (EM) summation of F over equally spaced points
 * z_m = za + m delta, m = 0..N (zb = za + N delta):
 *   sum_m F(z_m) = (1/delta) int_za^zb F + (F(za) + F(zb))/2
 *                + sum_{p=1}^{P} em_coef[p-1] delta^(2p-1) (F^(2p-1)(zb) - F^(2p-1)(za)) + R_P,
 * em_coef[p-1] = B_2p/(2p)! (Bernoulli numbers; values from mpmath), and
 * |R_P| <= 2 zeta(2P) (delta/2pi)^(2P) (1/delta) int_za^zb |F^(2P)|
 * (e.g. Abramowitz & Stegun 23.1.30-32; DLMF 2.10.1). For F = Q, phi, z phi
 * every derivative is a Hermite polynomial times phi, F^(n) = +-He_k(z) phi(z),
 * and int |He_k phi| <= sqrt(k!) over the whole line (Cauchy-Schwarz with
 * int He_k^2 phi = k!). So the three sums k_hat needs (h sum Q, delta sum phi,
 * delta sum z phi; the last has the largest derivative, He_(2P+1)) are exact
 * to 2 zeta(2P) (delta/2pi)^(2P) sqrt((2P+1)!), and h sum Q to
 * 2 zeta(2P) (delta/2pi)^(2P-1) sqrt((2P-1)!)/(2pi) (as h <= 1).
 * em_delta_max[P-1] is the largest delta for which both are <= 1e-17 (found
 * by bisection in mpmath), far below the double rounding of the O(1)
 * results: with P <= 16 terms, EM is used for delta = h/s <= 0.479. */
#define EM_P_MAX 16
static const double em_coef[EM_P_MAX] = {
    8.3333333333333333e-2,  -1.3888888888888889e-3,  3.3068783068783069e-5,  -8.2671957671957672e-7,
    2.0876756987868099e-8,  -5.2841901386874932e-10, 1.3382536530684679e-11, -3.3896802963225829e-13,
    8.5860620562778446e-15, -2.1748686985580619e-16, 5.5090028283602295e-18, -1.3954464685812523e-19,
    3.5347070396294675e-21, -8.9535174270375469e-23, 2.2679524523376831e-24, -5.7447906688722024e-26,
};
static const double em_delta_max[EM_P_MAX] = { /* rounded down to 5 digits */
    1.2e-16, 1.4324e-5, 0.0019417, 0.014994, 0.045248, 0.088781, 0.13479, 0.18287,
    0.23036, 0.27568,   0.31797,   0.35686,  0.39226,  0.42429,  0.45313, 0.47902,
};

/* Below this many in-range boundaries the direct sum is as cheap as EM. */
#define EM_MIN_BOUNDARIES 12

/* The EM correction sums at one endpoint z for P terms, d2 = delta^2:
 * cq = sum_p c_p He_(2p-2)(z), cp = sum_p c_p He_(2p-1)(z), cz = sum_p c_p He_(2p)(z),
 * c_p = em_coef[p-1] delta^(2p); He by He_(k+1) = z He_k - k He_(k-1). */
static void em_endpoint(double z, double d2, int P, double *cq, double *cp, double *cz) {
    double he_a = 1.0, he_b = z; /* He_(2p-2), He_(2p-1) */
    double dp = d2, sq = 0.0, sp = 0.0, sz = 0.0;
    for (int p = 1; p <= P; p++) {
        double he_c = z * he_b - (2 * p - 1) * he_a; /* He_(2p) */
        double c = em_coef[p - 1] * dp;
        sq += c * he_a;
        sp += c * he_b;
        sz += c * he_c;
        he_a = he_c;
        he_b = z * he_c - (2 * p) * he_b; /* He_(2p+1) */
        dp *= d2;
    }
    *cq = sq;
    *cp = sp;
    *cz = sz;
}

/* Over the in-range boundaries jlo..jhi (n >= 1, delta <= BFN_EM_DELTA_MAX):
 * *hq = h sum_j Q(z_j), *dp = delta sum_j phi(z_j), *dz = delta sum_j z_j phi(z_j)
 * by EM. With F^(2p-1) = -He_(2p-2) phi (F = Q), -He_(2p-1) phi (F = phi),
 * -He_(2p) phi (F = z phi = -phi') and the integrals
 *   int Q = J(za) - J(zb), J(z) = int_z^inf Q = phi(z) - z Q(z),
 *   int phi = Phi(zb) - Phi(za),  int z phi = phi(za) - phi(zb).
 * J is formed as J(z) = T(|z|) + max(-z, 0) with T(u) = phi(u) - u Q(u) >= 0, so
 * s J(z) = s T(|z|) + max(mu - b, 0) needs no large cancelling terms. */
static void em_sums(double mu, double s, int K, int jlo, int jhi, double *hq, double *dp, double *dz) {
    double h = 2.0 / K, delta = h / s, d2 = delta * delta;
    int P = 1;
    while (P < EM_P_MAX && delta > em_delta_max[P - 1]) P++;
    double ba = bfn_bin_boundary(jlo, K), bb = bfn_bin_boundary(jhi, K);
    double za = (ba - mu) / s, zb = (bb - mu) / s;
    double la, ua, pa, lb, ub, pb, cqa, cpa, cza, cqb, cpb, czb;
    norm_cdf3(za, &la, &ua, &pa);
    norm_cdf3(zb, &lb, &ub, &pb);
    em_endpoint(za, d2, P, &cqa, &cpa, &cza);
    em_endpoint(zb, d2, P, &cqb, &cpb, &czb);
    /* T(|z|) = phi - |z| tail, tail = min(Phi, Q) */
    double ta = pa - fabs(za) * (za < 0.0 ? la : ua), tb = pb - fabs(zb) * (zb < 0.0 ? lb : ub);
    double lin = zb <= 0.0 ? bb - ba : za >= 0.0 ? 0.0 : mu - ba; /* s (max(-za,0) - max(-zb,0)) */
    *hq = s * (ta - tb) + lin + 0.5 * h * (ua + ub) + s * (pa * cqa - pb * cqb);
    double dphi = za >= 0.0 ? ua - ub : lb - la; /* Phi(zb) - Phi(za) without cancellation */
    *dp = dphi + 0.5 * delta * (pa + pb) + (pa * cpa - pb * cpb);
    *dz = (pa - pb) + 0.5 * delta * (za * pa + zb * pb) + (pa * cza - pb * czb);
}

/* The same three sums term by term (any delta). phi by the restarted
 * recurrence of bfn_dgauss_table when delta < 1; each tail by the Mills ratio.
 * sum Q is accumulated as (number of z < 0) + sum of +-tails, so the O(1)
 * terms 1 - tail are never rounded one by one. */
static void direct_sums(double mu, double s, int K, int jlo, int jhi, double *hq, double *dp, double *dz) {
    double h = 2.0 / K, inv_s = 1.0 / s, delta = h * inv_s;
    double step = delta < 1.0 ? exp(-delta * delta) : 0.0;
    double tails = 0.0, sp = 0.0, spz = 0.0;
    int n_neg = 0;
    for (int j0 = jlo; j0 <= jhi; j0 += PDF_RUN) {
        int j1 = j0 + PDF_RUN - 1 < jhi ? j0 + PDF_RUN - 1 : jhi;
        double z0 = (bfn_bin_boundary(j0, K) - mu) * inv_s;
        double ph = BFN_INV_SQRT_2PI * exp(-0.5 * z0 * z0);
        double rho = delta < 1.0 ? exp(-z0 * delta - 0.5 * delta * delta) : 0.0;
        for (int j = j0; j <= j1; j++) {
            double z = (bfn_bin_boundary(j, K) - mu) * inv_s;
            if (delta >= 1.0) ph = BFN_INV_SQRT_2PI * exp(-0.5 * z * z);
            double az = fabs(z);
            double tail = az < 10.5 ? ph * mills(az) : 0.5 * erfc(az * BFN_SQRT1_2);
            if (z < 0.0) { n_neg++; tails -= tail; }
            else tails += tail;
            sp += ph;
            spz += ph * z;
            ph *= rho;
            rho *= step;
        }
    }
    *hq = h * (n_neg + tails);
    *dp = delta * sp;
    *dz = delta * spz;
}

/* k_hat when the distribution is far from both edges (z_0 = (-1-mu)/s <= -ZR
 * and z_K = (1-mu)/s >= ZR): every boundary j <= 0 then has Phi(z_j) <= Q(ZR)
 * and every j >= K has Q(z_j) <= Q(ZR), together at most
 * Q(ZR) (1 + 1/(ZR delta)) <= 21 Q(10) = 1.6e-22 per side (s <= 0.1 here, so
 * delta >= 10 h >= 0.0049), the size of the range cut's own error; so the
 * sum can run over the whole lattice j in Z. With u = (mu + 1)/h, z_j = (j - u) delta,
 * Poisson summation of delta phi(delta (j - u)) (Fourier transform
 * exp(-2 pi^2 xi^2/delta^2)) gives
 *   d k_hat/d mu = delta sum_j phi(z_j) = 1 + 2 sum_{n>=1} q^(n^2) cos(2 pi n u),
 * q = exp(-2 pi^2/delta^2), and integrating in u (k_hat = mu where the
 * sine terms vanish, by the symmetry j <-> 1-j about u = 1/2):
 *   k_hat = mu + (h/pi) sum_{n>=1} q^(n^2) sin(2 pi n u)/n,
 *   d k_hat/d s = -(4 pi/delta) sum_{n>=1} n q^(n^2) sin(2 pi n u).
 * The mean of the binned variable is the mean itself up to a ripple of
 * relative size q: 1e-37 at delta = 0.479, 7e-3 at delta = 2. Terms are
 * summed while q^(n^2) >= 1e-20 (n <= 5 for delta <= POISSON_DELTA_MAX);
 * sin and cos of 2 pi n u by the Chebyshev recurrence from one sin/cos of
 * the reduced phase 2 pi (u - j) = 2 pi (mu - b_j)/h, j the nearest boundary
 * (as accurate as the z_j of the direct sums; (mu + 1)/h would round mu + 1). */
#define POISSON_DELTA_MAX 3.0
static double poisson_mean(double mu, double s, int K, double *dk_dmu, double *dk_ds) {
    double h = 2.0 / K, delta = h / s;
    double q = exp(-2.0 * M_PI * M_PI / (delta * delta));
    double k = mu, dm = 1.0, ds = 0.0;
    if (q >= 1e-20) {
        /* phase from the nearest boundary: mu - b_j is exact-ish, (mu + 1)/h is not */
        int jn = (int)floor((mu + 1.0) / h + 0.5);
        double th = 2.0 * M_PI * ((mu - bfn_bin_boundary(jn, K)) / h);
        double s1 = sin(th), c1 = cos(th), sn = s1, cn = c1, sp = 0.0, cp = 1.0; /* sin, cos of n th, (n-1) th */
        double qn = q, g = q, q2 = q * q, ks = 0.0, ms = 0.0, dss = 0.0;
        for (int n = 1; qn >= 1e-20; n++) {
            ks += qn * sn / n;
            ms += qn * cn;
            dss += n * qn * sn;
            double sn1 = 2.0 * c1 * sn - sp, cn1 = 2.0 * c1 * cn - cp; /* (n+1) th */
            sp = sn;
            cp = cn;
            sn = sn1;
            cn = cn1;
            g *= q2; /* q^(2n+1) */
            qn *= g; /* q^((n+1)^2) */
        }
        k += h / M_PI * ks;
        dm += 2.0 * ms;
        ds = -4.0 * M_PI / delta * dss;
    }
    *dk_dmu = dm;
    *dk_ds = ds;
    return k;
}

double bfn_dgauss_mean(double mu, double s, int K, double *dk_dmu, double *dk_ds) {
    int jlo, jhi;
    double h = 2.0 / K, hq = 0.0, dp = 0.0, dz = 0.0;
    if (h / s <= POISSON_DELTA_MAX && mu - BFN_DGAUSS_ZR * s >= -1.0 && mu + BFN_DGAUSS_ZR * s <= 1.0)
        return poisson_mean(mu, s, K, dk_dmu, dk_ds);
    bfn_dgauss_range(mu, s, K, &jlo, &jhi);
    if (jhi >= jlo) {
        if (h / s <= BFN_EM_DELTA_MAX && jhi - jlo + 1 >= EM_MIN_BOUNDARIES) em_sums(mu, s, K, jlo, jhi, &hq, &dp, &dz);
        else direct_sums(mu, s, K, jlo, jhi, &hq, &dp, &dz);
    }
    /* d Q(z_j)/d mu = phi(z_j)/s and d Q(z_j)/d s = phi(z_j) z_j/s, times h. */
    *dk_dmu = dp;
    *dk_ds = dz;
    return bfn_bin_centre(0, K) + h * (jlo - 1) + hq;
}

/* ---- Gaussian sums over a lattice (the L^n mixture's floor part) ---------------- */

/* sum_{m=0}^{N} exp((uref^2 - u_m^2)/2), u_m = ua + m delta, ub = ua + N delta,
 * by EM (see em_sums) with F = phi, in units of phi(uref):
 *   sum = [Phi(ub) - Phi(ua) + delta (r_a + r_b)/2 + r_a cp(ua) - r_b cp(ub)] / delta,
 * r = phi(u)/phi(uref) = exp(-(u - uref)(u + uref)/2), cp the odd-Hermite
 * sum of em_endpoint (computed alone in lattice_end), the CDF difference
 * taken on its non-cancelling side with tails M(|u|) r (Mills ratio, so
 * nothing underflows for large |uref|).
 * Ends beyond |u| > BFN_LATTICE_U_CUT are dropped with their EM terms: the
 * points beyond add < 2 phi(12)/(12 delta phi(uref)) <= 1e-24/delta relative
 * to a sum >= 1 when |uref| <= 3.7, and an end's EM terms are of order
 * (12 delta/2pi)^(2p) phi(12)/phi(uref), smaller still. Relative accuracy:
 * the EM remainder (em_sums) is <= 1e-17 (1/delta) int |He_2P phi| / phi(uref)
 * over the lattice's span, with int_u^inf |He_2P phi| <= sqrt((2P)! Q(u)) by
 * Cauchy-Schwarz, so <= 1e-17 / sqrt(Q(3.7)) = 1e-15 relative to the sum
 * (>= Q(|uref|)/(delta phi(uref)) when uref is the lattice point nearest 0)
 * for |uref| <= BFN_LATTICE_UREF_MAX. A span ub - ua >= 1 keeps the CDF
 * difference >= 0.38 of its terms, so its rounding stays a few eps. Tested
 * against direct sums (< 2e-15). */
static void lattice_end(double u, double uref, int present, double d2, int P, double *r, double *tail, double *cp) {
    if (!present) { *r = 0.0; *tail = 0.0; *cp = 0.0; return; }
    *r = exp(-0.5 * (u - uref) * (u + uref));
    double au = fabs(u);
    *tail = au < 10.5 ? *r * mills(au) : 0.0; /* |u| <= 12: Q(10.5)/phi(3.7) < 1e-22 */
    /* cp = sum_p em_coef[p-1] delta^(2p) He_(2p-1)(u) (em_endpoint's odd sum alone) */
    double he_a = 1.0, he_b = u, dp = d2, sp = 0.0;
    for (int p = 1; p <= P; p++) {
        sp += em_coef[p - 1] * dp * he_b;
        double he_c = u * he_b - (2 * p - 1) * he_a; /* He_(2p) */
        he_a = he_c;
        he_b = u * he_c - (2 * p) * he_b; /* He_(2p+1) */
        dp *= d2;
    }
    *cp = sp;
}

double bfn_gauss_lattice_sum(double ua, double ub, double delta, double uref) {
    int P = 1;
    while (P < EM_P_MAX && delta > em_delta_max[P - 1]) P++;
    int has_a = ua >= -BFN_LATTICE_U_CUT, has_b = ub <= BFN_LATTICE_U_CUT;
    double ra, ta, rb, tb, cpa, cpb;
    lattice_end(ua, uref, has_a, delta * delta, P, &ra, &ta, &cpa);
    lattice_end(ub, uref, has_b, delta * delta, P, &rb, &tb, &cpb);
    /* Phi(ub) - Phi(ua), in units of phi(uref); a dropped end has Phi = 0 (a) or 1 (b) */
    double dphi;
    if (has_a && ua >= 0.0) dphi = ta - (has_b ? tb : 0.0);       /* Q(ua) - Q(ub) */
    else if (has_b && ub <= 0.0) dphi = tb - (has_a ? ta : 0.0);  /* Phi(ub) - Phi(ua) */
    else dphi = exp(0.5 * uref * uref) / BFN_INV_SQRT_2PI - ta - tb; /* 1 - Phi(ua) - Q(ub); |uref| <= 3.7 */
    return (dphi + 0.5 * delta * (ra + rb) + (ra * cpa - rb * cpb)) / delta;
}

/* bfn_gauss_lattice_sum for n lattices of the same spacing at once, with no
 * branch per lattice so that the loops over lattices vectorise (the
 * discretised L^n evaluates one lattice per Monte Carlo sample). Same
 * requirements and result, up to rounding: a dropped end (|u| >
 * BFN_LATTICE_U_CUT) is moved to u = -+LATTICE_U_GONE, where its r = e^-600
 * (clamped) makes its tail and EM terms vanish against the sum (>= 1),
 * instead of being skipped (its tail is 0, as any with |u| >= 10.5 in
 * both versions). The three forms of the CDF difference are all computed, then selected. */
#define LATTICE_U_GONE 40.0
/* lattice_end's cp = sum_p em_coef[p-1] delta^(2p) He_(2p-1)(u) for four u at
 * once, the Hermite recurrence in registers. */
static inline lane4 em_odd_sums(lane4 U, int P, double d2) {
    lane4 ha = {1.0, 1.0, 1.0, 1.0}, hb = U, c = {0.0, 0.0, 0.0, 0.0};
    double dp = d2;
    for (int p = 1; p <= P; p++) {
        c = lane4_fma(lane4_splat(em_coef[p - 1] * dp), hb, c);
        lane4 hc = lane4_fma(U, hb, -(double)(2 * p - 1) * ha); /* He_(2p) */
        ha = hc;
        hb = lane4_fma(U, hc, -(double)(2 * p) * hb); /* He_(2p+1) */
        dp *= d2;
    }
    return c;
}

int bfn_lattice_em_terms(double delta) {
    int P = 1;
    while (P < EM_P_MAX && delta > em_delta_max[P - 1]) P++;
    return P;
}

void bfn_gauss_lattice_sum_n(int n, const double *ua, const double *ub, const double *uref, double delta, int P,
                             double *sum) {
    /* r is clamped at e^-600 (a dropped end's r would be ~e^-800): the
     * products of a dropped end stay normal numbers (denormals cost ~100
     * cycles each) and still vanish against the sum */
    double d2 = delta * delta, inv_delta = 1.0 / delta;
    volatile double v_lo = -600.0;
    const double lo = v_lo;
    /* run-time constants: GCC 12 keeps selects on literals as branches (vecmath.h) */
    volatile double v_cut = BFN_LATTICE_U_CUT, v_gone = LATTICE_U_GONE, v_urmax = 3.8, v_zero = 0.0,
                    v_one = 1.0;
    const double cut = v_cut, gone = v_gone, urmax = v_urmax, zero = v_zero, one = v_one;
    double u[2][BFN_LATTICE_LANES], r[2][BFN_LATTICE_LANES], cp[2][BFN_LATTICE_LANES];
    for (int i = 0; i < n; i += BFN_LATTICE_LANES) {
        int m = n - i < BFN_LATTICE_LANES ? n - i : BFN_LATTICE_LANES;
#pragma omp simd
        for (int l = 0; l < m; l++) {
            double a = ua[i + l], b = ub[i + l], ur = uref[i + l];
            a = a >= -cut ? a : -gone;
            b = b <= cut ? b : gone;
            ur = ur < urmax ? ur : urmax;
            ur = ur > -urmax ? ur : -urmax;
            u[0][l] = a;
            u[1][l] = b;
            r[0][l] = bfn_exp_vec(-0.5 * (a - ur) * (a + ur), lo);
            r[1][l] = bfn_exp_vec(-0.5 * (b - ur) * (b + ur), lo);
        }
        /* cp = sum_p em_coef[p-1] delta^(2p) He_(2p-1)(u) at both ends
         * (lattice_end), four lattices per lane4 with the Hermite chains in
         * registers (lanes beyond m hold u = 0 and are not used) */
        for (int l = m; l < BFN_LATTICE_LANES; l++) u[0][l] = u[1][l] = 0.0;
        for (int q = 0; q < m; q += 4)
            for (int e = 0; e < 2; e++) {
                lane4 U = lane4_load(u[e] + q), C = {0.0, 0.0, 0.0, 0.0};
                /* samples of one dimension cluster, so an end is usually
                 * dropped for all four lattices of a block or for none */
                int present = 0;
                for (int l = q; l < q + 4 && l < m; l++) present |= fabs(u[e][l]) < gone;
                if (present) C = em_odd_sums(U, P, d2);
                lane4_store(cp[e] + q, C);
            }
        /* the tails r M(|u|): scalar (the Mills table needs gathers, which
         * GCC 12 does not emit for generic tuning); a dropped end's is 0 */
        double t[2][BFN_LATTICE_LANES];
        for (int l = 0; l < m; l++)
            for (int e = 0; e < 2; e++) {
                double au = fabs(u[e][l]);
                t[e][l] = au < 10.5 ? r[e][l] * mills(au) : 0.0;
            }
#pragma omp simd
        for (int l = 0; l < m; l++) {
            double a = u[0][l], b = u[1][l], ur = uref[i + l];
            ur = ur < urmax ? ur : urmax;
            ur = ur > -urmax ? ur : -urmax;
            double ta = t[0][l], tb = t[1][l];
            double whole = bfn_exp_vec(0.5 * ur * ur, lo) * BFN_SQRT_2PI;
            /* 1 where the whole lattice lies above 0 (Q(ua) - Q(ub)), below 0
             * (Phi(ub) - Phi(ua)), else 1 - Phi(ua) - Q(ub); as weights, since
             * GCC 12 does not vectorise a select between computed values here */
            double w_up = a >= zero ? one : zero, w_dn = b <= zero ? one - w_up : zero;
            double dphi = w_up * (ta - tb) + w_dn * (tb - ta) + (one - w_up - w_dn) * (whole - ta - tb);
            sum[i + l] = (dphi + 0.5 * delta * (r[0][l] + r[1][l]) + (r[0][l] * cp[0][l] - r[1][l] * cp[1][l])) * inv_delta;
        }
    }
}

/* Phi and Q at boundary j, with the open edges b_0 = -inf, b_K = +inf. */
static void boundary_cdf(double mu, double s, int K, int j, double *lower, double *upper) {
    if (j <= 0) { *lower = 0.0; *upper = 1.0; return; }
    if (j >= K) { *lower = 1.0; *upper = 0.0; return; }
    bfn_norm_cdf2((bfn_bin_boundary(j, K) - mu) / s, lower, upper);
}

/* Mass between two boundaries given their (Phi, Q) pairs, on the side of the
 * mean where the difference does not cancel (Q(lo) <= 1/2 means z_lo >= 0). */
static inline double cdf_diff(double lo_lower, double lo_upper, double up_lower, double up_upper) {
    return lo_upper <= 0.5 ? lo_upper - up_upper : up_lower - lo_lower;
}

double bfn_dgauss_bin_prob(double mu, double s, int K, int k) {
    double ll, lu, ul, uu;
    boundary_cdf(mu, s, K, k, &ll, &lu);
    boundary_cdf(mu, s, K, k + 1, &ul, &uu);
    return cdf_diff(ll, lu, ul, uu);
}

void bfn_dgauss_probs(double mu, double s, int K, double *p) {
    int jlo, jhi;
    memset(p, 0, (size_t)K * sizeof *p);
    bfn_dgauss_range(mu, s, K, &jlo, &jhi);
    /* Boundary jlo-1 lies below the range (Phi = 0), jhi+1 above it (Phi = 1). */
    double pl = 0.0, pu = 1.0;
    for (int k = jlo - 1; k <= jhi; k++) {
        double ql, qu;
        if (k + 1 > jhi) { ql = 1.0; qu = 0.0; }
        else bfn_norm_cdf2((bfn_bin_boundary(k + 1, K) - mu) / s, &ql, &qu);
        p[k] = cdf_diff(pl, pu, ql, qu);
        pl = ql;
        pu = qu;
    }
}

double bfn_dgauss_log_prob(double mu, double s, int K, int k) {
    double prob = bfn_dgauss_bin_prob(mu, s, K, k);
    if (isnan(prob)) return NAN; /* NaN network output: let the caller see it */
    if (prob < BFN_DGAUSS_MIN_PROB) {
        double z = (bfn_bin_centre(k, K) - mu) / s;
        return -0.5 * z * z - log(s) - BFN_LN_SQRT_2PI + log(2.0 / K);
    }
    return log(prob > 1e-10 ? prob : 1e-10);
}
