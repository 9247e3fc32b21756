/* torchfile.h: PyTorch state_dict files (torch.save, zip format) in C.
 *
 * A torch.save file (PyTorch >= 1.6) is a zip archive (zip.h) holding
 * PREFIX/data.pkl, a pickle of the saved object, and PREFIX/data/KEY, the raw
 * little-endian bytes of each tensor storage. The reader runs a restricted
 * pickle machine: it knows the opcodes of protocols 2-5 that a state_dict
 * uses and exactly four callables (collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, and the
 * storage classes torch.*Storage as persistent ids); anything else is
 * refused with a message, so reading a file never executes code from it.
 * The result must be a mapping from names to tensors (a state_dict); every
 * tensor's extent is checked against its storage's bytes.
 *
 * The writer produces what torch.save(state_dict) produces for float32 CPU
 * tensors (pickle protocol 2, one storage per tensor, 64-byte aligned
 * stored entries), loadable by torch.load(..., weights_only=True). */
#ifndef BFN_STORE_TORCHFILE_H
#define BFN_STORE_TORCHFILE_H

#include <stdint.h>

#include "store/zip.h"

#define BFN_TORCH_MAX_DIM 8

typedef struct {
    char *name;
    char dtype[16];  /* "float32", "float64", "float16", "bfloat16", "int64", ... */
    int esize;       /* bytes per element */
    int ndim;
    int64_t shape[BFN_TORCH_MAX_DIM], stride[BFN_TORCH_MAX_DIM];
    int64_t offset;  /* storage offset in elements */
    const uint8_t *storage;
    uint64_t storage_bytes;
} bfn_torch_tensor;

typedef struct {
    bfn_zip zip;
    int n;
    bfn_torch_tensor *t; /* in the file's (insertion) order */
} bfn_torch_file;

/* Read a state_dict. Errors name the file and what is wrong (not a zip,
 * truncated, the legacy pre-1.6 format, a refused pickle callable, a
 * non-tensor value, a tensor outside its storage). */
int bfn_torch_read(const char *path, bfn_torch_file *f);
void bfn_torch_free(bfn_torch_file *f);
/* Index of the tensor called name, or -1. */
int bfn_torch_find(const bfn_torch_file *f, const char *name);
/* Copy a float32 tensor (any strides) into dst, in C order. */
void bfn_torch_copy_f32(const bfn_torch_tensor *t, float *dst);

typedef struct {
    const char *name;
    int ndim;
    const int *shape;
    const float *data; /* C order */
} bfn_torch_out;

/* Write n float32 tensors as a state_dict (OrderedDict in the given order)
 * to path, atomically (temporary file renamed into place). */
int bfn_torch_write(const char *path, const bfn_torch_out *t, int n);

#endif
