"""The Optuna objective: sample settings, train the Hebbian layers, train a linear probe, return val accuracy.

One trial:

1. :func:`~hebbsearch.search._space.sample` the settings;
2. load the dataset (cached per process, so later trials reuse the tensors);
3. build the rule and the stack up to ``probe_after``, :func:`~hebbsearch.training.train_hebbian`;
4. :func:`~hebbsearch.training.extract_features` once for train/val/test (kept on the device);
5. :func:`~hebbsearch.training.train_probe`, reporting val accuracy each epoch to the pruner;
6. test accuracy once at the end (stored, never used for selection).

User attributes of each trial: ``probe_after``, ``rule``, ``settings`` (all values, fixed ones too),
``device``, ``worker`` (host:pid), ``time_data``/``time_hebbian``/``time_features``/``time_probe``
(seconds; ``time_data`` is 0 when the dataset was already loaded in this process), ``convergence``
(per layer), ``n_params`` (Hebbian weights up to ``probe_after`` plus probe parameters),
``test_accuracy``, and ``fail_reason`` for failed trials.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna

from hebbsearch.errors import ConfigError, DivergenceError, HebbsearchError
from hebbsearch.search._artifacts import upload_filters
from hebbsearch.search._space import TrialSettings, probe_positions, sample
from hebbsearch.search._storage import FAIL_REASON_ATTR, INTERRUPTED
from hebbsearch.study import Choice, Fixed, Spec, StudyConfig

# Loaded datasets by (name, root, val_split, subset, normalize, seed, device): trials in one process
# share the tensors.
_DATA_CACHE: dict[tuple[Any, ...], Any] = {}


class TrialFailed(HebbsearchError):
    """A trial could not be trained for a reason worth recording (divergence, impossible settings).

    ``study.optimize(..., catch=(TrialFailed,))`` marks the trial FAIL and goes on.
    """


def resolve_device(device: str | None) -> str:
    """``"auto"``/None → ``"cuda"`` when available, else ``"cpu"``; ``"cuda"`` must be available."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but is not available; use --device cpu or auto",
                          field="--device")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"expected auto, cpu or cuda, got {device!r}", field="--device")
    return device


def load_data(config: StudyConfig, data_dir: str | Path | None, device: str) -> Any:
    """The dataset of ``[data]`` (``data_dir`` overrides ``root``), cached per process."""
    from hebbsearch.data import load_dataset

    d = config.data
    root = data_dir if data_dir is not None else d.root
    root = str(Path(root).expanduser().resolve()) if root is not None else None
    key = (d.dataset, root, d.val_split, d.subset, d.normalize, config.study.seed, device)
    if key not in _DATA_CACHE:
        try:
            _DATA_CACHE[key] = load_dataset(d.dataset, root, val_split=d.val_split, subset=d.subset,
                                            normalize=d.normalize, seed=config.study.seed, device=device)
        except ValueError as e:
            raise ConfigError(str(e), source=config.source, field="data") from None
    return _DATA_CACHE[key]


def clear_data_cache() -> None:
    """Forget the cached datasets."""
    _DATA_CACHE.clear()


