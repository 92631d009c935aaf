"""Sequence studies end to end through ``hebbsearch run`` and ``hebbsearch report``: a text study whose best
trial beats the unigram baseline on held-out text, with the backprop baseline beside it; sequential images
far above chance; the hebbian_gru preset and a Memoria layer; one-line errors."""

from __future__ import annotations

import json
import os
import random
import textwrap
from pathlib import Path

import pytest

from hebbsearch.cli import main

DATA_DIR = os.environ.get("HEBBSEARCH_DATA_DIR")
MNIST = Path(DATA_DIR or "/nonexistent") / "mnist"

TEXT_STUDY = textwrap.dedent("""
    [study]
    name = "text"
    n_trials = 3
    seed = 0

    [study.sampler]
    name = "random"

    [study.pruner]
    name = "none"

    [data]
    dataset = "text"
    seq_len = 16
    val_split = 0.15

    [model]
    baseline = "backprop"
    baseline_epochs = 4
    baseline_lr = 0.02

    [[model.layers]]
    type = "rnn"
    units = 48

    [hebbian]
    epochs = 1
    lr = {low = 0.005, high = 0.05, log = true}
    batch_size = 20

    [probe]
    epochs = 4
    lr = 0.02

    [search]
    rule = ["oja", "sanger"]
""")

SEQ_IMAGES = textwrap.dedent("""
    [study]
    name = "rows"
    n_trials = 2

    [data]
    dataset = "seqsynthetic"
    subset = 600

    [model]
    probe_after = [1, 2]

    [[model.layers]]
    type = "rnn"
    units = 64
    input_norm = "batch"

    [[model.layers]]
    type = "lateral"
    units = 32
    activation = "tanh"

    [hebbian]
    epochs = 1
    lr = 0.01
    batch_size = 50

    [probe]
    epochs = 8
    lr = 0.02

    [search]
    rule = "sanger"
""")


def _text(n: int = 5000, noise: float = 0.03, seed: int = 0) -> str:
    """A repetitive text with some noise: the next character is predictable, unlike with a unigram."""
    rng = random.Random(seed)
    phrases = ["the cat sat on the mat. ", "a dog ran in the fog! ", "we sing of kings; "]
    out: list[str] = []
    while sum(map(len, out)) < n:
        out.append("".join(c if rng.random() > noise else rng.choice("abcdefghijklmnopqrstuvwxyz ")
                           for c in rng.choice(phrases)))
    return "".join(out)


