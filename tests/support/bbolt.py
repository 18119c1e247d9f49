"""A write-once bbolt file writer, and a reader to check it, in pure Python.

Trivy opens its vulnerability DB with go.etcd.io/bbolt. The PyPI package `boltdb` (0.0.2) writes meta pages
with a zero checksum, which bbolt rejects ("checksum error"), and it installs a top-level `tests` package that
would shadow ours; so this module writes the format itself. The layout follows bbolt's `internal/common`:

- page 0 and 1: meta pages (magic, version 2, page size, root bucket, freelist page, high-water mark, txid and
  an FNV-64a checksum over the fields before it). Both point at the same tree; bbolt reads the higher txid.
- page 2: an empty freelist (a write-once file frees nothing).
- page 3 onwards: each bucket's leaf pages (and branch pages when a bucket needs more than one leaf). A bucket
  with no sub-buckets whose page fits in a quarter page is stored inline in its parent's value, as bbolt does.

All integers are little-endian, as bbolt writes them on amd64 and arm64.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

__all__ = ["PAGE_SIZE", "Tree", "encode", "fnv64a", "read_bbolt", "write_bbolt"]

# A bucket: keys are bytes; a value is either plain bytes or a nested bucket.
Tree: TypeAlias = Mapping[bytes, "bytes | Tree"]

PAGE_SIZE = 4096
MAGIC = 0xED0CDAED
VERSION = 2

BRANCH_PAGE = 0x01
LEAF_PAGE = 0x02
META_PAGE = 0x04
FREELIST_PAGE = 0x10
BUCKET_LEAF_FLAG = 0x01  # a leaf element whose value is a bucket header

PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos, ksize, vsize; pos is relative to the element
BRANCH_ELEMENT = struct.Struct("<IIQ")  # pos, ksize, pgid
BUCKET_HEADER = struct.Struct("<QQ")  # root pgid (0 = inline), sequence
META_FIELDS = struct.Struct("<IIIIQQQQQ")  # magic .. txid; the checksum (uint64) follows
META = struct.Struct("<IIIIQQQQQQ")

MAX_KEY_SIZE = 32768  # bbolt's MaxKeySize
MAX_COUNT = 0xFFFF  # page.count is a uint16
FREELIST_PGID = 2
FIRST_DATA_PGID = 3

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv64a(data: bytes) -> int:
    """FNV-1a 64-bit hash, as Go's hash/fnv.New64a (bbolt's meta checksum)."""
    value = FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return value


@dataclass(frozen=True)
class _Leaf:
    flags: int
    key: bytes
    value: bytes


@dataclass(frozen=True)
class _Branch:
    key: bytes
    pgid: int


class _Pages:
    """Allocates page ids in order and collects each page's bytes (a page may span several with overflow)."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.blobs: dict[int, bytes] = {}
        self.next_pgid = FIRST_DATA_PGID

    def add(self, flags: int, body: bytes, count: int) -> int:
        pages = max(1, -(-(PAGE_HEADER.size + len(body)) // self.page_size))
        pgid = self.next_pgid
        self.next_pgid += pages
        header = PAGE_HEADER.pack(pgid, flags, count, pages - 1)
        self.blobs[pgid] = (header + body).ljust(pages * self.page_size, b"\0")
        return pgid


def _leaf_body(elements: list[_Leaf]) -> bytes:
    heads, data = bytearray(), bytearray()
    table = LEAF_ELEMENT.size * len(elements)
    for index, element in enumerate(elements):
        pos = table + len(data) - index * LEAF_ELEMENT.size
        heads += LEAF_ELEMENT.pack(element.flags, pos, len(element.key), len(element.value))
        data += element.key + element.value
    return bytes(heads + data)


def _branch_body(elements: list[_Branch]) -> bytes:
    heads, data = bytearray(), bytearray()
    table = BRANCH_ELEMENT.size * len(elements)
    for index, element in enumerate(elements):
        pos = table + len(data) - index * BRANCH_ELEMENT.size
        heads += BRANCH_ELEMENT.pack(pos, len(element.key), element.pgid)
        data += element.key
    return bytes(heads + data)


def _chunks(sizes: list[int], page_size: int) -> Iterator[slice]:
    """Greedy runs of elements that fit one page each; an element too big for a page gets overflow pages."""
    start, used = 0, PAGE_HEADER.size
    for index, size in enumerate(sizes):
        if index > start and (used + size > page_size or index - start == MAX_COUNT):
            yield slice(start, index)
            start, used = index, PAGE_HEADER.size
        used += size
    yield slice(start, len(sizes))


def _write_pages(pages: _Pages, elements: list[_Leaf]) -> int:
    """Writes a bucket's elements as leaf pages, then branch levels above them; returns the root page id."""
    sizes = [LEAF_ELEMENT.size + len(e.key) + len(e.value) for e in elements]
    level = []
    for part in _chunks(sizes, pages.page_size):
        leaves = elements[part]
        level.append(_Branch(leaves[0].key if leaves else b"", pages.add(LEAF_PAGE, _leaf_body(leaves), len(leaves))))
    while len(level) > 1:
        sizes = [BRANCH_ELEMENT.size + len(b.key) for b in level]
        level = [
            _Branch(level[part][0].key, pages.add(BRANCH_PAGE, _branch_body(level[part]), len(level[part])))
            for part in _chunks(sizes, pages.page_size)
        ]
    return level[0].pgid


def _elements(pages: _Pages, tree: Tree) -> list[_Leaf]:
    elements = []
    for key in sorted(tree):  # bbolt keeps keys in bytes.Compare order
        if not isinstance(key, bytes) or not 0 < len(key) <= MAX_KEY_SIZE:
            raise ValueError(f"bbolt keys are 1 to {MAX_KEY_SIZE} bytes, got {key!r:.80}")
        value = tree[key]
        if isinstance(value, bytes):
            elements.append(_Leaf(0, key, value))
        else:
            elements.append(_Leaf(BUCKET_LEAF_FLAG, key, _bucket_value(pages, value)))
    return elements


def _bucket_value(pages: _Pages, tree: Tree) -> bytes:
    """A sub-bucket's value: its header, followed by its whole page when small enough to be inline."""
    elements = _elements(pages, tree)
    body = _leaf_body(elements)
    inline = all(e.flags == 0 for e in elements) and PAGE_HEADER.size + len(body) <= pages.page_size // 4
    if inline:  # bbolt's Bucket.inlineable: no sub-buckets and at most a quarter page
        return BUCKET_HEADER.pack(0, 0) + PAGE_HEADER.pack(0, LEAF_PAGE, len(elements), 0) + body
    return BUCKET_HEADER.pack(_write_pages(pages, elements), 0)


def _meta_page(pgid: int, page_size: int, root: int, high_water_mark: int) -> bytes:
    fields = META_FIELDS.pack(MAGIC, VERSION, page_size, 0, root, 0, FREELIST_PGID, high_water_mark, pgid)
    header = PAGE_HEADER.pack(pgid, META_PAGE, 0, 0)
    return (header + fields + struct.pack("<Q", fnv64a(fields))).ljust(page_size, b"\0")


def encode(tree: Tree, *, page_size: int = PAGE_SIZE) -> bytes:
    """The bytes of a bbolt file holding `tree` (top-level values must be buckets, as in bbolt)."""
    if page_size < 1024 or page_size & (page_size - 1):
        raise ValueError(f"page_size must be a power of two of at least 1024, got {page_size}")
    for key, value in tree.items():
        if isinstance(value, bytes):
            raise ValueError(f"bbolt allows only buckets at the top level, but {key!r} holds a value")
    pages = _Pages(page_size)
    root = _write_pages(pages, _elements(pages, tree))
    freelist = PAGE_HEADER.pack(FREELIST_PGID, FREELIST_PAGE, 0, 0).ljust(page_size, b"\0")
    out = bytearray(_meta_page(0, page_size, root, pages.next_pgid) + _meta_page(1, page_size, root, pages.next_pgid))
    out += freelist
    for pgid in sorted(pages.blobs):
        assert len(out) == pgid * page_size
        out += pages.blobs[pgid]
    return bytes(out)


def write_bbolt(path: Path, tree: Tree, *, page_size: int = PAGE_SIZE) -> Path:
    """Writes `tree` as a new bbolt file at `path` (replacing it atomically); returns `path`."""
    data = encode(tree, page_size=page_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path


# -- reader: for tests of the writer, and to inspect a file; follows bbolt's read path, checks as it goes --


def read_bbolt(source: Path | bytes) -> dict[bytes, Any]:
    """The tree in a bbolt file: nested dicts for buckets, bytes for values. Raises ValueError when invalid."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    # bbolt takes the page size from meta page 0, and looks for meta page 1 one page further.
    page_size = _meta(data, 0)[2] if _valid(data, 0) else PAGE_SIZE
    metas = [_meta(data, offset) for offset in (0, page_size) if _valid(data, offset)]
    if not metas:
        raise ValueError("neither meta page is valid (magic, version 2 and FNV-64a checksum)")
    _, _, page_size, _, root, _, _, high_water_mark, _, _ = max(metas, key=lambda m: m[8])
    if len(data) < high_water_mark * page_size:
        raise ValueError(f"file has {len(data)} bytes, but the meta page's high-water mark is page {high_water_mark}")
    return _read_bucket(data, page_size, root, high_water_mark)


def _meta(data: bytes, offset: int) -> tuple[int, ...]:
    return META.unpack_from(data, offset + PAGE_HEADER.size)


def _valid(data: bytes, offset: int) -> bool:
    if len(data) < offset + PAGE_HEADER.size + META.size:
        return False
    meta = _meta(data, offset)
    fields = data[offset + PAGE_HEADER.size : offset + PAGE_HEADER.size + META_FIELDS.size]
    return meta[0] == MAGIC and meta[1] == VERSION and meta[9] == fnv64a(fields)


def _read_bucket(data: bytes, page_size: int, pgid: int, high_water_mark: int) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for flags, key, value in _walk(data, page_size, pgid, high_water_mark):
        if flags & BUCKET_LEAF_FLAG:
            root, _ = BUCKET_HEADER.unpack_from(value)
            if root == 0:
                out[key] = _read_inline(value[BUCKET_HEADER.size :])
            else:
                out[key] = _read_bucket(data, page_size, root, high_water_mark)
        else:
            out[key] = value
    return out


def _read_inline(page: bytes) -> dict[bytes, Any]:
    _, flags, count, _ = PAGE_HEADER.unpack_from(page)
    if flags != LEAF_PAGE:
        raise ValueError(f"inline bucket page has flags {flags:#x}, expected a leaf page")
    out: dict[bytes, Any] = {}
    for element_flags, key, value in _leaf_elements(page, count):
        if element_flags & BUCKET_LEAF_FLAG:
            raise ValueError(f"inline bucket holds a sub-bucket {key!r}, which bbolt never inlines")
        out[key] = value
    return out


def _leaf_elements(page: bytes, count: int) -> Iterator[tuple[int, bytes, bytes]]:
    previous = None
    for index in range(count):
        at = PAGE_HEADER.size + index * LEAF_ELEMENT.size
        flags, pos, ksize, vsize = LEAF_ELEMENT.unpack_from(page, at)
        key = page[at + pos : at + pos + ksize]
        if previous is not None and key <= previous:
            raise ValueError(f"keys out of order: {key!r} after {previous!r}")
        previous = key
        yield flags, key, page[at + pos + ksize : at + pos + ksize + vsize]


def _walk(data: bytes, page_size: int, pgid: int, high_water_mark: int) -> Iterator[tuple[int, bytes, bytes]]:
    if not FIRST_DATA_PGID <= pgid < high_water_mark:
        raise ValueError(f"page id {pgid} outside the data pages {FIRST_DATA_PGID}..{high_water_mark - 1}")
    own_id, flags, count, overflow = PAGE_HEADER.unpack_from(data, pgid * page_size)
    if own_id != pgid:  # bbolt's FastCheck
        raise ValueError(f"page {pgid} says it is page {own_id}")
    page = data[pgid * page_size : (pgid + 1 + overflow) * page_size]
    if flags == LEAF_PAGE:
        yield from _leaf_elements(page, count)
    elif flags == BRANCH_PAGE:
        for index in range(count):
            at = PAGE_HEADER.size + index * BRANCH_ELEMENT.size
            _, _, child = BRANCH_ELEMENT.unpack_from(page, at)
            yield from _walk(data, page_size, child, high_water_mark)
    else:
        raise ValueError(f"page {pgid} has flags {flags:#x}, expected a leaf or branch page")
