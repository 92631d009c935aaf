"""Trials of sequence studies (text, images row by row or pixel by pixel); :class:`Objective` hands them
here. One trial does what an image trial does (:mod:`._objective`), on sequences:

1. sample the settings as for images (searched layer values are ``model.layers[i].key``);
2. load the dataset (cached per process, as :func:`load_data` does for images);
3. build the recurrent stack up to ``probe_after`` (or the ``hebbian_gru`` model) and train its Hebbian
   layers layer by layer (:func:`~hebbsearch.training.train_sequence_hebbian`), reusing layers that this
   process trained with the same settings (the objective's layer cache); collapse diagnostics of the
   trained layers (a collapsed layer fails the trial);
4. the probe: a linear probe on block ``probe_after``'s hidden states, every step's for text (next-character
   prediction; at most ``[data] probe_rows`` training rows, drawn at random) or the final step's for
   sequential images; for ``hebbian_gru``, its GRU → ReLU → FC head trained by backprop on the projected
   sequences (``[probe]`` settings; ``batch_size`` counts sequences, ``dropout`` does not apply).
   The linear probe's quick version is reported to the pruner at step 0, then val accuracy after every
   epoch at steps 1, 2, ...; a worker's stop request is seen between epochs;
5. test accuracy once at the end (stored, never used for selection);
6. the study's baselines, once per study (study user attributes, see :mod:`._baselines`): the unigram
   accuracy for text, and with ``[model] baseline = "backprop"`` the same architecture (this trial's
   sizes) trained end to end with backpropagation through time (``baseline_epochs``, default the probe's;
   Adam at ``baseline_lr``; ``[hebbian] batch_size`` sequences per step).

The final fit (``Objective(refit=True)``, ``hebbsearch refit``) trains the probe or head on train + val,
reports nothing and returns the test accuracy. User attributes are those of image trials (``time_baseline``
too, in the trial that trained the baselines); no filter pictures: the input weights of a recurrent layer
are not images.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import torch

from hebbsearch.data import load_sequences
from hebbsearch.errors import ConfigError
from hebbsearch.models import build_hebbian_gru, build_sequence_stack
from hebbsearch.rules import get_rule
from hebbsearch.search._baselines import BACKPROP_ATTR, UNIGRAM_ATTR
from hebbsearch.search._objective import _DATA_CACHE, TrialFailed, _timed
from hebbsearch.search._space import TrialSettings, probe_positions, sample
from hebbsearch.search._storage import FAIL_REASON_ATTR
from hebbsearch.study import Choice, Fixed, Spec, StudyConfig
from hebbsearch.training import (
    GRUHead,
    accuracy,
    backprop_twin,
    block_outputs,
    probe_row_mask,
    sequence_accuracy,
    sequence_features,
    sequence_targets,
    train_probe,
    train_sequence_hebbian,
    train_sequence_model,
    unigram_accuracy,
)

#: at most this many combinations of searched values are built per rule and probe position by the check
MAX_CHECKED = 64


def is_sequence_study(config: StudyConfig) -> bool:
    """True for text and sequential-image studies."""
    return config.data.kind != "image"


def load_sequence_data(config: StudyConfig, data_dir: str | Path | None, device: str) -> Any:
    """The :class:`~hebbsearch.data.SequenceSplits` of ``[data]`` (``data_dir`` overrides ``root``), cached
    per process with the image datasets."""
    d = config.data
    root = data_dir if data_dir is not None else d.root
    root = str(Path(root).expanduser().resolve()) if root is not None else None
    key = ("sequences", d.dataset, root, d.file, d.seq_len, d.sequential, d.val_split, d.subset, d.normalize,
           config.study.seed, device)
    if key not in _DATA_CACHE:
        try:
            _DATA_CACHE[key] = load_sequences(
                d.dataset, root, seq_len=d.seq_len, sequential=d.sequential, file=d.file,
                val_split=d.val_split, subset=d.subset, normalize=d.normalize, seed=config.study.seed,
                device=device)
        except ValueError as e:
            raise ConfigError(str(e), source=config.source, field="data") from None
    return _DATA_CACHE[key]


def build_sequence_model(config: StudyConfig, rule: Any, depth: int, options: dict[str, Any], splits: Any,
                         *, seed: int, device: str) -> tuple[Any, Any]:
    """``(stack, gru_model or None)`` for one setting of the study's ``[model]``."""
    features = splits.input_shape[1]
    if config.model.preset == "hebbian_gru":
        model, stack = build_hebbian_gru(features, splits.num_classes, rule, seed=seed, device=device,
                                         **options)
        return stack, model
    stack = build_sequence_stack(config.model.layers, features, rule, depth=depth, seed=seed, device=device,
                                 overrides=options)
    return stack, None