class Objective:
    """``Objective(config, data_dir, device)(trial) -> val accuracy``.

    Args:
        config: the study.
        data_dir: overrides ``[data] root`` (None: use it).
        device: ``"auto"``, ``"cpu"`` or ``"cuda[:n]"``.
        progress: called as ``progress(trial_number, phase, done, total)`` with phase ``"hebbian"`` or
            ``"probe"``, for progress bars (None: silent).
        artifact_dir: directory of the artifact store; each trial stores a picture of its first layer's
            filters there once its Hebbian training is done (None: no artifacts).
    """

    def __init__(
        self,
        config: StudyConfig,
        data_dir: str | Path | None = None,
        device: str | None = "auto",
        *,
        progress: Callable[[int, str, int, int], None] | None = None,
        artifact_dir: str | None = None,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.device = resolve_device(device)
        self.progress = progress
        self.artifact_dir = artifact_dir
        self.interrupted = False
        self._in_trial = False

    @property
    def in_trial(self) -> bool:
        """True while a trial is training (Ctrl-C then fails the trial instead of waiting for its end)."""
        return self._in_trial

    def check(self) -> None:
        """Load the data and build the networks the study can sample, so that a study in which no trial
        can work fails before the first one (ConfigError).

        Every fixed value is used as written; searched values are tried at their ends (ranges) or all of
        them (choices), up to :data:`MAX_CHECKED` combinations per rule and probe position. Only when no
        combination builds is the study rejected: a single impossible combination (e.g. Krotov's ``k``
        above some sampled widths) fails that trial with a recorded reason instead.
        """
        from hebbsearch.models import build_stack
        from hebbsearch.rules import get_rule

        splits = load_data(self.config, self.data_dir, self.device)
        architecture = self.config.model.architecture()
        options = _candidates(self.config.model.options)
        for rule in self.config.search.rules:
            params = _candidates(self.config.search.rule_params.get(rule, {}))
            for depth in probe_positions(self.config):
                first_error: Exception | None = None
                for rule_params, model_options in _combinations(params, options):
                    try:
                        build_stack(architecture, splits.input_shape, get_rule(rule, **rule_params),
                                    depth=depth, device="cpu", **model_options)
                        break
                    except (ValueError, TypeError) as e:
                        first_error = first_error or e
                else:
                    where = "model" if len(self.config.search.rules) == 1 else f"search.{rule}"
                    raise ConfigError(f"no sampled setting can work: {first_error}", source=self.config.source,
                                      field=where) from None

    def __call__(self, trial: optuna.Trial) -> float:
        if self.interrupted:  # Ctrl-C came between trials: do not start another one
            trial.set_user_attr(FAIL_REASON_ATTR, f"{INTERRUPTED} before it started")
            raise KeyboardInterrupt
        self._in_trial = True
        try:
            return self._run(trial)
        except DivergenceError as e:
            trial.set_user_attr(FAIL_REASON_ATTR, f"diverged: {e}")
            raise TrialFailed(f"trial {trial.number} diverged: {e}") from e
        except KeyboardInterrupt as e:
            trial.set_user_attr(FAIL_REASON_ATTR, f"{INTERRUPTED} ({getattr(e, 'reason', 'Ctrl-C')})")
            raise
        finally:
            self._in_trial = False

    def _run(self, trial: optuna.Trial) -> float:
        from hebbsearch.models import build_stack
        from hebbsearch.rules import get_rule
        from hebbsearch.training import accuracy, extract_features, train_hebbian, train_probe

        settings = sample(trial, self.config)
        trial.set_user_attr("probe_after", settings.probe_after)
        trial.set_user_attr("rule", settings.rule)
        trial.set_user_attr("settings", settings.to_dict())
        trial.set_user_attr("device", self.device)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        seed = self.config.study.seed
        n = trial.number
        times: dict[str, float] = {}

        with _timed(times, "data"):
            splits = load_data(self.config, self.data_dir, self.device)
        try:
            rule = get_rule(settings.rule, **settings.rule_params)
            stack = build_stack(self.config.model.architecture(), splits.input_shape, rule,
                                depth=settings.probe_after, seed=seed, device=self.device,
                                **settings.model_options)
        except ValueError as e:  # e.g. k >= units: these settings cannot work
            trial.set_user_attr(FAIL_REASON_ATTR, f"invalid settings: {e}")
            raise TrialFailed(f"trial {n}: invalid settings: {e}") from e

        try:
            h = settings.hebbian
            with _timed(times, "hebbian"):
                convergence = train_hebbian(
                    stack, splits.train_x, depth=settings.probe_after,
                    epochs=_epochs(h["epochs"], settings.probe_after), lr=h["lr"],
                    lr_schedule=h["lr_schedule"], batch_size=h["batch_size"], seed=seed,
                    progress=self._hebbian_progress(n),
                )
            trial.set_user_attr("convergence", [float(c) for c in convergence])
            if self.artifact_dir is not None:
                upload_filters(trial, stack.hebbian_layers()[0].weight, splits.input_shape, self.artifact_dir)

            with _timed(times, "features"):
                batch = self.config.data.batch_size
                depth = settings.probe_after
                train_f = extract_features(stack, splits.train_x, depth=depth, batch_size=batch)
                val_f = extract_features(stack, splits.val_x, depth=depth, batch_size=batch)
                test_f = extract_features(stack, splits.test_x, depth=depth, batch_size=batch)

            p = settings.probe
            probe_progress = self._progress(n, "probe")

            def on_epoch(epoch: int, val_accuracy: float) -> None:
                trial.report(val_accuracy, epoch)
                if probe_progress:
                    probe_progress(epoch + 1, p["epochs"])
                if trial.should_prune():
                    raise optuna.TrialPruned(f"val accuracy {val_accuracy:.4f} at epoch {epoch}")

            with _timed(times, "probe"):
                result = train_probe(
                    (train_f, splits.train_y), (val_f, splits.val_y), num_classes=splits.num_classes,
                    epochs=p["epochs"], lr=p["lr"], optimizer=p["optimizer"], lr_schedule=p["lr_schedule"],
                    batch_size=p["batch_size"], dropout=p["dropout"], weight_decay=p["weight_decay"],
                    seed=seed, on_epoch=on_epoch,
                )
            test_accuracy = accuracy(result.probe, test_f, splits.test_y)
            n_params = stack.num_hebbian_params(settings.probe_after) + sum(
                q.numel() for q in result.probe.parameters())
            trial.set_user_attr("test_accuracy", float(test_accuracy))
            trial.set_user_attr("n_params", int(n_params))
            return float(result.val_accuracy)
        finally:
            for phase, seconds in times.items():
                trial.set_user_attr(f"time_{phase}", round(seconds, 3))

    def _hebbian_progress(self, n: int) -> Callable[[str, int, int], None] | None:
        if self.progress is None:
            return None
        report = self.progress
        return lambda layer, done, total: report(n, f"hebbian {layer}", done, total)

    def _progress(self, n: int, phase: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        report = self.progress
        return lambda done, total: report(n, phase, done, total)


def _epochs(value: Any, depth: int) -> Any:
    """One count for every layer, or the first ``depth`` of a per-layer list (the file's list covers the
    deepest probe position; a trial may probe earlier)."""
    return list(value[:depth]) if isinstance(value, tuple) else value


#: at most this many combinations of searched values are built per rule and probe position by ``check``
MAX_CHECKED = 64


def _candidates(specs: dict[str, Spec]) -> dict[str, list[Any]]:
    """The values ``check`` tries for each spec: a fixed value, every choice, or both ends of a range."""
    out: dict[str, list[Any]] = {}
    for name, spec in specs.items():
        if isinstance(spec, Fixed):
            values = [list(spec.value) if isinstance(spec.value, tuple) else spec.value]
        elif isinstance(spec, Choice):
            values = list(spec.choices)
        else:
            values = [spec.low, spec.high]
        out[name] = values
    return out


def _combinations(params: dict[str, list[Any]], options: dict[str, list[Any]]) -> Iterator[
        tuple[dict[str, Any], dict[str, Any]]]:
    names = [*params, *options]
    pools = [*params.values(), *options.values()]
    if math.prod(len(p) for p in pools) > MAX_CHECKED:  # too many: vary one value at a time
        combos: Any = [tuple(p[0] for p in pools)]
        for i, pool in enumerate(pools):
            combos += [tuple(v if j == i else p[0] for j, p in enumerate(pools)) for v in pool[1:]]
    else:
        combos = itertools.product(*pools)
    for combo in combos:
        values = dict(zip(names, combo))
        yield {n: values[n] for n in params}, {n: values[n] for n in options}


@contextlib.contextmanager
def _timed(times: dict[str, float], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        times[phase] = time.perf_counter() - start


__all__ = ["Objective", "TrialFailed", "TrialSettings", "clear_data_cache", "load_data", "resolve_device"]
