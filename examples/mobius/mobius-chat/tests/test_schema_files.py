"""Unit and contract tests of mobius-chat's schema folder (the hard gate).

They read the SQL files only, so they run anywhere, including the local
rehearsal: numbered files in order with no gaps, every table created once,
and no destructive statement without a guard.
"""

import pathlib
import re

import pytest

SCHEMA = pathlib.Path(__file__).resolve().parent.parent / "db" / "schema"
FILES = sorted(SCHEMA.glob("*.sql"))


def test_files_are_numbered_without_gaps():
    numbers = [int(f.name.split("_", 1)[0]) for f in FILES]
    assert numbers == list(range(1, len(FILES) + 1)), numbers


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_unguarded_destructive_statements(path):
    text = path.read_text()
    assert not re.search(r"\bDROP\s+TABLE\s+(?!IF\s+EXISTS)", text, re.I), path.name
    assert not re.search(r"\bTRUNCATE\b", text, re.I), path.name


def test_each_table_is_created_once():
    created = []
    for f in FILES:
        created += re.findall(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", f.read_text(), re.I)
    assert len(created) == len(set(created)), created
    # The tables the chat worker needs (production_parity_checklist.md §2).
    assert {"chat_threads", "chat_turns", "chat_turn_messages", "chat_state"} <= set(created)


@pytest.mark.integration
def test_chat_round_trip_against_the_deployed_api():
    pytest.skip("runs against a deployed environment in the soft gate")
