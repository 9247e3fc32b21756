#!/usr/bin/env python3
"""unet_torch.py: the `small` MNIST U-Net training step in PyTorch, as the
speed reference for the C model (src/models/unet.c), written from the same
description: per-pixel input [2*theta-1, 2t-1] projected to 32 channels,
3x3 conv, levels with widths 32-64-64 and one residual block each (GroupNorm
32, SiLU, conv, + time projection, GroupNorm, SiLU, conv), stride-2 conv
down, nearest x2 + conv up, a middle res/attention/res, skip concatenation,
GroupNorm, SiLU, conv, concatenation with the projected input and a per-pixel
linear head; the discrete (K = 2) continuous-time loss of the paper (eq. 26
with beta(t) = 9 t^2), backward, clip 5, AdamW + EMA.

Usage: unet_torch.py THREADS SECONDS [BATCH]  -> prints steps/s (after one warm-up).
bench/torch_steps.py imports make_step for `make bench-compare CASES=unet`.
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

C, MULT, B, HW = 32, (1, 2, 2), 64, 28


def norm(ch):
    return nn.GroupNorm(32, ch)


class Res(nn.Module):
    def __init__(self, ci, co, ce):
        super().__init__()
        self.n1, self.c1 = norm(ci), nn.Conv2d(ci, co, 3, padding=1)
        self.e = nn.Linear(ce, co)
        self.n2, self.c2 = norm(co), nn.Conv2d(co, co, 3, padding=1)
        self.skip = nn.Conv2d(ci, co, 1) if ci != co else nn.Identity()

    def forward(self, x, e):
        h = self.c1(F.silu(self.n1(x))) + self.e(e)[:, :, None, None]
        return self.skip(x) + self.c2(F.silu(self.n2(h)))


class Attn(nn.Module):
    def __init__(self, ch, heads=4):
        super().__init__()
        self.n, self.qkv, self.proj, self.heads = norm(ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1), heads

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        a = torch.softmax(torch.einsum("bhdt,bhds->bhts", q, k) / math.sqrt(c // self.heads), -1)
        y = torch.einsum("bhts,bhds->bhdt", a, v).reshape(b, c, h, w)
        return x + self.proj(y)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        ce = 4 * C
        self.inp = nn.Linear(2, C)
        self.conv_in = nn.Conv2d(C, C, 3, padding=1)
        self.temb = nn.Sequential(nn.Linear(C, ce), nn.SiLU(), nn.Linear(ce, ce), nn.SiLU())
        self.down, chans, ch = nn.ModuleList(), [C], C
        for l, m in enumerate(MULT):
            self.down.append(Res(ch, m * C, ce))
            ch = m * C
            chans.append(ch)
            if l < len(MULT) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                chans.append(ch)
        self.mid = nn.ModuleList([Res(ch, ch, ce), Attn(ch), Res(ch, ch, ce)])
        self.up = nn.ModuleList()
        for l, m in reversed(list(enumerate(MULT))):
            for r in range(2):
                self.up.append(Res(ch + chans.pop(), m * C, ce))
                ch = m * C
                if l and r == 1:
                    self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                 nn.Conv2d(ch, ch, 3, padding=1)))
        self.out = nn.Sequential(norm(ch), nn.SiLU(), nn.Conv2d(ch, C, 3, padding=1))
        self.head = nn.Linear(2 * C, 1)

    def forward(self, theta, t):
        x = torch.stack([2 * theta - 1, (2 * t - 1)[:, None, None].expand_as(theta)], -1)
        x = self.inp(x)  # (B, H, W, C)
        h = self.conv_in(x.permute(0, 3, 1, 2))
        half = C // 2
        f = torch.exp(-math.log(10000) * torch.arange(half) / half)
        a = 4000 * t[:, None] * f[None]
        e = self.temb(torch.cat([a.cos(), a.sin()], 1))
        hs = [h]
        for m in self.down:
            h = m(h, e) if isinstance(m, Res) else m(h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, e)), e)
        for m in self.up:
            if isinstance(m, Res):
                h = m(torch.cat([h, hs.pop()], 1), e)
            else:
                h = m(h)
        h = self.out(h).permute(0, 2, 3, 1)
        return self.head(torch.cat([x, h], -1))[..., 0]


def make_step(batch=B):
    """One training step of the network on a fixed random binary batch; returns the loss."""
    torch.manual_seed(0)
    net = UNet()
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.01)
    x = (torch.rand(batch, HW, HW) < 0.3).float()

    def step():
        t = torch.rand(batch)
        beta = 9 * t ** 2  # discrete flow, K = 2 (paper eq. 26-28)
        y = beta[:, None, None, None] * (2 * F.one_hot(x.long(), 2).float() - 1) + \
            (2 * beta)[:, None, None, None].sqrt() * torch.randn(batch, HW, HW, 2)
        theta = torch.softmax(y, -1)[..., 1]
        logit = net(theta, t)
        p1 = torch.sigmoid(logit)
        ehat = torch.stack([1 - p1, p1], -1)
        loss = (2 * 9 * t[:, None, None] * 2 * ((F.one_hot(x.long(), 2) - ehat) ** 2).sum(-1) / 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)
        return loss.item()
    return step


def main():
    threads, seconds = int(sys.argv[1]), float(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else B
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # as the C side does (src/util/fpenv.h)
    step = make_step(batch)
    step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        step()
        n += 1
    print(f"{n / (time.perf_counter() - t0):.4f}")


if __name__ == "__main__":
    main()
