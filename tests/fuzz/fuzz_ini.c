/* fuzz_ini.c: experiment INI files plus command-line overrides
 * (bfn_config_load, bfn_config_override, the canonical text and run key,
 * and reading a config back from its text). Input: the INI text, then
 * optionally a line "--" followed by one key=value override per line. */
#include "fuzz.h"

#include "run/config.h"

static int fuzz_ini(const uint8_t *data, size_t size) {
    const char *sep = NULL;
    for (size_t i = 0; i + 4 <= size; i++)
        if (memcmp(data + i, "\n--\n", 4) == 0) { sep = (const char *)data + i; break; }
    size_t ini_len = sep ? (size_t)(sep - (const char *)data) + 1 : size;
    const char *path = fuzz_file("exp.ini", data, ini_len);
    /* overrides: NUL-free lines after the separator, at most 64 */
    char *over_text = NULL, *over[64];
    int n_over = 0;
    if (sep) {
        size_t rest = size - ini_len - 3;
        over_text = malloc(rest + 1);
        memcpy(over_text, sep + 4, rest);
        over_text[rest] = '\0';
        for (char *save = NULL, *l = strtok_r(over_text, "\n", &save); l && n_over < 64; l = strtok_r(NULL, "\n", &save))
            over[n_over++] = l;
    }
    bfn_config *c = NULL;
    if (bfn_config_load(&c, path, NULL, n_over, over) == BFN_OK) {
        char key[17];
        bfn_config_run_key(c, key);
        char *text = bfn_config_text(c);
        bfn_config *back = NULL;
        if (bfn_config_from_text(&back, text, "canonical") != BFN_OK) abort(); /* our own text must read back */
        char key2[17];
        bfn_config_run_key(back, key2);
        if (strcmp(key, key2) != 0) abort(); /* and give the same run key */
        bfn_config_free(back);
        free(text);
        bfn_config_free(c);
    }
    free(over_text);
    return 0;
}
BFN_FUZZ_TARGET(fuzz_ini)
