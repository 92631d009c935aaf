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
import hashlib
import itertools
import math
import os
import pickle
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import Tensor

from hebbsearch import __version__
from hebbsearch.data import load_dataset
from hebbsearch.errors import ConfigError, DivergenceError, HebbsearchError
from hebbsearch.models import build_stack
from hebbsearch.rules import get_rule
from hebbsearch.search._artifacts import upload_filters
from hebbsearch.search._space import TrialSettings, layer_rule_params, option_built, probe_positions, sample
from hebbsearch.search._storage import FAIL_REASON_ATTR, INTERRUPTED
from hebbsearch.study import Choice, Fixed, IntRange, PerLayer, Spec, StudyConfig
from hebbsearch.training import accuracy, extract_features, layer_diagnostics, train_hebbian, train_probe

# Loaded datasets by (name, root, val_split, subset, normalize, seed, device): trials in one process
# share the tensors.
_DATA_CACHE: dict[tuple[Any, ...], Any] = {}


class Interrupted(KeyboardInterrupt):
    """A trial stopped by SIGINT/SIGTERM; ``reason`` (``"Ctrl-C"``, ``"SIGTERM"``) goes into ``fail_reason``.

    A :class:`KeyboardInterrupt`, so Optuna marks the trial FAIL and re-raises it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TrialFailed(HebbsearchError):
    """A trial could not be trained for a reason worth recording (divergence, impossible settings).

    ``study.optimize(..., catch=(TrialFailed,))`` marks the trial FAIL and goes on.
    """


def resolve_device(device: str | None) -> str:
    """``"auto"``/None → ``"cuda"`` when available, else ``"cpu"``; ``"cuda"`` must be available."""
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
    if config.data.kind != "image":  # text, sequential images: hebbsearch.search._sequence
        from hebbsearch.search._sequence import load_sequence_data  # deferred: _sequence imports this module

        return load_sequence_data(config, data_dir, device)
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
        refit: the final fit: the probe trains on train + val and the trial's value is the test accuracy
            (for :func:`~hebbsearch.search.refit_best`, never for a search).
        layer_cache: a directory where trained layers are also kept on disk (see
            :func:`resolve_layer_cache`), so that other processes of the host (a pool's workers, a later
            ``refit``) reuse them; None: this process's memory only.
    """

    def __init__(
        self,
        config: StudyConfig,
        data_dir: str | Path | None = None,
        device: str | None = "auto",
        *,
        progress: Callable[[int, str, int, int], None] | None = None,
        artifact_dir: str | None = None,
        refit: bool = False,
        layer_cache: str | Path | None = None,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.device = resolve_device(device)
        self.progress = progress
        self.artifact_dir = artifact_dir
        self.refit = refit
        self.layer_cache = Path(layer_cache) if layer_cache is not None else None
        #: set by a worker: returns why to stop (e.g. ``"SIGTERM"``) or None; checked between epochs, so a
        #: trial whose time goes into many short epochs stops as promptly as one in long computations
        self.stop_requested: Callable[[], str | None] | None = None

    def check(self) -> None:
        """Load the data and build the networks the study can sample, so that a study in which no trial
        can work fails before the first one (ConfigError).

        Every fixed value is used as written; searched values are tried at their ends (ranges) or all of
        them (choices), up to :data:`MAX_CHECKED` combinations per rule and probe position. Only when no
        combination builds is the study rejected: a single impossible combination (e.g. Krotov's ``k``
        above some sampled widths) fails that trial with a recorded reason instead.
        """
        if self.config.data.kind != "image":  # text, sequential images: hebbsearch.search._sequence
            from hebbsearch.search._sequence import check_sequence_study

            return check_sequence_study(self)
        splits = load_data(self.config, self.data_dir, self.device)
        architecture = self.config.model.architecture()
        options = _candidates(self.config.model.options)
        for rule in self.config.search.rules:
            params = _candidates(self.config.search.rule_params.get(rule, {}))
            for depth in probe_positions(self.config):
                first_error: Exception | None = None
                for rule_params, model_options in _combinations(params, options):
                    try:
                        rules = [get_rule(rule, **p)
                                 for p in layer_rule_params(self.config, rule, rule_params, depth)]
                        build_stack(architecture, splits.input_shape, rules, depth=depth, device="cpu",
                                    **model_options)
                        break
                    except (ValueError, TypeError) as e:
                        first_error = first_error or e
                else:
                    where = "model" if len(self.config.search.rules) == 1 else f"search.{rule}"
                    raise ConfigError(f"no sampled setting can work: {first_error}", source=self.config.source,
                                      field=where) from None

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            return self._run(trial)
        except DivergenceError as e:
            trial.set_user_attr(FAIL_REASON_ATTR, f"diverged: {e}")
            raise TrialFailed(f"trial {trial.number} diverged: {e}") from e
        except KeyboardInterrupt as e:  # Ctrl-C, or hebbsearch.search.Interrupted (SIGTERM) from a worker
            trial.set_user_attr(FAIL_REASON_ATTR, f"{INTERRUPTED} ({getattr(e, 'reason', 'Ctrl-C')})")
            raise

    def _run(self, trial: optuna.Trial) -> float:
        if self.config.data.kind != "image":  # text, sequential images: hebbsearch.search._sequence
            from hebbsearch.search._sequence import run_sequence_trial

            return run_sequence_trial(self, trial)
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
        stack = self._build(trial, settings, splits)
        depth = settings.probe_after
        try:
            with _timed(times, "hebbian"):
                convergence, reused = self._train_hebbian(stack, splits, settings, n)
            trial.set_user_attr("convergence", [float(c) for c in convergence])
            if reused:
                trial.set_user_attr("reused_layers", reused)
            self._diagnose(trial, stack, splits, depth)
            if self.artifact_dir is not None:
                upload_filters(trial, stack.hebbian_layers()[0].weight, splits.input_shape, self.artifact_dir)

            p = settings.probe
            with _timed(times, "features"):
                train, val, test_f = self._features(stack, splits, depth, mirrored=p["augment"] == "flip")

            if not self.refit:  # (a final fit has nothing to prune)
                self._quick_probe_step(trial, train, val, splits.num_classes, p, times)
            on_epoch = self._epoch_steps(trial, p["epochs"])
            with _timed(times, "probe"):
                result = train_probe(
                    train, val, num_classes=splits.num_classes,
                    epochs=p["epochs"], lr=p["lr"], optimizer=p["optimizer"], lr_schedule=p["lr_schedule"],
                    batch_size=p["batch_size"], dropout=p["dropout"], weight_decay=p["weight_decay"],
                    seed=seed, on_epoch=None if self.refit else on_epoch,  # (a final fit reports nothing)
                )
            test_accuracy = accuracy(result.probe, test_f, splits.test_y)
            n_params = stack.num_hebbian_params(settings.probe_after) + sum(
                q.numel() for q in result.probe.parameters())
            trial.set_user_attr("test_accuracy", float(test_accuracy))
            trial.set_user_attr("n_params", int(n_params))
            return float(test_accuracy if self.refit else result.val_accuracy)
        finally:
            for phase, seconds in times.items():
                trial.set_user_attr(f"time_{phase}", round(seconds, 3))

    def _features(self, stack: Any, splits: Any, depth: int, mirrored: bool) -> tuple[
            tuple[Tensor, Tensor], tuple[Tensor, Tensor], Tensor]:
        """``(train, val)`` (features, labels) pairs for the probe and the test features. ``mirrored``: the
        training rows are followed by those of the mirrored images. The final fit (``refit``) trains on
        train + val and has an empty validation pair."""
        batch = self.config.data.batch_size
        train_x, train_y = splits.train_x, splits.train_y
        if self.refit:  # the final fit: train + val, evaluated on test only
            train_x, train_y = torch.cat([train_x, splits.val_x]), torch.cat([train_y, splits.val_y])
            val = (train_x.new_empty((0, stack.feature_dim(depth))), train_y[:0])
        else:
            val = (extract_features(stack, splits.val_x, depth=depth, batch_size=batch), splits.val_y)
        train_f = extract_features(stack, train_x, depth=depth, batch_size=batch, mirrored=mirrored)
        train = (train_f, torch.cat([train_y, train_y]) if mirrored else train_y)
        return train, val, extract_features(stack, splits.test_x, depth=depth, batch_size=batch)

    def _build(self, trial: optuna.Trial, settings: TrialSettings, splits: Any) -> Any:

        try:
            rule = [get_rule(settings.rule, **p) for p in layer_rule_params(
                self.config, settings.rule, settings.rule_params, settings.probe_after)]
            return build_stack(self.config.model.architecture(), splits.input_shape, rule,
                               depth=settings.probe_after, seed=self.config.study.seed, device=self.device,
                               **settings.model_options)
        except ValueError as e:  # e.g. k >= units: these settings cannot work
            trial.set_user_attr(FAIL_REASON_ATTR, f"invalid settings: {e}")
            raise TrialFailed(f"trial {trial.number}: invalid settings: {e}") from e

    def _train_hebbian(self, stack: Any, splits: Any, settings: TrialSettings, n: int, *,
                       train: Callable[..., list[float]] | None = None) -> tuple[list[float], int]:
        """Train layers 1..depth, reusing layers this process already trained with the same settings.

        Layer i's weights depend only on the data, the architecture and options, the rule, the seed and
        the Hebbian settings of layers 1..i: a trial that shares them with an earlier one (e.g. the same
        Hebbian settings probed after another depth, or with another probe) loads the trained layers from
        :data:`_LAYER_CACHE` and trains only the rest. ``train``: the training function
        (:func:`~hebbsearch.training.train_hebbian`, or ``train_sequence_hebbian`` for recurrent stacks).
        Returns the convergence per layer and the number of layers reused.
        """
        train = train or train_hebbian
        h = settings.hebbian
        depth = settings.probe_after
        epochs = list(h["epochs"][:depth]) if isinstance(h["epochs"], tuple) else [h["epochs"]] * depth
        lrs = list(h["lr"][:depth]) if isinstance(h["lr"], tuple) else [h["lr"]] * depth
        params = [repr(sorted(p.items()))
                  for p in layer_rule_params(self.config, settings.rule, settings.rule_params, depth)]
        model = self.config.model
        image = self.config.data.kind == "image"
        architecture = model.architecture() if image else (model.preset, model.layers)
        base = (self._data_key(), repr(architecture), settings.rule, self.config.study.seed, h["lr_schedule"],
                h["batch_size"], self.device)
        options = settings.model_options
        keys = [base + (repr(sorted((k, v) for k, v in options.items() if option_built(k, i + 1))),
                        tuple(zip(epochs[:i + 1], lrs[:i + 1], params[:i + 1]))) for i in range(depth)]
        reused = 0
        for i, key in enumerate(keys):
            state = _LAYER_CACHE.get(key)
            if state is None and self.layer_cache is not None:
                state = load_layer(self.layer_cache, key)
                if state is not None:
                    _LAYER_CACHE[key] = state
            if state is None:
                break
            stack.blocks[i].load_state_dict(state)
            _LAYER_CACHE.move_to_end(key)
            reused = i + 1
        convergence = train(
            stack, splits.train_x, depth=depth, epochs=[0] * reused + epochs[reused:], lr=lrs,
            lr_schedule=h["lr_schedule"], batch_size=h["batch_size"], seed=self.config.study.seed,
            progress=self._hebbian_progress(n),
        )
        for i in range(reused, depth):
            state = _cache_layer(keys[i], stack.blocks[i])
            if self.layer_cache is not None:
                save_layer(self.layer_cache, keys[i], state)
        return convergence, reused

    def _data_key(self) -> tuple[Any, ...]:
        d = self.config.data
        root = self.data_dir if self.data_dir is not None else d.root
        root = str(Path(root).expanduser().resolve()) if root is not None else None  # one spelling per place
        return (d.kind, d.dataset, root, d.val_split, d.subset, d.normalize, d.file, d.seq_len, d.sequential)

    def _diagnose(self, trial: optuna.Trial, stack: Any, splits: Any, depth: int) -> None:
        """Collapse diagnostics per layer (user attribute ``diagnostics``); a collapsed layer fails the
        trial before features are extracted."""
        diagnostics = layer_diagnostics(stack, splits.train_x[:DIAGNOSTIC_SAMPLES], depth=depth)
        trial.set_user_attr("diagnostics", [d.as_dict() for d in diagnostics])
        for i, d in enumerate(diagnostics, start=1):
            if d.collapsed:
                trial.set_user_attr(FAIL_REASON_ATTR, f"collapsed: layer {i}: {d.collapsed}")
                raise TrialFailed(f"trial {trial.number}: layer {i} collapsed: {d.collapsed}")

    def raw_baseline(self, probe: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The probe on the raw (normalised) input instead of Hebbian features: ``{"val", "test"}``
        accuracy and the probe settings used: ``probe`` (a trial's, e.g. the best one's), else the study's
        (fixed values as written, searched ones at their middle); None for sequence studies (they have
        their own baselines)."""
        if self.config.data.kind != "image":
            return None
        splits = load_data(self.config, self.data_dir, self.device)
        p = {name: _middle(spec) for name, spec in vars(self.config.probe).items()}
        p.update(probe or {})
        start = time.perf_counter()
        flat = [x.reshape(x.shape[0], -1) for x in (splits.train_x, splits.val_x, splits.test_x)]
        train_y = splits.train_y
        if p.get("augment") == "flip":  # the same rows as the trials' probe: the mirrored images too
            flat[0] = torch.cat([flat[0], splits.train_x.flip(-1).reshape(flat[0].shape)])
            train_y = torch.cat([train_y, train_y])
        result = train_probe((flat[0], train_y), (flat[1], splits.val_y), num_classes=splits.num_classes,
                             epochs=p["epochs"], lr=p["lr"], optimizer=p["optimizer"],
                             lr_schedule=p["lr_schedule"], batch_size=p["batch_size"], dropout=p["dropout"],
                             weight_decay=p["weight_decay"], seed=self.config.study.seed)
        return {"val": float(result.val_accuracy), "test": float(accuracy(result.probe, flat[2], splits.test_y)),
                "probe": p, "seconds": round(time.perf_counter() - start, 3)}

    def _hebbian_progress(self, n: int) -> Callable[[str, int, int], None]:
        report = self.progress

        def progress(layer: str, done: int, total: int) -> None:
            self._check_stop()
            if report is not None:
                report(n, f"hebbian {layer}", done, total)

        return progress

    def _quick_probe_step(self, trial: optuna.Trial, train: tuple[Tensor, Tensor],
                          val: tuple[Tensor, Tensor], num_classes: int, probe: dict[str, Any],
                          times: dict[str, float]) -> None:
        """Step 0 of a trial (image or sequence): report :func:`quick_probe` and stop a hopeless trial
        before the long probe."""
        with _timed(times, "signal"):
            signal = quick_probe(train, val, num_classes, probe, seed=self.config.study.seed)
        trial.report(signal, 0)
        if trial.should_prune():
            raise optuna.TrialPruned(f"quick probe val accuracy {signal:.4f} after the Hebbian phase")

    def _epoch_steps(self, trial: optuna.Trial, epochs: int) -> Callable[[int, float], None]:
        """The probe's ``on_epoch`` (image or sequence trial): the worker's stop request, then the epoch's
        val accuracy reported at step epoch + 1 (step 0 is the quick probe), progress, pruning."""
        progress = self._progress(trial.number, "probe")

        def on_epoch(epoch: int, val_accuracy: float) -> None:
            self._check_stop()
            trial.report(val_accuracy, epoch + 1)
            if progress:
                progress(epoch + 1, epochs)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val accuracy {val_accuracy:.4f} at epoch {epoch}")

        return on_epoch

    def _check_stop(self) -> None:
        reason = self.stop_requested() if self.stop_requested is not None else None
        if reason is not None:
            raise Interrupted(reason)

    def _progress(self, n: int, phase: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        report = self.progress
        return lambda done, total: report(n, phase, done, total)


#: trained blocks by their settings (see ``Objective._train_hebbian``), least recently used first
_LAYER_CACHE: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
#: at most this many bytes of cached layer states per process
LAYER_CACHE_BYTES = 1 << 30
#: training samples the collapse diagnostics look at
DIAGNOSTIC_SAMPLES = 1000
#: rows of train / val features of the quick probe (the pruning signal before the long probe)
QUICK_TRAIN, QUICK_VAL, QUICK_EPOCHS = 5000, 2000, 2


def _cache_layer(key: tuple[Any, ...], block: Any) -> dict[str, Tensor]:
    state = _LAYER_CACHE[key] = {k: v.detach().clone() for k, v in block.state_dict().items()}
    size = sum(v.numel() * v.element_size() for state in _LAYER_CACHE.values() for v in state.values())
    while size > LAYER_CACHE_BYTES and len(_LAYER_CACHE) > 1:
        _, old = _LAYER_CACHE.popitem(last=False)
        size -= sum(v.numel() * v.element_size() for v in old.values())
    return state


#: environment variable of the on-disk layer cache (``--layer-cache``)
LAYER_CACHE_ENV = "HEBBSEARCH_LAYER_CACHE"
#: at most this many bytes of layer files in an on-disk layer cache (least recently used go first)
LAYER_CACHE_DISK_BYTES = 8 << 30


def resolve_layer_cache(path: str | None = None) -> str | None:
    """``path``, else ``$HEBBSEARCH_LAYER_CACHE``, else None (off); ``"none"`` turns it off.

    The on-disk layer cache keeps every trained layer (its state dict, a file named by a hash of the
    layer's key: data, architecture, options, rule and Hebbian settings of the layers up to it, seed,
    device, and the versions of hebbsearch and torch) for the processes of one host: a pool's workers
    then share layers, and ``refit`` after a search trains no layer again. Opt-in: a layer computed by
    other code of the same version (an edited checkout) would be taken as it is.
    """
    value = path if path is not None else os.environ.get(LAYER_CACHE_ENV, "")
    return None if value.strip().lower() in ("", "none") else value


def _layer_file(directory: Path, key: tuple[Any, ...]) -> Path:
    text = repr((__version__, torch.__version__, key))
    return directory / f"{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}.pt"


def load_layer(directory: Path, key: tuple[Any, ...]) -> dict[str, Tensor] | None:
    """The state of the layer with ``key`` from the on-disk cache, or None (absent or unreadable)."""
    path = _layer_file(directory, key)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None
    with contextlib.suppress(OSError):  # (a read-only cache still serves)
        os.utime(path)  # recently used
    return state


def save_layer(directory: Path, key: tuple[Any, ...], state: dict[str, Tensor]) -> None:
    """Write a layer's state to the on-disk cache (atomically: readers never see half a file), then
    delete the least recently used files beyond :data:`LAYER_CACHE_DISK_BYTES`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = _layer_file(directory, key)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    torch.save({k: v.cpu() for k, v in state.items()}, tmp)
    os.replace(tmp, path)
    files = []
    for f in directory.glob("*.pt"):
        with contextlib.suppress(OSError):  # another process may delete it meanwhile
            st = f.stat()
            files.append((st.st_mtime, st.st_size, f))
    total = sum(size for _, size, _ in files)
    for _, size, f in sorted(files):
        if total <= LAYER_CACHE_DISK_BYTES or f == path:
            continue
        with contextlib.suppress(OSError):
            f.unlink()
        total -= size


def quick_probe(train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor], num_classes: int,
                probe: dict[str, Any], *, seed: int = 0) -> float:
    """Validation accuracy of a short probe (:data:`QUICK_EPOCHS` epochs, the trial's probe settings) on
    the first :data:`QUICK_TRAIN` / :data:`QUICK_VAL` rows: the cheap signal reported to the pruner at
    step 0, before the long probe."""
    result = train_probe((train[0][:QUICK_TRAIN], train[1][:QUICK_TRAIN]), (val[0][:QUICK_VAL], val[1][:QUICK_VAL]),
                         num_classes=num_classes, epochs=QUICK_EPOCHS, lr=probe["lr"], optimizer=probe["optimizer"],
                         lr_schedule=probe["lr_schedule"], batch_size=probe["batch_size"],
                         dropout=probe["dropout"], weight_decay=probe["weight_decay"], seed=seed)
    return float(result.val_accuracy)


def _middle(spec: Spec) -> Any:
    """A fixed value as written; the first choice; the middle of a range (geometric for a log range)."""
    if isinstance(spec, Fixed):
        return spec.value
    if isinstance(spec, Choice):
        return spec.choices[0]
    mid = math.sqrt(spec.low * spec.high) if spec.log else (spec.low + spec.high) / 2
    return int(round(mid)) if isinstance(spec, IntRange) else mid


#: at most this many combinations of searched values are built per rule and probe position by ``check``
MAX_CHECKED = 64


def _candidates(specs: dict[str, Spec]) -> dict[str, list[Any]]:
    """The values ``check`` tries for each spec: a fixed value, every choice, or both ends of a range."""
    out: dict[str, list[Any]] = {}
    for name, spec in specs.items():
        if isinstance(spec, PerLayer):
            values = [spec.value]
        elif isinstance(spec, Fixed):
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


__all__ = ["LAYER_CACHE_ENV", "Interrupted", "Objective", "TrialFailed", "TrialSettings", "clear_data_cache",
           "load_data", "resolve_device", "resolve_layer_cache"]
