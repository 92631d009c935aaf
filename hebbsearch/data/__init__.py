"""Datasets as whole tensors on the device: ``load_dataset(name, root, ...) -> DataSplits``."""

from hebbsearch.data._load import default_root, list_datasets, load_dataset
from hebbsearch.data._splits import NORMALIZATIONS, DataSplits
from hebbsearch.data._synthetic import make_synthetic

__all__ = ["NORMALIZATIONS", "DataSplits", "default_root", "list_datasets", "load_dataset", "make_synthetic"]
