"""Person-name masking: find person names in Chinese text and replace each with ``<人名>``.

The ``names`` text step (see :mod:`tuwen.transforms.text`). It combines what jieba gives (its segmentation, whose
HMM proposes unknown words such as new names, and its dictionary's part-of-speech tags) with knowledge written down
in ``lexicons/`` as plain text — surnames (Chinese, compound, Japanese), characters that never occur in a given name,
characters of transliterated foreign names, titles and verbs of saying — and recognises:

- Chinese names: surname + one or two given-name characters (王晨, 胡锦涛, 欧阳修), whether jieba kept them in one
  word, split them (曹/火星) or glued a neighbouring function character to them (致牟小东, 赵华说);
- a surname with a title or kinship word (王先生, 李老师, 胡老, 张某, 老王, 小李): the surname is masked;
- names inside longer dictionary words (邓小平理论, 马克思主义);
- Japanese names (桥本龙太郎);
- transliterated foreign names (克林顿, 斯特罗耶夫, 约翰·克里, 科菲·安南), told apart from transliterated place
  names (俄罗斯, 阿根廷) by jieba's dictionary tags.

Weak candidates (a surname that is also a common word such as 于/和/高, a two-character transliteration) need
context: a title before them or a verb of saying after them.

Measured on the People's Daily NER dev file with ``bench/names_quality.py`` (figures in that script's output).
Beam-free; one instance per process (the pipeline builds it in ``DoFn.setup``); it pickles as its configuration and
loads jieba lazily, once per process.
"""
from __future__ import annotations

import bisect
import functools
import logging
import threading
from importlib import resources
from typing import Iterable, Optional

from tuwen.transforms.text import IDEOGRAPH_RE, NAME_TOKEN, Replacement

# jieba dictionary tags that mean "person name": nr (Chinese), nrt (transliterated), nrfg (famous people).
_PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
# A transliterated name's parts are joined by one of these (约翰·克里, 约翰—格伦).
_JOINERS = frozenset("·•‧・∙－—-")
# Function characters jieba's HMM tends to glue to a following name (致牟小东, 向学昭) or to a preceding one
# (赵华说, 郑咏是).
_GLUE_BEFORE = frozenset("致向以当胜令这在和与对给把被让跟同由将为及据称请找叫经")
_GLUE_AFTER = frozenset("说是到等在的了和也都就还又称讲对把被与及曾已将")


def _lexicon_lines(name: str) -> list[str]:
    """Non-comment lines of a package lexicon file."""
    text = resources.files("tuwen.lexicons").joinpath(name).read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _words(lines: Iterable[str]) -> list[str]:
    return [w for ln in lines for w in ln.split()]


def _chars(lines: Iterable[str]) -> frozenset:
    return frozenset(c for ln in lines for c in ln if not c.isspace())


class _Lexicons:
    """The written-down knowledge, read once from ``tuwen.lexicons``."""

    def __init__(self):
        surnames, ambiguous, common, function = set(), set(), set(), set()
        for ln in _lexicon_lines("surnames_chinese.txt"):
            if ln.startswith("AMBIGUOUS:"):
                ambiguous.update(ln[len("AMBIGUOUS:"):].split())
            elif ln.startswith("FUNCTION:"):
                function.update(ln[len("FUNCTION:"):].split())
            elif ln.startswith("COMMON:"):
                common.update(ln[len("COMMON:"):].split())
            else:
                surnames.update(ln.split())
        self.single_surnames = frozenset(s for s in surnames | ambiguous if len(s) == 1)
        self.compound_surnames = frozenset(s for s in surnames if len(s) == 2)
        self.ambiguous_surnames = frozenset(ambiguous)
        self.common_surnames = frozenset(common - ambiguous)
        self.function_surnames = frozenset(function)
        ambiguous |= function
        self.ambiguous_surnames = frozenset(ambiguous)
        self.not_person = frozenset(_words(_lexicon_lines("name_not_person.txt")))
        self.japanese_surnames = frozenset(_words(_lexicon_lines("surnames_japanese.txt")))
        sections: dict[str, list[str]] = {}
        current = None
        for ln in _lexicon_lines("name_titles.txt"):
            if ln.startswith("[") and ln.endswith("]"):
                current = sections.setdefault(ln[1:-1], [])
            elif current is not None:
                current.extend(ln.split())
        self.titles_after = frozenset(sections.get("after", ()))
        self.titles_before = frozenset(sections.get("before", ()))
        self.name_prefixes = frozenset(sections.get("prefix", ()))
        self.context_after = frozenset(_words(_lexicon_lines("name_context.txt")))
        self.given_stopchars = _chars(_lexicon_lines("name_given_stopchars.txt"))
        self.translit_chars = _chars(_lexicon_lines("name_translit_chars.txt"))
        self.max_title_after = max(map(len, self.titles_after), default=1)


