/* atomic_file.h: write a file so readers never see it half written. */
#ifndef BFN_UTIL_ATOMIC_FILE_H
#define BFN_UTIL_ATOMIC_FILE_H

#include <stddef.h>

/* Write head (n_head bytes) then body (n_body bytes) to PATH.tmp.PID and
 * rename it over PATH. On failure the temporary file is removed, PATH is
 * untouched, and the message names the file. */
int bfn_atomic_write(const char *path, const void *head, size_t n_head, const void *body, size_t n_body);

#endif
