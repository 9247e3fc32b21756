#!/usr/bin/env python3
"""Check the U-Net mappings (UNetModel/1, UNetVDM/1) against the official
PyTorch networks, outside CI (run by `make torch-check OFFICIAL=...` after
torch_check.py; needs Debian's python3-torch and an export of the official
code, never copied into this repository):

    /usr/bin/python3 src/tools/torch_check_unet.py --official DIR [--paper-size]

For each official class with its adapters as in the official configs
(configs/mnist_discrete.yaml: UNetModel + FourierImageInputAdapter +
OutputAdapter; configs/cifar10_discretized_*.yaml: UNetVDM + the same
adapters), at small widths with the official GroupNorm (32 groups) and at
least two attention heads (so the head order of the qkv projection matters):
random weights (every tensor perturbed, so the official zero-inits are not
zero) are saved as BFN.state_dict() would ("net." prefix), imported with
`bfn import-torch`, and both networks are applied to the same random inputs
and times; then the run is exported with `bfn export-torch`, loaded into a
fresh official network with load_state_dict(strict=True) and compared again.
Prints max |diff| and the median relative difference of the outputs.
--paper-size adds the official sizes (24.8M and 30.7M parameters; slow).
"""
import argparse
import os
import struct
import subprocess
import sys

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("--official", required=True)
p.add_argument("--bfn", default="build/bfn")
p.add_argument("--forward", default="build/torch_forward")
p.add_argument("--work", default="build/torch-check-unet")
p.add_argument("--paper-size", action="store_true")
args, _ = p.parse_known_args()  # CHECK_ARGS may hold torch_check.py's options too

sys.path.insert(0, os.path.abspath(args.official))
from networks.adapters import FourierImageInputAdapter, OutputAdapter  # noqa: E402  (official code)
from networks.unet_improved import UNetModel  # noqa: E402
from networks.unet_vdm import UNetVDM  # noqa: E402

os.makedirs(args.work, exist_ok=True)
W = os.path.abspath(args.work)
env = dict(os.environ, BFN_DB=f"{W}/bfn.db", BFN_RESULTS=f"{W}/results", OMP_NUM_THREADS="2")


def sh(cmd):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{r.stderr}")
    return r.stderr


def write_idx(path, n, h, w, seed=1):  # 8-bit grey images, IDX3
    rnd = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, h, w))
        f.write(rnd.integers(0, 256, n * h * w, dtype=np.uint8).tobytes())


def write_cifar(d, n=20, seed=2):  # CIFAR-10 binary batches: label byte + 3072 CHW bytes per record
    os.makedirs(f"{d}/cifar10", exist_ok=True)
    rnd = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rec = rnd.integers(0, 256, (n, 3073), dtype=np.uint8)
        rec[:, 0] %= 10
        rec.tofile(f"{d}/cifar10/{name}.bin")


def ddpm(C, mult, blocks, attn, heads, out_ch, size=28):
    return UNetModel(dict(input_adapter=FourierImageInputAdapter(input_channels=1, input_shape=[size, size],
                                                                 output_height=2, add_pos_feats=False),
                          output_adapter=OutputAdapter(input_height=C + out_ch, output_channels=1, output_height=1)),
                     image_size=size, in_channels=2, model_channels=C, out_channels=out_ch, num_res_blocks=blocks,
                     attention_resolutions=attn, dropout=0.0, channel_mult=mult, conv_resample=True, dims=2,
                     num_heads=heads, project_input=True, skip=True)


def vdm(C, blocks, heads, size=32):
    return UNetVDM(dict(input_adapter=FourierImageInputAdapter(input_channels=3, input_shape=[size, size],
                                                               output_height=3, add_pos_feats=False, add_mask=False),
                        output_adapter=OutputAdapter(input_height=C + 3, output_channels=3, output_height=2)),
                   embedding_dim=C, n_blocks=blocks, n_attention_heads=heads, dropout_prob=0.0, norm_groups=32,
                   input_channels=3, use_fourier_features=True, attention_everywhere=False, image_size=size)


