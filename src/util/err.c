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
