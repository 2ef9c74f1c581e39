"""Chinese names wherever jieba cut them: surname + one or two characters proposed at every surname position,
kept by context (a title before, a verb of saying after) and the name model's score rather than by jieba's word
boundaries (警备区政委高云/江说 → 高云江, 张洁/清算 → 张洁清)."""
from __future__ import annotations

from typing import Optional

from tuwen.transforms.names.context import Context, covered_positions
from tuwen.transforms.names.edges import clean_left_edge, clean_right_edge
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import PERSON_TAGS
from tuwen.transforms.names.thresholds import (
    AMBIGUOUS_PENALTY, CONTEXT_BONUS, FREQ_CONTEXT_WORD, FREQ_INSIDE_ANY, FREQ_INSIDE_TAGGED, GIVEN_IN_CONTEXT,
    GIVEN_IN_HALF_CONTEXT, NEW_WORD_BONUS, SCORE_THREE, SCORE_TWO_IN_CONTEXT, SCORE_TWO_NEW_WORD,
)
from tuwen.transforms.text import IDEOGRAPH_RE


def names_in_context(kb: Knowledge, ctx: Context, found: set) -> None:
    """A surname and one or two given-name characters between a title and a verb of saying, wherever jieba cut
    them (警备区政委高云/江说 → 高云江, 副主任刘名/启参加 → 刘名启). Needs a title before or a verb after it."""
    lex, text = kb.lex, ctx.text
    n = len(text)
    covered = covered_positions(found)
    for m in lex.surname_char_re.finditer(text):
        i = m.start()
        if i in covered or i >= n - 1:
            continue
        sur = lex.surname_at(text, i)
        if sur not in lex.single_surnames and sur not in lex.compound_surnames or sur in lex.function_surnames:
            continue
        before = ctx.title_before(i)
        for g in (2, 1):
            e = i + len(sur) + g
            if e > n or any(j in covered for j in range(i, e)):
                continue
            given = text[i + len(sur):e]
            if not kb.given_ok(given):
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
            need = GIVEN_IN_HALF_CONTEXT if sur in lex.ambiguous_surnames or not (before and after) \
                else GIVEN_IN_CONTEXT
            if kb.given_score(given, mean=True) < need or text[i:e] in lex.not_person:
                continue
            if (ctx.freqs.get(text[i:e]) or 0) > FREQ_CONTEXT_WORD and ctx.tags.get(text[i:e]) not in PERSON_TAGS:
                continue  # an everyday word before a title (司令巴克海军少将: 海军 is the navy)
            found.add((i, e))
            covered.update(range(i, e))
            break


def scored_candidates(kb: Knowledge, ctx: Context, found: set) -> None:
    """Every surname position not yet masked, wherever jieba cut: surname + one or two given-name characters,
    scored by the name model and its left and right context (a title before, a verb of saying, a title,
    punctuation, 、 or a function character after), rather than by jieba's word boundaries alone
    (张洁/清算 → 张洁清, 高允/连 → 高允连). A candidate must not cut through an ordinary dictionary word at
    either edge nor be one."""
    lex, text = kb.lex, ctx.text
    n = len(text)
    covered = covered_positions(found)
    # two-character finds that may be missing their last character (赵致/真的 → 赵致真)
    short = {s: e for s, e in found if e - s == 2}
    for m in lex.surname_char_re.finditer(text):
        i = m.start()
        grow = i in short and short[i] + 1 <= n and not any(
            j in covered for j in range(short[i], short[i] + 1))
        if (i in covered and not grow) or i >= n - 1:
            continue
        sur = lex.surname_at(text, i)
        if sur in lex.function_surnames or not (sur in lex.single_surnames or sur in lex.compound_surnames):
            continue
        if grow:
            if len(sur) != 1:
                continue
            for j in range(i, i + 2):
                covered.discard(j)
        if not clean_left_edge(ctx, i):
            continue
        for g in (2, 1):
            e = i + len(sur) + g
            if e > n or any(j in covered for j in range(i, e)):
                continue
            ok = _candidate_ok(kb, ctx, i, sur, e)
            if ok is None:
                continue
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


def _candidate_ok(kb: Knowledge, ctx: Context, i: int, sur: str, e: int) -> Optional[bool]:
    """Is [i, e), surname ``sur`` + one or two characters, a name by its score and context? None when its shape
    or edges rule it out before any scoring (the shorter candidate is tried next)."""
    lex, text, model = kb.lex, ctx.text, kb.model
    n = len(text)
    g = e - i - len(sur)
    cand = text[i:e]
    given = cand[len(sur):]
    if not kb.given_ok(given) or cand in lex.not_person or kb.is_title_word(cand, sur):
        return None
    if g == 2 and ctx.lone_function_char(e - 1):
        return None  # 王芳/和: a function word of its own ends no name
    if any(len(t := ctx.title_follows(j)) >= 2 and j + len(t) > e for j in range(i + len(sur), e)):
        return None  # 张伟/副主任: a title starts inside it
    if (ctx.freqs.get(cand) or 0) > 0:
        return None  # a dictionary word (方面, 高速), or one the whole-word rules already turned down
    if clean_right_edge(ctx, e) is None:
        return None
    said = ctx.context_at(e) or bool(ctx.title_follows(e))
    if any(len(ctx.words[k]) >= 2 and (ctx.freq(k) > FREQ_INSIDE_ANY or ctx.tag(k) not in (None, *PERSON_TAGS) and
                                       (ctx.freq(k) > FREQ_INSIDE_TAGGED or g == 1)) for k in ctx.words_in(i, e)):
        return None  # it holds an ordinary word (郑/全军, 胡子/和, 滑雪/坡): left to the rules with context
    titled = ctx.title_before(i)
    listed = i > 0 and text[i - 1] == "、"
    listed_after = e < n and text[e] == "、"
    score = model.score(sur, given) + CONTEXT_BONUS * (
        bool(titled) + said + (g == 2 and (listed or listed_after)))
    if sur in lex.ambiguous_surnames:
        score -= AMBIGUOUS_PENALTY
    k = ctx.index_at(i)
    new_word = k is not None and ctx.words[k] == cand and ctx.tag(k) is None
    if new_word:
        score += NEW_WORD_BONUS  # jieba's HMM, too, made these characters one unknown word
    if g == 2:
        return score >= SCORE_THREE
    # surname + one character: a title before it or a verb of saying after it, or a new word
    return bool((titled or said or new_word and sur in lex.common_surnames and
                 sur not in lex.ambiguous_surnames) and score >= (
        SCORE_TWO_IN_CONTEXT if titled or said else SCORE_TWO_NEW_WORD))
