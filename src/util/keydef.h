/* keydef.h: how a layer declares the configuration keys it needs, once.
 *
 * A key list is an X-macro, kept beside the code that uses the keys
 * (run/spec_keys.h for the core sections, models/unet_keys.h for the U-Net,
 * ...). Each entry is
 *
 *   X(field, FT, "section.name", TYPE, "default", lo, hi, choices, RULE, "help")
 *
 *   field    the member of the typed struct the value goes to
 *   FT       its C type: int, long, ulong, double, str (const char *),
 *            index (int: position of the value in `choices`) or list
 *            (bfn_int_list: "10, 25, inf" with inf as 0)
 *   TYPE     what the text must be: INT, REAL (inside [lo, hi]), STR, ENUM
 *            (one of the '|'-separated `choices`), LIST (integers or inf,
 *            each inside [lo, hi]) or NAME (a name a registry knows)
 *   RULE     run-key membership: SECTION (the section decides: [data] [bfn]
 *            [model] [train] count, the others never), NEVER, NSTEP (only
 *            when train.loss = nstep), WHEN_SET (only when not the default:
 *            keys added after runs were recorded), USED (only when the chosen
 *            registry entry, e.g. the network of model.arch, reads the key)
 *
 * From one list, BFN_KEY_FIELD generates the struct's fields and
 * BFN_KEY_DEF_IN the bfn_key_def rows: run/config.c builds its schema
 * (defaults, checks, help, canonical order) from the rows, and fills the
 * struct through their offsets. This header knows nothing about files. */
#ifndef BFN_UTIL_KEYDEF_H
#define BFN_UTIL_KEYDEF_H

#include <stddef.h>

#define BFN_MAX_LIST 32

/* An integer list setting (eval.steps); 0 stands for infinity. */
typedef struct {
    int v[BFN_MAX_LIST];
    int n;
} bfn_int_list;

typedef enum { BFN_KEY_INT, BFN_KEY_REAL, BFN_KEY_STR, BFN_KEY_ENUM, BFN_KEY_LIST, BFN_KEY_NAME } bfn_key_type;
typedef enum { BFN_FIELD_int, BFN_FIELD_long, BFN_FIELD_ulong, BFN_FIELD_double, BFN_FIELD_str, BFN_FIELD_index,
               BFN_FIELD_list } bfn_field_kind;
typedef enum { BFN_RK_SECTION, BFN_RK_NEVER, BFN_RK_NSTEP, BFN_RK_WHEN_SET, BFN_RK_USED } bfn_run_key_rule;

typedef struct {
    const char *key;      /* "section.name"; NULL ends a list */
    bfn_key_type type;
    const char *def;      /* default value as text */
    double lo, hi;        /* inclusive range for INT / REAL / LIST items */
    const char *choices;  /* '|'-separated for ENUM */
    bfn_run_key_rule rule;
    const char *help;
    bfn_field_kind field; /* where the typed value goes: kind ... */
    size_t offset;        /* ... and offset in the owner's struct */
} bfn_key_def;

#define BFN_CTYPE_int int
#define BFN_CTYPE_long long
#define BFN_CTYPE_ulong unsigned long
#define BFN_CTYPE_double double
#define BFN_CTYPE_str const char *
#define BFN_CTYPE_index int
#define BFN_CTYPE_list bfn_int_list

/* The struct member of one entry. */
#define BFN_KEY_FIELD(field, FT, key, TYPE, def, lo, hi, choices, rule, help) BFN_CTYPE_##FT field;
/* The bfn_key_def row of one entry whose field lives in struct S. */
#define BFN_KEY_DEF_IN(S, field, FT, key, TYPE, def, lo, hi, choices, rule, help)                                   \
    {key, BFN_KEY_##TYPE, def, lo, hi, choices, BFN_RK_##rule, help, BFN_FIELD_##FT, offsetof(S, field)},
/* The row that ends a list. */
#define BFN_KEY_END {NULL, BFN_KEY_STR, NULL, 0, 0, NULL, BFN_RK_NEVER, NULL, BFN_FIELD_str, 0}

/* Storage for the typed settings of one registry entry (a network's,
 * a family's, a dataset's own keys), filled through its bfn_key_def rows;
 * the entry reads it as its own struct (see BFN_KEY_OWN_AS). */
#define BFN_KEY_OWN_MAX 256
typedef union {
    max_align_t align_;
    unsigned char bytes[BFN_KEY_OWN_MAX];
} bfn_key_own;
/* The entry's struct T inside own (a compile-time check that T fits goes
 * beside T: BFN_KEY_OWN_FITS(T)). */
#define BFN_KEY_OWN_AS(own, T) ((const T *)(const void *)(own).bytes)
#define BFN_KEY_OWN_FITS(T) _Static_assert(sizeof(T) <= BFN_KEY_OWN_MAX, #T " fits in bfn_key_own")

/* A large upper bound for counts and seeds. */
#define BFN_KEY_BIG 1e18

#endif
