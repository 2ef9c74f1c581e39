"""Names found by the titles and kinship words around them: a surname with a title (王先生, 李老师, 胡老, 张某) or a
familiar prefix (老王, 小李), the surname a person is said to have (姓张的), and the name right after a title
(总裁宋朝弟等, 外长哈洛宁举行)."""
from __future__ import annotations

from typing import Optional

from tuwen.transforms.names.context import Context, covered_positions
from tuwen.transforms.names.edges import hard_end, ordinary_inside, ordinary_word_at, place_follows
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import BOUNDARY_AFTER, GLUE_AFTER, GLUE_BEFORE, PERSON_TAGS
from tuwen.transforms.names.thresholds import (
    EVERYDAY_FREQ, FREQ_NOUN_NAME, FREQ_ORDINARY_AFTER_TITLE, FREQ_SURNAME_TITLE_WORD, SCORE_FLOOR, SCORE_THREE,
    TRANSLIT_SCORE, TRANSLIT_SHARE,
)
from tuwen.transforms.text import IDEOGRAPH_RE


def titled_surnames(kb: Knowledge, ctx: Context, found: set) -> None:
    """王先生, 李老师, 胡老, 张某 → the surname; 老王, 小李 → the surname; 姓张的 → the surname."""
    _surnames_before_titles(kb, ctx, found)
    _prefixed_surnames(kb, ctx, found)
    _surnames_after_xing(kb, ctx, found)


def _surnames_before_titles(kb: Knowledge, ctx: Context, found: set) -> None:
    """王先生, 李老师, 胡老, 张某: surname + title, the surname starting a word."""
    lex, text = kb.lex, ctx.text
    for k, w in enumerate(ctx.words):
        s = ctx.starts[k]
        if len(w) == 2 and w[0] in GLUE_BEFORE and ctx.tag(k) is None and w[1] in lex.single_surnames and \
                w[1] not in lex.function_surnames and ctx.index_at(s + 2) is not None and \
                len(ctx.title_follows(s + 2)) >= 2:
            found.add((s + 1, s + 2))  # 托项/市长: jieba's HMM glued a function character to the surname
            continue
        for sl in (2, 1):
            sur = w[:sl]
            if len(sur) != sl or not ((sl == 1 and sur in lex.single_surnames) or
                                      (sl == 2 and sur in lex.compound_surnames)):
                continue
            title = ctx.title_follows(s + sl)
            if not title:
                continue
            if len(title) == 1 and (sur in lex.ambiguous_surnames or ctx.tag(k) not in (None, "nr", "nrfg")
                                    and len(w) > sl or
                                    (ctx.freqs.get(text[s:s + sl + 1]) or 0) > FREQ_SURNAME_TITLE_WORD):
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


def _prefixed_surnames(kb: Knowledge, ctx: Context, found: set) -> None:
    """老王, 小李, 阿张: a prefix and a surname that ends there (the next character starts another word or is a
    function character)."""
    lex, text = kb.lex, ctx.text
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
        if (ctx.freqs.get(text[i:i + 2]) or 0) > EVERYDAY_FREQ:
            continue  # 老师, 小时: an everyday word
        nxt = text[i + 2:i + 3]
        if nxt and IDEOGRAPH_RE.match(nxt) and nxt not in BOUNDARY_AFTER and \
                ctx.index_at(i + 2) is None and not ctx.title_follows(i + 2) and not (
                    nxt in GLUE_AFTER and ctx.words[ctx.word_containing(i + 1)] == text[i + 1:i + 3] and
                    ctx.tag(ctx.word_containing(i + 1)) is None):
            continue  # 小黄狗: the surname-like character goes on into a word (not 小/袁到: jieba's HMM)
        found.add((i + 1, i + 2))


def _surnames_after_xing(kb: Knowledge, ctx: Context, found: set) -> None:
    """姓张的老伯, 主人姓李: the surname a person is said to have (not 百姓, 复姓, 同姓)."""
    lex, text = kb.lex, ctx.text
    i = -1
    while (i := text.find("姓", i + 1)) != -1:
        if i > 0 and text[i - 1] in "百复同贵":
            continue
        for sl in (2, 1):
            sur = text[i + 1:i + 1 + sl]
            nxt = text[i + 1 + sl:i + 2 + sl]
            if len(sur) == sl and (sur in lex.compound_surnames if sl == 2 else sur in lex.single_surnames) \
                    and (not nxt or not IDEOGRAPH_RE.match(nxt) or nxt in BOUNDARY_AFTER):
                found.add((i + 1, i + 1 + sl))
                break


