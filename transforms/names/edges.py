"""Where a name may start and end in jieba's cut, and which words around or inside a candidate refute it.

Questions of one text and its words only (no name statistics): every family of passes asks them. A name never cuts
an everyday word in two (薛原/报道), holds one (巴克/海军) or stands before a place suffix (丘布特省).
"""
from __future__ import annotations

from typing import Optional

from tuwen.transforms.names.context import Context
from tuwen.transforms.names.lexicons import BOUNDARY_AFTER, GLUE_AFTER, GLUE_BEFORE, PERSON_TAGS, VERB_GOES_ON
from tuwen.transforms.names.thresholds import (
    EVERYDAY_FREQ, FREQ_EVERYDAY_GIVEN, FREQ_LISTED_JAPANESE, FREQ_NAME_WORD, FREQ_ORDINARY, FREQ_ORDINARY_NEXT,
    FREQ_RARE_CUT,
)
from tuwen.transforms.text import IDEOGRAPH_RE


def place_follows(ctx: Context, pos: int) -> bool:
    """Does a place / organisation suffix (省, 公司, 号...) start the word at ``pos``?"""
    k = ctx.index_at(pos)
    if k is None:
        return False
    w = ctx.words[k]
    if len(w) == 1 and ctx.tag(k) == "v" and k + 1 < len(ctx.words) and ctx.tag(k + 1) in VERB_GOES_ON:
        return False  # 罗纳尔多站在山上: 站 is "stands" (站在, 站着), not a station
    if w in ("政府", "内阁") and k > 0 and ctx.tag(k - 1) in PERSON_TAGS:
        return False  # 瓦杰帕伊政府, 布什政府: a leader's government (not 喀布尔政府, a place's)
    return any(w[:ln] in ctx.lex.place_suffixes for ln in range(1, min(len(w), 4) + 1)) and (
        len(w) == 1 or w in ctx.lex.place_suffixes or ctx.tag(k) is None or
        any(w[:ln] in ctx.lex.place_suffixes and len(w[:ln]) >= 2 for ln in range(2, min(len(w), 4) + 1)))


def clean_left_edge(ctx: Context, i: int) -> bool:
    """A name may start at ``i``: the text starts there, or a word does, or a function character that jieba
    glued to the name (当许/传音) or a title ends there."""
    text = ctx.text
    if i == 0 or not IDEOGRAPH_RE.match(text[i - 1]) or ctx.index_at(i) is not None:
        return True
    k = ctx.word_containing(i - 1)
    # the word cut through holds the surname: fine when jieba does not know it (当许) or it is a title (副主任刘)
    return ctx.tag(k) is None and text[i - 1] in GLUE_BEFORE or ctx.title_before(i)


def clean_right_edge(ctx: Context, e: int) -> Optional[bool]:
    """A name may end at ``e``: None when it cannot (it cuts an ordinary dictionary word in two)."""
    text = ctx.text
    if e >= len(text) or not IDEOGRAPH_RE.match(text[e]) or ctx.index_at(e) is not None:
        return True
    k = ctx.word_containing(e)
    if ctx.tag(k) is None:
        return True  # a word jieba's HMM made up, name and following character together (张少/农等)
    rest = text[e:ctx.starts[k] + len(ctx.words[k])]
    if len(rest) == 1 and rest in BOUNDARY_AFTER:
        return True  # 赵致/真的: the dictionary word ends in a function character
    return None  # it would cut an ordinary word in two (薛原/报道)


def hard_end(ctx: Context, e: int) -> bool:
    """Does a name plausibly end at ``e``: the text or the clause ends, a function character that ends a word
    (等, 的, 说...), a verb of saying or a title follows?"""
    text = ctx.text
    if e >= len(text) or not IDEOGRAPH_RE.match(text[e]):
        return True
    if ctx.index_at(e) is not None and (ctx.context_at(e) or len(ctx.title_follows(e)) >= 2):
        return True  # (a word starts there: 薛原/报道 is not 薛原报 + 道)
    if text[e] in GLUE_AFTER or text[e] in BOUNDARY_AFTER:
        k = ctx.index_at(e)
        return (k is not None and len(ctx.words[k]) == 1) or e + 1 == len(text) or ctx.index_at(e + 1) is not None
    return False


def word_rest_is_word(ctx: Context, e: int) -> bool:
    """The jieba word that ``e`` cuts goes on, after ``e``, with a dictionary word of its own (克林顿/政府)."""
    k = ctx.word_containing(e)
    rest = ctx.text[e:ctx.starts[k] + len(ctx.words[k])]
    return len(rest) >= 2 and (ctx.freqs.get(rest) or 0) > 0


