"""HebbianRNN's learning step against torch.nn.RNN's forward, same shapes, same process, interleaved.

    python benchmarks/bench_recurrent.py                   # inputs 512 and 64, rules oja and krotov
    python benchmarks/bench_recurrent.py --reps 15 --threads 1

Shapes: batch 64, 128 time steps, hidden 512, input 512 or 64, float32, CPU, no bias, tanh. In rounds
(so that load from other processes hits every candidate alike) the script times:

  * ``HebbianRNN.hebbian_step(x, lr)`` with Oja's and with Krotov's rule: the whole sequence without
    grad plus one rule update on all B·T (pre, post) pairs;
  * ``HebbianRNN.forward(x)`` under no_grad, for information;
  * ``torch.nn.RNN(batch_first=True)`` forward under no_grad on the same (B, T, F) input: the reference;
  * ``torch.nn.RNN`` (time-major) forward under no_grad on a pre-transposed (T, B, F) copy of the
    input (transposing not timed): the fastest way to call it, a stricter reference.

Throughput is tokens (B·T time steps) per second from the median over the rounds. The target is a
HebbianRNN step at >= 50 % of nn.RNN's forward throughput. The ratio of medians and the median of
the per-round ratios (which cancels slow drifts in machine load) are both printed.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from hebbsearch.layers import HebbianRNN  # noqa: E402

BATCH, STEPS, HIDDEN = 64, 128, 512
LR = 1e-4
TARGET = 0.50  # × nn.RNN forward tokens/s


def interleaved(candidates: dict[str, Callable[[], object]], reps: int, warmup: int,
                min_block: float = 0.05) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one sample per round; rounds run the candidates in turn.
    Each sample times a block of calls of at least ``min_block`` seconds."""
    inner = {}
    for name, fn in candidates.items():
        once = math.inf
        for _ in range(max(1, warmup)):
            t0 = time.perf_counter()
            fn()
            once = time.perf_counter() - t0
        inner[name] = max(1, math.ceil(min_block / max(once, 1e-6)))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(reps):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return samples


def candidates_for(input_size: int, rules: list[str], seed: int = 0) -> dict[str, Callable[[], object]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, STEPS, input_size, generator=g)
    x_time_major = x.transpose(0, 1).contiguous()
    torch.manual_seed(seed)
    rnn = torch.nn.RNN(input_size, HIDDEN, bias=False, batch_first=True)
    rnn_tm = torch.nn.RNN(input_size, HIDDEN, bias=False)
    rnn_tm.load_state_dict(rnn.state_dict())

    def no_grad(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return fn()
        return run

    out: dict[str, Callable[[], object]] = {
        "nn.RNN forward (batch_first)": no_grad(lambda: rnn(x)),
        "nn.RNN forward (time-major)": no_grad(lambda: rnn_tm(x_time_major)),
    }
    for rule in rules:
        layer = HebbianRNN(input_size, HIDDEN, rule, seed=seed)
        out[f"HebbianRNN step ({rule})"] = lambda layer=layer: layer.hebbian_step(x, LR)
    forward_layer = HebbianRNN(input_size, HIDDEN, rules[0], seed=seed)
    out["HebbianRNN forward"] = no_grad(lambda: forward_layer(x))
    return out


def report(input_size: int, samples: dict[str, list[float]]) -> list[tuple[str, float]]:
    """Print the table for one input size; return (rule, ratio vs batch_first) per HebbianRNN step."""
    tokens = BATCH * STEPS
    refs = {"batch_first": "nn.RNN forward (batch_first)", "time-major": "nn.RNN forward (time-major)"}
    med = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\ninput {input_size}, hidden {HIDDEN}, batch {BATCH}, T {STEPS} ({tokens} tokens per call)")
    print(f"  {'candidate':<30} {'median ms':>10} {'min ms':>8} {'tokens/s':>10}   "
          f"{'vs batch_first':>14} {'vs time-major':>13}   per-round ratios (bf / tm)")
    results = []
    for name, values in samples.items():
        ratios = [med[refs[k]] / med[name] for k in ("batch_first", "time-major")]
        per_round = [statistics.median(r / v for r, v in zip(samples[refs[k]], values))
                     for k in ("batch_first", "time-major")]
        print(f"  {name:<30} {1e3 * med[name]:>10.1f} {1e3 * min(values):>8.1f} "
              f"{tokens / med[name]:>10,.0f}   "
              f"{100 * ratios[0]:>13.0f}% {100 * ratios[1]:>12.0f}%   "
              f"{100 * per_round[0]:.0f}% / {100 * per_round[1]:.0f}%")
        if name.startswith("HebbianRNN step"):
            results.append((name, ratios[0], ratios[1]))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7, help="interleaved rounds (samples per candidate)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed calls per candidate first")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--input-sizes", default="512,64", help="comma-separated input sizes")
    ap.add_argument("--rules", default="oja,krotov", help="comma-separated rule names")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, {args.reps} rounds, float32 CPU")
    verdicts = []
    for input_size in [int(s) for s in args.input_sizes.split(",")]:
        samples = interleaved(candidates_for(input_size, rules), args.reps, args.warmup)
        verdicts += [(input_size, *r) for r in report(input_size, samples)]
    print(f"\ntarget: HebbianRNN step >= {100 * TARGET:.0f} % of nn.RNN forward tokens/s")
    for input_size, name, bf, tm in verdicts:
        status = "met" if bf >= TARGET else "MISSED"
        strict = "met" if tm >= TARGET else "missed"
        print(f"  input {input_size:>3}  {name:<26} {100 * bf:4.0f} % of batch_first: {status:<6}"
              f"  ({100 * tm:.0f} % of time-major: {strict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
