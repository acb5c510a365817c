#!/usr/bin/env python3
"""Regenerates the fixtures in this folder without NumPy (see README.md).

The .npy bytes are written by hand from the format spec (NEP 1); the .npz is
written by Python's own zipfile module exactly the way numpy.savez does it
(ZIP_STORED, one member per array, zipf.open(name, 'w', force_zip64=True)), so
the reader is checked against an independent ZIP writer.
"""
import struct
import zipfile


def npy(descr, fortran_order, shape, data, version=(1, 0)):
    shape_text = repr(tuple(shape))  # what numpy writes: "(2, 3)", "(2,)", "()"
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran_order}, 'shape': {shape_text}, }}"
    prefix = 10 if version[0] == 1 else 12
    padding = 64 - (prefix + len(header) + 1) % 64
    header = (header + " " * (padding % 64) + "\n").encode("latin1")
    length = struct.pack("<H", len(header)) if version[0] == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes(version) + length + header + data


# linear_weight.npy: a PyTorch-style Linear.weight, shape (2, 3), float32, C order,
# [[1.5, -2.0, 0.25], [3.0, 4.5, -0.125]].
weight = [[1.5, -2.0, 0.25], [3.0, 4.5, -0.125]]
weight_bytes = struct.pack("<6f", *[x for row in weight for x in row])
with open("linear_weight.npy", "wb") as f:
    f.write(npy("<f4", False, (2, 3), weight_bytes))

# linear.npz: members "0.weight.npy" (the array above) and "0.bias.npy"
# (float64, shape (2,), [0.5, -1.0]).
bias_bytes = struct.pack("<2d", 0.5, -1.0)
with zipfile.ZipFile("linear.npz", "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
    for name, payload in (("0.weight.npy", npy("<f4", False, (2, 3), weight_bytes)),
                          ("0.bias.npy", npy("<f8", False, (2,), bias_bytes))):
        # A fixed timestamp keeps the bytes reproducible (numpy uses the current time).
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(payload)

# linear_compressed.npz: the same two members, DEFLATED, as numpy.savez_compressed writes them
# (zipfile.ZIP_DEFLATED, force_zip64=True). The deflate stream comes from Python's zlib; the
# bytes can differ between zlib versions but decode to the same members.
with zipfile.ZipFile("linear_compressed.npz", "w", compression=zipfile.ZIP_DEFLATED,
                     allowZip64=True) as archive:
    for name, payload in (("0.weight.npy", npy("<f4", False, (2, 3), weight_bytes)),
                          ("0.bias.npy", npy("<f8", False, (2,), bias_bytes))):
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(payload)
