"""Names jieba's dictionary does not know, as jieba.posseg's character HMM tags them, and that HMM made fast.

The tagger is the slowest part of the step: it runs only over small windows around unknown words, with a Viterbi
that gives jieba's result at a fraction of its cost, cached because captions repeat.
"""
from __future__ import annotations

import functools

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import PERSON_TAGS
from tuwen.transforms.names.thresholds import AMBIGUOUS_PENALTY, GIVEN_HMM, GIVEN_ONLY_CHAR, SCORE_HMM
from tuwen.transforms.text import IDEOGRAPH_RE


def hmm_names(kb: Knowledge, ctx: Context, found: set) -> None:
    """Names jieba's dictionary does not know, as tagged by jieba.posseg's character HMM.

    ``jieba.posseg`` runs a part-of-speech HMM over the stretches of text its dictionary does not cover; running
    it only over those stretches (words jieba.cut did not find in its dictionary, and the single characters
    around them) gives the same tags at a fraction of the cost of tagging the whole text.
    """
    lex = kb.lex
    words, starts = ctx.words, ctx.starts
    k, nw = 0, len(words)
    windows: list[list[int]] = []
    for k in range(nw):
        w = words[k]
        if len(w) < 2 or ctx.tags.get(w) is not None or not hmm_piece(ctx, k):
            continue
        # the unknown word and a single character on each side: enough for the HMM to place a
        # name's edges, and it keeps the (slow) tagger off the rest of the text
        a = k
        while a > k - 1 and a > 0 and len(words[a - 1]) == 1 and hmm_piece(ctx, a - 1):
            a -= 1
        b = k + 1
        while b < k + 2 and b < nw and hmm_piece(ctx, b) and (len(words[b]) == 1 or b == k + 1):
            b += 1
        if windows and a <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], b)
        else:
            windows.append([a, b])
    sure = lex.hmm_surname_chars
    model = kb.model
    for a_k, b_k in windows:
        a = starts[a_k]
        chars = "".join(words[a_k:b_k])
        # only a window holding a surname (or three transliteration characters) can give a name we keep:
        # the tagger is the slowest part, so skip the rest
        if not any(c in sure for c in chars) and sum(c in lex.translit_chars for c in chars) < 3 and \
                not any(model.given.get(c, 0.0) >= GIVEN_ONLY_CHAR for c in chars):
            continue
        for w, tag, ws in hmm_tag(chars):
            if tag not in PERSON_TAGS or len(w) < 2 or w in lex.not_person:
                continue
            sur = kb.surname_of(w)
            if sur is not None and len(w) <= 4:
                given = w[len(sur):]
                if not kb.given_ok(given) or sur in lex.function_surnames:
                    continue
                if sur in lex.ambiguous_surnames or kb.given_score(given) < GIVEN_HMM or (
                        len(w) == 2 and sur not in lex.common_surnames):
                    # the HMM's person tag alone is weak here: the name model must agree (高敏, 伍霞)
                    if model.score(sur, given) - AMBIGUOUS_PENALTY * (sur in lex.ambiguous_surnames) < SCORE_HMM:
                        continue
            elif len(w) < 3 or not all(c in lex.translit_chars for c in w):
                # a given name alone (欣嘉, 亦秋): the HMM's person tag and characters typical of given names
                if not (2 <= len(w) <= 3 and kb.given_ok(w[-2:]) and all(
                        model.given.get(c, 0.0) >= GIVEN_ONLY_CHAR for c in w)):
                    continue
            found.add((a + ws, a + ws + len(w)))


def hmm_piece(ctx: Context, k: int) -> bool:
    w = ctx.words[k]
    return (len(w) == 1 or ctx.tags.get(w) is None) and IDEOGRAPH_RE.match(w[0]) is not None and \
        all(IDEOGRAPH_RE.match(c) for c in w)


@functools.lru_cache(maxsize=65536)
def hmm_tag(chars: str) -> tuple:
    """``(word, tag, start)`` for a run of ideographs, by jieba.posseg's HMM (its ``__cut``); cached because
    captions repeat."""
    return tuple(_hmm_tag_uncached(chars))


_REVERSE_TRANS = None


def _viterbi(obs: str):
    """jieba.posseg.viterbi.viterbi with the same model and result, faster: each state looks only at the states
    that can precede it, and its emission is computed once instead of once per predecessor."""
    global _REVERSE_TRANS
    from tuwen.transforms.names.resources import posseg_hmm

    states, start_p, trans_p, emit_p, MIN_FLOAT, MIN_INF = posseg_hmm()

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
