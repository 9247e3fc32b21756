#!/usr/bin/env python3
"""Check bfn import-torch / export-torch against the official PyTorch code.

Outside CI (needs Debian's python3-torch and a checkout of the official code,
https://github.com/nnaisense/bayesian-flow-networks, which is never copied
into this repository):

    make torch-check OFFICIAL=/path/to/bayesian-flow-networks [CHECK_ARGS=--paper-size]

1. Import: the official BFN (GPT + TextInputAdapter, DiscreteBayesianFlow,
   DiscreteBayesianFlowLoss) with random weights is saved with torch.save and
   imported with `bfn import-torch`; the two networks' logits on the same
   (theta, t) are compared, and `bfn eval` (L^inf, L^10, L^r in nats/dim on
   the run's test split) is compared with the official BFN.forward /
   compute_reconstruction_loss on the very same sequences, each a Monte Carlo
   estimate with its standard error over passes.
2. Export: a run trained here is written with `bfn export-torch` and loaded
   into the official BFN with load_state_dict(strict=True); logits compared.

PyTorch 1.13 (Debian) lacks F.scaled_dot_product_attention, which the
official GPT calls; it is supplied here as softmax(q k^T / sqrt(d)) v (no mask,
no dropout), its documented definition.
"""
import argparse
import math
import os
import random
import sqlite3
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--official", required=True, help="checkout of the official code")
p.add_argument("--bfn", default="build/bfn")
p.add_argument("--forward", default="build/torch_forward")
p.add_argument("--work", default="build/torch-check")
p.add_argument("--paper-size", action="store_true", help="also compare logits at the text8 size (24 x 768)")
p.add_argument("--repeats", type=int, default=40, help="passes over the test split per estimate")
args = p.parse_args()

sys.path.insert(0, os.path.abspath(args.official))
if not hasattr(F, "scaled_dot_product_attention"):
    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False):
        assert attn_mask is None and dropout_p == 0 and not is_causal
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
        return w @ v
    F.scaled_dot_product_attention = sdpa

from networks.transformer import GPT  # noqa: E402  (official code)
from networks.adapters import TextInputAdapter  # noqa: E402
from model import BFN, DiscreteBayesianFlow, DiscreteBayesianFlowLoss  # noqa: E402
from probability import CategoricalFactory  # noqa: E402

os.makedirs(args.work, exist_ok=True)
W = os.path.abspath(args.work)
env = dict(os.environ, BFN_DB=f"{W}/bfn.db", BFN_RESULTS=f"{W}/results", OMP_NUM_THREADS="2")
K = 27


def official_bfn(T, C, L, H, skip):
    net = GPT({"input_adapter": TextInputAdapter(K, T, C), "output_adapter": None}, vocab_size=K, n_layer=L,
              n_head=H, n_embd=C, dropout=0.0, skip=skip, bias=True)
    flow = DiscreteBayesianFlow(n_classes=K, max_sqrt_beta=0.75)
    return BFN(net, flow, DiscreteBayesianFlowLoss(flow, CategoricalFactory())).eval()


def overrides(T, C, L, H, skip, extra=()):
    return ["data.dataset=text8", f"data.dir={W}", f"data.seq_len={T}", f"data.test_stride={T}",
            "data.test_count=0", "data.val_count=10", f"model.hidden={C}", f"model.layers={L}",
            f"model.heads={H}", f"model.skip={int(skip)}", "eval.unit=nats/dim", *extra]


def sh(cmd):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{r.stderr}")
    return r.stderr


def our_logits(ov, x_in, t):
    B = x_in.shape[0]
    x_in.astype(np.float32).tofile(f"{W}/in.f32")
    t.astype(np.float32).tofile(f"{W}/t.f32")
    sh([args.forward, "experiments/text8.ini", "--profile", "smoke", *ov, "--in", f"{W}/in.f32", "--t",
        f"{W}/t.f32", "--batch", str(B), "--out", f"{W}/out.f32", "--test-tokens", f"{W}/test.u8"])
    return np.fromfile(f"{W}/out.f32", dtype=np.float32).reshape(B, -1, K)


