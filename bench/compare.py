#!/usr/bin/python3
"""`make bench-compare`: the C steps (build/bench --serve) against the same steps in
PyTorch (bench/torch_steps.py --serve), interleaved in one invocation.

For each thread count (1, then 2) both servers are started with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set to it (PyTorch with the OpenMP build of OpenBLAS on its library
path, so PyTorch and OpenBLAS share one OpenMP pool, as the C program does). Then, REPS
times, every case is run on both sides back to back, alternating which side goes first;
each request times STEPS units of work after one warm-up. The table shows medians over
the repeats, the C/PyTorch ratio and each side's share of the sgemm rate measured by the
C server in the same rounds. The machine load (/proc/loadavg) is printed around each
block: on a shared machine only the ratios mean something.

Usage: bench/compare.py [--reps N] [--threads 1,2] [--cases a,b,...] [--bench build/bench]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OMP_BLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"

# name, label, units per request (C, torch), unit shown, sgemm reference case
CASES = [
    ("mnist128", "MNIST MLP step, B=128", 10, "steps/s", "sgemm128"),
    ("mnist64", "MNIST MLP step, B=64", 10, "steps/s", "sgemm64"),
    ("cifar_cts32", "continuous CIFAR-shape MLP step, B=32", 4, "steps/s", "sgemm2048"),
    ("disc256_32", "discretised 256-bin step, B=32", 2, "steps/s", "sgemm2048"),
    ("tf_bench", "transformer 3 layers d=192 T=128 B=32", 2, "steps/s", "sgemm2048"),
    ("tf_ref", "transformer 4 layers d=256 T=256 B=32", 1, "steps/s", "sgemm2048"),
    ("unet", "small MNIST U-Net step, B=64", 1, "steps/s", "sgemm2048"),
    ("unet32", "small MNIST U-Net step, B=32", 1, "steps/s", "sgemm2048"),
    ("ln_mnist", "L^n evaluation pass, MNIST, n=100 (1000 ex.)", 1, "ms", "sgemm2048"),
    ("ln_disc256", "L^n K=256 + grad, B=32 (C only)", 2, "ms", None),
    ("sample_mnist", "sampling, 100 steps x 64 MNIST images", 1, "s", "sgemm64"),
]
SGEMM = ["sgemm2048", "sgemm64", "sgemm128"]


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Server:
    def __init__(self, cmd, env):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)

    def run(self, case, steps):
        self.p.stdin.write(f"{case} {steps}\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise SystemExit(f"bench-compare: server {self.p.args[0]} stopped (case {case})")
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.wait()


def fmt_value(sec, unit):
    if sec is None:
        return "n/a"
    if unit == "steps/s":
        return f"{1.0 / sec:.3g}"
    if unit == "ms":
        return f"{1e3 * sec:.0f} ms"
    return f"{sec:.2f} s"


def block(threads, reps, cases, bench):
    # Both sides wait passively at OpenMP barriers unless the caller chose a policy (bfn's default).
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    env.setdefault("OMP_WAIT_POLICY", "passive")
    tenv = dict(env, LD_LIBRARY_PATH=OMP_BLAS_DIR + ":" + env.get("LD_LIBRARY_PATH", ""))
    c = Server([bench, "--serve"], env)
    t = Server([sys.executable, os.path.join(HERE, "torch_steps.py")], tenv)
    loads = [load()]
    res = {}  # (side, case) -> [sec]
    gflop = {}
    missing = set()
    blas = None
    for r in range(reps):
        for g in SGEMM:
            out = c.run(g, 3 if g == "sgemm2048" else 1)
            res.setdefault(("c", g), []).append(out["sec"])
            gflop[g] = out["gflop"]
        for name, _label, steps, _unit, _ref in cases:
            sides = [("c", c), ("torch", t)] if r % 2 == 0 else [("torch", t), ("c", c)]
            for side, srv in sides:
                if (side, name) in missing:
                    continue
                out = srv.run(name, steps)
                if "error" in out:
                    missing.add((side, name))
                    continue
                res.setdefault((side, name), []).append(out["sec"])
                if side == "c":
                    gflop[name] = out["gflop"]
                else:
                    blas = out.get("blas", blas)
        loads.append(load())
        print(f"  [{threads} thread{'s' if threads > 1 else ''}] round {r + 1}/{reps} done, load {loads[-1]}",
              file=sys.stderr, flush=True)
    c.close()
    t.close()
    med = {k: statistics.median(v) for k, v in res.items()}
    return med, gflop, loads, blas


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cases", default=None)
    ap.add_argument("--bench", default="build/bench")
    a = ap.parse_args()
    cases = CASES if not a.cases else [x for x in CASES if x[0] in a.cases.split(",")]
    t_start = time.time()
    print(f"bfn-harness vs PyTorch: medians of {a.reps} interleaved rounds per thread count; "
          f"C/PyTorch > 1 means C is faster")
    for threads in [int(x) for x in a.threads.split(",")]:
        med, gflop, loads, blas = block(threads, a.reps, cases, a.bench)
        peak = gflop["sgemm2048"] / med[("c", "sgemm2048")]
        print(f"\n== {threads} thread{'s' if threads > 1 else ''}; load average (1/5/15 min) before: {loads[0]}, "
              f"after: {loads[-1]}")
        print(f"sgemm 2048^3: {peak:.1f} GFLOP/s; B x 1024 x 1024: B=64 "
              f"{gflop['sgemm64'] / med[('c', 'sgemm64')]:.1f}, B=128 {gflop['sgemm128'] / med[('c', 'sgemm128')]:.1f}"
              f"; PyTorch's OpenBLAS: {', '.join(blas or ['?'])}")
        print(f"| work | C | PyTorch | C / PyTorch | C % of sgemm | PyTorch % of sgemm |")
        print(f"|---|---|---|---|---|---|")
        for name, label, _steps, unit, ref in cases:
            cs, ts = med.get(("c", name)), med.get(("torch", name))
            if cs is None and ts is None:
                print(f"| {label} | not in this build | | | | |")
                continue
            ratio = f"{ts / cs:.2f}x" if cs and ts else ""
            fr_c = fr_t = ""
            if ref and name in gflop and gflop[name] > 0:
                rate = gflop[ref] / med[("c", ref)]
                shape = "" if ref == "sgemm2048" else f" ({ref[5:]}x1024x1024)"
                fr_c = f"{100 * gflop[name] / cs / rate:.0f}%{shape}" if cs else ""
                fr_t = f"{100 * gflop[name] / ts / rate:.0f}%" if ts else ""
            print(f"| {label} | {fmt_value(cs, unit)} | {fmt_value(ts, unit)} | {ratio} | {fr_c} | {fr_t} |")
    print(f"\n(total {time.time() - t_start:.0f} s; steps/s: higher is better; ms and s: time per pass, lower is "
          f"better; % of sgemm = matrix-product FLOPs of the work / time / sgemm rate)")


if __name__ == "__main__":
    main()
