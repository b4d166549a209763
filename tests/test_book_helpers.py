"""The helpers a chapter's prose and exercises call (attn_edu.book): claims, worded verdicts, checks."""

from __future__ import annotations

import pytest

from attn_edu.book import ClaimFailed, choose, claim, exercise, verdict
from attn_edu.stats import Interval


def test_claim_returns_the_sentence_only_while_the_numbers_bear_it_out():
    assert claim(2.0 > 1.0, "faster") == "faster"
    with pytest.raises(ClaimFailed, match="no longer support 'faster'"):
        claim(0.9 > 1.0, "faster")
    with pytest.raises(TypeError, match="claim"):
        claim(True, "")


def test_choose_picks_the_first_bound_above_the_value():
    cases = [(0.9, "faster"), (1.1, "about as fast")]
    assert [choose(v, cases, "slower") for v in (0.5, 0.9, 1.0, 1.1, 3.0)] == \
        ["faster", "about as fast", "about as fast", "slower", "slower"]
    with pytest.raises(ValueError, match="increase"):
        choose(1.0, [(2.0, "a"), (1.0, "b")], "c")
    with pytest.raises(TypeError, match="real number"):
        choose("1", cases, "slower")


def test_verdict_says_undecided_when_the_interval_covers_the_threshold():
    words = {"above": "more", "below": "less", "undecided": "undecided here"}
    assert verdict(Interval(0.6, 0.55, 0.65), 0.5, **words) == "more"
    assert verdict(Interval(0.4, 0.35, 0.45), 0.5, **words) == "less"
    assert verdict(Interval(0.52, 0.45, 0.6), 0.5, **words) == "undecided here"


def _check_even(n):
    assert n % 2 == 0, f"{n} is odd"
    return f"n = {n}"


def test_exercise_reports_on_the_readers_own_answer(capsys):
    exercise(3, _check_even, n=...)
    assert capsys.readouterr().out.startswith("Exercise 3: not answered yet. Replace the ... of `n`")
    exercise(3, _check_even, n=5)
    assert capsys.readouterr().out.startswith("Exercise 3: not yet. 5 is odd")  # (pytest appends its rewrite)
    exercise(3, _check_even, n="x")
    assert capsys.readouterr().out.startswith("Exercise 3: not yet. TypeError: ")
    exercise(3, _check_even, n=4)
    assert capsys.readouterr().out == "Exercise 3: correct (n = 4)\n"


def test_exercise_finds_the_answers_where_the_check_was_defined(capsys):
    namespace: dict = {}
    exec("def check(n):\n    assert n % 2 == 0, f'{n} is odd'\n    return f'n = {n}'", namespace)
    exercise(2, namespace["check"])  # run before the answer cell: says what to define, no NameError
    assert capsys.readouterr().out.startswith("Exercise 2: not answered yet. Define `n` in the answer cell above")
    namespace["n"] = ...
    exercise(2, namespace["check"])
    assert capsys.readouterr().out.startswith("Exercise 2: not answered yet. Replace the ... of `n`")
    namespace["n"] = 6
    exercise(2, namespace["check"])
    assert capsys.readouterr().out == "Exercise 2: correct (n = 6)\n"


def test_exercise_rejects_a_check_without_answers():
    with pytest.raises(ValueError, match="takes no answers"):
        exercise(1, lambda: None)
    with pytest.raises(TypeError, match="number as an int"):
        exercise("1", _check_even, n=2)