_JIEBA_LOCK = threading.Lock()
_JIEBA = None  # (tokenizer, word -> tag), built once per process


def _jieba():
    """jieba's default tokenizer and its dictionary's word -> part-of-speech tag table, loaded once."""
    global _JIEBA
    if _JIEBA is None:
        with _JIEBA_LOCK:
            if _JIEBA is None:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                jieba.dt.check_initialized()
                tags = jieba.posseg.dt.word_tag_tab
                _JIEBA = (jieba.dt, tags, _given_name_char_scores(tags))
    return _JIEBA


def _given_name_char_scores(tags: dict) -> dict:
    """How much more often a character appears in the given names of jieba's dictionary than in its other words.

    jieba's dictionary lists about 100,000 three-character Chinese names (tag nr); the other 250,000 words give
    the character's ordinary use. 伟, 钧, 明 score high; 的, 票, 料 near zero.
    """
    lex = _Lexicons()
    in_names: dict[str, int] = {}
    elsewhere: dict[str, int] = {}
    for w, tag in tags.items():
        if tag == "nr" and len(w) == 3 and w[0] in lex.single_surnames:
            for c in w[1:]:
                in_names[c] = in_names.get(c, 0) + 1
        else:
            for c in set(w):
                elsewhere[c] = elsewhere.get(c, 0) + 1
    return {c: n / (elsewhere.get(c, 0) + 5) for c, n in in_names.items()}


