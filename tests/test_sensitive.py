"""Sensitive-word masking: matching, evasions, the hygiene policy for public lists, building and caching."""
import json
import pickle
import random
import re
from importlib import resources
from pathlib import Path

import ahocorasick
import pytest

import tuwen.transforms.sensitive as S
from tuwen.transforms import (sensitive_cache, sensitive_canonical, sensitive_hygiene, sensitive_lexicons,
                              sensitive_matcher, sensitive_vocabulary)
from tuwen.transforms.sensitive import (MaskSensitiveWords, SensitiveConfig, canonical_entry, classify_public_entry,
                                        common_vocabulary, get_matcher)
from tuwen.transforms.text import NAME_TOKEN, TextCleaner

REPO = Path(__file__).resolve().parents[1]


def _lexicon(tmp_path, name, lines, trusted=False):
    p = tmp_path / name
    head = ["# test list"] + (["# tuwen-lexicon: trusted"] if trusted else [])
    p.write_text("\n".join(head + list(lines)) + "\n", encoding="utf-8")
    return str(p)


@pytest.fixture
def trusted_step(tmp_path):
    """Only a trusted list of our own (no shipped lists, no disk cache)."""
    lex = _lexicon(tmp_path, "t.txt", ["赌场", "色情网站", "falun", "冰毒", "屌"], trusted=True)
    return MaskSensitiveWords.from_paths([lex], default_lexicons=False, default_allowlist=False, cache_dir="")


@pytest.fixture
def public_step(tmp_path):
    """A noisy public list next to a small trusted one."""
    trusted = _lexicon(tmp_path, "t.txt", ["冰毒", "赌场"], trusted=True)
    public = _lexicon(tmp_path, "p.txt", ["草", "女", "一个", "黑狗", "援交", "出售冰毒", "哭泣的女人", "江泽",
                                          "江泽民", "tel", "ab", "12", "13800138000", "站起来", "大麻烟"])
    return MaskSensitiveWords.from_paths([trusted, public], default_lexicons=False, default_allowlist=False,
                                         cache_dir="")


def test_plain_match_becomes_as_many_stars_and_the_rest_is_untouched(trusted_step):
    assert trusted_step.mask("这里有赌场和人") == "这里有**和人"
    assert trusted_step.mask("一个干净的句子。") == "一个干净的句子。"
    assert trusted_step.find("") == []


@pytest.mark.parametrize("text, masked", [
    ("去赌 场玩", "去***玩"),                        # space between characters
    ("去赌.场玩", "去***玩"),                        # punctuation
    ("去赌\u200b场玩", "去***玩"),                   # zero-width space
    ("去賭場玩", "去**玩"),                          # traditional characters
    ("色 情-網\u200d站", "*" * 7),                  # mixed evasions in one span
    ("学ＦａＬＵＮ功", "学*****功"),                 # full-width, mixed case
    ("FaLuN", "*****"),
])
def test_evasive_spellings_are_found_and_their_whole_original_span_masked(trusted_step, text, masked):
    assert trusted_step.mask(text) == masked


def test_separators_outside_the_match_are_not_masked(trusted_step):
    assert trusted_step.mask("。赌场，") == "。**，"


def test_more_than_max_gap_separators_break_a_match(trusted_step):
    assert trusted_step.mask("赌。。。场") == "*****"
    assert trusted_step.mask("赌。。。。场") == "赌。。。。场"
    assert trusted_step.mask("赌 ... 场") == "赌 ... 场"


def test_max_gap_counts_separator_characters(tmp_path):
    lex = _lexicon(tmp_path, "t.txt", ["赌场"], trusted=True)
    step = MaskSensitiveWords.from_paths([lex], default_lexicons=False, default_allowlist=False, cache_dir="",
                                         max_gap=3)
    assert step.mask("赌...场") == "*****"
    assert step.mask("赌....场") == "赌....场"


def test_ascii_entries_match_whole_words_only(public_step):
    assert public_step.mask("hotel 很好") == "hotel 很好"
    assert public_step.mask("call tel 给我") == "call *** 给我"
    assert public_step.mask("Tel:13800138000") == "***:***********"


