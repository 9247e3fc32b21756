/* zip.c: read and write the ZIP subset of PyTorch checkpoints (see zip.h).
 * Record layouts follow PKWARE's APPNOTE.TXT (sections 4.3.7 local header,
 * 4.3.12 central directory header, 4.3.14-16 ZIP64 end records, 4.5.3 ZIP64
 * extra field). All integers are little-endian. */
#include "store/zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "util/err.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_Z64_LOC 0x07064b50u
#define SIG_Z64_EOCD 0x06064b50u

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* CRC-32 of n bytes (zlib takes at most UINT_MAX bytes per call). */
static uint32_t crc_of(const uint8_t *p, uint64_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* Find the end-of-central-directory record: the last signature within the
 * final 64 KiB + 22 bytes (the comment may be up to 65535 bytes). */
static int find_eocd(const bfn_zip *z, size_t *at) {
    if (z->len < 22) return -1;
    size_t lo = z->len > 65535 + 22 ? z->len - 65535 - 22 : 0;
    for (size_t i = z->len - 22 + 1; i-- > lo;)
        if (rd32(z->map + i) == SIG_EOCD && i + 22 + rd16(z->map + i + 20) == z->len) {
            *at = i;
            return 0;
        }
    return -1;
}

/* Values stored as 0xFFFF... in a central header come from its ZIP64 extra
 * field, in the order size, compressed size, offset. */
static int zip64_extra(const uint8_t *x, size_t n, uint64_t *usize, uint64_t *csize, uint64_t *off, int need_u,
                       int need_c, int need_o) {
    while (n >= 4) {
        uint16_t id = rd16(x), sz = rd16(x + 2);
        if ((size_t)sz + 4 > n) return -1;
        if (id == 0x0001) {
            const uint8_t *p = x + 4;
            size_t left = sz;
            if (need_u) { if (left < 8) return -1; *usize = rd64(p); p += 8; left -= 8; }
            if (need_c) { if (left < 8) return -1; *csize = rd64(p); p += 8; left -= 8; }
            if (need_o) { if (left < 8) return -1; *off = rd64(p); }
            return 0;
        }
        x += 4 + sz;
        n -= 4 + (size_t)sz;
    }
    return need_u || need_c || need_o ? -1 : 0;
}

static int corrupt(const bfn_zip *z, const char *what) {
    return bfn_error(BFN_ECORRUPT, "%s: not a valid PyTorch zip archive (%s; truncated or damaged?)", z->path, what);
}

/* Walk the central directory into z->e. */
static int read_directory(bfn_zip *z) {
    size_t eocd;
    if (find_eocd(z, &eocd) != 0) return corrupt(z, "no end-of-central-directory record");
    const uint8_t *e = z->map + eocd;
    uint64_t n = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0) return corrupt(z, "multi-disk archive");
    if (n == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd < 20 || rd32(z->map + eocd - 20) != SIG_Z64_LOC) return corrupt(z, "ZIP64 locator missing");
        uint64_t z64 = rd64(z->map + eocd - 20 + 8);
        if (z->len < 56 || z64 > z->len - 56 || rd32(z->map + z64) != SIG_Z64_EOCD) return corrupt(z, "ZIP64 end record missing");
        n = rd64(z->map + z64 + 32);
        cd_size = rd64(z->map + z64 + 40);
        cd_off = rd64(z->map + z64 + 48);
    }
    if (cd_off > z->len || cd_size > z->len - cd_off) return corrupt(z, "central directory outside the file");
    if (n > cd_size / 46) return corrupt(z, "entry count exceeds the central directory");
    z->e = bfn_xcalloc(n ? n : 1, sizeof *z->e);
    const uint8_t *p = z->map + cd_off, *end = p + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || rd32(p) != SIG_CENTRAL) return corrupt(z, "bad central directory header");
        uint16_t nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32);
        if ((size_t)(end - p) < 46u + nl + xl + cl) return corrupt(z, "central directory entry overruns");
        bfn_zip_entry *en = &z->e[z->n];
        en->method = rd16(p + 10);
        en->crc = rd32(p + 16);
        en->csize = rd32(p + 20);
        en->size = rd32(p + 24);
        en->local_offset = rd32(p + 42);
        if (zip64_extra(p + 46 + nl, xl, &en->size, &en->csize, &en->local_offset, en->size == 0xFFFFFFFFu,
                        en->csize == 0xFFFFFFFFu, en->local_offset == 0xFFFFFFFFu) != 0)
            return corrupt(z, "bad ZIP64 extra field");
        if (rd16(p + 8) & 1) return corrupt(z, "encrypted entry");
        en->name = bfn_xmalloc((size_t)nl + 1);
        memcpy(en->name, p + 46, nl);
        en->name[nl] = '\0';
        z->n++;
        if (strlen(en->name) != nl) return corrupt(z, "NUL in an entry name");
        if (en->local_offset > z->len - 30 || z->len < 30) return corrupt(z, "entry outside the file");
        p += 46 + nl + xl + cl;
    }
    return BFN_OK;
}

