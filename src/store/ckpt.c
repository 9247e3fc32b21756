/* ckpt.c: HDF5 checkpoints for exact resume (layout in ckpt.h).
 *
 * Integrity: the file uses the HDF5 1.10 object formats (libver bounds
 * V110..latest; readers need HDF5 >= 1.10), whose superblock and object
 * headers carry checksums, and every dataset is stored as one chunk with the
 * Fletcher-32 filter, which HDF5 verifies on read. With one chunk, the 1.10
 * format keeps the chunk's address inside the checksummed object header
 * (the 1.8 format uses an unchecksummed B-tree node, where a flipped byte
 * loaded wrong data silently: tests/test_ckpt.c's byte-flip sweep found it).
 * The config text, which HDF5 stores without a checksum when it exceeds
 * 64 KiB, is checked against the config_sha256 attribute. So a truncated
 * file, a flipped metadata byte and a flipped tensor byte all fail to load
 * (BFN_ECORRUPT) instead of resuming from garbage. Modification times are not recorded (obj_track_times off),
 * so saving the same state twice gives byte-identical files.
 *
 * Atomicity: build the file in memory, write its image to PATH.tmp, fsync
 * it, rename over PATH, fsync the directory: after a crash PATH is either
 * the old or the new checkpoint.
 *
 * HDF5 prints error stacks to stderr by default; library code must not
 * print, so h5_init() switches that off and h5_reason() turns the innermost
 * error of the stack into text for our own message. */
#include "store/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/file_digest.h"

#define FORMAT_NAME "bfn-harness-checkpoint"
#define ITEM_MAX 256

/* The four tensor groups, in file order. */
enum { G_PARAMS, G_EMA, G_ADAM_M, G_ADAM_V, G_COUNT };
static const char *const group_path[G_COUNT] = {"/model/params", "/model/ema", "/optim/adam_m", "/optim/adam_v"};

/* Silence HDF5's automatic error printing (once per process). */
static void h5_init(void) {
    static int done;
    if (done) return;
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
}

/* H5Ewalk2 callback: keep the description of the first (innermost) frame. */
static herr_t first_error(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0 && e->desc) snprintf((char *)data, 200, "%s", e->desc);
    return 0;
}

/* The innermost HDF5 error message (static buffer); clears the stack.
 * Never blank: without an HDF5 message it falls back on errno, which is
 * what a failed open or write left behind. */
static const char *h5_reason(void) {
    static char buf[200];
    int saved = errno;
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, buf);
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0])
        snprintf(buf, sizeof buf, "HDF5 gave no reason (last system error: %s)", saved ? strerror(saved) : "none");
    return buf;
}

static void close_attr(hid_t a) { if (a >= 0) H5Aclose(a); }
static void close_type(hid_t t) { if (t >= 0) H5Tclose(t); }
static void close_space(hid_t s) { if (s >= 0) H5Sclose(s); }
static void close_plist(hid_t p) { if (p >= 0) H5Pclose(p); }
static void close_dset(hid_t d) { if (d >= 0) H5Dclose(d); }
static void close_group(hid_t g) { if (g >= 0) H5Gclose(g); }

/* ---- writing --------------------------------------------------------------- */

/* Scalar fixed-length NUL-terminated string attribute (NULL stored as ""). */
static int put_str_attr(hid_t loc, const char *name, const char *s) {
    if (!s) s = "";
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), a = -1;
    int ok = t >= 0 && sp >= 0 && H5Tset_size(t, strlen(s) + 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 &&
             (a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 && H5Awrite(a, t, s) >= 0;
    close_attr(a);
    close_space(sp);
    close_type(t);
    return ok ? 0 : -1;
}

/* Scalar numeric attribute: file type ftype, memory type mtype. */
static int put_num_attr(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    int ok = sp >= 0 && (a = H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
             H5Awrite(a, mtype, v) >= 0;
    close_attr(a);
    close_space(sp);
    return ok ? 0 : -1;
}

/* Create group `name` under loc without modification times. */
static hid_t make_group(hid_t loc, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE), g = -1;
    if (gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0) g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    close_plist(gcpl);
    return g;
}

/* Write a dataset of ndim dims as one Fletcher-32-checked chunk (contiguous
 * and unchecked only if it is too large for one chunk: >= 4 GiB). */
static int put_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                       const void *data) {
    hsize_t bytes = H5Tget_size(ftype);
    for (int d = 0; d < ndim; d++) bytes *= dims[d];
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), sp = -1, ds = -1;
    int ok = dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0;
    if (ok && bytes > 0 && bytes < ((hsize_t)1 << 32) - 1)
        ok = H5Pset_chunk(dcpl, ndim, dims) >= 0 && H5Pset_fletcher32(dcpl) >= 0;
    ok = ok && (sp = H5Screate_simple(ndim, dims, NULL)) >= 0 &&
         (ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) >= 0 &&
         H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0;
    close_dset(ds);
    close_space(sp);
    close_plist(dcpl);
    return ok ? 0 : -1;
}

