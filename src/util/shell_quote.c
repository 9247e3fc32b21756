/* shell_quote.c: shell words and safe file-name components. */
#include "util/shell_quote.h"

#include <string.h>

void bfn_shell_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'') fputs("'\\''", f); /* close, escaped quote, reopen */
        else fputc(*p, f);
    }
    fputc('\'', f);
}

int bfn_safe_name(const char *s, size_t max_len) {
    size_t n = strlen(s);
    if (n == 0 || n > max_len || s[0] == '.') return 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        if (!ok) return 0;
    }
    return 1;
}
