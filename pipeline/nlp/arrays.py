"""Array helpers shared by the components that work on a doc's hash columns."""

from __future__ import annotations

import numpy


def find_sorted(keys: numpy.ndarray, values: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Each value's position in `keys` (sorted, distinct) and whether it is there. A binary search per value:
    unlike `numpy.isin`, which sorts the values too, about ten times faster on a doc against a hundred keys."""
    if not len(keys):
        return numpy.zeros(len(values), dtype="int64"), numpy.zeros(len(values), dtype=bool)
    at = numpy.minimum(numpy.searchsorted(keys, values), len(keys) - 1)
    return at, keys[at] == values
