/* test_transformer.c: LayerNorm, attention and the text transformer model.
 *
 * Forward passes are checked against plain double-precision reference code
 * written here from the official network's definition (networks/transformer.py,
 * networks/adapters.py); backward passes against central finite differences of
 * a random linear functional L = sum_i r_i out_i, so a gradient bug shows up as
 * an O(1) relative error. */
#include "gradcheck.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <omp.h>

#include "models/model.h"
#include "nn/attention.h"
#include "nn/attention_stream.h"
#include "util/err.h"

/* ---- helpers ------------------------------------------------------------ */

static void fill_normal(float *x, long n, double sd, gsl_rng *r) {
    for (long i = 0; i < n; i++) x[i] = (float)gsl_ran_gaussian(r, sd);
}

static void fill_uniform(float *x, long n, double lo, double hi, gsl_rng *r) {
    for (long i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * gsl_rng_uniform(r));
}

static double dot_fd(const float *r, const float *out, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += (double)r[i] * out[i];
    return s;
}

/* Finite-difference tolerance. All forwards run in float, so L carries
 * rounding noise of order 1e-7 * sum|r_i out_i| (~1e-6 here); divided by the
 * 2h = 2e-2 step that is ~1e-4 in the derivative. The central difference's
 * truncation error h^2/6 |f'''| is ~2e-5 |f'''| with f''' = O(1..10) for
 * these smooth O(1)-scaled functions. atol 1e-3 + rtol 1e-2 is ~5x above both
 * and far below the O(|g|) error of a missing or wrong term. */
#define FD_CHECK(loss_fn, context) {.loss = (loss_fn), .ctx = (context), .h = 1e-2, .atol = 1e-3, .rtol = 1e-2}

/* ---- LayerNorm ---------------------------------------------------------- */

enum { LN_N = 3, LN_C = 7 };

typedef struct { const float *in, *w, *b, *r; } ln_ctx;

static double ln_loss(void *ctx, long i) {
    const ln_ctx *c = ctx;
    float out[LN_N * LN_C], mean[LN_N], rstd[LN_N];
    bfn_layernorm_forward(out, mean, rstd, c->in, c->w, c->b, LN_N, LN_C);
    return dot_fd(c->r, out, LN_N * LN_C);
}

/* Forward equals the textbook formula in double (biased variance, eps 1e-5);
 * tolerance 1e-5: float rounding of O(1) outputs is ~1e-6. */
static void test_layernorm_forward(void **state) {
    gsl_rng *rng = test_rng(1);
    float in[LN_N * LN_C], w[LN_C], b[LN_C], out[LN_N * LN_C], mean[LN_N], rstd[LN_N];
    fill_normal(in, LN_N * LN_C, 2.0, rng);
    for (int i = 0; i < LN_C; i++) in[i] += 100.0f; /* a row with a large mean */
    fill_normal(w, LN_C, 1.0, rng);
    fill_normal(b, LN_C, 1.0, rng);
    bfn_layernorm_forward(out, mean, rstd, in, w, b, LN_N, LN_C);
    for (int n = 0; n < LN_N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < LN_C; c++) m += in[n * LN_C + c];
        m /= LN_C;
        for (int c = 0; c < LN_C; c++) v += (in[n * LN_C + c] - m) * (in[n * LN_C + c] - m);
        v /= LN_C;
        for (int c = 0; c < LN_C; c++) {
            double ref = (in[n * LN_C + c] - m) / sqrt(v + 1e-5) * w[c] + b[c];
            assert_close(out[n * LN_C + c], ref, 1e-5 * (1 + fabs(ref)));
        }
    }
    gsl_rng_free(rng);
}

/* Gradients w.r.t. input, weight and bias against central differences
 * (every entry); din is pre-filled with 1 to check accumulation. */
static void test_layernorm_grad(void **state) {
    gsl_rng *rng = test_rng(2);
    float in[LN_N * LN_C], w[LN_C], b[LN_C], r[LN_N * LN_C];
    float out[LN_N * LN_C], mean[LN_N], rstd[LN_N];
    float din[LN_N * LN_C], dw[LN_C], db[LN_C];
    fill_normal(in, LN_N * LN_C, 1.0, rng);
    fill_normal(w, LN_C, 1.0, rng);
    fill_normal(b, LN_C, 1.0, rng);
    fill_uniform(r, LN_N * LN_C, -1, 1, rng);
    bfn_layernorm_forward(out, mean, rstd, in, w, b, LN_N, LN_C);
    for (int i = 0; i < LN_N * LN_C; i++) din[i] = 1.0f;
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    bfn_layernorm_backward(din, dw, db, r, in, w, mean, rstd, LN_N, LN_C);
    for (int i = 0; i < LN_N * LN_C; i++) din[i] -= 1.0f; /* what backward added */
    ln_ctx c = {in, w, b, r};
    const gradcheck gc = FD_CHECK(ln_loss, &c);
    gradcheck_all("layernorm din", &gc, in, din, LN_N * LN_C);
    gradcheck_all("layernorm dw", &gc, w, dw, LN_C);
    gradcheck_all("layernorm db", &gc, b, db, LN_C);
    gsl_rng_free(rng);
}

