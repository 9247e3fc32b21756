/* file_digest.c: cached SHA-256 of files (see file_digest.h). */
#include "util/file_digest.h"

#include <errno.h>
#include <sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/err.h"

#define CACHE_SLOTS 16

typedef struct {
    int used;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint8_t digest[32];
} slot;

static slot cache[CACHE_SLOTS];
static int next_slot;

static int same_file(const slot *s, const struct stat *st) {
    return s->used && s->dev == st->st_dev && s->ino == st->st_ino && s->size == st->st_size &&
           s->mtime.tv_sec == st->st_mtim.tv_sec && s->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

int bfn_file_digest(const char *path, uint8_t digest[32]) {
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    SHA2_CTX ctx;
    SHA256Init(&ctx);
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) SHA256Update(&ctx, buf, n);
    int err = ferror(f);
    fclose(f);
    if (err) return bfn_error(BFN_EIO, "%s: read error", path);
    SHA256Final(digest, &ctx);
    return BFN_OK;
}

int bfn_file_digest_cached(const char *path, uint8_t digest[32]) {
    struct stat st;
    if (stat(path, &st) != 0) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (same_file(&cache[i], &st)) {
            memcpy(digest, cache[i].digest, 32);
            return BFN_OK;
        }
    BFN_TRY(bfn_file_digest(path, digest));
    slot *s = &cache[next_slot];
    next_slot = (next_slot + 1) % CACHE_SLOTS;
    *s = (slot){.used = 1, .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim};
    memcpy(s->digest, digest, 32);
    return BFN_OK;
}
