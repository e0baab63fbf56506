"""``borrowed``: the same memory as the array it borrows from, through views and calls."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

from paraclear.borrowed import borrowed


@numba.njit
def _bump_row(table, row, by):  # type: ignore[no-untyped-def]
    for column in range(table.shape[1]):
        table[row, column] += by


@numba.njit
def _borrow_and_write(table, rows):  # type: ignore[no-untyped-def]
    table, rows = borrowed(table), borrowed(rows)
    total = 0
    for i in range(len(rows)):
        _bump_row(table, rows[i], i + 1)  # a call taking the borrowed array
        view = table[rows[i]]  # a view of it
        view[0] *= 2
        total += view.sum()
    return total


def test_writes_through_a_borrowed_array_reach_the_callers_array() -> None:
    table = np.arange(12, dtype=np.int64).reshape(4, 3)
    expected = table.copy()
    rows = np.array([2, 0, 2], dtype=np.int64)
    total = 0
    for i, row in enumerate(rows.tolist()):
        expected[row] += i + 1
        expected[row, 0] *= 2
        total += int(expected[row].sum())
    for _ in range(1000):  # many calls: nothing freed early, nothing leaked into a crash
        table = np.arange(12, dtype=np.int64).reshape(4, 3)
        assert _borrow_and_write(table, rows) == total
    assert (table == expected).all()


def test_only_arrays_are_borrowed() -> None:
    @numba.njit
    def borrow_an_int(value):  # type: ignore[no-untyped-def]
        return borrowed(value)

    with pytest.raises(TypingError):
        borrow_an_int(3)
