#!/usr/bin/env python3
"""Write the PyTorch-made fixtures of tests/test_torch.c (run once; the files
are committed so `make test` needs no PyTorch):

    /usr/bin/python3 src/tools/make_torch_fixtures.py tests/fixtures/torch

gpt_tiny.pt      BFN.state_dict() names ("net." prefix) of the official text8
                 GPT at a tiny size (seq 4, width 8, 1 block, 2 heads, 27
                 classes, skip on), deterministic values, saved by torch.save.
                 Two tensors are views, so the reader's storage offsets and
                 strides are exercised: c_attn.weight is the transpose of a
                 contiguous (8, 24) tensor and c_fc.bias a slice at offset 5.
gpt_tiny_f64.pt  the same with one tensor in float64 (must be refused).
legacy.pt        a state_dict in the pre-1.6 format (must be refused).
refused.pt       a tensor plus a collections.Counter, which a state_dict never
                 holds (the pickle calls a callable the reader refuses).
"""
import collections
import math
import os
import sys

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
T, C, L, K = 4, 8, 1, 27


def values(shape, j):
    n = math.prod(shape)
    return (0.1 * torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + j)).float().reshape(shape)


def pe(T, C):  # the sinusoid table of TextInputAdapter(learn_pos_embedding=False): sin/cos(p / 1000^(j/C))
    t = torch.zeros(T, C)
    for p in range(T):
        for j in range(C):
            a = p / 1000 ** (j / C)
            t[p, j] = math.sin(a) if j % 2 == 0 else math.cos(a)
    return t


shapes = [("input_adapter.inp_embedding.weight", (C, K)), ("input_adapter.inp_embedding.bias", (C,)),
          ("input_adapter.t_embedding.weight", (C, 1)), ("input_adapter.t_embedding.bias", (C,))]
for l in range(L):
    h = f"transformer.h.{l}."
    shapes += [(h + "ln_1.weight", (C,)), (h + "ln_1.bias", (C,)),
               (h + "attn.c_attn.weight", (3 * C, C)), (h + "attn.c_attn.bias", (3 * C,)),
               (h + "attn.c_proj.weight", (C, C)), (h + "attn.c_proj.bias", (C,)),
               (h + "ln_2.weight", (C,)), (h + "ln_2.bias", (C,)),
               (h + "mlp.c_fc.weight", (4 * C, C)), (h + "mlp.c_fc.bias", (4 * C,)),
               (h + "mlp.c_proj.weight", (C, 4 * C)), (h + "mlp.c_proj.bias", (C,))]
shapes += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,)),
           ("lm_head.weight", (K, 2 * C)), ("lm_head.bias", (K,))]

sd = collections.OrderedDict()
sd["net.input_adapter.pos_embedding"] = pe(T, C)
for j, (name, shape) in enumerate(shapes):
    v = values(shape, j)
    if name.endswith("c_attn.weight"):
        v = v.t().contiguous().t()  # same values, column-major storage
    if name.endswith("c_fc.bias"):
        v = torch.cat([torch.full((5,), 9.0), v, torch.full((3,), 9.0)])[5:5 + shape[0]]
    sd["net." + name] = v
torch.save(sd, f"{out}/gpt_tiny.pt")

f64 = collections.OrderedDict(sd)
f64["net.transformer.ln_f.bias"] = sd["net.transformer.ln_f.bias"].double()
torch.save(f64, f"{out}/gpt_tiny_f64.pt")

torch.save(collections.OrderedDict(w=torch.zeros(2)), f"{out}/legacy.pt", _use_new_zipfile_serialization=False)
torch.save({"w": torch.zeros(2), "counts": collections.Counter("ab")}, f"{out}/refused.pt")
print(f"wrote {out}/gpt_tiny.pt, gpt_tiny_f64.pt, legacy.pt, refused.pt (torch {torch.__version__})")
