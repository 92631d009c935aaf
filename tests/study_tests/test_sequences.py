"""Study files of sequence studies: the [data] keys (seq_len, sequential, file, probe_rows), recurrent
[[model.layers]] with searched values, the hebbian_gru preset, the baseline keys, and one-line errors for
a model and a dataset of different shapes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hebbsearch.errors import ConfigError
from hebbsearch.study import Choice, Fixed, IntRange, load_study_file, parse_study_text

STUDIES = Path(__file__).resolve().parents[2] / "studies"

TEXT = textwrap.dedent("""
    [study]
    name = "t"

    [data]
    dataset = "text"
    root = "corpus.txt"
    seq_len = 32

    [model]
    probe_after = [1, 2]
    baseline = "backprop"

    [[model.layers]]
    type = "rnn"
    units = {choices = [16, 32]}

    [[model.layers]]
    type = "lateral"
    units = 8
    eta = {low = 0.0001, high = 0.01, log = true}

    [search]
    rule = ["oja", "sanger"]
""")


def parse(text: str = TEXT, **replace: str):
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return parse_study_text(text, "s.toml")


def error_of(text: str = TEXT, **replace: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, **replace)
    message = str(info.value)
    assert "\n" not in message and message.startswith("s.toml: ")
    return message


def test_text_study() -> None:
    c = parse()
    assert c.data.kind == "text" and c.data.seq_len == 32 and c.data.probe_rows == 262_144
    assert c.data.sequential is None and c.data.file is None
    assert c.model.preset == "layers" and c.model.probe_after == Choice((1, 2))
    assert c.model.layers == ({"type": "rnn"}, {"type": "lateral", "units": 8})  # searched keys left out
    assert c.model.options["layers[0].units"] == Choice((16, 32))
    assert c.model.options["layers[1].eta"].log
    assert (c.model.baseline, c.model.baseline_epochs, c.model.baseline_lr) == ("backprop", None, 0.001)
    d = parse(**{"seq_len = 32": 'file = "a/b.txt"\nprobe_rows = 100'}).data
    assert (d.seq_len, d.file, d.probe_rows) == (64, "a/b.txt", 100)


def test_sequential_images_and_the_gru_preset() -> None:
    rows = parse(**{'dataset = "text"\n': 'dataset = "seqmnist"\n',
                    'root = "corpus.txt"\nseq_len = 32\n': ""})
    assert rows.data.kind == "sequence" and rows.data.sequential == "rows" and rows.data.seq_len is None
    pixels = parse(**{'dataset = "text"': 'dataset = "MNIST"\nsequential = "pixels"', "seq_len = 32\n": ""})
    assert pixels.data.sequential == "pixels"
    gru = parse(**{TEXT[TEXT.index("[model]"):TEXT.index("[search]")]:
                   '[model]\npreset = "hebbian_gru"\nhidden = {choices = [32, 64]}\n\n'})
    assert gru.model.preset == "hebbian_gru" and gru.model.layers is None
    assert gru.model.options == {"hidden": Choice((32, 64))} and gru.model.probe_after == Fixed(1)
    assert gru.model.baseline == "none"


@pytest.mark.parametrize(("replace", "expected"), [
    ({'seq_len = 32': 'seq_len = 0'}, "s.toml: data.seq_len: expected an integer >= 1, got 0"),
    ({'seq_len = 32': 'sequential = "rows"'},
     "s.toml: data.sequential: dataset 'text' is already a sequence of characters; remove it"),
    ({'dataset = "text"': 'dataset = "seqmnist"'},
     "s.toml: data.seq_len: only for dataset 'text', got dataset 'seqmnist'"),
    ({'dataset = "text"': 'dataset = "MNIST"', "seq_len = 32\n": 'sequential = "columns"\n'},
     "s.toml: data.sequential: expected one of: rows, pixels, got 'columns'"),
    ({'dataset = "text"': 'dataset = "MNIST"', "seq_len = 32\n": ""},
     "s.toml: model.layers[0].type: recurrent layers need sequences (B, T, F), but dataset 'MNIST' gives "
     "images (C, H, W): set data.sequential = 'rows' or 'pixels', or use dataset 'text'"),
    ({"units = {choices = [16, 32]}": "units = {choices = [16, 0]}"},
     "s.toml: model.layers[0].units: expected an integer >= 1, got 0"),
    ({"units = 8": "units = 8\nkernel = 3"},
     "s.toml: model.layers[1].kernel: unknown key for type 'lateral'"),
    ({"probe_after = [1, 2]": "probe_after = 3"},
     "s.toml: model.probe_after: expected at most 2 (the number of layers, 2), got 3"),
    ({'baseline = "backprop"': 'baseline = "bptt"'},
     "s.toml: model.baseline: expected one of: none, backprop, got 'bptt'"),
    ({'baseline = "backprop"': "baseline_epochs = 3"},
     "s.toml: model.baseline_epochs: needs model.baseline = 'backprop'"),
    ({'[search]': '[probe]\naugment = "flip"\n\n[search]'},
     "s.toml: probe.augment: mirrored images are for image datasets, not text data; expected 'none'"),
    ({'[search]': '[probe]\naugment = "crop"\n\n[search]'},
     "s.toml: probe.augment: expected one of: none, flip, got 'crop'"),
    ({'baseline = "backprop"': "width = 2"},
     "s.toml: model.width: unknown key for a sequence model; expected one of: layers, probe_after, baseline"),
])
def test_errors(replace: dict[str, str], expected: str) -> None:
    assert error_of(**replace).startswith(expected)


def test_image_models_on_sequences_and_the_gru_preset_on_images() -> None:
    image_model = '[model]\npreset = "krotov_fc"\nhidden = 32\n\n'
    model = TEXT[TEXT.index("[model]"):TEXT.index("[search]")]
    assert error_of(**{model: image_model}) == (
        "s.toml: data.dataset: dataset 'text' gives sequences (B, T, F), but preset 'krotov_fc' takes "
        "images: use [[model.layers]] of type 'rnn' (also 'lateral', 'memoria') or preset 'hebbian_gru'")
    assert error_of(**{model: '[model]\npreset = "hebbian_gru"\n\n', 'dataset = "text"': 'dataset = "MNIST"',
                       "seq_len = 32\n": ""}).startswith(
        "s.toml: model.preset: preset 'hebbian_gru' needs sequences (B, T, F), but dataset 'MNIST' gives "
        "images")
    assert error_of(**{model: '[model]\npreset = "hebbian_gru"\nunits = 3\n\n'}).startswith(
        "s.toml: model.units: unknown key for a sequence model; expected one of: preset, probe_after, hidden")


def test_memoria_layer_values_are_searchable() -> None:
    pytest.importorskip("memoria")
    c = parse(**{'[search]': '[[model.layers]]\ntype = "memoria"\nstm_capacity = {low = 4, high = 32}\n'
                             'num_final_ltms = {choices = [2, 4]}\n\n[search]'})
    assert c.model.options["layers[2].stm_capacity"] == IntRange(4, 32)
    assert c.model.options["layers[2].num_final_ltms"] == Choice((2, 4))
    assert error_of(**{'[search]': '[[model.layers]]\ntype = "memoria"\n'
                                   'initial_lifespan = {low = 0, high = 3}\n\n[search]'}) == (
        "s.toml: model.layers[2].initial_lifespan: expected an integer >= 1, got 0")


@pytest.mark.parametrize("name", ["text-hebbian-rnn", "text-gru", "seqmnist-rnn"])
def test_shipped_sequence_studies(name: str) -> None:
    c = load_study_file(STUDIES / f"{name}.toml")
    assert c.study.name == name and c.data.kind in ("text", "sequence") and c.model.baseline == "backprop"
    if name == "text-hebbian-rnn":
        assert set(c.search.rules) == {"oja", "wta", "covariance", "sanger", "krotov"}
        assert c.data.file == "text/tinyshakespeare.txt"
    if name == "text-gru":
        assert c.model.preset == "hebbian_gru"
    if name == "seqmnist-rnn":
        assert c.data.sequential == "rows" and c.model.layers[0]["type"] == "rnn"
