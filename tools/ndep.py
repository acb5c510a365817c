#!/usr/bin/env python3
"""Read and write nde parameter files (.ndep) from Python, with numpy only.

The format (version 1) is documented in docs/parameter-files.md and in
include/nde/io/parameter_file.hpp; this module writes the same bytes as the C++ writer
(``nde::io::encode_parameters``) for the same blocks and values, CRC-32 included, and reads
with the same checks (magic, version, CRC, limits, sizes, duplicate names).

Library use::

    import ndep
    blocks = ndep.read("params.ndep")          # dict name -> numpy array, in file order
    ndep.write("copy.ndep", blocks)             # arrays of one float dtype (float32 or float64)

Each array has the block's shape; the file stores its values in column-major (Fortran)
order, so ``blocks["0.weight"]`` of an nde block ``{out, in}`` is the ``(out, in)`` matrix
PyTorch's ``Linear.weight`` holds (no transposition).

Command line::

    python3 tools/ndep.py show params.ndep
    python3 tools/ndep.py to-npz params.ndep params.npz [--compressed] [--c-order]
    python3 tools/ndep.py from-npz params.npz params.ndep [--dtype float32|float64]
"""

import argparse
import binascii
import os
import struct
import sys
import tempfile

import numpy as np

MAGIC = b"\x89NDEP\r\n\x1a"
VERSION = 1
MAX_BLOCKS = 1 << 16
MAX_NAME = 1024
MAX_RANK = 8
MAX_SCALARS = 1 << 40
_TYPES = {1: np.dtype("<f4"), 2: np.dtype("<f8")}


class FormatError(ValueError):
    """The bytes are not a valid parameter file (the message says why)."""


def _size(shape):
    """Product of the dimensions; the non-zero ones must stay within 2^40 (as in C++)."""
    nonzero, empty = 1, False
    for dimension in shape:
        if dimension < 0:
            raise FormatError(f"negative dimension in shape {list(shape)}")
        if dimension == 0:
            empty = True
            continue
        nonzero *= dimension
        if nonzero > MAX_SCALARS:
            raise FormatError(f"shape {list(shape)} is absurdly large (more than 2^40 scalars)")
    return 0 if empty else nonzero


def encode(blocks):
    """Bytes of a parameter file holding ``blocks`` (a mapping name -> array, in order).

    All arrays must share one dtype, float32 or float64 (convert first); names are
    non-empty UTF-8 of at most 1024 bytes without NUL; ranks at most 8.
    """
    items = list(blocks.items())
    if len(items) > MAX_BLOCKS:
        raise FormatError(f"{len(items)} blocks (limit {MAX_BLOCKS})")
    arrays = [np.asarray(a) for _, a in items]
    dtypes = {a.dtype.newbyteorder("<") for a in arrays}
    if len(dtypes) > 1:
        raise FormatError(f"the arrays mix dtypes {sorted(str(d) for d in dtypes)}: convert them "
                          "to one of float32 or float64 first")
    dtype = dtypes.pop() if dtypes else np.dtype("<f8")
    codes = {v: k for k, v in _TYPES.items()}
    if dtype not in codes:
        raise FormatError(f"dtype {dtype} cannot be stored: only float32 and float64")
    names = set()
    header = bytearray(MAGIC)
    count = 0
    records = bytearray()
    for (name, _), array in zip(items, arrays):
        raw = name.encode("utf-8")
        if not raw or len(raw) > MAX_NAME or b"\0" in raw:
            raise FormatError(f"block name {name!r}: 1 to 1024 UTF-8 bytes without NUL")
        if name in names:
            raise FormatError(f"duplicate block name {name!r}")
        names.add(name)
        if array.ndim > MAX_RANK:
            raise FormatError(f"block {name!r}: rank {array.ndim} exceeds 8")
        count += _size(array.shape)
        records += struct.pack("<H", len(raw)) + raw + struct.pack("<B", array.ndim)
        records += b"".join(struct.pack("<Q", d) for d in array.shape)
    if count > MAX_SCALARS:
        raise FormatError(f"{count} scalars (limit 2^40)")
    header += struct.pack("<HBBIQ", VERSION, codes[dtype], 0, len(items), count)
    out = header + records
    for array in arrays:
        # Column-major, little-endian, bit for bit (NaN payloads kept: no arithmetic).
        out += np.asarray(array, dtype=dtype).tobytes(order="F")
    out += struct.pack("<I", binascii.crc32(out) & 0xFFFFFFFF)
    return bytes(out)


