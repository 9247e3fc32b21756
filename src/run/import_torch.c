/* import_torch.c: bfn import-torch / export-torch (see import_torch.h). */
#include "run/import_torch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/loadrun.h"
#include "run/setup.h"
#include "run/torchmap.h"
#include "run/train.h"
#include "store/ckpt.h"
#include "util/err.h"

/* "[a, b, c]" of a shape. */
static void shape_text(char *out, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && k < n; d++) k += (size_t)snprintf(out + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(out + k, n - k, "]");
}

/* The official tensor `name` must exist, be float32 and have our shape. */
static int check_tensor(const bfn_torch_file *f, const char *path, const char *name, const char *ours, int ndim,
                        const int *shape, const char *mapping, int *idx) {
    *idx = bfn_torch_find(f, name);
    if (*idx < 0)
        return bfn_error(BFN_EINVAL, "%s: missing tensor '%s' (for our %s; mapping %s)", path, name, ours, mapping);
    const bfn_torch_tensor *t = &f->t[*idx];
    if (strcmp(t->dtype, "float32") != 0)
        return bfn_error(BFN_EINVAL, "%s: tensor '%s' is %s; float32 expected (convert with .float() and save again)",
                         path, name, t->dtype);
    int64_t want[4];
    int same = t->ndim == ndim;
    for (int d = 0; d < ndim; d++) {
        want[d] = shape[d];
        same = same && t->shape[d] == shape[d];
    }
    if (!same) {
        char have_s[96], want_s[96];
        shape_text(have_s, sizeof have_s, t->ndim, t->shape);
        shape_text(want_s, sizeof want_s, ndim, want);
        return bfn_error(BFN_EINVAL, "%s: tensor '%s' has shape %s, our %s has %s (a different network size? check "
                         "the experiment's [model] and [data] keys)", path, name, have_s, ours, want_s);
    }
    return BFN_OK;
}

/* Validate the whole state_dict against map and copy it into params.
 * On error params may be partly written but nothing else is. */
static int fill_params(const bfn_torch_file *f, const char *path, const char *prefix, const bfn_torch_map *map,
                       const bfn_model *m, float *params) {
    unsigned char *used = bfn_xcalloc(f->n ? (size_t)f->n : 1, 1);
    int rc = BFN_OK;
    char name[BFN_TORCH_NAME + 8];
    for (int i = 0; i < map->n && rc == BFN_OK; i++) {
        const bfn_tensor_info *ti = &m->layout.t[i];
        int j;
        snprintf(name, sizeof name, "%s%s", prefix, map->theirs[i]);
        rc = check_tensor(f, path, name, ti->name, map->theirs_ndim[i], map->theirs_shape[i], map->mapping, &j);
        if (rc != BFN_OK) break;
        if (used[j]) {
            rc = bfn_error(BFN_EINVAL, "%s: tensor '%s' would fill two of ours (mapping %s is not one-to-one)", path,
                           name, map->mapping);
            break;
        }
        used[j] = 1;
        float *dst = params + ti->offset;
        if (map->kind[i] == BFN_TORCH_SAME) {
            bfn_torch_copy_f32(&f->t[j], dst);
        } else { /* their layout first, then reordered into ours */
            float *tmp = bfn_xmalloc(ti->size * sizeof *tmp);
            bfn_torch_copy_f32(&f->t[j], tmp);
            bfn_torch_to_ours(map, i, ti, tmp, dst);
            free(tmp);
        }
        for (size_t k = 0; k < ti->size; k++)
            if (!isfinite(dst[k])) {
                rc = bfn_error(BFN_EINVAL, "%s: tensor '%s' holds a non-finite value at index %zu", path, name, k);
                break;
            }
    }
    for (int x = 0; x < map->n_fixed && rc == BFN_OK; x++) {
        const bfn_torch_fixed *fx = &map->fixed[x];
        int j;
        snprintf(name, sizeof name, "%s%s", prefix, fx->theirs);
        rc = check_tensor(f, path, name, "fixed table", fx->ndim, fx->shape, map->mapping, &j);
        if (rc != BFN_OK) break;
        size_t n = 1;
        for (int d = 0; d < fx->ndim; d++) n *= (size_t)fx->shape[d];
        float *tmp = bfn_xmalloc(n * sizeof *tmp);
        bfn_torch_copy_f32(&f->t[j], tmp);
        double worst = 0;
        size_t at = 0;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)tmp[k] - fx->data[k]);
            if (!(d <= worst)) worst = d, at = k;
        }
        free(tmp);
        if (!(worst <= fx->tol))
            rc = bfn_error(BFN_EINVAL, "%s: buffer '%s' differs from our fixed table by %.3g at index %zu (> %.0e): "
                           "not the positional encoding our network uses", path, name, worst, at, fx->tol);
        used[j] = 1;
    }
    for (int j = 0; j < f->n && rc == BFN_OK; j++)
        if (!used[j])
            rc = bfn_error(BFN_EINVAL, "%s: tensor '%s' has no counterpart in our %s (mapping %s; a different "
                           "network configuration?)", path, f->t[j].name, m->ops->name, map->mapping);
    free(used);
    return rc;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int make_dirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return bfn_error(BFN_EIO, "%s: cannot create: %s", buf, strerror(errno));
        *p = saved;
        if (!saved) return BFN_OK;
    }
}

