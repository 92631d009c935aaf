"""Start-up of the ``hebbsearch`` command: why its command modules import the library inside their handler.

    python benchmarks/bench_cli_startup.py            # 9 interleaved rounds
    python benchmarks/bench_cli_startup.py --reps 15

Every command module (``hebbsearch/cli/<command>.py``) builds its argparse parser at the top level and
imports ``hebbsearch.search`` / ``hebbsearch.study`` (Optuna, SQLAlchemy, the trial code) only when its
handler runs. So ``hebbsearch --help``, ``hebbsearch run --help`` and every usage error pay for torch (the
package imports it) but not for the search layer. This script times, as whole processes, in interleaved
rounds:

  * ``hebbsearch --help``, as the CLI is;
  * a process that imports the CLI together with the search and study layers: what every invocation,
    ``--help`` included, would cost with those imports at the top of the command modules;
  * ``python -c pass``: the interpreter alone.

It prints the median wall time of each and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "hebbsearch --help (as shipped)": [sys.executable, "-c",
                                       "from hebbsearch.cli import main; main(['--help'])"],
    "CLI + search + study imported": [sys.executable, "-c",
                                      "import hebbsearch.cli._main, hebbsearch.search, hebbsearch.study"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9, help="interleaved rounds (default 9)")
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache
        wall(command)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.reps):
        for name, command in COMMANDS.items():
            times[name].append(wall(command))
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"{args.reps} rounds")
    for name, values in times.items():
        print(f"  {name:32s} median {statistics.median(values):6.2f} s  "
              f"(min {min(values):.2f}, max {max(values):.2f})")
    shipped, eager = times["hebbsearch --help (as shipped)"], times["CLI + search + study imported"]
    print(f"  eager / shipped: {statistics.median(e / s for e, s in zip(eager, shipped)):.2f}x "
          f"(median of per-round ratios)")


if __name__ == "__main__":
    main()
