#!/usr/bin/env python3
"""Writes the small seed corpus under fuzz/corpus/ (reproducible; no NumPy needed).

Parameter files follow the byte table in include/nde/io/parameter_file.hpp; .npy
files follow NEP 1; .npz files are written by Python's zipfile as numpy.savez does.
"""
import os
import shutil
import struct
import zipfile
import zlib

here = os.path.dirname(os.path.abspath(__file__))


def put(folder, name, data):
    os.makedirs(os.path.join(here, "corpus", folder), exist_ok=True)
    with open(os.path.join(here, "corpus", folder, name), "wb") as f:
        f.write(data)


def parameter_file(blocks, type_code):
    fmt = "<f" if type_code == 1 else "<d"
    count = sum(len(values) for _, _, values in blocks)
    out = b"\x89NDEP\r\n\x1a" + struct.pack("<HBBIQ", 1, type_code, 0, len(blocks), count)
    for name, shape, _ in blocks:
        out += struct.pack("<H", len(name)) + name.encode() + struct.pack("<B", len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape)
    for _, _, values in blocks:
        out += b"".join(struct.pack(fmt, v) for v in values)
    return out + struct.pack("<I", zlib.crc32(out))


def npy(descr, fortran_order, shape, data, major=1):
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran_order}, 'shape': {repr(tuple(shape))}, }}"
    prefix = 10 if major == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes((major, 0)) + length + header.encode() + data


def npz(members):
    path = os.path.join(here, "corpus", "npz.tmp")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(payload)
    with open(path, "rb") as f:
        data = f.read()
    os.remove(path)
    return data


# Inputs named regression-* were found by fuzzing and are committed as they are: keep them.
for folder in ("parameter_file", "npy", "npz", "layout"):
    path = os.path.join(here, "corpus", folder)
    if os.path.isdir(path):
        for name in os.listdir(path):
            if not name.startswith("regression-"):
                os.remove(os.path.join(path, name))


def layout_input(n, blocks, archive=b""):
    """fuzz_layout's input: n, block count, per block rank + dims + offset (raw int64 values
    whose two low bits are 0 are taken as they are), then an .npz archive."""
    out = bytes((n, len(blocks)))
    for shape, offset in blocks:
        out += bytes((len(shape),))
        out += b"".join(struct.pack("<q", d) for d in shape) + struct.pack("<q", offset)
    return out + archive

mlp = [("layer0.weight", (3, 2), [0.5, -1, 2, 0.25, -0.0, 3]), ("layer0.bias", (3,), [1, 2, 3]),
       ("scale", (), [1.5])]
put("parameter_file", "mlp_float", parameter_file(mlp, 1))
put("parameter_file", "mlp_double", parameter_file(mlp, 2))
put("parameter_file", "empty", parameter_file([], 2))
put("parameter_file", "rank3", parameter_file([("t", (2, 1, 2), [1, 2, 3, 4])], 1))

weight = npy("<f4", False, (2, 3), struct.pack("<6f", 1.5, -2, 0.25, 3, 4.5, -0.125))
bias = npy("<f8", False, (2,), struct.pack("<2d", 0.5, -1))
put("npy", "c_f4", weight)
put("npy", "fortran_f8", npy("<f8", True, (2, 2), struct.pack("<4d", 1, 2, 3, 4)))
put("npy", "v2_rank3", npy("<f8", False, (2, 1, 2), struct.pack("<4d", 1, 2, 3, 4), major=2))
put("npy", "v3_big_endian", npy(">f4", False, (3,), struct.pack(">3f", 1, 2, 3), major=3))
put("npy", "scalar", npy("<f8", False, (), struct.pack("<d", 2.5)))

put("npz", "linear", npz([("0.weight.npy", weight), ("0.bias.npy", bias)]))
put("npz", "single", npz([("x.npy", npy("<f4", True, (1, 2), struct.pack("<2f", 1, 2)))]))

# Issue 17: inputs that used to reach undefined behaviour or an unbounded allocation.
put("parameter_file", "trailing-bytes", parameter_file([("w", (3,), [1, 2, 3])], 2) + bytes(1024))
put("parameter_file", "bad-type-code", b"\x89NDEP\r\n\x1a" + struct.pack("<HBBIQ", 1, 7, 0, 1, 3))
put("parameter_file", "wrapping-shape",
    parameter_file([("w", (1 << 32, 1 << 32), [])], 2))
put("npy", "header-longer-than-limit", b"\x93NUMPY\x02\x00" + struct.pack("<I", (1 << 20) + 1) + b"{")
put("npy", "trailing-data", npy("<f8", False, (2,), struct.pack("<3d", 1, 2, 3)))
put("npz", "extra-member", npz([("0.weight.npy", weight), ("0.bias.npy", bias),
                                 ("junk.npy", npy("<f8", False, (0, 1 << 62), b""))]))

int64_max = (1 << 63) - 4  # two low bits 0: taken as is
put("layout", "linear", layout_input(8, [((2, 3), 0), ((2,), 6)],
                                    npz([("0.weight.npy", weight), ("0.bias.npy", bias)])))
put("layout", "offset-overflow", layout_input(8, [((2, 3), int64_max), ((2,), 0)],
                                             npz([("0.weight.npy", weight)])))
put("layout", "wrapping-shape", layout_input(4, [((1 << 32, 1 << 32), 0), ((4,), 0)]))
put("layout", "negative-dimension", layout_input(2, [((-4,), 0), ((4,), 0)]))
put("layout", "outside-offset", layout_input(4, [((1, 2), 0), ((2,), 100 << 2)]))
put("layout", "overlap", layout_input(4, [((1, 2), 0), ((2,), (1 << 2) | 1)]))