/* ---- attention ---------------------------------------------------------- */

enum { AB = 2, AT = 4, AC = 6, ANH = 2 };

/* Reference: per (b, h) scores q.k / sqrt(hd) over ALL key positions
 * (non-causal), softmax, weighted sum of v; in double. */
static void attention_ref(double *out, const float *qkv, int B, int T, int C, int NH) {
    int hd = C / NH;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                double s[64], mx = -1e300, z = 0;
                for (int j = 0; j < T; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += (double)qkv[(b * T + i) * 3 * C + h * hd + e] * qkv[(b * T + j) * 3 * C + C + h * hd + e];
                    s[j] = d / sqrt((double)hd);
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int j = 0; j < T; j++) z += (s[j] = exp(s[j] - mx));
                for (int e = 0; e < hd; e++) {
                    double y = 0;
                    for (int j = 0; j < T; j++) y += s[j] / z * qkv[(b * T + j) * 3 * C + 2 * C + h * hd + e];
                    out[(b * T + i) * C + h * hd + e] = y;
                }
            }
}

/* Forward equals the reference (tol 1e-5 for O(1) outputs in float), and
 * the cached probabilities are rows summing to 1 with no causal zeros. */
static void test_attention_forward(void **state) {
    gsl_rng *rng = test_rng(3);
    float qkv[AB * AT * 3 * AC], out[AB * AT * AC], att[AB * ANH * AT * AT];
    double ref[AB * AT * AC];
    fill_normal(qkv, AB * AT * 3 * AC, 1.0, rng);
    bfn_attention_forward(out, att, qkv, AB, AT, AC, ANH);
    attention_ref(ref, qkv, AB, AT, AC, ANH);
    for (int i = 0; i < AB * AT * AC; i++) assert_close(out[i], ref[i], 1e-5);
    for (int row = 0; row < AB * ANH * AT; row++) {
        double s = 0;
        for (int j = 0; j < AT; j++) {
            assert_true(att[row * AT + j] > 0.0f); /* position 0 attends to position T-1 too */
            s += att[row * AT + j];
        }
        assert_close(s, 1.0, 1e-6);
    }
    gsl_rng_free(rng);
}

/* Permuting positions permutes the outputs (no mask, no position inside the
 * core): a causal mask would break this. Tolerance 1e-6: only the order of
 * float sums changes. */
static void test_attention_position_equivariance(void **state) {
    gsl_rng *rng = test_rng(4);
    const int perm[AT] = {2, 0, 3, 1};
    float qkv[AB * AT * 3 * AC], pqkv[AB * AT * 3 * AC];
    float out[AB * AT * AC], pout[AB * AT * AC], att[AB * ANH * AT * AT];
    fill_normal(qkv, AB * AT * 3 * AC, 1.0, rng);
    for (int b = 0; b < AB; b++)
        for (int i = 0; i < AT; i++)
            memcpy(pqkv + (b * AT + i) * 3 * AC, qkv + (b * AT + perm[i]) * 3 * AC, 3 * AC * sizeof(float));
    bfn_attention_forward(out, att, qkv, AB, AT, AC, ANH);
    bfn_attention_forward(pout, att, pqkv, AB, AT, AC, ANH);
    for (int b = 0; b < AB; b++)
        for (int i = 0; i < AT; i++)
            for (int c = 0; c < AC; c++)
                assert_close(pout[(b * AT + i) * AC + c], out[(b * AT + perm[i]) * AC + c], 1e-6);
    gsl_rng_free(rng);
}

typedef struct { const float *qkv, *r; } attn_ctx;

static double attn_loss(void *ctx, long i) {
    const attn_ctx *c = ctx;
    float out[AB * AT * AC], att[AB * ANH * AT * AT];
    bfn_attention_forward(out, att, c->qkv, AB, AT, AC, ANH);
    return dot_fd(c->r, out, AB * AT * AC);
}

/* dqkv against central differences for every entry of q, k and v. */
static void test_attention_grad(void **state) {
    gsl_rng *rng = test_rng(5);
    float qkv[AB * AT * 3 * AC], r[AB * AT * AC], out[AB * AT * AC], att[AB * ANH * AT * AT];
    float dqkv[AB * AT * 3 * AC], scratch[AB * ANH * AT * AT];
    fill_normal(qkv, AB * AT * 3 * AC, 1.0, rng);
    fill_uniform(r, AB * AT * AC, -1, 1, rng);
    bfn_attention_forward(out, att, qkv, AB, AT, AC, ANH);
    memset(dqkv, 0, sizeof dqkv);
    bfn_attention_backward(dqkv, scratch, r, qkv, att, AB, AT, AC, ANH);
    attn_ctx c = {qkv, r};
    const gradcheck gc = FD_CHECK(attn_loss, &c);
    gradcheck_all("attention dqkv", &gc, qkv, dqkv, AB * AT * 3 * AC);
    gsl_rng_free(rng);
}

