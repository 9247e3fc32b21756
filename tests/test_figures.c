/* test_figures.c: the analytic figure data (analysis/figures.c) and the
 * gnuplot scripts (the .gp files in analysis/).
 *
 * Every figure's TSV is checked against its closed form where one exists:
 * schedule columns against the beta formulas, the input variance against
 * gamma(1-gamma) with gamma = 1 - sigma1^(2t) and the diffusion abar formulas,
 * the continuous flow density's mass and mode per t, the sequential-update
 * paths' precision rho = 1 + beta(t), the K = 2 flow histogram against the
 * exact distribution of sigmoid(d), d ~ N(2 beta, 4 beta), and the expected
 * entropy against ln K at small beta, monotonicity in beta and, for K = 2, a
 * quadrature of the exact expectation. Every figure is byte-identical on a
 * second call. Each gnuplot script runs on small fixture TSVs and writes a PNG
 * (checked for the PNG signature) and an SVG; these sub-tests are skipped
 * when gnuplot is not installed or the test does not run from the repository
 * root (where `make test` runs it).
 */
#include "testutil.h"

#include <sys/stat.h>

#include "analysis/figures.h"
#include "bfn/schedule.h"
#include "util/err.h"

/* ---- figure output in memory ------------------------------------------------------ */

enum { MAX_FIGS = 16 };
static char *fig_text[MAX_FIGS];
static size_t fig_size[MAX_FIGS];
static int n_figs;

/* Write figure `name` into a malloc'd buffer (NUL-terminated). */
static char *figure_to_memory(const char *name, size_t *size) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, size);
    assert_non_null(f);
    int rc = bfn_figure_data(name, f);
    if (rc != BFN_OK) print_error("figure %s: %s\n", name, bfn_last_error());
    assert_int_equal(rc, BFN_OK);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static int fig_index(const char *name) {
    const char *const *names = bfn_figure_names();
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], name) == 0) return i;
    print_error("no figure %s\n", name);
    fail();
    return -1;
}

/* Generate every figure once for the whole group. */
static int setup_figures(void **state) {
    const char *const *names = bfn_figure_names();
    for (n_figs = 0; names[n_figs] && n_figs < MAX_FIGS; n_figs++)
        fig_text[n_figs] = figure_to_memory(names[n_figs], &fig_size[n_figs]);
    return 0;
}

static const char *gp_dir; /* fixtures and plots of the gnuplot sub-tests */

static int teardown_figures(void **state) {
    for (int i = 0; i < n_figs; i++) free(fig_text[i]);
    if (gp_dir) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", gp_dir);
        if (system(cmd) != 0) print_error("could not remove %s\n", gp_dir);
        free((char *)gp_dir);
    }
    return 0;
}

/* ---- a small TSV reader: '#' comments, one header line, numeric rows, blank
 * lines (block separators) skipped ---------------------------------------------------- */

enum { TSV_MAX_COLS = 64 };
typedef struct {
    int ncol, nrow;
    char names[TSV_MAX_COLS][64];
    double *v; /* nrow x ncol */
} tsv;

static void tsv_parse(const char *text, tsv *t) {
    memset(t, 0, sizeof *t);
    size_t cap = 1024;
    t->v = malloc(cap * sizeof *t->v);
    size_t used = 0;
    int header = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > 0 && line[0] != '#') {
            char buf[4096];
            assert_true(len < sizeof buf);
            memcpy(buf, line, len);
            buf[len] = '\0';
            int c = 0;
            for (char *save = NULL, *tok = strtok_r(buf, "\t", &save); tok; tok = strtok_r(NULL, "\t", &save), c++) {
                assert_true(c < TSV_MAX_COLS);
                if (!header) {
                    snprintf(t->names[c], sizeof t->names[c], "%s", tok);
                    continue;
                }
                if (used == cap) t->v = realloc(t->v, (cap *= 2) * sizeof *t->v);
                char *e;
                t->v[used++] = strtod(tok, &e);
                assert_true(e != tok && *e == '\0');
            }
            if (!header) {
                header = 1;
                t->ncol = c;
            } else {
                assert_int_equal(c, t->ncol); /* every row complete */
                t->nrow++;
            }
        }
        line = end ? end + 1 : line + len;
    }
    assert_true(header && t->nrow > 0);
}

