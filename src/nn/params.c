/* params.c: the table of named tensors inside one flat float buffer.
 *
 * Offsets are rounded up to multiples of 16 floats so that every tensor
 * starts on a 64-byte boundary when the buffer itself is 64-byte aligned
 * (aligned_alloc(64, ...)): one cache line, one AVX-512 vector. The padding
 * floats between tensors belong to no tensor; buffers are zero-initialised
 * by their owners and the optimiser never touches the padding. */
#include "nn/params.h"

#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BFN_PARAM_ALIGN_FLOATS 16

/* Append a tensor: check the name, the count and the shape, round the
 * offset up to 16 floats, record the tensor and return its offset. The
 * total l->n is kept a multiple of 16 so that a buffer of l->n floats has a
 * size that aligned_alloc(64, 4 * n) accepts. */
size_t bfn_layout_add(bfn_param_layout *l, const char *name, int decay, int ndim, const int *shape) {
    BFN_ASSERT(name && name[0], "bfn_layout_add: empty tensor name");
    BFN_ASSERT(strlen(name) < BFN_TENSOR_NAME, "bfn_layout_add(\"%s\"): name longer than BFN_TENSOR_NAME-1", name);
    BFN_ASSERT(l->n_tensors < BFN_MAX_TENSORS, "bfn_layout_add(\"%s\"): more than BFN_MAX_TENSORS tensors", name);
    BFN_ASSERT(ndim >= 1 && ndim <= 4, "bfn_layout_add(\"%s\"): ndim must be 1..4", name);
    BFN_ASSERT(bfn_layout_find(l, name) < 0, "bfn_layout_add(\"%s\"): duplicate tensor name", name);

    size_t size = 1;
    for (int d = 0; d < ndim; d++) {
        BFN_ASSERT(shape[d] > 0, "bfn_layout_add(\"%s\"): non-positive dimension", name);
        size *= (size_t)shape[d];
    }
    size_t offset = (l->n + BFN_PARAM_ALIGN_FLOATS - 1) / BFN_PARAM_ALIGN_FLOATS * BFN_PARAM_ALIGN_FLOATS;

    bfn_tensor_info *t = &l->t[l->n_tensors++];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name); /* length checked above */
    t->offset = offset;
    t->size = size;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->decay = decay ? 1 : 0;

    l->n = (offset + size + BFN_PARAM_ALIGN_FLOATS - 1) / BFN_PARAM_ALIGN_FLOATS * BFN_PARAM_ALIGN_FLOATS;
    return offset;
}

/* Linear search: layouts hold at most a few hundred tensors and lookups
 * happen at set-up and checkpoint time, never per step. */
int bfn_layout_find(const bfn_param_layout *l, const char *name) {
    for (int i = 0; i < l->n_tensors; i++)
        if (strcmp(l->t[i].name, name) == 0) return i;
    return -1;
}