/* sha256 of a NUL-terminated string as hex into digest; returns digest. */
static const char *text_sha256(const char *s, char digest[SHA256_DIGEST_STRING_LENGTH]) {
    SHA2_CTX ctx;
    SHA256Init(&ctx);
    SHA256Update(&ctx, (const uint8_t *)s, strlen(s));
    return SHA256End(&ctx, digest);
}

/* Root and /state attributes. A config longer than 64 KiB is stored by
 * HDF5 as a "huge" heap object without a checksum, so config_sha256 (a
 * small, checksummed attribute) lets the loader detect a damaged config. */
static int write_header(hid_t file, const bfn_ckpt *c, const char *tmp) {
    int version = BFN_CKPT_VERSION;
    char digest[SHA256_DIGEST_STRING_LENGTH];
    if (put_str_attr(file, "format", FORMAT_NAME) < 0 ||
        put_num_attr(file, "version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) < 0 ||
        put_str_attr(file, "run_key", c->run_key) < 0 || put_str_attr(file, "git_commit", c->git_commit) < 0 ||
        put_str_attr(file, "config", c->config) < 0 ||
        put_str_attr(file, "config_sha256", text_sha256(c->config ? c->config : "", digest)) < 0)
        return bfn_error(BFN_EIO, "%s: writing root attributes: %s", tmp, h5_reason());
    for (int i = 0; i < c->n_attr; i++)
        if (put_str_attr(file, c->attr_name[i], c->attr_value[i]) < 0)
            return bfn_error(BFN_EIO, "%s: writing root attribute %s: %s", tmp, c->attr_name[i], h5_reason());
    hid_t g = make_group(file, "state");
    int ok = g >= 0 && put_num_attr(g, "step", H5T_STD_I64LE, H5T_NATIVE_LONG, &c->step) >= 0 &&
             put_num_attr(g, "best_val", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &c->best_val) >= 0 &&
             put_num_attr(g, "best_step", H5T_STD_I64LE, H5T_NATIVE_LONG, &c->best_step) >= 0 &&
             put_num_attr(g, "data_epoch", H5T_STD_I64LE, H5T_NATIVE_LONG, &c->data_epoch) >= 0 &&
             put_num_attr(g, "data_pos", H5T_STD_I64LE, H5T_NATIVE_LONG, &c->data_pos) >= 0 &&
             put_num_attr(g, "data_seed", H5T_STD_U64LE, H5T_NATIVE_ULONG, &c->data_seed) >= 0 &&
             put_num_attr(g, "log_loss_sum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &c->log_loss_sum) >= 0 &&
             put_num_attr(g, "log_grad_norm_sum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &c->log_grad_norm_sum) >= 0 &&
             put_num_attr(g, "log_count", H5T_STD_I64LE, H5T_NATIVE_LONG, &c->log_count) >= 0;
    close_group(g);
    return ok ? BFN_OK : bfn_error(BFN_EIO, "%s: writing /state: %s", tmp, h5_reason());
}

/* One float32 dataset per tensor of the layout under group path gp. */
static int write_tensors(hid_t file, const char *gp, const bfn_param_layout *l, const float *buf, const char *tmp) {
    hid_t g = make_group(file, gp);
    if (g < 0) return bfn_error(BFN_EIO, "%s: creating %s: %s", tmp, gp, h5_reason());
    for (int i = 0; i < l->n_tensors; i++) {
        const bfn_tensor_info *t = &l->t[i];
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        if (put_dataset(g, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, buf + t->offset) < 0) {
            close_group(g);
            return bfn_error(BFN_EIO, "%s: writing %s/%s: %s", tmp, gp, t->name, h5_reason());
        }
    }
    close_group(g);
    return BFN_OK;
}

/* /optim attributes, /rng streams and the groups holding the tensors. */
static int write_body(hid_t file, const bfn_ckpt *c, const char *tmp) {
    hid_t g = make_group(file, "model");
    close_group(g);
    if (g < 0) return bfn_error(BFN_EIO, "%s: creating /model: %s", tmp, h5_reason());
    g = make_group(file, "optim");
    const bfn_adamw_cfg *a = &c->adam;
    int ok = g >= 0 && put_num_attr(g, "lr", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &a->lr) >= 0 &&
             put_num_attr(g, "beta1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &a->beta1) >= 0 &&
             put_num_attr(g, "beta2", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &a->beta2) >= 0 &&
             put_num_attr(g, "eps", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &a->eps) >= 0 &&
             put_num_attr(g, "weight_decay", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &a->weight_decay) >= 0 &&
             put_num_attr(g, "ema_decay", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &a->ema_decay) >= 0;
    close_group(g);
    if (!ok) return bfn_error(BFN_EIO, "%s: writing /optim: %s", tmp, h5_reason());

    const float *bufs[G_COUNT] = {c->params, c->ema, c->adam_m, c->adam_v};
    for (int k = 0; k < G_COUNT; k++)
        if (bufs[k]) BFN_TRY(write_tensors(file, group_path[k], c->layout, bufs[k], tmp));

    g = make_group(file, "rng");
    if (g < 0) return bfn_error(BFN_EIO, "%s: creating /rng: %s", tmp, h5_reason());
    for (int i = 0; i < c->n_rng; i++) {
        hsize_t n = gsl_rng_size(c->rng[i]);
        hid_t ds = -1;
        ok = put_dataset(g, c->rng_name[i], H5T_STD_U8LE, H5T_NATIVE_UCHAR, 1, &n, gsl_rng_state(c->rng[i])) >= 0 &&
             (ds = H5Dopen2(g, c->rng_name[i], H5P_DEFAULT)) >= 0 &&
             put_str_attr(ds, "generator", gsl_rng_name(c->rng[i])) >= 0;
        close_dset(ds);
        if (!ok) {
            close_group(g);
            return bfn_error(BFN_EIO, "%s: writing /rng/%s: %s", tmp, c->rng_name[i], h5_reason());
        }
    }
    close_group(g);
    return BFN_OK;
}

/* Check what save and load both rely on: a layout whose shapes match the
 * sizes, names usable as HDF5 link names, RNG streams present and distinct. */
static int check_ckpt(const char *path, const bfn_ckpt *c) {
    if (!c || !c->layout) return bfn_error(BFN_EINVAL, "%s: checkpoint without a parameter layout", path);
    const bfn_param_layout *l = c->layout;
    for (int i = 0; i < l->n_tensors; i++) {
        const bfn_tensor_info *t = &l->t[i];
        size_t size = 1;
        if (t->ndim < 1 || t->ndim > 4) return bfn_error(BFN_EINVAL, "%s: tensor %s has ndim %d", path, t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++) size *= (size_t)(t->shape[d] > 0 ? t->shape[d] : 0);
        if (size != t->size || t->offset + t->size > l->n)
            return bfn_error(BFN_EINVAL, "%s: tensor %s: shape does not match size/offset", path, t->name);
        if (!t->name[0] || strchr(t->name, '/') || strcmp(t->name, ".") == 0)
            return bfn_error(BFN_EINVAL, "%s: tensor name '%s' cannot be an HDF5 name", path, t->name);
    }
    if (c->n_attr < 0 || c->n_attr > BFN_CKPT_MAX_ATTR)
        return bfn_error(BFN_EINVAL, "%s: %d extra attributes (at most %d)", path, c->n_attr, BFN_CKPT_MAX_ATTR);
    if (c->n_rng < 0 || c->n_rng > BFN_CKPT_MAX_RNG)
        return bfn_error(BFN_EINVAL, "%s: %d RNG streams (at most %d)", path, c->n_rng, BFN_CKPT_MAX_RNG);
    for (int i = 0; i < c->n_rng; i++) {
        const char *nm = c->rng_name[i];
        if (!c->rng[i] || !nm || !nm[0] || strchr(nm, '/') || strcmp(nm, ".") == 0)
            return bfn_error(BFN_EINVAL, "%s: RNG stream %d has no generator or an unusable name", path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(c->rng_name[j], nm) == 0) return bfn_error(BFN_EINVAL, "%s: RNG stream '%s' twice", path, nm);
    }
    return BFN_OK;
}

/* fsync a file or directory by path. */
static int fsync_path(const char *p, int dir) {
    int fd = open(p, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Directory part of path ("." if none) into buf. */
static void dir_of(const char *path, char *buf, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, n, ".");
    else if (slash == path) snprintf(buf, n, "/");
    else snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

/* Bob Jenkins' lookup3 hashlittle() (public domain), byte-wise: the
 * checksum HDF5 puts on its version 2/3 superblock. */
#define ROT32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static uint32_t lookup3(const unsigned char *k, size_t length, uint32_t initval) {
    uint32_t a, b, c;
    a = b = c = 0xdeadbeef + (uint32_t)length + initval;
    while (length > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c; a ^= ROT32(c, 4); c += b;
        b -= a; b ^= ROT32(a, 6); a += c;
        c -= b; c ^= ROT32(b, 8); b += a;
        a -= c; a ^= ROT32(c, 16); c += b;
        b -= a; b ^= ROT32(a, 19); a += c;
        c -= b; c ^= ROT32(b, 4); b += a;
        length -= 12;
        k += 12;
    }
    switch (length) { /* the last 1..12 bytes; every case falls through */
    case 12: c += (uint32_t)k[11] << 24; /* fall through */
    case 11: c += (uint32_t)k[10] << 16; /* fall through */
    case 10: c += (uint32_t)k[9] << 8; /* fall through */
    case 9: c += k[8]; /* fall through */
    case 8: b += (uint32_t)k[7] << 24; /* fall through */
    case 7: b += (uint32_t)k[6] << 16; /* fall through */
    case 6: b += (uint32_t)k[5] << 8; /* fall through */
    case 5: b += k[4]; /* fall through */
    case 4: a += (uint32_t)k[3] << 24; /* fall through */
    case 3: a += (uint32_t)k[2] << 16; /* fall through */
    case 2: a += (uint32_t)k[1] << 8; /* fall through */
    case 1: a += k[0]; break;
    case 0: return c;
    }
    c ^= b; c -= ROT32(b, 14);
    a ^= c; a -= ROT32(c, 11);
    b ^= a; b -= ROT32(a, 25);
    c ^= b; c -= ROT32(b, 16);
    a ^= c; a -= ROT32(c, 4);
    b ^= a; b -= ROT32(a, 14);
    c ^= b; c -= ROT32(b, 24);
    return c;
}

/* HDF5 1.10's H5Fget_file_image clears the superblock's "open for writing"
 * flags in the image but leaves the checksum computed with them set, so the
 * image does not open. Recompute it: superblock version 2/3 is signature
 * (8), version, offset size, length size, flags (4 bytes), four addresses
 * of `offset size` bytes, then the lookup3 checksum of all that. */
static int fix_superblock_checksum(unsigned char *img, size_t n, const char *tmp) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (n < 12 || memcmp(img, sig, 8) != 0 || (img[8] != 2 && img[8] != 3))
        return bfn_error(BFN_EIO, "%s: unexpected HDF5 superblock in the checkpoint image", tmp);
    size_t body = 12 + 4 * (size_t)img[9];
    if (img[9] < 2 || img[9] > 8 || body + 4 > n)
        return bfn_error(BFN_EIO, "%s: unexpected HDF5 superblock in the checkpoint image", tmp);
    uint32_t sum = lookup3(img, body, 0);
    for (int i = 0; i < 4; i++) img[body + (size_t)i] = (unsigned char)(sum >> (8 * i));
    return BFN_OK;
}

/* Write all n bytes of buf to a new file tmp and fsync it. On failure tmp is
 * removed and the message carries the system's reason (ENOSPC, EFBIG, ...). */
static int write_image(const char *tmp, const unsigned char *buf, size_t n) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return bfn_error(BFN_EIO, "%s: cannot create checkpoint: %s", tmp, strerror(errno));
    const char *what = NULL;
    for (size_t done = 0; done < n && !what;) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w > 0) done += (size_t)w;
        else if (w < 0 && errno == EINTR) continue;
        else what = "writing checkpoint";
    }
    if (!what && fsync(fd) < 0) what = "fsync";
    int saved = errno;
    if (close(fd) < 0 && !what) {
        what = "closing checkpoint";
        saved = errno;
    }
    if (!what) return BFN_OK;
    unlink(tmp);
    return bfn_error(BFN_EIO, "%s: %s: %s", tmp, what, saved ? strerror(saved) : "short write");
}

/* Memory the core driver grows by: the whole checkpoint at once (tensors,
 * RNG states, config, 1 MiB for metadata), so building it never reallocates
 * and copies the image (with 1 MiB steps a 55 MB checkpoint took 1.75x the
 * time of writing it with HDF5's file driver). */
static size_t core_increment(const bfn_ckpt *c) {
    const float *bufs[G_COUNT] = {c->params, c->ema, c->adam_m, c->adam_v};
    size_t bytes = (size_t)1 << 20;
    for (int k = 0; k < G_COUNT; k++)
        if (bufs[k]) bytes += c->layout->n * sizeof(float);
    for (int i = 0; i < c->n_rng; i++) bytes += gsl_rng_size(c->rng[i]);
    return bytes + (c->config ? strlen(c->config) : 0);
}

/* Build the checkpoint in memory (HDF5's core driver, no backing store),
 * write its image to PATH.tmp, fsync, rename over PATH and fsync the
 * directory. Only our own write() touches the disk, so a full disk is an
 * ordinary error with errno's text: with HDF5 writing the file itself, a
 * failed H5Fclose left the file open inside the library, which then crashed
 * at exit trying to flush it again. On failure PATH is untouched and
 * PATH.tmp removed. */
int bfn_ckpt_save(const char *path, const bfn_ckpt *c) {
    BFN_TRY(check_ckpt(path, c));
    h5_init();
    char tmp[PATH_MAX], dir[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return bfn_error(BFN_EINVAL, "%s: path too long", path);
    dir_of(path, dir, sizeof dir);

    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS), file = -1;
    /* fcpl is also the root group's creation list: no times there either. */
    if (fcpl >= 0 && fapl >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0 &&
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST) >= 0 &&
        H5Pset_fapl_core(fapl, core_increment(c), 0) >= 0)
        file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    close_plist(fcpl);
    close_plist(fapl);
    if (file < 0) return bfn_error(BFN_EIO, "%s: cannot create checkpoint in memory: %s", tmp, h5_reason());

    int rc = write_header(file, c, tmp);
    if (rc == BFN_OK) rc = write_body(file, c, tmp);
    if (rc == BFN_OK && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
        rc = bfn_error(BFN_EIO, "%s: flushing checkpoint: %s", tmp, h5_reason());
    unsigned char *image = NULL;
    ssize_t size = rc == BFN_OK ? H5Fget_file_image(file, NULL, 0) : -1;
    if (rc == BFN_OK && size <= 0) rc = bfn_error(BFN_EIO, "%s: reading the checkpoint image: %s", tmp, h5_reason());
    if (rc == BFN_OK) {
        image = bfn_xmalloc((size_t)size);
        if (H5Fget_file_image(file, image, (size_t)size) != size)
            rc = bfn_error(BFN_EIO, "%s: reading the checkpoint image: %s", tmp, h5_reason());
    }
    if (H5Fclose(file) < 0 && rc == BFN_OK) rc = bfn_error(BFN_EIO, "%s: closing checkpoint: %s", tmp, h5_reason());
    if (rc == BFN_OK) rc = fix_superblock_checksum(image, (size_t)size, tmp);
    if (rc == BFN_OK) rc = write_image(tmp, image, (size_t)size);
    free(image);
    if (rc == BFN_OK && rename(tmp, path) < 0)
        rc = bfn_error(BFN_EIO, "%s: renaming %s into place: %s", path, tmp, strerror(errno));
    if (rc != BFN_OK) {
        unlink(tmp);
        return rc;
    }
    if (fsync_path(dir, 1) < 0) return bfn_error(BFN_EIO, "%s: fsync of directory: %s", dir, strerror(errno));
    return BFN_OK;
}

/* ---- reading --------------------------------------------------------------- */

/* 1 if every prefix of the absolute path item exists as a link in file
 * (H5Lexists on "/a/b/c" needs "/a/b" to exist). */
static int item_exists(hid_t file, const char *item) {
    char buf[ITEM_MAX];
    snprintf(buf, sizeof buf, "%s", item);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            int e = H5Lexists(file, buf, H5P_DEFAULT) > 0;
            *p = saved;
            if (!e) return 0;
            if (saved == '\0') return 1;
        }
    }
}

