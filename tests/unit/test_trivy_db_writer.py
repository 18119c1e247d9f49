"""The bbolt writer and the Trivy DB layout, without Trivy (tests/integration/test_trivy_db.py runs the binary)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.support.bbolt import PAGE_SIZE, encode, fnv64a, read_bbolt, write_bbolt
from tests.support.trivy_db import (
    Advisory,
    DataSource,
    DebianPackage,
    Severity,
    choose_package,
    db_tree,
    earlier_version,
    later_version,
    parse_dpkg_status,
    write_sample_db,
    write_vulnerability_db,
)

# aquasecurity/trivy-db pkg/db/testdata/normal.db: an empty DB as go.etcd.io/bbolt itself creates it.
BBOLT_EMPTY_SHA256 = "f80ea184425737cdc7de57b1c8d4797e8a57ccee797991395e3800cd4ed0ac1e"
BBOLT_EMPTY_META_CHECKSUMS = (0x07516E114689FDEE, 0x264C351A5179480F)


def _page_kinds(data: bytes) -> dict[int, int]:
    """Flags of each page that starts where its header says (overflow continuations are skipped)."""
    kinds: dict[int, int] = {}
    pgid = 0
    while pgid * PAGE_SIZE < len(data):
        own_id, flags, _, overflow = struct.unpack_from("<QHHI", data, pgid * PAGE_SIZE)
        assert own_id == pgid, f"page {pgid} says it is page {own_id}"
        kinds[flags] = kinds.get(flags, 0) + 1
        pgid += 1 + overflow
    return kinds


def test_fnv64a_matches_the_reference_vectors() -> None:
    """FNV-1a 64 gives the published values for "" and "a" (the hash bbolt checksums meta pages with)."""
    assert fnv64a(b"") == 0xCBF29CE484222325
    assert fnv64a(b"a") == 0xAF63DC4C8601EC8C
    assert fnv64a(b"foobar") == 0x85944171F73967E8


def test_empty_file_is_byte_identical_to_what_bbolt_writes() -> None:
    """An empty tree gives exactly bbolt's own 4-page initial file: meta pages, freelist, empty root leaf."""
    data = encode({})
    assert hashlib.sha256(data).hexdigest() == BBOLT_EMPTY_SHA256
    checksums = tuple(struct.unpack_from("<Q", data, page * PAGE_SIZE + 16 + 56)[0] for page in (0, 1))
    assert checksums == BBOLT_EMPTY_META_CHECKSUMS


def test_nested_buckets_round_trip_through_every_page_kind() -> None:
    """Inline buckets, page buckets, branch pages and overflow values all read back as written."""
    tree: dict[bytes, Any] = {
        b"small": {b"inline": {b"k": b"v"}, b"value": b"x"},
        b"many": {f"key{i:05d}".encode(): b"v" * (i % 50) for i in range(3000)},
        b"large": {b"big": b"z" * (3 * PAGE_SIZE), b"after": b"1"},
    }
    data = encode(tree)
    assert read_bbolt(data) == tree
    kinds = _page_kinds(data)
    assert kinds[0x04] == 2  # both meta pages
    assert kinds[0x10] == 1  # the freelist
    assert kinds[0x01] >= 1  # branch pages for "many"
    assert kinds[0x02] > 10  # leaf pages


def test_small_leaf_bucket_is_stored_inline_and_a_bucket_with_sub_buckets_is_not() -> None:
    """A sub-bucket value starts with root page 0 when inline (as bbolt does), a real page id otherwise."""
    data = encode({b"top": {b"leafy": {b"a": b"1"}, b"parent": {b"child": {b"b": b"2"}}}})
    assert data.count(b"leafy" + struct.pack("<QQ", 0, 0)) == 1
    assert data.count(b"parent" + struct.pack("<QQ", 0, 0)) == 0


def test_keys_are_sorted_bytewise() -> None:
    """Keys come back in bytes order whatever the insertion order (bbolt's cursor needs sorted pages)."""
    data = encode({b"b": {b"z": b"", b"a": b"", b"\xff": b"", b"A": b""}})
    assert list(read_bbolt(data)[b"b"]) == [b"A", b"a", b"z", b"\xff"]


def test_reader_rejects_a_broken_checksum() -> None:
    """A flipped byte in both meta pages' fields fails their FNV-64a checksum, as bbolt would report."""
    data = bytearray(encode({b"a": {b"k": b"v"}}))
    data[16 + 8] ^= 1  # the page size field of meta page 0
    data[PAGE_SIZE + 16 + 8] ^= 1
    with pytest.raises(ValueError, match="checksum"):
        read_bbolt(bytes(data))


def test_writer_rejects_values_at_the_top_level_and_empty_keys() -> None:
    """bbolt only has buckets at the top level, and keys of at least one byte."""
    with pytest.raises(ValueError, match="only buckets at the top level"):
        encode({b"a": b"value"})
    with pytest.raises(ValueError, match="1 to 32768 bytes"):
        encode({b"a": {b"": b"value"}})


