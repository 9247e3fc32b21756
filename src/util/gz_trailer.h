/* gz_trailer.h: check a gzip file's trailer against the data read from it.
 *
 * zlib's gzread checks each member's CRC-32 and length, but silently
 * ignores bytes after the last member, so a file whose tail was replaced or
 * appended to still loads. The loaders (IDX, text8) therefore also require
 * that the file's last 8 bytes are the trailer of all the data they read
 * (RFC 1952: CRC-32, then the length mod 2^32, both little-endian): one gzip
 * member, nothing after it. A file without the gzip magic (read by zlib as
 * plain bytes) passes. */
#ifndef BFN_UTIL_GZ_TRAILER_H
#define BFN_UTIL_GZ_TRAILER_H

/* crc: zlib crc32() of every decompressed byte; total: their count. */
int bfn_gz_check_trailer(const char *path, unsigned long crc, unsigned long long total);

#endif