/* ---- streaming attention (attention_stream.h) --------------------------- */

/* Scratch for the small shapes below: 2 slots (both threads of test runs). */
#define STREAM_SLOTS 2
static float *stream_scratch(int T) {
    return malloc(STREAM_SLOTS * bfn_attention_stream_scratch_floats(T) * sizeof(float));
}

/* Forward equals the double reference (tol 1e-5), and lse is the log of each
 * score row's sum of exponentials, recomputed here in double. */
static void test_attention_stream_forward(void **state) {
    gsl_rng *rng = test_rng(41);
    float qkv[AB * AT * 3 * AC], out[AB * AT * AC], lse[AB * ANH * AT], *scr = stream_scratch(AT);
    double ref[AB * AT * AC];
    fill_normal(qkv, AB * AT * 3 * AC, 1.0, rng);
    bfn_attention_stream_forward(out, lse, qkv, AB, AT, AC, ANH, scr, STREAM_SLOTS);
    attention_ref(ref, qkv, AB, AT, AC, ANH);
    for (int i = 0; i < AB * AT * AC; i++) assert_close(out[i], ref[i], 1e-5);
    const int hd = AC / ANH;
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < ANH; h++)
            for (int i = 0; i < AT; i++) {
                double z = 0;
                for (int j = 0; j < AT; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += (double)qkv[(b * AT + i) * 3 * AC + h * hd + e] *
                             qkv[(b * AT + j) * 3 * AC + AC + h * hd + e];
                    z += exp(d / sqrt((double)hd));
                }
                assert_close(lse[(b * ANH + h) * AT + i], log(z), 1e-5);
            }
    free(scr);
    gsl_rng_free(rng);
}

static double attn_stream_loss(void *ctx, long i) {
    const attn_ctx *c = ctx;
    float out[AB * AT * AC], lse[AB * ANH * AT], *scr = stream_scratch(AT);
    bfn_attention_stream_forward(out, lse, c->qkv, AB, AT, AC, ANH, scr, STREAM_SLOTS);
    free(scr);
    return dot_fd(c->r, out, AB * AT * AC);
}

/* dqkv against central differences for every entry of q, k and v. */
static void test_attention_stream_grad(void **state) {
    gsl_rng *rng = test_rng(42);
    float qkv[AB * AT * 3 * AC], r[AB * AT * AC], out[AB * AT * AC], lse[AB * ANH * AT];
    float dqkv[AB * AT * 3 * AC], *scr = stream_scratch(AT);
    fill_normal(qkv, AB * AT * 3 * AC, 1.0, rng);
    fill_uniform(r, AB * AT * AC, -1, 1, rng);
    bfn_attention_stream_forward(out, lse, qkv, AB, AT, AC, ANH, scr, STREAM_SLOTS);
    memset(dqkv, 0, sizeof dqkv);
    bfn_attention_stream_backward(dqkv, r, qkv, out, lse, AB, AT, AC, ANH, scr, STREAM_SLOTS);
    attn_ctx c = {qkv, r};
    const gradcheck gc = FD_CHECK(attn_stream_loss, &c);
    gradcheck_all("attention_stream dqkv", &gc, qkv, dqkv, AB * AT * 3 * AC);
    free(scr);
    gsl_rng_free(rng);
}

/* A sequence longer than one query block (T = 300: blocks of 218 and 82
 * rows), with a row count not a multiple of the 16 reduction lanes, and
 * one scratch slot (so one thread whatever OMP_NUM_THREADS says): outputs
 * and gradients equal the caching attention's (gradient-checked above) to
 * float rounding. dqkv starts non-zero to check that both accumulate. */
static void test_attention_stream_blocks(void **state) {
    enum { B = 2, T = 300, C = 4, NH = 2 };
    gsl_rng *rng = test_rng(43);
    const long n3 = (long)B * T * 3 * C, n = (long)B * T * C;
    float *qkv = malloc(n3 * sizeof(float)), *dy = malloc(n * sizeof(float));
    float *o1 = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float));
    float *g1 = malloc(n3 * sizeof(float)), *g2 = malloc(n3 * sizeof(float));
    float *att = malloc((size_t)B * NH * T * T * sizeof(float)), *scr = malloc((size_t)B * NH * T * T * sizeof(float));
    float *lse = malloc((size_t)B * NH * T * sizeof(float)), *sscr = stream_scratch(T);
    fill_normal(qkv, n3, 1.5, rng);
    fill_uniform(dy, n, -1, 1, rng);
    fill_uniform(g1, n3, -1, 1, rng);
    memcpy(g2, g1, n3 * sizeof(float));
    bfn_attention_forward(o1, att, qkv, B, T, C, NH);
    bfn_attention_backward(g1, scr, dy, qkv, att, B, T, C, NH);
    bfn_attention_stream_forward(o2, lse, qkv, B, T, C, NH, sscr, 1);
    bfn_attention_stream_backward(g2, dy, qkv, o2, lse, B, T, C, NH, sscr, 1);
    assert_floats_near(o2, o1, n, 1e-5);
    assert_floats_near(g2, g1, n3, 1e-4);
    free(qkv), free(dy), free(o1), free(o2), free(g1), free(g2), free(att), free(scr), free(lse), free(sscr);
    gsl_rng_free(rng);
}

