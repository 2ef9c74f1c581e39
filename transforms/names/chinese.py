"""Chinese (and Japanese) names read off jieba's words, one word at a time: the pass :func:`chinese_name`.

A name jieba kept as one word (胡锦涛, 王晨), with a function character glued to it (致牟小东, 赵华说), at the head of
a longer word (邓小平理论), a Japanese surname and its given name (桥本龙太郎), or a surname jieba split from its given
name (曹/火星). Each rule below tries word ``k``; the first that finds a name ends the search for that word.
"""
from __future__ import annotations

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.edges import everyday_given, place_follows
from tuwen.transforms.names.knowledge import Knowledge
from tuwen.transforms.names.lexicons import (
    BOUNDARY_AFTER, FUNCTION_TAGS, GLUE_AFTER, GLUE_BEFORE, PERSON_TAGS, SAYING,
)
from tuwen.transforms.names.thresholds import (
    FREQ_BEFORE_SAYING, FREQ_GIVEN_RARE, FREQ_KNOWN_HEAD, FREQ_NR_THREE_RARE, FREQ_NR_TWO_RARE, FREQ_NZ_RARE,
    FREQ_SPLIT_GIVEN_EVERYDAY, FREQ_SPLIT_GIVEN_RARE, FREQ_SUBJECT, GIVEN_NEW_THREE, GIVEN_NEW_TWO, GIVEN_NR_THREE,
    GIVEN_NR_THREE_FREQUENT, GIVEN_NR_TWO, GIVEN_OTHER_TAG, GIVEN_OWN_WORD, GIVEN_SPLIT_WORD, SCORE_FLOOR,
    SCORE_SPLIT,
)
from tuwen.transforms.text import IDEOGRAPH_RE


def chinese_name(kb: Knowledge, ctx: Context, k: int, found: set) -> None:
    """The name word ``k`` is, holds or starts, by the first of the word rules that finds one."""
    if not IDEOGRAPH_RE.match(ctx.words[k][:1]):
        return
    for rule in _WORD_RULES:
        if rule(kb, ctx, k, found):
            return