static int tsv_col(const tsv *t, const char *name) {
    for (int c = 0; c < t->ncol; c++)
        if (strcmp(t->names[c], name) == 0) return c;
    print_error("no column %s\n", name);
    fail();
    return -1;
}

#define AT(t, r, c) ((t)->v[(size_t)(r) * (t)->ncol + (c)])

static void parse_figure(const char *name, tsv *t) { tsv_parse(fig_text[fig_index(name)], t); }

/* Printed with %.9g: relative rounding <= 5e-9 (plus the tiny absolute error
 * of values that are ~0). */
static void assert_printed(double got, double want) {
    assert_close(got, want, 1e-8 * fabs(want) + 1e-15);
}

/* ---- tests ----------------------------------------------------------------------------- */

/* Unknown names fail with the list of figures; "list" prints bfn_figure_names(). */
static void test_names_and_errors(void **state) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_int_equal(bfn_figure_data("no_such_figure", f), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "entropy"));
    assert_int_equal(bfn_figure_data("list", f), BFN_OK);
    fclose(f);
    char want[512] = "";
    for (const char *const *nm = bfn_figure_names(); *nm; nm++) {
        strcat(want, *nm);
        strcat(want, "\n");
    }
    assert_string_equal(buf, want);
    free(buf);
}

/* Every figure gives the same bytes on a second call (fixed seeds). */
static void test_byte_identical(void **state) {
    for (int i = 0; i < n_figs; i++) {
        size_t size;
        char *again = figure_to_memory(bfn_figure_names()[i], &size);
        assert_int_equal(size, fig_size[i]);
        assert_memory_equal(again, fig_text[i], size);
        free(again);
    }
}

/* Schedule columns against the formulas of schedule.c's registry; every
 * registered schedule except "table" has a column group. */
static void test_schedules_closed_form(void **state) {
    tsv t;
    parse_figure("schedules", &t);
    assert_int_equal(t.nrow, 201);
    int ct = tsv_col(&t, "t");
    int qb = tsv_col(&t, "quadratic_b9_beta"), qa = tsv_col(&t, "quadratic_b9_alpha"), qn = tsv_col(&t, "quadratic_b9_norm");
    int tb = tsv_col(&t, "quadratic_b0.5625_beta");
    int eb = tsv_col(&t, "exponential_s0.001_beta"), ea = tsv_col(&t, "exponential_s0.001_alpha");
    int en = tsv_col(&t, "exponential_s0.001_norm"), e2 = tsv_col(&t, "exponential_s0.0316_beta");
    int lb = tsv_col(&t, "linear_b9_beta"), la = tsv_col(&t, "linear_b9_alpha");
    int cb = tsv_col(&t, "cosine_b9_beta"), ca = tsv_col(&t, "cosine_b9_alpha");
    for (int r = 0; r < t.nrow; r++) {
        double x = AT(&t, r, ct);
        assert_printed(x, r / 200.0);
        assert_printed(AT(&t, r, qb), 9.0 * x * x);
        assert_printed(AT(&t, r, qa), 18.0 * x);
        assert_printed(AT(&t, r, qn), x * x);
        assert_printed(AT(&t, r, tb), 0.5625 * x * x);
        assert_printed(AT(&t, r, eb), pow(0.001, -2.0 * x) - 1.0);
        assert_printed(AT(&t, r, ea), -2.0 * log(0.001) * pow(0.001, -2.0 * x));
        assert_printed(AT(&t, r, en), (pow(0.001, -2.0 * x) - 1.0) / (1e6 - 1.0));
        assert_printed(AT(&t, r, e2), pow(0.0316, -2.0 * x) - 1.0);
        assert_printed(AT(&t, r, lb), 9.0 * x);
        assert_printed(AT(&t, r, la), 9.0);
        assert_printed(AT(&t, r, cb), 9.0 * (1.0 - cos(M_PI * x / 2.0)));
        assert_printed(AT(&t, r, ca), 9.0 * M_PI / 2.0 * sin(M_PI * x / 2.0));
    }
    /* every registered schedule (but "table") appears */
    for (const char *const *nm = bfn_schedule_names(); *nm; nm++) {
        if (strcmp(*nm, "table") == 0) continue;
        int found = 0;
        for (int c = 0; c < t.ncol; c++) found |= strncmp(t.names[c], *nm, strlen(*nm)) == 0;
        if (!found) print_error("schedule %s has no column\n", *nm);
        assert_true(found);
    }
    free(t.v);
}

