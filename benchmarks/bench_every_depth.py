"""Hebbian training that ``[search] every_depth`` saves on a per-depth study, and what the table gets.

    python benchmarks/bench_every_depth.py studies/cifar10-biopytorch.toml --n-trials 10 \
        --data-dir ../shared/data --subset 4000

The study file is run twice through ``hebbsearch run`` (fresh SQLite storages in a temporary directory,
same seed, pruner off so that every trial trains its probe): once with ``every_depth = false``, once with
``every_depth = true``. For each run the script prints the Hebbian layers trained and reused, the Hebbian
seconds (the trials' ``time_hebbian``), the wall time, the probe positions filled and the best validation
accuracy per position. ``--subset`` (training images) and ``--probe-epochs`` shrink the study for a quick
run on a CPU; the layer counts do not depend on them.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from optuna.trial import TrialState

from _study_run import run_study_file  # (benchmarks/, beside this script)


def variant(text: str, every_depth: bool, subset: int | None, probe_epochs: int | None) -> str:
    """The study file with ``every_depth`` set, no pruner, and the optional smaller data and probe."""
    text = re.sub(r"^every_depth\s*=.*\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\[study\.pruner\]\n(?:(?!\[).*\n)*", "", text, flags=re.MULTILINE)
    text = text.replace("[study]\n", '[study.pruner]\nname = "none"\n\n[study]\n', 1)
    if "[search]\n" in text:
        text = text.replace("[search]\n", f"[search]\nevery_depth = {str(every_depth).lower()}\n", 1)
    else:
        text += f"\n[search]\nevery_depth = {str(every_depth).lower()}\n"
    if subset:
        text = re.sub(r"^subset\s*=.*\n", "", text, flags=re.MULTILINE)
        text = text.replace("[data]\n", f"[data]\nsubset = {subset}\n", 1)
    if probe_epochs:
        probe = re.search(r"^\[probe\]\n(?:(?!\[).*\n)*", text, flags=re.MULTILINE)
        assert probe is not None, "the study file has no [probe] table"
        table = re.sub(r"^epochs\s*=.*\n", "", probe.group(0), flags=re.MULTILINE)
        text = text.replace(probe.group(0), table.replace("[probe]\n", f"[probe]\nepochs = {probe_epochs}\n"))
    return text


def run(study_file: Path, storage: str, args: argparse.Namespace) -> dict[str, object]:
    seconds, study = run_study_file(study_file, storage, args.n_trials, args.data_dir)
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    best: dict[int, float] = defaultdict(float)
    for t in done:
        depth = int(t.params.get("probe_after", t.user_attrs.get("probe_after", 1)))
        best[depth] = max(best[depth], t.value)
    reused = sum(t.user_attrs.get("reused_layers", 0) for t in done)
    built = sum(int(t.params.get("probe_after", t.user_attrs.get("probe_after", 1))) for t in done)
    return {
        "complete": len(done),
        "layers trained": built - reused,
        "layers reused": reused,
        "hebbian s": sum(t.user_attrs.get("time_hebbian", 0.0) for t in done),
        "wall s": seconds,
        "best val per depth": " ".join(f"{d}:{best[d]:.3f}" for d in sorted(best)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--n-trials", type=int, default=10)
    parser.add_argument("--data-dir")
    parser.add_argument("--subset", type=int)
    parser.add_argument("--probe-epochs", type=int)
    args = parser.parse_args()
    text = args.study.read_text()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for every_depth in (False, True):
            path = Path(tmp) / f"every_depth_{every_depth}.toml"
            path.write_text(variant(text, every_depth, args.subset, args.probe_epochs))
            results[every_depth] = run(path, f"sqlite:///{tmp}/every_depth_{every_depth}.db", args)
    print(f"{args.study.name}, {args.n_trials} trials, subset {args.subset or 'all'}, "
          f"probe epochs {args.probe_epochs or 'as written'}")
    print(f"| | {' | '.join(results[False])} |")
    print(f"|---|{'---|' * len(results[False])}")
    for every_depth, row in results.items():
        cells = " | ".join(f"{v:.0f}" if isinstance(v, float) else str(v) for v in row.values())
        print(f"| every_depth = {str(every_depth).lower()} | {cells} |")
    off, on = results[False], results[True]
    print(f"Hebbian seconds per complete trial: {off['hebbian s'] / off['complete']:.1f} -> "
          f"{on['hebbian s'] / on['complete']:.1f} "
          f"({1 - (on['hebbian s'] / on['complete']) / (off['hebbian s'] / off['complete']):.0%} saved); "
          f"wall per trial {off['wall s'] / off['complete']:.1f} -> {on['wall s'] / on['complete']:.1f} s")


if __name__ == "__main__":
    main()
