/* torchfile.c: read and write PyTorch state_dict files (see torchfile.h).
 *
 * The pickle machine follows CPython's Lib/pickletools.py opcode table: a
 * value stack with MARKs, a memo, and REDUCE/BUILD/BINPERSID restricted to
 * the callables a state_dict needs. Values live in one growable pool and refer
 * to each other by index. */
#include "store/torchfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* ---- values ------------------------------------------------------------- */

typedef enum { V_MARK, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } vkind;

typedef struct {
    vkind k;
    int64_t i;        /* INT/BOOL; STORAGE: element size; TENSOR: storage value */
    char *s;          /* STR; GLOBAL "module.name"; STORAGE: dtype name */
    int n, cap;       /* TUPLE/LIST: n items; DICT: n pairs (2n items) */
    int *items;
    const uint8_t *data; /* STORAGE: bytes */
    uint64_t bytes;
    /* TENSOR */
    int ndim;
    int64_t shape[BFN_TORCH_MAX_DIM], stride[BFN_TORCH_MAX_DIM], offset;
} value;

typedef struct {
    const char *path;
    bfn_zip *zip;
    char prefix[512];
    const uint8_t *p, *end;
    value *v;
    int nv, capv;
    int *stack, ns, caps;
    int *memo, nmemo;
} machine;

static int perr(machine *m, const char *what) {
    return bfn_error(BFN_ECORRUPT, "%s: data.pkl: %s", m->path, what);
}

static int new_value(machine *m, vkind k) {
    if (m->nv == m->capv) {
        m->capv = m->capv ? 2 * m->capv : 256;
        value *nv = realloc(m->v, (size_t)m->capv * sizeof *nv);
        if (!nv) { fprintf(stderr, "torchfile.c: out of memory\n"); abort(); }
        m->v = nv;
    }
    value *x = &m->v[m->nv];
    memset(x, 0, sizeof *x);
    x->k = k;
    return m->nv++;
}

static void push(machine *m, int idx) {
    if (m->ns == m->caps) {
        m->caps = m->caps ? 2 * m->caps : 256;
        int *ns = realloc(m->stack, (size_t)m->caps * sizeof *ns);
        if (!ns) { fprintf(stderr, "torchfile.c: out of memory\n"); abort(); }
        m->stack = ns;
    }
    m->stack[m->ns++] = idx;
}

static int pop(machine *m, int *idx) {
    if (m->ns == 0) return perr(m, "stack underflow");
    *idx = m->stack[--m->ns];
    if (m->v[*idx].k == V_MARK) return perr(m, "unexpected MARK");
    return BFN_OK;
}

/* Append to a TUPLE/LIST (one slot) or a DICT (two slots: key, value). */
static void append(machine *m, int container, int a, int b) {
    value *c = &m->v[container];
    int per = c->k == V_DICT ? 2 : 1, need = (c->n + 1) * per;
    if (need > c->cap) {
        int cap = c->cap ? 2 * c->cap : 8;
        while (cap < need) cap *= 2;
        int *ni = realloc(c->items, (size_t)cap * sizeof *ni);
        if (!ni) { fprintf(stderr, "torchfile.c: out of memory\n"); abort(); }
        c->items = ni;
        c->cap = cap;
    }
    c->items[c->n * per] = a;
    if (per == 2) c->items[c->n * per + 1] = b;
    c->n++;
}

/* Items above the topmost MARK, which is removed: *first indexes m->stack. */
static int pop_mark(machine *m, int *first, int *count) {
    for (int j = m->ns - 1; j >= 0; j--)
        if (m->v[m->stack[j]].k == V_MARK) {
            *first = j + 1;
            *count = m->ns - j - 1;
            return BFN_OK;
        }
    return perr(m, "missing MARK");
}

static int need(machine *m, size_t n) { return (size_t)(m->end - m->p) >= n ? BFN_OK : perr(m, "truncated pickle"); }

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = v << 8 | p[k];
    return v;
}

static int push_str(machine *m, const uint8_t *s, size_t n) {
    int x = new_value(m, V_STR);
    m->v[x].s = bfn_xmalloc(n + 1);
    memcpy(m->v[x].s, s, n);
    m->v[x].s[n] = '\0';
    if (strlen(m->v[x].s) != n) return perr(m, "NUL inside a string");
    push(m, x);
    return BFN_OK;
}