/* gamma(1-gamma) with gamma = 1 - sigma1^(2t) (the flow's closed form, not
 * via beta), and the diffusion columns against the abar formulas. */
static void test_input_variance_closed_form(void **state) {
    tsv t;
    parse_figure("input_variance", &t);
    int ct = tsv_col(&t, "t"), bv = tsv_col(&t, "bfn_var"), bg = tsv_col(&t, "bfn_gamma");
    int lv = tsv_col(&t, "linear_var"), lr = tsv_col(&t, "linear_var_raw");
    int cv = tsv_col(&t, "cosine_var"), cr = tsv_col(&t, "cosine_var_raw");
    double vmax = 0.0;
    for (int r = 0; r < t.nrow; r++) {
        double x = AT(&t, r, ct), g = 1.0 - pow(0.001, 2.0 * x), s = 1.0 - x;
        assert_close(AT(&t, r, bg), g, 1e-8);
        assert_close(AT(&t, r, bv), g * (1.0 - g), 1e-8);
        double al = exp(-(0.1 * s + 0.5 * 19.9 * s * s));
        double f = cos((s + 0.008) / 1.008 * M_PI / 2.0), f0 = cos(0.008 / 1.008 * M_PI / 2.0);
        double ac = f * f / (f0 * f0);
        assert_close(AT(&t, r, lv), al * (1.0 - al), 1e-8);
        assert_close(AT(&t, r, lr), 1.0 - al, 1e-8);
        assert_close(AT(&t, r, cv), ac * (1.0 - ac), 1e-8);
        assert_close(AT(&t, r, cr), 1.0 - ac, 1e-8);
        if (AT(&t, r, bv) > vmax) vmax = AT(&t, r, bv);
    }
    /* gamma(1-gamma) <= 1/4, reached near gamma = 1/2 (t = ln 2 / (2 ln 1000) ~ 0.05 is a grid point
     * within 0.003 of it, so the grid maximum is within 1e-3 of 1/4). */
    assert_true(vmax <= 0.25 && vmax > 0.249);
    free(t.v);
}

/* The flow density per t: its trapezoid-rule integral over the mu grid equals
 * the Gaussian mass on [-2, 2] (erfc), and its mode sits at gamma x. The grid
 * step h = 0.01 is at most half the smallest sd (0.02 at t -> 1); the
 * trapezoid error is ~h^2/12 |f'(2) - f'(-2)| <= 1e-5 * 0.01 (f' at the
 * edges is < 0.01 for every t) plus exponentially small terms: tolerance 1e-6. */
static void test_cts_flow_density(void **state) {
    tsv t;
    parse_figure("cts_flow", &t);
    int ct = tsv_col(&t, "t"), cm = tsv_col(&t, "mu"), cd = tsv_col(&t, "density");
    assert_int_equal(t.nrow, 100 * 401);
    for (int i = 0; i < 100; i++) {
        double tt = AT(&t, i * 401, ct), g = 1.0 - pow(0.02, 2.0 * tt), sd = sqrt(g * (1.0 - g)), m = 0.8 * g;
        double sum = 0.0, best = -1.0, mode = 0.0;
        for (int j = 0; j < 401; j++) {
            int r = i * 401 + j;
            assert_close(AT(&t, r, ct), tt, 0.0);
            double d = AT(&t, r, cd);
            sum += d * (j == 0 || j == 400 ? 0.005 : 0.01);
            if (d > best) { best = d; mode = AT(&t, r, cm); }
        }
        double mass = 0.5 * erfc((-2.0 - m) / (sd * M_SQRT2)) - 0.5 * erfc((2.0 - m) / (sd * M_SQRT2));
        assert_close(sum, mass, 1e-6);
        assert_close(mode, m, 0.005 + 1e-9); /* the grid point nearest the mean */
    }
    free(t.v);
}

