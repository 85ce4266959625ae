"""The ledger's hash chain as pure rules: canonical JSON, the entry hash, and what verification catches."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fundcircle.ledger.chain import (
    GENESIS_HASH,
    CanonicalJSONError,
    EntryContent,
    StoredEntry,
    canonical_json,
    entry_hash,
    entry_hash_with_data_text,
    format_at,
    sqlite_at_text,
    verify_chain,
)
from fundcircle.ledger.chain import (
    json_text as stored_json_text,
)

T0 = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


def content(seq: int, data: Mapping[str, Any] | None = None, **overrides: Any) -> EntryContent:
    values: dict[str, Any] = {
        "seq": seq,
        "at": T0 + timedelta(minutes=seq),
        "circle_id": 7,
        "actor_id": 3,
        "action": "test.happened",
        "subject_type": "round",
        "subject_id": 11,
        "data": {"n": seq} if data is None else data,
    }
    values.update(overrides)
    return EntryContent(**values)


def build_chain(contents: list[EntryContent]) -> list[StoredEntry]:
    """Chain entries the way `record` does: each hash covers the previous one."""
    entries = []
    head = GENESIS_HASH
    for item in contents:
        new_hash = entry_hash(head, item)
        entries.append(StoredEntry(content=item, prev_hash=head, hash=new_hash))
        head = new_hash
    return entries


def chain_of(n: int) -> list[StoredEntry]:
    return build_chain([content(seq) for seq in range(1, n + 1)])


def head_of(entries: list[StoredEntry]) -> tuple[int, str]:
    return (entries[-1].content.seq, entries[-1].hash) if entries else (0, GENESIS_HASH)


def with_data(entry: StoredEntry, data: Mapping[str, Any]) -> StoredEntry:
    """The same stored row with its data changed and its hashes left alone, as an edit in the database does."""
    return dataclasses.replace(entry, content=dataclasses.replace(entry.content, data=data))


def with_seq(entry: StoredEntry, seq: int) -> StoredEntry:
    return dataclasses.replace(entry, content=dataclasses.replace(entry.content, seq=seq))


# --- canonical JSON ----------------------------------------------------------------------------------------------


def test_canonical_json_sorts_keys_at_every_level_and_has_no_whitespace():
    value = {"b": 1, "a": {"z": [3, 2, 1], "y": None}, "c": True}

    assert canonical_json(value) == b'{"a":{"y":null,"z":[3,2,1]},"b":1,"c":true}'


def test_canonical_json_is_the_same_whatever_order_the_keys_were_given_in():
    assert canonical_json({"x": 1, "y": 2, "z": 3}) == canonical_json({"z": 3, "x": 1, "y": 2})


def test_canonical_json_keeps_non_ascii_characters_as_utf8():
    encoded = canonical_json({"name": "Café Ωmega 東京 🎉"})

    assert encoded == '{"name":"Café Ωmega 東京 🎉"}'.encode()
    assert b"\\u" not in encoded


def test_canonical_json_escapes_what_json_must_escape():
    assert canonical_json({"q": 'say "hi"\\\n'}) == b'{"q":"say \\"hi\\"\\\\\\n"}'


def test_canonical_json_writes_tuples_as_arrays_and_big_integers_exactly():
    assert canonical_json({"t": (1, 2), "big": 10**30}) == b'{"big":1000000000000000000000000000000,"t":[1,2]}'


@pytest.mark.parametrize("number", [1.5, 0.0, 100.0, math.nan, math.inf, -math.inf])
def test_canonical_json_refuses_floats_including_nan_and_infinity(number):
    with pytest.raises(CanonicalJSONError, match="floats are not allowed"):
        canonical_json({"amount": number})


def test_canonical_json_names_where_the_float_is():
    with pytest.raises(CanonicalJSONError, match=r"\$\.lines\[1\]\.amount"):
        canonical_json({"lines": [{"amount": 1}, {"amount": 2.5}]})


@pytest.mark.parametrize("key", [1, None, ("a", "b"), True])
def test_canonical_json_refuses_keys_that_are_not_strings(key):
    with pytest.raises(CanonicalJSONError, match="keys must be strings"):
        canonical_json({"outer": {key: "value"}})


@pytest.mark.parametrize("value", [Decimal("1.50"), datetime(2026, 1, 1, tzinfo=UTC), {1, 2}, b"bytes", object()])
def test_canonical_json_refuses_types_json_does_not_have(value):
    with pytest.raises(CanonicalJSONError, match="has no canonical JSON form"):
        canonical_json({"value": value})


def test_format_at_writes_utc_with_microseconds_and_z():
    assert format_at(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"


def test_format_at_converts_other_time_zones_to_utc():
    berlin_winter = timezone(timedelta(hours=1))

    assert format_at(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=berlin_winter)) == "2026-01-02T02:04:05.000006Z"


def test_format_at_refuses_naive_timestamps():
    with pytest.raises(CanonicalJSONError, match="timezone-aware"):
        format_at(datetime(2026, 1, 2, 3, 4, 5))


# --- the entry hash ----------------------------------------------------------------------------------------------

FIRST = EntryContent(
    seq=1,
    at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    circle_id=7,
    actor_id=3,
    action="round.created",
    subject_type="round",
    subject_id=11,
    data={"title": "Café grants", "budget_minor": 125000},
)
#: FIRST's canonical JSON, written out by hand from the documented form.
FIRST_JSON = (
    '{"action":"round.created","actor":3,"at":"2026-01-02T03:04:05.000006Z","circle":7,'
    '"data":{"budget_minor":125000,"title":"Café grants"},"seq":1,"subject":{"id":11,"type":"round"}}'
)


def test_an_entry_is_hashed_as_its_json_object_in_canonical_form():
    assert canonical_json(FIRST.as_json_object()) == FIRST_JSON.encode()


def test_the_first_entry_hash_is_sha256_of_the_genesis_hash_and_its_canonical_json():
    expected = hashlib.sha256(("0" * 64).encode("ascii") + FIRST_JSON.encode("utf-8")).hexdigest()

    assert GENESIS_HASH == "0" * 64
    assert entry_hash(GENESIS_HASH, FIRST) == expected


def test_each_entry_hash_covers_the_previous_hash_as_lower_case_hex():
    first_hash = hashlib.sha256(b"0" * 64 + FIRST_JSON.encode()).hexdigest()
    second = EntryContent(
        seq=2,
        at=datetime(2026, 1, 2, 3, 5, 0, tzinfo=UTC),
        circle_id=7,
        actor_id=None,
        action="round.phase_changed",
        subject_type=None,
        subject_id=None,
        data={},
    )
    second_json = (
        '{"action":"round.phase_changed","actor":null,"at":"2026-01-02T03:05:00.000000Z","circle":7,'
        '"data":{},"seq":2,"subject":{"id":null,"type":null}}'
    )
    expected = hashlib.sha256(first_hash.encode("ascii") + second_json.encode("utf-8")).hexdigest()

    assert entry_hash(entry_hash(GENESIS_HASH, FIRST), second) == expected
    assert expected == expected.lower() and len(expected) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"at": FIRST.at + timedelta(microseconds=1)},
        {"circle_id": 8},
        {"actor_id": None},
        {"action": "round.deleted"},
        {"subject_type": "proposal"},
        {"subject_id": 12},
        {"data": {"title": "Café grants", "budget_minor": 125001}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_field_of_an_entry_is_covered_by_its_hash(change):
    assert entry_hash(GENESIS_HASH, dataclasses.replace(FIRST, **change)) != entry_hash(GENESIS_HASH, FIRST)


def test_entry_hash_refuses_data_with_a_float():
    with pytest.raises(CanonicalJSONError):
        entry_hash(GENESIS_HASH, content(1, {"amount": 12.5}))


# --- verification ------------------------------------------------------------------------------------------------


def test_an_empty_chain_verifies_at_the_genesis_hash():
    result = verify_chain([], expected_head=(0, GENESIS_HASH))

    assert (result.ok, result.count, result.head, result.bad_seq) == (True, 0, GENESIS_HASH, None)


def test_an_intact_chain_verifies_and_reports_its_count_and_head():
    entries = chain_of(5)

    result = verify_chain(entries, expected_head=head_of(entries))

    assert result.ok
    assert (result.count, result.head) == (5, entries[-1].hash)
    assert result.bad_seq is None and result.problem is None


def test_verify_reads_entries_lazily_from_an_iterator():
    entries = chain_of(4)

    assert verify_chain(iter(entries), expected_head=head_of(entries)).ok


def test_an_edited_entry_is_named_as_the_first_bad_entry():
    entries = chain_of(6)
    entries[3] = with_data(entries[3], {"n": 4, "extra": "forged"})

    result = verify_chain(entries, expected_head=head_of(chain_of(6)))

    assert not result.ok
    assert result.bad_seq == 4
    assert "edited" in result.problem
    assert (result.count, result.head) == (3, entries[2].hash)


def test_an_edited_timestamp_or_actor_is_caught():
    entries = chain_of(3)
    moved = dataclasses.replace(entries[1], content=dataclasses.replace(entries[1].content, at=T0))
    other_actor = dataclasses.replace(entries[1], content=dataclasses.replace(entries[1].content, actor_id=99))

    for edited in (moved, other_actor):
        result = verify_chain([entries[0], edited, entries[2]])
        assert (result.ok, result.bad_seq) == (False, 2)


def test_an_entry_whose_prev_hash_was_changed_is_caught():
    entries = chain_of(4)
    entries[2] = dataclasses.replace(entries[2], prev_hash="f" * 64)

    result = verify_chain(entries)

    assert (result.ok, result.bad_seq) == (False, 3)
    assert "prev_hash" in result.problem


def test_a_deleted_entry_is_caught_at_the_gap():
    entries = chain_of(6)
    del entries[2]  # seq 3

    result = verify_chain(entries, expected_head=head_of(chain_of(6)))

    assert (result.ok, result.bad_seq) == (False, 4)
    assert result.problem == "expected entry 3, found entry 4 (missing or reordered)"


def test_a_deleted_first_entry_is_caught():
    entries = chain_of(3)[1:]

    result = verify_chain(entries)

    assert (result.ok, result.bad_seq, result.count) == (False, 2, 0)


def test_a_forged_entry_with_an_invented_hash_is_named_where_it_was_inserted():
    entries = chain_of(5)
    forged = StoredEntry(content=content(3, {"n": "forged"}), prev_hash=entries[1].hash, hash="a" * 64)
    renumbered = [with_seq(entry, entry.content.seq + 1) for entry in entries[2:]]

    result = verify_chain([*entries[:2], forged, *renumbered])

    assert (result.ok, result.bad_seq) == (False, 3)
    assert "edited" in result.problem


def test_a_forged_entry_with_a_correct_hash_breaks_the_link_to_the_entry_after_it():
    entries = chain_of(5)
    forged_content = content(3, {"n": "forged"})
    forged = StoredEntry(forged_content, prev_hash=entries[1].hash, hash=entry_hash(entries[1].hash, forged_content))
    renumbered = [with_seq(entry, entry.content.seq + 1) for entry in entries[2:]]

    result = verify_chain([*entries[:2], forged, *renumbered])

    assert (result.ok, result.bad_seq) == (False, 4)
    assert result.count == 3


def test_a_forged_entry_repeating_a_seq_is_caught():
    entries = chain_of(4)
    forged_content = content(3, {"n": "forged"})
    forged = StoredEntry(forged_content, prev_hash=entries[1].hash, hash=entry_hash(entries[1].hash, forged_content))

    result = verify_chain([*entries[:3], forged, entries[3]])

    assert (result.ok, result.bad_seq) == (False, 3)
    assert result.problem == "expected entry 4, found entry 3 (repeated or reordered)"


def test_two_entries_read_in_the_wrong_order_are_caught_at_the_first_of_them():
    entries = chain_of(5)
    entries[1], entries[2] = entries[2], entries[1]

    result = verify_chain(entries)

    assert (result.ok, result.bad_seq) == (False, 3)
    assert result.problem == "expected entry 2, found entry 3 (missing or reordered)"


def test_two_entries_with_swapped_seq_values_are_caught_at_the_lower_seq():
    """In the database a reorder swaps the rows' seq values, so each row claims the other's place."""
    entries = chain_of(5)
    swapped = [*entries[:1], with_seq(entries[2], 2), with_seq(entries[1], 3), *entries[3:]]

    result = verify_chain(swapped)

    assert (result.ok, result.bad_seq) == (False, 2)


def test_entries_cut_off_the_end_pass_without_a_head_record():
    entries = chain_of(5)

    assert verify_chain(entries[:3]).ok


def test_entries_cut_off_the_end_are_caught_by_the_head_record():
    entries = chain_of(5)

    result = verify_chain(entries[:3], expected_head=head_of(entries))

    assert (result.ok, result.bad_seq, result.count) == (False, 4, 3)
    assert "the head record says entry 5: entries were removed from the end" in result.problem


def test_a_head_record_with_another_hash_is_caught_at_the_last_entry():
    entries = chain_of(5)

    result = verify_chain(entries, expected_head=(5, "b" * 64))

    assert (result.ok, result.bad_seq) == (False, 5)


def test_entries_appended_past_the_head_record_are_caught_at_the_first_of_them():
    entries = chain_of(6)
    head_before = head_of(entries[:4])

    result = verify_chain(entries, expected_head=head_before)

    assert not result.ok
    assert result.bad_seq == 5


def test_a_chain_passes_through_a_checkpoint_published_earlier():
    entries = chain_of(6)
    checkpoint = head_of(entries[:4])

    result = verify_chain(entries, expected_head=head_of(entries), checkpoint=checkpoint)

    assert result.ok


def test_a_checkpoint_at_the_head_is_passed():
    entries = chain_of(3)

    assert verify_chain(entries, checkpoint=head_of(entries)).ok


def test_history_rewritten_consistently_is_caught_by_a_checkpoint_but_not_without_one():
    original = chain_of(6)
    checkpoint = head_of(original[:4])
    contents = [entry.content for entry in original]
    contents[1] = dataclasses.replace(contents[1], data={"n": 2, "rewritten": True})
    rewritten = build_chain(contents)

    assert verify_chain(rewritten, expected_head=head_of(rewritten)).ok
    result = verify_chain(rewritten, expected_head=head_of(rewritten), checkpoint=checkpoint)

    assert (result.ok, result.bad_seq) == (False, 4)
    assert "checkpoint" in result.problem


def test_a_checkpoint_beyond_the_end_of_the_chain_fails():
    entries = chain_of(3)

    result = verify_chain(entries, expected_head=head_of(entries), checkpoint=(5, "c" * 64))

    assert not result.ok
    assert result.bad_seq is None
    assert result.problem == "the chain has 3 entries, fewer than the checkpoint's 5"


def test_an_entry_holding_a_float_is_reported_not_raised():
    entries = chain_of(3)
    entries[1] = with_data(entries[1], {"amount": 1.5})

    result = verify_chain(entries)

    assert (result.ok, result.bad_seq) == (False, 2)
    assert "cannot be hashed" in result.problem


# --- properties --------------------------------------------------------------------------------------------------

json_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20) | json_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4),
    max_leaves=12,
)
entry_data = st.dictionaries(json_text, json_values, max_size=5)


@st.composite
def entry_contents(draw: st.DrawFn) -> list[EntryContent]:
    datas = draw(st.lists(entry_data, min_size=1, max_size=8))
    actions = st.sampled_from(["a.b", "round.created", "vote.cast"])
    return [content(seq, data, action=draw(actions)) for seq, data in enumerate(datas, start=1)]


@given(json_values)
def test_canonical_json_reads_back_as_the_same_value(value):
    assert json.loads(canonical_json(value)) == json.loads(json.dumps(value))


@given(entry_contents())
def test_a_chain_built_with_entry_hash_always_verifies(contents):
    entries = build_chain(contents)

    result = verify_chain(entries, expected_head=head_of(entries), checkpoint=head_of(entries[: len(entries) // 2]))

    assert result.ok
    assert (result.count, result.head) == head_of(entries)


@given(entry_contents(), st.data())
def test_changing_one_entrys_data_fails_verification_at_exactly_that_entry(contents, data):
    entries = build_chain(contents)
    index = data.draw(st.integers(min_value=0, max_value=len(entries) - 1), label="index")
    new_data = data.draw(entry_data, label="new data")
    assume(canonical_json(new_data) != canonical_json(dict(contents[index].data)))
    tampered = [*entries[:index], with_data(entries[index], new_data), *entries[index + 1 :]]

    result = verify_chain(tampered, expected_head=head_of(entries))

    assert not result.ok
    assert result.bad_seq == index + 1
    assert "edited" in result.problem


# --- verifying data as the database stores it (its canonical text) ---------------------------------------------


@given(
    data=st.dictionaries(json_text, json_values, max_size=5),
    action=json_text.filter(bool),
    subject_type=st.none() | json_text,
    actor=st.none() | st.integers(1, 10**6),
)
def test_hashing_the_stored_data_text_gives_the_entry_hash_exactly(
    data: dict[str, Any], action: str, subject_type: str | None, actor: int | None
) -> None:
    item = content(5, data, action=action, subject_type=subject_type, actor_id=actor)
    assert entry_hash_with_data_text(GENESIS_HASH, item, stored_json_text(data)) == entry_hash(GENESIS_HASH, item)


def _as_stored(entries: list[StoredEntry], text_of: Any = stored_json_text) -> list[StoredEntry]:
    """The entries as `ledger verify` reads them from the database: data as stored text, not parsed."""
    return [
        dataclasses.replace(e, content=dataclasses.replace(e.content, data={}), data_text=text_of(e.content.data))
        for e in entries
    ]


def test_a_chain_read_as_stored_text_verifies_and_an_edit_of_that_text_is_found() -> None:
    entries = chain_of(5)
    assert verify_chain(_as_stored(entries), expected_head=head_of(entries)).ok
    edited = _as_stored(entries)
    edited[2] = dataclasses.replace(edited[2], data_text='{"n":30}')
    result = verify_chain(edited, expected_head=head_of(entries))
    assert not result.ok and result.bad_seq == 3 and "edited" in (result.problem or "")
    broken = _as_stored(entries)
    broken[1] = dataclasses.replace(broken[1], data_text="not json")
    assert verify_chain(broken).bad_seq == 2


def test_data_stored_in_another_json_form_still_verifies_by_its_meaning() -> None:
    """Entries written before JSON columns were stored canonically hold `{"n": 1}` with a space: same meaning."""
    entries = chain_of(4)
    spaced = _as_stored(entries, text_of=lambda data: json.dumps(data))
    assert all(" " in e.data_text for e in spaced if e.data_text)
    assert verify_chain(spaced, expected_head=head_of(entries)).ok


# --- timestamps as SQLite stores them (naive UTC text, always with microseconds) ----------------------------------


def sqlite_stored(at: datetime) -> str:
    """The text SQLAlchemy's SQLite dialect writes for a naive UTC datetime (its DATETIME storage format)."""
    at = at.astimezone(UTC)
    return (
        f"{at.year:04d}-{at.month:02d}-{at.day:02d} {at.hour:02d}:{at.minute:02d}:{at.second:02d}.{at.microsecond:06d}"
    )


