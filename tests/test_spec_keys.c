/* test_spec_keys.c: keys declared once (util/keydef.h lists) give the
 * schema, the typed spec and `bfn train --help`; registries own their keys. */
#include "testutil.h"

#include <stdio.h>

#include "bfn/continuous_keys.h"
#include "data/text_keys.h"
#include "models/mlp_keys.h"
#include "models/transformer_keys.h"
#include "models/unet_keys.h"
#include "run/config.h"
#include "run/spec.h"
#include "util/err.h"
#include "util/ini.h"

static const char *write_ini(const char *text) {
    static char path[300];
    snprintf(path, sizeof path, "%s/exp.ini", test_tmpdir());
    test_write_file(path, text, strlen(text));
    return path;
}

static int schema_has(const char *key) {
    for (int i = 0; i < bfn_config_n_keys(); i++)
        if (strcmp(bfn_config_key_name(i), key) == 0) return 1;
    return 0;
}

/* Every key of every registry entry and every core list is in the schema,
 * once; shared keys (model.heads) appear once. */
static void test_schema_from_lists(void **state) {
    (void)state;
    for (int i = 0; i < bfn_model_count(); i++)
        for (const bfn_key_def *k = bfn_model_entry_at(i)->keys; k && k->key; k++) assert_true(schema_has(k->key));
    for (const bfn_key_def *k = bfn_continuous_key_defs; k->key; k++) assert_true(schema_has(k->key));
    for (const bfn_key_def *k = bfn_text_key_defs; k->key; k++) assert_true(schema_has(k->key));
    const char *sections[] = {"experiment", "data", "bfn", "model", "train", "eval", "sample"};
    int n_core = 0;
    for (int s = 0; s < 7; s++)
        for (const bfn_key_def *k = bfn_spec_core_keys(sections[s]); k->key; k++, n_core++) assert_true(schema_has(k->key));
    for (int i = 0; i < bfn_config_n_keys(); i++)
        for (int j = 0; j < i; j++) assert_string_not_equal(bfn_config_key_name(i), bfn_config_key_name(j));
    /* core + own keys of the registries, shared ones once: 16 model.* keys
     * (arch + 15), 2 continuous, 2 text. */
    assert_int_equal(bfn_config_n_keys(), n_core + 15 + 2 + 2);
}

/* The typed spec holds what the file says, in the chosen entries' own
 * settings too. */
static void test_spec_fields(void **state) {
    (void)state;
    const char *path = write_ini("[experiment]\nname = t\n[data]\ndataset = brown\nseq_len = 32\n"
                                 "[bfn]\nfamily = discrete\nclasses = 27\nreceiver = joint\n"
                                 "[model]\narch = transformer\nheads = 2\nskip = 0\n"
                                 "[train]\nloss = nstep\nseed = 7\n[eval]\nsteps = 10, inf, 3\n");
    bfn_config *c;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    bfn_spec s;
    bfn_spec_resolve(&s, c);
    assert_string_equal(s.experiment.name, "t");
    assert_int_equal(BFN_KEY_OWN_AS(s.data.own, bfn_text_keys)->seq_len, 32);
    assert_int_equal(BFN_KEY_OWN_AS(s.data.own, bfn_text_keys)->test_stride, 256);
    assert_int_equal(s.data.classes, 27);
    assert_int_equal(s.bfn.receiver, 1);
    assert_true(bfn_spec_family_params(&s.bfn).receiver_joint);
    const bfn_transformer_keys *tk = BFN_KEY_OWN_AS(s.model.own, bfn_transformer_keys);
    assert_int_equal(tk->heads, 2);
    assert_int_equal(tk->skip, 0);
    assert_int_equal(tk->hidden, 1024);
    assert_int_equal(s.train.loss, BFN_LOSS_NSTEP);
    assert_int_equal((int)s.train.seed, 7);
    assert_int_equal(s.eval.steps.n, 3);
    assert_int_equal(s.eval.steps.v[1], 0); /* inf */
    assert_int_equal(s.eval.steps.v[2], 3);
    bfn_config_free(c);

    char *over[] = {"bfn.family=continuous", "bfn.schedule=exponential", "bfn.recon_bins=16", "model.arch=unet",
                    "model.channel_mult=1,2", "data.dataset=mnist"};
    assert_int_equal(bfn_config_load(&c, path, NULL, 6, over), BFN_OK);
    bfn_spec_resolve(&s, c);
    assert_int_equal(BFN_KEY_OWN_AS(s.bfn.own, bfn_continuous_keys)->recon_bins, 16);
    assert_int_equal(s.data.classes, 0);
    const bfn_unet_keys *uk = BFN_KEY_OWN_AS(s.model.own, bfn_unet_keys);
    assert_string_equal(uk->channel_mult, "1,2");
    assert_int_equal(uk->heads, 2);
    assert_string_equal(uk->time_embed, "ddpm");
    bfn_config_free(c);
}

