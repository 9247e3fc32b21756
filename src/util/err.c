/* err.c: thread-local error message and checked allocation. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[1024];

int bfn_error(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

int bfn_error_prefix(int code, const char *fmt, ...) {
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* msg = prefix + ": " + old message, cut to the buffer. */
    size_t used = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    const char *parts[2] = {": ", last_error};
    for (int i = 0; i < 2; i++) {
        size_t len = strlen(parts[i]);
        if (used + len >= sizeof msg) len = sizeof msg - 1 - used;
        memcpy(msg + used, parts[i], len);
        used += len;
    }
    msg[used] = '\0';
    memcpy(last_error, msg, used + 1);
    return code;
}

const char *bfn_last_error(void) { return last_error[0] ? last_error : "unknown error"; }

void bfn_clear_error(void) { last_error[0] = '\0'; }

void bfn_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: internal error (%s): ", file, line, cond);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void die_oom(size_t n, const char *file, int line) {
    fprintf(stderr, "%s:%d: out of memory allocating %zu bytes\n", file, line, n);
    abort();
}

void *bfn_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) die_oom(n, file, line);
    return p;
}

void *bfn_xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) die_oom(n * size, file, line);
    return p;
}

char *bfn_xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = bfn_xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

/* Length of the valid UTF-8 sequence (2..4 bytes) starting at s, or 0. */
static size_t utf8_len(const unsigned char *s) {
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (s[0] >= 0xf5) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    /* overlong 3- and 4-byte forms, surrogates, and code points above U+10FFFF */
    if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0;
    if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0;
    return len;
}

char *bfn_escape_text(const char *s, char *out, size_t n) {
    if (n == 0) return out;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t used = 0;
    while (*p) {
        char piece[8];
        size_t plen, adv;
        if (*p >= 0x20 && *p < 0x7f) {
            piece[0] = (char)*p;
            plen = adv = 1;
        } else if (*p >= 0x80 && (adv = utf8_len(p)) > 0) {
            memcpy(piece, p, adv);
            plen = adv;
        } else {
            snprintf(piece, sizeof piece, "\\x%02x", *p);
            plen = 4;
            adv = 1;
        }
        if (used + plen + 4 > n) { /* keep room for "..." and the NUL */
            snprintf(out + used, n - used, "...");
            return out;
        }
        memcpy(out + used, piece, plen);
        used += plen;
        p += adv;
    }
    out[used] = '\0';
    return out;
}
