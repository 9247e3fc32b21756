/* fpenv.c: see fpenv.h. */
#include "util/fpenv.h"

#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
#define FTZ_DAZ 0x8040u /* MXCSR bits 15 (flush to zero) and 6 (denormals are zero) */

void bfn_flush_denormals(void) {
#pragma omp parallel
    _mm_setcsr(_mm_getcsr() | FTZ_DAZ);
    _mm_setcsr(_mm_getcsr() | FTZ_DAZ); /* the caller too, were OpenMP off */
}

int bfn_denormals_flushed(void) { return (_mm_getcsr() & FTZ_DAZ) == FTZ_DAZ; }
#else
void bfn_flush_denormals(void) {}
int bfn_denormals_flushed(void) { return 0; }
#endif
