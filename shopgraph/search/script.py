"""Which writing system texts are mostly in: picks the text channel a catalog or a query needs.

The default text model (all-MiniLM-L6-v2) was trained on English: titles or a query mostly in another
script (Han, Cyrillic, Arabic, ...) need the multilingual channel. Scripts come from the Unicode
Scripts data that fontTools ships (a matplotlib dependency), one lookup per distinct character.
Only letters count: digits, punctuation and symbols are shared by every script (Unicode "Common").
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

# Scripts whose text the English model reads. Everything else leans on the multilingual channel.
ENGLISH_MODEL_SCRIPTS = frozenset({"Latin"})
_IGNORED = frozenset({"Zyyy", "Zinh", "Zzzz"})  # Common, Inherited, Unknown


@dataclass(frozen=True)
class ScriptShare:
    """The most frequent script among the letters of some texts.

    script: Unicode script name ("Latin", "Han", "Cyrillic", ...), or None when there are no letters.
    share: fraction of the letters in that script, 0..1 (0.0 when there are no letters).
    letters: how many letters were counted."""

    script: str | None
    share: float
    letters: int

    @property
    def needs_multilingual(self) -> bool:
        """Whether the letters are mostly (more than half) in a script the English model does not read."""
        if self.script is None:
            return False
        return self.script not in ENGLISH_MODEL_SCRIPTS and self.share > 0.5


@functools.lru_cache(maxsize=65536)
def char_script(char: str) -> str | None:
    """Unicode script name of one letter (NFKC form, so full-width Latin is Latin); None for
    anything that is not a letter or whose script is Common/Inherited."""
    if not unicodedata.category(char).startswith("L"):
        return None
    from fontTools import unicodedata as font_unicodedata  # lazy: only scripts need it

    code = font_unicodedata.script(unicodedata.normalize("NFKC", char)[:1] or char)
    if code in _IGNORED:
        return None
    return font_unicodedata.script_name(code, default=code)


def script_counts(texts: Iterable[str]) -> Counter:
    """Letters per script over all texts: Counter {script name: count}."""
    counts: Counter = Counter()
    for text in texts:
        if not isinstance(text, str):
            continue
        for char, n in Counter(text).items():
            script = char_script(char)
            if script is not None:
                counts[script] += n
    return counts


def script_words(text: str) -> list[tuple[str, str | None]]:
    """The words of a text with their script: runs of letters (combining marks included) in one
    script, so "nike短裤" is two words, ("nike", "Latin") and ("短裤", "Han"). Letters of Common or
    Inherited script join the word they are in; a run of them alone has script None."""
    words: list[tuple[str, str | None]] = []
    start, script = None, None
    for i, char in enumerate(text + " "):
        letter = unicodedata.category(char)[0] in "LM"
        here = char_script(char) if letter else None
        if start is not None and (not letter or (here is not None and script is not None and here != script)):
            words.append((text[start:i], script))
            start, script = None, None
        if letter:
            if start is None:
                start = i
            script = script or here
    return words


def unread_word_share(text: str) -> float:
    """Share (0..1) of a text's words (script_words) in a script the English text model does not read;
    0.0 for a text without words. A query is judged by words, not letters: "nike 短裤" is half
    unread although its Latin letters outnumber its Han ones."""
    words = [script for _, script in script_words(text) if script is not None]
    if not words:
        return 0.0
    return sum(script not in ENGLISH_MODEL_SCRIPTS for script in words) / len(words)


def dominant_script(texts: Iterable[str] | str) -> ScriptShare:
    """The script most letters of `texts` are in (one string or many), with its share."""
    counts = script_counts([texts] if isinstance(texts, str) else texts)
    total = sum(counts.values())
    if not total:
        return ScriptShare(None, 0.0, 0)
    script, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return ScriptShare(script, n / total, total)
