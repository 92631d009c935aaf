"""One Krotov learning step: hebbsearch against biopytorch, same shapes, same process, interleaved.

    python benchmarks/bench_update.py                      # both cases, fp32, CPU
    python benchmarks/bench_update.py --case conv --reps 15 --json out.json

For each case the script times, in rounds A B C D A B C D ... (so that load from other processes
hits every candidate alike):

  A  hebbsearch ``layer.hebbian_step(x, lr)``   (what ``train_hebbian`` calls per batch)
  B  biopytorch ``layer.training_step(x, lr)``  (biopytorch's only learning call; it also computes
     the p-norm convergence figure every step)
  C  biopytorch's step without that figure (its batch norm, ``delta_weights`` and ``weight.add_``):
     the strict like-for-like update, shown for information
  D  ``torch.matmul`` on the shape of the currents GEMM, the one matmul a step cannot avoid
  E  the fastest op we know for those same currents (oneDNN linear; F.conv2d on a channels-last
     input), a stricter reference than D, shown for information

and reports medians over the rounds (and, for the speed-up, also the median of the per-round
ratios B/A, which slow drifts in machine load cancel out of). The targets are judged on the ratio
of medians against B and D, as they were set. "Peak memory" is measured in a fresh subprocess per
implementation (see ``_child_memory``). Unless --no-check, both implementations also take two
float64 steps from equal weights and the largest weight difference is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from hebbsearch.layers import HebbianConv2d, HebbianLinear  # noqa: E402
from hebbsearch.layers import _linear as _linear_module  # noqa: E402
from hebbsearch.rules import get_rule  # noqa: E402

try:
    import biopytorch
except ImportError:  # pragma: no cover
    sys.exit("biopytorch is needed for this comparison: pip install biopytorch==0.0.1")

LR = 1e-3
SPEED_TARGET = 3.0    # × biopytorch's images/s
MEMORY_TARGET = 2.0   # × biopytorch's peak memory of one step (conv)
GEMM_TARGET = 0.60    # fraction of torch.matmul's GFLOP/s on the currents shape (linear)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    batch: int
    p: int
    k: int
    delta: float

    def build(self, dtype: torch.dtype, device: str, seed: int = 0):
        """(ours, bio, x) with equal initial weights; x is a fixed random batch."""
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed + 1)
        if self.name == "conv":
            bio = biopytorch.BioConv2d(3, 96, 5, lebesgue_p=self.p, ranking_param=self.k, delta=self.delta,
                                       device=device, dtype=dtype)
            rule = get_rule("krotov", p=self.p, k=self.k, delta=self.delta, norm_scope="unit")
            ours = HebbianConv2d(3, 96, 5, rule=rule, input_norm="batch", device=device, dtype=dtype)
            x = torch.randn(self.batch, 3, 32, 32, generator=g, dtype=dtype).to(device)
        else:
            bio = biopytorch.BioLinear(784, 2000, delta=self.delta, ranking_param=self.k,
                                       lebesgue_p=self.p, device=device, dtype=dtype)
            rule = get_rule("krotov", p=self.p, k=self.k, delta=self.delta)
            ours = HebbianLinear(784, 2000, rule=rule, input_norm="batch", device=device, dtype=dtype)
            x = torch.randn(self.batch, 784, generator=g, dtype=dtype).to(device)
        with torch.no_grad():
            ours.weight.copy_(bio.weight)
        return ours, bio, x

    def fastest_currents_op(self, ours, x, a, b):
        """(name, fn) of the fastest op we know computing the same currents, or (None, None)."""
        if self.name == "conv":
            xn = torch.nn.functional.batch_norm(x, None, None, training=True)
            xn = xn.contiguous(memory_format=torch.channels_last)
            w = ours.transformed_weight()
            return "F.conv2d on channels-last input", lambda: torch.nn.functional.conv2d(xn, w)
        op = _linear_module._ONEDNN_LINEAR
        if op is None or a.device.type != "cpu" or a.dtype != torch.float32:
            return None, None
        return "oneDNN linear", lambda: op(a, b, None, "none", [], "")

    def gemm_operands(self, ours, x):
        """The currents GEMM as (a, b) with a @ b.T: (M, N) rows and the (K, N) transformed weights."""
        with torch.no_grad():
            t2d = ours.transformed_weight().reshape(ours.weight.shape[0], -1).contiguous()
            if self.name == "conv":
                xn = torch.nn.functional.batch_norm(x, None, None, training=True)
                a = ours.patches(xn)[0].contiguous()
            else:
                a = x.reshape(x.shape[0], -1).contiguous()
        return a, t2d


CASES = {
    "conv": Case("conv", "conv 3→96, 5×5, 32×32 input, batch 64, p=2 k=9 Δ=0.08", 64, 2, 9, 0.08),
    "linear": Case("linear", "linear 784→2000, batch 100, p=3 k=7 Δ=0.4", 100, 3, 7, 0.4),
}


def bio_update_only(bio, x: torch.Tensor) -> None:
    """biopytorch's training_step without its convergence figure (bias=False path)."""
    with torch.no_grad():
        bio.batch_norm.train()
        if isinstance(bio, biopytorch.BioLinear):
            x = x.view(x.size(0), -1)
        x = bio.batch_norm(x)
        bio.weight.add_(LR * bio.delta_weights(x, bio.weight))


