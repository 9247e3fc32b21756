/* test_config.c: INI parsing, profiles, overrides, validation messages and
 * the run key. */
#include "testutil.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "run/config.h"
#include "util/err.h"

static const char *write_ini(const char *text) {
    static char path[300];
    snprintf(path, sizeof path, "%s/exp.ini", test_tmpdir());
    test_write_file(path, text, strlen(text));
    return path;
}

static const char *BASE =
    "; comment\n"
    "[experiment]\n"
    "name = demo\n"
    "profile = small\n"
    "[train]\n"
    "steps = 100\n"
    "lr = 3e-4 ; inline comment\n"
    "[profile smoke]\n"
    "train.steps = 5\n"
    "[profile small]\n"
    "train.steps = 50\n";

static void test_profiles_and_overrides(void **state) {
    (void)state;
    const char *path = write_ini(BASE);
    bfn_config *c;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 50); /* default profile small */
    assert_close(bfn_cfg_real(c, "train.lr"), 3e-4, 1e-12);
    assert_int_equal(bfn_cfg_int(c, "train.batch"), 128); /* schema default */
    assert_non_null(strstr(bfn_cfg_origin(c, "train.steps"), "exp.ini:11")); /* the profile's line */
    bfn_config_free(c);

    assert_int_equal(bfn_config_load(&c, path, "smoke", 0, NULL), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 5);
    assert_string_equal(bfn_config_profile(c), "smoke");
    bfn_config_free(c);

    char *over[] = {"train.steps=7", "profile=smoke", "eval.steps=10, inf"};
    assert_int_equal(bfn_config_load(&c, path, NULL, 3, over), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 7); /* command line beats profile */
    assert_string_equal(bfn_cfg_origin(c, "train.steps"), "command line");
    int n[BFN_MAX_LIST];
    assert_int_equal(bfn_cfg_int_list(c, "eval.steps", n, BFN_MAX_LIST), 2);
    assert_int_equal(n[0], 10);
    assert_int_equal(n[1], 0); /* inf */
    bfn_config_free(c);
}

/* Each bad input names the file and line. */
static void expect_error(const char *text, const char *profile, const char *needle) {
    const char *path = write_ini(text);
    bfn_config *c = NULL;
    int rc = bfn_config_load(&c, path, profile, 0, NULL);
    assert_int_not_equal(rc, BFN_OK);
    assert_null(c);
    if (!strstr(bfn_last_error(), needle)) {
        print_error("message '%s' lacks '%s'\n", bfn_last_error(), needle);
        fail();
    }
    if (!strstr(bfn_last_error(), path)) {
        print_error("message '%s' lacks the file name\n", bfn_last_error());
        fail();
    }
}

static void test_bad_input(void **state) {
    (void)state;
    expect_error("[train]\nsteps = 10\nstepz = 3\n", NULL, "exp.ini:3: unknown key 'train.stepz'");
    expect_error("[train]\nbatch = 0\n", NULL, "exp.ini:2: train.batch: 0 is outside");
    expect_error("[train]\nlr = fast\n", NULL, "'fast' is not a finite number");
    expect_error("[bfn]\nclasses = 1\n", NULL, "bfn.classes: 1 is outside");
    expect_error("[bfn]\nbeta1 = -1\n", NULL, "bfn.beta1");
    expect_error("[bfn]\nsigma1 = 1.5\n", NULL, "bfn.sigma1");
    expect_error("[bfn]\nfamily = gaussian\n", NULL, "unknown bfn.family 'gaussian' (registered: discrete, ");
    expect_error("[eval]\nsteps = 10, 0\n", NULL, "eval.steps");
    expect_error("[profile smoke]\ntrain.nope = 1\n", NULL, "exp.ini:2: unknown key 'train.nope'");
    expect_error("[profile smoke]\ntrain.steps = 1\n", "tiny", "no [profile tiny]");
    expect_error("[train]\nsteps 10\n", NULL, "exp.ini:2: syntax error");
    expect_error("[bfn]\nfamily = continuous\n", NULL, "needs an explicit bfn.schedule");

    bfn_config *c = NULL;
    assert_int_equal(bfn_config_load(&c, "/nonexistent/x.ini", NULL, 0, NULL), BFN_EIO);
    assert_non_null(strstr(bfn_last_error(), "/nonexistent/x.ini"));
    char *over[] = {"train.steps"};
    const char *path = write_ini("[train]\nsteps = 1\n");
    assert_int_equal(bfn_config_load(&c, path, NULL, 1, over), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "command line"));
}

