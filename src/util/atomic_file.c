/* atomic_file.c: write-to-temporary-then-rename, durably: the temporary
 * file is fsynced before the rename and the directory after it, so after a
 * power loss PATH is the old or the new contents, never an empty or partial
 * file (the rename alone can reach the disk before the data). */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
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
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
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
    /* The directory entry: fsync the directory holding path. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return bfn_error(BFN_EIO, "%s: fsync of directory: %s", dir, strerror(e));
    }
    close(fd);
    return BFN_OK;
}