int bfn_import_torch(bfn_config *cfg, bfn_db *db, const char *pt_path, const bfn_torch_opts *o) {
    bfn_torch_file f;
    BFN_TRY(bfn_torch_read(pt_path, &f));
    const bfn_torch_arch *arch;
    const char *prefix;
    int rc = bfn_torch_detect(&f, pt_path, &arch, &prefix);
    if (rc == BFN_OK && !arch->rules && !arch->name)
        rc = bfn_error(BFN_EINVAL, "%s: a checkpoint of the official %s, %s: %s", pt_path, arch->official_class,
                       arch->what, arch->not_yet);
    if (rc != BFN_OK) {
        bfn_torch_free(&f);
        return rc;
    }
    bfn_setup s;
    rc = bfn_setup_open(&s, cfg, 1);
    if (rc != BFN_OK) {
        bfn_torch_free(&f);
        return rc;
    }
    bfn_torch_map *map = bfn_xmalloc(sizeof *map);
    const bfn_torch_arch *ours = bfn_torch_arch_for_model(s.model);
    if (ours != arch)
        rc = bfn_error(BFN_EINVAL, "%s: holds the official %s (%s), but the experiment's network is model.arch = %s "
                       "(%s)", pt_path, arch->official_class, arch->what, s.model->ops->name,
                       bfn_spec_origin(&s.spec, "model.arch"));
    if (rc == BFN_OK) rc = bfn_torch_map_build(arch, s.model, map);
    if (rc == BFN_OK) {
        memset(s.params, 0, s.n_params * sizeof(float)); /* alignment padding stays zero, as in init */
        rc = fill_params(&f, pt_path, prefix, map, s.model, s.params);
    }
    bfn_torch_free(&f);

    /* Every check passed: the run must not exist yet (unless --force). */
    char status[32] = "", sha[65] = "", dir[1024], path[1024], ck_sha[65], had[65] = "";
    if (rc == BFN_OK) rc = bfn_db_run_status(db, s.key, status, sizeof status);
    if (rc == BFN_OK) rc = bfn_file_sha256(pt_path, sha);
    if (rc == BFN_OK && status[0]) rc = bfn_db_import_sha256(db, s.key, had, sizeof had);
    bfn_ckpt_path(s.key, "last", path, sizeof path);
    char stage[1100] = "";
    snprintf(stage, sizeof stage, "%s.import", path);
    if (rc == BFN_OK && status[0] && !o->force && strcmp(had, sha) == 0 && access(path, F_OK) == 0) {
        /* The same file into the same run: nothing to do (make targets rerun). */
        if (!o->quiet) fprintf(stderr, "[%s] %s is already imported; skipping\n", s.key, base_name(pt_path));
        bfn_torch_map_release(map);
        free(map);
        bfn_setup_close(&s);
        return BFN_OK;
    }
    if (rc == BFN_OK && status[0] && !o->force && strcmp(had, sha) != 0)
        rc = bfn_error(BFN_EINVAL, "run %s (%s) already exists with status %s; --force replaces it (and deletes its "
                       "results) with the imported weights", s.key, s.spec.experiment.name, status);
    char *config_text = rc == BFN_OK ? bfn_config_text(cfg) : NULL;
    const char *commit = "", *libs = "", *host = "";
    int dirty = 0;
    if (rc == BFN_OK) {
        bfn_provenance(&commit, &dirty, &libs, &host);
        memcpy(s.ema, s.params, s.n_params * sizeof(float));
        bfn_run_dir(s.key, dir, sizeof dir);
        rc = make_dirs(dir);
    }
    if (rc == BFN_OK) {
        bfn_ckpt c = {
            .run_key = s.key, .git_commit = commit, .config = config_text, .step = 0, .best_val = NAN,
            .layout = &s.model->layout, .params = s.params, .ema = s.ema,
            .adam = bfn_spec_adamw(&s.spec.train),
            .n_attr = 5,
            .attr_name = {"provenance", "import_source", "import_sha256", "import_mapping", "optimiser_state"},
            .attr_value = {"imported", base_name(pt_path), sha, map->mapping,
                           "absent: imported weights only (stored as both /model/params and /model/ema)"},
        };
        /* Staged beside last.h5 and renamed over it only once the database
         * has the run, so a failure leaves a replaced run's files intact. */
        rc = bfn_ckpt_save(stage, &c);
    }
    if (rc == BFN_OK) rc = bfn_file_sha256(stage, ck_sha);
    if (rc == BFN_OK) {
        bfn_run_info info = {
            .key = s.key, .experiment = s.spec.experiment.name, .profile = bfn_config_profile(cfg),
            .config = config_text, .seed = (long)s.spec.train.seed, .git_commit = commit,
            .git_dirty = dirty, .lib_versions = libs, .host = host, .threads = s.threads,
        };
        bfn_import_row imp = {.source_name = base_name(pt_path), .source_sha256 = sha,
                              .official_class = arch->official_class, .mapping = map->mapping};
        rc = bfn_db_run_import(db, &info, &imp, path, ck_sha, status[0] != 0);
        if (rc == BFN_OK && rename(stage, path) != 0)
            rc = bfn_error(BFN_EIO, "%s: cannot rename %s into place: %s", path, stage, strerror(errno));
        if (rc == BFN_OK) { /* a replaced run's other checkpoints hold other weights */
            char other[1024];
            bfn_ckpt_path(s.key, "best", other, sizeof other);
            unlink(other);
        }
    }
    if (rc != BFN_OK && stage[0]) unlink(stage); /* registered nothing: leave no unregistered weights */
    if (rc == BFN_OK && !o->quiet)
        fprintf(stderr, "[%s] imported %s (%s, %d tensors, mapping %s, sha256 %.12s...) into %s; optimiser state "
                "absent\n", s.key, base_name(pt_path), arch->official_class, map->n + map->n_fixed, map->mapping, sha,
                path);
    free(config_text);
    bfn_torch_map_release(map);
    free(map);
    bfn_setup_close(&s);
    return rc;
}

