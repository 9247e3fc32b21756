/* text_keys.h: the [data] keys of the text datasets (text8, brown: their
 * registry lines in data/dataset.c carry these rows) and their typed struct. */
#ifndef BFN_DATA_TEXT_KEYS_H
#define BFN_DATA_TEXT_KEYS_H

#include "util/keydef.h"

#define BFN_TEXT_KEYS(X)                                                                                           \
    X(seq_len, int, "data.seq_len", INT, "256", 1, 1 << 20, NULL, SECTION, "characters per text example")         \
    X(test_stride, int, "data.test_stride", INT, "256", 1, 1 << 30, NULL, NEVER,                                    \
      "stride between test windows of text (1 = paper)")

typedef struct {
    BFN_TEXT_KEYS(BFN_KEY_FIELD)
} bfn_text_keys;

extern const bfn_key_def bfn_text_key_defs[];

#endif