static int push_int(machine *m, int64_t v) {
    int x = new_value(m, V_INT);
    m->v[x].i = v;
    push(m, x);
    return BFN_OK;
}

static int make_tuple(machine *m, int first, int count) {
    int t = new_value(m, V_TUPLE);
    for (int j = 0; j < count; j++) append(m, t, m->stack[first + j], 0);
    m->ns = first - 1; /* drop the items and the MARK */
    push(m, t);
    return BFN_OK;
}

static int tuple_n(machine *m, int n) {
    if (m->ns < n) return perr(m, "stack underflow");
    int t = new_value(m, V_TUPLE);
    for (int j = m->ns - n; j < m->ns; j++) {
        if (m->v[m->stack[j]].k == V_MARK) return perr(m, "unexpected MARK");
        append(m, t, m->stack[j], 0);
    }
    m->ns -= n;
    push(m, t);
    return BFN_OK;
}

/* Storage classes (torch/storage.py) and their element types. */
static const struct { const char *cls, *dtype; int esize; } storages[] = {
    {"torch.FloatStorage", "float32", 4},   {"torch.DoubleStorage", "float64", 8},
    {"torch.HalfStorage", "float16", 2},    {"torch.BFloat16Storage", "bfloat16", 2},
    {"torch.LongStorage", "int64", 8},      {"torch.IntStorage", "int32", 4},
    {"torch.ShortStorage", "int16", 2},     {"torch.CharStorage", "int8", 1},
    {"torch.ByteStorage", "uint8", 1},      {"torch.BoolStorage", "bool", 1},
    {"torch.ComplexFloatStorage", "complex64", 8}, {"torch.ComplexDoubleStorage", "complex128", 16},
    {"torch.UntypedStorage", "untyped", 1},
};

/* BINPERSID: ('storage', storage class, key, location, numel). */
static int persistent_load(machine *m, int pid_idx) {
    value *pid = &m->v[pid_idx];
    if (pid->k != V_TUPLE || pid->n < 5) return perr(m, "persistent id is not a storage tuple");
    value *tag = &m->v[pid->items[0]], *cls = &m->v[pid->items[1]], *key = &m->v[pid->items[2]];
    value *numel = &m->v[pid->items[4]];
    if (tag->k != V_STR || strcmp(tag->s, "storage") != 0 || cls->k != V_GLOBAL || key->k != V_STR ||
        numel->k != V_INT || numel->i < 0)
        return perr(m, "persistent id is not a storage tuple");
    int s = -1;
    for (size_t j = 0; j < sizeof storages / sizeof storages[0]; j++)
        if (strcmp(cls->s, storages[j].cls) == 0) s = (int)j;
    if (s < 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "unknown storage class %s", cls->s);
        return perr(m, msg);
    }
    char entry[700];
    snprintf(entry, sizeof entry, "%sdata/%s", m->prefix, key->s);
    int e = bfn_zip_find(m->zip, entry);
    if (e < 0) {
        char msg[800];
        snprintf(msg, sizeof msg, "storage %s has no archive entry %s", key->s, entry);
        return perr(m, msg);
    }
    int x = new_value(m, V_STORAGE);
    BFN_TRY(bfn_zip_data(m->zip, e, &m->v[x].data, &m->v[x].bytes));
    m->v[x].s = bfn_xstrdup(storages[s].dtype);
    m->v[x].i = storages[s].esize;
    if ((uint64_t)numel->i > m->v[x].bytes / (uint64_t)storages[s].esize) return perr(m, "storage shorter than its numel");
    push(m, x);
    return BFN_OK;
}

/* Integers of a tuple into out (at most BFN_TORCH_MAX_DIM). */
static int int_tuple(machine *m, int idx, int64_t *out, int *n) {
    value *t = &m->v[idx];
    if (t->k != V_TUPLE || t->n > BFN_TORCH_MAX_DIM) return perr(m, "tensor size/stride is not a short tuple");
    for (int j = 0; j < t->n; j++) {
        value *x = &m->v[t->items[j]];
        if (x->k != V_INT || x->i < 0) return perr(m, "tensor size/stride holds a non-integer");
        out[j] = x->i;
    }
    *n = t->n;
    return BFN_OK;
}

