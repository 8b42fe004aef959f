"""Which partition the claim loop asks first: the most overdue one; ties take turns."""

from __future__ import annotations

import math

from service.due_board import DueBoard


def test_at_first_every_partition_is_due_and_each_goes_first_in_turn() -> None:
    board = DueBoard(4)
    firsts = {board.due(now_ms=0)[0] for _ in range(4)}
    assert firsts == {0, 1, 2, 3}
    assert sorted(board.due(now_ms=0)) == [0, 1, 2, 3]


def test_the_earliest_due_partition_comes_first_and_later_ones_wait() -> None:
    board = DueBoard(3)
    board.note(0, 500)
    board.note(1, 100)
    board.note(2, None)
    assert board.due(now_ms=600) == [1, 0]
    assert board.due(now_ms=200) == [1]
    assert board.earliest() == 100


def test_nothing_due_still_asks_the_partition_due_soonest() -> None:
    board = DueBoard(3)
    for n, due in enumerate((900, 300, None)):
        board.note(n, due)
    assert board.due(now_ms=0) == [1]


def test_a_backlog_does_not_starve_a_partition_with_an_older_message() -> None:
    board = DueBoard(2)
    board.note(0, 1_000)  # a big backlog from t=1000 on
    board.note(1, 400)  # one message waiting since t=400
    assert board.due(now_ms=2_000)[0] == 1


def test_notify_lowers_one_partition_or_all() -> None:
    board = DueBoard(3)
    for n in range(3):
        board.note(n, None)
    board.lower(2, 50)
    assert board.next_due == [math.inf, math.inf, 50]
    board.lower(None, 10)
    assert board.next_due == [10, 10, 10]
    board.forget()
    assert board.earliest() == -math.inf