def _values(spec: Spec) -> list[Any]:
    if isinstance(spec, Fixed):
        return [list(spec.value) if isinstance(spec.value, tuple) else spec.value]
    if isinstance(spec, Choice):
        return list(spec.choices)
    return [spec.low, spec.high]


def _combinations(specs: dict[str, Spec]) -> Iterator[dict[str, Any]]:
    names, pools = list(specs), [_values(spec) for spec in specs.values()]
    if len(list(itertools.islice(itertools.product(*pools), MAX_CHECKED + 1))) > MAX_CHECKED:
        first = [pool[0] for pool in pools]
        combos: Any = [first] + [[v if j == i else first[j] for j in range(len(pools))]
                                 for i, pool in enumerate(pools) for v in pool[1:]]
    else:
        combos = itertools.product(*pools)
    for combo in combos:
        yield dict(zip(names, combo))


def check_sequence_study(objective: Any) -> None:
    """:meth:`Objective.check` for sequence studies: the data load, and some sampled setting of every rule
    and probe position builds (ConfigError otherwise)."""
    config = objective.config
    splits = load_sequence_data(config, objective.data_dir, objective.device)
    for rule in config.search.rules:
        specs = {**{f"rule.{k}": v for k, v in config.search.rule_params.get(rule, {}).items()},
                 **{f"model.{k}": v for k, v in config.model.options.items()}}
        for depth in probe_positions(config):
            first_error: Exception | None = None
            for values in _combinations(specs):
                params = {k[5:]: v for k, v in values.items() if k.startswith("rule.")}
                options = {k[6:]: v for k, v in values.items() if k.startswith("model.")}
                try:
                    build_sequence_model(config, get_rule(rule, **params), depth, options, splits, seed=0,
                                         device="cpu")
                    break
                except (ValueError, TypeError) as e:
                    first_error = first_error or e
            else:
                where = "model" if len(config.search.rules) == 1 else f"search.{rule}"
                raise ConfigError(f"no sampled setting can work: {first_error}", source=config.source,
                                  field=where) from None


def run_sequence_trial(objective: Any, trial: optuna.Trial) -> float:
    """One trial of a sequence study (see the module docstring); returns the validation accuracy.

    Denormal floats are flushed to zero during the trial (restored after): fading recurrent states and
    small features otherwise make CPU matrix products, and the probe's Adam steps, up to 10x slower.
    """
    torch.set_flush_denormal(True)
    try:
        return _run_sequence_trial(objective, trial)
    finally:
        torch.set_flush_denormal(False)


