"""``hebbsearch refit STUDY``: the final fit of the best trials, as published figures are measured.

For each probe position, the best trial is trained again with its parameters; its probe is fit on the
training and validation data together and evaluated once on the test set. ``report`` shows the result
in its own row (``Accuracy (test, refit on train+val)``), apart from the searched validation figure.

Each result is stored as soon as it is measured: an interrupted refit keeps the positions it finished,
and running it again refits only the best trials without a result (``--again``: all of them).
"""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._args import add_data_dir, add_layer_cache, positive_int
from hebbsearch.cli._output import message


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("refit", parents=parents, help="refit the best trials on train+val, test once",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", metavar="STUDY", help="study name")
    add_data_dir(p)
    add_layer_cache(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: auto")
    p.add_argument("--probe-after", type=positive_int, nargs="+", metavar="N",
                   help="only these probe positions (default: every one with a complete trial)")
    p.add_argument("--again", action="store_true",
                   help="also refit best trials that already have a refit result")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import refit_best, resolve_layer_cache, resolve_storage_url

    new = refit_best(resolve_storage_url(args.storage), args.study, data_dir=args.data_dir,
                     device=args.device, log=message, layer_cache=resolve_layer_cache(args.layer_cache),
                     probe_after=args.probe_after, again=args.again)
    if not new:
        message(f"study {args.study!r}: nothing left to refit")
    return 0