@given(st.datetimes(min_value=datetime(1, 1, 1), timezones=st.just(UTC)))
def test_a_timestamp_read_as_sqlite_text_has_the_canonical_form_or_none(at: datetime) -> None:
    text = sqlite_at_text(sqlite_stored(at))
    if at.year >= 1000:
        assert text == format_at(at)
    else:  # format_at keeps such years unpadded, as they always were: verification formats those itself
        assert text is None


def test_the_sqlite_at_text_is_what_the_entry_hash_covers() -> None:
    item = content(3, {"n": 3})
    at_text = sqlite_at_text(sqlite_stored(item.at))
    assert at_text == "2026-03-01T09:33:00.123456Z"
    assert entry_hash_with_data_text(GENESIS_HASH, item, '{"n":3}', at_text) == entry_hash(GENESIS_HASH, item)
    later = "2026-03-01T09:33:01.123456Z"
    assert entry_hash_with_data_text(GENESIS_HASH, item, '{"n":3}', later) != entry_hash(GENESIS_HASH, item)


@pytest.mark.parametrize(
    "stored", ["2026-03-01 09:33:00", "2026-03-01T09:33:00.123456", "", "2026-03-01 09:33:00.1234567"]
)
def test_text_of_another_shape_is_not_taken_as_a_timestamp(stored: str) -> None:
    assert sqlite_at_text(stored) is None