int bfn_zip_open(const char *path, bfn_zip *z) {
    memset(z, 0, sizeof *z);
    snprintf(z->path, sizeof z->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return bfn_error(BFN_EIO, "%s: not a regular file", path);
    }
    z->len = (size_t)st.st_size;
    if (z->len > 0) {
        void *m = mmap(NULL, z->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return bfn_error(BFN_EIO, "%s: cannot map: %s", path, strerror(errno));
        }
        z->map = m;
    }
    close(fd);
    int rc = read_directory(z);
    if (rc != BFN_OK) bfn_zip_close(z);
    return rc;
}

int bfn_zip_find(const bfn_zip *z, const char *name) {
    for (int i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0) return i;
    return -1;
}

int bfn_zip_data(bfn_zip *z, int i, const uint8_t **data, uint64_t *size) {
    bfn_zip_entry *en = &z->e[i];
    const uint8_t *lh = z->map + en->local_offset;
    if (rd32(lh) != SIG_LOCAL) return bfn_error(BFN_ECORRUPT, "%s: %s: bad local header", z->path, en->name);
    uint64_t start = en->local_offset + 30 + rd16(lh + 26) + rd16(lh + 28);
    if (start > z->len || en->csize > z->len - start)
        return bfn_error(BFN_ECORRUPT, "%s: %s: data runs past the end of the file (truncated?)", z->path, en->name);
    const uint8_t *raw = z->map + start;
    if (en->method == 0) {
        if (en->csize != en->size) return bfn_error(BFN_ECORRUPT, "%s: %s: stored sizes differ", z->path, en->name);
        *data = raw;
    } else if (en->method == 8) {
        if (!en->inflated) {
            if (en->size > ((uint64_t)1 << 40) || en->csize > UINT32_MAX || en->size > UINT32_MAX)
                return bfn_error(BFN_ECORRUPT, "%s: %s: deflated entry too large", z->path, en->name);
            en->inflated = bfn_xmalloc(en->size ? en->size : 1);
            z_stream s = {.next_in = (Bytef *)raw, .avail_in = (uInt)en->csize, .next_out = en->inflated,
                          .avail_out = (uInt)en->size};
            int ok = inflateInit2(&s, -MAX_WBITS) == Z_OK;
            ok = ok && inflate(&s, Z_FINISH) == Z_STREAM_END && s.total_out == en->size;
            inflateEnd(&s);
            if (!ok) {
                free(en->inflated);
                en->inflated = NULL;
                return bfn_error(BFN_ECORRUPT, "%s: %s: cannot inflate", z->path, en->name);
            }
        }
        *data = en->inflated;
    } else {
        return bfn_error(BFN_ECORRUPT, "%s: %s: compression method %d not supported", z->path, en->name, en->method);
    }
    if (!en->checked) {
        if (crc_of(*data, en->size) != en->crc)
            return bfn_error(BFN_ECORRUPT, "%s: %s: CRC-32 mismatch (damaged file)", z->path, en->name);
        en->checked = 1;
    }
    *size = en->size;
    return BFN_OK;
}

void bfn_zip_close(bfn_zip *z) {
    for (int i = 0; i < z->n; i++) {
        free(z->e[i].name);
        free(z->e[i].inflated);
    }
    free(z->e);
    if (z->map) munmap((void *)z->map, z->len);
    memset(z, 0, sizeof *z);
}

/* ---- writing ------------------------------------------------------------ */

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xFFFF); put16(p + 2, v >> 16); }

static int wr(bfn_zip_writer *w, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, w->f) != n) return bfn_error(BFN_EIO, "%s: write error: %s", w->tmp, strerror(errno));
    w->pos += n;
    return BFN_OK;
}

