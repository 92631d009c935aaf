"""Datasets as whole tensors on the device: ``load_dataset(name, root, ...) -> DataSplits``; sequence
datasets (text, images row by row or pixel by pixel) are :class:`SequenceSplits`."""

from hebbsearch.data._load import default_root, is_known_dataset, list_datasets, load_dataset
from hebbsearch.data._sequential import (
    LAYOUTS,
    SequenceSplits,
    image_sequences,
    is_sequence_dataset,
    load_sequences,
)
from hebbsearch.data._splits import NORMALIZATIONS, DataSplits
from hebbsearch.data._synthetic import make_synthetic

__all__ = ["LAYOUTS", "NORMALIZATIONS", "DataSplits", "SequenceSplits", "default_root", "image_sequences",
           "is_known_dataset", "is_sequence_dataset", "list_datasets", "load_dataset", "load_sequences",
           "make_synthetic"]
