/* idx.c: LeCun's IDX format (MNIST, Fashion-MNIST), plain or gzip.
 *
 * Layout: 4-byte magic 0x00 0x00 TYPE NDIMS, then NDIMS big-endian uint32
 * sizes, then the values. We accept only TYPE 0x08 (unsigned byte): images
 * are idx3 (n, h, w), magic 0x00000803; labels idx1 (n), magic 0x00000801.
 * zlib's gzread reads a plain file transparently, so one code path serves
 * "train-images-idx3-ubyte" and "train-images-idx3-ubyte.gz". */
#include "data/images.h"
#include "util/atomic_file.h"
#include "util/err.h"
#include "util/gz_trailer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { IDX_TYPE_UBYTE = 0x08, IDX_MAX_SIDE = 65535 };

/* Read up to n bytes; returns the count read (short only at end of file) or
 * a negative BFN code with the error recorded. *crc accumulates the CRC-32
 * of everything read (for the trailer check). */
static long gz_read_full(gzFile g, const char *path, void *buf, size_t n, uLong *crc) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (1u << 30)) want = 1u << 30; /* gzread takes an unsigned int */
        int r = gzread(g, (char *)buf + got, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(g, &zerr);
            if (zerr == Z_ERRNO) return bfn_error(BFN_EIO, "%s: read error: %s", path, strerror(errno));
            return bfn_error(BFN_ECORRUPT, "%s: gzip error: %s", path, msg);
        }
        if (r == 0) break;
        *crc = crc32(*crc, (const Bytef *)buf + got, (uInt)r);
        got += (size_t)r;
    }
    return (long)got;
}

/* Count the bytes left until end of file (for the "trailing bytes" check). */
static long gz_count_rest(gzFile g, const char *path, uLong *crc) {
    char scratch[1 << 14];
    long total = 0, r;
    while ((r = gz_read_full(g, path, scratch, sizeof scratch, crc)) > 0) total += r;
    return r < 0 ? r : total;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Describe a header for error messages: "N images of HxW" or "N labels". */
static void describe(char *buf, size_t len, int ndims, const uint32_t *dims) {
    if (ndims == 3)
        snprintf(buf, len, "%lu images of %lux%lu", (unsigned long)dims[0], (unsigned long)dims[1],
                 (unsigned long)dims[2]);
    else
        snprintf(buf, len, "%lu labels", (unsigned long)dims[0]);
}

/* Read one IDX file whose magic must be 0x000008<ndims>. On success *data
 * holds exactly the product of dims bytes (caller frees). The payload buffer
 * grows with the data actually read, so a corrupted header claiming
 * terabytes fails as "file has M bytes" rather than as an allocation. */
static int idx_read(const char *path, int ndims, uint32_t dims[3], uint8_t **data) {
    *data = NULL;
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 16);

    int rc = BFN_OK;
    uint8_t *buf = NULL;
    uint8_t header[4 + 4 * 3];
    size_t header_len = 4 + 4 * (size_t)ndims;
    uLong crc = crc32(0L, Z_NULL, 0);
    unsigned long long total_read = 0;
    long got = gz_read_full(g, path, header, 4, &crc);
    if (got < 0) { rc = (int)got; goto done; }
    if (got < 4) {
        rc = bfn_error(BFN_ECORRUPT, "%s: file has %ld bytes, too short for an IDX header", path, got);
        goto done;
    }
    if (header[0] != 0 || header[1] != 0) {
        rc = bfn_error(BFN_ECORRUPT, "%s: not an IDX file (magic 0x%08lx, expected 0x%08x)", path,
                       (unsigned long)be32(header), 0x800 | ndims);
        goto done;
    }
    if (header[2] != IDX_TYPE_UBYTE) {
        rc = bfn_error(BFN_ECORRUPT, "%s: IDX data type 0x%02x is not unsigned byte (0x08)", path, header[2]);
        goto done;
    }
    if (header[3] != ndims) {
        rc = bfn_error(BFN_ECORRUPT, "%s: IDX magic 0x%08lx has %d dimensions, expected 0x%08x (%s)", path,
                       (unsigned long)be32(header), header[3], 0x800 | ndims,
                       ndims == 3 ? "images: n, height, width" : "labels: n");
        goto done;
    }
    got = gz_read_full(g, path, header + 4, header_len - 4, &crc);
    if (got < 0) { rc = (int)got; goto done; }
    if ((size_t)got < header_len - 4) {
        rc = bfn_error(BFN_ECORRUPT, "%s: file has %ld bytes, too short for its %zu-byte IDX header", path,
                       got + 4, header_len);
        goto done;
    }
    uint64_t payload = 1;
    for (int d = 0; d < ndims; d++) {
        dims[d] = be32(header + 4 + 4 * d);
        payload *= dims[d];
    }
    char what[96];
    describe(what, sizeof what, ndims, dims);
    if (dims[0] == 0 || dims[0] > INT_MAX) {
        rc = bfn_error(BFN_ECORRUPT, "%s: header says %s (count must be 1..%d)", path, what, INT_MAX);
        goto done;
    }
    if (ndims == 3 && (dims[1] == 0 || dims[2] == 0 || dims[1] > IDX_MAX_SIDE || dims[2] > IDX_MAX_SIDE)) {
        rc = bfn_error(BFN_ECORRUPT, "%s: header says %s (sides must be 1..%d)", path, what, IDX_MAX_SIDE);
        goto done;
    }

    size_t cap = payload < (1u << 20) ? (size_t)payload : (1u << 20), have = 0;
    buf = malloc(cap);
    if (!buf) { rc = bfn_error(BFN_ENOMEM, "%s: out of memory", path); goto done; }
    while (have < payload) {
        if (have == cap) {
            size_t ncap = cap * 2 < payload ? cap * 2 : (size_t)payload;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) { rc = bfn_error(BFN_ENOMEM, "%s: out of memory", path); goto done; }
            buf = nbuf;
            cap = ncap;
        }
        got = gz_read_full(g, path, buf + have, cap - have, &crc);
        if (got < 0) { rc = (int)got; goto done; }
        have += (size_t)got;
        if (have < cap) break; /* end of file */
    }
    long rest = gz_count_rest(g, path, &crc);
    if (rest < 0) { rc = (int)rest; goto done; }
    total_read = header_len + have + (unsigned long long)rest;
    if (have != payload || rest != 0) {
        rc = bfn_error(BFN_ECORRUPT, "%s: header says %s but file has %llu bytes (expected %llu)", path, what,
                       (unsigned long long)(header_len + have + (size_t)rest),
                       (unsigned long long)(header_len + payload));
        goto done;
    }
