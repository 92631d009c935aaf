"""One GPU per worker, claimed automatically.

Docker Compose cannot give each replica of a scaled service its own GPU, so every worker sees all GPUs
and claims the lowest free one: slot ``i`` is the :class:`~hebbsearch.search._locks.StorageLock`
``gpu:<identity of device i>``, held for the worker's lifetime. The identity is the device's UUID
(``torch.cuda.get_device_properties(i).uuid``), the same in every container of one machine and different
on another machine, so workers on several hosts sharing one PostgreSQL never block each other. The lock
dies with the worker (PostgreSQL closes its session; the kernel drops a SQLite ``flock``).

More workers than GPUs: the extra ones wait for a free slot (checking every few seconds, and giving up
when the study's budget is reached), or with ``share=True`` run on a GPU that another worker holds.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from hebbsearch.errors import ConfigError
from hebbsearch.search._locks import StorageLock

#: seconds between attempts while every slot is taken
SLOT_POLL = 3.0


@dataclass
class GpuSlot:
    """A claimed slot: ``device`` is ``"cuda:i"`` (or ``"cpu"``, holding nothing); ``lock`` is None when
    shared or on the CPU."""

    device: str
    index: int | None = None
    identity: str | None = None
    lock: StorageLock | None = None

    def describe(self) -> str:
        if self.index is None:
            return "the CPU"
        how = "shared" if self.lock is None else "slot"
        return f"GPU {self.index} ({how}, {self.identity})"

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def reclaim(self) -> bool:
        """After a storage outage: a PostgreSQL advisory lock dies with its connection, so take the slot
        again. Returns False when another worker took it meanwhile (this worker then shares the GPU)."""
        if self.lock is None:
            return True
        url, name = self.lock.url, self.lock.name
        self.lock.release()  # the old connection is gone or broken: drop it
        lock = StorageLock(url, name)
        if lock.acquire(blocking=False):
            self.lock = lock
            return True
        self.lock = None
        return False


def parse_gpus(text: str) -> str | tuple[int, ...]:
    """``--gpus``: ``auto``, ``none`` or a comma-separated list of device indices."""
    value = text.strip().lower()
    if value in ("auto", "none"):
        return value
    try:
        indices = tuple(int(part) for part in value.split(","))
    except ValueError:
        indices = ()
    if not indices or any(i < 0 for i in indices) or len(set(indices)) != len(indices):
        raise ConfigError(f"expected auto, none or distinct device indices like 0,1, got {text!r}",
                          field="--gpus")
    return indices


def device_identities(indices: Sequence[int] | None = None) -> list[tuple[int, str]]:
    """``(index, identity)`` of the visible CUDA devices (all, or ``indices``)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if indices is None:
        indices = range(count)
    missing = [i for i in indices if i >= count]
    if missing:
        raise ConfigError(f"GPU {missing[0]} is not available ({count} CUDA device(s) visible)", field="--gpus")
    out = []
    for i in indices:
        uuid = getattr(torch.cuda.get_device_properties(i), "uuid", None)
        out.append((i, f"GPU-{uuid}" if uuid is not None else f"{socket.gethostname()}:cuda:{i}"))
    return out


def claim_slot(url: str, candidates: Sequence[tuple[int, str]], *, share: bool = False,
               should_stop: Callable[[], bool] = lambda: False, poll: float = SLOT_POLL,
               log: Callable[[str], None] | None = None) -> GpuSlot | None:
    """Claim the lowest free of ``candidates`` (``(index, identity)`` pairs); wait while all are taken.

    Returns the slot, or None when ``should_stop()`` became true while waiting.
    """
    announced = False
    while True:
        for index, identity in candidates:
            lock = StorageLock(url, f"gpu:{identity}")
            if lock.acquire(blocking=False):
                return GpuSlot(f"cuda:{index}", index, identity, lock)
        if share:
            index, identity = candidates[os.getpid() % len(candidates)]
            return GpuSlot(f"cuda:{index}", index, identity, None)
        if should_stop():
            return None
        if not announced and log is not None:
            log(f"all {len(candidates)} GPU slot(s) are taken; waiting for a free one "
                f"(--share-gpus to share)")
            announced = True
        time.sleep(poll)


def claim_gpu_slot(url: str, gpus: str | tuple[int, ...], *, share: bool = False,
                   should_stop: Callable[[], bool] = lambda: False,
                   log: Callable[[str], None] | None = None) -> GpuSlot | None:
    """The worker's device for ``--gpus`` (``auto``: the CPU when no CUDA device is visible)."""
    if gpus == "none":
        return GpuSlot("cpu")
    if gpus == "auto":
        candidates = device_identities()
        if not candidates:
            return GpuSlot("cpu")
    else:
        candidates = device_identities(gpus)
    slot = claim_slot(url, candidates, share=share, should_stop=should_stop, log=log)
    if slot is not None:
        torch.cuda.set_device(slot.index)
    return slot


__all__ = ["GpuSlot", "claim_gpu_slot", "claim_slot", "device_identities", "parse_gpus"]
