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


@pytest.mark.parametrize("text, phones", [
    ("银行", ["in2", "h", "ang2"]),  # 行 read in its word, not as the isolated xing2
    ("首都", ["sh", "ou3", "d", "u1"]),  # 都 du1, not dou1
    ("音乐", ["in1", "ve4"]),  # 乐 yue4, not le4
    ("我去银行，首都很大",
     ["uo3", "q", "v4", "in2", "h", "ang2", "sil", "sh", "ou3", "d", "u1", "h", "en3", "d", "a4"]),
])
def test_mandarin_polyphones_are_read_in_their_word(text, phones):
    r = phonemise(text, "zh")
    assert r.phones == phones and r.oov == []


def test_char32_is_the_wav2vec2_ctc_vocabulary():
    inv = get_inventory("char32")
    # facebook/wav2vec2-base-960h vocab.json, letters lower-cased; <pad> is the CTC blank
    assert inv.symbols == ("<pad>", "<s>", "</s>", "<unk>", "|", *"etaonihsrdlumwcfgypbvk'xjqz")
    assert inv.blank == 0 and get_inventory("cmudict85").blank is None
    assert not {".", ",", "?", "!"} & set(inv.symbols)


def test_characters_are_normalised_before_spelling():
    r = characterise("“Well -- it’s 3 o'clock, Mr. Smith!” he said in 1990 (twenty-one).")
    assert "".join(r.phones).split("|") == [
        "well", "it's", "three", "o'clock", "mr", "smith", "he", "said", "in", "nineteen", "ninety", "twenty", "one"]
    assert r.oov == []
    get_inventory("char32").ids(r.phones)
    r = characterise("Café 東京 mp3 ok")
    assert "".join(r.phones).split("|") == ["cafe", "ok"] and r.oov == ["東京", "mp3"]