def glue_word_cut(ctx: Context, i: int) -> bool:
    """``i`` cuts a two-character word after its first character, a function character (对/方英梅, 对/于梅玲):
    jieba read the function character and the surname as a word."""
    k = ctx.word_containing(i - 1) if i > 0 else None
    return k is not None and ctx.starts[k] == i - 1 and len(ctx.words[k]) == 2 and ctx.text[i - 1] in GLUE_BEFORE


def rare_word_cut(ctx: Context, e: int) -> bool:
    """``e`` cuts a two-character word jieba's dictionary counts rarely (at most 100), the name's last character
    and a word of one character (林景文/种: 文种, 64; not 雷锋精/神: 雷锋精神 is one word)."""
    k = ctx.word_containing(e)
    end = ctx.starts[k] + len(ctx.words[k])
    return ctx.starts[k] == e - 1 and end - e == 1 and ctx.freq(k) <= FREQ_RARE_CUT and \
        (ctx.freqs.get(ctx.text[e:end]) or 0) > 0


def name_word(ctx: Context, k: int) -> bool:
    """jieba's word ``k`` may be (part of) a name: tagged one and not frequent, or unknown to the dictionary."""
    return len(ctx.words[k]) <= 4 and (ctx.tag(k) is None or
                                       ctx.tag(k) in PERSON_TAGS and ctx.freq(k) <= FREQ_NAME_WORD)


def ordinary_inside(ctx: Context, a: int, b: int, max_freq: int = FREQ_ORDINARY) -> bool:
    """Does [a, b) hold an ordinary dictionary word of two or more characters (not a name)?"""
    return any(len(ctx.words[k]) >= 2 and ctx.tag(k) not in (None, *PERSON_TAGS) and ctx.freq(k) > max_freq
               for k in ctx.words_in(a, b))


def ordinary_word_at(ctx: Context, pos: int) -> bool:
    """An ordinary dictionary word of two or more characters starts at ``pos`` (举行, 有期徒刑)."""
    k = ctx.index_at(pos)
    return k is not None and len(ctx.words[k]) >= 2 and ctx.tag(k) not in (None, *PERSON_TAGS) and \
        ctx.freq(k) > FREQ_ORDINARY_NEXT


def everyday(ctx: Context, w: str) -> bool:
    """An everyday dictionary word: frequent in jieba's dictionary, not tagged a person."""
    return (ctx.freqs.get(w) or 0) > EVERYDAY_FREQ and ctx.tags.get(w) not in PERSON_TAGS


def everyday_inside(ctx: Context, s: int, e: int) -> bool:
    """[s, e) is, or holds a whole, everyday word of two or more characters (巴克/海军, 海军 at 7,228; words
    jieba tags as names, such as 胡子, are caught by the frequency checks instead)."""
    return (e - s >= 2 and everyday(ctx, ctx.text[s:e])) or any(
        len(ctx.words[k]) >= 2 and everyday(ctx, ctx.words[k]) for k in ctx.words_in(s, e))


def everyday_given(ctx: Context, given: str) -> bool:
    """A given part that is an everyday two-character word (杨/树林, 王/国家, 戴/帽子): no given name."""
    return len(given) == 2 and (ctx.freqs.get(given) or 0) > FREQ_EVERYDAY_GIVEN and \
        ctx.tags.get(given) not in PERSON_TAGS


def stands_as_person(ctx: Context, s: int, e: int) -> bool:
    """[s, e) stands where a person does, not a thing: no numeral, measure word or demonstrative before it
    (一片/杨树林, 这片), no locative after it (杨树林/里, 中, 旁边)."""
    k = ctx.word_containing(s - 1) if s > 0 else None
    if k is not None and (ctx.tag(k) in ("m", "q", "mq", "r") or ctx.words[k][-1:].isdigit()):
        return False
    k = ctx.index_at(e)
    return k is None or ctx.tag(k) not in ("f", "s")


def listed_name(ctx: Context, s: int, e: int) -> bool:
    """[s, e) is one word jieba's dictionary lists as a person, rarely (at most 50), of 4 or more characters,
    starting with a Japanese surname (松下幸之助, 17): the model's veto (it learnt from Chinese news, few Japanese
    names) does not apply. (Not any such word: jieba also lists phrases so, 令狐冲扶, 伯爵夫人.)"""
    k = ctx.index_at(s)
    w = ctx.text[s:e]
    return k is not None and e - s >= 4 and len(ctx.words[k]) == e - s and \
        ctx.tag(k) in PERSON_TAGS and ctx.freq(k) <= FREQ_LISTED_JAPANESE and \
        any(w[:n] in ctx.lex.japanese_surnames for n in (1, 2, 3))