/* The fixed position table at a few entries, values of the official
 * pe_encode(T, 6) (base 1000; odd column j uses exponent j/C) computed
 * independently in Python double precision. */
static void test_sinusoid_table(void **state) {
    enum { T = 256, C = 6 };
    static float tab[T * C];
    bfn_sinusoid_table(tab, T, C);
    const double row3[C] = {0.1411200080598672, 0.5827536107022248, 0.2955202066613396,
                            0.9955033739876628, 0.02999550020249567, 0.999955000337499};
    const double row255[C] = {-0.5063916349244909, 0.5033468084556307, 0.3590583540221716,
                              -0.2082901100058229, 0.5576837173914163, 0.6921152492275552};
    for (int j = 0; j < C; j++) {
        assert_close(tab[j], j % 2 ? 1.0 : 0.0, 0);
        assert_close(tab[3 * C + j], row3[j], 1e-7);     /* float rounding: 0.5 ulp of O(1) */
        assert_close(tab[255 * C + j], row255[j], 1e-7);
    }
}

/* ---- the model ---------------------------------------------------------- */

typedef struct {
    int T, in_ch, out_ch, L, NH, C, skip, B;
} tcfg;

static const float *P_(const bfn_model *m, const float *P, const char *name) {
    int i = bfn_layout_find(&m->layout, name);
    if (i < 0) {
        print_error("tensor %s missing\n", name);
        fail();
    }
    return P + m->layout.t[i].offset;
}

static const float *PL(const bfn_model *m, const float *P, int l, const char *suffix) {
    char name[BFN_TENSOR_NAME];
    snprintf(name, sizeof name, "h.%d.%s", l, suffix);
    return P_(m, P, name);
}

/* y (C) = LayerNorm(x (C)) in double. */
static void ref_ln(double *y, const double *x, const float *w, const float *b, int C) {
    double m = 0, v = 0;
    for (int c = 0; c < C; c++) m += x[c];
    m /= C;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= C;
    for (int c = 0; c < C; c++) y[c] = (x[c] - m) / sqrt(v + 1e-5) * w[c] + b[c];
}

/* y (OC) = W (OC, IC) x + b, in double. */
static void ref_lin(double *y, const double *x, const float *W, const float *b, int IC, int OC) {
    for (int o = 0; o < OC; o++) {
        double s = b[o];
        for (int i = 0; i < IC; i++) s += (double)W[o * IC + i] * x[i];
        y[o] = s;
    }
}

/* The official GPT (non-causal, pre-LN, bias, skip) with TextInputAdapter,
 * in double, one example at a time. Sizes bounded for stack arrays. */
