/* family.c: what every BFN data family shares (see family.h). */
#include "bfn/family.h"

#include <stddef.h>

/* Release what a family owns: so far only its schedule (tabulated knots).
 * Safe on a zeroed family and idempotent. */
void bfn_family_free(bfn_family *f) {
    if (!f) return;
    bfn_schedule_free(&f->sched);
}
