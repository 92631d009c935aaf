"""Argument types and options that several commands share (defined once)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hebbsearch._defaults import DEFAULT_HEARTBEAT


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def add_heartbeat(p: argparse.ArgumentParser) -> None:
    p.add_argument("--heartbeat", type=non_negative_int, default=DEFAULT_HEARTBEAT, metavar="SECONDS",
                   help="heartbeat interval of running trials; a trial whose process died is failed and "
                        f"re-queued after twice this (0: off; default {DEFAULT_HEARTBEAT})")


def add_artifact_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--artifact-dir", metavar="DIR",
                   help="artifact store of the trials' filter pictures, shared by all workers (default: "
                        "$HEBBSEARCH_ARTIFACTS, else ./hebbsearch-artifacts; 'none': off)")


def add_layer_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer-cache", metavar="DIR",
                   help="also keep trained layers in DIR, for the other workers of this host and a later "
                        "'refit' (default: $HEBBSEARCH_LAYER_CACHE, else off; 'none': off)")


def add_threads(p: argparse.ArgumentParser, default_help: str) -> None:
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help=f"CPU threads per worker for torch's operators (default: {default_help}); workers "
                        "sharing a host should split its cores between them")


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="dataset directory (overrides [data] root; default: $HEBBSEARCH_DATA_DIR)")