/* Read a scalar string attribute (fixed or variable length) into a malloc'd
 * string. -1 if missing, not a single string or unreadable. */
static int get_str_attr(hid_t loc, const char *name, char **out) {
    *out = NULL;
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = -1, sp = -1, mt = -1;
    int ok = a >= 0 && (ft = H5Aget_type(a)) >= 0 && H5Tget_class(ft) == H5T_STRING &&
             (sp = H5Aget_space(a)) >= 0 && H5Sget_simple_extent_npoints(sp) == 1 && (mt = H5Tcopy(H5T_C_S1)) >= 0;
    if (ok && H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        ok = H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &v) >= 0 && v;
        if (ok) *out = bfn_xstrdup(v);
        if (v) H5free_memory(v);
    } else if (ok) {
        size_t n = H5Tget_size(ft);
        char *v = bfn_xmalloc(n + 1);
        ok = n > 0 && H5Tset_size(mt, n) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLTERM) >= 0 && H5Aread(a, mt, v) >= 0;
        v[n] = '\0';
        if (ok) *out = v;
        else free(v);
    }
    close_type(mt);
    close_space(sp);
    close_type(ft);
    close_attr(a);
    return ok ? 0 : -1;
}

/* Read a scalar numeric attribute of class cls (integer or float) as mtype. */
static int get_num_attr(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *out) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = -1, sp = -1;
    int ok = a >= 0 && (ft = H5Aget_type(a)) >= 0 && H5Tget_class(ft) == cls && (sp = H5Aget_space(a)) >= 0 &&
             H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, mtype, out) >= 0;
    close_space(sp);
    close_type(ft);
    close_attr(a);
    return ok ? 0 : -1;
}