def test_public_single_characters_and_short_codes_never_match_alone(public_step):
    assert public_step.mask("草地上的女孩 ab 12") == "草地上的女孩 ab 12"


def test_trusted_single_character_matches(trusted_step):
    assert trusted_step.mask("你个屌") == "你个*"


def test_public_everyday_words_are_masked_only_next_to_a_strong_hit(public_step):
    assert public_step.mask("一只黑狗在草地上奔跑。") == "一只黑狗在草地上奔跑。"
    assert public_step.mask("哭泣的女人坐在地上。") == "哭泣的女人坐在地上。"
    assert public_step.mask("黑狗援交") == "****"
    far = "黑狗" + "在草地上跑了很久很久很久很久" + "援交"
    assert public_step.mask(far).startswith("黑狗")  # outside the context window


def test_public_specific_entries_and_entries_holding_a_trusted_word_are_masked(public_step):
    assert public_step.mask("他在援交") == "他在**"
    assert public_step.mask("网上出售冰毒啦") == "网上****啦"
    assert public_step.mask("大麻烟") == "***"


def test_a_public_fragment_inside_an_everyday_word_is_not_evidence(public_step):
    # 江泽 (public, specific) lies inside 江泽民 (public, a dictionary word): neither is masked.
    assert public_step.mask("江泽民主席访问") == "江泽民主席访问"
    assert public_step.mask("江泽同志") == "**同志"


def test_classification_reasons_on_the_real_dictionary():
    common = common_vocabulary()
    assert len(common) > 10000, "jieba's dictionary should be readable"

    def cls(w, trusted=None, allow=frozenset()):
        return classify_public_entry(canonical_entry(w), trusted, allow, common)

    assert cls("草").reason == "single_char"
    assert cls("一个") == (S.WEAK, "common_word")
    assert cls("黑狗").strength == S.WEAK
    assert cls("哭泣的女人") == (S.WEAK, "everyday_phrase")
    assert cls("1978年").strength == S.WEAK
    assert cls("援交") == (S.STRONG, "specific")
    assert cls("一个", allow=frozenset({"一个"})).reason == "allowlisted"
    assert cls("ab").reason == "short_ascii"
    assert cls("qq123") == (S.STRONG, "ascii_word")


def test_allowlists_remove_public_entries(tmp_path):
    public = _lexicon(tmp_path, "p.txt", ["援交", "出售冰毒"])
    allow = _lexicon(tmp_path, "a.txt", ["援交"])
    step = MaskSensitiveWords.from_paths([public], [allow], default_lexicons=False, default_allowlist=False,
                                         cache_dir="")
    assert step.mask("援交和出售冰毒") == "援交和****"


def test_no_match_crosses_or_enters_a_name_mask(trusted_step):
    assert trusted_step.mask(f"赌{NAME_TOKEN}场") == f"赌{NAME_TOKEN}场"


def test_through_the_cleaner_edits_are_in_raw_coordinates_and_merge_with_normalisation(trusted_step):
    raw = "我们去 賭\u200b場 吧ＡＢ"
    res = TextCleaner([trusted_step]).clean(raw)
    # normalize drops the zero-width space first; the sensitive edit takes over that edit (one edit, their union)
    assert res.text == "我们去 ** 吧AB"
    sens = [e for e in res.edits if e.step == "sensitive"]
    assert len(sens) == 1
    assert (sens[0].start, sens[0].end, sens[0].original, sens[0].replacement) == (4, 7, "賭\u200b場", "**")
    for e in res.edits:
        assert raw[e.start:e.end] == e.original


