/* file_digest.h: SHA-256 of a file's contents, cached per process by
 * (device, inode, size, modification time), so a run key that names a
 * large data file hashes it once however often the key is computed. A file
 * replaced or edited in place gets a new size or mtime and is hashed again. */
#ifndef BFN_UTIL_FILE_DIGEST_H
#define BFN_UTIL_FILE_DIGEST_H

#include <stdint.h>

/* SHA-256 of the file's bytes now (no cache): BFN_OK with the 32-byte
 * digest, or BFN_EIO naming the file. */
int bfn_file_digest(const char *path, uint8_t digest[32]);
/* The same through the per-process cache. */
int bfn_file_digest_cached(const char *path, uint8_t digest[32]);

#endif