done:;
    int zrc = gzclose_r(g);
    if (rc == BFN_OK && zrc == Z_BUF_ERROR)
        rc = bfn_error(BFN_ECORRUPT, "%s: gzip stream ends early (file truncated?)", path);
    else if (rc == BFN_OK && zrc != Z_OK)
        rc = bfn_error(BFN_EIO, "%s: error closing file (zlib code %d)", path, zrc);
    if (rc == BFN_OK) rc = bfn_gz_check_trailer(path, crc, total_read);
    if (rc != BFN_OK) {
        free(buf);
        return rc;
    }
    *data = buf;
    return BFN_OK;
}

/* Load IDX images (and labels if labels_path is not NULL); see images.h. */
int bfn_idx_load(const char *images_path, const char *labels_path, bfn_images *out) {
    memset(out, 0, sizeof *out);
    uint32_t idims[3], ldims[3];
    uint8_t *pixels, *labels = NULL;
    BFN_TRY(idx_read(images_path, 3, idims, &pixels));
    if (labels_path) {
        int rc = idx_read(labels_path, 1, ldims, &labels);
        if (rc != BFN_OK) {
            free(pixels);
            return rc;
        }
        if (ldims[0] != idims[0]) {
            free(pixels);
            free(labels);
            return bfn_error(BFN_ECORRUPT, "%s: has %lu labels but %s has %lu images", labels_path,
                             (unsigned long)ldims[0], images_path, (unsigned long)idims[0]);
        }
    }
    out->n = (int)idims[0];
    out->channels = 1;
    out->height = (int)idims[1];
    out->width = (int)idims[2];
    out->pixels = pixels;
    out->labels = labels;
    return BFN_OK;
}

/* Write one uncompressed IDX file atomically, so a reader never sees a
 * half-written cache file. */
static int idx_write(const char *path, int ndims, const uint32_t *dims, const uint8_t *data, size_t n) {
    uint8_t header[4 + 4 * 3] = {0, 0, IDX_TYPE_UBYTE, (uint8_t)ndims};
    for (int d = 0; d < ndims; d++)
        for (int b = 0; b < 4; b++) header[4 + 4 * d + b] = (uint8_t)(dims[d] >> (24 - 8 * b));
    return bfn_atomic_write(path, header, 4 + 4 * (size_t)ndims, data, n);
}

/* Save single-channel images (and labels when labels_path is given) as
 * uncompressed IDX; see images.h. */
int bfn_idx_save(const char *images_path, const char *labels_path, const bfn_images *im) {
    if (im->channels != 1)
        return bfn_error(BFN_EINVAL, "%s: IDX holds 1-channel images, got %d channels", images_path, im->channels);
    if (im->n <= 0 || im->height <= 0 || im->width <= 0 || im->height > IDX_MAX_SIDE || im->width > IDX_MAX_SIDE)
        return bfn_error(BFN_EINVAL, "%s: cannot save %d images of %dx%d", images_path, im->n, im->height,
                         im->width);
    if (labels_path && !im->labels)
        return bfn_error(BFN_EINVAL, "%s: no labels to save", labels_path);
    uint32_t dims[3] = {(uint32_t)im->n, (uint32_t)im->height, (uint32_t)im->width};
    BFN_TRY(idx_write(images_path, 3, dims, im->pixels, (size_t)im->n * (size_t)bfn_images_dim(im)));
    if (labels_path) BFN_TRY(idx_write(labels_path, 1, dims, im->labels, (size_t)im->n));
    return BFN_OK;
}
