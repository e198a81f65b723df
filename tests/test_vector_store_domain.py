"""Chunking, text extraction and statuses of vector stores (pure domain); filters are
store/vector_filters.py's (tests/test_vector_index.py)."""

from __future__ import annotations

import codecs
import itertools

import pytest

from chalicelib.domain import vector_stores as vs
from chalicelib.domain.chunking import chunk_text, estimate_tokens
from chalicelib.domain.extraction import ExtractionError, extract_text, html_text


def test_chunks_respect_the_size_and_overlap_the_previous_one() -> None:
    words = [f"w{i:04d}" for i in range(2000)]  # 5 characters + a space each
    chunks = chunk_text(" ".join(words), max_tokens=100, overlap_tokens=25)
    assert all(estimate_tokens(c) <= 100 for c in chunks)
    assert chunks[0].split()[0] == "w0000" and chunks[-1].split()[-1] == "w1999"
    for before, after in itertools.pairwise(chunks):
        tail = before.split()
        shared = tail[tail.index(after.split()[0]) :]
        assert after.split()[: len(shared)] == shared, "the next chunk starts inside this one"
        assert 10 <= len(" ".join(shared)) <= 25 * 4, "about 25 tokens of overlap"
    covered = {w for c in chunks for w in c.split()}
    assert covered == set(words), "every word is in some chunk"


def test_no_overlap_and_cut_words_and_blank_text() -> None:
    text = "a" * 1000 + " tail"
    chunks = chunk_text(text, max_tokens=100, overlap_tokens=0)
    assert chunks == ["a" * 400, "a" * 400, "a" * 200 + " tail"]
    assert chunk_text(" \n\t ", 800, 400) == []
    assert chunk_text("one two", 800, 400) == ["one two"]


def test_the_auto_strategy_is_reported_as_its_static_sizes() -> None:
    assert vs.resolve_strategy(None) == vs.resolve_strategy({"type": "auto"})
    assert vs.resolve_strategy(None)["static"] == {
        "max_chunk_size_tokens": 800,
        "chunk_overlap_tokens": 400,
    }


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a.pdf", b"%PDF-1.7", "unsupported_file"),
        ("a.docx", b"PK\x03\x04", "unsupported_file"),
        ("README", b"text", "unsupported_file"),
        ("a.txt", b"\xff\xfe\xfa bad", "invalid_file"),
        ("a.json", b'{"a": "\x00"}', "invalid_file"),
    ],
)
def test_what_cannot_be_indexed_says_why(name: str, data: bytes, code: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_text(name, data)
    assert caught.value.code == code and caught.value.message


def test_text_types_decode_with_or_without_a_byte_order_mark() -> None:
    assert extract_text("x.py", codecs.BOM_UTF8 + "print('é')".encode()) == "print('é')"
    assert extract_text("notes.MD", "# Titre\nété".encode()) == "# Titre\nété"
    assert extract_text("t.csv", codecs.BOM_UTF16_LE + "a,b".encode("utf-16-le")) == "a,b"


def test_html_keeps_visible_text_only() -> None:
    page = (
        "<html><head><title>The  Title</title><style>p {color: red}</style>"
        "<script>alert('x')</script></head><body><h1>Head</h1><p>One &amp; two</p>"
        "<div>three<br>four</div><noscript>no</noscript></body></html>"
    )
    assert html_text(page) == "The Title\nHead\nOne & two\nthree\nfour"
    assert extract_text("p.htm", page.encode()) == html_text(page)


def test_statuses_follow_the_counts() -> None:
    store = vs.new_vector_store(100, None, None, {"anchor": "last_active_at", "days": 2})
    assert store["expires_at"] == 100 + 2 * 86_400
    assert vs.store_status(store) == vs.COMPLETED
    assert vs.store_status({**store, "n_in_progress": 1}) == vs.IN_PROGRESS
    assert vs.store_status({**store, "n_in_progress": 1, "expired": True}) == vs.EXPIRED
    batch = vs.new_file_batch(store["id"], 100)
    assert vs.batch_status({**batch, "n_failed": 2, "n_total": 2}) == vs.FAILED
    assert vs.batch_status({**batch, "n_failed": 1, "n_completed": 1, "n_total": 2}) == "completed"
    assert vs.batch_status({**batch, "n_in_progress": 1, "n_total": 1}) == vs.IN_PROGRESS
    assert vs.batch_status({**batch, "cancelled": True}) == vs.CANCELLED


@pytest.mark.parametrize(
    ("record_type", "wire_keys"),
    [
        (vs.VectorStoreRecord, vs.VECTOR_STORE_KEYS),
        (vs.VectorStoreFileRecord, vs.VECTOR_STORE_FILE_KEYS),
        (vs.FileBatchRecord, vs.FILE_BATCH_KEYS),
    ],
)
def test_record_types_name_every_wire_key(record_type: type, wire_keys: tuple[str, ...]) -> None:
    derived = {"file_counts", "status"}  # computed from the counters when sent
    fields = set(record_type.__annotations__)
    assert set(wire_keys) - fields <= derived
    if "status" not in fields:
        assert {"n_in_progress", "n_total"} <= fields