/* Lines of any length keep their meaning and their line numbers: libinih's
 * 200-byte buffer split this line and read its tail as "layers = 3". */
static void test_long_lines(void **state) {
    (void)state;
    size_t pad = 5000;
    char *text = malloc(pad + 200);
    int n = sprintf(text, "[model]\nhidden = 8 ; ");
    memset(text + n, 'x', pad);
    n += (int)pad;
    n += sprintf(text + n, " layers = 3\n[train]\nsteps = 7\n");
    const char *path = write_ini(text);
    bfn_config *c = NULL;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "model.hidden"), 8);
    assert_int_equal(bfn_cfg_int(c, "model.layers"), 2); /* the default: the comment set nothing */
    assert_non_null(strstr(bfn_cfg_origin(c, "train.steps"), "exp.ini:4"));
    bfn_config_free(c);
    /* an error after a long line names the right line */
    sprintf(text + n, "bogus = 1\n");
    expect_error(text, NULL, "exp.ini:5: unknown key 'train.bogus'");
    /* a long value is kept whole (and checked whole) */
    n = sprintf(text, "[experiment]\ndescription = ");
    memset(text + n, 'd', pad);
    sprintf(text + n + pad, "\n[train]\nsteps = 3\n");
    path = write_ini(text);
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    assert_int_equal(strlen(bfn_cfg_str(c, "experiment.description")), pad);
    bfn_config_free(c);
    free(text);
}

/* A key set twice in one section names both lines; an empty file (or one
 * of comments only) is refused instead of training a default model; NUL
 * bytes and an unclosed section are syntax errors with the line. */
static void test_duplicates_and_empty(void **state) {
    (void)state;
    expect_error("[train]\nsteps = 10\nlr = 1e-3\nsteps = 20\n", NULL,
                 "exp.ini:4: 'steps' in [train] is set twice (first at line 2)");
    expect_error("[profile smoke]\ntrain.steps = 1\n[profile smoke]\ntrain.steps = 2\n", NULL,
                 "exp.ini:4: 'train.steps' in [profile smoke] is set twice (first at line 2)");
    expect_error("", NULL, "no settings");
    expect_error("; only a comment\n\n[train]\n", NULL, "no settings");
    expect_error("[train\nsteps = 1\n", NULL, "exp.ini:1: syntax error");
    const char nul[] = "[train]\nsteps = 1\0\n";
    const char *path = write_ini("");
    test_write_file(path, nul, sizeof nul - 1);
    bfn_config *c = NULL;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "exp.ini:2: NUL byte"));
    /* the same key in a base section and in a profile is an override, not a duplicate */
    path = write_ini("[train]\nsteps = 10\n[profile small]\ntrain.steps = 5\n");
    assert_int_equal(bfn_config_load(&c, path, "small", 0, NULL), BFN_OK);
    assert_int_equal(bfn_cfg_int(c, "train.steps"), 5);
    bfn_config_free(c);
}

