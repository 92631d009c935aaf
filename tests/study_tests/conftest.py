"""The study-file tests share the search tests' tiny study and its fixtures."""

from search_tests.conftest import TINY, _one_torch_thread, write_study  # noqa: F401