enum { RT = 8, RC = 16 };
static void model_ref(const bfn_model *m, const float *P, const tcfg *c, const float *in, const float *t,
                      double *out) {
    const int T = c->T, C = c->C, hd = C / c->NH;
    assert_true(T <= RT && C <= RC);
    for (int b = 0; b < c->B; b++) {
        double h0[RT][RC], x[RT][RC], ln[RT][RC], qkv[RT][3 * RC], y[RT][RC], tmp[RT][4 * RC];
        double s = 2.0 * t[b] - 1.0;
        const float *Win = P_(m, P, "in_proj.weight"), *bin = P_(m, P, "in_proj.bias");
        const float *Wt = P_(m, P, "t_proj.weight"), *bt = P_(m, P, "t_proj.bias");
        for (int p = 0; p < T; p++) {
            double xin[64];
            for (int i = 0; i < c->in_ch; i++) xin[i] = in[(b * T + p) * c->in_ch + i];
            ref_lin(h0[p], xin, Win, bin, c->in_ch, C);
            for (int j = 0; j < C; j++) {
                double a = p / pow(1000.0, (double)j / C);
                h0[p][j] += (j % 2 ? cos(a) : sin(a)) + (Wt[j] * s + bt[j]);
                x[p][j] = h0[p][j];
            }
        }
        for (int l = 0; l < c->L; l++) {
            for (int p = 0; p < T; p++) {
                ref_ln(ln[p], x[p], PL(m, P, l, "ln1.weight"), PL(m, P, l, "ln1.bias"), C);
                ref_lin(qkv[p], ln[p], PL(m, P, l, "attn.qkv.weight"), PL(m, P, l, "attn.qkv.bias"), C, 3 * C);
            }
            for (int h = 0; h < c->NH; h++)
                for (int i = 0; i < T; i++) {
                    double sc[RT], mx = -1e300, z = 0;
                    for (int j = 0; j < T; j++) {
                        double d = 0;
                        for (int e = 0; e < hd; e++) d += qkv[i][h * hd + e] * qkv[j][C + h * hd + e];
                        sc[j] = d / sqrt((double)hd);
                        mx = sc[j] > mx ? sc[j] : mx;
                    }
                    for (int j = 0; j < T; j++) z += (sc[j] = exp(sc[j] - mx));
                    for (int e = 0; e < hd; e++) {
                        double acc = 0;
                        for (int j = 0; j < T; j++) acc += sc[j] / z * qkv[j][2 * C + h * hd + e];
                        y[i][h * hd + e] = acc;
                    }
                }
            for (int p = 0; p < T; p++) {
                double a[RC];
                ref_lin(a, y[p], PL(m, P, l, "attn.proj.weight"), PL(m, P, l, "attn.proj.bias"), C, C);
                for (int j = 0; j < C; j++) x[p][j] += a[j];
                ref_ln(ln[p], x[p], PL(m, P, l, "ln2.weight"), PL(m, P, l, "ln2.bias"), C);
                ref_lin(tmp[p], ln[p], PL(m, P, l, "mlp.fc.weight"), PL(m, P, l, "mlp.fc.bias"), C, 4 * C);
                for (int j = 0; j < 4 * C; j++) {
                    double u = tmp[p][j];
                    tmp[p][j] = 0.5 * u * (1.0 + tanh(sqrt(2.0 / M_PI) * (u + 0.044715 * u * u * u)));
                }
                ref_lin(a, tmp[p], PL(m, P, l, "mlp.proj.weight"), PL(m, P, l, "mlp.proj.bias"), 4 * C, C);
                for (int j = 0; j < C; j++) x[p][j] += a[j];
            }
        }
        for (int p = 0; p < T; p++) {
            double cat[2 * RC];
            ref_ln(cat, x[p], P_(m, P, "ln_f.weight"), P_(m, P, "ln_f.bias"), C);
            for (int j = 0; j < C; j++) cat[C + j] = h0[p][j];
            ref_lin(out + (b * T + p) * c->out_ch, cat, P_(m, P, "head.weight"), P_(m, P, "head.bias"),
                    c->skip ? 2 * C : C, c->out_ch);
        }
    }
}