/* Sequential updates: rho = 1 + beta(t) (accuracies add; float accumulation
 * over 1000 steps: relative error <= 1000 * 2^-24 ~ 6e-5, tolerance 1e-4), all
 * paths start at the prior (0, 1), and at t = 1 each mu is within 5 sd of
 * gamma x (its flow distribution N(gamma x, gamma(1-gamma)), sd ~ 0.02). */
static void test_cts_flow_paths(void **state) {
    tsv t;
    parse_figure("cts_flow_paths", &t);
    int cp = tsv_col(&t, "path"), ct = tsv_col(&t, "t"), cm = tsv_col(&t, "mu"), cr = tsv_col(&t, "rho");
    assert_int_equal(t.nrow, 8 * 1001);
    for (int r = 0; r < t.nrow; r++) {
        double x = AT(&t, r, ct), rho = pow(0.02, -2.0 * x);
        assert_close(AT(&t, r, cr), rho, 1e-4 * rho);
        if (r % 1001 == 0) {
            assert_close(AT(&t, r, cm), 0.0, 0.0);
            assert_close(x, 0.0, 0.0);
        }
        if (r % 1001 == 1000) {
            double g = 1.0 - 0.02 * 0.02;
            assert_close(AT(&t, r, cm), 0.8 * g, 5.0 * sqrt(g * (1.0 - g)));
            assert_close(AT(&t, r, cp), r / 1001, 0.0);
        }
    }
    free(t.v);
}

/* K = 2 flow: per t cell the histogram and the exact bin masses each sum to 1,
 * the exact column is the sigmoid-of-Gaussian bin mass recomputed here, and
 * every bin count (4000 samples) is within 6 binomial sd + 3 of its expected
 * count (the +3 covers the Poisson regime of nearly empty bins; 6 sd makes a
 * false failure over the 10^4 bins improbable, < 1e-5). */
static void test_discrete_flow_k2(void **state) {
    tsv t;
    parse_figure("discrete_flow_k2", &t);
    int ct = tsv_col(&t, "t"), cth = tsv_col(&t, "theta1"), cm = tsv_col(&t, "density_mc");
    int ce = tsv_col(&t, "density_exact");
    assert_int_equal(t.nrow, 100 * 100);
    const double N = 4000.0, w = 0.01;
    for (int i = 0; i < 100; i++) {
        double sum_mc = 0.0, sum_ex = 0.0, tt = AT(&t, i * 100, ct), beta = 9.0 * tt * tt;
        for (int b = 0; b < 100; b++) {
            int r = i * 100 + b;
            double lo = b * w, hi = lo + w;
            assert_close(AT(&t, r, cth), lo + 0.5 * w, 1e-9);
            /* exact bin mass: Phi((logit(u) - 2 beta) / (2 sqrt(beta))) differences */
            double zlo = b == 0 ? -INFINITY : (log(lo / (1.0 - lo)) - 2.0 * beta) / (2.0 * sqrt(beta));
            double zhi = b == 99 ? INFINITY : (log(hi / (1.0 - hi)) - 2.0 * beta) / (2.0 * sqrt(beta));
            double p = 0.5 * erfc(-zhi / M_SQRT2) - 0.5 * erfc(-zlo / M_SQRT2);
            /* same formula; CDF values near 1 cancel, so allow 1e-12 absolute */
            assert_close(AT(&t, r, ce) * w, p, 1e-7 * p + 1e-12);
            double count = AT(&t, r, cm) * w * N;
            assert_close(count, round(count), 1e-6); /* a histogram count */
            assert_close(count, N * p, 6.0 * sqrt(N * p * (1.0 - p)) + 3.0);
            sum_mc += AT(&t, r, cm) * w;
            sum_ex += AT(&t, r, ce) * w;
        }
        assert_close(sum_mc, 1.0, 1e-7);
        assert_close(sum_ex, 1.0, 1e-7);
    }
    free(t.v);
}

/* K = 2 and K = 3 paths: theta on the simplex, starting uniform; the
 * barycentric coordinates are theta1 + theta2/2 and sqrt(3)/2 theta2. */
