"""SEQM/MsUD unification and label sets."""

import pytest

from sertool.data.labels import eis_from_level, eis_from_rating, get_label_set, unify
from sertool.errors import SertoolError


def test_unify_neutral_is_zero_and_unmapped_is_ignored():
    assert unify("neutral", None) == ("neutral", 0.0)
    assert unify("excited", 3.5) == ("joy", 3.5)
    assert unify("angry", None) == ("anger", -1.0)
    assert unify("frustrated", 2.5) == (None, -1.0)
    assert unify(None, None) == (None, -1.0)


def test_levels_and_ratings_map_onto_msud():
    assert [eis_from_level(x, 3) for x in ("low", "medium", "high")] == [1.5, 2.5, 3.5]
    assert [eis_from_level(x, 2) for x in ("normal", "strong")] == [2.0, 3.0]
    assert eis_from_rating(1, 1, 5) == 1.0 and eis_from_rating(5, 1, 5) == 4.0 and eis_from_rating(3, 1, 5) == 2.5
    with pytest.raises(SertoolError):
        eis_from_level("extreme", 3)


def test_label_sets_merge_and_exclude():
    s = get_label_set("iemocap4")
    assert s.label_of("excited") == "happy" and s.index_of("excited") == s.labels.index("happy")
    assert s.label_of("frustrated") is None
    assert get_label_set("seqm9").field == "esc"
    with pytest.raises(SertoolError, match="unknown label set"):
        get_label_set("nope")