def test_no_removed_original_survives_in_the_cleaned_text(tmp_path):
    """Property: for random captions with inserted entries in random evasive spellings, the cleaned text never
    holds an entry again (not even with the separators taken out), and every edit's original is in the raw text."""
    words = ["赌场", "色情网站", "冰毒", "法轮功", "援交", "falun"]
    lex = _lexicon(tmp_path, "t.txt", words, trusted=True)
    step = MaskSensitiveWords.from_paths([lex], default_lexicons=False, default_allowlist=False, cache_dir="")
    cleaner = TextCleaner([step])
    rng = random.Random(7)
    fillers = ["一只狗在草地上跑。", "两个孩子在海边玩", "穿红衣服的女人", " A man rides a bike. ", "  "]
    seps = [" ", ".", "，", "\u200b", "\u200c", "*", "-", "\u3000"]
    for _ in range(300):
        w = rng.choice(words)
        if rng.random() < 0.3:
            w = w.upper() if w.isascii() else w.replace("场", "場").replace("网", "網")
        if rng.random() < 0.5:
            w = w[0] + "".join(rng.choice(seps) * rng.randint(1, 2) + c for c in w[1:])
        if rng.random() < 0.3:
            w = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in w)
        raw = rng.choice(fillers) + w + rng.choice(fillers)
        res = cleaner.clean(raw)
        canon = S.canonical_chars(res.text)
        stream = sensitive_canonical._SEPARATORS_RE.sub("", canon)
        for word in words:
            if word.isascii():  # ASCII entries are whole words
                assert word not in re.findall(r"[a-z0-9]+", canon), (raw, res.text)
            else:
                assert canonical_entry(word) not in stream, (raw, res.text)
        for e in res.edits:
            assert raw[e.start:e.end] == e.original


def test_step_pickles_as_its_config_and_the_matcher_is_built_once_per_process(tmp_path):
    lex = _lexicon(tmp_path, "t.txt", ["赌场"], trusted=True)
    step = MaskSensitiveWords.from_paths([lex], default_lexicons=False, cache_dir="")
    assert step.name == "sensitive"
    blob = pickle.dumps(step)
    assert len(blob) < 2000  # the config only, not 60k entries
    again = pickle.loads(blob)
    assert again.mask("赌场") == "**"
    assert again.matcher is step.matcher  # same config: same matcher object
    assert get_matcher(step.config) is step.matcher


def test_disk_cache_is_reused_and_keyed_by_the_lexicon_content(tmp_path):
    lex = _lexicon(tmp_path, "t.txt", ["赌场"], trusted=True)
    cfg = SensitiveConfig(lexicons=(lex,), default_lexicons=False, cache_dir=str(tmp_path / "cache"))
    first = get_matcher(cfg)
    files = list((tmp_path / "cache").rglob("*.pkl"))
    assert len(files) == 1
    sensitive_cache._MATCHERS.clear()
    loaded = get_matcher(cfg)
    assert loaded is not first and "赌场" in loaded.info
    Path(lex).write_text("# tuwen-lexicon: trusted\n毒品\n", encoding="utf-8")
    sensitive_cache._MATCHERS.clear()
    changed = get_matcher(cfg)
    assert "毒品" in changed.info and "赌场" not in changed.info
    assert len(list((tmp_path / "cache").rglob("*.pkl"))) == 2


def test_shipped_starter_lexicons_load_by_default_with_headers():
    names = S.default_lexicon_names()
    assert len(names) >= 5 and S.DEFAULT_ALLOWLIST not in names
    root = resources.files("tuwen.lexicons")
    for n in names + [S.DEFAULT_ALLOWLIST]:
        text = root.joinpath(n).read_text(encoding="utf-8")
        assert text.startswith("#") and "extend" in text.split("\n\n")[0].lower(), n
    step = MaskSensitiveWords(cache_dir="")
    assert step.mask("这是色情网站，卖毒品，开赌场") == "这是****，卖**，开**"
    assert step.mask("穿着连衣裙的小女孩在草地上奔跑。") == "穿着连衣裙的小女孩在草地上奔跑。"


