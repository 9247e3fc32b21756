/* test_registry.c: the family and dataset registries. Every registered
 * family builds from bfn_family_params and reports a unit; unknown names are
 * refused with the registered names listed, both by the registries and by
 * the config check; the dataset opener tells which setting was bad. */
#include "testutil.h"

#include "bfn/family.h"
#include "data/dataset.h"
#include "run/config.h"

static bfn_schedule schedule_for(const char *family) {
    bfn_schedule s;
    bfn_schedule_params sp = {.beta1 = 9, .sigma1 = 0.001};
    assert_int_equal(bfn_schedule_init(&s, strcmp(family, "discrete") == 0 ? "quadratic" : "exponential", &sp),
                     BFN_OK);
    return s;
}

/* Each registered family is constructed, takes its knobs from the params
 * and names a unit. */
static void test_every_family_builds(void **state) {
    char names[256];
    bfn_family_names(names, sizeof names, " ");
    int count = 0;
    for (char *save = NULL, *n = strtok_r(names, " ", &save); n; n = strtok_r(NULL, " ", &save), count++) {
        bfn_family f;
        bfn_family_params p = {.D = 6, .classes = 2, .bins = 16, .receiver_joint = 1, .n_mc = 7};
        assert_int_equal(bfn_family_create(&f, n, &p, schedule_for(n)), BFN_OK);
        assert_non_null(f.ops);
        assert_int_equal(f.D, 6);
        assert_int_equal(f.n_mc, 7);
        assert_true(f.in_ch >= 1 && f.out_ch >= 1);
        const char *u = bfn_family_find(n)->image_unit(&f);
        assert_true(strcmp(u, "nats/image") == 0 || strcmp(u, "bits/dim") == 0);
        if (strcmp(n, "discrete") == 0) {
            assert_int_equal(f.receiver_joint, 1);
            assert_string_equal(u, "nats/image"); /* K = 2: binarised images per image */
        }
        if (strcmp(n, "continuous") == 0) {
            /* Official L^r for 16 bins: 0.7 sigma1 with sigma1 = 1 / sqrt(1 + beta(1)). */
            assert_int_equal(f.recon_bins, 16);
            assert_close(f.recon_std, 0.7 * 0.001, 1e-12);
        }
        bfn_family_free(&f);
    }
    assert_int_equal(count, 3);
}

static void test_unknown_family(void **state) {
    bfn_family f;
    bfn_family_params p = {.D = 4, .classes = 2, .bins = 16, .n_mc = 10};
    assert_null(bfn_family_find("discret"));
    assert_int_equal(bfn_family_create(&f, "discret", &p, schedule_for("discrete")), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "'discret'"));
    assert_non_null(strstr(bfn_last_error(), "discrete, continuous, discretised"));
}

/* A config naming an unregistered family or dataset stops at load time with
 * where it was set and the registered names. */
static void test_config_checks_registries(void **state) {
    const char *dir = test_tmpdir();
    const char *path = test_path_in(dir, "e.ini");
    const char text[] = "[experiment]\nname = x\n[bfn]\nfamily = discretized\n";
    test_write_file(path, text, sizeof text - 1);
    bfn_config *c = NULL;
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "e.ini:4"));
    assert_non_null(strstr(bfn_last_error(), "registered: discrete, continuous, discretised"));
    const char text2[] = "[experiment]\nname = x\n[data]\ndataset = cifar100\n";
    test_write_file(path, text2, sizeof text2 - 1);
    assert_int_equal(bfn_config_load(&c, path, NULL, 0, NULL), BFN_EINVAL);
    assert_non_null(strstr(bfn_last_error(), "e.ini:4"));
    assert_non_null(strstr(bfn_last_error(), "idx:PATH"));
    char *over[] = {"data.dataset=idx:/some/file"};
    const char text3[] = "[experiment]\nname = x\n";
    test_write_file(path, text3, sizeof text3 - 1);
    assert_int_equal(bfn_config_load(&c, path, NULL, 1, over), BFN_OK);
    bfn_config_free(c);
}

/* The dataset registry: prefix entries match with their argument; an unknown
 * name and an impossible bin count name the bad setting. */
static void test_dataset_registry(void **state) {
    assert_non_null(bfn_dataset_find("mnist"));
    assert_null(bfn_dataset_find("mnist2"));
    const bfn_dataset_entry *e = bfn_dataset_find("idx:/a/b:/c/d");
    assert_non_null(e);
    assert_true(e->is_prefix && !e->is_text);
    assert_true(bfn_dataset_find("brown")->is_text);

    bfn_dataset ds;
    const char *bad = NULL;
    bfn_data_params p = {.dataset = "nope", .dir = "data", .classes = 2, .binarise = "dynamic"};
    assert_int_equal(bfn_dataset_open(&ds, &p, &bad), BFN_EINVAL);
    assert_string_equal(bad, "dataset");

    /* A 2-image IDX fixture (4x4, values 0..31): 100 bins is no bit depth. */
    const char *dir = test_tmpdir();
    const char *path = test_path_in(dir, "im.idx");
    uint8_t idx[16 + 32] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4};
    for (int i = 0; i < 32; i++) idx[16 + i] = (uint8_t)i;
    test_write_file(path, idx, sizeof idx);
    char name[600];
    snprintf(name, sizeof name, "idx:%s", path);
    bfn_data_params q = {.dataset = name, .dir = dir, .bins = 100, .binarise = "none"};
    assert_int_equal(bfn_dataset_open(&ds, &q, &bad), BFN_EINVAL);
    assert_string_equal(bad, "bins");
    q.bins = 16;
    assert_int_equal(bfn_dataset_open(&ds, &q, &bad), BFN_OK);
    assert_int_equal(ds.D, 16);
    assert_int_equal(ds.prep, BFN_PREP_BIN_CENTRE);
    assert_int_equal(ds.n[BFN_SPLIT_TRAIN], 2);
    bfn_dataset_close(&ds);
    /* Evaluation only: every example may be a test example (training refuses it). */
    q.test_count = 2;
    assert_int_equal(bfn_dataset_open(&ds, &q, &bad), BFN_OK);
    assert_int_equal(ds.n[BFN_SPLIT_TRAIN], 0);
    assert_int_equal(ds.n[BFN_SPLIT_TEST], 2);
    bfn_dataset_close(&ds);
    q.test_count = 3;
    assert_int_equal(bfn_dataset_open(&ds, &q, &bad), BFN_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_family_builds),
        cmocka_unit_test(test_unknown_family),
        cmocka_unit_test(test_config_checks_registries),
        cmocka_unit_test(test_dataset_registry),
    };
    return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
