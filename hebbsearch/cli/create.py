"""``hebbsearch create STUDY.toml``: create the tables and the study once, for a pool of workers.

The study file is stored in the study, so workers need only its name. Safe to run twice, or from several
processes at once (the pool's init service): an identical study is left as it is; a different study file
under an existing name is an error. The data are loaded and every network the study can sample is built
before the study is created.
"""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._args import add_data_dir
from hebbsearch.cli._output import message


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("create", parents=parents, help="create a study for a pool of workers",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study_file", metavar="STUDY.toml", help="study file")
    add_data_dir(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                   help="device of the check before creation (default: cpu)")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import create_study, finished_count, resolve_storage_url
    from hebbsearch.study import load_study_file

    config = load_study_file(args.study_file)
    study, created = create_study(resolve_storage_url(args.storage), config, data_dir=args.data_dir,
                                  device=args.device)
    done = finished_count(study.get_trials(deepcopy=False))
    if created:
        message(f"created study {study.study_name!r} ({config.study.n_trials} trials); start workers with: "
                f"hebbsearch worker {study.study_name}")
    else:
        message(f"study {study.study_name!r} exists with the same study file ({done}/{config.study.n_trials} "
                f"trials finished); nothing to do")
    return 0