/* REDUCE: only the callables a state_dict uses. */
static int reduce(machine *m) {
    int args, fn;
    BFN_TRY(pop(m, &args));
    BFN_TRY(pop(m, &fn));
    value *f = &m->v[fn], *a = &m->v[args];
    if (f->k != V_GLOBAL || a->k != V_TUPLE) return perr(m, "REDUCE without a global and an argument tuple");
    if (strcmp(f->s, "collections.OrderedDict") == 0) {
        if (a->n != 0) return perr(m, "OrderedDict called with arguments");
        push(m, new_value(m, V_DICT));
        return BFN_OK;
    }
    if (strcmp(f->s, "torch._utils._rebuild_parameter") == 0) {
        if (a->n < 1 || m->v[a->items[0]].k != V_TENSOR) return perr(m, "_rebuild_parameter without a tensor");
        push(m, a->items[0]);
        return BFN_OK;
    }
    if (strcmp(f->s, "torch._utils._rebuild_tensor_v2") == 0) {
        if (a->n < 4 || m->v[a->items[0]].k != V_STORAGE || m->v[a->items[1]].k != V_INT)
            return perr(m, "_rebuild_tensor_v2 with unexpected arguments");
        int t = new_value(m, V_TENSOR), ns = 0;
        value *tv = &m->v[t];
        tv->i = m->v[args].items[0];
        tv->offset = m->v[m->v[args].items[1]].i;
        BFN_TRY(int_tuple(m, m->v[args].items[2], tv->shape, &tv->ndim));
        BFN_TRY(int_tuple(m, m->v[args].items[3], tv->stride, &ns));
        if (ns != tv->ndim || tv->offset < 0) return perr(m, "tensor size and stride disagree");
        /* Extent: the largest element index must lie inside the storage. */
        const value *st = &m->v[tv->i];
        /* 128-bit: shape and stride are each below 2^63, so no sum of up to
         * BFN_TORCH_MAX_DIM products overflows. */
        unsigned __int128 last = (uint64_t)tv->offset, elems = st->bytes / (uint64_t)st->i;
        int empty = 0;
        for (int d = 0; d < tv->ndim; d++) {
            if (tv->shape[d] == 0) empty = 1;
            else last += (unsigned __int128)(uint64_t)(tv->shape[d] - 1) * (uint64_t)tv->stride[d];
        }
        if (!empty && last >= elems) return perr(m, "tensor extends past the end of its storage");
        push(m, t);
        return BFN_OK;
    }
    char msg[400];
    snprintf(msg, sizeof msg, "calls %s, which a state_dict of tensors does not use (refused: only tensors are read)",
             f->s);
    return perr(m, msg);
}

static int memo_put(machine *m, uint64_t id) {
    if (m->ns == 0) return perr(m, "PUT on an empty stack");
    if (id > (uint64_t)(m->end - m->p) + (uint64_t)m->nv + 1024) return perr(m, "memo index out of range");
    if ((int)id >= m->nmemo) {
        int n = (int)id + 1 + m->nmemo;
        int *nm = realloc(m->memo, (size_t)n * sizeof *nm);
        if (!nm) { fprintf(stderr, "torchfile.c: out of memory\n"); abort(); }
        for (int j = m->nmemo; j < n; j++) nm[j] = -1;
        m->memo = nm;
        m->nmemo = n;
    }
    m->memo[id] = m->stack[m->ns - 1];
    return BFN_OK;
}

static int memo_get(machine *m, uint64_t id) {
    if (id >= (uint64_t)m->nmemo || m->memo[id] < 0) return perr(m, "GET of an unset memo entry");
    push(m, m->memo[id]);
    return BFN_OK;
}