def after_titles(kb: Knowledge, ctx: Context, found: set) -> None:
    """Right after a title (总裁宋朝弟等, 副院长严义埙、, 外长哈洛宁举行, 前总理差瓦立、): the next two to six
    characters are a name when they end where a name can end (punctuation, a function character, a verb of
    saying, the start of an ordinary word) and hold no ordinary word themselves. Chinese names: a surname and
    one or two characters the name model accepts; foreign names: characters that mostly read as a
    transliteration."""
    lex, text = kb.lex, ctx.text
    n = len(text)
    covered = covered_positions(found)
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
        e = _chinese_after_title(kb, ctx, i, covered)
        if e is not None and not (short is not None and short[1] >= e):
            found.discard(short)
            found.add((i, e))
            covered.update(range(i, e))
            done = True
        if short is not None and not done:
            covered.update(range(*short))
            continue
        if done or text[i] not in lex.translit_chars:
            continue
        e = _foreign_after_title(kb, ctx, i, covered)
        if e is not None:
            found.add((i, e))
            covered.update(range(i, e))


def _chinese_after_title(kb: Knowledge, ctx: Context, i: int, covered: set) -> Optional[int]:
    """The end of a Chinese name starting at ``i`` right after a title: a surname and one or two characters the
    name model accepts, ending where a name can end; None when there is none."""
    lex, text, model = kb.lex, ctx.text, kb.model
    n = len(text)
    sur = lex.surname_at(text, i)
    if not (sur in lex.single_surnames or sur in lex.compound_surnames) or sur in lex.function_surnames:
        return None
    for g in (2, 1):
        e = i + len(sur) + g
        if e > n or any(j in covered for j in range(i, e)):
            continue
        cand, given = text[i:e], text[i + len(sur):e]
        if not kb.given_ok(given) or cand in lex.not_person or kb.is_title_word(cand, sur):
            continue
        if (ctx.freqs.get(cand) or 0) > 0 and ctx.tags.get(cand) not in PERSON_TAGS and not (
                g == 2 and sur in lex.common_surnames and ctx.tags.get(cand) == "n" and
                ctx.freqs[cand] <= FREQ_NOUN_NAME):
            continue  # an ordinary word (jieba lists a few rare names as nouns: 严义埙)
        if g == 1 and (sur not in lex.common_surnames or sur in lex.ambiguous_surnames):
            continue
        if not hard_end(ctx, e) and not (ctx.index_at(e) is not None and ordinary_word_at(ctx, e)):
            continue
        score = model.score(sur, given)
        if score < SCORE_FLOOR or ordinary_inside(ctx, i, e, FREQ_ORDINARY_AFTER_TITLE) and score < SCORE_THREE:
            continue  # (宋朝/弟 holds a dictionary word, but its characters are very much a name's)
        return e
    return None


def _foreign_after_title(kb: Knowledge, ctx: Context, i: int, covered: set) -> Optional[int]:
    """The end of a foreign name starting at ``i`` right after a title: the longest run that ends well and reads
    as a transliteration; None when there is none."""
    lex, text, model = kb.lex, ctx.text, kb.model
    n = len(text)
    for e in range(min(n, i + 6), i + 1, -1):
        run = text[i:e]
        if any(j in covered for j in range(i, e)) or not all(IDEOGRAPH_RE.match(c) for c in run):
            continue
        if not (hard_end(ctx, e) or ctx.index_at(e) is not None and ordinary_word_at(ctx, e)):
            continue
        if run in lex.not_person or ordinary_inside(ctx, i, e) or place_follows(ctx, e):
            continue
        if (ctx.freqs.get(run) or 0) > 0 and ctx.tags.get(run) not in (*PERSON_TAGS, "nz"):
            continue
        share = sum(c in lex.translit_chars for c in run) / len(run)
        if share >= TRANSLIT_SHARE or model.translit_score(run) >= TRANSLIT_SCORE:
            return e
    return None