# ---------------------------------------------------------------------------------------------------------------
# With the real 61k public list (../shared/data)
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def public61k(shared_data, tmp_path_factory):
    lex = shared_data / "lexicons" / "sensitive_public_61k.txt"
    cache = str(tmp_path_factory.mktemp("sens-cache"))
    captions = [c for line in open(shared_data / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")
                for c in json.loads(line)["captions"]]
    return lex, cache, captions


def _share_masked(step, captions):
    masked = sum(e - s for c in captions for s, e in step.matcher.spans(c))
    return masked / sum(len(c) for c in captions)


@pytest.mark.shared
@pytest.mark.slow
def test_61k_list_naively_masks_many_caption_characters_and_the_policy_almost_none(public61k):
    lex, cache, captions = public61k
    naive = MaskSensitiveWords.from_paths([lex], hygiene=False, default_lexicons=False, cache_dir=cache)
    assert _share_masked(naive, captions) > 0.05
    safe = MaskSensitiveWords.from_paths([lex], cache_dir=cache)
    assert _share_masked(safe, captions) <= 0.003


@pytest.mark.shared
def test_61k_list_keeps_sensitive_common_words_and_drops_noise(public61k):
    lex, cache, _ = public61k
    step = MaskSensitiveWords.from_paths([lex], cache_dir=cache)
    assert step.mask("一个女人牵着黑狗走在草地上") == "一个女人牵着黑狗走在草地上"
    assert step.mask("色情、毒品和赌场") == "**、**和**"
    assert step.mask("出售冰 毒，办理假身份證") == "*****，******"


@pytest.mark.shared
def test_61k_labelled_entries_are_found_when_inserted(public61k):
    lex, cache, captions = public61k
    step = MaskSensitiveWords.from_paths([lex], cache_dir=cache)
    entries = Path(lex).read_text(encoding="utf-8").splitlines()
    labels = [int(s) for s in (REPO / "bench" / "labels" / "sensitive_61k_labels.txt").read_text().split("\n")
              if s.strip() and not s.startswith("#")]
    assert len(labels) >= 200
    rng = random.Random(1)
    found = 0
    for n in labels:
        w = entries[n - 1].strip().strip("*")
        cap = rng.choice(captions)
        p = rng.randint(0, len(cap))
        text = cap[:p] + w + cap[p:]
        spans = step.matcher.spans(text)
        found += any(s <= p and p + len(w) <= e for s, e in spans)
    assert found / len(labels) >= 0.98


def test_a_user_allowlist_also_overrides_trusted_lists_but_the_shipped_one_does_not(tmp_path):
    trusted = _lexicon(tmp_path, "t.txt", ["大麻", "赌场"], trusted=True)
    allow = _lexicon(tmp_path, "a.txt", ["大麻"])
    step = MaskSensitiveWords.from_paths([trusted], [allow], default_lexicons=False, cache_dir="")
    assert step.mask("大麻纤维和赌场") == "大麻纤维和**"
    shipped = (resources.files("tuwen.lexicons") / S.DEFAULT_ALLOWLIST).read_text(encoding="utf-8")
    word = next(ln for ln in shipped.splitlines() if ln and not ln.startswith("#"))
    trusted2 = _lexicon(tmp_path, "t2.txt", [word], trusted=True)
    assert MaskSensitiveWords.from_paths([trusted2], default_lexicons=False, cache_dir="").mask(word) == \
        "*" * len(word)


def test_batch_canonicalisation_agrees_with_one_at_a_time():
    entries = ["賭 場", "ＦａＬｕｎ", "色.情", "a_b", "中共\u200b当局", "x", "WWW.Spam-Site.COM", "ＡＢ！＿Ｃ",
               "台\u3000独", "—", "", "__", "é_à", "色—情", "𠀀.𠀁", "\ud800x"]
    assert S.canonical_entries(entries) == [canonical_entry(e) for e in entries]
    assert S.canonical_entries([]) == []


def test_disk_cache_keeps_only_the_newest_files(tmp_path, monkeypatch):
    monkeypatch.setattr(sensitive_cache, "CACHE_KEEP", 2)
    cache = str(tmp_path / "cache")
    for i in range(4):
        lex = _lexicon(tmp_path, f"t{i}.txt", [f"词{i}甲"], trusted=True)
        get_matcher(SensitiveConfig(lexicons=(lex,), default_lexicons=False, cache_dir=cache))
    assert len(list((tmp_path / "cache").rglob("*.pkl"))) == 2


@pytest.mark.parametrize("text, masked", [
    ("收藏独特的邮票", "收藏独特的邮票"),
    ("舞台独唱", "舞台独唱"),
    ("彩色情侣装", "彩色情侣装"),
    ("一个大麻烦", "一个大麻烦"),
    ("支持台独分子", "支持**分子"),
    ("观看色情片", "观看***"),
    ("去赌场玩", "去**玩"),
    ("舞台.独唱", "舞***唱"),  # written with a separator between the characters: deliberate
])
def test_short_hits_glued_into_everyday_words_are_not_masked(text, masked):
    assert MaskSensitiveWords(cache_dir="").mask(text) == masked


# ---------------------------------------------------------------------------------------------------------------
# The fast build path gives the same answers as the plain one
# ---------------------------------------------------------------------------------------------------------------

def _common_vocabulary_line_by_line() -> frozenset:
    """The reference reading of jieba's dictionary: every line, its frequency parsed, the thresholds applied."""
    words = set()
    for line in sensitive_vocabulary._jieba_dictionary_path().read_text(encoding="utf-8").splitlines():
        m = re.match(r"(\S+) (\d+)", line)
        if m:
            w, f = m.group(1), int(m.group(2))
            if f >= S.COMMON_WORD_MIN_FREQ and (len(w) > 1 or f >= S.COMMON_CHAR_MIN_FREQ):
                words.add(canonical_entry(w))
    return frozenset(words)


def test_common_vocabulary_equals_a_line_by_line_reading_of_the_dictionary():
    assert sensitive_vocabulary._jieba_dictionary_path() is not None
    assert common_vocabulary() == _common_vocabulary_line_by_line()


def test_common_line_pattern_applies_the_thresholds():
    def words(text):
        return sensitive_vocabulary._common_words("\n" + text)
    lines = "一个 100 m\n两个 99 m\n三个 0100 n\n草 3000 n\n花 2999 n\n树 12000\n女人 1000000 n\n"
    assert words(lines) == ["一个", "三个", "草", "树", "女人"]


def test_long_text_translation_equals_str_translate():
    table = S.char_table()
    bmp = "".join(chr(c) for c in table if c < 0x10000)
    text = ("普通的中文 text\n" + bmp) * 40
    assert len(text) >= 100_000 and sensitive_canonical._translate_long(text) == text.translate(table)
    astral = text + "".join(chr(c) for c in table if c >= 0x10000) + "\U00020000"
    assert sensitive_canonical._translate_long(astral) == astral.translate(table)
    assert sensitive_canonical._translate_long("賭場ＡＢ") == "赌场ab"


def test_made_of_common_words_agrees_with_a_plain_search():
    common = common_vocabulary()

    def plain(key, max_word=6):  # every cut, recursively
        key = re.sub("[0-9]+", "0", key)
        return key == "" or any((key[:j] in common or key[:j] == "0") and plain(key[j:]) for j in
                                range(1, min(len(key), max_word) + 1))
    rng = random.Random(3)
    pool = "黑狗女人一个的哭泣援交冰毒0123草地上奔跑大麻烦x"
    keys = ["", "黑", "黑狗", "3个", "20年", "0年", "援交", "哭泣的女人", "1978年", "为人民服务", "江泽民"]
    keys += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 6))) for _ in range(400)]
    for k in keys:
        assert S.made_of_common_words(k, common) == plain(k), k