int bfn_zip_writer_open(bfn_zip_writer *w, const char *path) {
    memset(w, 0, sizeof *w);
    if ((size_t)snprintf(w->path, sizeof w->path, "%s", path) >= sizeof w->path)
        return bfn_error(BFN_EINVAL, "%s: path too long", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", path, (long)getpid());
    w->f = fopen(w->tmp, "wb");
    if (!w->f) return bfn_error(BFN_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
    return BFN_OK;
}

/* 4 GiB limit of the plain (non-ZIP64) records this writer emits. */
#define ZIP32_MAX 0xFFFFFFFEull

int bfn_zip_writer_add(bfn_zip_writer *w, const char *name, const void *data, uint64_t size) {
    size_t nl = strlen(name);
    /* Pad the local header's extra field (PyTorch's "FB" id) so the data
     * starts on a 64-byte boundary. */
    uint64_t base = w->pos + 30 + nl + 4;
    size_t pad = (size_t)((64 - base % 64) % 64), xl = 4 + pad;
    if (w->pos + 30 + nl + xl + size > ZIP32_MAX || nl > 0xFFFF)
        return bfn_error(BFN_EINVAL, "%s: archive would exceed 4 GiB (ZIP64 output is not supported)", w->path);
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        struct bfn_zip_wentry *ne = realloc(w->e, (size_t)w->cap * sizeof *ne);
        if (!ne) return bfn_error(BFN_ENOMEM, "%s: out of memory", w->path);
        w->e = ne;
    }
    struct bfn_zip_wentry *en = &w->e[w->n++];
    en->name = bfn_xstrdup(name);
    en->offset = w->pos;
    en->size = size;
    en->crc = crc_of(data, size);
    uint8_t h[30 + 4 + 64] = {0};
    put32(h, SIG_LOCAL);
    put16(h + 4, 20);  /* version needed: 2.0 */
    put16(h + 8, 0);   /* stored */
    put16(h + 12, 0x21); /* DOS date 1980-01-01: fixed, so equal inputs give equal files */
    put32(h + 14, en->crc);
    put32(h + 18, (uint32_t)size);
    put32(h + 22, (uint32_t)size);
    put16(h + 26, (uint32_t)nl);
    put16(h + 28, (uint32_t)xl);
    BFN_TRY(wr(w, h, 30));
    BFN_TRY(wr(w, name, nl));
    uint8_t x[4 + 64] = {'F', 'B'};
    put16(x + 2, (uint32_t)pad);
    BFN_TRY(wr(w, x, xl));
    return wr(w, data, size);
}

int bfn_zip_writer_close(bfn_zip_writer *w, int commit) {
    int rc = BFN_OK;
    uint64_t cd_off = w->pos;
    for (int i = 0; commit && rc == BFN_OK && i < w->n; i++) {
        struct bfn_zip_wentry *en = &w->e[i];
        size_t nl = strlen(en->name);
        uint8_t h[46] = {0};
        put32(h, SIG_CENTRAL);
        put16(h + 4, 20);
        put16(h + 6, 20);
        put16(h + 14, 0x21);
        put32(h + 16, en->crc);
        put32(h + 20, (uint32_t)en->size);
        put32(h + 24, (uint32_t)en->size);
        put16(h + 28, (uint32_t)nl);
        put32(h + 42, (uint32_t)en->offset);
        rc = wr(w, h, 46);
        if (rc == BFN_OK) rc = wr(w, en->name, nl);
    }
    if (commit && rc == BFN_OK) {
        if (w->pos + 22 > ZIP32_MAX || w->n > 0xFFFF)
            rc = bfn_error(BFN_EINVAL, "%s: archive would exceed the plain ZIP limits", w->path);
        uint8_t e[22] = {0};
        put32(e, SIG_EOCD);
        put16(e + 8, (uint32_t)w->n);
        put16(e + 10, (uint32_t)w->n);
        put32(e + 12, (uint32_t)(w->pos - cd_off));
        put32(e + 16, (uint32_t)cd_off);
        if (rc == BFN_OK) rc = wr(w, e, 22);
    }
    if (w->f) {
        if (commit && rc == BFN_OK && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
            rc = bfn_error(BFN_EIO, "%s: flush: %s", w->tmp, strerror(errno));
        if (fclose(w->f) != 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: close: %s", w->tmp, strerror(errno));
    }
    if (commit && rc == BFN_OK && rename(w->tmp, w->path) != 0)
        rc = bfn_error(BFN_EIO, "%s: cannot rename %s into place: %s", w->path, w->tmp, strerror(errno));
    if (!commit || rc != BFN_OK) unlink(w->tmp);
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    memset(w, 0, sizeof *w);
    return rc;
}
