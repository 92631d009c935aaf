"""Layer-1 feature extraction against ``torch.nn.functional.conv2d`` alone, same shapes, same process.

    python benchmarks/bench_extract.py                  # SoftHebb's layer 1 on 32x32 RGB images
    python benchmarks/bench_extract.py --reps 11 --threads 1

What a CIFAR-10 trial spends on features: SoftHebb's first block (batch norm of the input, reflect
padding 2, 96 kernels 5x5, triangle activation with power 0.7, max-pool 4/2/1), i.e. 24,576 features per
image, for ``--images`` random images. In interleaved rounds (load from other processes hits every
candidate alike) the script times:

  * ``extract_features(stack, x, depth=1)``: what a trial calls (chunked on the CPU, see
    ``hebbsearch.training._features.CPU_CHUNK_BYTES``);
  * the same in batches of 1000 images (no chunking), for information;
  * ``F.conv2d`` alone on the padded NCHW images in batches of 1000: the convolution as one would call it,
    the reference of the target;
  * ``F.conv2d`` alone on channels-last padded images in chunks of the same size as the extraction's: the
    fastest convolution this CPU offers, a stricter reference.

Throughput is images per second from the median over the rounds. Target: extraction >= 50 % of the
conv rate. The ratio of medians and the median of the per-round ratios are both printed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from bench_recurrent import interleaved  # noqa: E402
from hebbsearch.models import build_stack  # noqa: E402
from hebbsearch.rules import get_rule  # noqa: E402
from hebbsearch.training import _features, extract_features  # noqa: E402

TARGET = 0.50  # x the conv rate
BATCH = 1000


def candidates(images: int, seed: int = 0) -> dict[str, Callable[[], object]]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(images, 3, 32, 32, generator=g)
    stack = build_stack("softhebb3", (3, 32, 32), get_rule("softhebb"), depth=1, seed=seed)
    stack.eval()
    layer = stack.blocks[0].layer
    weight = layer.transformed_weight()
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")
    padded_cl = padded.contiguous(memory_format=torch.channels_last)
    chunk = _features.chunk_rows(stack, x, 1, BATCH)

    def unchunked() -> object:
        saved = _features.CPU_CHUNK_BYTES
        _features.CPU_CHUNK_BYTES = 1 << 62
        try:
            return extract_features(stack, x, depth=1, batch_size=BATCH)
        finally:
            _features.CPU_CHUNK_BYTES = saved

    def conv(inputs: torch.Tensor, rows: int) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                for start in range(0, images, rows):
                    F.conv2d(inputs[start:start + rows], weight)
        return run

    return {
        "conv2d, NCHW, batches of 1000": conv(padded, BATCH),
        f"conv2d, channels-last, chunks of {chunk}": conv(padded_cl, chunk),
        "extract_features": lambda: extract_features(stack, x, depth=1, batch_size=BATCH),
        "extract_features, batches of 1000": unchunked,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000, help="images per call")
    ap.add_argument("--reps", type=int, default=7, help="interleaved rounds (samples per candidate)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls per candidate first")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, {args.images} images, {args.reps} rounds")
    fns = candidates(args.images)
    samples = interleaved(fns, args.reps, args.warmup)
    med = {name: statistics.median(v) for name, v in samples.items()}
    refs = list(fns)[:2]
    print(f"  {'candidate':<42} {'median s':>9} {'images/s':>9}   "
          f"{'vs NCHW conv':>12} {'vs channels-last':>16}")
    for name, values in samples.items():
        ratios = [med[r] / med[name] for r in refs]
        print(f"  {name:<42} {med[name]:>9.3f} {args.images / med[name]:>9,.0f}   "
              f"{100 * ratios[0]:>11.0f}% {100 * ratios[1]:>15.0f}%")
    per_round = [statistics.median(r / v for r, v in zip(samples[ref], samples["extract_features"]))
                 for ref in refs]
    ratio = med[refs[0]] / med["extract_features"]
    print(f"\ntarget: extract_features >= {100 * TARGET:.0f} % of the conv rate: "
          f"{100 * ratio:.0f} % of the NCHW conv ({'met' if ratio >= TARGET else 'MISSED'}), "
          f"{100 * med[refs[1]] / med['extract_features']:.0f} % of the channels-last conv; "
          f"per-round medians {100 * per_round[0]:.0f} % / {100 * per_round[1]:.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