def _run_sequence_trial(objective: Any, trial: optuna.Trial) -> float:
    config: StudyConfig = objective.config
    settings = sample(trial, config)
    trial.set_user_attr("probe_after", settings.probe_after)
    trial.set_user_attr("rule", settings.rule)
    trial.set_user_attr("settings", settings.to_dict())
    trial.set_user_attr("device", objective.device)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    seed, n, depth = config.study.seed, trial.number, settings.probe_after
    times: dict[str, float] = {}

    with _timed(times, "data"):
        splits = load_sequence_data(config, objective.data_dir, objective.device)
    try:
        rule = get_rule(settings.rule, **settings.rule_params)
        stack, gru = build_sequence_model(config, rule, depth, settings.model_options, splits, seed=seed,
                                          device=objective.device)
    except ValueError as e:  # e.g. k >= units: these settings cannot work
        trial.set_user_attr(FAIL_REASON_ATTR, f"invalid settings: {e}")
        raise TrialFailed(f"trial {n}: invalid settings: {e}") from e

    try:
        p = settings.probe
        with _timed(times, "hebbian"):
            convergence, reused = objective._train_hebbian(stack, splits, settings, n,
                                                           train=train_sequence_hebbian)
        trial.set_user_attr("convergence", [float(c) for c in convergence])
        if reused:
            trial.set_user_attr("reused_layers", reused)
        # (hebbian_gru: its Hebbian projection)
        objective._diagnose(trial, stack, splits, 1 if gru is not None else depth)
        on_epoch = objective._epoch_steps(trial, p["epochs"])
        refit = objective.refit  # the final fit: train + val, evaluated on test only, nothing reported
        train_x, train_y = splits.train_x, splits.train_y
        val_x, val_y = splits.val_x, splits.val_y
        if refit:
            train_x, train_y = torch.cat([train_x, val_x]), torch.cat([train_y, val_y])
            val_x, val_y = val_x[:0], val_y[:0]
        per_step, batch = splits.per_step, config.data.batch_size
        if gru is None:
            with _timed(times, "features"):
                keep = probe_row_mask(train_y.numel(), config.data.probe_rows, seed, splits.device) \
                    if per_step else None
                train_f = sequence_features(stack, train_x, depth=depth, per_step=per_step,
                                            batch_size=batch, keep=keep)
                val_f = sequence_features(stack, val_x, depth=depth, per_step=per_step, batch_size=batch)
                test_f = sequence_features(stack, splits.test_x, depth=depth, per_step=per_step,
                                           batch_size=batch)
                train_t = sequence_targets(train_y, per_step, keep)
                val_t, test_t = (sequence_targets(y, per_step) for y in (val_y, splits.test_y))
            if not refit:
                objective._quick_probe_step(trial, (train_f, train_t), (val_f, val_t), splits.num_classes, p,
                                            times)
            with _timed(times, "probe"):
                result = train_probe(
                    (train_f, train_t), (val_f, val_t), num_classes=splits.num_classes, epochs=p["epochs"],
                    lr=p["lr"], optimizer=p["optimizer"], lr_schedule=p["lr_schedule"],
                    batch_size=p["batch_size"], dropout=p["dropout"], weight_decay=p["weight_decay"],
                    seed=seed, on_epoch=None if refit else on_epoch)
            test_accuracy = accuracy(result.probe, test_f, test_t)
            head_params = sum(q.numel() for q in result.probe.parameters())
        else:
            with _timed(times, "features"):
                train_f, val_f, test_f = (block_outputs(stack, x, depth=1, batch_size=batch)
                                          for x in (train_x, val_x, splits.test_x))
            head = GRUHead(gru)
            with _timed(times, "probe"):
                result = train_sequence_model(
                    head, (train_f, train_y), (val_f, val_y), per_step=per_step,
                    epochs=p["epochs"], lr=p["lr"], optimizer=p["optimizer"], lr_schedule=p["lr_schedule"],
                    batch_size=p["batch_size"], weight_decay=p["weight_decay"], seed=seed,
                    on_epoch=None if refit else on_epoch)
            test_accuracy = sequence_accuracy(head, test_f, splits.test_y, per_step=per_step)
            head_params = sum(q.numel() for q in head.parameters())
        trial.set_user_attr("test_accuracy", float(test_accuracy))
        trial.set_user_attr("n_params", int(stack.num_hebbian_params(depth) + head_params))
        if refit:
            return float(test_accuracy)
        with _timed(times, "baseline"):
            computed = study_baselines(trial, config, splits, stack, settings, gru is not None,
                                       objective.device)
        if not computed:
            del times["baseline"]
        return float(result.val_accuracy)
    finally:
        for phase, seconds in times.items():
            trial.set_user_attr(f"time_{phase}", round(seconds, 3))


def study_baselines(trial: optuna.Trial, config: StudyConfig, splits: Any, stack: Any,
                    settings: TrialSettings, gru_head: bool, device: str) -> bool:
    """Store the study's baselines unless it has them already (see :mod:`._baselines`); True if any was
    computed now."""
    study = trial.study
    attrs = study.user_attrs
    computed = False
    if splits.per_step and UNIGRAM_ATTR not in attrs:
        study.set_user_attr(UNIGRAM_ATTR, {"val": unigram_accuracy(splits.train_y, splits.val_y),
                                           "test": unigram_accuracy(splits.train_y, splits.test_y)})
        computed = True
    if config.model.baseline == "backprop" and BACKPROP_ATTR not in attrs:
        start = time.perf_counter()
        depth, seed = settings.probe_after, config.study.seed
        twin = backprop_twin(stack, depth, splits.num_classes, gru_head=gru_head, seed=seed).to(device)
        epochs = config.model.baseline_epochs or settings.probe["epochs"]
        result = train_sequence_model(
            twin, (splits.train_x, splits.train_y), (splits.val_x, splits.val_y), per_step=splits.per_step,
            epochs=epochs, lr=config.model.baseline_lr, optimizer="adam", lr_schedule="cosine",
            batch_size=settings.hebbian["batch_size"], seed=seed, encode=splits.encode)
        test = sequence_accuracy(twin, splits.test_x, splits.test_y, per_step=splits.per_step,
                                 encode=splits.encode)
        study.set_user_attr(BACKPROP_ATTR, {
            "val": float(result.val_accuracy), "test": float(test), "trial": trial.number,
            "probe_after": depth, "model_options": settings.model_options, "epochs": epochs,
            "lr": config.model.baseline_lr, "n_params": sum(q.numel() for q in twin.parameters()),
            "seconds": round(time.perf_counter() - start, 3)})
        computed = True
    return computed


__all__ = ["check_sequence_study", "is_sequence_study", "load_sequence_data", "run_sequence_trial"]
