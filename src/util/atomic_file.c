/* atomic_file.c: write-to-temporary-then-rename. */
#include "util/atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

int bfn_atomic_write(const char *path, const void *head, size_t n_head, const void *body, size_t n_body) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return bfn_error(BFN_EINVAL, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = fwrite(head, 1, n_head, f) == n_head && (n_body == 0 || fwrite(body, 1, n_body, f) == n_body);
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        int e = errno;
        remove(tmp);
        return bfn_error(BFN_EIO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return bfn_error(BFN_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return BFN_OK;
}
