/* zip.h: the subset of the ZIP format that PyTorch checkpoints use.
 *
 * torch.save (PyTorch >= 1.6) writes a ZIP archive of "stored" (uncompressed)
 * entries, with ZIP64 records when the archive is large. The reader maps the
 * file read-only, walks the central directory, checks that every entry lies
 * inside the file and, when its data is requested, verifies its CRC-32; it
 * also accepts deflated entries (inflated with zlib) so an archive re-zipped
 * by other tools still loads. The writer produces stored entries with their
 * data aligned to 64 bytes (as PyTorch does, so tensors can be mapped in
 * place), written to PATH.tmp and renamed over PATH. Archives of 4 GiB or
 * more are refused by the writer (no ZIP64 records are written). */
#ifndef BFN_STORE_ZIP_H
#define BFN_STORE_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *name;
    uint64_t local_offset; /* offset of the local file header */
    uint64_t size;         /* uncompressed bytes */
    uint64_t csize;        /* compressed bytes */
    uint32_t crc;
    int method;            /* 0 stored, 8 deflated */
    uint8_t *inflated;     /* owned copy of a deflated entry once read */
    int checked;           /* CRC verified */
} bfn_zip_entry;

typedef struct {
    char path[1024];
    const uint8_t *map;
    size_t len;
    int n;
    bfn_zip_entry *e;
} bfn_zip;

/* Map and index the archive. A truncated or damaged file is BFN_ECORRUPT
 * naming it; a missing file BFN_EIO. */
int bfn_zip_open(const char *path, bfn_zip *z);
/* Index of the entry called name, or -1. */
int bfn_zip_find(const bfn_zip *z, const char *name);
/* The bytes of entry i (CRC-checked once); valid until bfn_zip_close. */
int bfn_zip_data(bfn_zip *z, int i, const uint8_t **data, uint64_t *size);
void bfn_zip_close(bfn_zip *z);

typedef struct {
    char path[1024], tmp[1100];
    FILE *f;
    uint64_t pos;
    int n, cap;
    struct bfn_zip_wentry { char *name; uint64_t offset, size; uint32_t crc; } *e;
} bfn_zip_writer;

int bfn_zip_writer_open(bfn_zip_writer *w, const char *path);
/* Append a stored entry whose data starts at a multiple of 64 bytes. */
int bfn_zip_writer_add(bfn_zip_writer *w, const char *name, const void *data, uint64_t size);
/* Write the central directory, fsync and rename into place (commit = 1), or
 * remove the temporary file (commit = 0). Frees the writer either way. */
int bfn_zip_writer_close(bfn_zip_writer *w, int commit);

#endif