# -- timing -----------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved(candidates: dict[str, Callable[[], object]], reps: int, warmup: int, device: str,
                min_block: float = 0.03) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one sample per round; rounds run the candidates in turn.

    Each sample times a block of calls long enough (>= min_block s) that timer resolution and
    per-call jitter do not dominate; the block length is fixed per candidate during warm-up.
    """
    inner = {}
    for name, fn in candidates.items():
        for _ in range(max(1, warmup)):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            once = time.perf_counter() - t0
        inner[name] = max(1, math.ceil(min_block / max(once, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            _sync(device)
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return samples


# -- memory -----------------------------------------------------------------------------------------

MEMORY_METHOD_CPU = (
    "peak RSS growth during one step (VmHWM after the step minus VmRSS before it, peak reset via "
    "/proc/self/clear_refs) in a fresh subprocess per implementation after 2 warm-up steps, with glibc "
    "malloc set to mmap every block >= 64 KiB and return freed memory at once, so that freed buffers "
    "are not silently reused; counts torch and numpy buffers alike"
)
MEMORY_METHOD_CUDA = "torch.cuda.max_memory_allocated() during one step minus memory_allocated() before it"


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child_memory(case: Case, impl: str, dtype: torch.dtype, device: str) -> dict:
    """Run in a fresh process: peak extra memory (bytes) of one step of ``impl`` ("ours" or "bio")."""
    ours, bio, x = case.build(dtype, device)
    step = (lambda: ours.hebbian_step(x, LR)) if impl == "ours" else (lambda: bio.training_step(x, LR))
    for _ in range(2):
        step()
    _sync(device)
    import gc
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        _sync(device)
        return {"peak_bytes": torch.cuda.max_memory_allocated() - before}
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _rss_kib("VmRSS")
    step()
    return {"peak_bytes": (_rss_kib("VmHWM") - before) * 1024}


def peak_memory(case: Case, impl: str, dtype_name: str, device: str, reps: int = 3) -> int | None:
    """Median over ``reps`` fresh subprocesses of :func:`_child_memory`; None if unavailable."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    values = []
    for _ in range(reps):
        proc = subprocess.run(
            [sys.executable, __file__, "--child-memory", case.name, impl, "--dtype", dtype_name,
             "--device", device],
            capture_output=True, text=True, env=env, check=False,
        )
        if proc.returncode != 0:
            print(f"  (memory measurement of {impl} failed: {proc.stderr.strip().splitlines()[-1:]})")
            return None
        values.append(json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"])
    return int(statistics.median(values))


# -- equality ---------------------------------------------------------------------------------------


def equality_check(case: Case, device: str, steps: int = 2) -> float:
    """max |W_ours − W_bio| after ``steps`` steps from equal weights, in float64."""
    ours, bio, x = case.build(torch.float64, device, seed=3)
    for _ in range(steps):
        ours.hebbian_step(x, 0.05)
        bio.training_step(x, 0.05)
    return float((ours.weight - bio.weight).abs().max())


# -- report -----------------------------------------------------------------------------------------


def run_case(case: Case, args) -> dict:
    dtype = getattr(torch, args.dtype)
    ours, bio, x = case.build(dtype, args.device)
    a, b = case.gemm_operands(ours, x)
    m, n = a.shape
    units = b.shape[0]
    flops = 2.0 * m * n * units
    candidates = {
        "ours": lambda: ours.hebbian_step(x, LR),
        "bio": lambda: bio.training_step(x, LR),
        "bio_update": lambda: bio_update_only(bio, x),
        "gemm": lambda: torch.matmul(a, b.T),
    }
    # the fastest op we know for the same currents, for a stricter reference than torch.matmul
    fast_name, fast = case.fastest_currents_op(ours, x, a, b)
    if fast is not None:
        candidates["gemm_fast"] = fast
    samples = interleaved(candidates, args.reps, args.warmup, args.device)
    med = {name: statistics.median(s) for name, s in samples.items()}
    low = {name: min(s) for name, s in samples.items()}
    result = {
        "case": case.name, "title": case.title, "batch": case.batch,
        "gemm_shape": [m, n, units], "gemm_flops": flops,
        "median_s": med, "min_s": low, "samples_s": samples,
        "images_per_s": {name: case.batch / med[name] for name in ("ours", "bio", "bio_update")},
        "speedup_vs_training_step": med["bio"] / med["ours"],
        # per round, bio and ours ran back to back: the median of those ratios shrugs off slow drifts
        "paired_speedup_vs_training_step": statistics.median(
            b / o for b, o in zip(samples["bio"], samples["ours"])),
        "speedup_vs_update_only": med["bio_update"] / med["ours"],
        "gemm_gflops": flops / med["gemm"] / 1e9,
        "ours_gflops": flops / med["ours"] / 1e9,
        "fraction_of_gemm_rate": med["gemm"] / med["ours"],
    }
    if fast is not None:
        result["fastest_currents_op"] = fast_name
        result["fastest_gflops"] = flops / med["gemm_fast"] / 1e9
        result["fraction_of_fastest_rate"] = med["gemm_fast"] / med["ours"]
    if not args.no_memory:
        result["peak_bytes"] = {impl: peak_memory(case, impl, args.dtype, args.device)
                                for impl in ("ours", "bio")}
    if not args.no_check:
        result["max_abs_weight_diff_float64"] = equality_check(case, args.device)
    return result


def _mib(v: int | None) -> str:
    return "n/a" if v is None else f"{v / 2**20:.1f} MiB"


def print_case(r: dict) -> list[tuple[str, float, float, bool]]:
    med, low, ips = r["median_s"], r["min_s"], r["images_per_s"]
    m, n, k = r["gemm_shape"]
    print(f"\n== {r['title']}")
    print(f"   {'':44s} {'ms/step':>9s} {'(min)':>8s} {'images/s':>10s}")
    rows = [("hebbsearch hebbian_step", "ours"), ("biopytorch training_step", "bio"),
            ("biopytorch update only (no convergence)", "bio_update")]
    for label, key in rows:
        print(f"   {label:44s} {med[key] * 1e3:9.2f} {low[key] * 1e3:8.2f} {ips[key]:10.0f}")
    print(f"   speed-up: {r['speedup_vs_training_step']:.2f}x vs training_step "
          f"(median of per-round ratios {r['paired_speedup_vs_training_step']:.2f}x), "
          f"{r['speedup_vs_update_only']:.2f}x vs update only")
    print(f"   currents GEMM ({m}x{n} @ {n}x{k}) via torch.matmul: {med['gemm'] * 1e3:.2f} ms = "
          f"{r['gemm_gflops']:.0f} GFLOP/s; hebbsearch step = {r['ours_gflops']:.0f} GFLOP/s "
          f"= {100 * r['fraction_of_gemm_rate']:.0f} % of the GEMM rate")
    if "fastest_currents_op" in r:
        print(f"   (same currents via {r['fastest_currents_op']}: {med['gemm_fast'] * 1e3:.2f} ms = "
              f"{r['fastest_gflops']:.0f} GFLOP/s; the step reaches "
              f"{100 * r['fraction_of_fastest_rate']:.0f} % of that)")
    checks = []
    if "peak_bytes" in r:
        po, pb = r["peak_bytes"]["ours"], r["peak_bytes"]["bio"]
        ratio = po / pb if po is not None and pb else float("nan")
        print(f"   peak memory of one step: hebbsearch {_mib(po)}, biopytorch {_mib(pb)} "
              f"(ratio {ratio:.2f})")
        if r["case"] == "conv":
            checks.append(("conv peak memory <= 2x biopytorch", ratio, MEMORY_TARGET, ratio <= MEMORY_TARGET))
    if "max_abs_weight_diff_float64" in r:
        print(f"   equal to biopytorch: max |W_ours - W_bio| after 2 float64 steps = "
              f"{r['max_abs_weight_diff_float64']:.1e}")
    s = r["speedup_vs_training_step"]
    checks.insert(0, (f"{r['case']} images/s >= 3x biopytorch", s, SPEED_TARGET, s >= SPEED_TARGET))
    if r["case"] == "linear":
        f = r["fraction_of_gemm_rate"]
        checks.append(("linear >= 60 % of the currents GEMM rate", f, GEMM_TARGET, f >= GEMM_TARGET))
    return checks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=["conv", "linear", "all"], default="all")
    ap.add_argument("--reps", type=int, default=7, help="interleaved rounds (samples per candidate)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per candidate first")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--json", metavar="PATH", help="also write all numbers (and raw samples) here")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--no-check", action="store_true", help="skip the float64 equality check")
    ap.add_argument("--child-memory", nargs=2, metavar=("CASE", "IMPL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child_memory:
        case_name, impl = args.child_memory
        print(json.dumps(_child_memory(CASES[case_name], impl, getattr(torch, args.dtype), args.device)))
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")

    device_name = (torch.cuda.get_device_name(args.device) if args.device.startswith("cuda")
                   else _cpu_name())
    print(f"torch {torch.__version__}, {device_name}, {torch.get_num_threads()} threads, {args.dtype}, "
          f"{args.reps} interleaved rounds (median), load average {os.getloadavg()[0]:.2f}")
    print("memory: " + (MEMORY_METHOD_CUDA if args.device.startswith("cuda") else MEMORY_METHOD_CPU))
    names = ["conv", "linear"] if args.case == "all" else [args.case]
    results, checks = [], []
    for name in names:
        r = run_case(CASES[name], args)
        results.append(r)
        checks += print_case(r)
    print(f"\ntargets ({args.dtype}, {args.device}; load average now {os.getloadavg()[0]:.2f}):")
    for label, value, target, ok in checks:
        shown = f"{100 * value:.0f} %" if "GEMM" in label else f"{value:.2f}x"
        print(f"   {label:45s} {shown:>8s}   {'MET' if ok else 'NOT MET'}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "torch": torch.__version__, "device": device_name, "threads": torch.get_num_threads(),
            "dtype": args.dtype, "reps": args.reps, "results": results,
            "targets": [dict(label=l, value=v, target=t, met=ok) for l, v, t, ok in checks],
        }, indent=1))
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor() or "CPU"


if __name__ == "__main__":
    sys.exit(main())
