#!/usr/bin/python3
"""The PyTorch side of `make bench-compare`: the same BFN steps as src/tools/bench.c,
written from the paper's equations (Graves et al. 2023, arXiv 2308.07037), on the
same network shapes, activation (tanh GELU), batch, loss, clipping, AdamW and EMA.

It is a server: bench/compare.py starts it with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set to the thread count (one shared OpenMP pool for
PyTorch and the OpenMP build of OpenBLAS) and sends one request per line,
    CASE STEPS
and reads one JSON line back: {"case": ..., "sec": seconds per step (STEPS timed
after one untimed warm-up step), "loss": a finite loss seen}. "quit" ends it.

Cases (the C side has the same names):
  mnist128, mnist64  discrete K=2, D=784, MLP 785->1024->1024->784, L^inf (eq. 182),
                     backward, clip 5, AdamW, EMA 0.9999 (timed as part of the step)
  cifar_cts32        continuous, D=3072, MLP 3073->1024->1024->3072, noise prediction,
                     L^inf (eq. 101), sigma_1 = 1e-3
  disc256_32         discretised K=256, D=3072, MLP 3073->1024->1024->6144, L^inf with the
                     discretised output mean (eqs. 108-118, 123)
  tf_bench           text transformer 3 blocks, d=192, 4 heads, T=128, K=27, B=32
  tf_ref             4 blocks, d=256, 4 heads, T=256, K=27, B=32 (the issue's reference size)
  ln_mnist           one L^n evaluation pass (n=100, 10 MC samples, per-coordinate
                     receiver mixture, eqs. 185-187), 1000 MNIST-shaped examples at B=500
  sample_mnist       the n-step sampler (alg. 9), 100 steps x 64 MNIST-shaped images
  unet, unet32       the small MNIST U-Net step (bench/unet_torch.py) at B = 64 and 32
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

torch.set_flush_denormal(True)  # as the C side does (src/util/fpenv.h)
from torch import nn

torch.manual_seed(0)


def gelu(x):
    return F.gelu(x, approximate="tanh")


class MLP(nn.Module):
    """h0 = gelu([x, 2t-1] W0^T + b0); h1 = gelu(h0 W1^T + b1); out = h1 W2^T + b2."""

    def __init__(self, d_in, d_out, hidden=1024, layers=2):
        super().__init__()
        dims = [d_in + 1] + [hidden] * layers + [d_out]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x, t):
        h = torch.cat([x, (2 * t - 1).unsqueeze(1)], 1)
        for lin in self.lins[:-1]:
            h = gelu(lin(h))
        return self.lins[-1](h)


def sinusoid(T, C):
    """Position table of the official TextInputAdapter (base 1000)."""
    p = torch.arange(T, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(C, dtype=torch.float64)
    ang = p / torch.pow(1000.0, j / C)
    return torch.where(j.long() % 2 == 0, torch.sin(ang), torch.cos(ang)).float()


class Block(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.fc, self.fc2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        hd = C // self.NH
        q, k, v = self.qkv(self.ln1(x)).split(C, 2)
        q, k, v = (z.view(B, T, self.NH, hd).transpose(1, 2) for z in (q, k, v))
        att = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(hd)), -1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        return x + self.fc2(gelu(self.fc(self.ln2(x))))


class Transformer(nn.Module):
    """Non-causal pre-LN GPT with the skip head of the official text8 network."""

    def __init__(self, T, K, L, C, NH):
        super().__init__()
        self.inp, self.t_proj = nn.Linear(K, C), nn.Linear(1, C)
        self.register_buffer("pos", sinusoid(T, C))
        self.blocks = nn.ModuleList(Block(C, NH) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(2 * C, K)

    def forward(self, x, t):  # x (B, T, K) = 2 theta - 1, t (B)
        h0 = self.inp(x) + self.pos + self.t_proj((2 * t - 1).view(-1, 1, 1))
        h = h0
        for blk in self.blocks:
            h = blk(h)
        return self.head(torch.cat([self.ln_f(h), h0], -1))


# ---- the three data families (paper sections 4-6) ----------------------------------

class Discrete:
    """K classes, beta(t) = beta1 t^2. K=2: one logit l, p_O = (1 - sigmoid l, sigmoid l)."""

    def __init__(self, K, beta1):
        self.K, self.beta1 = K, beta1

    def flow(self, x, t):  # eq. 176: theta = softmax(beta (K e_x - 1) + sqrt(beta K) eps)
        beta = (self.beta1 * t.clamp(max=1 - 1e-6) ** 2).view(-1, *([1] * x.dim()))
        e = F.one_hot(x, self.K).float()
        y = beta * (self.K * e - 1) + (beta * self.K).sqrt() * torch.randn_like(e)
        return torch.softmax(y, -1)

    def net_input(self, theta):
        return 2 * theta[..., 1] - 1 if self.K == 2 else 2 * theta - 1

    def probs(self, out):
        if self.K == 2:
            p1 = torch.sigmoid(out)
            return torch.stack([1 - p1, p1], -1)
        return torch.softmax(out, -1)

    def loss_cts(self, x, t, out):  # eq. 182: (K/2) beta'(t) ||e_x - p_O||^2
        e = F.one_hot(x, self.K).float()
        w = (self.K * self.beta1 * t).view(-1, *([1] * (x.dim() - 1)))  # (K/2) * 2 beta1 t
        return (w * (e - self.probs(out)).square().sum(-1)).mean()

    def loss_n(self, x, alpha, out, n, n_mc=10):
        """n KL(p_S || p_R) by Monte Carlo, receiver = product over coordinates j of the
        mixture p_j N(alpha(K-1), alpha K) + (1 - p_j) N(-alpha, alpha K) (eqs. 185-187)."""
        K = self.K
        a = alpha.view(1, -1, 1, 1)
        e = F.one_hot(x, K).float().unsqueeze(0)  # (1, B, D, K)
        p = self.probs(out).unsqueeze(0)
        y = a * (K * e - 1) + (a * K).sqrt() * torch.randn((n_mc,) + e.shape[1:])
        var = a * K
        log_s = -(y - a * (K - 1)).square() / (2 * var)   # N(y | alpha(K-1)), normaliser cancels
        log_o = -(y + a).square() / (2 * var)             # N(y | -alpha)
        log_sender = torch.where(e > 0, log_s, log_o).sum(-1)
        log_recv = torch.logaddexp(p.log() + log_s, (1 - p).log() + log_o).sum(-1)
        return n * (log_sender - log_recv).mean(0).mean(-1)  # per example, nats/dim

    def output_sample(self, out):
        if self.K == 2:  # the official BernoulliFactory draws with torch.bernoulli
            return torch.bernoulli(torch.sigmoid(out)).long()
        p = self.probs(out)
        return torch.multinomial(p.reshape(-1, self.K), 1).view(p.shape[:-1])

    def update(self, theta, x, alpha):  # eq. 171: theta' = theta e^y / sum
        e = F.one_hot(x, self.K).float()
        y = alpha * (self.K * e - 1) + math.sqrt(alpha * self.K) * torch.randn_like(e)
        return torch.softmax(theta.log() + y, -1)


class Continuous:
    """sigma_1 = 1e-3: gamma(t) = 1 - sigma1^(2t); noise prediction with clip to [-1, 1]."""

    def __init__(self, sigma1=1e-3):
        self.s1 = sigma1

    def flow(self, x, t):  # eq. 77
        gamma = (1 - self.s1 ** (2 * t)).unsqueeze(1)
        return gamma * x + (gamma * (1 - gamma)).sqrt() * torch.randn_like(x), gamma

    def x_hat(self, mu, gamma, eps_hat):  # eq. 84
        return (mu / gamma - ((1 - gamma) / gamma).sqrt() * eps_hat).clamp(-1, 1)

    def loss_cts(self, x, t, mu, gamma, out):  # eq. 101: -ln(sigma1) sigma1^(-2t) (x - x_hat)^2
        w = (-math.log(self.s1) * self.s1 ** (-2 * t)).unsqueeze(1)
        return (w * (x - self.x_hat(mu, gamma, out)).square()).mean()


class Discretised(Continuous):
    """K bins; output (mu_eps, ln sigma_eps) per dimension, discretised Gaussian with open
    edge bins; k_hat = sum_k c_k p_k = c_{K-1} - (2/K) sum_{j=1}^{K-1} Phi((b_j - mu)/s)."""

    def __init__(self, K=256, sigma1=1e-3):
        super().__init__(sigma1)
        self.K = K
        self.bounds = -1 + torch.arange(1, K) * (2.0 / K)

    def loss_cts(self, x, t, mu, gamma, out):
        out = out.view(x.shape[0], -1, 2)
        s = ((1 - gamma) / gamma).sqrt()
        mu_x = mu / gamma - s * out[..., 0]
        sd_x = s * out[..., 1].clamp(-10, 10).exp()
        z = (self.bounds - mu_x.unsqueeze(-1)) / (sd_x.unsqueeze(-1) * math.sqrt(2))
        k_hat = (1 - 1.0 / self.K) - (2.0 / self.K) * (0.5 * (1 + torch.erf(z))).sum(-1)
        w = (-math.log(self.s1) * self.s1 ** (-2 * t)).unsqueeze(1)
        return (w * (x - k_hat).square()).mean()


# ---- one case = setup + a closure doing one unit of work --------------------------

def trainer(net, loss_fn):
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.01,
                            foreach=True)
    params = list(net.parameters())
    ema = [p.detach().clone() for p in params]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        with torch.no_grad():  # ema <- ema - (1 - d)(ema - p), d = 0.9999
            torch._foreach_mul_(ema, 0.9999)
            torch._foreach_add_(ema, params, alpha=1e-4)
        return loss.item()
    return step


def mlp_discrete(B):
    fam, D = Discrete(2, 9.0), 784
    net = MLP(D, D)
    x = torch.randint(0, 2, (B, D))

    def loss_fn():
        t = torch.rand(B)
        with torch.no_grad():
            inp = fam.net_input(fam.flow(x, t))
        return fam.loss_cts(x, t, net(inp, t).view(B, D))
    return trainer(net, loss_fn)


def mlp_image(B, fam, out_ch):
    D = 3072
    net = MLP(D, D * out_ch)
    x = (torch.randint(0, 256, (B, D)).float() * 2 + 1) / 256 - 1

    def loss_fn():
        t = torch.rand(B)
        with torch.no_grad():
            mu, gamma = fam.flow(x, t)
        return fam.loss_cts(x, t, mu, gamma, net(mu, t))
    return trainer(net, loss_fn)


def transformer(L, C, T, B=32, K=27):
    fam = Discrete(K, 0.5625)
    net = Transformer(T, K, L, C, 4)
    x = torch.randint(0, K, (B, T))

    def loss_fn():
        t = torch.rand(B)
        with torch.no_grad():
            inp = fam.net_input(fam.flow(x, t))
        return fam.loss_cts(x, t, net(inp, t))
    return trainer(net, loss_fn)


def ln_pass(n=100, N=1000, B=500):
    fam, D = Discrete(2, 9.0), 784
    net = MLP(D, D)
    xs = torch.randint(0, 2, (N, D))
    beta = lambda t: 9.0 * t * t  # noqa: E731

    @torch.no_grad()
    def run():
        total = 0.0
        for e0 in range(0, N, B):
            x = xs[e0:e0 + B]
            i = torch.randint(1, n + 1, (x.shape[0],)).float()
            t = (i - 1) / n
            alpha = beta(i / n) - beta(t)
            out = net(fam.net_input(fam.flow(x, t)), t)
            total += fam.loss_n(x, alpha, out, n).sum().item()
        return total / N
    return run


def sampler(n=100, B=64):
    fam, D = Discrete(2, 9.0), 784
    net = MLP(D, D)

    @torch.no_grad()
    def run():
        theta = torch.full((B, D, 2), 0.5)
        for i in range(1, n + 1):
            t = torch.full((B,), (i - 1) / n)
            alpha = 9.0 * ((i / n) ** 2 - ((i - 1) / n) ** 2)
            out = net(fam.net_input(theta), t)
            theta = fam.update(theta, fam.output_sample(out), alpha)
        out = net(fam.net_input(theta), torch.ones(B))
        return float((out > 0).float().mean())
    return run


def unet_step(B):
    """The small MNIST U-Net step of bench/unet_torch.py (the same network as
    the C side's BENCH_UNET, experiments/mnist.ini `small`)."""
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import unet_torch
    return unet_torch.make_step(B)


CASES = {
    "mnist128": lambda: mlp_discrete(128),
    "mnist64": lambda: mlp_discrete(64),
    "cifar_cts32": lambda: mlp_image(32, Continuous(), 1),
    "disc256_32": lambda: mlp_image(32, Discretised(256), 2),
    "tf_bench": lambda: transformer(3, 192, 128),
    "tf_ref": lambda: transformer(4, 256, 256),
    "ln_mnist": ln_pass,
    "sample_mnist": sampler,
    "unet": lambda: unet_step(64),
    "unet32": lambda: unet_step(32),
}


def serve():
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        name, steps = words[0], int(words[1])
        if name not in CASES:
            print(json.dumps({"case": name, "error": "no such case"}), flush=True)
            continue
        fn = CASES[name]()
        loss = fn()  # warm-up (allocator, thread pool)
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = fn()
        sec = (time.perf_counter() - t0) / steps
        blas = sorted({ln.split()[-1] for ln in open("/proc/self/maps") if "openblas" in ln})
        print(json.dumps({"case": name, "sec": sec, "loss": loss, "threads": torch.get_num_threads(),
                          "blas": blas}), flush=True)
        del fn


if __name__ == "__main__":
    serve()
