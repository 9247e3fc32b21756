/* ini.h: a small INI reader with lines of any length and exact line numbers.
 *
 * Syntax (that of libinih as the experiment files use it): "[section]"
 * headers, "name = value" (or "name: value") lines, comment lines starting
 * with ';' or '#', and inline comments starting with ';' after whitespace.
 * Names, values and sections are trimmed. A UTF-8 byte-order mark is
 * skipped; a NUL byte, a line that is neither a header nor a key, or an
 * unterminated header is a syntax error "ORIGIN:LINE: ...". Unlike libinih
 * there is no fixed line buffer (libinih's 200 bytes split a long line and
 * read its tail as a new key) and no continuation lines. */
#ifndef BFN_UTIL_INI_H
#define BFN_UTIL_INI_H

#include <stddef.h>

/* Called for every key in file order; `line` is its 1-based line number.
 * Return BFN_OK to go on; any other code stops the parse and is returned
 * (the handler records its own message). */
typedef int (*bfn_ini_handler)(void *user, const char *section, const char *name, const char *value, int line);

/* Parse n bytes of text; messages name `origin`. */
int bfn_ini_parse_text(const char *text, size_t n, const char *origin, bfn_ini_handler handler, void *user);
/* Read and parse a file (BFN_EIO naming it if it cannot be read). */
int bfn_ini_parse_file(const char *path, bfn_ini_handler handler, void *user);
/* Read a whole file into a malloc'd, NUL-terminated buffer; *n = its size. */
int bfn_read_file(const char *path, char **out, size_t *n);

#endif
