"""Probe epochs the pruner saves, at equal best accuracy: one study run with its pruner and without.

    python benchmarks/bench_pruning.py studies/quickstart.toml --n-trials 30 --data-dir ../shared/data

The study file is run twice through ``hebbsearch run`` (fresh SQLite storages in a temporary directory,
same seed, hence the same sampler): once as written, once with ``[study.pruner] name = "none"``. For each
run the script prints the trials by state, the probe epochs actually trained (a trial's reported steps
after step 0, the quick probe), the wall time and the best trial's validation and test accuracy. The
saving is 1 − epochs(pruned run) / epochs(unpruned run); the goal is ≥ 40 % with the best validation
accuracy within 0.3 points.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from optuna.trial import TrialState

from _study_run import run_study_file  # (benchmarks/, beside this script)

GOAL_SAVING = 0.40
GOAL_GAP = 0.003


def without_pruner(text: str) -> str:
    """The study file with its ``[study.pruner]`` table replaced by the no-op pruner."""
    table = re.compile(r"^\[study\.pruner\]\n(?:(?!\[).*\n)*", re.MULTILINE)
    if table.search(text):
        return table.sub('[study.pruner]\nname = "none"\n\n', text)
    return text.replace("[study]\n", '[study.pruner]\nname = "none"\n\n[study]\n', 1)


def run(study_file: Path, storage: str, args: argparse.Namespace) -> dict[str, object]:
    seconds, study = run_study_file(study_file, storage, args.n_trials, args.data_dir)
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial
    return {
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "epochs": sum(len([s for s in t.intermediate_values if s > 0]) for t in trials),
        "seconds": seconds,
        "best_val": best.value,
        "best_test": best.user_attrs.get("test_accuracy"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study_file", type=Path)
    ap.add_argument("--n-trials", type=int, default=30)
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    text = args.study_file.read_text()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, body in (("with its pruner", text), ("no pruner", without_pruner(text))):
            path = Path(tmp) / f"{len(results)}.toml"
            path.write_text(body)
            results[label] = run(path, f"sqlite:///{tmp}/{len(results)}.db", args)
    print(f"{args.study_file}, {args.n_trials} trials")
    print(f"  {'run':<16} {'complete':>8} {'pruned':>6} {'failed':>6} {'probe epochs':>12} {'wall s':>7} "
          f"{'best val':>8} {'its test':>8}")
    for label, r in results.items():
        print(f"  {label:<16} {r['complete']:>8} {r['pruned']:>6} {r['failed']:>6} {r['epochs']:>12} "
              f"{r['seconds']:>7.0f} {r['best_val']:>8.4f} {r['best_test']:>8.4f}")
    pruned, full = results["with its pruner"], results["no pruner"]
    saving = 1 - pruned["epochs"] / max(1, full["epochs"])
    gap = full["best_val"] - pruned["best_val"]
    ok = saving >= GOAL_SAVING and gap <= GOAL_GAP
    print(f"\nprobe epochs saved: {100 * saving:.0f} %, wall time saved: "
          f"{100 * (1 - pruned['seconds'] / full['seconds']):.0f} %, best val {100 * gap:+.2f} points behind "
          f"the unpruned run: goal (>= {100 * GOAL_SAVING:.0f} % saved within {100 * GOAL_GAP:.1f} points) "
          f"{'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