def test_write_bbolt_writes_whole_pages(tmp_path: Path) -> None:
    """The file on disk is a whole number of pages and reads back."""
    path = write_bbolt(tmp_path / "x" / "a.db", {b"a": {b"k": b"v"}})
    assert path.stat().st_size % PAGE_SIZE == 0
    assert read_bbolt(path) == {b"a": {b"k": b"v"}}
    assert not list(tmp_path.glob("x/*.partial"))


def test_db_tree_has_trivys_bucket_layout() -> None:
    """Advisories go under platform/source package/ID; details and data source in their own buckets."""
    tree = db_tree(
        [
            Advisory("CVE-2099-0001", "zlib", "1:1.3-1", "critical", "title"),
            Advisory("CVE-2099-0002", "zlib", None, Severity.LOW),
        ]
    )
    assert set(tree) == {b"debian 12", b"data-source", b"vulnerability"}
    assert json.loads(tree[b"debian 12"][b"zlib"][b"CVE-2099-0001"]) == {"FixedVersion": "1:1.3-1"}
    assert json.loads(tree[b"debian 12"][b"zlib"][b"CVE-2099-0002"]) == {}
    assert json.loads(tree[b"vulnerability"][b"CVE-2099-0001"]) == {
        "Title": "title",
        "Severity": "CRITICAL",
        "VendorSeverity": {"debian": 4},
    }
    assert json.loads(tree[b"data-source"][b"debian 12"])["ID"] == "debian"


def test_write_vulnerability_db_writes_db_and_metadata(tmp_path: Path) -> None:
    """trivy.db and metadata.json land in <cache>/db, schema 2, next update far ahead."""
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    path = write_vulnerability_db(tmp_path, [Advisory("CVE-2099-0001", "gzip", "1.13-1")], updated_at=now)
    assert path == tmp_path / "db" / "trivy.db"
    assert read_bbolt(path)[b"debian 12"] == {b"gzip": {b"CVE-2099-0001": b'{"FixedVersion":"1.13-1"}'}}
    metadata = json.loads((tmp_path / "db" / "metadata.json").read_text())
    assert metadata == {
        "Version": 2,
        "NextUpdate": "2035-12-31T03:04:05Z",
        "UpdatedAt": "2026-01-02T03:04:05Z",
        "DownloadedAt": "2026-01-02T03:04:05Z",
    }


def test_advisory_validation_names_the_field_and_the_fix() -> None:
    """Bad severities, empty fixed versions, unknown platforms and conflicting details are refused."""
    with pytest.raises(ValueError, match="'SEVERE' is not one of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL"):
        Advisory("CVE-1", "p", severity="SEVERE")
    with pytest.raises(ValueError, match="use None for an unfixed"):
        Advisory("CVE-1", "p", fixed_version="")
    with pytest.raises(ValueError, match="pass data_source="):
        Advisory("CVE-1", "p", platform="gentoo 1")
    custom = Advisory("CVE-1", "p", platform="gentoo 1", data_source=DataSource("gentoo", "G", "https://g"))
    assert json.loads(db_tree([custom])[b"data-source"][b"gentoo 1"]) == {
        "ID": "gentoo",
        "Name": "G",
        "URL": "https://g",
    }
    with pytest.raises(ValueError, match="CVE-1 appears twice"):
        db_tree([Advisory("CVE-1", "p", severity="LOW"), Advisory("CVE-1", "q", severity="HIGH")])


STATUS = """\
Package: zlib1g
Status: install ok installed
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1
Description: compression library
 with a continuation line: that is not a field

Package: bash
Status: install ok installed
Source: bash (5.2.15-2)
Version: 5.2.15-2+b13

Package: gzip
Status: install ok installed
Version: 1.12-1

Package: gone
Status: deinstall ok config-files
Version: 1.0-1
"""


def test_parse_dpkg_status_gives_source_names_and_versions() -> None:
    """Source name and version come from `Source:`, else the package's own; removed packages are left out."""
    assert parse_dpkg_status(STATUS) == (
        DebianPackage("zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1"),
        DebianPackage("bash", "5.2.15-2+b13", "bash", "5.2.15-2"),
        DebianPackage("gzip", "1.12-1", "gzip", "1.12-1"),
    )
    assert choose_package(parse_dpkg_status(STATUS)).name == "gzip"
    assert choose_package(parse_dpkg_status(STATUS), preferred=()).name == "gzip"  # the only plain one
    with pytest.raises(ValueError, match="no installed package"):
        choose_package(parse_dpkg_status(STATUS)[:2])


def test_sample_db_brackets_the_installed_version(tmp_path: Path) -> None:
    """The sample DB has one advisory fixed above, one below and one unfixed, for the package's source."""
    sample = write_sample_db(tmp_path, DebianPackage("zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1"))
    assert sample.fixed.fixed_version == later_version("1:1.2.13.dfsg-1") == "1:1.2.13.dfsg-1+athalia1"
    assert sample.already_fixed.fixed_version == earlier_version("1:1.2.13.dfsg-1") == "1:1.2.13.dfsg-1~athalia0"
    assert sample.unfixed.fixed_version is None
    assert set(read_bbolt(sample.db_path)[b"debian 12"]) == {b"zlib"}
    assert sample.expected_ids() == {"CVE-2099-0001", "CVE-2099-0003"}
    assert sample.expected_ids(ignore_unfixed=True) == {"CVE-2099-0001"}