/* Run the pickle; *result is the value left by STOP. */
static int run(machine *m, int *result) {
    for (;;) {
        BFN_TRY(need(m, 1));
        uint8_t op = *m->p++;
        int a, b, first, count;
        switch (op) {
        case 0x80: BFN_TRY(need(m, 1)); m->p++; break;                 /* PROTO */
        case 0x95: BFN_TRY(need(m, 8)); m->p += 8; break;              /* FRAME */
        case '(': push(m, new_value(m, V_MARK)); break;                /* MARK */
        case '}': push(m, new_value(m, V_DICT)); break;                /* EMPTY_DICT */
        case ']': push(m, new_value(m, V_LIST)); break;                /* EMPTY_LIST */
        case ')': push(m, new_value(m, V_TUPLE)); break;               /* EMPTY_TUPLE */
        case 'N': push(m, new_value(m, V_NONE)); break;                /* NONE */
        case 0x88: case 0x89:                                          /* NEWTRUE, NEWFALSE */
            a = new_value(m, V_BOOL); m->v[a].i = op == 0x88; push(m, a); break;
        case 'K': BFN_TRY(need(m, 1)); push_int(m, m->p[0]); m->p += 1; break;           /* BININT1 */
        case 'M': BFN_TRY(need(m, 2)); push_int(m, (int64_t)le(m->p, 2)); m->p += 2; break; /* BININT2 */
        case 'J': BFN_TRY(need(m, 4)); push_int(m, (int32_t)(uint32_t)le(m->p, 4)); m->p += 4; break;
        case 0x8a: {                                                   /* LONG1 */
            BFN_TRY(need(m, 1));
            int n = *m->p++;
            if (n > 8) return perr(m, "integer wider than 64 bits");
            BFN_TRY(need(m, (size_t)n));
            uint64_t v = le(m->p, n);
            if (n > 0 && n < 8 && (m->p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n); /* sign-extend */
            m->p += n;
            push_int(m, (int64_t)v);
            break;
        }
        case 'G': BFN_TRY(need(m, 8)); a = new_value(m, V_FLOAT); m->p += 8; push(m, a); break; /* BINFLOAT */
        case 'X': case 'T': case 0x8c: case 'U': case 0x8d: {          /* strings */
            int w = op == 'X' || op == 'T' ? 4 : op == 0x8d ? 8 : 1;
            BFN_TRY(need(m, (size_t)w));
            uint64_t n = le(m->p, w);
            m->p += w;
            if (n > (uint64_t)(m->end - m->p)) return perr(m, "truncated string");
            BFN_TRY(push_str(m, m->p, (size_t)n));
            m->p += n;
            break;
        }
        case 'c': {                                                    /* GLOBAL "mod\nname\n" */
            const uint8_t *nl1 = memchr(m->p, '\n', (size_t)(m->end - m->p));
            const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(m->end - nl1 - 1)) : NULL;
            if (!nl2) return perr(m, "truncated GLOBAL");
            a = new_value(m, V_GLOBAL);
            size_t l1 = (size_t)(nl1 - m->p), l2 = (size_t)(nl2 - nl1 - 1);
            m->v[a].s = bfn_xmalloc(l1 + l2 + 2);
            snprintf(m->v[a].s, l1 + l2 + 2, "%.*s.%.*s", (int)l1, (const char *)m->p, (int)l2, (const char *)nl1 + 1);
            m->p = nl2 + 1;
            push(m, a);
            break;
        }
        case 0x93: {                                                   /* STACK_GLOBAL */
            BFN_TRY(pop(m, &b));
            BFN_TRY(pop(m, &a));
            if (m->v[a].k != V_STR || m->v[b].k != V_STR) return perr(m, "STACK_GLOBAL without strings");
            int g = new_value(m, V_GLOBAL);
            size_t n = strlen(m->v[a].s) + strlen(m->v[b].s) + 2;
            m->v[g].s = bfn_xmalloc(n);
            snprintf(m->v[g].s, n, "%s.%s", m->v[a].s, m->v[b].s);
            push(m, g);
            break;
        }
        case 'q': BFN_TRY(need(m, 1)); BFN_TRY(memo_put(m, m->p[0])); m->p += 1; break;   /* BINPUT */
        case 'r': BFN_TRY(need(m, 4)); BFN_TRY(memo_put(m, le(m->p, 4))); m->p += 4; break; /* LONG_BINPUT */
        case 0x94: BFN_TRY(memo_put(m, (uint64_t)m->nmemo)); break;                    /* MEMOIZE */
        case 'h': BFN_TRY(need(m, 1)); BFN_TRY(memo_get(m, m->p[0])); m->p += 1; break;   /* BINGET */
        case 'j': BFN_TRY(need(m, 4)); BFN_TRY(memo_get(m, le(m->p, 4))); m->p += 4; break; /* LONG_BINGET */
        case 't': BFN_TRY(pop_mark(m, &first, &count)); BFN_TRY(make_tuple(m, first, count)); break; /* TUPLE */
        case 0x85: BFN_TRY(tuple_n(m, 1)); break;
        case 0x86: BFN_TRY(tuple_n(m, 2)); break;
        case 0x87: BFN_TRY(tuple_n(m, 3)); break;
        case 'R': BFN_TRY(reduce(m)); break;                           /* REDUCE */
        case 'Q': BFN_TRY(pop(m, &a)); BFN_TRY(persistent_load(m, a)); break; /* BINPERSID */
        case 's':                                                      /* SETITEM */
            BFN_TRY(pop(m, &b));
            BFN_TRY(pop(m, &a));
            if (m->ns == 0 || m->v[m->stack[m->ns - 1]].k != V_DICT) return perr(m, "SETITEM on a non-dict");
            append(m, m->stack[m->ns - 1], a, b);
            break;
        case 'u':                                                      /* SETITEMS */
            BFN_TRY(pop_mark(m, &first, &count));
            if (count % 2 || first < 2 || m->v[m->stack[first - 2]].k != V_DICT) return perr(m, "bad SETITEMS");
            for (int j = 0; j < count; j += 2) append(m, m->stack[first - 2], m->stack[first + j], m->stack[first + j + 1]);
            m->ns = first - 1;
            break;
        case 'a':                                                      /* APPEND */
            BFN_TRY(pop(m, &a));
            if (m->ns == 0 || m->v[m->stack[m->ns - 1]].k != V_LIST) return perr(m, "APPEND on a non-list");
            append(m, m->stack[m->ns - 1], a, 0);
            break;
        case 'e':                                                      /* APPENDS */
            BFN_TRY(pop_mark(m, &first, &count));
            if (first < 2 || m->v[m->stack[first - 2]].k != V_LIST) return perr(m, "bad APPENDS");
            for (int j = 0; j < count; j++) append(m, m->stack[first - 2], m->stack[first + j], 0);
            m->ns = first - 1;
            break;
        case 'b':                                                      /* BUILD */
            /* A state_dict's _metadata (module versions) or a tensor's
             * Python attributes: neither changes the tensors. */
            BFN_TRY(pop(m, &a));
            if (m->ns == 0 || (m->v[m->stack[m->ns - 1]].k != V_DICT && m->v[m->stack[m->ns - 1]].k != V_TENSOR))
                return perr(m, "BUILD on an object other than a dict or tensor");
            break;
        case '.':                                                      /* STOP */
            return pop(m, result);
        default: {
            char msg[80];
            snprintf(msg, sizeof msg, "pickle opcode 0x%02x is not used by state_dicts (refused)", op);
            return perr(m, msg);
        }
        }
    }
}

