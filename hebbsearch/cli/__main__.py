"""``python -m hebbsearch.cli``: the same as the ``hebbsearch`` console script."""

import sys

from hebbsearch.cli import main

if __name__ == "__main__":
    sys.exit(main())