int bfn_export_torch(bfn_config *cfg, const char *out_path, const bfn_torch_opts *o) {
    bfn_loaded_run r;
    bfn_spec spec;
    bfn_spec_resolve(&spec, cfg);
    BFN_TRY(bfn_load_run(&r, cfg, 1, spec.eval.checkpoint));
    const bfn_model *m = r.s.model;
    const bfn_torch_arch *arch = bfn_torch_arch_for_model(m);
    bfn_torch_map *map = bfn_xmalloc(sizeof *map);
    int rc = arch ? bfn_torch_map_build(arch, m, map)
                  : bfn_error(BFN_EINVAL, "%s: model.arch = %s has no official PyTorch counterpart (the official image "
                              "networks are U-Nets: model.arch = unet)", bfn_spec_origin(&spec, "model.arch"),
                              m->ops->name);
    if (rc == BFN_OK) {
        int n = map->n_fixed + map->n;
        bfn_torch_out *out = bfn_xcalloc((size_t)n, sizeof *out);
        char (*names)[BFN_TORCH_NAME + 8] = bfn_xcalloc((size_t)n, sizeof *names);
        float **converted = bfn_xcalloc((size_t)map->n + 1, sizeof *converted);
        /* Official order: the adapter's buffer, then the parameters. */
        for (int x = 0; x < map->n_fixed; x++) {
            snprintf(names[x], sizeof names[x], "net.%s", map->fixed[x].theirs);
            out[x] = (bfn_torch_out){names[x], map->fixed[x].ndim, map->fixed[x].shape, map->fixed[x].data};
        }
        for (int i = 0; i < map->n; i++) {
            const bfn_tensor_info *ti = &m->layout.t[i];
            int k = map->n_fixed + i;
            snprintf(names[k], sizeof names[k], "net.%s", map->theirs[i]);
            const float *data = r.s.ema + ti->offset;
            if (map->kind[i] != BFN_TORCH_SAME) { /* reordered into their layout */
                float *t = bfn_xmalloc(ti->size * sizeof *t);
                bfn_torch_to_theirs(map, i, ti, data, t);
                data = converted[i] = t;
            }
            out[k] = (bfn_torch_out){names[k], map->theirs_ndim[i], map->theirs_shape[i], data};
        }
        rc = bfn_torch_write(out_path, out, n);
        if (rc == BFN_OK && !o->quiet)
            fprintf(stderr, "[%s] wrote %s: %d tensors of the official %s (mapping %s, EMA weights of step %ld)\n",
                    r.s.key, out_path, n, arch->official_class, map->mapping, r.step);
        for (int i = 0; i < map->n; i++) free(converted[i]);
        free(converted);
        free(names);
        free(out);
    }
    bfn_torch_map_release(map);
    free(map);
    bfn_unload_run(&r);
    return rc;
}
