/* params.h: named tensors sliced out of one flat float buffer.
 *
 * As in llm.c, every model keeps all parameters in one allocation; the layout
 * lists each tensor's name, offset and shape. Gradients, AdamW moments and the
 * EMA copy use the same layout in buffers of the same size, so optimiser and
 * EMA are single fused passes and checkpoints store tensors by name. */
#ifndef BFN_NN_PARAMS_H
#define BFN_NN_PARAMS_H

#include <stddef.h>

#define BFN_MAX_TENSORS 1024
#define BFN_TENSOR_NAME 64

typedef struct {
    char name[BFN_TENSOR_NAME]; /* e.g. "fc0.weight" */
    size_t offset;              /* in floats from the start of the buffer */
    size_t size;                /* number of floats */
    int ndim;
    int shape[4];
    int decay;                  /* 1: AdamW weight decay applies (matrix weights) */
} bfn_tensor_info;

typedef struct {
    int n_tensors;
    bfn_tensor_info t[BFN_MAX_TENSORS];
    size_t n; /* total floats */
} bfn_param_layout;

/* Append a tensor (shape of ndim dims) and return its offset. Aborts on
 * more than BFN_MAX_TENSORS tensors (a programming error). Each tensor's
 * offset is rounded up to a multiple of 16 floats (64-byte alignment). */
size_t bfn_layout_add(bfn_param_layout *l, const char *name, int decay, int ndim, const int *shape);
/* Index of tensor `name`, or -1. */
int bfn_layout_find(const bfn_param_layout *l, const char *name);

#endif