static void test_discrete_paths(void **state) {
    tsv t;
    parse_figure("discrete_flow_k3", &t);
    int c0 = tsv_col(&t, "theta0"), c1 = tsv_col(&t, "theta1"), c2 = tsv_col(&t, "theta2");
    int bx = tsv_col(&t, "bx"), by = tsv_col(&t, "by");
    assert_int_equal(t.nrow, 8 * 1001);
    for (int r = 0; r < t.nrow; r++) {
        double a = AT(&t, r, c0), b = AT(&t, r, c1), c = AT(&t, r, c2);
        assert_true(a >= 0 && b >= 0 && c >= 0);
        assert_close(a + b + c, 1.0, 1e-6); /* float softmax: a few ulp of 1 */
        assert_close(AT(&t, r, bx), b + 0.5 * c, 1e-8);
        assert_close(AT(&t, r, by), 0.5 * sqrt(3.0) * c, 1e-8);
        if (r % 1001 == 0) assert_close(a, 1.0 / 3.0, 1e-7);
    }
    free(t.v);
    parse_figure("discrete_flow_k2_paths", &t);
    int ct1 = tsv_col(&t, "theta1");
    for (int r = 0; r < t.nrow; r++) {
        assert_true(AT(&t, r, ct1) >= 0.0 && AT(&t, r, ct1) <= 1.0);
        if (r % 1001 == 0) assert_close(AT(&t, r, ct1), 0.5, 0.0);
    }
    free(t.v);
}

/* Exact E[h(sigmoid(d))] for d ~ N(2 beta, 4 beta), h the binary entropy in
 * nats, by the midpoint rule on z in [-12, 12] with 24000 cells (smooth
 * integrand; error far below 1e-9). */
static double k2_entropy_exact(double beta) {
    const int n = 24000;
    double sum = 0.0, h = 24.0 / n;
    for (int i = 0; i < n; i++) {
        double z = -12.0 + (i + 0.5) * h, d = 2.0 * beta + 2.0 * sqrt(beta) * z;
        /* h(sigmoid(d)) = ln(1 + e^-|d|) + |d| e^-|d| / (1 + e^-|d|), stable for any d */
        double ad = fabs(d), e = exp(-ad);
        double ent = log1p(e) + ad * e / (1.0 + e);
        sum += ent * exp(-0.5 * z * z);
    }
    return sum * h / sqrt(2.0 * M_PI);
}

/* Expected entropy: ln K - K beta < H < ln K at sqrt(beta) = 0.01 (the
 * second-order expansion gives ln K - H ~ (K-1) beta / 2); non-increasing in
 * beta within 3 combined standard errors; near 0 at sqrt(beta) = 3 for K = 2;
 * K = 2 agrees with the quadrature within 5 standard errors everywhere; the
 * stars' grid points (K = 2, sqrt(beta) = 3; K = 27, 0.75) exist. */
static void test_entropy(void **state) {
    tsv t;
    parse_figure("entropy", &t);
    int ck = tsv_col(&t, "K"), cs = tsv_col(&t, "sqrt_beta"), cb = tsv_col(&t, "beta");
    int ch = tsv_col(&t, "entropy"), ce = tsv_col(&t, "entropy_se"), cn = tsv_col(&t, "entropy_norm");
    const int ns = 61;
    assert_int_equal(t.nrow, 29 * ns);
    int stars = 0;
    for (int k = 0; k < 29; k++) {
        int K = k + 2;
        for (int j = 0; j < ns; j++) {
            int r = k * ns + j;
            double s = AT(&t, r, cs), beta = AT(&t, r, cb), h = AT(&t, r, ch), se = AT(&t, r, ce);
            assert_close(AT(&t, r, ck), K, 0.0);
            assert_printed(beta, s * s);
            assert_printed(AT(&t, r, cn), h / log(K));
            assert_true(se >= 0.0 && se < 0.02);
            if (j == 0) {
                assert_close(s, 0.01, 1e-12);
                assert_true(h < log(K) && h > log(K) - K * beta);
            } else {
                double prev = AT(&t, r - 1, ch), sep = AT(&t, r - 1, ce);
                assert_true(h < prev + 3.0 * sqrt(se * se + sep * sep) + 1e-12);
            }
            if (K == 2) {
                double want = k2_entropy_exact(beta);
                if (!(fabs(h - want) <= 5.0 * se + 1e-9))
                    print_error("K=2 sqrt(beta)=%g: MC %.6g +- %.2g vs exact %.6g\n", s, h, se, want);
                assert_true(fabs(h - want) <= 5.0 * se + 1e-9);
            }
            stars += (K == 2 && fabs(s - 3.0) < 1e-12) || (K == 27 && fabs(s - 0.75) < 1e-12);
        }
        assert_true(AT(&t, k * ns + ns - 1, ch) < 0.5 * AT(&t, k * ns, ch)); /* it does fall */
    }
    assert_int_equal(stars, 2);
    assert_true(AT(&t, ns - 1, ch) < 0.01); /* K = 2 at sqrt(beta(1)) = 3: almost certain */
    free(t.v);
}

