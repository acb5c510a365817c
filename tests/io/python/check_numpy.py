#!/usr/bin/env python3
"""Checks run by test_python.cpp on files written by nde's C++ writers (numpy only).

  check_numpy.py matrix FILE.npy ROWS COLS FORTRAN   a[i, j] == 10 i + j + 0.5, and the order flag
  check_numpy.py same FILE.ndep FILE.npz             every array has the same shape and bits
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "tools"))
import ndep  # noqa: E402


def matrix(path, rows, cols, fortran):
    a = np.load(path)
    assert a.shape == (int(rows), int(cols)), a.shape
    expected = np.array([[10.0 * i + j + 0.5 for j in range(int(cols))] for i in range(int(rows))])
    assert np.array_equal(a, expected.astype(a.dtype)), (a, expected)
    assert bool(a.flags["F_CONTIGUOUS"] and not a.flags["C_CONTIGUOUS"]) == (fortran == "1"), a.flags


def same(ndep_path, npz_path):
    blocks = ndep.read(ndep_path)
    with np.load(npz_path) as archive:
        assert list(archive.files) == list(blocks), (archive.files, list(blocks))
        for name, values in blocks.items():
            other = archive[name]
            assert other.shape == values.shape and other.dtype == values.dtype, name
            width = "u%d" % values.dtype.itemsize
            assert np.array_equal(np.asarray(other).view(width), values.view(width)), name


if __name__ == "__main__":
    {"matrix": matrix, "same": same}[sys.argv[1]](*sys.argv[2:])
    print("ok")
