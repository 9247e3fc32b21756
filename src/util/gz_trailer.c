/* gz_trailer.c: the gzip trailer check (see gz_trailer.h). */
#include "util/gz_trailer.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int bfn_gz_check_trailer(const char *path, unsigned long crc, unsigned long long total) {
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot reopen: %s", path, strerror(errno));
    unsigned char magic[2], tail[8];
    int rc = BFN_OK;
    if (fread(magic, 1, 2, f) != 2 || magic[0] != 0x1f || magic[1] != 0x8b) {
        fclose(f);
        return BFN_OK; /* not gzip: zlib read it as plain bytes */
    }
    if (fseek(f, -8, SEEK_END) != 0 || fread(tail, 1, 8, f) != 8)
        rc = bfn_error(BFN_ECORRUPT, "%s: gzip file too short for its 8-byte trailer", path);
    fclose(f);
    if (rc != BFN_OK) return rc;
    uint32_t want_crc = le32(tail), want_len = le32(tail + 4);
    if (want_crc != (uint32_t)crc || want_len != (uint32_t)total)
        return bfn_error(BFN_ECORRUPT, "%s: gzip trailer (CRC-32 0x%08lx, length %lu) does not match the data read "
                         "(CRC-32 0x%08lx, length %llu): damaged, or extra bytes after the gzip stream (one "
                         "gzip member is expected)", path, (unsigned long)want_crc, (unsigned long)want_len,
                         (unsigned long)(uint32_t)crc, total);
    return BFN_OK;
}