/* ---- gnuplot scripts ---------------------------------------------------------------------- */

/* 1 if gnuplot and the scripts are there; otherwise prints why (the caller skips). */
static int gnuplot_ready(void) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        print_message("gnuplot not installed (Debian package gnuplot-nox): skipping the script tests\n");
        return 0;
    }
    if (access("analysis/schedule_curves.gp", R_OK) != 0) {
        print_message("analysis/*.gp not found: run from the repository root; skipping\n");
        return 0;
    }
    if (!gp_dir) gp_dir = strdup(test_tmpdir());
    return 1;
}

static void write_text(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", gp_dir, name);
    test_write_file(path, text, strlen(text));
}

/* Read a whole file; NULL if missing. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

/* Run `gnuplot -e "ASSIGN; out='DIR/NAME.png'" analysis/SCRIPT` and check that
 * it succeeded, silently, and wrote a PNG (signature) and an SVG. */
static void run_script(const char *script, const char *assign, const char *name) {
    char cmd[2048], png[512], svg[512], err[512];
    snprintf(png, sizeof png, "%s/%s.png", gp_dir, name);
    snprintf(svg, sizeof svg, "%s/%s.svg", gp_dir, name);
    snprintf(err, sizeof err, "%s/%s.err", gp_dir, name);
    snprintf(cmd, sizeof cmd, "gnuplot -e \"%s; out='%s'\" analysis/%s 2>%s", assign, png, script, err);
    int rc = system(cmd);
    size_t n = 0;
    unsigned char *msg = read_all(err, &n);
    if (rc != 0 || n > 0) print_error("%s: exit %d, stderr: %.*s\n", script, rc, (int)n, msg ? (char *)msg : "");
    free(msg);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 0); /* no warnings either */
    unsigned char *p = read_all(png, &n);
    assert_non_null(p);
    static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(n > 1000);
    assert_memory_equal(p, magic, 8);
    free(p);
    p = read_all(svg, &n);
    assert_non_null(p);
    assert_true(n > 1000);
    assert_non_null(strstr((char *)p, "<svg"));
    free(p);
}

