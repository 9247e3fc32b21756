/* fuzz_schedule.c: schedule tables (TSV knots for bfn.schedule = table):
 * a table that loads must give finite, non-decreasing beta on [0, 1]. */
#include "fuzz.h"

#include <math.h>

#include "bfn/schedule.h"

static int fuzz_schedule(const uint8_t *data, size_t size) {
    bfn_schedule_params p = {.beta1 = 1, .sigma1 = 0.1, .table_path = fuzz_file("s.tsv", data, size)};
    bfn_schedule s;
    if (bfn_schedule_init(&s, "table", &p) == BFN_OK) {
        double prev = -INFINITY;
        for (int i = 0; i <= 64; i++) {
            double b = s.beta(&s, i / 64.0), d = s.beta_prime(&s, i / 64.0);
            if (!isfinite(b) || !isfinite(d) || b < prev) abort();
            prev = b;
        }
        for (int i = 1; i <= 10; i++)
            if (!isfinite(bfn_schedule_alpha(&s, i, 10))) abort();
        bfn_schedule_free(&s);
    }
    return 0;
}
BFN_FUZZ_TARGET(fuzz_schedule)