class PersonNames:
    """The ``names`` step: each person name becomes ``<人名>``."""

    name = "names"

    def __init__(self):
        self._lex = _Lexicons()

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self._lex = _Lexicons()

    # -- public API --------------------------------------------------------------------------------------------
    def find(self, text: str) -> list[Replacement]:
        if not text or IDEOGRAPH_RE.search(text) is None:
            return []
        spans = sorted(self.spans(text))
        out: list[Replacement] = []
        for s, e in spans:
            if out and s <= out[-1].end - 0 and s < out[-1].end:
                if e > out[-1].end:
                    out[-1] = Replacement(out[-1].start, e, NAME_TOKEN)
                continue
            out.append(Replacement(s, e, NAME_TOKEN))
        return out

    def spans(self, text: str) -> set[tuple[int, int]]:
        """``(start, end)`` of every person name found (they may overlap; :meth:`find` merges them)."""
        tokenizer, tags, scores = _jieba()
        words = list(tokenizer.cut(text, HMM=True))
        starts = [0] * len(words)
        pos = 0
        for k, w in enumerate(words):
            starts[k] = pos
            pos += len(w)
        found: set[tuple[int, int]] = set()
        ctx = _Context(self._lex, text, words, starts, tags, tokenizer.FREQ)
        self._scores = scores
        for k in range(len(words)):
            self._chinese_name(ctx, k, found)
        self._hmm_names(ctx, found)
        self._extend_split_names(ctx, found)
        self._enumerations(ctx, found)
        self._titled_surnames(ctx, found)
        self._transliterated(ctx, found)
        return found

    # -- Chinese names -----------------------------------------------------------------------------------------
    def _surname_of(self, w: str) -> Optional[str]:
        lex = self._lex
        if len(w) >= 3 and w[:2] in lex.compound_surnames:
            return w[:2]
        if w[:1] in lex.single_surnames:
            return w[:1]
        return None

    def _given_ok(self, given: str) -> bool:
        lex = self._lex
        return 1 <= len(given) <= 2 and all(IDEOGRAPH_RE.match(c) and c not in lex.given_stopchars for c in given)

    def _name_shape(self, w: str) -> Optional[str]:
        """The surname when ``w`` looks like surname + 1-2 given-name characters, else None."""
        sur = self._surname_of(w)
        if sur is None or not self._given_ok(w[len(sur):]):
            return None
        return sur

    def _chinese_name(self, ctx: "_Context", k: int, found: set) -> None:
        lex = self._lex
        w, s, tag = ctx.words[k], ctx.starts[k], ctx.tag(k)
        n = len(w)
        if not IDEOGRAPH_RE.match(w[:1]):
            return
        # A Japanese surname and the given name (桥本龙太郎, 冈田武史), or the surname alone by context.
        for jl in (3, 2, 1):
            if n > jl and w[:jl] in lex.japanese_surnames and n - jl <= 3 and tag not in ("ns", "nt") and \
                    (tag is None or tag in _PERSON_TAGS or n >= 4):
                found.add((s, s + n))
                return
        if w in lex.japanese_surnames and len(w) >= 2:
            given = ctx.following_unknown(k)
            if given:
                found.add((s, s + n + len(given)))
                return
            if k + 1 < len(ctx.words) and 1 <= len(ctx.words[k + 1]) <= 2 and \
                    self._given_ok(ctx.words[k + 1]) and ctx.context(k + 2, k + 1):
                found.add((s, s + n + len(ctx.words[k + 1])))  # 武村正义说
                return
            if ctx.context(k, k):
                found.add((s, s + n))
                return
        # One word that is a whole name: 胡锦涛 (nr), 王晨 (unknown to jieba), 诸葛亮.
        if 2 <= n <= 4 and w not in lex.not_person:
            sur = self._name_shape(w)
            if sur is not None and not self._is_title_word(w, sur):
                ambiguous = sur in lex.ambiguous_surnames
                common = sur in lex.common_surnames
                if tag in ("nr", "nrfg"):
                    given = w[len(sur):]
                    if n == 2:
                        # jieba tags many ordinary two-character words nr (明白, 祝福): trust it for common
                        # surnames and rare words only.
                        ok = common and ctx.freq(k) < 1000
                    else:
                        # jieba also tags some ordinary words nr (雷阵雨): the given part must not be a common
                        # word, or its characters must be typical of given names
                        ok = ctx.freq(k) <= 200 or (ctx.freqs.get(given) or 0) <= 50 or \
                            self.given_score(given, mean=True) >= 0.15
                elif tag is None:
                    ok = common if n == 2 else not ambiguous
                elif tag == "nz":
                    ok = n == 3 and common and ctx.freq(k) <= 50
                elif n == 3 and common and tag not in ("ns", "nt") and \
                        ctx.tags.get(w[len(sur):]) in (None, "nr", "nrt", "nrfg"):
                    ok = self.given_score(w[len(sur):], mean=True) >= 0.2  # 周恩来 (jieba: t)
                else:
                    ok = False
                if ok or ((tag is None or tag in _PERSON_TAGS or (n == 3 and tag == "nz"))
                          and ctx.context(k, k)):
                    found.add((s, s + n))
                    return
        # jieba glued a function character to the name: 致牟小东, 赵华说.
        if tag is None and 3 <= n <= 5:
            if w[0] in _GLUE_BEFORE and self._name_shape(w[1:]) and w[1:2] not in lex.ambiguous_surnames:
                found.add((s + 1, s + n))
                return
            if w[-1] in _GLUE_AFTER and self._name_shape(w[:-1]) and w[:1] not in lex.ambiguous_surnames:
                found.add((s, s + n - 1))
                return
        # A name at the head of a longer word: 邓小平理论, 马克思主义, 毛泽东思想.
        if n >= 4:
            for pl in (3,):
                head, rest = w[:pl], w[pl:]
                if tag not in ("ns", "nt", "nz") and len(rest) >= 2 and head not in lex.not_person and \
                        ctx.tags.get(head) in _PERSON_TAGS and rest in ctx.tags and (
                        self._name_shape(head) or all(c in lex.translit_chars for c in head)):
                    found.add((s, s + pl))
                    return
        # jieba split surname and given name: 曹/火星, 袁/步兵, 王/莲香.
        sur = w if (n == 1 and w in lex.single_surnames) or (n == 2 and w in lex.compound_surnames) else None
        if sur is not None and k + 1 < len(ctx.words):
            if ctx.title_follows(s + n):
                return  # 王先生: handled by _titled_surnames
            nxt = ctx.words[k + 1]
            given = nxt
            if len(nxt) == 1 and k + 2 < len(ctx.words) and len(ctx.words[k + 2]) == 1 and \
                    self._given_ok(nxt + ctx.words[k + 2]) and ctx.tag(k + 2) is None:
                given = nxt + ctx.words[k + 2]
            if not self._given_ok(given):
                return
            end = ctx.starts[k + 1] + len(given)
            last = k + (2 if len(given) > len(nxt) else 1)
            nxt_tag = ctx.tag(k + 1)
            strong = ctx.context(k, last)
            if sur in lex.function_surnames or sur in lex.ambiguous_surnames and not strong:
                return
            if nxt_tag in ("v", "p", "c", "u", "d", "r", "f", "m", "q", "t", "ns", "nt", "vn", "ad", "uj", "ul"):
                return
            if sur not in lex.common_surnames and not strong:
                return
            # the given name is a word jieba knows (曹/火星): only with a title or verb of saying beside it
            if len(nxt) >= 2 and nxt_tag is not None and nxt_tag not in _PERSON_TAGS and not strong and not (
                    ctx.freq(k + 1) <= 100 and self.given_score(nxt, mean=True) >= 0.15):
                return
            pw = ctx.prev_word(k)
            if pw and (pw[-1].isdigit() or ctx.tags.get(pw) == "m" or (len(pw) == 1 and pw in lex.name_prefixes)):
                return  # 8000张门票: a measure word, not a surname
            found.add((s, end))

    def _hmm_names(self, ctx: "_Context", found: set) -> None:
        """Names jieba's dictionary does not know, as tagged by jieba.posseg's character HMM.

        ``jieba.posseg`` runs a part-of-speech HMM over the stretches of text its dictionary does not cover; running
        it only over those stretches (words jieba.cut did not find in its dictionary, and the single characters
        around them) gives the same tags at a fraction of the cost of tagging the whole text.
        """
        lex = self._lex
        words, starts = ctx.words, ctx.starts
        k, nw = 0, len(words)
        windows: list[list[int]] = []
        for k in range(nw):
            w = words[k]
            if len(w) < 2 or ctx.tags.get(w) is not None or not self._hmm_piece(ctx, k):
                continue
            # the unknown word and a single character on each side: enough for the HMM to place a
            # name's edges, and it keeps the (slow) tagger off the rest of the text
            a = k
            while a > k - 1 and a > 0 and len(words[a - 1]) == 1 and self._hmm_piece(ctx, a - 1):
                a -= 1
            b = k + 1
            while b < k + 2 and b < nw and self._hmm_piece(ctx, b) and (len(words[b]) == 1 or b == k + 1):
                b += 1
            if windows and a <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], b)
            else:
                windows.append([a, b])
        for a_k, b_k in windows:
            a = starts[a_k]
            for w, tag, ws in _hmm_tag("".join(words[a_k:b_k])):
                if tag not in _PERSON_TAGS or len(w) < 2 or w in lex.not_person:
                    continue
                sur = self._surname_of(w)
                if sur is not None and len(w) <= 4:
                    given = w[len(sur):]
                    if not self._given_ok(given) or sur in lex.ambiguous_surnames or \
                            self.given_score(given) < 0.1 or (len(w) == 2 and sur not in lex.common_surnames):
                        continue
                elif len(w) < 3 or not all(c in lex.translit_chars for c in w):
                    continue
                found.add((a + ws, a + ws + len(w)))

    @staticmethod
    def _hmm_piece(ctx: "_Context", k: int) -> bool:
        w = ctx.words[k]
        return (len(w) == 1 or ctx.tags.get(w) is None) and IDEOGRAPH_RE.match(w[0]) is not None and \
            all(IDEOGRAPH_RE.match(c) for c in w)

    def given_score(self, given: str, mean: bool = False) -> float:
        """The weakest (or the mean) character's given-name score (see :func:`_given_name_char_scores`)."""
        scores = [self._scores.get(c, 0.0) for c in given]
        if not scores:
            return 0.0
        return sum(scores) / len(scores) if mean else min(scores)

    def _extend_split_names(self, ctx: "_Context", found: set) -> None:
        """李铁/辰 校长, 赵国/钧 少将: jieba cut the last given-name character off a name found as two characters."""
        lex = self._lex
        for s, e in list(found):
            if e - s != 2 or self._surname_of(ctx.text[s:e] + "x") is None:
                continue
            k = ctx.index_at(s)
            if k is None or len(ctx.words[k]) != 2 or k + 1 >= len(ctx.words):
                continue
            c = ctx.words[k + 1]
            if len(c) != 1 or not self._given_ok(c) or self._scores.get(c, 0.0) < 0.2:
                continue
            after = ctx.words[k + 2] if k + 2 < len(ctx.words) else ""
            if after == "" or not IDEOGRAPH_RE.match(after[:1]) or after in lex.titles_after or \
                    after in lex.context_after or (len(after) >= 2 and ctx.tag(k + 2) is not None):
                found.discard((s, e))
                found.add((s, e + 1))

    def _enumerations(self, ctx: "_Context", found: set) -> None:
        """柳大华、徐天红、高华: an item of a list of names is a name when it has a name's shape."""
        text, lex = ctx.text, self._lex
        if "、" not in text:
            return
        masked = set()
        for s, e in found:
            masked.update(range(s, e))
        for _ in range(2):
            changed = False
            for p, ch in enumerate(text):
                if ch != "、":
                    continue
                left, right = self._list_item(ctx, p, -1), self._list_item(ctx, p + 1, +1)
                for here, there in ((left, right), (right, left)):
                    if here is None or there is None:
                        continue
                    hs, he = here
                    ts, te = there
                    if all(i in masked for i in range(ts, te)) and not any(i in masked for i in range(hs, he)):
                        item = text[hs:he]
                        sur = self._name_shape(item)
                        if sur is not None and sur not in lex.function_surnames and \
                                self.given_score(item[len(sur):]) >= 0.1 and item not in lex.not_person:
                            found.add((hs, he))
                            masked.update(range(hs, he))
                            changed = True
            if not changed:
                break

    def _list_item(self, ctx: "_Context", pos: int, direction: int) -> Optional[tuple[int, int]]:
        """The 2-4 ideographs next to a list separator at ``pos`` (going left for -1), ending at a separator."""
        text = ctx.text
        if direction < 0:
            e = pos
            s = e
            while s > 0 and IDEOGRAPH_RE.match(text[s - 1]) and e - s < 5:
                s -= 1
        else:
            s = pos
            e = s
            while e < len(text) and IDEOGRAPH_RE.match(text[e]) and e - s < 5:
                e += 1
        if not 2 <= e - s <= 4:
            return None
        # the item must be bounded by a separator or punctuation on its far side
        far = text[s - 1] if direction < 0 and s > 0 else (text[e] if direction > 0 and e < len(text) else "")
        if far and IDEOGRAPH_RE.match(far):
            return None
        return (s, e)

    def _is_title_word(self, w: str, sur: str) -> bool:
        return w[len(sur):] in self._lex.titles_after

    def _titled_surnames(self, ctx: "_Context", found: set) -> None:
        """王先生, 李老师, 胡老, 张某 → the surname; 老王, 小李 → the surname."""
        lex, text = self._lex, ctx.text
        for k, w in enumerate(ctx.words):
            s = ctx.starts[k]
            # surname + title, the surname starting a word
            for sl in (2, 1):
                sur = w[:sl]
                if len(sur) != sl or not ((sl == 1 and sur in lex.single_surnames) or
                                          (sl == 2 and sur in lex.compound_surnames)):
                    continue
                title = ctx.title_follows(s + sl)
                if not title:
                    continue
                if len(title) == 1 and (sur in lex.ambiguous_surnames or ctx.tag(k) not in (None, "nr", "nrfg")
                                        and len(w) > sl):
                    continue
                if sur in lex.ambiguous_surnames and len(w) == sl + len(title) and ctx.tag(k) not in (
                        None, "nr", "nrfg"):
                    continue  # 高老师? keep ordinary dictionary words (马老师 is nr, 文书记 is not)
                if sur in lex.function_surnames:
                    continue
                if sur in lex.ambiguous_surnames and len(w) != sl + len(title):
                    continue
                found.add((s, s + sl))
                break
            # 老王, 小李, 阿张: one word of two characters
            if len(w) == 2 and w[0] in lex.name_prefixes and w[1] in lex.single_surnames and \
                    w[1] not in lex.ambiguous_surnames and ctx.tag(k) in (None, "nr", "nrfg"):
                found.add((s + 1, s + 2))

    # -- transliterated names ----------------------------------------------------------------------------------
    def _transliterated(self, ctx: "_Context", found: set) -> None:
        lex, text = self._lex, ctx.text
        tc = lex.translit_chars
        n = len(text)
        i = 0
        while i < n:
            if text[i] not in tc:
                i += 1
                continue
            j = i
            while j < n and (text[j] in tc or (text[j] in _JOINERS and j + 1 < n and text[j + 1] in tc and j > i)):
                j += 1
            self._judge_translit_run(ctx, i, j, found)
            i = j

    def _judge_translit_run(self, ctx: "_Context", a: int, b: int, found: set) -> None:
        lex = self._lex
        # Shrink to word boundaries: a word that crosses the run's edge is an ordinary word (德国, 加拿大).
        ks = ctx.words_in(a, b)
        if not ks:
            return
        # Drop ordinary dictionary words (places, nouns...) at the edges of the run.
        def ordinary(k):
            t = ctx.tag(k)
            w = ctx.words[k]
            return w in lex.not_person or (t is not None and t not in _PERSON_TAGS and (len(w) >= 2 or t == "ns"))
        while ks and (ordinary(ks[0]) or ctx.words[ks[0]] in _JOINERS):
            ks = ks[1:]
        while ks and (ordinary(ks[-1]) or ctx.words[ks[-1]] in _JOINERS):
            ks = ks[:-1]
        if not ks:
            return
        a, b = ctx.starts[ks[0]], ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])
        run = ctx.text[a:b]
        letters = sum(1 for c in run if c not in _JOINERS)
        joined = any(c in _JOINERS for c in run)
        inner_tags = [ctx.tag(k) for k in ks]
        person = any(t in _PERSON_TAGS for t in inner_tags)
        unknown = any(t is None for t in inner_tags)
        if run in lex.not_person or any(run[i:i + ln] in lex.not_person
                                        for ln in range(2, min(len(run), 8) + 1) for i in range(len(run) - ln + 1)):
            return
        if joined and letters >= 3:
            found.add((a, b))
            return
        if len(ks) == 1 and inner_tags[0] == "nrt" and letters >= 2:
            found.add((a, b))  # jieba's dictionary knows it as a transliterated person name
            return
        if letters >= 3 and ctx.context(ks[0], ks[-1]):
            found.add((a, b))
            return
        if letters >= 3 and (person or unknown):
            if all(t in _PERSON_TAGS or t is None or len(ctx.words[k]) == 1 for k, t in zip(ks, inner_tags)):
                # A single nr word that is a Chinese name is handled as such; this adds foreign ones.
                if letters == 3 and len(ks) == 1 and inner_tags[0] == "nr" and self._name_shape(run) is None and \
                        not ctx.context(ks[0], ks[-1]):
                    # 3-letter nr words that do not look Chinese are usually transliterations (克林顿); keep
                    pass
                found.add((a, b))
                return
        if letters == 2 and len(ks) == 1 and inner_tags[0] in ("nrt", "nr", None) and ctx.context(ks[0], ks[-1]):
            found.add((a, b))