/* Small fixtures in each figure's format (a few rows, not the real data). */
static void test_gnuplot_analytic_scripts(void **state) {
    if (!gnuplot_ready()) { skip(); }
    char a[1024];
    write_text("sched.tsv", "# comment\nt\tquadratic_b9_beta\tquadratic_b9_alpha\tquadratic_b9_norm\t"
                            "exponential_s0.001_beta\texponential_s0.001_alpha\texponential_s0.001_norm\n"
                            "0\t0\t0\t0\t0\t13.8\t0\n0.5\t2.25\t9\t0.25\t999\t13800\t0.001\n1\t9\t18\t1\t999999\t1.38e7\t1\n");
    snprintf(a, sizeof a, "in='%s/sched.tsv'", gp_dir);
    run_script("schedule_curves.gp", a, "schedules");

    write_text("var.tsv", "# c\nt\tbfn_gamma\tbfn_var\tbfn_snr\tlinear_abar\tlinear_var\tlinear_var_raw\tlinear_snr\t"
                          "cosine_abar\tcosine_var\tcosine_var_raw\tcosine_snr\n"
                          "0\t0\t0\t0\t4e-5\t4e-5\t1\t4e-5\t0\t0\t1\t0\n"
                          "0.5\t0.999\t0.001\t999\t0.5\t0.25\t0.5\t1\t0.5\t0.25\t0.5\t1\n"
                          "1\t1\t1e-6\t1e6\t1\t0\t0\tinf\t1\t0\t0\tinf\n");
    snprintf(a, sizeof a, "in='%s/var.tsv'", gp_dir);
    run_script("input_variance.gp", a, "input_variance");

    write_text("cts.tsv", "# c\nt\tmu\tdensity\n0.25\t-1\t0.1\n0.25\t0\t1\n0.25\t1\t0.1\n\n"
                          "0.75\t-1\t0\n0.75\t0\t0.5\n0.75\t1\t3\n\n");
    write_text("ctsp.tsv", "# c\npath\tt\tmu\trho\n0\t0\t0\t1\n0\t0.5\t0.3\t10\n0\t1\t0.8\t2500\n\n"
                           "1\t0\t0\t1\n1\t0.5\t0.9\t10\n1\t1\t0.79\t2500\n\n");
    snprintf(a, sizeof a, "in='%s/cts.tsv'; paths='%s/ctsp.tsv'", gp_dir, gp_dir);
    run_script("cts_flow.gp", a, "cts_flow");

    write_text("k2.tsv", "# c\nt\ttheta1\tdensity_mc\tdensity_exact\n0.25\t0.25\t1\t1.1\n0.25\t0.75\t1\t0.9\n\n"
                         "0.75\t0.25\t0.5\t0.4\n0.75\t0.75\t1.5\t1.6\n\n");
    write_text("k2p.tsv", "# c\npath\tt\ttheta1\n0\t0\t0.5\n0\t1\t0.99\n\n1\t0\t0.5\n1\t1\t0.9\n\n");
    snprintf(a, sizeof a, "in='%s/k2.tsv'; paths='%s/k2p.tsv'", gp_dir, gp_dir);
    run_script("discrete_flow_k2.gp", a, "discrete_flow_k2");

    write_text("k3.tsv", "# c\npath\tt\ttheta0\ttheta1\ttheta2\tbx\tby\n"
                         "0\t0\t0.3333\t0.3333\t0.3333\t0.5\t0.2887\n0\t1\t0.9\t0.05\t0.05\t0.075\t0.0433\n\n"
                         "1\t0\t0.3333\t0.3333\t0.3333\t0.5\t0.2887\n1\t1\t0.8\t0.1\t0.1\t0.15\t0.0866\n\n");
    snprintf(a, sizeof a, "in='%s/k3.tsv'", gp_dir);
    run_script("discrete_flow_k3.gp", a, "discrete_flow_k3");

    /* entropy: a 3 x 3 grid including the two star points */
    write_text("ent.tsv", "# c\nK\tsqrt_beta\tbeta\tentropy\tentropy_se\tentropy_norm\tln_K\n"
                          "2\t0.01\t0.0001\t0.693\t1e-6\t1\t0.693\n2\t0.75\t0.5625\t0.45\t0.005\t0.65\t0.693\n"
                          "2\t3\t9\t0.003\t0.001\t0.004\t0.693\n\n"
                          "15\t0.01\t0.0001\t2.7\t1e-5\t1\t2.708\n15\t0.75\t0.5625\t0.5\t0.01\t0.18\t2.708\n"
                          "15\t3\t9\t0\t0\t0\t2.708\n\n"
                          "27\t0.01\t0.0001\t3.29\t1e-5\t1\t3.296\n27\t0.75\t0.5625\t0.13\t0.006\t0.04\t3.296\n"
                          "27\t3\t9\t0\t0\t0\t3.296\n\n");
    snprintf(a, sizeof a, "in='%s/ent.tsv'", gp_dir);
    run_script("entropy.gp", a, "entropy");

    /* reruns write byte-identical PNG and SVG */
    char p1[512], p2[512];
    const char *ext[2] = {"png", "svg"};
    snprintf(a, sizeof a, "in='%s/sched.tsv'", gp_dir);
    run_script("schedule_curves.gp", a, "schedules_again");
    for (int e = 0; e < 2; e++) {
        size_t n1, n2;
        snprintf(p1, sizeof p1, "%s/schedules.%s", gp_dir, ext[e]);
        snprintf(p2, sizeof p2, "%s/schedules_again.%s", gp_dir, ext[e]);
        unsigned char *b1 = read_all(p1, &n1), *b2 = read_all(p2, &n2);
        assert_non_null(b1);
        assert_non_null(b2);
        assert_int_equal(n1, n2);
        assert_memory_equal(b1, b2, n1);
        free(b1);
        free(b2);
    }
}