def test_batch_classification_agrees_with_one_entry_at_a_time():
    common = common_vocabulary()
    entries = ["草", "一个", "黑狗", "哭泣的女人", "1978年", "援交", "ab", "qq123", "123", "13800138000", "出售冰毒",
               "冰毒网", "江泽民", "江泽", "3个", "为人民服务", "六四惨案", "女人", "大麻烟", "的"]
    keys = [canonical_entry(e) for e in entries]
    trusted = ahocorasick.Automaton()
    trusted.add_word("冰毒", "冰毒")
    trusted.make_automaton()
    holders = {keys[i] for i in sensitive_hygiene._lines_holding(trusted, keys)}
    allow = frozenset({"女人"})
    reasons = set()
    for min_chars in (1, 2, 3):
        one = [classify_public_entry(k, trusted, allow, common, min_chars) for k in keys]
        assert S.classify_public_entries(keys, holders, allow, common, min_chars) == one
        reasons.update(c.reason for c in one)
    assert reasons == {"single_char", "allowlisted", "common_word", "common_words", "contains_trusted", "specific",
                       "everyday_phrase", "short_ascii", "ascii_word", "number", "short_number"}


def test_matcher_pickles_with_info_packed_and_unpacks_it_on_first_use(public_step):
    m = public_step.matcher
    loaded = pickle.loads(pickle.dumps(m))
    assert loaded._info is None  # not unpacked until asked for
    assert list(loaded.info.items()) == list(m.info.items())
    assert loaded.stats == m.stats and loaded.junction_words == m.junction_words
    text = "一只黑狗援交，出售冰毒 tel 13800138000"
    assert loaded.spans(text) == m.spans(text) and loaded.spans(text)
    again = pickle.loads(pickle.dumps(loaded))
    assert again.info == m.info
    odd = S.SensitiveMatcher(m.automaton, {"a\nb": (2, "specific", "a\nb", "x")}, {})
    assert pickle.loads(pickle.dumps(odd)).info == {"a\nb": (2, "specific", "a\nb", "x")}
    assert pickle.loads(pickle.dumps(S.SensitiveMatcher(m.automaton, {}, {}))).info == {}


