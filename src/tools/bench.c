/* bench.c: `make bench`. Training-step throughput of the BFN harness against
 * plain sgemm measured in the same invocation (the machine is shared and
 * noisy, so only ratios within one run are meaningful).
 *
 * Reports, for 1 and 2 threads:
 *   - sgemm GFLOP/s at 2048^3 and at the MLP's own shapes (B x 1024 x 1024);
 *   - the binarised-MNIST MLP step (785 -> 1024 -> 1024 -> 784, GELU, L^inf,
 *     backward, clip, AdamW + EMA) at B = 64 and 128: steps/s, achieved
 *     GFLOP/s (3 x forward FLOPs) and its share of the sgemm rate;
 *   - the discretised (K = 256, D = 3072) and continuous training steps with
 *     the same MLP shape at B = 32, and the cost of one L^n evaluation pass of
 *     the K = 256 receiver mixture (its share of the step);
 *   - the `small` MNIST U-Net training step (experiments/mnist.ini: 32
 *     channels, multipliers 1-2-2, one residual block per level, batch 64):
 *     steps/s, GFLOP/s (3 x forward FLOPs) and its share of sgemm at the
 *     step's two main convolution GEMM shapes;
 *   - peak resident memory.
 * `bench --unet THREADS SECONDS [CHANNELS [BATCH]]` runs only the U-Net step
 * (default 32 channels, B = 64) for about SECONDS and prints its steps/s;
 * `bench --conv` compares im2col against shifted GEMMs for the forward 3x3
 * convolution at the small U-Net's two main shapes (bench/unet_vs_torch.sh interleaves it with the
 * PyTorch reference). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "models/unet.h"
#include "nn/conv.h"
#include "nn/optim.h"
#include "run/sample.h"
#include "run/step.h"
#include "util/err.h"
#include "util/fpenv.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of `reps` timings of fn(arg), each after one warm-up call. */
static double median_time(void (*fn)(void *), void *arg, int reps) {
    double t[16];
    fn(arg);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(arg);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

typedef struct { int M, N, K, iters; float *A, *B, *C; } gemm_arg;

static void run_gemm(void *p) {
    gemm_arg *g = p;
    for (int i = 0; i < g->iters; i++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->K, 0.0f,
                    g->C, g->N);
}

static double sgemm_gflops(int M, int N, int K, int iters) {
    gemm_arg g = {M, N, K, iters, NULL, NULL, NULL};
    g.A = bfn_xmalloc((size_t)M * K * sizeof(float));
    g.B = bfn_xmalloc((size_t)N * K * sizeof(float));
    g.C = bfn_xmalloc((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++) g.A[i] = (float)((i * 7919) % 1000) / 1000.0f;
    for (size_t i = 0; i < (size_t)N * K; i++) g.B[i] = (float)((i * 104729) % 1000) / 1000.0f;
    double t = median_time(run_gemm, &g, 5);
    free(g.A);
    free(g.B);
    free(g.C);
    return 2.0 * M * N * K * iters / t / 1e9;
}

typedef struct {
    bfn_setup s;
    bfn_work w;
    gsl_rng *rng;
    bfn_adamw_cfg adam;
    int B, steps, mode, n;
    long step;
} step_arg;

/* The trainer's step (train.c) on random data: loss + backward + clip + AdamW/EMA. */
static void run_steps(void *p) {
    step_arg *a = p;
    bfn_setup *s = &a->s;
    for (int i = 0; i < a->steps; i++) {
        bfn_batch_loss(s, s->params, &a->w, a->B, a->mode, a->n, 0, a->rng, 1);
        memset(s->grads, 0, s->n_params * sizeof(float));
        s->model->ops->backward(s->model, s->params, a->B, a->w.dout, s->grads);
        double norm = bfn_grad_norm(s->grads, s->n_params);
        bfn_adamw_step_scaled(&a->adam, &s->model->layout, s->params, s->grads, bfn_clip_scale(norm, 5.0),
                              s->adam_m, s->adam_v, s->ema, ++a->step);
    }
}

/* Loss only (no network), to measure the family's share of the step. */
static void run_loss_only(void *p) {
    step_arg *a = p;
    const bfn_family *f = &a->s.family;
    for (int i = 0; i < a->steps; i++) {
        if (a->mode == BFN_LOSS_NSTEP)
            f->ops->loss_n(f, a->B, a->w.x, a->w.t, a->w.alpha, a->n, a->w.theta, a->w.out, a->rng, a->w.loss,
                           a->w.dout, 1.0f / a->B);
        else
            f->ops->loss_cts(f, a->B, a->w.x, a->w.t, a->w.theta, a->w.out, a->w.loss, a->w.dout, 1.0f / a->B);
    }
}

/* The `small` MNIST U-Net of experiments/mnist.ini. */
static bfn_unet_spec SMALL_UNET = {
    .img_ch = 1, .height = 28, .width = 28, .in_ch = 1, .out_ch = 1, .channels = 32, .n_levels = 3,
    .mult = {1, 2, 2}, .res_blocks = 1, .n_attn = 0, .heads = 4, .groups = 32, .dropout = 0, .fourier = 0,
    .time_input = 1, .project_input = 1, .out_channels = 32, .time_embed = BFN_UNET_TIME_DDPM};

/* transformer: 0 = the MLP, BENCH_UNET = the small U-Net, otherwise the number
 * of transformer blocks, with width tf_width. */
#define BENCH_UNET (-1)
static void setup_step_model(step_arg *a, const char *family, int D, int K, int B, int transformer, int tf_width) {
    memset(a, 0, sizeof *a);
    bfn_setup *s = &a->s;
    bfn_schedule sched;
    bfn_schedule_params sp = {.beta1 = 9, .sigma1 = 0.001};
    int rc = bfn_schedule_init(&sched, strcmp(family, "discrete") == 0 ? "quadratic" : "exponential", &sp);
    if (rc == BFN_OK) {
        if (strcmp(family, "discrete") == 0) rc = bfn_discrete_init(&s->family, D, K, sched);
        else if (strcmp(family, "continuous") == 0) rc = bfn_continuous_init(&s->family, D, sched, 256, 0.001);
        else rc = bfn_discretised_init(&s->family, D, K, sched);
    }
    /* The MLP of the image experiments, or the `small` text transformer
     * (3 blocks, width 192, 4 heads). */
    if (rc == BFN_OK && transformer == BENCH_UNET)
        rc = bfn_unet_create(&s->model, &SMALL_UNET, B);
    else if (rc == BFN_OK && transformer)
        rc = bfn_transformer_create(&s->model, D, s->family.in_ch, s->family.out_ch, transformer, 4, tf_width, 1, B);
    else if (rc == BFN_OK)
        rc = bfn_mlp_create(&s->model, D * s->family.in_ch, D * s->family.out_ch, 1024, 2, B);
    if (rc != BFN_OK) {
        fprintf(stderr, "bench: %s\n", bfn_last_error());
        exit(1);
    }
    s->n_params = s->model->layout.n;
    s->params = bfn_xcalloc(s->n_params, sizeof(float));
    s->grads = bfn_xcalloc(s->n_params, sizeof(float));
    s->adam_m = bfn_xcalloc(s->n_params, sizeof(float));
    s->adam_v = bfn_xcalloc(s->n_params, sizeof(float));
    s->ema = bfn_xcalloc(s->n_params, sizeof(float));
    a->rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(a->rng, 1);
    s->model->ops->init(s->model, s->params, a->rng);
    memcpy(s->ema, s->params, s->n_params * sizeof(float));
    bfn_work_alloc(&a->w, s, B);
    for (int i = 0; i < B * D; i++) {
        if (strcmp(family, "discrete") == 0) a->w.x[i] = (float)gsl_rng_uniform_int(a->rng, (unsigned long)K);
        else a->w.x[i] = (float)(-1.0 + (2.0 * gsl_rng_uniform_int(a->rng, 256) + 1.0) / 256);
    }
    a->adam = (bfn_adamw_cfg){.lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.98f, .eps = 1e-8f, .weight_decay = 0.01f,
                              .ema_decay = 0.9999f};
    a->B = B;
    a->mode = BFN_LOSS_CTS;
}

static void setup_step(step_arg *a, const char *family, int D, int K, int B) {
    setup_step_model(a, family, D, K, B, 0, 0);
}

static void free_step(step_arg *a) {
    bfn_work_free(&a->w);
    gsl_rng_free(a->rng);
    bfn_family_free(&a->s.family);
    bfn_model_free(a->s.model);
    free(a->s.params);
    free(a->s.grads);
    free(a->s.adam_m);
    free(a->s.adam_v);
    free(a->s.ema);
}

static void set_threads(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    bfn_flush_denormals(); /* as bfn does (util/fpenv.h) */
}

/* Forward 3x3 convolution two ways at one shape (B, H, W, C -> C):
 *   im2col: the column buffer (rows = pixels, 9C columns) and one GEMM
 *           (nn/conv.c, what the U-Net uses);
 *   shifted: no column buffer; the input is zero-padded to (H+2, W+2) and
 *           each of the 9 taps is one GEMM over the whole batch whose input
 *           rows are the padded image shifted by the tap (2 garbage columns
 *           per output row, dropped when compacting).
 * Interleaved repeats, medians. */
typedef struct {
    int B, H, W, C;
    float *in, *pad, *W9, *Wt, *out, *outp, *col;
    size_t col_n;
    bfn_conv2d c;
} conv_arg;

static void run_im2col(void *p) {
    conv_arg *a = p;
    bfn_conv2d_forward(&a->c, a->out, a->in, a->Wt, NULL, a->B, a->col, a->col_n);
}

static void run_shifted(void *p) {
    conv_arg *a = p;
    const int H = a->H, W = a->W, C = a->C, PW = W + 2;
    const size_t img = (size_t)(H + 2) * PW * C;
    for (int e = 0; e < a->B; e++)
        for (int y = 0; y < H; y++)
            memcpy(a->pad + e * img + ((size_t)(y + 1) * PW + 1) * C, a->in + (((size_t)e * H + y) * W) * C,
                   (size_t)W * C * sizeof(float));
    const int M = a->B * (H + 2) * PW - 2 * PW - 2;
    memset(a->outp, 0, (size_t)a->B * img * sizeof(float));
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, C, C, 1.0f, a->pad + ((size_t)ky * PW + kx) * C, C,
                        a->W9 + (size_t)(ky * 3 + kx) * C * C, C, 1.0f, a->outp, C);
    for (int e = 0; e < a->B; e++)
        for (int y = 0; y < H; y++)
            memcpy(a->out + (((size_t)e * H + y) * W) * C, a->outp + e * img + (size_t)y * PW * C,
                   (size_t)W * C * sizeof(float));
}

static int conv_compare(int threads, int B, int H, int C) {
    set_threads(threads);
    conv_arg a = {.B = B, .H = H, .W = H, .C = C};
    bfn_conv2d_init(&a.c, H, H, C, C, 3, 1);
    const size_t n = (size_t)B * H * H * C, img = (size_t)(H + 2) * (H + 2) * C;
    a.col_n = bfn_conv_scratch_floats(&a.c, B);
    a.in = bfn_xcalloc(n, 4), a.out = bfn_xcalloc(n, 4), a.col = bfn_xcalloc(a.col_n, 4);
    a.pad = bfn_xcalloc((size_t)B * img + 64, 4), a.outp = bfn_xcalloc((size_t)B * img + 64, 4);
    a.W9 = bfn_xcalloc((size_t)9 * C * C, 4), a.Wt = bfn_xcalloc((size_t)9 * C * C, 4);
    for (size_t i = 0; i < n; i++) a.in[i] = (float)((i * 7919) % 1000) / 1000.0f;
    for (size_t i = 0; i < (size_t)9 * C * C; i++) a.W9[i] = a.Wt[i] = (float)((i * 104729) % 1000) / 1000.0f;
    double ti[7], ts[7];
    for (int r = 0; r < 7; r++) {
        ti[r] = median_time(run_im2col, &a, 1);
        ts[r] = median_time(run_shifted, &a, 1);
    }
    qsort(ti, 7, sizeof ti[0], cmp_double);
    qsort(ts, 7, sizeof ts[0], cmp_double);
    const double gf = 2.0 * B * H * H * 9.0 * C * C / 1e9;
    printf("conv3x3 B=%d %dx%d %d->%d, %d thread(s): im2col %.2f ms (%.1f GFLOP/s), shifted GEMMs %.2f ms (%.1f GFLOP/s), "
           "im2col/shifted time %.2f\n",
           B, H, H, C, C, threads, 1e3 * ti[3], gf / ti[3], 1e3 * ts[3], gf / ts[3], ti[3] / ts[3]);
    free(a.in), free(a.out), free(a.col), free(a.pad), free(a.outp), free(a.W9), free(a.Wt);
    return 0;
}

/* U-Net step rate alone for about `seconds` (the torch comparison). */
static int unet_only(int threads, double seconds, int channels, int B) {
    set_threads(threads);
    SMALL_UNET.channels = SMALL_UNET.out_channels = channels;
    if (channels < 32) SMALL_UNET.groups = channels / 2;
    step_arg a;
    setup_step_model(&a, "discrete", 784, 2, B, BENCH_UNET, 0);
    a.steps = 1;
    run_steps(&a); /* warm-up */
    int n = 0;
    double t0 = now(), c0 = cpu_now();
    while (now() - t0 < seconds || n < 3) {
        run_steps(&a);
        n++;
    }
    /* stdout: steps per wall second (what the comparison uses); stderr: CPU
     * seconds per step, which time-slicing by other jobs inflates less. */
    printf("%.4f\n", n / (now() - t0));
    fprintf(stderr, "%.4f CPU s/step\n", (cpu_now() - c0) / n);
    free_step(&a);
    return 0;
}

/* ---- server mode for `make bench-compare` (bench/compare.py) ------------------------ */

typedef struct {
    step_arg a;
    int n_examples; /* ln_mnist: examples in the pass */
    float *xs;      /* sample_mnist: output */
} case_arg;

/* One L^n evaluation pass (n = 100, no gradient) over n_examples examples in
 * batches of a.B, as bfn_split_pass does on the test split. */
static void run_ln_pass(void *p) {
    case_arg *c = p;
    step_arg *a = &c->a;
    for (int e0 = 0; e0 < c->n_examples; e0 += a->B) {
        int B = c->n_examples - e0 < a->B ? c->n_examples - e0 : a->B;
        bfn_batch_loss(&a->s, a->s.params, &a->w, B, BFN_LOSS_NSTEP, a->n, 0, a->rng, 0);
    }
}

static void run_sampler(void *p) {
    case_arg *c = p;
    bfn_sample_batch(&c->a.s, c->a.s.ema, &c->a.w, c->a.B, c->a.n, c->a.rng, c->xs, NULL, NULL);
}

static void run_case_steps(void *p) { run_steps(&((case_arg *)p)->a); }
static void run_case_loss(void *p) { run_loss_only(&((case_arg *)p)->a); }

/* Time `reps` calls of fn after one untimed warm-up; seconds per call. */
static double time_calls(void (*fn)(void *), void *arg, int reps) {
    fn(arg);
    double t0 = now();
    for (int r = 0; r < reps; r++) fn(arg);
    return (now() - t0) / reps;
}

/* One request: set the case up, time `reps` units of work, print one JSON
 * line {"case", "sec" (per unit), "gflop" (matrix-product GFLOP per unit)}.
 * Returns 0 for an unknown case. */
static int serve_case(const char *name, int reps) {
    case_arg c;
    memset(&c, 0, sizeof c);
    step_arg *a = &c.a;
    void (*fn)(void *) = run_case_steps;
    double flop_mult = 3.0; /* training step: forward + backward ~ 3 forwards */
    int B = 0, examples = 0;
    if (strncmp(name, "sgemm", 5) == 0) {
        int M = atoi(name + 5);
        if (M <= 0) return 0;
        int N = M > 256 ? M : 1024, K = N, iters = M > 256 ? 1 : 20;
        double gf = sgemm_gflops(M, N, K, iters * reps);
        printf("{\"case\": \"%s\", \"sec\": %.9g, \"gflop\": %.9g}\n", name, 2.0 * M * N * K / gf / 1e9,
               2.0 * M * N * K / 1e9);
        return 1;
    }
    if (!strcmp(name, "mnist128") || !strcmp(name, "mnist64")) {
        B = atoi(name + 5);
        setup_step(a, "discrete", 784, 2, B);
    } else if (!strcmp(name, "cifar_cts32")) {
        setup_step(a, "continuous", 3072, 256, B = 32);
    } else if (!strcmp(name, "disc256_32")) {
        setup_step(a, "discretised", 3072, 256, B = 32);
    } else if (!strcmp(name, "tf_bench") || !strcmp(name, "tf_ref")) {
        int ref = !strcmp(name, "tf_ref");
        setup_step_model(a, "discrete", ref ? 256 : 128, 27, B = 32, ref ? 4 : 3, ref ? 256 : 192);
        a->s.family.sched.beta1 = 0.5625;
    } else if (!strcmp(name, "unet") || !strcmp(name, "unet32")) {
        setup_step_model(a, "discrete", 784, 2, B = name[4] ? 32 : 64, BENCH_UNET, 0);
    } else if (!strcmp(name, "ln_disc256")) {
        /* L^n (10 MC samples) + gradient of the K = 256 receiver mixture, B = 32, t = 1/2. */
        setup_step(a, "discretised", 3072, 256, B = 32);
        for (int b = 0; b < B; b++) {
            a->w.t[b] = 0.5f;
            a->w.alpha[b] = (float)bfn_schedule_alpha(&a->s.family.sched, 50, 100);
        }
        a->mode = BFN_LOSS_NSTEP;
        a->n = 100;
        fn = run_case_loss;
        flop_mult = 0.0;
    } else if (!strcmp(name, "ln_mnist")) {
        setup_step(a, "discrete", 784, 2, B = 500);
        c.n_examples = examples = 1000;
        a->n = 100;
        fn = run_ln_pass;
        flop_mult = examples / (double)B;
    } else if (!strcmp(name, "sample_mnist")) {
        setup_step(a, "discrete", 784, 2, B = 64);
        a->n = 100;
        c.xs = bfn_xmalloc((size_t)B * 784 * sizeof(float));
        fn = run_sampler;
        flop_mult = a->n + 1.0;
    } else {
        return 0;
    }
    a->steps = 1;
    double sec = time_calls(fn, &c, reps);
    double gflop = flop_mult * a->s.model->ops->flops_per_example(a->s.model) * B / 1e9;
    printf("{\"case\": \"%s\", \"sec\": %.9g, \"gflop\": %.9g}\n", name, sec, gflop);
    free(c.xs);
    free_step(a);
    return 1;
}

/* Read "CASE REPS" lines on stdin, answer each with one JSON line; "quit" or
 * end of input stops. Threads come from OMP_NUM_THREADS (set by the driver). */
static int serve(void) {
    char line[256], name[64];
    int reps;
    openblas_set_num_threads(omp_get_max_threads());
    bfn_flush_denormals();
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "%63s %d", name, &reps) != 2 || reps < 1) {
            if (!strncmp(line, "quit", 4)) break;
            printf("{\"error\": \"bad request\"}\n");
        } else if (!serve_case(name, reps)) {
            printf("{\"case\": \"%s\", \"error\": \"no such case\"}\n", name);
        }
        fflush(stdout);
    }
    return 0;
}