static bfn_model *make_model(const tcfg *c) {
    bfn_model *m = NULL;
    int rc = bfn_transformer_create(&m, c->T, c->in_ch, c->out_ch, c->L, c->NH, c->C, c->skip, c->B);
    if (rc != BFN_OK) print_error("create: %s\n", bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    assert_non_null(m);
    return m;
}

/* Random O(1)-scale parameters (init's small weights would hide most paths
 * below the tolerances): weights and biases N(0, 0.3^2), LayerNorm weights
 * 1 + N(0, 0.3^2). */
static float *random_params(const bfn_model *m, gsl_rng *rng) {
    float *P = calloc(m->layout.n, sizeof(float));
    for (int i = 0; i < m->layout.n_tensors; i++) {
        const bfn_tensor_info *ti = &m->layout.t[i];
        fill_normal(P + ti->offset, (long)ti->size, 0.3, rng);
        if (strstr(ti->name, "ln") && strstr(ti->name, ".weight"))
            for (size_t j = 0; j < ti->size; j++) P[ti->offset + j] += 1.0f;
    }
    return P;
}

static const tcfg tiny_skip = {5, 4, 4, 2, 2, 8, 1, 2};
static const tcfg tiny_noskip = {5, 4, 4, 2, 2, 8, 0, 2};

/* Forward equals the double reference. Tolerance 1e-4 for O(1) outputs:
 * float rounding through 2 blocks of <= 32-term sums stays ~1e-5, while a
 * missing/misplaced component (position table, t embedding, skip half,
 * attention scale, GELU form) moves outputs by O(0.1). */
static void check_forward_ref(const tcfg *c) {
    gsl_rng *rng = test_rng(10 + c->skip);
    bfn_model *m = make_model(c);
    float *P = random_params(m, rng);
    long nin = (long)c->B * m->in_dim, nout = (long)c->B * m->out_dim;
    float *in = malloc(nin * sizeof(float)), t[8], *out = malloc(nout * sizeof(float));
    double *ref = malloc(nout * sizeof(double));
    fill_uniform(in, nin, -1, 1, rng);
    fill_uniform(t, c->B, 0, 1, rng);
    m->ops->forward(m, P, c->B, in, t, out);
    model_ref(m, P, c, in, t, ref);
    for (long i = 0; i < nout; i++) assert_close(out[i], ref[i], 1e-4 * (1 + fabs(ref[i])));
    free(in), free(out), free(ref), free(P);
    bfn_model_free(m);
    gsl_rng_free(rng);
}

static void test_model_forward_skip(void **state) { check_forward_ref(&tiny_skip); }
static void test_model_forward_noskip(void **state) { check_forward_ref(&tiny_noskip); }

typedef struct {
    bfn_model *m;
    const float *P, *in, *t, *r;
    int B;
    float *out;
} model_ctx;

static double model_loss(void *ctx, long i) {
    model_ctx *c = ctx;
    c->m->ops->forward(c->m, c->P, c->B, c->in, c->t, c->out);
    return dot_fd(c->r, c->out, (long)c->B * c->m->out_dim);
}

/* Every parameter tensor (4 entries each: first, last, 2 random) and 8
 * input entries against central differences. Also checks that backward
 * accumulates: a second call doubles the gradient. */
static void check_model_grad(const tcfg *c) {
    gsl_rng *rng = test_rng(20 + c->skip);
    bfn_model *m = make_model(c);
    float *P = random_params(m, rng);
    long nin = (long)c->B * m->in_dim, nout = (long)c->B * m->out_dim;
    float *in = malloc(nin * sizeof(float)), t[8], *out = malloc(nout * sizeof(float));
    float *r = malloc(nout * sizeof(float)), *G = calloc(m->layout.n, sizeof(float));
    float *G2 = calloc(m->layout.n, sizeof(float)), *din = calloc(nin, sizeof(float));
    fill_uniform(in, nin, -1, 1, rng);
    fill_uniform(t, c->B, 0, 1, rng);
    fill_uniform(r, nout, -1, 1, rng);
    assert_int_equal(bfn_transformer_set_input_grad(m, din), BFN_OK);
    m->ops->forward(m, P, c->B, in, t, out);
    m->ops->backward(m, P, c->B, r, G);
    assert_int_equal(bfn_transformer_set_input_grad(m, NULL), BFN_OK);
    memcpy(G2, G, m->layout.n * sizeof(float));
    m->ops->backward(m, P, c->B, r, G2);
    /* Accumulation: G2 = G + g. Not bitwise 2G, since sums accumulated onto a
     * non-zero buffer are re-associated (errors ~1e-7 of the largest summands,
     * which are bounded by the largest gradient); 1e-5 max|G| covers that and
     * is far below the |G| error of overwriting instead of adding. */
    double gmax = 0;
    for (size_t i = 0; i < m->layout.n; i++) gmax = fabs(G[i]) > gmax ? fabs(G[i]) : gmax;
    for (size_t i = 0; i < m->layout.n; i++) assert_close(G2[i], 2.0f * G[i], 1e-5 * gmax);

    int checked = 0;
    model_ctx mc = {m, P, in, t, r, c->B, out};
    const gradcheck gc = FD_CHECK(model_loss, &mc);
    for (int ti = 0; ti <= m->layout.n_tensors; ti++) {
        /* ti == n_tensors stands for the input */
        int is_in = ti == m->layout.n_tensors;
        float *x = is_in ? in : P + m->layout.t[ti].offset;
        const float *g = is_in ? din : G + m->layout.t[ti].offset;
        long size = is_in ? nin : (long)m->layout.t[ti].size;
        int nchk = is_in ? 8 : 4;
        for (int k = 0; k < nchk; k++) {
            long j = k == 0 ? 0 : k == 1 ? size - 1 : (long)gsl_rng_uniform_int(rng, (unsigned long)size);
            gradcheck_one(is_in ? "input" : m->layout.t[ti].name, &gc, x, g, j);
            checked++;
        }
    }
    assert_int_equal(checked, 4 * m->layout.n_tensors + 8);
    free(in), free(out), free(r), free(G), free(G2), free(din), free(P);
    bfn_model_free(m);
    gsl_rng_free(rng);
}

static void test_model_grad_skip(void **state) { check_model_grad(&tiny_skip); }
static void test_model_grad_noskip(void **state) { check_model_grad(&tiny_noskip); }

/* Permuting the examples of a batch permutes the outputs: examples never
 * interact (per-row GEMMs, per-example attention). Not bitwise on every CPU:
 * with OpenBLAS's Haswell/Zen (AVX2) kernels a row's bits depend on where it
 * falls in the GEMM's micro-tiles (edge rows take other kernels), so a row
 * moved within the batch may round differently. What we promise bitwise is
 * the same batch in the same order (test_model_determinism). */
static void test_model_batch_order(void **state) {
    tcfg c = tiny_skip;
    c.B = 3;
    const int perm[3] = {2, 0, 1};
    gsl_rng *rng = test_rng(30);
    bfn_model *m = make_model(&c);
    float *P = random_params(m, rng);
    int di = m->in_dim, d = m->out_dim;
    float in[3 * 20], pin[3 * 20], t[3], pt[3], out[3 * 20], pout[3 * 20];
    fill_uniform(in, 3L * di, -1, 1, rng);
    fill_uniform(t, 3, 0, 1, rng);
    for (int b = 0; b < 3; b++) {
        memcpy(pin + b * di, in + perm[b] * di, di * sizeof(float));
        pt[b] = t[perm[b]];
    }
    m->ops->forward(m, P, 3, in, t, out);
    m->ops->forward(m, P, 3, pin, pt, pout);
    for (int b = 0; b < 3; b++) assert_floats_near(pout + b * d, out + perm[b] * d, d, 1e-4);
    /* A batch of one gives the same row as inside the batch up to rounding:
     * the GEMMs have other shapes, for which OpenBLAS may choose another
     * kernel or blocking (it does on AVX2-only CPUs). Each float32 dot product of length k <= 4C = 32 then
     * differs by at most ~2k u sum|a_i b_i| (u = 2^-24, ~4e-6 relative); a
     * few layers with LayerNorm amplify that by a small factor, so 1e-4 of
     * the output scale is a bound with margin that still catches any real
     * mixing of rows (which changes outputs at O(1)). */
    m->ops->forward(m, P, 1, in + di, t + 1, pout);
    assert_floats_near(pout, out + d, d, 1e-4);
    free(P);
    bfn_model_free(m);
    gsl_rng_free(rng);
}

/* Same seed -> bitwise equal parameters; a different seed -> different
 * parameters. Two separate models with the same thread count give bitwise
 * equal outputs and gradients (the promise: same config, seed, thread count
 * and shapes). Across 1 and 2 threads OpenBLAS may partition or pick kernels
 * differently, so there they agree to rounding (bound as in batch_order). */
static void test_model_determinism(void **state) {
    tcfg c = {16, 27, 27, 2, 4, 32, 1, 4};
    bfn_model *m1 = make_model(&c), *m2 = make_model(&c);
    assert_int_equal(m1->layout.n, m2->layout.n);
    size_t n = m1->layout.n;
    float *P1 = malloc(n * sizeof(float)), *P2 = malloc(n * sizeof(float)), *P3 = malloc(n * sizeof(float));
    gsl_rng *r1 = test_rng(7), *r2 = test_rng(7), *r3 = test_rng(8);
    m1->ops->init(m1, P1, r1);
    m2->ops->init(m2, P2, r2);
    m1->ops->init(m1, P3, r3);
    assert_memory_equal(P1, P2, n * sizeof(float));
    assert_memory_not_equal(P1, P3, n * sizeof(float));

    long nin = (long)c.B * m1->in_dim, nout = (long)c.B * m1->out_dim;
    float *in = malloc(nin * sizeof(float)), t[4], *o1 = malloc(nout * sizeof(float));
    float *o2 = malloc(nout * sizeof(float)), *G1 = calloc(n, sizeof(float)), *G2 = calloc(n, sizeof(float));
    fill_uniform(in, nin, -1, 1, r3);
    fill_uniform(t, c.B, 0, 1, r3);
    int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        memset(G1, 0, n * sizeof(float));
        memset(G2, 0, n * sizeof(float));
        m1->ops->forward(m1, P1, c.B, in, t, o1);
        m1->ops->backward(m1, P1, c.B, o1, G1);
        m2->ops->forward(m2, P2, c.B, in, t, o2);
        m2->ops->backward(m2, P2, c.B, o1, G2);
        assert_memory_equal(o1, o2, nout * sizeof(float));
        assert_memory_equal(G1, G2, n * sizeof(float));
    }
    /* o1, G1 now hold the 2-thread results; recompute with 1 thread in o2, G2. */
    omp_set_num_threads(1);
    memset(G2, 0, n * sizeof(float));
    m2->ops->forward(m2, P2, c.B, in, t, o2);
    m2->ops->backward(m2, P2, c.B, o1, G2);
    omp_set_num_threads(saved);
    assert_floats_near(o2, o1, nout, 1e-4);
    assert_floats_near(G2, G1, n, 1e-4);
    free(P1), free(P2), free(P3), free(in), free(o1), free(o2), free(G1), free(G2);
    gsl_rng_free(r1), gsl_rng_free(r2), gsl_rng_free(r3);
    bfn_model_free(m1);
    bfn_model_free(m2);
}

