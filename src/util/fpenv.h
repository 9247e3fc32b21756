/* fpenv.h: the floating-point environment of the threads that compute. */
#ifndef BFN_UTIL_FPENV_H
#define BFN_UTIL_FPENV_H

/* Flush denormal floats to zero (x86 MXCSR FTZ: denormal results become 0;
 * DAZ: denormal inputs read as 0) on the calling thread and on every thread
 * of the OpenMP pool at its current size, which OpenBLAS's OpenMP build also
 * computes on. Call after the thread count is set. Why: a trained network
 * has units whose pre-activations sit far below zero; GELU/SiLU there give
 * values and gradients below FLT_MIN (1.2e-38), and every multiply-add that
 * touches one takes a microcode assist: sgemm with 30% denormal inputs ran
 * at 1.5 GFLOP/s instead of 115 on this machine (an MLP run trained 10x
 * slower than its benchmark). Values that small do not change any loss or
 * update above float rounding; runs stay deterministic (same flushing on
 * every thread). A no-op off x86. */
void bfn_flush_denormals(void);
/* 1 if the calling thread flushes denormals (for tests). */
int bfn_denormals_flushed(void);

#endif