/* Open dataset `item` and check it has class cls, element size esize and
 * exactly the dims given. Returns the open dataset or a negative BFN code. */
static hid_t open_checked(hid_t file, const char *path, const char *item, H5T_class_t cls, size_t esize, int ndim,
                          const hsize_t *dims) {
    if (!item_exists(file, item)) return bfn_error(BFN_ECORRUPT, "%s: missing %s", path, item);
    hid_t ds = H5Dopen2(file, item, H5P_DEFAULT), ft = -1, sp = -1;
    if (ds < 0) return bfn_error(BFN_ECORRUPT, "%s: %s is not a readable dataset: %s", path, item, h5_reason());
    int type_ok = (ft = H5Dget_type(ds)) >= 0 && H5Tget_class(ft) == cls && H5Tget_size(ft) == esize;
    hsize_t got[H5S_MAX_RANK];
    int got_ndim = (sp = H5Dget_space(ds)) >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    int shape_ok = got_ndim == ndim && got_ndim <= H5S_MAX_RANK && H5Sget_simple_extent_dims(sp, got, NULL) == ndim;
    for (int d = 0; shape_ok && d < ndim; d++) shape_ok = got[d] == dims[d];
    close_space(sp);
    close_type(ft);
    if (type_ok && shape_ok) return ds;
    close_dset(ds);
    if (!type_ok) return bfn_error(BFN_ECORRUPT, "%s: %s has the wrong element type", path, item);
    char want[64] = "", have[64] = "";
    for (int d = 0; d < ndim; d++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%llu", d ? "," : "", (unsigned long long)dims[d]);
    for (int d = 0; d < got_ndim && d < H5S_MAX_RANK && got_ndim <= H5S_MAX_RANK; d++)
        snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", d ? "," : "", (unsigned long long)got[d]);
    return bfn_error(BFN_ECORRUPT, "%s: %s has shape [%s], expected [%s]", path, item, have, want);
}

/* Number of links in group gp, or -1. */
static long group_links(hid_t file, const char *gp) {
    hid_t g = H5Gopen2(file, gp, H5P_DEFAULT);
    if (g < 0) return -1;
    H5G_info_t info;
    long n = H5Gget_info(g, &info) >= 0 ? (long)info.nlinks : -1;
    close_group(g);
    return n;
}

/* Check (read = 0) or read (read = 1) every tensor of one group into buf. */
static int tensors_pass(hid_t file, const char *path, const char *gp, const bfn_param_layout *l, float *buf, int read) {
    for (int i = 0; i < l->n_tensors; i++) {
        const bfn_tensor_info *t = &l->t[i];
        char item[ITEM_MAX];
        snprintf(item, sizeof item, "%s/%s", gp, t->name);
        hsize_t dims[4];
        for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
        hid_t ds = open_checked(file, path, item, H5T_FLOAT, 4, t->ndim, dims);
        if (ds < 0) return (int)ds;
        int ok = !read || H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf + t->offset) >= 0;
        close_dset(ds);
        if (!ok) return bfn_error(BFN_ECORRUPT, "%s: reading %s: %s", path, item, h5_reason());
    }
    if (!read) {
        long n = group_links(file, gp);
        if (n != l->n_tensors)
            return bfn_error(BFN_ECORRUPT, "%s: %s holds %ld tensors, the model has %d (different model?)", path, gp,
                             n, l->n_tensors);
    }
    return BFN_OK;
}

