"""``hebbsearch dashboard``: optuna-dashboard on the study storage, with the trials' filter pictures.

It binds to 127.0.0.1 unless ``--host`` says otherwise: optuna-dashboard has no authentication and can
change studies (notes, trial states), so publish it only where everyone who can reach it may do that.
"""

from __future__ import annotations

import argparse
from typing import Any

from hebbsearch.cli._args import add_artifact_dir, int_at_least
from hebbsearch.cli._output import message


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dashboard", parents=parents, help="run optuna-dashboard on the storage",
                       description=__doc__.replace("``", "'"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int_at_least(1), default=8080, help="port (default: 8080)")
    add_artifact_dir(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from hebbsearch.search import open_storage, resolve_artifact_dir, run_dashboard

    storage = open_storage(args.storage, must_exist=True)
    message(f"optuna-dashboard on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    run_dashboard(storage, host=args.host, port=args.port, artifact_dir=resolve_artifact_dir(args.artifact_dir))
    return 0
