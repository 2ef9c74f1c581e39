"""One text as the rules see it: jieba's words, where each starts, and the neighbourhood questions every pass asks
(is there a title before this position, a verb of saying after it, which word holds it)."""
from __future__ import annotations

import bisect
from typing import Optional

from tuwen.transforms.names.lexicons import BOUNDARY_AFTER, Lexicons
from tuwen.transforms.text import IDEOGRAPH_RE


class Context:
    """One text's words and their neighbourhood, for the passes."""

    __slots__ = ("lex", "text", "words", "starts", "tags", "freqs", "_start_index")

    def __init__(self, lex: Lexicons, text: str, words: list[str], starts: list[int], tags: dict, freqs: dict):
        self.lex, self.text, self.words, self.starts, self.tags, self.freqs = lex, text, words, starts, tags, freqs
        self._start_index = {s: k for k, s in enumerate(starts)}

    @classmethod
    def cut(cls, lex: Lexicons, text: str, tokenizer, tags: dict) -> "Context":
        """``text`` as jieba's ``tokenizer`` cuts it (HMM on), with its dictionary's ``tags`` and counts."""
        words = list(tokenizer.cut(text, HMM=True))
        starts = [0] * len(words)
        pos = 0
        for k, w in enumerate(words):
            starts[k] = pos
            pos += len(w)
        return cls(lex, text, words, starts, tags, tokenizer.FREQ)

    def title_before(self, pos: int) -> bool:
        """Does a [before] title of two or more characters end at ``pos``?"""
        text, lex = self.text, self.lex
        if pos < 2 or text[pos - 1] not in lex.titles_before_last:  # most positions: no title ends there
            return False
        return any(text[max(0, pos - ln):pos] in lex.titles_before for ln in (4, 3, 2) if pos >= ln)

    def context_at(self, pos: int) -> bool:
        """Does a verb of saying (or a title of two or more characters) start at ``pos``?"""
        text, lex = self.text, self.lex
        for ln in (4, 3, 2, 1):
            w = text[pos:pos + ln]
            if len(w) == ln and (w in lex.context_after or (ln >= 2 and w in lex.titles_after)):
                if ln == 1 and w not in ("说", "称", "道", "问"):
                    continue
                return True
        return False

    def word_containing(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def index_at(self, pos: int) -> Optional[int]:
        return self._start_index.get(pos)

    def boundary(self, pos: int) -> bool:
        """A jieba word starts at ``pos``, or the text ends there."""
        return pos == len(self.text) or pos in self._start_index

    def freq(self, k: int) -> int:
        """jieba's dictionary count for word ``k`` (0 when unknown)."""
        return self.freqs.get(self.words[k]) or 0

    def tag(self, k: int) -> Optional[str]:
        return self.tags.get(self.words[k])

    def prev_word(self, k: int) -> str:
        return self.words[k - 1] if k > 0 else ""

    def context(self, first: int, last: int) -> bool:
        """A title before word ``first`` or a verb of saying / title after word ``last``."""
        lex = self.lex
        if first > 0:
            pw = self.words[first - 1]
            # 外交大臣库克, 内政部长努里, 协调员罗斯: the word before ends with a title
            for ln in range(min(len(pw), 4), 0, -1):
                if pw[-ln:] in lex.titles_before and (ln > 1 or len(pw) == 1):
                    return True
        if last + 1 < len(self.words):
            nw = self.words[last + 1]
            if nw in lex.context_after or nw in lex.titles_after and len(nw) > 1:
                return True
            if nw[:1] in ("说", "称", "道") and len(nw) <= 2:
                return True
        return False

    def title_reaches(self, pos: int, e: int) -> bool:
        """A title starts at ``pos`` (right after a surname) and reaches ``e`` or beyond: [.., e) holds a surname and
        (the start of) a title, not a name (李老师, 李/副主任, 王副/市长)."""
        title = self.title_follows(pos)
        return bool(title) and pos + len(title) >= e

    def lone_function_char(self, pos: int) -> bool:
        """The character at ``pos`` is a function character (的, 和, 是...) that jieba cut as a word of its own."""
        k = self._start_index.get(pos)
        return self.text[pos] in BOUNDARY_AFTER and k is not None and len(self.words[k]) == 1

    def title_follows(self, pos: int) -> str:
        """The [after] title starting at ``pos`` (longest), or ''."""
        lex, text = self.lex, self.text
        for ln in range(min(lex.max_title_after, len(text) - pos), 0, -1):
            cand = text[pos:pos + ln]
            if cand in lex.titles_after:
                if ln == 1:
                    # a one-character title must end a word or be followed by a non-word character
                    nxt = text[pos + 1:pos + 2]
                    if nxt and IDEOGRAPH_RE.match(nxt) and (pos + 1) not in self._start_index and \
                            cand not in ("某", "老", "总"):
                        continue
                    if cand == "老" and text[pos + 1:pos + 2] in ("师", "板", "家", "年", "人", "化", "是", "大"):
                        continue
                return cand
        return ""

    def following_unknown(self, k: int) -> str:
        """The next word when jieba does not know it and it could be a given name (1-3 characters)."""
        if k + 1 >= len(self.words):
            return ""
        w = self.words[k + 1]
        if self.tags.get(w) is None and 1 <= len(w) <= 3 and all(IDEOGRAPH_RE.match(c) for c in w) and \
                not any(c in self.lex.given_stopchars for c in w):
            return w
        return ""

    def words_in(self, a: int, b: int) -> list[int]:
        """Indices of the words lying wholly inside [a, b)."""
        k = bisect.bisect_left(self.starts, a)
        out = []
        while k < len(self.words) and self.starts[k] + len(self.words[k]) <= b:
            out.append(k)
            k += 1
        return out


def covered_positions(found: set) -> set:
    """The character positions the spans found so far cover."""
    covered: set = set()
    for s, e in found:
        covered.update(range(s, e))
    return covered