def decode(data):
    """Dict name -> numpy array (in file order) of the parameter file ``data`` (bytes)."""
    data = memoryview(bytes(data))
    if len(data) < 8 or bytes(data[:8]) != MAGIC:
        raise FormatError("bad magic: not an nde parameter file")
    if len(data) < 28:
        raise FormatError(f"truncated: {len(data)} bytes")
    version, code, reserved, nblocks, count = struct.unpack_from("<HBBIQ", data, 8)
    if version != VERSION:
        raise FormatError(f"unsupported version {version} (this reader supports version 1)")
    stored, computed = struct.unpack_from("<I", data, len(data) - 4)[0], \
        binascii.crc32(data[:-4]) & 0xFFFFFFFF
    if stored != computed:
        raise FormatError(f"checksum mismatch: stored CRC-32 0x{stored:08X}, computed "
                          f"0x{computed:08X}: the file is corrupted or truncated")
    if code not in _TYPES:
        raise FormatError(f"unknown scalar type code {code}")
    if reserved != 0:
        raise FormatError(f"reserved byte at offset 11 is {reserved}")
    if nblocks > MAX_BLOCKS or count > MAX_SCALARS:
        raise FormatError(f"absurd header: {nblocks} blocks, {count} scalars")
    dtype = _TYPES[code]
    position, layout, total = 24, [], 0
    end = len(data) - 4

    def take(n, what):
        nonlocal position
        if position + n > end:
            raise FormatError(f"invalid file: it ends inside {what}")
        chunk = bytes(data[position:position + n])
        position += n
        return chunk

    for b in range(nblocks):
        (length,) = struct.unpack("<H", take(2, f"block {b}'s name length"))
        if length == 0 or length > MAX_NAME:
            raise FormatError(f"invalid file: block {b} has a name of {length} bytes")
        raw = take(length, f"block {b}'s name")
        if b"\0" in raw:
            raise FormatError(f"invalid file: block {b}'s name contains a NUL byte")
        name = raw.decode("utf-8", errors="surrogateescape")
        (rank,) = struct.unpack("<B", take(1, f"the rank of block {name!r}"))
        if rank > MAX_RANK:
            raise FormatError(f"invalid file: block {name!r} has rank {rank}")
        shape = struct.unpack(f"<{rank}Q", take(8 * rank, f"the shape of block {name!r}"))
        if any(d > MAX_SCALARS for d in shape):
            raise FormatError(f"invalid file: block {name!r}: absurd shape {list(shape)}")
        if any(name == other for other, _ in layout):
            raise FormatError(f"invalid file: duplicate block name {name!r}")
        layout.append((name, shape))
        total += _size(shape)
    if total != count:
        raise FormatError(f"invalid file: block sizes add up to {total}, the scalar count is "
                          f"{count}")
    if end - position != count * dtype.itemsize:
        raise FormatError(f"invalid file: the payload has {end - position} bytes, the header "
                          f"describes {count * dtype.itemsize}")
    blocks = {}
    for name, shape in layout:
        size = _size(shape)
        values = np.frombuffer(data, dtype=dtype, count=size, offset=position)
        blocks[name] = values.reshape(shape, order="F").copy(order="F")
        position += size * dtype.itemsize
    return blocks


def read(path):
    """Reads a parameter file: dict name -> numpy array, in file order."""
    with open(path, "rb") as f:
        return decode(f.read())


def write(path, blocks):
    """Writes a parameter file atomically (temporary file in the same directory, fsync, rename)."""
    data = encode(blocks)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _to_npz(args):
    blocks = read(args.input)
    if args.c_order:
        blocks = {k: v.copy(order="C") for k, v in blocks.items()}  # keeps 0-d arrays 0-d
    save = np.savez_compressed if args.compressed else np.savez
    with open(args.output, "wb") as f:  # a file object: numpy then adds no ".npz" suffix
        save(f, **blocks)


def _from_npz(args):
    with np.load(args.input, allow_pickle=False) as archive:
        blocks = {name: archive[name] for name in archive.files}
    if args.dtype:
        blocks = {k: v.astype(args.dtype) for k, v in blocks.items()}
    write(args.output, blocks)


def _show(args):
    blocks = read(args.input)
    dtypes = {str(v.dtype) for v in blocks.values()}
    total = sum(v.size for v in blocks.values())
    print(f"{args.input}: nde parameter file, version {VERSION}, "
          f"{'/'.join(sorted(dtypes)) or 'float64'}, {len(blocks)} blocks, {total} scalars")
    for name, values in blocks.items():
        shape = "{" + ", ".join(str(d) for d in values.shape) + "}"
        summary = ""
        if values.size:
            summary = f"  min {np.nanmin(values):.6g}  max {np.nanmax(values):.6g}" \
                if np.isfinite(values).any() else "  (no finite values)"
        print(f"  {name:<24} {shape:<16}{summary}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="list the blocks of a .ndep file")
    show.add_argument("input")
    show.set_defaults(run=_show)
    to_npz = commands.add_parser("to-npz", help="convert .ndep to .npz (one array per block)")
    to_npz.add_argument("input")
    to_npz.add_argument("output")
    to_npz.add_argument("--compressed", action="store_true", help="np.savez_compressed")
    to_npz.add_argument("--c-order", action="store_true",
                        help="store C-contiguous arrays (same values, row-major bytes)")
    to_npz.set_defaults(run=_to_npz)
    from_npz = commands.add_parser("from-npz", help="convert .npz to .ndep (block order = "
                                   "member order)")
    from_npz.add_argument("input")
    from_npz.add_argument("output")
    from_npz.add_argument("--dtype", choices=["float32", "float64"],
                          help="convert every array to this dtype first")
    from_npz.set_defaults(run=_from_npz)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (FormatError, OSError) as e:
        print(f"ndep.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