def test_lexicon_files_read_as_open_reads_them(tmp_path):
    p = tmp_path / "l.txt"
    p.write_bytes("\ufeff# tuwen-lexicon: trusted\r\n赌场\r\n毒品\r大麻\n".encode("utf-8"))
    lex = S.read_lexicon(str(p))
    assert lex.entries == ("赌场", "毒品", "大麻") and lex.trusted
    with open(p, encoding="utf-8-sig") as f:
        assert sensitive_lexicons._read_text(p, "utf-8-sig") == f.read()


def test_opencc_pairs_equal_a_line_by_line_reading():
    def plain(path):  # the character, and its first conversion, of the lines where both are one character
        out = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2 and len(parts[0]) == 1 and len(parts[1].split(" ")[0]) == 1:
                    out.append((parts[0], parts[1].split(" ")[0]))
        return out
    d = sensitive_canonical._opencc_dictionary_dir()
    assert d is not None
    for name in ("TSCharacters.txt", "TWVariantsRev.txt", "HKVariantsRev.txt"):
        assert sensitive_canonical._read_opencc_pairs(d / name) == plain(d / name)


def test_parse_lexicon_reads_entries_comments_and_the_trusted_directive():
    lex = S.parse_lexicon("# a list\n\n  赌场 \n#tuwen-lexicon: trusted\n毒品\n\n", "x")
    assert lex.entries == ("赌场", "毒品") and lex.trusted
    assert not S.parse_lexicon("赌场\n# plain comment\n", "x").trusted
    assert S.parse_lexicon("# tuwen-lexicon: trusted\n赌场\n", "x", trusted=False).trusted is False
    assert S.parse_lexicon("", "x").entries == ()


@pytest.mark.shared
def test_61k_batch_classification_agrees_with_one_entry_at_a_time(public61k):
    lex, _, _ = public61k
    step = MaskSensitiveWords.from_paths([lex], cache_dir="")
    m = step.matcher
    trusted_lists, allowlists, _ = S.load_lexicons(step.config)
    trusted_ac = ahocorasick.Automaton()
    for lx in trusted_lists[:-1]:
        for k in S.canonical_entries(lx.entries):
            if len(k) >= 2 or not k.isascii():  # as build_matcher does
                trusted_ac.add_word(k, k)
    trusted_ac.make_automaton()
    allow = frozenset(k for a in allowlists for k in S.canonical_entries(a.entries))
    common = common_vocabulary()
    public = [k for k, (_, _, _, src) in m.info.items() if src == str(lex)]
    assert len(public) > 50000
    for k in public:
        assert m.info[k][:2] == tuple(classify_public_entry(k, trusted_ac, allow, common)), k


# ---------------------------------------------------------------------------------------------------------------
# Public entries classified on first use, info made when asked for
# ---------------------------------------------------------------------------------------------------------------