/* Generator name stored with RNG stream `item` must be gsl_rng_name(r). */
static int check_generator(hid_t file, const char *path, const char *item, const gsl_rng *r) {
    if (!item_exists(file, item)) return bfn_error(BFN_ECORRUPT, "%s: missing %s", path, item);
    hid_t ds = H5Dopen2(file, item, H5P_DEFAULT);
    if (ds < 0) return bfn_error(BFN_ECORRUPT, "%s: %s is not a readable dataset: %s", path, item, h5_reason());
    char *gen = NULL;
    int rc = BFN_OK;
    if (get_str_attr(ds, "generator", &gen) < 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: %s has no generator attribute", path, item);
    else if (strcmp(gen, gsl_rng_name(r)) != 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: %s was saved from generator '%s', expected '%s'", path, item, gen,
                       gsl_rng_name(r));
    free(gen);
    close_dset(ds);
    return rc;
}

/* Check (read = 0) or restore (read = 1) RNG stream i: generator name and
 * state size must match the caller's generator. */
static int rng_pass(hid_t file, const char *path, const bfn_ckpt *c, int i, int read) {
    char item[ITEM_MAX];
    snprintf(item, sizeof item, "/rng/%s", c->rng_name[i]);
    if (!read) BFN_TRY(check_generator(file, path, item, c->rng[i]));
    size_t n = gsl_rng_size(c->rng[i]);
    hsize_t dims[1] = {n};
    hid_t ds = open_checked(file, path, item, H5T_INTEGER, 1, 1, dims);
    if (ds < 0) return (int)ds;
    int rc = BFN_OK;
    if (read) {
        unsigned char *state = bfn_xmalloc(n);
        if (H5Dread(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, state) < 0)
            rc = bfn_error(BFN_ECORRUPT, "%s: reading %s: %s", path, item, h5_reason());
        else
            memcpy(gsl_rng_state(c->rng[i]), state, n);
        free(state);
    }
    close_dset(ds);
    return rc;
}

/* The whole load on an open file: header checks, a validation pass over
 * every item, then the reads, then the scalars into c. */
static int load_file(hid_t file, const char *path, bfn_ckpt *c, char **config_out) {
    char *s = NULL;
    if (get_str_attr(file, "format", &s) < 0 || strcmp(s, FORMAT_NAME) != 0) {
        free(s);
        return bfn_error(BFN_ECORRUPT, "%s: not a bfn-harness checkpoint (no format attribute '%s')", path,
                         FORMAT_NAME);
    }
    free(s);
    int version;
    if (get_num_attr(file, "version", H5T_INTEGER, H5T_NATIVE_INT, &version) < 0)
        return bfn_error(BFN_ECORRUPT, "%s: missing /version attribute", path);
    if (version > BFN_CKPT_VERSION)
        return bfn_error(BFN_ECORRUPT, "%s: checkpoint format version %d is newer than this program's %d; "
                         "upgrade bfn-harness", path, version, BFN_CKPT_VERSION);
    if (version < 1) return bfn_error(BFN_ECORRUPT, "%s: invalid checkpoint format version %d", path, version);
    if (get_str_attr(file, "run_key", &s) < 0) return bfn_error(BFN_ECORRUPT, "%s: missing /run_key", path);
    int rc = BFN_OK;
    if (c->run_key && c->run_key[0] && strcmp(s, c->run_key) != 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: checkpoint of run %s, not of run %s", path, s, c->run_key);
    free(s);
    BFN_TRY(rc);

    /* scalars into temporaries: c changes only once everything has loaded */
    long step, best_step, data_epoch, data_pos, log_count = 0;
    double best_val, log_loss_sum = 0, log_grad_norm_sum = 0;
    unsigned long data_seed;
    /* Fields not stored (the EMA warm-up flag, which the run's config
     * records) keep the caller's values. */
    bfn_adamw_cfg a = c->adam;
    hid_t g = item_exists(file, "/state") ? H5Gopen2(file, "/state", H5P_DEFAULT) : -1;
    int ok = g >= 0 && get_num_attr(g, "step", H5T_INTEGER, H5T_NATIVE_LONG, &step) >= 0 &&
             get_num_attr(g, "best_val", H5T_FLOAT, H5T_NATIVE_DOUBLE, &best_val) >= 0 &&
             get_num_attr(g, "best_step", H5T_INTEGER, H5T_NATIVE_LONG, &best_step) >= 0 &&
             get_num_attr(g, "data_epoch", H5T_INTEGER, H5T_NATIVE_LONG, &data_epoch) >= 0 &&
             get_num_attr(g, "data_pos", H5T_INTEGER, H5T_NATIVE_LONG, &data_pos) >= 0 &&
             get_num_attr(g, "data_seed", H5T_INTEGER, H5T_NATIVE_ULONG, &data_seed) >= 0;
    /* The metric sums came later (same format version): optional, but all
     * three or none, and a present one must read. */
    int n_log = 0;
    if (ok) {
        const char *log_attr[3] = {"log_loss_sum", "log_grad_norm_sum", "log_count"};
        for (int i = 0; i < 3; i++) n_log += H5Aexists(g, log_attr[i]) > 0;
        if (n_log == 3)
            ok = get_num_attr(g, "log_loss_sum", H5T_FLOAT, H5T_NATIVE_DOUBLE, &log_loss_sum) >= 0 &&
                 get_num_attr(g, "log_grad_norm_sum", H5T_FLOAT, H5T_NATIVE_DOUBLE, &log_grad_norm_sum) >= 0 &&
                 get_num_attr(g, "log_count", H5T_INTEGER, H5T_NATIVE_LONG, &log_count) >= 0 && log_count >= 0;
        else ok = n_log == 0;
    }
    close_group(g);
    if (!ok) return bfn_error(BFN_ECORRUPT, "%s: missing or damaged /state attributes", path);
    g = item_exists(file, "/optim") ? H5Gopen2(file, "/optim", H5P_DEFAULT) : -1;
    ok = g >= 0 && get_num_attr(g, "lr", H5T_FLOAT, H5T_NATIVE_FLOAT, &a.lr) >= 0 &&
         get_num_attr(g, "beta1", H5T_FLOAT, H5T_NATIVE_FLOAT, &a.beta1) >= 0 &&
         get_num_attr(g, "beta2", H5T_FLOAT, H5T_NATIVE_FLOAT, &a.beta2) >= 0 &&
         get_num_attr(g, "eps", H5T_FLOAT, H5T_NATIVE_FLOAT, &a.eps) >= 0 &&
         get_num_attr(g, "weight_decay", H5T_FLOAT, H5T_NATIVE_FLOAT, &a.weight_decay) >= 0 &&
         get_num_attr(g, "ema_decay", H5T_FLOAT, H5T_NATIVE_FLOAT, &a.ema_decay) >= 0;
    close_group(g);
    if (!ok) return bfn_error(BFN_ECORRUPT, "%s: missing or damaged /optim attributes", path);

    char *config = NULL, *want = NULL, digest[SHA256_DIGEST_STRING_LENGTH];
    if (get_str_attr(file, "config", &config) < 0 || get_str_attr(file, "config_sha256", &want) < 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: missing /config or /config_sha256 attribute", path);
    else if (strcmp(text_sha256(config, digest), want) != 0)
        rc = bfn_error(BFN_ECORRUPT, "%s: /config does not match its checksum", path);
    free(want);
    if (rc != BFN_OK || !config_out) free(config);
    else *config_out = config;
    BFN_TRY(rc);

    float *bufs[G_COUNT] = {c->params, c->ema, c->adam_m, c->adam_v};
    for (int read = 0; read <= 1; read++) {
        for (int k = 0; k < G_COUNT; k++)
            if (bufs[k]) BFN_TRY(tensors_pass(file, path, group_path[k], c->layout, bufs[k], read));
        for (int i = 0; i < c->n_rng; i++) BFN_TRY(rng_pass(file, path, c, i, read));
    }

    c->step = step;
    c->best_val = best_val;
    c->best_step = best_step;
    c->data_epoch = data_epoch;
    c->data_pos = data_pos;
    c->data_seed = data_seed;
    c->log_loss_sum = log_loss_sum;
    c->log_grad_norm_sum = log_grad_norm_sum;
    c->log_count = log_count;
    c->adam = a;
    return BFN_OK;
}

/* Open PATH read-only and restore c from it (see ckpt.h). A missing file is
 * BFN_EIO; anything unreadable or inconsistent is BFN_ECORRUPT naming the
 * file. On failure the tensor buffers and RNG states may have been partly
 * overwritten (only after every item passed the shape checks); the scalar
 * fields and c->adam are changed only on success. */
int bfn_ckpt_load(const char *path, bfn_ckpt *c, char **config_out) {
    if (config_out) *config_out = NULL;
    BFN_TRY(check_ckpt(path, c));
    h5_init();
    struct stat st;
    if (stat(path, &st) < 0) return bfn_error(BFN_EIO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) {
        h5_reason();
        return bfn_error(BFN_ECORRUPT, "%s: not an HDF5 file (corrupt, or not a checkpoint)", path);
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return bfn_error(BFN_ECORRUPT, "%s: cannot open (truncated or corrupt): %s", path, h5_reason());
    int rc = load_file(file, path, c, config_out);
    H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
    if (rc != BFN_OK && config_out) {
        free(*config_out);
        *config_out = NULL;
    }
    return rc;
}

int bfn_ckpt_root_attr(const char *path, const char *name, char *out, int n) {
    out[0] = '\0';
    h5_init();
    if (access(path, F_OK) != 0) return bfn_error(BFN_EIO, "%s: cannot open checkpoint: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) {
        h5_reason();
        return bfn_error(BFN_ECORRUPT, "%s: not an HDF5 file (corrupt, or not a checkpoint)", path);
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return bfn_error(BFN_ECORRUPT, "%s: cannot open (truncated or corrupt): %s", path, h5_reason());
    char *v = NULL;
    if (get_str_attr(file, name, &v) == 0) snprintf(out, (size_t)n, "%s", v);
    free(v);
    H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
    return BFN_OK;
}

/* sha256 of a file's bytes as 64 lowercase hex digits (libmd). */
int bfn_file_sha256(const char *path, char hex[65]) {
    uint8_t d[32];
    BFN_TRY(bfn_file_digest(path, d));
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return BFN_OK;
}
