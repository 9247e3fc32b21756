/* ini.c: the INI reader (see ini.h). */
#include "util/ini.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* Trim [*b, *e) in place (pointers move; nothing is written). */
static void trim_span(const char **b, const char **e) {
    while (*b < *e && is_space(**b)) (*b)++;
    while (*e > *b && is_space((*e)[-1])) (*e)--;
}

/* End of the meaningful part of [b, e): before a ';' that starts the line
 * or follows whitespace (an inline comment). */
static const char *strip_comment(const char *b, const char *e) {
    for (const char *p = b; p < e; p++)
        if (*p == ';' && (p == b || is_space(p[-1]))) return p;
    return e;
}

/* Copy [b, e) into a growing buffer as a NUL-terminated string. */
static char *span_copy(char **buf, size_t *cap, const char *b, const char *e) {
    size_t n = (size_t)(e - b);
    if (n + 1 > *cap) {
        size_t c = 2 * (n + 1);
        char *p = realloc(*buf, c);
        if (!p) return NULL;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf, b, n);
    (*buf)[n] = '\0';
    return *buf;
}

int bfn_ini_parse_text(const char *text, size_t n, const char *origin, bfn_ini_handler handler, void *user) {
    char *section = NULL, *name = NULL, *value = NULL;
    size_t cap_s = 0, cap_n = 0, cap_v = 0;
    int rc = BFN_OK, line = 0;
    if (!span_copy(&section, &cap_s, "", "")) return bfn_error(BFN_ENOMEM, "%s: out of memory", origin);
    const char *p = text, *end = text + n;
    if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    while (p < end && rc == BFN_OK) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        const char *b = p, *e = eol;
        p = eol < end ? eol + 1 : end;
        if (memchr(b, '\0', (size_t)(e - b))) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: NUL byte (not a text file?)", origin, line);
            break;
        }
        trim_span(&b, &e);
        if (b == e || *b == ';' || *b == '#') continue;
        if (*b == '[') {
            const char *close = memchr(b, ']', (size_t)(e - b));
            const char *rest = close ? close + 1 : e;
            trim_span(&rest, &e);
            if (!close || (rest < e && *rest != ';' && *rest != '#')) {
                rc = bfn_error(BFN_EINVAL, "%s:%d: syntax error: '[' without a closing ']'", origin, line);
                break;
            }
            const char *sb = b + 1, *se = close;
            trim_span(&sb, &se);
            if (!span_copy(&section, &cap_s, sb, se)) rc = bfn_error(BFN_ENOMEM, "%s: out of memory", origin);
            continue;
        }
        e = strip_comment(b, e);
        trim_span(&b, &e);
        const char *eq = b;
        while (eq < e && *eq != '=' && *eq != ':') eq++;
        const char *nb = b, *ne = eq, *vb = eq + 1, *ve = e;
        if (eq == e) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: syntax error: expected 'name = value' or '[section]'", origin, line);
            break;
        }
        trim_span(&nb, &ne);
        trim_span(&vb, &ve);
        if (nb == ne) {
            rc = bfn_error(BFN_EINVAL, "%s:%d: syntax error: no name before '%c'", origin, line, *eq);
            break;
        }
        if (!span_copy(&name, &cap_n, nb, ne) || !span_copy(&value, &cap_v, vb, ve)) {
            rc = bfn_error(BFN_ENOMEM, "%s: out of memory", origin);
            break;
        }
        rc = handler(user, section, name, value, line);
    }
    free(section);
    free(name);
    free(value);
    return rc;
}

int bfn_read_file(const char *path, char **out, size_t *n) {
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? BFN_OK : bfn_error(BFN_ENOMEM, "%s: out of memory", path);
    while (rc == BFN_OK) {
        if (len + 1 >= cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) {
                rc = bfn_error(BFN_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = p;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) rc = bfn_error(BFN_EIO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (rc != BFN_OK) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *n = len;
    return BFN_OK;
}

int bfn_ini_parse_file(const char *path, bfn_ini_handler handler, void *user) {
    char *text;
    size_t n;
    BFN_TRY(bfn_read_file(path, &text, &n));
    int rc = bfn_ini_parse_text(text, n, path, handler, user);
    free(text);
    return rc;
}