/* As bfn does (src/run/main.c): OpenMP threads that spin at barriers stall
 * every small parallel region on a shared machine, so unless the user chose
 * a policy, run again with OMP_WAIT_POLICY=passive (libgomp reads it at
 * load). The PyTorch side of the comparisons gets the same setting from
 * bench/unet_vs_torch.sh and bench/compare.py. */
static void prefer_passive_waiting(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || n >= (ssize_t)sizeof self - 1) return;
    self[n] = '\0';
    execv(self, argv);
}

int main(int argc, char **argv) {
    prefer_passive_waiting(argv);
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve();
    /* bench --conv: im2col vs shifted GEMMs at the small U-Net's shapes. */
    if (argc >= 2 && strcmp(argv[1], "--conv") == 0) {
        for (int t = 1; t <= 2; t++) {
            conv_compare(t, 32, 28, 32);
            conv_compare(t, 32, 14, 64);
        }
        return 0;
    }
    /* bench --unet THREADS SECONDS [CHANNELS [BATCH]] */
    if (argc >= 4 && strcmp(argv[1], "--unet") == 0)
        return unet_only(atoi(argv[2]), atof(argv[3]), argc > 4 ? atoi(argv[4]) : 32, argc > 5 ? atoi(argv[5]) : 64);
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int reps = quick ? 3 : 5;
    printf("bfn-harness bench (medians of %d timed repeats; ratios are within this invocation)\n\n", reps);
    for (int threads = 1; threads <= 2; threads++) {
        set_threads(threads);
        double peak = sgemm_gflops(2048, 2048, 2048, 1);
        printf("== %d thread%s\n", threads, threads > 1 ? "s" : "");
        printf("sgemm 2048^3                 %7.1f GFLOP/s\n", peak);
        for (int B = 64; B <= 128; B *= 2) {
            double shape = sgemm_gflops(B, 1024, 1024, 20);
            step_arg a;
            setup_step(&a, "discrete", 784, 2, B);
            a.steps = quick ? 5 : 20;
            double t = median_time(run_steps, &a, reps) / a.steps;
            double gf = 3.0 * a.s.model->ops->flops_per_example(a.s.model) * B / t / 1e9;
            printf("MNIST MLP step B=%-3d        %7.1f steps/s  %6.1f GFLOP/s  = %3.0f%% of sgemm 2048^3, "
                   "%3.0f%% of sgemm %dx1024x1024 (%.1f)\n",
                   B, 1.0 / t, gf, 100 * gf / peak, 100 * gf / shape, B, shape);
            free_step(&a);
        }
        const char *fams[2] = {"discretised", "continuous"};
        for (int k = 0; k < 2; k++) {
            step_arg a;
            setup_step(&a, fams[k], 3072, 256, 32);
            a.steps = quick ? 2 : 5;
            double t = median_time(run_steps, &a, reps) / a.steps;
            double gf = 3.0 * a.s.model->ops->flops_per_example(a.s.model) * 32 / t / 1e9;
            double tl = median_time(run_loss_only, &a, reps) / a.steps;
            printf("%-11s K=256 step B=32 %5.2f steps/s  %6.1f GFLOP/s  = %3.0f%% of sgemm; L^inf+grad %.1f ms "
                   "(%2.0f%% of step)\n",
                   fams[k], 1.0 / t, gf, 100 * gf / peak, 1e3 * tl, 100 * tl / t);
            if (k == 0) {
                for (int b = 0; b < 32; b++) {
                    a.w.t[b] = 0.5f;
                    a.w.alpha[b] = (float)bfn_schedule_alpha(&a.s.family.sched, 50, 100);
                }
                a.mode = BFN_LOSS_NSTEP;
                a.n = 100;
                double tn = median_time(run_loss_only, &a, reps) / a.steps;
                printf("discretised K=256 L^n (10 MC samples) + grad, B=32: %.1f ms = %.0f ns per (dim x sample); "
                       "%.0f%% of a training step\n",
                       1e3 * tn, 1e9 * tn / (32.0 * 3072 * 10), 100 * tn / (t + tn));
            }
            free_step(&a);
        }
        {
            /* Text: K = 27, seq_len 128 (the `small` profile), B = 32. */
            step_arg a;
            setup_step_model(&a, "discrete", 128, 27, 32, 3, 192);
            a.s.family.sched.beta1 = 0.5625;
            a.steps = quick ? 1 : 3;
            double t = median_time(run_steps, &a, reps) / a.steps;
            double gf = 3.0 * a.s.model->ops->flops_per_example(a.s.model) * 32 / t / 1e9;
            printf("transformer 3x192 T=128 B=32 %5.2f steps/s  %6.0f tokens/s  %6.1f GFLOP/s = %3.0f%% of sgemm\n",
                   1.0 / t, 32 * 128 / t, gf, 100 * gf / peak);
            free_step(&a);
        }
        {
            step_arg a;
            setup_step_model(&a, "discrete", 784, 2, 64, BENCH_UNET, 0);
            a.steps = quick ? 1 : 3;
            double t = median_time(run_steps, &a, reps) / a.steps;
            double gf = 3.0 * a.s.model->ops->flops_per_example(a.s.model) * 64 / t / 1e9;
            /* The 3x3 convolutions at 28 x 28 (32 -> 32) and 14 x 14 (64 -> 64). */
            double s0 = sgemm_gflops(64 * 784, 32, 9 * 32, 1), s1 = sgemm_gflops(64 * 196, 64, 9 * 64, 2);
            printf("MNIST U-Net small B=64       %5.2f steps/s  %6.1f GFLOP/s = %3.0f%% of sgemm 2048^3, %3.0f%% of "
                   "sgemm %dx32x288 (%.1f), %3.0f%% of %dx64x576 (%.1f)\n",
                   1.0 / t, gf, 100 * gf / peak, 100 * gf / s0, 64 * 784, s0, 100 * gf / s1, 64 * 196, s1);
            free_step(&a);
        }
        printf("\n");
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS of this benchmark: %.0f MiB\n", ru.ru_maxrss / 1024.0);
    return 0;
}