static void machine_free(machine *m) {
    for (int j = 0; j < m->nv; j++) {
        free(m->v[j].s);
        free(m->v[j].items);
    }
    free(m->v);
    free(m->stack);
    free(m->memo);
}

/* The archive's record prefix: the directory holding data.pkl. */
static int find_prefix(bfn_zip *z, char *prefix, size_t n, int *pkl) {
    *pkl = -1;
    for (int j = 0; j < z->n; j++) {
        const char *nm = z->e[j].name, *slash = strchr(nm, '/');
        if (slash && strcmp(slash + 1, "data.pkl") == 0) {
            if (*pkl >= 0) return bfn_error(BFN_ECORRUPT, "%s: more than one data.pkl in the archive", z->path);
            *pkl = j;
            snprintf(prefix, n, "%.*s/", (int)(slash - nm), nm);
        }
    }
    if (*pkl < 0) return bfn_error(BFN_ECORRUPT, "%s: a zip archive without data.pkl (not a torch.save file)", z->path);
    char bo[600];
    snprintf(bo, sizeof bo, "%sbyteorder", prefix);
    int e = bfn_zip_find(z, bo);
    if (e >= 0) {
        const uint8_t *d;
        uint64_t sz;
        BFN_TRY(bfn_zip_data(z, e, &d, &sz));
        if (sz != 6 || memcmp(d, "little", 6) != 0)
            return bfn_error(BFN_ECORRUPT, "%s: tensors are stored big-endian (only little-endian is read)", z->path);
    }
    return BFN_OK;
}

/* Legacy torch.save (PyTorch < 1.6, or _use_new_zipfile_serialization=False)
 * starts with a pickled magic number: PROTO 2, LONG1. */