/* Init follows nanoGPT: LayerNorm weights 1, all biases 0, Linear weights
 * N(0, 0.02^2), residual projections N(0, (0.02/sqrt(2L))^2). The sample std
 * of n Gaussian draws has relative standard error 1/sqrt(2n) (<= 1.6% for
 * the n >= 2048 entries checked); the tolerance is 5 standard errors. */
static void test_model_init(void **state) {
    tcfg c = {4, 27, 27, 3, 4, 48, 1, 1};
    bfn_model *m = make_model(&c);
    float *P = malloc(m->layout.n * sizeof(float));
    gsl_rng *rng = test_rng(9);
    m->ops->init(m, P, rng);
    for (int i = 0; i < m->layout.n_tensors; i++) {
        const bfn_tensor_info *ti = &m->layout.t[i];
        const float *p = P + ti->offset;
        int is_bias = strstr(ti->name, ".bias") != NULL, is_ln = strstr(ti->name, "ln") != NULL;
        assert_int_equal(ti->decay, !is_bias && !is_ln);
        if (is_bias) {
            for (size_t j = 0; j < ti->size; j++) assert_true(p[j] == 0.0f);
        } else if (is_ln) {
            for (size_t j = 0; j < ti->size; j++) assert_true(p[j] == 1.0f);
        } else if (ti->size >= 2048) {
            double want = strstr(ti->name, "proj.weight") && strncmp(ti->name, "h.", 2) == 0
                              ? 0.02 / sqrt(2.0 * c.L)
                              : 0.02;
            double ss = 0;
            for (size_t j = 0; j < ti->size; j++) ss += (double)p[j] * p[j];
            double sd = sqrt(ss / ti->size), se = want / sqrt(2.0 * ti->size);
            assert_close(sd, want, 5 * se);
        }
    }
    free(P);
    bfn_model_free(m);
    gsl_rng_free(rng);
}