/* An unknown name in any NAME key stops at its FILE:LINE with the
 * registered names. */
static void test_unknown_names(void **state) {
    (void)state;
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"[experiment]\nname = x\n[model]\narch = resnet\n", "unknown model.arch 'resnet' (registered: mlp, transformer, unet)"},
        {"[experiment]\nname = x\n[bfn]\nschedule = sigmoid\n", "unknown bfn.schedule 'sigmoid' (registered: quadratic, "},
        {"[experiment]\nname = x\n[bfn]\nfamily = gauss\n", "unknown bfn.family 'gauss' (registered: discrete, "},
        {"[experiment]\nname = x\n[data]\ndataset = svhn\n", "unknown data.dataset 'svhn' (registered: mnist, "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_ini(cases[i].text);
        bfn_config *c = NULL;
        assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_EINVAL);
        assert_non_null(strstr(bfn_last_error(), "exp.ini:4: "));
        assert_non_null(strstr(bfn_last_error(), cases[i].expect));
    }
}

/* --help comes from the lists: sections, defaults, registered names and
 * which entries read a registry-owned key. */
static void test_help_generated(void **state) {
    (void)state;
    const char *path = test_path_in(test_tmpdir(), "help.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    bfn_config_print_schema(f);
    fclose(f);
    char *text;
    size_t n;
    assert_int_equal(bfn_read_file(path, &text, &n), BFN_OK);
    const char *expect[] = {"[experiment]\n", "\n[model]\n", "[mlp|transformer|unet]", "[discrete|continuous|discretised]",
                            "idx:PATH", "[quadratic|exponential|", "(model.arch = transformer, unet)",
                            "(bfn.family = continuous)", "(data.dataset = text8, brown)", "model.channels           32"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (!strstr(text, expect[i])) fail_msg("--help lacks '%s'", expect[i]);
    }
    free(text);
}

/* A registry entry's keys count in the run key only for that entry
 * (USED); a text dataset's data.seq_len counts for every run, as it always has. */
static void test_run_key_rules(void **state) {
    (void)state;
    const char *path = write_ini("[experiment]\nname = x\n[model]\narch = mlp\n");
    bfn_config *c;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_OK);
    assert_true(bfn_config_in_run_key(c, "model.hidden"));
    assert_false(bfn_config_in_run_key(c, "model.heads"));
    assert_false(bfn_config_in_run_key(c, "model.channels"));
    assert_true(bfn_config_in_run_key(c, "data.seq_len"));
    assert_false(bfn_config_in_run_key(c, "data.test_stride"));
    assert_false(bfn_config_in_run_key(c, "bfn.recon_bins"));
    assert_false(bfn_config_in_run_key(c, "bfn.mc_samples"));
    assert_false(bfn_config_in_run_key(c, "train.ema_warmup"));
    char *over[] = {"model.arch=unet", "train.loss=nstep", "train.ema_warmup=1"};
    assert_int_equal(bfn_config_override(c, 3, over), BFN_OK);
    assert_false(bfn_config_in_run_key(c, "model.hidden"));
    assert_true(bfn_config_in_run_key(c, "model.heads"));
    assert_true(bfn_config_in_run_key(c, "model.channels"));
    assert_true(bfn_config_in_run_key(c, "bfn.mc_samples"));
    assert_true(bfn_config_in_run_key(c, "train.ema_warmup"));
    assert_false(bfn_config_in_run_key(c, "eval.seed"));
    bfn_config_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_from_lists), cmocka_unit_test(test_spec_fields),
        cmocka_unit_test(test_unknown_names),     cmocka_unit_test(test_help_generated),
        cmocka_unit_test(test_run_key_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
