#!/usr/bin/env python3
"""Write the PyTorch-made fixtures of tests/test_torch.c (run once; the files
are committed so `make test` needs no PyTorch):

    /usr/bin/python3 src/tools/make_torch_fixtures.py tests/fixtures/torch [OFFICIAL]

OFFICIAL is an export of the official code (never committed), e.g.
    git -C <mirror>/nnaisense+bayesian-flow-networks archive HEAD | tar -x -C /tmp/off
and is needed only for the two U-Net fixtures, which instantiate the official
classes so the names, shapes and buffers are theirs by construction:

gpt_tiny.pt      BFN.state_dict() names ("net." prefix) of the official text8
                 GPT at a tiny size (seq 4, width 8, 1 block, 2 heads, 27
                 classes, skip on), deterministic values, saved by torch.save.
                 Two tensors are views, so the reader's storage offsets and
                 strides are exercised: c_attn.weight is the transpose of a
                 contiguous (8, 24) tensor and c_fc.bias a slice at offset 5.
gpt_tiny_f64.pt  the same with one tensor in float64 (must be refused).
legacy.pt        a state_dict in the pre-1.6 format (must be refused).
unet_ddpm_tiny.pt BFN.state_dict() names of the official MNIST UNetModel with
                 its FourierImageInputAdapter / OutputAdapter as in
                 configs/mnist_discrete.yaml, tiny: 8x8x1 image, model_channels
                 8, channel_mult (1, 2), 1 res block, attention at
                 down-sampling 2 (so both paths and the Upsample index after
                 an AttentionBlock), 2 heads, out_channels 8. The official
                 GroupNorm32 has 32 groups fixed, more than 8 channels: the
                 fixture patches normalization() to 4 groups (model.groups =
                 4), which changes no name or shape.
unet_vdm_tiny.pt the official CIFAR-10 UNetVDM with its adapters as in
                 configs/cifar10_discretized_*.yaml, tiny: 8x8x1 image,
                 embedding_dim 8, 2 blocks, 2 heads, 4 groups, Fourier
                 features on, output 2 per pixel (discretised).
                 Both: every parameter N(0, 0.1^2) from torch.manual_seed(7)
                 (the official init zeroes several), buffers as the class makes
                 them.
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


def unet_fixtures(official):
    sys.path.insert(0, official)
    import networks.unet_improved as ui
    from networks.adapters import FourierImageInputAdapter, OutputAdapter
    from networks.unet_improved import UNetModel
    from networks.unet_vdm import UNetVDM

    ui.normalization = lambda ch: ui.GroupNorm32(4, ch)

    def save(net, name):
        torch.manual_seed(7)
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(0.1 * torch.randn(p.shape))
        sd = collections.OrderedDict(("net." + k, v) for k, v in net.state_dict().items())
        torch.save(sd, f"{out}/{name}")

    ddpm = UNetModel(dict(input_adapter=FourierImageInputAdapter(input_channels=1, input_shape=[8, 8], output_height=2,
                                                                 add_pos_feats=False),
                          output_adapter=OutputAdapter(input_height=16, output_channels=1, output_height=1)),
                     image_size=8, in_channels=2, model_channels=8, out_channels=8, num_res_blocks=1,
                     attention_resolutions=[2], dropout=0.0, channel_mult=[1, 2], conv_resample=True, dims=2,
                     num_heads=2, project_input=True, skip=True)
    save(ddpm, "unet_ddpm_tiny.pt")
    vdm = UNetVDM(dict(input_adapter=FourierImageInputAdapter(input_channels=1, input_shape=[8, 8], output_height=1,
                                                              add_pos_feats=False, add_mask=False),
                       output_adapter=OutputAdapter(input_height=9, output_channels=1, output_height=2)),
                  embedding_dim=8, n_blocks=2, n_attention_heads=2, dropout_prob=0.0, norm_groups=4, input_channels=1,
                  use_fourier_features=True, attention_everywhere=False, image_size=8)
    save(vdm, "unet_vdm_tiny.pt")
    print(f"wrote {out}/unet_ddpm_tiny.pt, unet_vdm_tiny.pt")


if len(sys.argv) > 2:
    unet_fixtures(sys.argv[2])
print(f"wrote {out}/gpt_tiny.pt, gpt_tiny_f64.pt, legacy.pt, refused.pt (torch {torch.__version__})")
