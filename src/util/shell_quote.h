/* shell_quote.h: text from users made safe for a POSIX shell or a file name.
 *
 * Sweep values and paths end up in generated shell scripts (the Slurm job
 * array) and in file names (logs, per-run databases); neither may let a
 * value run a command or name a file outside the results folder. */
#ifndef BFN_UTIL_SHELL_QUOTE_H
#define BFN_UTIL_SHELL_QUOTE_H

#include <stdio.h>

/* Write s as one shell word: inside '...', each ' written as '\'' (the only
 * character single quotes cannot hold). Newlines, $, `, \ and " are literal
 * inside single quotes, so nothing in s is expanded or executed. */
void bfn_shell_quote(FILE *f, const char *s);

/* 1 if s is a safe file-name component: non-empty, at most max_len bytes,
 * only [A-Za-z0-9._-] and not starting with '.' (no "..", no hidden files,
 * no '/'). */
int bfn_safe_name(const char *s, size_t max_len);

/* The allowed set, for error messages. */
#define BFN_SAFE_NAME_CHARS "[A-Za-z0-9._-], not starting with '.'"

#endif