/* Run figures: NLL against n (two runs, paper overlay with an "inf" row and
 * two checkpoints in one file), losses against time, training curves. */
static void test_gnuplot_run_scripts(void **state) {
    if (!gnuplot_ready()) { skip(); }
    char a[2048];
    write_text("eval1.tsv", "ckpt_step\tsplit\tn\trepeats\tloss\tloss_se\trecon\trecon_se\ttotal\ttotal_se\tunit\n"
                            "10\ttest\t10\t2\t120\t1\t1\t0.1\t121\t1.1\tnats/image\n"
                            "20\ttest\t10\t2\t100\t1\t1\t0.1\t101\t1.1\tnats/image\n"
                            "20\ttest\t100\t2\t90\t1\t1\t0.1\t91\t1.0\tnats/image\n"
                            "20\tval\t100\t2\t91\t1\t1\t0.1\t92\t1.0\tnats/image\n"
                            "20\ttest\tinf\t2\t85\t1\t1\t0.1\t86\t0.9\tnats/image\n");
    write_text("eval2.tsv", "ckpt_step\tsplit\tn\trepeats\tloss\tloss_se\trecon\trecon_se\ttotal\ttotal_se\tunit\n"
                            "5\ttest\t10\t1\t110\t2\t1\t0.1\t111\t2\tnats/image\n"
                            "5\ttest\tinf\t1\t95\t2\t1\t0.1\t96\t2\tnats/image\n");
    write_text("spec.tsv", "# c\n#!\ttitle\tT\n#!\tcolumn\tmnist\tNLL\nn\tcolumn\tpaper\tstatus\tsource\n"
                           "10\tmnist\t95.21\tunconfirmed\t[MEM]\n100\tmnist\t79.46\tunconfirmed\t[MEM]\n"
                           "inf\tmnist\t77.87\tconfirmed\t[PWC]\n");
    snprintf(a, sizeof a, "files='%s/eval1.tsv %s/eval2.tsv'; titles='a b'; cols='mnist -'; "
                          "paper='%s/spec.tsv'; unit='nats/image'; name='test'", gp_dir, gp_dir, gp_dir);
    run_script("nll_vs_n.gp", a, "nll");
    snprintf(a, sizeof a, "files='%s/eval2.tsv'; unit='nats/image'", gp_dir);
    run_script("nll_vs_n.gp", a, "nll_plain");

    write_text("loss.tsv", "t\tlinf\tlinf_se\tlinf_integral\trecon\trecon_se\ttotal\n"
                           "0.25\t100\t5\t25\t50\t1\t75\n0.75\t200\t8\t100\t20\t1\t120\n");
    snprintf(a, sizeof a, "in='%s/loss.tsv'; unit='nats/image'; name='mnist'", gp_dir);
    run_script("losses.gp", a, "losses");

    write_text("metric.tsv", "name\tstep\tvalue\ntrain.grad_norm\t10\t1.2\ntrain.loss\t10\t0.5\n"
                             "train.loss\t20\t0.4\nval.loss\t20\t0.45\n");
    snprintf(a, sizeof a, "files='%s/metric.tsv %s/metric.tsv'; titles='a b'", gp_dir, gp_dir);
    run_script("training.gp", a, "training");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_errors),
        cmocka_unit_test(test_schedules_closed_form),
        cmocka_unit_test(test_input_variance_closed_form),
        cmocka_unit_test(test_cts_flow_density),
        cmocka_unit_test(test_cts_flow_paths),
        cmocka_unit_test(test_discrete_flow_k2),
        cmocka_unit_test(test_discrete_paths),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_byte_identical),
        cmocka_unit_test(test_gnuplot_analytic_scripts),
        cmocka_unit_test(test_gnuplot_run_scripts),
    };
    return cmocka_run_group_tests(tests, setup_figures, teardown_figures);
}
