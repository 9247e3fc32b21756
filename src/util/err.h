/* err.h: error reporting shared by all library code.
 *
 * Library functions never exit: they return BFN_OK (0) or a negative
 * BFN_E* code and record a one-line message with bfn_error(). Only main()
 * prints the message and chooses the exit status (SQLite's habit).
 * The message buffer is thread-local so OpenMP workers cannot clobber it. */
#ifndef BFN_UTIL_ERR_H
#define BFN_UTIL_ERR_H

#include <stddef.h>

enum {
    BFN_OK = 0,
    BFN_EINVAL = -1,   /* bad argument or configuration value */
    BFN_EIO = -2,      /* file missing, unreadable, truncated */
    BFN_ECORRUPT = -3, /* file present but contents inconsistent */
    BFN_ENOMEM = -4,
    BFN_EDB = -5,      /* SQLite error (locked, newer schema, ...) */
    BFN_EDIVERGED = -6,/* NaN/inf loss */
    BFN_EINTR = -7,    /* interrupted by a signal (checkpoint written) */
    BFN_EBUSY = -8     /* the run is owned by another live process */
};

/* Record an error message (printf-style) and return `code`, so callers can
 * write `return bfn_error(BFN_EIO, "%s: cannot open", path);`. */
int bfn_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading X: ...") and
 * return `code` unchanged. */
int bfn_error_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *bfn_last_error(void);
void bfn_clear_error(void);

/* Copy s into out (size n, always NUL-terminated) with control bytes and
 * bytes that are not part of valid UTF-8 written as \xHH, so text from a
 * file or the command line never puts control codes or binary garbage on
 * the terminal (printable ASCII and valid UTF-8 pass unchanged). A cut-off
 * copy ends in "...". Returns out. */
char *bfn_escape_text(const char *s, char *out, size_t n);

/* Allocation that cannot fail silently: on failure it prints the call site
 * and aborts. Used for sizes computed from validated configuration, where an
 * allocation failure is not a recoverable user error. */
void *bfn_xmalloc_at(size_t n, const char *file, int line);
void *bfn_xcalloc_at(size_t n, size_t size, const char *file, int line);
char *bfn_xstrdup_at(const char *s, const char *file, int line);
#define bfn_xmalloc(n) bfn_xmalloc_at((n), __FILE__, __LINE__)
#define bfn_xcalloc(n, s) bfn_xcalloc_at((n), (s), __FILE__, __LINE__)
#define bfn_xstrdup(s) bfn_xstrdup_at((s), __FILE__, __LINE__)

/* Errors come in two kinds, handled two ways:
 *  - what a user can cause (bad config, missing or corrupt files, a run's
 *    size exceeding memory: activations, datasets) is returned as a BFN_E*
 *    code with a message, and main() decides the exit status;
 *  - a broken calling contract inside the program (a batch larger than
 *    the model was built for, a duplicate tensor name) is a programming
 *    error: BFN_ASSERT reports file:line, the condition and why, and aborts.
 * Small allocations whose sizes follow from validated settings use
 * bfn_xmalloc (abort with the call site on failure); allocations sized by
 * the user's data or batch return BFN_ENOMEM. */
_Noreturn void bfn_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Always on (independent of NDEBUG): it guards contracts, not inner loops. */
#define BFN_ASSERT(cond, ...) \
    do { if (!(cond)) bfn_assert_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)

/* Propagate a non-zero return code. */
#define BFN_TRY(expr) do { int bfn_rc_ = (expr); if (bfn_rc_ != BFN_OK) return bfn_rc_; } while (0)

#endif
