"""The learnt character model's say (:mod:`tuwen.transforms.name_tagger`): it vetoes rule finds it gives (next
to) no chance, and proposes names the rules missed, each checked against jieba's words so that no everyday word is
cut in two or taken in (戴/帽子, 胡子 in photo captions are not names).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from tuwen.transforms.name_tagger import true_runs
from tuwen.transforms.names.context import Context, covered_positions
from tuwen.transforms.names.edges import (
    clean_left_edge, clean_right_edge, everyday_given, everyday_inside, glue_word_cut, listed_name, name_word,
    ordinary_inside, place_follows, rare_word_cut, stands_as_person, word_rest_is_word,
)
from tuwen.transforms.names.everyday import everyday_reading
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import (
    BOUNDARY_AFTER, GLUE_AFTER, GLUE_BEFORE, JOINERS, JOINING, PERSON_TAGS, SAYING, UNTAGGED_ADVERBS,
)
from tuwen.transforms.names.thresholds import (
    FREQ_ORDINARY, FREQ_TWO_CHAR_NAME_WORD, FREQ_WHOLE_RUN, LONE_SURNAMES, MODEL_CERTAIN, MODEL_SURE, MODEL_TRUST,
    MODEL_RULED_OUT, MODEL_VETO, RARE_WORD, SCORE_FLOOR, TRANSLIT_SCORE, TRUST_MODEL_RUNS,
)
from tuwen.transforms.text import IDEOGRAPH_RE


def _without_everyday(kb: Knowledge, ctx: Context, spans: set) -> set:
    return {(s, e) for s, e in spans if not everyday_reading(kb, ctx, s, e)}


def with_model(kb: Knowledge, ctx: Context, found: set, probs: np.ndarray, proposed: np.ndarray) -> set:
    """Combine the rules' finds with the character model's per-character probabilities: the model vetoes rule
    finds it gives (next to) no chance and cuts out of the others the words it gives none (:func:`model_parts`),
    and proposes names the rules missed (runs of the characters it ``proposed``: every network of the model at or
    above its own cut of highest F1, the runs completed at their edges by
    :func:`~tuwen.transforms.name_tagger.agreed`), each checked against jieba's words (a run must not cut an
    everyday word in two nor hold one: 戴/帽子, 胡子 in photo captions are not names). Last, a joiner glued to a
    name goes (:func:`_joiners_out`: 汤姆/和玛丽), and what reads as everyday words in the text's grammar
    (:mod:`~.everyday`: 张着, 拉/马车, 布朗/狗)."""
    kept = set()
    for s, e in found:
        if listed_name(ctx, s, e) or ctx.text[s:e] in kb.lex.famous or titled_surname(kb, ctx, s, e):
            kept.add((s, e))
        elif probs[s:e].max() >= MODEL_VETO:
            kept.update(model_parts(kb, ctx, probs, s, e))
    if not proposed.any():
        return _without_everyday(kb, ctx, _joiners_out(kb, ctx, kept))
    runs = []
    for s, e in true_runs(proposed):
        # a function character that is a word of its own does not end a name (王芳/和/她: the model says 和
        # too, as in 郑和); but a joining one with nothing after it to join is the name's (张国和，男)
        while e - s > 2 and ctx.lone_function_char(e - 1) and not _joins_nothing(ctx, e - 1):
            e -= 1
        # a run over two names and the word that joins them (高云江和喻晖: the model says 和 too, as in 郑和)
        # is judged whole and as its parts
        runs.append((s, e))
        cuts = [j for j in range(s + 2, e - 1) if ctx.text[j] in JOINING]
        for a, b in zip([s] + [j + 1 for j in cuts], cuts + [e]):
            if cuts and b > a:
                runs.append((a, b))
    for s, e in runs:
        span = model_span(kb, ctx, probs, s, e)
        if span is not None:
            kept.add(span)
        if span != (s, e) and whole_run_ok(kb, ctx, probs, s, e):
            kept.add((s, e))
    kept = _without_everyday(kb, ctx, _joiners_out(kb, ctx, kept))
    surname_mentions(kb, ctx, kept, probs)
    return kept


def _joins_nothing(ctx: Context, i: int) -> bool:
    """The character at ``i`` is a joining one (和, 与, 及) with no word after it for it to join: the end of the
    text or of a clause follows."""
    after = i + 1
    return ctx.text[i] in JOINING and (after == len(ctx.text) or not IDEOGRAPH_RE.match(ctx.text[after]))


def titled_surname(kb: Knowledge, ctx: Context, s: int, e: int) -> bool:
    """[s, e) is a surname (not one that is also an everyday word) before a title of two or more characters (县委
    魏常委, 李老师): a person whatever the model says (it learnt titles from news, where the full name mostly
    stands before them, and may give such a surname no chance)."""
    sur = ctx.text[s:e]
    return (sur in kb.lex.single_surnames and sur not in kb.lex.ambiguous_surnames or
            sur in kb.lex.compound_surnames) and len(ctx.title_follows(e)) >= 2


def _joiners_out(kb: Knowledge, ctx: Context, spans: set) -> set:
    """A span that starts with a joining character right after a word, the rest a name of its own (with a surname
    of its own or a transliteration), is the joiner and that name: 汤姆/和玛丽, 我/和玛丽, 张三/和李四 (jieba's
    dictionary lists 和玛丽 as a name, and the model, which reads jieba's words, agrees). Not where 和 is the
    surname: after a joiner (李香香和/和万春), opening a text or a clause (，和万春还帮助农民), or before a given name
    alone (陈光毅和志强); nor where the rest would read as everyday words."""
    text = ctx.text

    def joiner_first(s: int, e: int) -> bool:
        rest = text[s + 1:e]
        return e - s >= 3 and text[s] in JOINING and s > 0 and IDEOGRAPH_RE.match(text[s - 1]) is not None and \
            text[s - 1] not in JOINING and (kb.surname_of(rest) is not None or foreign_run(kb, rest)) and \
            not everyday_reading(kb, ctx, s + 1, e)

    return {(s + 1, e) if joiner_first(s, e) else (s, e) for s, e in spans}


def foreign_run(kb: Knowledge, run: str) -> bool:
    """Every character a transliteration's (or a joiner), or a run that scores as a transliterated name."""
    return all(c in kb.lex.translit_chars or c in JOINERS for c in run) or \
        kb.model.translit_score(run) >= TRANSLIT_SCORE


def person_word_end(ctx: Context, probs: np.ndarray, s: int, e: int) -> int:
    """Where a find [s, e) (a rule's, or a model run) ends when it runs past a whole jieba word its dictionary
    tags a person into the first characters of the next dictionary word (汤姆/正在, read as 汤 + 姆正 by a rule and
    by the model): at the person word's end, unless the model is certain of what the find takes in."""
    k = ctx.index_at(s)
    if k is None or ctx.tag(k) not in PERSON_TAGS or len(ctx.words[k]) < 2 or ctx.boundary(e):
        return e
    end = s + len(ctx.words[k])
    nxt = ctx.word_containing(e - 1)
    taken_in = float(probs[end:e].min()) if end < e else 1.0
    return end if ctx.starts[nxt] == end and ctx.tag(nxt) is not None and taken_in < MODEL_CERTAIN else e


def person_word_start(ctx: Context, probs: np.ndarray, s: int, e: int) -> int:
    """Where a find [s, e) starts that ends with a whole jieba word its dictionary tags a person and takes in
    function characters before it, words of their own (让/汤姆: a transliteration read across them): at the
    person word, unless the model is sure of what the find takes in. (Not other characters: jieba cuts
    transliterations too, 库/尼科娃.)"""
    k = ctx.word_containing(e - 1)
    start = ctx.starts[k]
    if start <= s or start + len(ctx.words[k]) != e or len(ctx.words[k]) < 2 or \
            ctx.tag(k) not in PERSON_TAGS or \
            not all(ctx.text[i] in GLUE_BEFORE and ctx.boundary(i) for i in range(s, start)):
        return s
    return start if float(probs[s:start].max()) < MODEL_SURE else s


def model_parts(kb: Knowledge, ctx: Context, probs: np.ndarray, s: int, e: int) -> list[tuple[int, int]]:
    """A rule find within the person word it runs from or to (:func:`person_word_start`, :func:`person_word_end`)
    and without the characters the model vetoes, as the parts between them that the model is sure of and that
    start and end where jieba's words do: rules that read a cut-off given character (李铁/辰), a
    surname and two given characters (汤/姆有) or a transliteration across a word take in the verb or adverb
    beside a name in everyday text (汤姆/有, 汤姆/将, 玛丽/让). The find stands whole when no such part of
    two or more characters is left, or when a part would read as everyday words (汤姆/病了: a transliteration
    before a one-character noun reads as 布朗/狗), so that trimming never loses a name."""
    s, e = person_word_start(ctx, probs, s, e), person_word_end(ctx, probs, s, e)
    out = [s] + [i for i in range(s, e) if probs[i] < MODEL_VETO] + [e]
    if len(out) == 2:
        return [(s, e)]
    parts = [(a, b) for a, b in zip([out[0]] + [i + 1 for i in out[1:-1]], out[1:])
             if b - a >= 2 and ctx.boundary(a) and ctx.boundary(b) and float(probs[a:b].min()) >= MODEL_SURE]
    if not parts or any(everyday_reading(kb, ctx, a, b) for a, b in parts):
        return [(s, e)]
    return parts


def surname_mentions(kb: Knowledge, ctx: Context, kept: set, probs: np.ndarray) -> None:
    """A person named in full, then by the surname alone (王树斌的房间，请王在…; 黄打电话给袁说; 到黄家): the
    surname of a name found in the same text (a Chinese name, not a transliteration; not a surname that is
    also an everyday word, 马, 牛), a word of its own where a person stands (before a verb, a preposition, 的
    or a verb of saying) or with 家 (the family), is that person, unless the model rules it out."""
    lex, text, words, starts = kb.lex, ctx.text, ctx.words, ctx.starts
    surnames = {text[s] for s, e in kept if 2 <= e - s <= 3 and text[s] in lex.single_surnames and
                text[s] not in lex.ambiguous_surnames and text[s:s + 2] not in lex.compound_surnames and
                kb.model.translit_score(text[s:e]) < TRANSLIT_SCORE}  # not 马丽 (马, horse), 布朗
    if not surnames:
        return
    covered = covered_positions(kept)
    for k, w in enumerate(words):
        # the surname alone as a word, or in a two-character word jieba's HMM made up with a function character
        # before it (请/王) or after it (黄/对), where a person stands (a verb, a preposition, an adverb, 的 or a
        # verb of saying next: 请王在, 陈对此); or with 家, the family (黄家, not 王家村, not 很顾家)
        nxt_person = k + 1 < len(words) and ctx.tag(k + 1) in ("p", "v", "uj", "d")
        family = False
        if len(w) == 1:
            i, ok = starts[k], nxt_person or k + 1 < len(words) and words[k + 1] in SAYING
        elif len(w) == 2 and ctx.tag(k) is None and w[0] in GLUE_BEFORE and k + 1 < len(words):
            i, ok = starts[k] + 1, nxt_person
        elif len(w) == 2 and ctx.tag(k) is None and w[1] in GLUE_AFTER:
            i, ok = starts[k], True
        elif len(w) == 2 and w[1] == "家" and not place_follows(ctx, starts[k] + 2) and \
                not (k > 0 and ctx.tag(k - 1) == "d" or ctx.prev_word(k) in UNTAGGED_ADVERBS):  # not 很顾家
            i, ok, family = starts[k], True, True
        else:
            continue
        c = text[i]
        if ok and c in surnames and c not in lex.function_surnames and i not in covered and \
                (family or not ctx.title_follows(i + 1)) and probs[i] >= MODEL_TRUST:
            kept.add((i, i + 1))  # (the model must not rule it out: 顾长卫很顾家, 顾 at 0.03)


def whole_run_ok(kb: Knowledge, ctx: Context, probs: np.ndarray, s: int, e: int) -> bool:
    """A model run the name checks of :func:`model_span` cut or refused is still a name, whole, when it is two
    or more characters of a name's kind (ideographs and joiners), every one at least MODEL_TRUST; its edges
    cut no ordinary word (a word jieba tags a name may lose a character it took in; 克林顿/政府 may end
    inside a word that goes on with a word); it is no place and takes in no title or function character;
    and it is no everyday thing: no surname + everyday word (杨/树林, 戴/帽子), and unless the model is
    certain of every character, no frequent dictionary word (胡子, 宝宝) and no everyday word inside
    (巴克/海军). Where the model's training text (news) says nothing, these keep photo captions clean;
    everywhere else the model knows names better than the rules."""
    if not TRUST_MODEL_RUNS or e - s < 2 or float(probs[s:e].min()) < MODEL_TRUST or \
            person_word_end(ctx, probs, s, e) != e:
        return False
    run = ctx.text[s:e]
    if not kb.name_chars(run):
        return False
    sure = float(probs[s:e].min()) >= MODEL_SURE
    if clean_right_edge(ctx, e) is None and not word_rest_is_word(ctx, e) and \
            ctx.tag(ctx.word_containing(e)) not in PERSON_TAGS and \
            not (sure and rare_word_cut(ctx, e)):  # jieba's "names" often take in a character
        return False
    left_ok = clean_left_edge(ctx, s) or name_word(ctx, ctx.word_containing(s)) or (
        sure and glue_word_cut(ctx, s))  # not 滑/雪坡
    if not left_ok or any(c in BOUNDARY_AFTER for c in run) or place_follows(ctx, e):
        return False
    certain = float(probs[s:e].min()) >= MODEL_CERTAIN
    if ctx.tags.get(run) in ("ns", "nt", "nz") and not (
            (ctx.freqs.get(run) or 0) <= RARE_WORD and float(probs[s:e].mean()) >= MODEL_SURE):
        return False  # a place or an organisation, unless jieba barely knows it as one (库马拉通加, 4)
    if not certain and everyday_inside(ctx, s, e):
        return False
    sur = kb.surname_of(run)
    given = run[len(sur):] if sur else ""
    if sur is not None and (kb.is_title_word(run, sur) or ctx.title_reaches(s + len(sur), e)):
        return False  # 李老(师): a surname and (the start of) a title; the rules mask the surname
    # a surname + an everyday word (杨/树林); a word jieba counts often (胡子, 宝宝: its dictionary tags them
    # names too) only when the model is certain of every character
    if everyday_given(ctx, given) and not (certain and stands_as_person(ctx, s, e)):
        return False
    return (ctx.freqs.get(run) or 0) <= FREQ_WHOLE_RUN or certain


def next_word_given(ctx: Context, e: int) -> bool:
    """The jieba word starting at ``e`` is an everyday two-character word that would be a given name after the
    surname before it (王/国家), not a title (金/先生)."""
    k = ctx.index_at(e)
    return k is not None and everyday_given(ctx, ctx.words[k]) and not ctx.title_follows(e)


def model_span(kb: Knowledge, ctx: Context, probs, s: int, e: int) -> Optional[tuple[int, int]]:
    lex, text = kb.lex, ctx.text
    # grow to the whole word when the run cuts a name word or a word jieba does not know (江泽/民), unless the
    # model rules out the characters it would take in (张少/农等: not 等)
    # (not into a frequent word jieba's dictionary happens to tag a name: 滑雪, 胡子)
    k = ctx.word_containing(s)
    if ctx.starts[k] < s and name_word(ctx, k) and probs[ctx.starts[k]:s].min() >= MODEL_RULED_OUT:
        s = ctx.starts[k]
    k = ctx.word_containing(e - 1)
    end_k = ctx.starts[k] + len(ctx.words[k])
    if end_k > e and name_word(ctx, k) and probs[e:end_k].min() >= MODEL_RULED_OUT and \
            len(ctx.title_follows(e)) < 2:  # (not 王/副市长: jieba's word 王副 takes in a title's start)
        e = end_k
    run = text[s:e]
    sure = float(probs[s:e].mean()) >= MODEL_SURE
    certain = float(probs[s:e].min()) >= MODEL_CERTAIN
    if len(run) == 1:
        # a lone surname, a word of its own, not a function character: with context when sure (江主席,
        # 温先生, 戴、亨) or, ambiguous surnames too, when the model is certain of it (王家传人, 汤杯) and the word
        # after it is no everyday word that would be its given name (王/国家的事: the rules refuse 王国家, and
        # the surname alone is no better reading)
        alone = ctx.index_at(s) is not None and (e == len(text) or ctx.index_at(e) is not None)
        ok = alone and run in lex.single_surnames and run not in lex.function_surnames and (
            sure and run not in lex.ambiguous_surnames and
            (bool(ctx.title_follows(e)) or ctx.context_at(e) or text[e:e + 1] == "、") or
            LONE_SURNAMES and float(probs[s]) >= MODEL_CERTAIN and not next_word_given(ctx, e))
        return (s, e) if ok else None
    if not kb.name_chars(run):
        return None
    # never cut an everyday word in two: shrink the run to word boundaries (薛原/报道 -> 薛原)
    if clean_right_edge(ctx, e) is None and not (certain and word_rest_is_word(ctx, e)):
        e = ctx.starts[ctx.word_containing(e)]
    e = person_word_end(ctx, probs, s, e)
    if not clean_left_edge(ctx, s):
        k = ctx.word_containing(s)
        s = ctx.starts[k] + len(ctx.words[k])
    if e - s < 2:
        return None
    run = text[s:e]
    if (ctx.freqs.get(run) or 0) > 0 and ctx.tags.get(run) not in PERSON_TAGS and not sure:
        return None  # an everyday dictionary word
    if not certain and everyday_inside(ctx, s, e):
        return None  # 巴克/海军: unless the model is certain (it learnt from news, not captions)
    if len(run) == 2 and (ctx.freqs.get(run) or 0) > FREQ_TWO_CHAR_NAME_WORD and not sure:
        return None  # a frequent word jieba also lists as a name (胡子): only when the model is sure
    if place_follows(ctx, e):
        return None  # 丘布特省, 休斯公司: a place or an organisation
    if not sure and ordinary_inside(ctx, s, e, FREQ_ORDINARY):
        return None
    # the characters must be a name's, whatever the model and jieba's dictionary say (jieba lists 戴帽子 and
    # 张大嘴 as names; photo captions are full of 戴, 张, 黄 that are not surnames)
    sur = kb.surname_of(run)
    given = run[len(sur):] if sur else ""
    if sur is not None and (kb.is_title_word(run, sur) or ctx.title_reaches(s + len(sur), e)):
        return None  # 李老师, 李/副主任: the surname alone is the name (the rules mask it), not the title
    shaped = sur is not None and 1 <= len(given) <= 2  # looks like surname + given name: must read as one
    chinese = shaped and kb.given_ok(given) and not everyday_given(ctx, given) and \
        kb.model.score(sur, given) >= SCORE_FLOOR
    foreign = foreign_run(kb, run)
    other = sure and not shaped and len(run) <= (6 if certain else 4) and \
        not any(c in BOUNDARY_AFTER for c in run)
    if chinese or foreign or other:
        return s, e
    return None  # a surname + characters that are not a name's, or an unsure run of another shape