def outputs(net, ini, ov, img_ch, size, B=3, seed=0):
    """Official net(x, t) and ours on the same inputs: x per pixel and channel
    in [-1, 1], t per example."""
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(B, size, size, img_ch, generator=g) - 1
    t = torch.rand(B, generator=g)
    with torch.no_grad():
        theirs = net.eval()(x, t[:, None, None, None].expand(B, size, size, img_ch))  # (B, HW, C, out)
    theirs = theirs.reshape(B, size * size, img_ch, -1).permute(0, 2, 1, 3).reshape(B, -1).numpy()
    x.permute(0, 3, 1, 2).reshape(B, -1).numpy().astype(np.float32).tofile(f"{W}/in.f32")  # ours: CHW
    t.numpy().astype(np.float32).tofile(f"{W}/t.f32")
    sh([args.forward, ini, "--profile", "smoke", *ov, "--in", f"{W}/in.f32", "--t", f"{W}/t.f32", "--batch", str(B),
        "--out", f"{W}/out.f32"])
    ours = np.fromfile(f"{W}/out.f32", dtype=np.float32).reshape(B, -1)
    d = np.abs(ours - theirs)
    return d.max(), np.median(d / np.maximum(np.abs(theirs), 1e-3)), np.abs(theirs).max()


def check(label, make, ini, ov, img_ch, size):
    torch.manual_seed(3)
    net = make()
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    n_par = sum(p.numel() for p in net.parameters())
    torch.save({"net." + k: v for k, v in net.state_dict().items()}, f"{W}/official.pt")
    sh([args.bfn, "import-torch", f"{W}/official.pt", ini, "--profile", "smoke", "--force", *ov])
    dmax, rmed, amax = outputs(net, ini, ov, img_ch, size)
    print(f"{label} ({n_par} parameters) import: max |diff| {dmax:.3g} (max |out| {amax:.3g}), "
          f"median rel diff {rmed:.3g}")
    sh([args.bfn, "export-torch", ini, f"{W}/ours.pt", "--profile", "smoke", *ov])
    fresh = make()
    res = fresh.load_state_dict({k[4:]: v for k, v in torch.load(f"{W}/ours.pt").items()}, strict=True)
    dmax, rmed, amax = outputs(fresh, ini, ov, img_ch, size, seed=1)
    print(f"{label} export -> load_state_dict(strict=True) {res}: max |diff| {dmax:.3g} (max |out| {amax:.3g}), "
          f"median rel diff {rmed:.3g}")


write_idx(f"{W}/mnist.idx", 20, 28, 28)
write_cifar(W)
for f in ("bfn.db", "bfn.db-wal", "bfn.db-shm"):
    if os.path.exists(f"{W}/{f}"):
        os.remove(f"{W}/{f}")
common = ["data.val_count=5", "data.test_count=5", "data.train_limit=0"]


def mnist_ov(C, mult, blocks, attn, heads, out_ch):
    return [f"data.dataset=idx:{W}/mnist.idx", *common, f"model.channels={C}",
            f"model.channel_mult={','.join(map(str, mult))}", f"model.res_blocks={blocks}",
            f"model.attn_res={','.join(map(str, attn))}", f"model.heads={heads}", "model.groups=32",
            f"model.out_channels={out_ch}", "model.dropout=0"]


def cifar_ov(C, blocks, heads):
    return ["data.dataset=cifar10", f"data.dir={W}", *common, f"model.channels={C}", "model.channel_mult=1",
            f"model.res_blocks={blocks}", "model.attn_res=none", f"model.heads={heads}", "model.groups=32",
            f"model.out_channels={C}", "model.time_embed=vdm", "model.fourier=1", "model.project_input=0",
            "model.time_input=0", "model.dropout=0"]


print("== UNetModel (MNIST, discrete K = 2) and UNetVDM (CIFAR-10, discretised): official vs ours")
check("UNetModel C=32 mult 1,2,2 blocks 1 attn 2 heads 4", lambda: ddpm(32, [1, 2, 2], 1, [2], 4, 32),
      "experiments/mnist.ini", mnist_ov(32, [1, 2, 2], 1, [2], 4, 32), 1, 28)
check("UNetVDM C=32 blocks 2 heads 2", lambda: vdm(32, 2, 2), "experiments/cifar.ini", cifar_ov(32, 2, 2), 3, 32)
if args.paper_size:
    check("UNetModel paper size", lambda: ddpm(128, [1, 2, 2], 2, [8, 16], 4, 128), "experiments/mnist.ini",
          mnist_ov(128, [1, 2, 2], 2, [8, 16], 4, 128), 1, 28)
    check("UNetVDM paper size", lambda: vdm(128, 32, 1), "experiments/cifar.ini", cifar_ov(128, 32, 1), 3, 32)