def _built(step) -> S.SensitiveMatcher:
    """A matcher for ``step``'s config built anew (neither the process's nor the disk cache)."""
    lexicons, allowlists, user_allowlists = S.load_lexicons(step.config)
    return S.build_matcher(lexicons, allowlists, step.config.hygiene, step.config.min_chars, user_allowlists)


def _same_masks_lazy_eager_and_loaded(step, texts) -> S.SensitiveMatcher:
    lazy, eager = _built(step), _built(step)
    loaded = pickle.loads(pickle.dumps(_built(step)))  # as the disk cache gives it
    assert eager.info and not lazy._deferred.reasons  # eager: every entry classified before any matching
    for t in texts:
        assert lazy.matches(t) == eager.matches(t) == loaded.matches(t), t
        assert lazy.spans(t) == eager.spans(t) == loaded.spans(t), t
    found = dict(lazy._deferred.reasons)
    assert found  # classified as found, as info classifies them
    assert all(lazy.info[k][1] == r for k, r in found.items())
    assert list(loaded.info.items()) == list(eager.info.items()) and loaded.stats == eager.stats
    return lazy


def test_entries_classified_on_first_use_mask_as_when_all_are_classified_first(public_step):
    texts = ["一只黑狗援交，出售冰毒 tel 13800138000", "哭泣的女人在江泽民像前", "大麻烟和一个女人", "站起来", "草地",
             "", "黑 狗", "援交女人", "hotel tel"]
    lazy = _same_masks_lazy_eager_and_loaded(public_step, texts)
    assert lazy.stats["entries"] == 2 + 15 and lazy.stats["common_word"] >= 1


def test_the_automaton_finds_what_a_plainly_built_one_finds(public_step):
    m = public_step.matcher
    items = list(m.automaton.items())
    plain = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for k, v in sorted(items):
        plain.add_word(k, v)
    plain.make_automaton()
    ordered = sensitive_matcher._automaton([k for k, _ in items], [(v >> 2) & 3 or S.DEFERRED for _, v in items])
    assert sorted(ordered.items()) == sorted(items)
    for text in ["一只黑狗援交出售冰毒", "tel13800138000江泽民", "哭泣的女人站起来", "草女一个ab12"]:
        assert list(ordered.iter(text)) == list(plain.iter(text))


@pytest.mark.shared
def test_61k_entries_classified_on_first_use_mask_as_when_all_are_classified_first(public61k):
    lex, _, captions = public61k
    entries = [e for e in Path(lex).read_text(encoding="utf-8").splitlines() if e.strip()]
    rng = random.Random(7)
    texts = captions[:3000]
    for _ in range(1500):  # captions with list entries dropped in, some of them spelled with separators
        cap, w = rng.choice(captions), rng.choice(entries)
        p = rng.randint(0, len(cap))
        texts.append(cap[:p] + (" ".join(w) if rng.random() < 0.3 else w) + cap[p:])
    step = MaskSensitiveWords.from_paths([lex], cache_dir="")
    lazy = _built(step)
    for t in texts:
        lazy.spans(t)
    assert 0 < len(lazy._deferred.reasons) < 5000  # a masking run classifies only the entries it meets
    _same_masks_lazy_eager_and_loaded(step, texts)


@pytest.mark.parametrize("module", ["sensitive_lexicons", "sensitive_canonical", "sensitive_vocabulary",
                                    "sensitive_packing", "sensitive_hygiene", "sensitive_matcher", "sensitive_cache",
                                    "sensitive"])
def test_each_sensitive_module_imports_first_on_its_own(module):
    """No import circle: every module loads in a fresh interpreter with nothing imported before it."""
    import subprocess
    import sys
    subprocess.run([sys.executable, "-c", f"import tuwen.transforms.{module}"], check=True)


def test_the_public_names_are_the_ones_of_the_modules_that_define_them():
    assert S.MaskSensitiveWords.__module__ == "tuwen.transforms.sensitive"
    assert S.SensitiveConfig is sensitive_cache.SensitiveConfig and S.get_matcher is sensitive_cache.get_matcher
    assert S.SensitiveMatcher is sensitive_matcher.SensitiveMatcher
    assert all(hasattr(S, name) for name in S.__all__)