/* Write `bytes` to path and give it modification time `sec`. */
static void write_with_mtime(const char *path, const char *bytes, long sec) {
    test_write_file(path, bytes, strlen(bytes));
    struct timespec t[2] = {{sec, 0}, {sec, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void idx_run_key(const char *ini_text, char key[17]) {
    const char *path = write_ini(ini_text);
    bfn_config *c = NULL;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    bfn_config_run_key(c, key);
    bfn_config_free(c);
}

/* The run key of an idx: dataset covers the files' contents (a replaced
 * data file is a new run, not a finished one), not only their paths; the
 * same contents give the same key. */
static void test_run_key_idx_content(void **state) {
    (void)state;
    char data[300], ini_text[700], k1[17], k2[17], k3[17], k4[17];
    snprintf(data, sizeof data, "%s/images.idx", test_tmpdir());
    snprintf(ini_text, sizeof ini_text, "[data]\ndataset = idx:%s\n", data);
    write_with_mtime(data, "first contents", 1000000);
    idx_run_key(ini_text, k1);
    idx_run_key(ini_text, k2);
    assert_string_equal(k1, k2);
    write_with_mtime(data, "other contents", 2000000); /* same size, replaced */
    idx_run_key(ini_text, k3);
    assert_string_not_equal(k1, k3);
    write_with_mtime(data, "first contents", 3000000); /* back: same contents, new mtime */
    idx_run_key(ini_text, k4);
    assert_string_equal(k1, k4);
    /* labels file too */
    char labels[320];
    snprintf(labels, sizeof labels, "%s.labels", data);
    snprintf(ini_text, sizeof ini_text, "[data]\ndataset = idx:%s:%s\n", data, labels);
    write_with_mtime(labels, "L1", 1000000);
    idx_run_key(ini_text, k1);
    write_with_mtime(labels, "L2", 2000000);
    idx_run_key(ini_text, k2);
    assert_string_not_equal(k1, k2);
}

/* Control bytes and invalid UTF-8 are escaped; valid UTF-8 passes. */
static void test_escape_text(void **state) {
    (void)state;
    char out[64];
    assert_string_equal(bfn_escape_text("a\x1b[31mb\n", out, sizeof out), "a\\x1b[31mb\\x0a");
    assert_string_equal(bfn_escape_text("\xff\xfe ok", out, sizeof out), "\\xff\\xfe ok");
    assert_string_equal(bfn_escape_text("\xc2\xb1 \xe2\x88\x9e", out, sizeof out), "\xc2\xb1 \xe2\x88\x9e");
    assert_string_equal(bfn_escape_text("\xe2\x88", out, sizeof out), "\\xe2\\x88"); /* cut sequence */
    assert_string_equal(bfn_escape_text("\xed\xa0\x80", out, sizeof out), "\\xed\\xa0\\x80"); /* surrogate */
    char small[8];
    assert_string_equal(bfn_escape_text("abcdefghij", small, sizeof small), "abcd...");
    assert_string_equal(bfn_escape_text("\x01\x02", small, sizeof small), "\\x01...");
}

static void test_run_key_and_text(void **state) {
    (void)state;
    const char *path = write_ini(BASE);
    bfn_config *a, *b, *c, *d;
    char *o1[] = {"eval.repeats=99"}, *o2[] = {"train.seed=1"};
    assert_int_equal(bfn_config_load(&a, path, NULL, 0, NULL), BFN_OK);
    assert_int_equal(bfn_config_load(&b, path, NULL, 1, o1), BFN_OK);
    assert_int_equal(bfn_config_load(&c, path, NULL, 1, o2), BFN_OK);
    char ka[17], kb[17], kc[17], kd[17];
    bfn_config_run_key(a, ka);
    bfn_config_run_key(b, kb);
    bfn_config_run_key(c, kc);
    assert_int_equal(strlen(ka), 16);
    assert_string_equal(ka, kb);     /* evaluation settings do not define the run */
    assert_string_not_equal(ka, kc); /* the seed does */
    /* Canonical text round trip gives the same run and values. */
    char *text = bfn_config_text(c);
    assert_int_equal(bfn_config_from_text(&d, text, "stored"), BFN_OK);
    bfn_config_run_key(d, kd);
    assert_string_equal(kc, kd);
    assert_string_equal(bfn_config_profile(d), "small");
    char *text2 = bfn_config_text(d);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    bfn_config_free(a);
    bfn_config_free(b);
    bfn_config_free(c);
    bfn_config_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profiles_and_overrides),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_run_key_and_text),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_duplicates_and_empty),
        cmocka_unit_test(test_escape_text),
        cmocka_unit_test(test_run_key_idx_content),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