static int is_legacy(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char h[3] = {0};
    size_t n = fread(h, 1, 3, f);
    fclose(f);
    return n == 3 && h[0] == 0x80 && h[1] == 0x02 && h[2] == 0x8a;
}

int bfn_torch_read(const char *path, bfn_torch_file *f) {
    memset(f, 0, sizeof *f);
    if (is_legacy(path))
        return bfn_error(BFN_ECORRUPT, "%s: the legacy (pre-1.6) torch.save format; load it in PyTorch and save it again "
                         "with torch.save(torch.load(FILE), FILE2)", path);
    BFN_TRY(bfn_zip_open(path, &f->zip));
    machine m = {.path = path, .zip = &f->zip};
    int pkl, result = -1;
    int rc = find_prefix(&f->zip, m.prefix, sizeof m.prefix, &pkl);
    uint64_t len = 0;
    if (rc == BFN_OK) rc = bfn_zip_data(&f->zip, pkl, &m.p, &len);
    if (rc == BFN_OK) {
        m.end = m.p + len;
        rc = run(&m, &result);
    }
    if (rc == BFN_OK && m.v[result].k != V_DICT)
        rc = bfn_error(BFN_ECORRUPT, "%s: holds a pickled object that is not a state_dict (name -> tensor)", path);
    if (rc == BFN_OK) {
        value *d = &m.v[result];
        f->t = bfn_xcalloc(d->n ? (size_t)d->n : 1, sizeof *f->t);
        for (int j = 0; j < d->n && rc == BFN_OK; j++) {
            value *k = &m.v[d->items[2 * j]], *x = &m.v[d->items[2 * j + 1]];
            if (k->k != V_STR) {
                rc = bfn_error(BFN_ECORRUPT, "%s: state_dict entry %d has a non-string name", path, j);
                break;
            }
            if (x->k != V_TENSOR) {
                rc = bfn_error(BFN_ECORRUPT, "%s: state_dict entry '%s' is not a tensor", path, k->s);
                break;
            }
            if (bfn_torch_find(f, k->s) >= 0) {
                rc = bfn_error(BFN_ECORRUPT, "%s: tensor '%s' appears twice", path, k->s);
                break;
            }
            bfn_torch_tensor *t = &f->t[f->n++];
            const value *st = &m.v[x->i];
            t->name = bfn_xstrdup(k->s);
            snprintf(t->dtype, sizeof t->dtype, "%s", st->s);
            t->esize = (int)st->i;
            t->ndim = x->ndim;
            memcpy(t->shape, x->shape, sizeof t->shape);
            memcpy(t->stride, x->stride, sizeof t->stride);
            t->offset = x->offset;
            t->storage = st->data;
            t->storage_bytes = st->bytes;
        }
    }
    machine_free(&m);
    if (rc != BFN_OK) bfn_torch_free(f);
    return rc;
}

void bfn_torch_free(bfn_torch_file *f) {
    for (int j = 0; j < f->n; j++) free(f->t[j].name);
    free(f->t);
    bfn_zip_close(&f->zip);
    memset(f, 0, sizeof *f);
}

int bfn_torch_find(const bfn_torch_file *f, const char *name) {
    for (int j = 0; j < f->n; j++)
        if (strcmp(f->t[j].name, name) == 0) return j;
    return -1;
}