def japanese_name(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """A Japanese surname and the given name (桥本龙太郎, 冈田武史), or the surname alone by context."""
    lex = kb.lex
    w, s, tag = ctx.words[k], ctx.starts[k], ctx.tag(k)
    n = len(w)
    for jl in (3, 2, 1):
        if n > jl and w[:jl] in lex.japanese_surnames and n - jl <= 3 and tag not in ("ns", "nt") and \
                (tag is None or tag in PERSON_TAGS or n >= 4):
            found.add((s, s + n))
            return True
    if not (w in lex.japanese_surnames and len(w) >= 2):
        return False
    given = ctx.following_unknown(k)
    if given:
        found.add((s, s + n + len(given)))
        return True
    if k + 1 < len(ctx.words) and 1 <= len(ctx.words[k + 1]) <= 2 and \
            kb.given_ok(ctx.words[k + 1]) and ctx.context(k + 2, k + 1):
        found.add((s, s + n + len(ctx.words[k + 1])))  # 武村正义说
        return True
    if k + 1 < len(ctx.words) and len(ctx.words[k + 1]) == 2 and kb.given_ok(ctx.words[k + 1]) and \
            ctx.tag(k + 1) not in FUNCTION_TAGS and w not in lex.not_person and (
                k + 2 >= len(ctx.words) or not IDEOGRAPH_RE.match(ctx.words[k + 2][:1]) or
                ctx.words[k + 2] in BOUNDARY_AFTER or ctx.words[k + 2] in GLUE_AFTER or
                ctx.tag(k + 2) is None and ctx.words[k + 2][:1] in GLUE_AFTER or
                ctx.tag(k + 2) in ("p", "d", "t", "uz", "ul")):
        # 武村正义。: the given name ends where the sentence goes on (武村正义/正在, 武村正义/在划: jieba's HMM
        # glued 在 on)
        found.add((s, s + n + 2))
        return True
    if ctx.context(k, k) or (k + 1 < len(ctx.words) and ctx.tag(k + 1) in ("v", "d", "vn", "c", "p")
                             and tag in (None, "n", "nr", "nrt", "nrfg") and w not in lex.not_person):
        found.add((s, s + n))  # 桥本首相, 桥本坦率地回答
        return True
    # The list holds no everyday word: the surname alone is a person (对桥本的访问), unless a place or
    # company suffix follows (松下电器 is in not_person, 冈田村 a village).
    if w not in lex.not_person and tag in (None, "nr", "nrt", "nrfg", "nz", "n") and \
            not place_follows(ctx, s + n):
        found.add((s, s + n))
        return True
    return False


def whole_word_name(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """One word that is a whole name: 胡锦涛 (nr), 王晨 (unknown to jieba), 诸葛亮."""
    lex = kb.lex
    w, s, tag = ctx.words[k], ctx.starts[k], ctx.tag(k)
    n = len(w)
    if not (2 <= n <= 4 and w not in lex.not_person):
        return False
    sur = kb.name_shape(w)
    if sur is None or kb.is_title_word(w, sur) or ctx.title_reaches(s + len(sur), s + n):
        return False  # (not 王副/市长: the "given name" starts a title; the surname alone is masked by its rule)
    if _whole_word_reads_as_name(kb, ctx, k, sur) or (
            (tag is None or tag in PERSON_TAGS or (n == 3 and tag == "nz")) and ctx.context(k, k)):
        found.add((s, s + n))
        return True
    return False


def _whole_word_reads_as_name(kb: Knowledge, ctx: Context, k: int, sur: str) -> bool:
    """Without context, does name-shaped word ``k`` (surname ``sur``) read as a name, by its jieba tag, its count
    and its characters?"""
    lex = kb.lex
    w, tag = ctx.words[k], ctx.tag(k)
    n = len(w)
    ambiguous = sur in lex.ambiguous_surnames
    common = sur in lex.common_surnames
    given = w[len(sur):]
    if tag in ("nr", "nrfg"):
        if n == 2:
            # jieba tags many ordinary two-character words nr (明白, 祝福, 毛巾): trust it for common
            # surnames and rare words, or a given-name character typical of names (李鹏).
            ok = common and (ctx.freq(k) <= FREQ_NR_TWO_RARE or kb.given_score(given) >= GIVEN_NR_TWO)
        else:
            # jieba also tags some ordinary words nr (雷阵雨): the given part must not be a common
            # word, or its characters must be typical of given names
            score = kb.given_score(given, mean=True)
            ok = score >= GIVEN_NR_THREE and (ctx.freq(k) <= FREQ_NR_THREE_RARE or
                                              (ctx.freqs.get(given) or 0) <= FREQ_GIVEN_RARE or
                                              score >= GIVEN_NR_THREE_FREQUENT) and not everyday_given(ctx, given)
            # (杨/树林: the given part is an everyday word — then only with context)
    elif tag is None:
        # a word jieba's HMM made up: its given-name characters must look like one (钱随粮 does not)
        ok = (common if n == 2 else not ambiguous) and kb.given_score(given, mean=True) >= (
            GIVEN_NEW_TWO if n == 2 else GIVEN_NEW_THREE)
    elif tag == "nz":
        ok = n == 3 and common and ctx.freq(k) <= FREQ_NZ_RARE
    elif n == 3 and common and tag not in ("ns", "nt") and ctx.tags.get(given) in (None, "nr", "nrt", "nrfg"):
        ok = kb.given_score(given, mean=True) >= GIVEN_OTHER_TAG  # 周恩来 (jieba: t)
    else:
        ok = False
    # its characters must not be those of ordinary words (通知书, 东道主, 钱随粮)
    return ok and kb.model.score(sur, given) >= SCORE_FLOOR


def name_before_saying(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """A name-shaped word that jieba's dictionary lists as something else (罗干 as a place), right before a verb
    of saying: places and things do not speak. Rare words only, and characters the name model accepts.
    Or a rare one that opens a sentence, before 在 / 正在 (严良在骑车: a photo caption's subject)."""
    lex = kb.lex
    w, s = ctx.words[k], ctx.starts[k]
    n = len(w)
    if 2 <= n <= 3 and k + 1 < len(ctx.words) and w not in lex.not_person and (
            ctx.words[k + 1] in SAYING and ctx.freq(k) <= FREQ_BEFORE_SAYING or
            ctx.words[k + 1] in ("在", "正在") and ctx.freq(k) <= FREQ_SUBJECT and
            (k == 0 or not IDEOGRAPH_RE.match(ctx.words[k - 1][-1:]))):
        sur = kb.name_shape(w)
        if sur is not None and sur not in lex.ambiguous_surnames and not kb.is_title_word(w, sur) and \
                not ctx.title_follows(s + len(sur)) and \
                kb.model.score(sur, w[len(sur):]) >= 2 * SCORE_FLOOR:
            found.add((s, s + n))  # (not 李老师在: a surname and a title)
            return True
    return False


def glued_name(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """jieba glued a function character to the name: 致牟小东, 赵华说."""
    lex = kb.lex
    w, s, tag = ctx.words[k], ctx.starts[k], ctx.tag(k)
    n = len(w)
    if not (tag is None and 3 <= n <= 5):
        return False
    if w[0] in GLUE_BEFORE and kb.name_shape(w[1:]) and w[1:2] not in lex.ambiguous_surnames and \
            kb.model_score(w[1:]) >= SCORE_FLOOR:
        found.add((s + 1, s + n))
        return True
    if w[-1] in GLUE_AFTER and kb.name_shape(w[:-1]) and w[:1] not in lex.ambiguous_surnames and \
            kb.model_score(w[:-1]) >= SCORE_FLOOR:
        found.add((s, s + n - 1))
        return True
    return False


def glued_surname(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """A function character glued to the surname, the given name its own word: 对陶/汉明."""
    lex = kb.lex
    w, s, tag = ctx.words[k], ctx.starts[k], ctx.tag(k)
    n = len(w)
    if tag is None and n == 2 and w[0] in GLUE_BEFORE and w[1] in lex.single_surnames and \
            w[1] not in lex.ambiguous_surnames and k + 1 < len(ctx.words):
        nxt = ctx.words[k + 1]
        nt = ctx.tag(k + 1)
        if kb.given_ok(nxt) and (nt is None or nt in PERSON_TAGS or nt == "nz" or
                                 kb.given_score(nxt, mean=True) >= GIVEN_OWN_WORD):
            found.add((s + 1, s + n + len(nxt)))
            return True
    return False


def name_at_word_head(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """A name at the head of a longer word: 邓小平理论, 马克思主义, 毛泽东思想."""
    lex = kb.lex
    w, s, tag = ctx.words[k], ctx.starts[k], ctx.tag(k)
    if len(w) < 4:
        return False
    pl = 3
    head, rest = w[:pl], w[pl:]
    if (tag not in ("ns", "nt", "nz") or ctx.tags.get(head) in ("nrt", "nrfg")) and len(rest) >= 2 and \
            head not in lex.not_person and \
            ctx.tags.get(head) in PERSON_TAGS and rest in ctx.tags and (
            kb.name_shape(head) or all(c in lex.translit_chars for c in head) or
            (ctx.freqs.get(head) or 0) >= FREQ_KNOWN_HEAD and ctx.tags.get(rest) == "n"):  # 克林顿政府
        found.add((s, s + pl))
        return True
    return False


def split_name(kb: Knowledge, ctx: Context, k: int, found: set) -> bool:
    """jieba split surname and given name: 曹/火星, 袁/步兵, 王/莲香."""
    lex = kb.lex
    w, s = ctx.words[k], ctx.starts[k]
    n = len(w)
    sur = w if (n == 1 and w in lex.single_surnames) or (n == 2 and w in lex.compound_surnames) else None
    if sur is None or k + 1 >= len(ctx.words):
        return False
    if ctx.title_follows(s + n):
        return False  # 王先生: handled by titled_surnames
    nxt = ctx.words[k + 1]
    given = nxt
    if len(nxt) == 1 and k + 2 < len(ctx.words) and len(ctx.words[k + 2]) == 1 and \
            kb.given_ok(nxt + ctx.words[k + 2]) and ctx.tag(k + 2) is None:
        given = nxt + ctx.words[k + 2]
    if not kb.given_ok(given):
        return False
    end = ctx.starts[k + 1] + len(given)
    last = k + (2 if len(given) > len(nxt) else 1)
    nxt_tag = ctx.tag(k + 1)
    strong = ctx.context(k, last)
    if sur in lex.function_surnames or sur in lex.ambiguous_surnames and not strong:
        return False
    if nxt_tag in ("v", "p", "c", "u", "d", "r", "f", "m", "q", "t", "ns", "nt", "vn", "ad", "uj", "ul"):
        return False
    if sur not in lex.common_surnames and not strong:
        return False
    # the given name is a word jieba knows (曹/火星): only with a title or verb of saying beside it
    if len(nxt) >= 2 and nxt_tag is not None and nxt_tag not in PERSON_TAGS and not strong and not (
            ctx.freq(k + 1) <= FREQ_SPLIT_GIVEN_RARE and kb.given_score(nxt, mean=True) >= GIVEN_SPLIT_WORD) and \
            (kb.model.score(sur, given) < SCORE_SPLIT or ctx.freq(k + 1) > FREQ_SPLIT_GIVEN_EVERYDAY):
        return False  # 曹/火星 needs context, unless its characters are very much a name's (蒋/天才)
    pw = ctx.prev_word(k)
    if pw and (pw[-1].isdigit() or ctx.tags.get(pw) == "m" or (len(pw) == 1 and pw in lex.name_prefixes)):
        return False  # 8000张门票: a measure word, not a surname
    if kb.model.score(sur, ctx.text[s + n:end]) < SCORE_FLOOR:
        return False  # 后/再作报道: not a name's characters, whatever the context
    found.add((s, end))
    return True


# The word rules in the order they are tried.
_WORD_RULES = (japanese_name, whole_word_name, name_before_saying, glued_name, glued_surname, name_at_word_head,
               split_name)