@functools.lru_cache(maxsize=65536)
def _hmm_tag(chars: str) -> tuple:
    """``(word, tag, start)`` for a run of ideographs, by jieba.posseg's HMM (its ``__cut``); cached because
    captions repeat."""
    return tuple(_hmm_tag_uncached(chars))


def _hmm_tag_uncached(chars: str):
    from jieba.posseg import char_state_tab_P, emit_P, start_P, trans_P
    from jieba.posseg.viterbi import viterbi

    _, pos_list = viterbi(chars, char_state_tab_P, start_P, trans_P, emit_P)
    begin, nexti = 0, 0
    for i, ch in enumerate(chars):
        state, tag = pos_list[i]
        if state == "B":
            begin = i
        elif state == "E":
            yield chars[begin:i + 1], tag, begin
            nexti = i + 1
        elif state == "S":
            yield ch, tag, i
            nexti = i + 1
    if nexti < len(chars):
        yield chars[nexti:], pos_list[nexti][1], nexti


class _Context:
    """One text's words and their neighbourhood, for the rules above."""

    __slots__ = ("lex", "text", "words", "starts", "tags", "freqs", "_start_index")

    def __init__(self, lex: _Lexicons, text: str, words: list[str], starts: list[int], tags: dict, freqs: dict):
        self.lex, self.text, self.words, self.starts, self.tags, self.freqs = lex, text, words, starts, tags, freqs
        self._start_index = {s: k for k, s in enumerate(starts)}

    def index_at(self, pos: int) -> Optional[int]:
        return self._start_index.get(pos)

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
