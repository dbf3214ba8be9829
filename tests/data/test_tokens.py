"""Token inventories have the sizes of the papers; phonemisation reports OOV words."""

import pytest

from sertool.data.tokens import characterise, get_inventory, phonemise
from sertool.errors import SertoolError


def test_inventory_sizes():
    assert get_inventory("cmudict85").size == 85
    assert get_inventory("pinyin202").size == 202
    assert get_inventory("char32").size == 32


def test_english_uses_cmudict_and_counts_oov():
    r = phonemise("Kids are talking, Zzyzxq by the door!", "en")
    assert r.phones[:4] == ["K", "IH1", "D", "Z"]
    assert r.oov == ["Zzyzxq"]
    assert "sil" in r.phones  # the comma pause between words
    get_inventory("cmudict85").ids(r.phones)


def test_mandarin_uses_initials_and_tone3_finals():
    r = phonemise("今天很好，我们走吧ABC", "zh")
    assert r.phones[:4] == ["j", "in1", "t", "ian1"]
    assert r.oov == ["ABC"]
    get_inventory("pinyin202").ids(r.phones)


def test_characters_and_unknown_language():
    assert characterise("It's ok").phones == list("it's") + ["|"] + list("ok")
    with pytest.raises(SertoolError):
        phonemise("bonjour", "fr")
