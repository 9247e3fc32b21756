/* family.c: what every BFN data family shares (see family.h), and the
 * registry of families. */
#include "bfn/family.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bfn/continuous_keys.h"
#include "util/err.h"

/* Release what a family owns: so far only its schedule (tabulated knots).
 * Safe on a zeroed family and idempotent. */
void bfn_family_free(bfn_family *f) {
    if (!f) return;
    bfn_schedule_free(&f->sched);
}

static int discrete_create(bfn_family *f, const bfn_family_params *p, bfn_schedule sched) {
    BFN_TRY(bfn_discrete_init(f, p->D, p->classes, sched));
    f->receiver_joint = p->receiver_joint;
    return BFN_OK;
}

/* Official: L^r of continuous models is a discretised Gaussian with std
 * sigma1 on 256 bins, or 0.7 sigma1 on 16 bins (paper/NOTES.md, section 4.2).
 * sigma1 is the final input std, 1/sqrt(1 + beta(1)), so any schedule works. */
static int continuous_create(bfn_family *f, const bfn_family_params *p, bfn_schedule sched) {
    /* (an uninitialised schedule is rejected by bfn_continuous_init) */
    double sigma1 = sched.beta ? 1.0 / sqrt(1.0 + sched.beta(&sched, 1.0)) : 1.0;
    const bfn_continuous_keys *k = BFN_KEY_OWN_AS(p->own, bfn_continuous_keys);
    int rbins = k->recon_bins ? k->recon_bins : p->bins;
    double rstd = k->recon_std != 0 ? k->recon_std : p->bins == 16 ? 0.7 * sigma1 : sigma1;
    return bfn_continuous_init(f, p->D, sched, rbins, rstd);
}

static int discretised_create(bfn_family *f, const bfn_family_params *p, bfn_schedule sched) {
    return bfn_discretised_init(f, p->D, p->bins, sched);
}

/* Binarised images are reported per image (Table 2), other images per dim. */
static const char *discrete_unit(const bfn_family *f) { return f->K == 2 ? "nats/image" : "bits/dim"; }
static const char *per_dim_unit(const bfn_family *f) { return "bits/dim"; }

static const bfn_family_entry FAMILIES[] = {
    {"discrete", 1, discrete_create, discrete_unit, NULL, "K classes (bfn.classes): binarised images, text"},
    {"continuous", 0, continuous_create, per_dim_unit, bfn_continuous_key_defs, "values in [-1,1], scored on bfn.bins bins"},
    {"discretised", 0, discretised_create, per_dim_unit, NULL, "bfn.bins bins with a discretised Gaussian output"},
};
#define N_FAMILIES ((int)(sizeof FAMILIES / sizeof FAMILIES[0]))

const bfn_family_entry *bfn_family_find(const char *name) {
    for (int i = 0; i < N_FAMILIES; i++)
        if (strcmp(FAMILIES[i].name, name) == 0) return &FAMILIES[i];
    return NULL;
}

const bfn_family_entry *bfn_family_entry_at(int i) { return i >= 0 && i < N_FAMILIES ? &FAMILIES[i] : NULL; }

void bfn_family_names(char *buf, size_t n, const char *sep) {
    size_t used = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; i < N_FAMILIES && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? sep : "", FAMILIES[i].name);
}

int bfn_family_create(bfn_family *f, const char *name, const bfn_family_params *p, bfn_schedule sched) {
    memset(f, 0, sizeof *f);
    const bfn_family_entry *e = bfn_family_find(name);
    if (!e) {
        bfn_schedule_free(&sched);
        char names[256];
        bfn_family_names(names, sizeof names, ", ");
        return bfn_error(BFN_EINVAL, "unknown family '%s' (registered: %s)", name, names);
    }
    BFN_TRY(e->create(f, p, sched));
    f->n_mc = p->n_mc;
    f->receiver_floor = p->receiver_floor;
    return BFN_OK;
}
