"""``JsonlHistory``: records kept in memory and appended to a file, read back on start."""

from __future__ import annotations

from pathlib import Path

import msgspec

from paraclear.api.jsonl_history import JsonlHistory


def _lines(path: Path) -> list[int]:
    return [msgspec.json.decode(line)["height"] for line in path.read_bytes().splitlines()]


def test_records_survive_a_restart_and_the_file_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = JsonlHistory(3, path)
    for height in range(1, 7):  # the 7th line would reach 2 x 3: rewritten then
        history.append({"height": height})
    assert _lines(path) == [1, 2, 3, 4, 5, 6]
    history.append({"height": 7})
    assert _lines(path) == [5, 6, 7]  # rewritten with what is kept
    history.append({"height": 8})  # appended to the new file, not the replaced one
    assert _lines(path) == [5, 6, 7, 8]
    history.close()
    again = JsonlHistory(3, path, height=7)  # the log ends at 7: 8 is dropped
    assert [r["height"] for r in again.recent(3)] == [5, 6, 7]
    again.append({"height": 8})
    assert _lines(path)[-1] == 8 and again.last_height == 8


def test_a_line_cut_short_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = JsonlHistory(10, path)
    history.append({"height": 1})
    with path.open("ab") as file:
        file.write(b'{"height": 2')  # a crash mid-line
    assert [r["height"] for r in JsonlHistory(10, path).recent(10)] == [1]


def test_a_file_that_cannot_be_written_leaves_the_records_in_memory(tmp_path: Path) -> None:
    history = JsonlHistory(3, tmp_path / "missing" / "history.jsonl")
    history.append({"height": 1})
    assert history.recent(1) == [{"height": 1}]