def _run(capsys, *args: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _report(capsys, name: str, storage: str) -> dict:
    code, out, err = _run(capsys, "report", name, "--storage", storage, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_text_study_beats_the_unigram_baseline(tmp_path: Path, capsys) -> None:
    (tmp_path / "corpus.txt").write_text(_text())
    study = tmp_path / "text.toml"
    study.write_text(TEXT_STUDY)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = _run(capsys, "run", study, "--storage", storage, "--data-dir", tmp_path / "corpus.txt")
    assert code == 0, err
    rows = _report(capsys, "text", storage)["rows"]
    unigram = rows["Unigram baseline (test)"][0]
    assert 0.1 < unigram < 0.3
    assert rows["Accuracy (test)"][0] > unigram + 0.3  # next-character accuracy on the held-out last 10 %
    assert rows["Accuracy (val)"][0] > rows["Unigram baseline (val)"][0] + 0.3
    assert rows["Backprop baseline (test)"][0] > unigram + 0.2
    assert rows["rule"][0] in ("oja", "sanger")
    code, markdown, err = _run(capsys, "report", "text", "--storage", storage)
    assert "| Backprop baseline (val) |" in markdown and "| Unigram baseline (test) |" in markdown
    assert " %" in markdown.split("| Unigram baseline (test) |")[1].splitlines()[0]


def test_sequential_images_far_above_chance(tmp_path: Path, capsys) -> None:
    study = tmp_path / "rows.toml"
    study.write_text(SEQ_IMAGES)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = _run(capsys, "run", study, "--storage", storage)
    assert code == 0, err
    report = _report(capsys, "rows", storage)
    best = max(v for v in report["rows"]["Accuracy (test)"] if v is not None)
    assert best > 0.5  # 10 classes
    assert "Unigram baseline (val)" not in report["rows"] and "Backprop baseline (val)" not in report["rows"]


def test_gru_preset_and_memoria_layer(tmp_path: Path, capsys) -> None:
    (tmp_path / "corpus.txt").write_text(_text(2500))
    model = TEXT_STUDY[TEXT_STUDY.index("[model]"):TEXT_STUDY.index("[hebbian]")]
    gru = TEXT_STUDY.replace(model, '[model]\npreset = "hebbian_gru"\nhidden = 24\nbaseline = "backprop"\n'
                                    'baseline_epochs = 1\n\n').replace("n_trials = 3", "n_trials = 1")
    (tmp_path / "gru.toml").write_text(gru.replace('name = "text"', 'name = "gru"'))
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = _run(capsys, "run", tmp_path / "gru.toml", "--storage", storage, "--data-dir", tmp_path)
    assert code == 0, err
    rows = _report(capsys, "gru", storage)["rows"]
    assert rows["Accuracy (test)"][0] is not None and rows["Backprop baseline (test)"][0] is not None
    pytest.importorskip("memoria")
    memoria = TEXT_STUDY.replace(model, '[model]\nprobe_after = 2\n\n[[model.layers]]\ntype = "rnn"\n'
                                        'units = 16\n\n[[model.layers]]\ntype = "memoria"\nchunk = 4\n'
                                        'stm_capacity = {low = 4, high = 8}\n\n')
    (tmp_path / "memoria.toml").write_text(memoria.replace('name = "text"', 'name = "memoria"')
                                           .replace("n_trials = 3", "n_trials = 1"))
    code, out, err = _run(capsys, "run", tmp_path / "memoria.toml", "--storage", storage, "--data-dir",
                          tmp_path)
    assert code == 0, err
    assert "model.layers[1].stm_capacity" in _report(capsys, "memoria", storage)["rows"]


def test_errors_are_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.txt").write_text("")
    study = tmp_path / "text.toml"
    study.write_text(TEXT_STUDY)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = _run(capsys, "run", study, "--storage", storage, "--data-dir",
                          tmp_path / "empty.txt")
    assert code == 1 and err.strip() == f"hebbsearch: error: {tmp_path / 'empty.txt'}: empty text file; " \
                                        f"dataset 'text' needs characters to model"
    (tmp_path / "short.txt").write_text(_text(120))
    code, out, err = _run(capsys, "run", study, "--storage", storage, "--data-dir",
                          tmp_path / "short.txt")
    assert code == 1 and "short.txt: data.seq_len: 16 is longer than the text allows" in err
    assert len(err.strip().splitlines()) == 1
    study.write_text(TEXT_STUDY.replace('dataset = "text"', 'dataset = "MNIST"')
                     .replace("seq_len = 16\n", ""))
    code, out, err = _run(capsys, "run", study, "--storage", storage)
    assert code == 2 and err.strip() == (
        f"hebbsearch: error: {study}: model.layers[0].type: recurrent layers need sequences (B, T, F), but "
        f"dataset 'MNIST' gives images (C, H, W): set data.sequential = 'rows' or 'pixels', or use dataset "
        f"'text'")


@pytest.mark.skipif(not MNIST.is_dir() and os.environ.get("CI", "").lower() != "true",
                    reason="MNIST is not under $HEBBSEARCH_DATA_DIR/mnist")
def test_sequential_mnist_far_above_chance(tmp_path: Path, capsys) -> None:
    text = SEQ_IMAGES.replace('dataset = "seqsynthetic"\nsubset = 600',
                              'dataset = "seqmnist"\nsubset = 2000\nval_split = 1000')
    text = text.replace("probe_after = [1, 2]", "probe_after = 1").replace("n_trials = 2", "n_trials = 1")
    (tmp_path / "mnist.toml").write_text(text.replace("units = 64", "units = 128"))
    storage = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = _run(capsys, "run", tmp_path / "mnist.toml", "--storage", storage, "--data-dir",
                          DATA_DIR)
    assert code == 0, err
    assert _report(capsys, "rows", storage)["rows"]["Accuracy (test)"][0] > 0.5
