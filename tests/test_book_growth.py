"""attn_edu.book.growth: the words a chapter prints for a fitted exponent of cost ~ N^p."""

from __future__ import annotations

import pytest

from attn_edu.book import growth


@pytest.mark.parametrize("p, words", [
    (0.98, "about linearly"), (1.49, "faster than linearly but slower than quadratically"),
    (1.96, "about quadratically"), (2.40, "faster than quadratically"),
])
def test_growth_words_follow_the_exponent(p, words):
    assert growth(p) == words


def test_growth_refuses_what_is_not_a_number():
    with pytest.raises(TypeError):
        growth("2")