def compare_logits(bfn, ov, T, B=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(B, T, K, generator=g), -1)
    t = torch.rand(B, generator=g)
    with torch.no_grad():
        theirs = bfn.net(probs, t[:, None].expand(B, T)).numpy()
    ours = our_logits(ov, (2 * probs - 1).numpy().reshape(B, -1), t.numpy())
    d = np.abs(ours - theirs)
    rel = d / np.maximum(np.abs(theirs), 1e-3)
    return d.max(), np.median(rel), np.abs(theirs).max()


def write_text8(path, n=60000, seed=1):
    rnd = random.Random(seed)
    words = "the of and a to in is was he for it with as his on be at by i this had not are but from".split()
    text = " ".join(rnd.choice(words) for _ in range(n // 3))[:n]
    with open(path, "w") as f:
        f.write(text)


def official_losses(bfn, tokens, R, n_steps, batch=100, seed=3):
    torch.manual_seed(seed)
    data = torch.from_numpy(tokens.astype(np.int64))
    passes, recon = [], []
    with torch.no_grad():
        for _ in range(R):
            tot = rtot = 0.0
            for i in range(0, len(data), batch):
                b = data[i:i + batch]
                tot += bfn(b, n_steps=n_steps).item() * len(b)
                if n_steps == 0:
                    rtot += bfn.compute_reconstruction_loss(b).item() * len(b)
            passes.append(tot / len(data))
            recon.append(rtot / len(data))
    m = lambda v: (float(np.mean(v)), float(np.std(v, ddof=1) / math.sqrt(len(v))))  # noqa: E731
    return m(passes), m(recon)


def our_eval(key):
    db = sqlite3.connect(f"{W}/bfn.db")
    rows = db.execute("SELECT n, loss, loss_se, recon, recon_se FROM eval WHERE run = ?", (key,)).fetchall()
    return {n: (l, ls, r, rs) for n, l, ls, r, rs in rows}


def our_curve(key):
    db = sqlite3.connect(f"{W}/bfn.db")
    return db.execute("SELECT t, value, se FROM curve WHERE run = ? AND name = 'linf' ORDER BY bin", (key,)).fetchall()


def official_at_t(bfn, tokens, t, R, batch=100, seed=4):
    """The official continuous-time loss at a fixed t (BFN.forward with t given): mean and s.e. over R passes."""
    torch.manual_seed(seed)
    data = torch.from_numpy(tokens.astype(np.int64))
    passes = []
    with torch.no_grad():
        for _ in range(R):
            tot = 0.0
            for i in range(0, len(data), batch):
                b = data[i:i + batch]
                tot += bfn(b, t=torch.full(b.shape, t)).item() * len(b)
            passes.append(tot / len(data))
    return float(np.mean(passes)), float(np.std(passes, ddof=1) / math.sqrt(R))


def run_key(log):
    return log.split("[", 1)[1].split("]", 1)[0]


if not os.path.exists(f"{W}/text8"):
    write_text8(f"{W}/text8")
for f in ("bfn.db", "bfn.db-wal", "bfn.db-shm"):
    if os.path.exists(f"{W}/{f}"):
        os.remove(f"{W}/{f}")

print("== import: official BFN (random weights) -> bfn import-torch")
T, C, L, H = 32, 64, 2, 4
for skip in (True, False):
    torch.manual_seed(11 + skip)
    bfn = official_bfn(T, C, L, H, skip)
    with torch.no_grad():  # official init has zero biases and unit LayerNorms: perturb every tensor
        for name, prm in bfn.named_parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    torch.save(bfn.state_dict(), f"{W}/official.pt")
    ov = overrides(T, C, L, H, skip, ["eval.steps=10,inf", f"eval.repeats={args.repeats}", "eval.t_bins=4",
                                      "eval.batch=100"])
    log = sh([args.bfn, "import-torch", f"{W}/official.pt", "experiments/text8.ini", "--profile", "smoke",
              "--force", *ov])
    key = run_key(log)
    dmax, rmed, amax = compare_logits(bfn, ov, T)
    print(f"skip={int(skip)}: logits max |diff| {dmax:.3g} (max |logit| {amax:.3g}), median rel diff {rmed:.3g}")
    sh([args.bfn, "eval", "experiments/text8.ini", "--profile", "smoke", *ov, "--quiet"])
    ours = our_eval(key)
    tokens = np.fromfile(f"{W}/test.u8", dtype=np.uint8).reshape(-1, T)
    for n in (0, 10):
        (lo, lse), (ro, rse) = official_losses(bfn, tokens, args.repeats, n)
        l, ls, r, rs = ours[n]
        z = (l - lo) / math.sqrt(ls ** 2 + lse ** 2)
        print(f"  n={'inf' if n == 0 else n}: bfn eval L = {l:.5f} ± {ls:.5f}, official {lo:.5f} ± {lse:.5f} "
              f"nats/dim on {len(tokens)} test sequences x {args.repeats} passes: z = {z:+.2f}")
        if n == 0:
            zr = (r - ro) / math.sqrt(rs ** 2 + rse ** 2)
            print(f"  L^r: bfn eval {r:.5f} ± {rs:.5f}, official {ro:.5f} ± {rse:.5f}: z = {zr:+.2f}")
    # The same t for both: our loss-against-time curve (one pass, s.e. over
    # sequences) against BFN.forward(data, t) (passes, s.e. over passes).
    for t, v, se in our_curve(key):
        vo, seo = official_at_t(bfn, tokens, t, 10)
        print(f"  L^inf(t = {t:.3f}): bfn eval {v:.5f} ± {se:.5f}, official {vo:.5f} ± {seo:.5f}: "
              f"z = {(v - vo) / math.sqrt(se ** 2 + seo ** 2):+.2f}")

print("== export: a run trained here -> bfn export-torch -> official load_state_dict(strict=True)")
T, C, L, H = 16, 32, 2, 2
ov = overrides(T, C, L, H, True, ["train.steps=40"])
sh([args.bfn, "train", "experiments/text8.ini", "--profile", "smoke", *ov, "--quiet"])
sh([args.bfn, "export-torch", "experiments/text8.ini", f"{W}/ours.pt", "--profile", "smoke", *ov])
bfn = official_bfn(T, C, L, H, True)
res = bfn.load_state_dict(torch.load(f"{W}/ours.pt", weights_only=True), strict=True)
print(f"load_state_dict(strict=True): {res}")
dmax, rmed, amax = compare_logits(bfn, ov, T)
print(f"logits max |diff| {dmax:.3g} (max |logit| {amax:.3g}), median rel diff {rmed:.3g}")

if args.paper_size:
    print("== import at the official text8 size (24 layers, width 768, 12 heads, seq 256)")
    T, C, L, H = 256, 768, 24, 12
    torch.manual_seed(5)
    bfn = official_bfn(T, C, L, H, True)
    with torch.no_grad():
        for name, prm in bfn.named_parameters():
            prm.add_(0.02 * torch.randn_like(prm))
    torch.save(bfn.state_dict(), f"{W}/official_big.pt")
    ov = overrides(T, C, L, H, True)
    sh([args.bfn, "import-torch", f"{W}/official_big.pt", "experiments/text8.ini", "--profile", "smoke", "--force",
        *ov])
    dmax, rmed, amax = compare_logits(bfn, ov, T, B=2)
    print(f"logits max |diff| {dmax:.3g} (max |logit| {amax:.3g}), median rel diff {rmed:.3g}")