void bfn_torch_copy_f32(const bfn_torch_tensor *t, float *dst) {
    int64_t idx[BFN_TORCH_MAX_DIM] = {0}, total = 1, expect = 1;
    int contiguous = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        contiguous = contiguous && (t->shape[d] == 1 || t->stride[d] == expect);
        expect *= t->shape[d];
    }
    for (int d = 0; d < t->ndim; d++) total *= t->shape[d];
    const float *src = (const float *)(const void *)t->storage; /* entries are read little-endian on x86-64 */
    if (contiguous) { /* the usual case: one block in C order */
        memcpy(dst, t->storage + (size_t)t->offset * sizeof(float), (size_t)total * sizeof(float));
        return;
    }
    for (int64_t k = 0; k < total; k++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        memcpy(&dst[k], src + off, sizeof(float));
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* ---- writing ------------------------------------------------------------ */

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf;

static void put(buf *o, const void *p, size_t n) {
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 256;
        uint8_t *nb = realloc(o->b, o->cap);
        if (!nb) { fprintf(stderr, "torchfile.c: out of memory\n"); abort(); }
        o->b = nb;
    }
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void op(buf *o, uint8_t c) { put(o, &c, 1); }
static void pstr(buf *o, const char *s) {
    uint32_t n = (uint32_t)strlen(s);
    uint8_t h[5] = {'X', (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    put(o, h, 5);
    put(o, s, n);
}
static void pint(buf *o, int64_t v) {
    if (v >= 0 && v < 256) { uint8_t h[2] = {'K', (uint8_t)v}; put(o, h, 2); }
    else if (v >= 0 && v < 65536) { uint8_t h[3] = {'M', (uint8_t)v, (uint8_t)(v >> 8)}; put(o, h, 3); }
    else if (v >= INT32_MIN && v <= INT32_MAX) {
        uint32_t u = (uint32_t)(int32_t)v;
        uint8_t h[5] = {'J', (uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        put(o, h, 5);
    } else {
        uint8_t h[10] = {0x8a, 8};
        for (int k = 0; k < 8; k++) h[2 + k] = (uint8_t)((uint64_t)v >> (8 * k));
        put(o, h, 10);
    }
}
static void pglobal(buf *o, const char *mod, const char *name) {
    op(o, 'c');
    put(o, mod, strlen(mod));
    op(o, '\n');
    put(o, name, strlen(name));
    op(o, '\n');
}

/* The pickle torch.save writes for an OrderedDict of float32 tensors, each
 * with its own storage named by its index. */
static void state_dict_pickle(buf *o, const bfn_torch_out *t, int n) {
    op(o, 0x80); op(o, 2);                             /* PROTO 2 */
    pglobal(o, "collections", "OrderedDict");
    op(o, ')'); op(o, 'R');                            /* OrderedDict() */
    op(o, '(');
    for (int j = 0; j < n; j++) {
        char key[32];
        snprintf(key, sizeof key, "%d", j);
        int64_t numel = 1;
        for (int d = 0; d < t[j].ndim; d++) numel *= t[j].shape[d];
        pstr(o, t[j].name);
        pglobal(o, "torch._utils", "_rebuild_tensor_v2");
        op(o, '(');
        op(o, '(');                                    /* persistent id */
        pstr(o, "storage");
        pglobal(o, "torch", "FloatStorage");
        pstr(o, key);
        pstr(o, "cpu");
        pint(o, numel);
        op(o, 't');
        op(o, 'Q');
        pint(o, 0);                                    /* storage offset */
        op(o, '(');
        for (int d = 0; d < t[j].ndim; d++) pint(o, t[j].shape[d]);
        op(o, 't');
        op(o, '(');                                    /* C-order strides */
        for (int d = 0; d < t[j].ndim; d++) {
            int64_t s = 1;
            for (int e = d + 1; e < t[j].ndim; e++) s *= t[j].shape[e];
            pint(o, s);
        }
        op(o, 't');
        op(o, 0x89);                                   /* requires_grad False */
        pglobal(o, "collections", "OrderedDict");
        op(o, ')'); op(o, 'R');                        /* backward hooks */
        op(o, 't');
        op(o, 'R');
    }
    op(o, 'u');                                        /* SETITEMS */
    op(o, '.');
}

int bfn_torch_write(const char *path, const bfn_torch_out *t, int n) {
    buf pk = {0};
    state_dict_pickle(&pk, t, n);
    bfn_zip_writer w;
    BFN_TRY(bfn_zip_writer_open(&w, path));
    int rc = bfn_zip_writer_add(&w, "archive/data.pkl", pk.b, pk.n);
    if (rc == BFN_OK) rc = bfn_zip_writer_add(&w, "archive/byteorder", "little", 6);
    for (int j = 0; j < n && rc == BFN_OK; j++) {
        char name[64];
        snprintf(name, sizeof name, "archive/data/%d", j);
        uint64_t numel = 1;
        for (int d = 0; d < t[j].ndim; d++) numel *= (uint64_t)t[j].shape[d];
        rc = bfn_zip_writer_add(&w, name, t[j].data, numel * sizeof(float));
    }
    if (rc == BFN_OK) rc = bfn_zip_writer_add(&w, "archive/version", "3\n", 2);
    free(pk.b);
    int rc2 = bfn_zip_writer_close(&w, rc == BFN_OK);
    return rc != BFN_OK ? rc : rc2;
}