/* Layout of the paper's text8 network (24 layers, width 768, 12 heads,
 * 27 classes, skip): the tensor sizes add up to the official GPT's
 * 170,175,003 parameters (paper/NOTES.md §3.4). seq_len and max_batch do not
 * change the count, so they are kept at 1 to keep the activations tiny. */
static void test_model_paper_param_count(void **state) {
    bfn_model *m = NULL;
    assert_int_equal(bfn_transformer_create(&m, 1, 27, 27, 24, 12, 768, 1, 1), BFN_OK);
    size_t total = 0;
    for (int i = 0; i < m->layout.n_tensors; i++) total += m->layout.t[i].size;
    assert_int_equal(total, 170175003);
    assert_int_equal(m->layout.n_tensors, 4 + 24 * 12 + 4);
    int h = bfn_layout_find(&m->layout, "head.weight");
    assert_true(h >= 0);
    assert_int_equal(m->layout.t[h].shape[0], 27);
    assert_int_equal(m->layout.t[h].shape[1], 1536);
    assert_true(bfn_layout_find(&m->layout, "h.23.mlp.proj.bias") >= 0);
    bfn_model_free(m);
}

/* Bad sizes are BFN_EINVAL with a message, and no model is returned. */
static void test_model_bad_config(void **state) {
    bfn_model *m = (bfn_model *)1;
    assert_int_equal(bfn_transformer_create(&m, 8, 27, 27, 2, 3, 32, 1, 4), BFN_EINVAL);
    assert_null(m);
    assert_non_null(strstr(bfn_last_error(), "heads (H) must divide width (C)"));
    assert_int_equal(bfn_transformer_create(&m, 0, 27, 27, 2, 4, 32, 1, 4), BFN_EINVAL);
    assert_int_equal(bfn_transformer_create(&m, 8, 27, 27, 2, 4, 32, 1, 0), BFN_EINVAL);
    assert_int_equal(bfn_transformer_create(&m, 8, 27, 27, 0, 4, 32, 1, 4), BFN_EINVAL);
    assert_int_equal(bfn_transformer_create(&m, 8, 27, 27, 2, 4, -32, 1, 4), BFN_EINVAL);
    assert_int_equal(bfn_transformer_create(&m, 8, 27, 27, 1000, 4, 32, 1, 4), BFN_EINVAL);
    assert_null(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm_forward),
        cmocka_unit_test(test_layernorm_grad),
        cmocka_unit_test(test_attention_forward),
        cmocka_unit_test(test_attention_position_equivariance),
        cmocka_unit_test(test_attention_grad),
        cmocka_unit_test(test_attention_stream_forward),
        cmocka_unit_test(test_attention_stream_grad),
        cmocka_unit_test(test_attention_stream_blocks),
        cmocka_unit_test(test_sinusoid_table),
        cmocka_unit_test(test_model_forward_skip),
        cmocka_unit_test(test_model_forward_noskip),
        cmocka_unit_test(test_model_grad_skip),
        cmocka_unit_test(test_model_grad_noskip),
        cmocka_unit_test(test_model_batch_order),
        cmocka_unit_test(test_model_determinism),
        cmocka_unit_test(test_model_init),
        cmocka_unit_test(test_model_paper_param_count),
        cmocka_unit_test(test_model_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
