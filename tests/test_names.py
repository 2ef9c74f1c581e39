import json
import pickle
import re

import numpy as np
import pytest

from bench_modules import bench_module
from tuwen.transforms.names import PersonNames
from tuwen.transforms.text import NAME_TOKEN, TextCleaner


@pytest.fixture(scope="module")
def names():
    return PersonNames()


@pytest.fixture(scope="module")
def cleaner(names):
    return TextCleaner([names])


def masked(cleaner, text):
    return cleaner.clean(text).text


def test_step_is_called_names(names):
    assert names.name == "names"


@pytest.mark.parametrize("text, expected", [
    ("他叫张伟。", f"他叫{NAME_TOKEN}。"),                       # surname + one given character
    ("记者王霞光报道", f"记者{NAME_TOKEN}报道"),                   # three characters after a title
    ("欧阳修的醉翁亭记", f"{NAME_TOKEN}的醉翁亭记"),               # compound surname
    ("诸葛亮草船借箭", f"{NAME_TOKEN}草船借箭"),
])
def test_chinese_names_are_masked(cleaner, text, expected):
    assert masked(cleaner, text) == expected


def test_transliterated_name_with_dot_is_masked_whole(cleaner):
    assert masked(cleaner, "约翰·克里访问北京") == f"{NAME_TOKEN}访问北京"
    assert masked(cleaner, "科菲·安南说") == f"{NAME_TOKEN}说"


@pytest.mark.parametrize("text, expected", [
    ("王芳和她的狗", f"{NAME_TOKEN}和她的狗"),              # 和 ends no name
    ("马丽和马在草原上合影", f"{NAME_TOKEN}和马在草原上合影"),  # 马 the horse, not 马丽 again
    ("顾长卫很顾家", f"{NAME_TOKEN}很顾家"),                  # 顾家: family-minded
    ("小孩应由大人看护", "小孩应由大人看护"),
    ("一只可爱的西施犬", "一只可爱的西施犬"),                  # the dog breed, not 西施
    ("圣保罗的街头", "圣保罗的街头"),
    ("斯大林格勒战役", "斯大林格勒战役"),
    ("一块拿破仑蛋糕", "一块拿破仑蛋糕"),
    ("李老师说", f"{NAME_TOKEN}老师说"),                      # the title stays (it was masked whole)
    ("王副市长来了", f"{NAME_TOKEN}副市长来了"),
    ("李副主任说", f"{NAME_TOKEN}副主任说"),
    ("张伟副主任说", f"{NAME_TOKEN}副主任说"),
])
def test_review_cases_of_over_masking_stay_fixed(cleaner, text, expected):
    assert masked(cleaner, text) == expected


def test_a_name_inside_a_dictionary_word_is_never_cut_mid_word(cleaner):
    """雷锋精神 is one word to jieba: never 雷锋精/神. The name alone before the word 精神 is a name run that ends
    where a word of its own goes on (克林顿/政府), which the model may be certain of (the shipped one is)."""
    assert masked(cleaner, "雷锋精神代代传") in ("雷锋精神代代传", f"{NAME_TOKEN}精神代代传")


def test_a_surname_alone_after_the_full_name_is_the_same_person(cleaner):
    assert masked(cleaner, "王树斌的房间，请王在会上发言") == f"{NAME_TOKEN}的房间，请{NAME_TOKEN}在会上发言"
    # (unless the model rules the surname out: since the retraining on résumés and dialogue it gives 刘 in
    # 刘涛说，刘对此不予考虑 0.14, under MODEL_TRUST, and that one is missed)
    assert masked(cleaner, "陈刚说，陈对此一无所知") == f"{NAME_TOKEN}说，{NAME_TOKEN}对此一无所知"
    assert masked(cleaner, "记者袁明报道，袁的请求被拒绝") == f"记者{NAME_TOKEN}报道，{NAME_TOKEN}的请求被拒绝"
    assert masked(cleaner, "王在会上发言") == "王在会上发言"  # no full name: 王 may be a king
    assert masked(cleaner, "刘涛说，春节前后到刘家拜年的人很多") == \
        f"{NAME_TOKEN}说，春节前后到{NAME_TOKEN}家拜年的人很多"  # the family
    assert masked(cleaner, "王明住在王家村") == f"{NAME_TOKEN}住在王家村"  # a village


def _with_probs(text: str, probs: dict) -> list:
    """The step's spans in ``text`` when the character model gives the characters at the positions in ``probs``
    those probabilities and every other one none (proposed: at 0.5 or above), whatever the shipped networks say."""
    from tuwen.transforms.names.tagger_runs import with_model

    step = PersonNames()
    ctx, found = step._rule_spans(text)
    p = np.zeros(len(text), dtype=np.float32)
    for i, v in probs.items():
        p[i] = v
    return sorted(text[s:e] + f"@{s}" for s, e in with_model(step._kb, ctx, found, p, p >= 0.5))


def test_rules_that_do_not_lean_on_the_model():
    # a surname before a title of two or more characters stands whatever the model says (it may give it no chance)
    assert _with_probs("他在县委魏常委与老干部们", {}) == ["魏@4"]
    assert _with_probs("李老师在上课", {}) == ["李@0"]
    # a lone surname the model is certain of, but the word after it is an everyday word that would be its given
    # name: the rules refuse 王国家, and 王 alone is no better reading; a title after it is no given name
    assert _with_probs("王国家的事", {0: 0.99}) == []
    assert _with_probs("有人开玩笑说，金先生这是赏对联呢", {7: 0.99}) == ["金@7"]
    # the surname of a name found before, standing before an adverb, is that person
    assert _with_probs("陈刚说，陈对此一无所知", {0: 0.99, 1: 0.99, 4: 0.5}) == ["陈@4", "陈刚@0"]
    # surname + 家 after an adverb is a predicate (顾家: family-minded), not the family
    assert _with_probs("顾长卫很顾家", {0: 0.99, 1: 0.99, 2: 0.99, 4: 0.5}) == ["顾长卫@0"]
    assert _with_probs("刘涛说，春节前后到刘家拜年的人很多", {0: 0.99, 1: 0.99, 9: 0.5}) == ["刘@9", "刘涛@0"]


def test_a_dictionary_name_the_model_all_but_rules_out_is_dropped():
    # jieba's dictionary tags 余震 (aftershocks) a person, and the rules take it; a model that gives it 0.03 vetoes
    # it (MODEL_VETO was 0.01, which kept it), one that gives it 0.06 lets it stand
    assert _with_probs("偶尔还是会有余震。", {6: 0.03, 7: 0.03}) == []
    assert _with_probs("偶尔还是会有余震。", {6: 0.06, 7: 0.06}) == ["余震@6"]


@pytest.mark.parametrize("text", [
    "即使现在，偶尔还是会有余震。",  # Tatoeba
    "美国化学会给研讨会发来了贺信。",  # People's Daily
    "一群童子军徒步穿越草地。",  # a machine-translated Flickr8k caption
    "人的情感和灵魂一定会被陶冶得像雪山一样晶莹。",  # MSRA
])
def test_everyday_words_jieba_tags_a_person_stay_unmasked(cleaner, text):
    # the shipped networks give each at most 0.03 (so the rules' find stood at the veto of 0.01)
    assert masked(cleaner, text) == text


@pytest.mark.parametrize("text, expected", [
    ("一位姓张的老伯对我说", f"一位姓{NAME_TOKEN}的老伯对我说"),
    ("他姓欧阳，名修", f"他姓{NAME_TOKEN}，名修"),
    ("老百姓的生活", "老百姓的生活"),
])
def test_the_surname_a_person_is_said_to_have_is_masked(cleaner, text, expected):
    assert masked(cleaner, text) == expected


@pytest.mark.parametrize("text, name", [
    ("对方英梅来说，这是第一次", "方英梅"),        # jieba: 对方 (the other side) / 英梅
    ("几年下来，林景文种了一茬又一茬的", "林景文"),  # jieba: 林景 / 文种
    ("去年9月上旬，小袁到村组检查", "袁"),          # jieba's HMM: 小 / 袁到
    ("能不能托项市长找两间房", "项"),                # jieba's HMM: 托项 / 市长
])
def test_a_name_jieba_glued_to_a_neighbouring_character_is_found(cleaner, text, name):
    out = masked(cleaner, text)
    assert out == text.replace(name, NAME_TOKEN, 1), out


def test_a_leaders_government_keeps_the_leaders_name(cleaner):
    assert masked(cleaner, "要求瓦杰帕伊政府辞职") == f"要求{NAME_TOKEN}政府辞职"


def test_a_transliterated_name_does_not_take_in_the_preposition_after_it(cleaner):
    assert masked(cleaner, "总统克瓦希涅夫斯基于1997年访华") == f"总统{NAME_TOKEN}于1997年访华"
    assert masked(cleaner, "徐倩雯和亚罗约站在雪山顶。") == f"{NAME_TOKEN}和{NAME_TOKEN}站在雪山顶。"  # 约 stays


@pytest.mark.parametrize("text, expected", [
    # a rule read 汤 + 姆有 (a surname and two given characters), 汤姆 + 将 (a cut-off given character), 玛丽 +
    # 让 (a transliteration): the model rules out the verb or adverb, a word of its own, so it stays
    ("汤姆有很多钱。", f"{NAME_TOKEN}有很多钱。"),
    ("汤姆将忙于在明天的这个时候。", f"{NAME_TOKEN}将忙于在明天的这个时候。"),
    ("玛丽让我坐在她的旁边。", f"{NAME_TOKEN}让我坐在她的旁边。"),
    # a rule and the model read 汤 + 姆正 across jieba's words 汤姆 (a name) and 正在: the name word ends it
    ("汤姆正在看书。", f"{NAME_TOKEN}正在看书。"),
    # ... and a transliteration read across the function word before a name word (让/汤姆)
    ("我会让汤姆告诉你。", f"我会让{NAME_TOKEN}告诉你。"),
    # jieba's dictionary lists 和玛丽 as a name: after a word, it is the joiner and a name
    ("汤姆和玛丽是朋友。", f"{NAME_TOKEN}和{NAME_TOKEN}是朋友。"),
    ("我和玛丽去了公园。", f"我和{NAME_TOKEN}去了公园。"),
    # ... but 和 is a surname too: a name that opens a clause keeps it
    ("为使农民尽快富起来，和万春还帮助农民架桥", f"为使农民尽快富起来，{NAME_TOKEN}还帮助农民架桥"),
])
def test_a_name_in_everyday_text_does_not_take_in_the_word_beside_it(cleaner, text, expected):
    assert masked(cleaner, text) == expected


def test_transliterated_name_after_a_title_is_masked(cleaner):
    assert masked(cleaner, "美国总统克林顿今天发表讲话") == f"美国总统{NAME_TOKEN}今天发表讲话"


def test_japanese_name_is_masked(cleaner):
    assert masked(cleaner, "桥本龙太郎首相") == f"{NAME_TOKEN}首相"


def test_surname_with_title_or_familiar_prefix_masks_the_surname(cleaner):
    assert masked(cleaner, "李老师在上课") == f"{NAME_TOKEN}老师在上课"
    assert masked(cleaner, "他在县委魏常委与老干部们") == f"他在县委{NAME_TOKEN}常委与老干部们"
    assert masked(cleaner, "老张说") == f"老{NAME_TOKEN}说"
    assert masked(cleaner, "小李和小王去爬山") == f"小{NAME_TOKEN}和小{NAME_TOKEN}去爬山"


def test_names_in_traditional_script_are_masked_in_place(cleaner):
    assert masked(cleaner, "他叫張偉。") == f"他叫{NAME_TOKEN}。"
    assert masked(cleaner, "記者王霞光報道") == f"記者{NAME_TOKEN}報道"
    assert masked(cleaner, "一隻白色的貓趴在沙發上") == "一隻白色的貓趴在沙發上"


def test_name_at_the_head_of_a_longer_word_is_masked(cleaner):
    assert masked(cleaner, "学习邓小平理论") == f"学习{NAME_TOKEN}理论"


@pytest.mark.parametrize("text, name", [
    ("据了解，朱力行已经在国内外", "朱力行"),        # jieba: 朱/力行 (力行 an ordinary word)
    ("了解赵致真的人知道", "赵致真"),                 # jieba: 赵致/真的 — the name runs into 真的
    ("教汉语多年的白乐桑十分振奋", "白乐桑"),         # an ambiguous surname, a name jieba does not know
])
def test_names_that_jieba_cuts_wrongly_are_found_from_the_surname(cleaner, text, name):
    assert masked(cleaner, text) == text.replace(name, NAME_TOKEN)


@pytest.mark.parametrize("text, expected", [
    ("从蒋天才的悔悟中", f"从{NAME_TOKEN}的悔悟中"),          # 蒋/天才: the name model outweighs the word 天才
    ("合作时，罗干说，中方", f"合作时，{NAME_TOKEN}说，中方"),  # jieba's dictionary has 罗干 as a place
    ("严良和李培智都来了", f"{NAME_TOKEN}和{NAME_TOKEN}都来了"),  # 严良 (an adjective to jieba) beside a name
    ("泰国总理差瓦立·永猜裕说", f"泰国总理{NAME_TOKEN}说"),      # a middle dot between two unknown words
])
def test_name_model_and_context_recover_names_jieba_tags_otherwise(cleaner, text, expected):
    assert masked(cleaner, text) == expected


@pytest.mark.parametrize("text", [
    "王国家的事",       # 王/国家: an everyday word is no given name
    "杨树林里有鸟",     # jieba tags 杨树林 nr
    "张家界的风景",
    "江苏表示欢迎",     # a place before a verb of saying
])
def test_surname_plus_everyday_word_is_not_a_name(cleaner, text):
    assert masked(cleaner, text) == text


def test_transliterated_name_jieba_tags_a_place_is_masked_after_a_title(cleaner):
    assert masked(cleaner, "巴西足球队教练扎加洛今天在") == f"巴西足球队教练{NAME_TOKEN}今天在"


def test_japanese_surname_and_given_name_that_is_also_a_word(cleaner):
    assert masked(cleaner, "他会见了武村正义。") == f"他会见了{NAME_TOKEN}。"
    assert masked(cleaner, "桥本的讲话") == f"{NAME_TOKEN}的讲话"


@pytest.mark.parametrize("text", [
    "南部的丘布特省也开始遭灾",     # a transliterated place: 省 follows
    "美国休斯公司正在试图",         # a company
    "一纸下岗通知书改变了他的命运",  # jieba tags 通知书 nr; its characters are not a name's
    "记者可先休息后再作报道",
])
def test_places_companies_and_ordinary_words_are_not_names(cleaner, text):
    assert masked(cleaner, text) == text


def test_a_name_does_not_take_in_the_start_of_the_next_word(cleaner):
    assert masked(cleaner, "记者薛原报道") == f"记者{NAME_TOKEN}报道"
    assert "海军少将" in masked(cleaner, "舰队司令巴克海军少将")


@pytest.mark.parametrize("text", [
    "一只白色的猫趴在沙发上",
    "穿着连衣裙的小女孩。",
    "穿蓝夹克的男孩",
    "一个男人胡子和眼镜",
    "小女孩滑雪坡。",
    "一个穿着蓝白相间的制服的男孩",
    "留着白胡子的老人",
    "妇女儿童频道",
    "两个孩子在草地上踢足球",
    "穿红衣服的女孩在公园里放风筝",
    "黄河边的小村庄",
    "一群人在黄山看日出",
    "老黄牛在田里耕地",
    "在莫斯科会见了记者",
    "阿根廷和巴西的比赛",
    "他明白了大家的祝福",
    "8000张门票已经售完",
    "和朋友们一起去海边",
])
def test_ordinary_captions_are_left_alone(cleaner, text):
    assert masked(cleaner, text) == text


def test_a_caption_that_was_only_a_name_has_no_chinese_left(cleaner):
    r = cleaner.clean("张伟")
    assert r.text == NAME_TOKEN and r.dropped == ("text", "no_chinese")


def test_edits_are_labelled_names_and_point_at_the_raw_name(cleaner):
    raw = "他叫张伟。"
    r = cleaner.clean(raw)
    assert [(e.step, e.original, e.replacement) for e in r.edits] == [("names", "张伟", NAME_TOKEN)]
    assert raw[r.edits[0].start:r.edits[0].end] == "张伟"


def test_text_without_ideographs_gives_no_replacements(names):
    assert names.find("hello world 123") == [] and names.find("") == []


def test_replacements_do_not_overlap(names):
    reps = names.find("约翰·克里和科菲·安南、王晨、何伟在会上说")
    assert reps
    assert all(a.end <= b.start for a, b in zip(reps, reps[1:]))


def test_step_pickles_and_finds_the_same_afterwards(names):
    again = pickle.loads(pickle.dumps(names))
    text = "记者王霞光报道：美国总统克林顿今天说"
    assert again.find(text) == names.find(text) != []
    assert len(pickle.dumps(names)) < 1000  # configuration only; jieba is loaded in the worker


def _read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(ln) for ln in f]


@pytest.mark.shared
@pytest.mark.slow
def test_peoples_daily_recall_and_precision_stay_above_the_measured_floor(shared_data, names):
    """Floors a little under what bench/names_quality.py measured on the whole file (recall 0.952, precision
    0.960, 6 of 884 names partly masked; the issue's goals: 0.95 and 0.85), so that a change that loses ground
    fails."""
    rows = _read_jsonl(shared_data / "names" / "peoples_daily_ner_dev.jsonl")
    masks = {}
    for r, found in zip(rows, names.find_many([r["text"] for r in rows])):
        masks[r["text"]] = {j for rep in found for j in range(rep.start, rep.end)}
    res, _ = bench_module("names_quality").evaluate(rows, masks.__getitem__)
    recall, precision, partly = res["recall"], res["precision"], res["partly"]  # partly: left partly in plain sight
    assert recall >= 0.945, recall  # measured 0.952 (bench/names_quality.py)
    assert precision >= 0.95, precision  # measured 0.960
    assert partly <= 10, partly  # measured 6


@pytest.mark.shared
@pytest.mark.slow
def test_photo_captions_without_names_are_rarely_masked(shared_data, names):
    """Flickr8k-CN captions describe strangers in photos: at most 0.2 % of them may get a mask (0.08 % measured
    on the even lines, 0.05 % on the odd ones, whose false masks nobody looked at; 0.27 % with one network instead
    of two, 0.58 % before names/everyday.py)."""
    pairs = _read_jsonl(shared_data / "flickr8k_cn" / "pairs.jsonl")
    for part in (pairs[0::2], pairs[1::2]):
        caps = [c for r in part for c in r["captions"]]
        masked_share = sum(1 for found in names.find_many(caps) if found) / len(caps)
        assert masked_share <= 0.002, masked_share


@pytest.mark.shared
@pytest.mark.slow
def test_names_in_photo_captions_are_found(shared_data, names):
    """bench/names_quality.py's captions with gold names as their subject (罗干骑车) or a pet's owner: recall 0.961
    and precision 0.995 measured on both halves."""
    bench = bench_module("names_quality")
    news = _read_jsonl(shared_data / "names" / "peoples_daily_ner_dev.jsonl")
    caps = [c for r in _read_jsonl(shared_data / "flickr8k_cn" / "pairs.jsonl") for c in r["captions"]]
    gold = sorted({g["text"] for r in news for g in r["names"] if len(g["text"]) >= 2})
    rows = bench.captions_with_names(caps, gold, 0)
    assert len(rows) > 1500
    res, _ = bench.evaluate(rows, lambda t: bench.masked_positions(names.find, t))
    assert res["recall"] >= 0.95, res
    assert res["precision"] >= 0.97, res


def test_name_model_scores_names_above_ordinary_words():
    from tuwen.transforms.names.resources import jieba_tables

    model = jieba_tables()[3]
    for name in ("张洁清", "方炳祯", "邝日容"):
        assert model.score(name[0], name[1:]) > 5.0, name
    for word in ("白色的", "方面", "路上"):
        assert model.score(word[0], word[1:]) < 1.0, word
    assert model.translit_score("奥利塞赫") > model.translit_score("美国")


def test_character_model_loads_and_scores_names_above_their_context():
    from tuwen.transforms.name_tagger import load_tagger

    tagger = load_tagger()
    assert tagger.meta["excluded"] == ["peoples_daily_ner_dev.jsonl"]  # trained without the bench's sentences
    assert all(0.05 < m.meta["f1_threshold"] < 0.95 for m in tagger.members)
    text = "国务院副总理钱其琛会见了美国客人。"
    p = tagger.probabilities(text)
    assert p.shape == (len(text),)
    name = slice(text.index("钱其琛"), text.index("钱其琛") + 3)
    assert p[name].min() > 0.5 and max(p[:name.start].max(), p[name.stop:].max()) < 0.2
    assert tagger.spans(text) == [(name.start, name.stop)]
    assert tagger.spans("") == [] and tagger.spans("一只狗在草地上奔跑。") == []


def test_character_model_inputs_stay_inside_their_tables():
    from tuwen.transforms.name_tagger import jieba_words, load_tagger

    shipped = load_tagger()
    assert shipped.meta["kind"] == "ensemble" and len(shipped.members) >= 2
    for tagger in shipped.members:
        assert tagger.meta["kind"] == "conv"
        feats = tagger.features
        for text in ("a", "Ｆ１赛车手舒马赫说：ok 123", "𠀀生僻字，和未知字"):
            words, tags, freqs = jieba_words(text)
            ids, pos = feats.inputs([text], [words], tags, freqs)
            assert len(pos) == len(text) and ids.min() >= 0
            assert all(ids[:, g].max() < n == len(tagger.emb[g]) for g, n in enumerate(feats.sizes))
            assert ids[pos[0], 0] == 1 or text != "𠀀生僻字，和未知字"  # a character training never saw: unknown
            gaps = np.setdiff1d(np.arange(len(ids)), pos)
            assert (ids[gaps] == 0).all() and len(gaps) == 2 * feats.GAP


@pytest.mark.parametrize("dilations", [None, [2, 4, 8]])
def test_numpy_inference_is_the_torch_network_it_was_trained_as(dilations):
    # tools/train_name_tagger.py trains with torch's Conv1d over the same layout; the product runs numpy. A random
    # network of the shipped shape (and one that reaches further, with a wider gap between texts) gives the same
    # logits both ways (so the trained weights mean the same).
    import torch

    from tuwen.transforms.name_tagger import ConvFeatures, ConvNameTagger, conv_gap, jieba_words, load_tagger

    shipped = load_tagger().members[0]
    feats, hidden = shipped.features, shipped.meta["hidden"]
    if dilations is None:
        dilations = shipped.meta["dilations"]
    else:
        narrow = feats
        feats = ConvFeatures(feats.chars, feats.tagset, feats.bigram_buckets, conv_gap(dilations))
        assert feats.GAP == 8 and narrow.GAP == 4
    gen = torch.Generator().manual_seed(0)
    embs = [torch.randn(n, d, generator=gen) for n, d in zip(feats.sizes, shipped.meta["dims"])]
    convs = [(torch.randn(hidden, sum(shipped.meta["dims"]), 5, generator=gen) * 0.1, torch.randn(hidden, generator=gen), 1)]
    convs += [(torch.randn(hidden, hidden, 3, generator=gen) * 0.1, torch.randn(hidden, generator=gen), d)
              for d in dilations]
    out_w, out_b = torch.randn(hidden, 1, generator=gen), torch.randn(1, generator=gen)
    arrays = {f"emb{g}": e.numpy() for g, e in enumerate(embs)}
    for i, (w, b, _) in enumerate(convs):
        arrays[f"conv{i}_w"], arrays[f"conv{i}_b"] = w.permute(2, 1, 0).numpy(), b.numpy()
    arrays["out_w"], arrays["out_b"] = out_w.numpy(), out_b.numpy()
    meta = dict(shipped.meta, dilations=list(dilations))
    tagger = ConvNameTagger(feats, arrays, 0.5, meta)
    if feats is not shipped.features:
        with pytest.raises(ValueError):
            ConvNameTagger(shipped.features, arrays, 0.5, meta)  # a gap of 4: texts of a batch would see each other

    texts = ["国务院副总理钱其琛会见了美国客人。", "张", "一只狗在草地上奔跑，旁边是穿红衣服的女孩。"]
    cuts = [jieba_words(t) for t in texts]
    ids, pos = feats.inputs(texts, [c[0] for c in cuts], cuts[0][1], cuts[0][2])
    mask = np.zeros((len(ids), 1), dtype=np.float32)
    mask[pos] = 1
    ours = tagger.logits_layout(ids, mask)[pos, 0]

    x = torch.cat([e[torch.from_numpy(ids[:, g])] for g, e in enumerate(embs)], 1).T[None]
    m = torch.from_numpy(mask).T[None]
    h = None
    for i, (w, b, d) in enumerate(convs):
        out = torch.relu(torch.nn.functional.conv1d(x if i == 0 else h, w, b, padding=(w.shape[2] // 2) * d,
                                                    dilation=d)) * m
        h = out if i == 0 else h + out
    theirs = (h[0].T @ out_w + out_b)[:, 0].numpy()[pos]
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-3), np.abs(ours - theirs).max()
    alone = np.concatenate([tagger._logits([t], [c[0]], c[1], c[2]) for t, c in zip(texts, cuts)])
    assert np.allclose(ours, alone, rtol=1e-4, atol=1e-3)  # each text of the batch as if alone


def test_fine_tuning_starts_from_the_network_it_names():
    # tools/train_name_tagger.py --init: the network of the same seed in the file, its characters and layers, is
    # where training starts; with a learning rate of 0 what the tool writes is that network again (the small
    # arrays bit for bit; the int8 tables, rounded through float16 once more, within a step of their scale) and it
    # reads the texts as the shipped one does
    import io
    import sys
    from pathlib import Path

    from tuwen.transforms.name_tagger import dequantized, load_tagger, npz_networks, tagger_from_npz

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tools import train_name_tagger as trainer

    shipped = repo / "lexicons" / "name_tagger.npz"
    args = trainer.parser().parse_args(["--init", str(shipped), "--epochs", "1", "--lr", "0", "--hidden", "8",
                                        "--bigram-buckets", "64"])
    args.seed = load_tagger().members[1].meta["seed"]
    rows = [("记者王芳报道", [0, 0, 1, 1, 0, 0]), ("一只狗在草地上奔跑。", [0] * 10)] * 3
    arrays, meta, _ = trainer.train_conv(args, rows, rows, "test")
    assert (meta["hidden"], meta["bigram_buckets"]) == (64, 32768)  # the file's layers, not the options'
    _, networks = npz_networks(shipped)
    theirs = networks[1][0]
    assert sorted(arrays) == sorted(theirs)
    assert str(arrays["chars"][0]) == str(theirs["chars"][0])
    for k, v in theirs.items():
        if not k.endswith((".q8", ".scale")) and k != "chars":
            assert np.array_equal(arrays[k], v), k
    ours_f, theirs_f = dequantized(arrays), dequantized(theirs)
    for k in ("emb0", "emb5"):
        step = theirs[f"{k}.scale"].astype(np.float32)
        assert np.all(np.abs(ours_f[k] - theirs_f[k]) <= step), k
    texts = ["国务院副总理钱其琛会见了美国客人。", "一只狗在草地上奔跑，旁边是穿红衣服的女孩。"]
    buf = io.BytesIO()
    np.savez(buf, **arrays, meta=np.array([json.dumps(meta)]))
    buf.seek(0)
    ours_p = np.concatenate(tagger_from_npz(buf).probabilities_many(texts))
    theirs_p = np.concatenate(load_tagger().members[1].probabilities_many(texts))
    assert np.allclose(ours_p, theirs_p, atol=2e-3), np.abs(ours_p - theirs_p).max()
    # a wrong file or seed is said so, before any data is read
    for path, seed, says in ((repo / "README.md", 0, "not a file this tool wrote"), (shipped, 5, "no network of seed 5")):
        with pytest.raises(SystemExit, match=says):
            trainer.main(["--init", str(path), "--seeds", str(seed), "--out", str(repo / "never-written.npz")])


def test_everyday_words_the_model_likes_stay_unmasked_in_captions(cleaner):
    # jieba's dictionary tags 胡子, 宝宝, 戴帽子, 杨树林, 张大嘴 as names and the news-trained model gives some of them
    # a high score: the everyday-word checks (and name_not_person.txt: 张大嘴, "open the mouth wide") keep photo
    # captions clean
    for text in ("一个男人胡子和眼镜", "一个宝宝坐在草地上", "一个戴帽子的男人", "杨树林里有鸟", "一个黄头发的女人",
                 "张大嘴的黑狗。", "张大嘴跳的黑狗。"):
        assert masked(cleaner, text) == text


def test_names_the_rules_miss_are_found_by_the_model(cleaner):
    # a Thai name after a title, and a transliteration jieba cuts into a verb and a place
    assert masked(cleaner, "前总理差瓦立、前副总理出席。") == f"前总理{NAME_TOKEN}、前副总理出席。"
    assert NAME_TOKEN in masked(cleaner, "芬兰外长哈洛宁举行记者招待会。")


@pytest.mark.parametrize("text, expected", [
    ("罗纳尔多站在山上。", f"{NAME_TOKEN}站在山上。"),                  # 站 is "stands" here, not a station
    ("高云江和喻晖在汽车旁。", f"{NAME_TOKEN}和{NAME_TOKEN}在汽车旁。"),  # one model run over two names and 和
    ("松下幸之助趴在护栏上看船。", f"{NAME_TOKEN}趴在护栏上看船。"),      # a long listed name the model misses
    ("杨树林在公园里散步。", f"{NAME_TOKEN}在公园里散步。"),              # surname + everyday word, as a person
    ("武村正义正在坐着。", f"{NAME_TOKEN}正在坐着。"),                    # Japanese surname + a word as given name
    ("严良在骑车。", f"{NAME_TOKEN}在骑车。"),                            # jieba: an adjective; opens the caption
    ("库马拉通加在玩花样滑雪。", f"{NAME_TOKEN}在玩花样滑雪。"),          # jieba barely knows it as a place
])
def test_names_starting_a_photo_caption_are_masked(cleaner, text, expected):
    assert masked(cleaner, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("闪过庄子的“蝴蝶梦”", f"闪过{NAME_TOKEN}的“蝴蝶梦”"),
    ("李白的诗", f"{NAME_TOKEN}的诗"),
    ("释迦牟尼像", f"{NAME_TOKEN}像"),
    ("纪念慈禧太后寿辰", f"纪念{NAME_TOKEN}太后寿辰"),  # at the head of a longer word (慈禧太后)
    ("一根管子", "一根管子"),        # 管子 the thinker is not listed: a tube
    ("孔子学院", "孔子学院"),        # one word to jieba: not the person alone
])
def test_well_known_people_are_masked_where_they_are_whole_words(cleaner, text, expected):
    assert masked(cleaner, text) == expected


def test_the_list_of_well_known_people_holds_no_everyday_word():
    from tuwen.transforms.names.lexicons import Lexicons
    from tuwen.transforms.names.resources import jieba_tables

    _, tags, _, _ = jieba_tables()
    famous = Lexicons().famous
    assert len(famous) > 300 and all(len(w) >= 2 for w in famous)
    assert not famous & {"老子", "孙子", "培根", "特斯拉", "华盛顿", "嫦娥", "管子", "康熙"}


@pytest.mark.parametrize("text", [
    "火车停在北京站。",
    "一片杨树林。",        # a measure word before it: a thing
    "小鸟飞进杨树林里。",  # a locative after it
])
def test_things_in_the_same_places_stay_unmasked(cleaner, text):
    assert masked(cleaner, text) == text


def test_a_batch_finds_what_each_text_finds_alone(names):
    # find_many runs the character model once over the whole batch (what `tuwen text` does per block of lines):
    # each text's result must not depend on its neighbours (windows never reach across texts), in any order. The
    # names found are compared, not the probabilities: those may differ in the last bits between batch shapes.
    texts = ["国务院副总理钱其琛会见了美国客人。", "", "abc", "约翰·克里访问北京", "一只狗在草地上奔跑。",
             "記者王霞光報道", "前总理差瓦立、前副总理出席。", "张", "他叫张伟。" * 30]
    alone = [names.find(t) for t in texts]
    assert any(alone) and names.find_many(texts) == alone
    assert names.find_many(texts[::-1]) == alone[::-1]
    assert names.find_many([]) == []


def test_the_batched_model_gives_each_text_its_own_probabilities():
    from tuwen.transforms.name_tagger import jieba_words, load_tagger

    tagger = load_tagger()
    texts = ["钱其琛会见了客人", "a", "Ｆ１赛车手舒马赫说", "一只狗"]
    cuts = [jieba_words(t) for t in texts]
    batch = tagger.probabilities_many(texts, [c[0] for c in cuts], cuts[0][1], cuts[0][2])
    assert [len(p) for p in batch] == [len(t) for t in texts]
    for text, cut, p in zip(texts, cuts, batch):
        # BLAS sums in a different order for different batch shapes (and CPUs): the last bits may differ,
        # the probabilities and the masks they decide may not.
        alone = tagger.probabilities(text, *cut)
        assert np.allclose(p, alone, rtol=1e-5, atol=1e-7)
        assert (p >= 0.5).tolist() == (alone >= 0.5).tolist()


def test_the_shipped_model_is_two_networks_mean_and_agreement(tmp_path):
    # the names step reads the mean of the networks' probabilities, and takes a character the rules missed for a
    # name's only where every network reaches its own cut (those runs completed at their edges by what one of them
    # proposes: agreed); a file written by ensemble_arrays reads back the same
    from importlib import resources

    from tuwen.transforms.name_tagger import agreed, ensemble_arrays, jieba_words, load_tagger, tagger_from_npz

    shipped = load_tagger()
    assert len(shipped.members) == 2 and shipped.meta["seeds"] == [0, 1]
    texts = ["钱其琛会见了客人", "张大嘴的狗。", "a", "一只狗在草地上奔跑。", "汤姆正在看书。"]
    cuts = [jieba_words(t) for t in texts]
    words, tags, freqs = [c[0] for c in cuts], cuts[0][1], cuts[0][2]
    read = shipped.read_many(texts, words, tags, freqs)
    each = [m.probabilities_many(texts, words, tags, freqs) for m in shipped.members]
    for i, (probs, proposed) in enumerate(read):
        assert np.allclose(probs, np.mean([e[i] for e in each], axis=0))
        votes = [e[i] >= m.meta["f1_threshold"] for e, m in zip(each, shipped.members)]
        assert proposed.tolist() == agreed([e[i] for e in each], [m.meta["f1_threshold"] for m in shipped.members],
                                           words[i], tags).tolist()
        assert not (np.logical_and.reduce(votes) & ~proposed).any()  # every agreed character is proposed
        assert not (proposed & ~np.logical_or.reduce(votes)).any()  # and none that no network proposes
    assert read[0][1].any() and not read[3][1].any()
    # not needed and proposed by no network: the second network does not run, no probabilities come back
    lazy = shipped.read_many(texts, words, tags, freqs, needed=[False] * len(texts))
    assert [p is None for p, _ in lazy] == [not on.any() for _, on in read]
    assert [on.tolist() for _, on in lazy] == [on.tolist() for _, on in read]

    with np.load(resources.files("tuwen.lexicons").joinpath("name_tagger.npz").open("rb")) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["meta"][0]))
    members = [({k[3:]: v for k, v in arrays.items() if k.startswith(f"m{i}.")}, m)
               for i, m in enumerate(meta["members"])]
    np.savez(tmp_path / "again.npz", **ensemble_arrays(members, {"seeds": meta["seeds"]}))
    again = tagger_from_npz(tmp_path / "again.npz").read_many(texts, words, tags, freqs)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(again, read))


def _votes(text: str, first: dict, second: dict) -> list[str]:
    """What an ensemble of two networks proposes in ``text`` (as runs of characters) when they give the characters
    of the words in ``first`` and ``second`` those probabilities (each word's characters in turn) and every other
    character none; each network's cut is 0.5."""
    from tuwen.transforms.name_tagger import agreed, jieba_words

    words, tags, _ = jieba_words(text)
    probs = []
    for given in (first, second):
        p = np.zeros(len(text))
        for word, values in given.items():
            at = text.index(word)
            p[at:at + len(word)] = values
        probs.append(p)
    on = agreed(probs, [0.5, 0.5], words, tags)
    return [run for run in re.split(r"_+", "".join(c if o else "_" for c, o in zip(text, on))) if run]


def test_a_joining_character_ends_a_name_when_nothing_follows_it_to_join():
    # 和 after a name is the conjunction when something follows for it to join (王芳/和/她), the name's last
    # character when nothing does (a résumé's 张国和，男): the model proposing all three characters in both
    assert "张国和@0" in _with_probs("张国和，男，中国国籍。", {0: 1.0, 1: 1.0, 2: 1.0})
    assert _with_probs("王芳和她的妹妹在公园里。", {0: 1.0, 1: 1.0, 2: 1.0}) == ["王芳@0"]


def test_a_name_the_networks_agree_on_is_completed_by_what_one_of_them_proposes():
    # each network alone errs at a name's edges, not on the same characters: where one drops a character of a name
    # the other proposes, the name is masked whole, not with a character of it left in plain sight
    assert _votes("一个名叫左金文的村民", {"左金文": (0.9, 0.9, 0.9)}, {"左金文": (0.6, 0.0, 0.6)}) == ["左金文"]
    assert _votes("总统亚历山大说", {"亚历山大": (0.9, 0.9, 0.9, 0.9)}, {"历山大": (0.9, 0.9, 0.9)}) == ["亚历山大"]
    # but only within a name's reach: not two names and the word between them (汤姆/问/玛丽), not across a bracket
    assert _votes("汤姆问玛丽她是谁", {"汤姆问玛丽": (0.9,) * 5}, {"汤姆": (0.9, 0.9), "玛丽": (0.9, 0.9)}) == \
        ["汤姆", "玛丽"]
    assert _votes("记者袁（日希）报道", {"袁（日希": (0.9,) * 4}, {"袁（": (0.9, 0.9), "希": (0.9,)}) == ["袁（", "希"]
    # an edge takes in a character only to complete a dictionary word the name already covers: not a word of its
    # own (汤姆/会), nor one jieba's HMM made up (汤姆/戴着), nor one the name would still split (周瑜/打/黄盖)
    assert _votes("汤姆会和玛丽说", {"汤姆会": (0.9,) * 3}, {"汤姆": (0.9, 0.9)}) == ["汤姆"]
    assert _votes("汤姆戴着手套", {"汤姆戴": (0.9,) * 3}, {"汤姆": (0.9, 0.9)}) == ["汤姆"]
    assert _votes("类似周瑜打黄盖的做法", {"周瑜打": (0.9,) * 3}, {"周瑜": (0.9, 0.9)}) == ["周瑜"]
    # a lone agreed character grows nothing: a surname before an everyday word stays the rules' to judge
    assert _votes("张大嘴的狗", {"张大嘴": (0.9,) * 3}, {"张": (0.9,)}) == ["张"]


def test_a_transliterated_name_takes_in_the_transliteration_characters_the_networks_are_sure_of():
    # jieba cuts a transliteration anywhere (帕尔哈/提唱, 鲁/西亚/努小) and the networks disagree on where it ends: a
    # run of transliteration characters takes in those beside it whose mean probability reaches MODEL_SURE
    from tuwen.transforms.name_tagger import grown_transliterations
    from tuwen.transforms.names.thresholds import MODEL_SURE

    assert _votes("帕尔哈提唱了一首歌", {"帕尔哈提": (0.9,) * 4}, {"帕尔哈": (0.9,) * 3, "提": (0.3,)}) == ["帕尔哈提"]
    assert _votes("外援鲁西亚努小角度射门", {"鲁西亚": (0.9,) * 3, "努": (0.4,)}, {"鲁西亚努": (0.9,) * 4}) == \
        ["鲁西亚努"]
    # not one they are less sure of (汤姆/戴着: 0.9 and 0.0)
    assert _votes("汤姆戴着手套", {"汤姆戴": (0.9,) * 3}, {"汤姆": (0.9, 0.9)}) == ["汤姆"]

    def grown(text: str, run: str, mean: dict) -> str:
        at = text.index(run)
        runs = np.zeros(len(text), dtype=bool)
        runs[at:at + len(run)] = True
        p = np.zeros(len(text))  # one network's: the mean of one
        for j, v in mean.items():
            p[j] = v
        return "".join(c if o else "_" for c, o in zip(text, grown_transliterations(runs, [p], text)))

    sure = MODEL_SURE + 0.01
    assert grown("听斯提娜说", "提娜", {1: sure, 4: sure}) == "_斯提娜_"  # 说 is no transliteration character
    assert grown("听斯提娜说", "提娜", {1: MODEL_SURE - 0.01}) == "__提娜_"
    assert grown("王芳丽说", "王芳", {2: 0.99}) == "王芳__"  # a Chinese name's run grows nothing here
    assert grown("提娜斯娜", "提娜", {2: 0.99, 3: 0.99}) == "提娜斯娜"
    # the shipped networks on the sentence that showed it (帕尔哈 before: 提 is 0.25 to one, 1.00 to the other)
    assert [(r.start, r.end) for r in PersonNames().find("帕尔哈提唱了一首歌。")] == [(0, 4)]


def test_a_name_one_network_cuts_short_is_masked_whole():
    # the shipped networks: the second reads 黄家学's 家 as no name's (0.04), the first proposes it; 黄 and 学 both
    # propose (a retrained model errs on other characters: re-pick a gold name that one network alone cuts short)
    text = "黄家学，男，美国俄克拉何马大学健康医学中心微生物与免疫学博士。"
    assert [(r.start, r.end) for r in PersonNames().find(text)] == [(0, 3)]


def test_a_caption_word_one_network_alone_takes_for_a_name_stays_unmasked():
    # each network of the shipped model errs on photo captions, on words the other reads right: 戴/黑帽子 for the
    # first, 戴/帽子 for the second; the step proposes a name the rules missed only where both do (a retrained
    # model errs on other words: re-pick them from the captions in which exactly one network finds a name)
    from tuwen.transforms.name_tagger import load_tagger

    shipped = load_tagger()
    for text, fooled in (("戴黑帽子的男人。", 0), ("戴帽子跳水的孩子。", 1)):
        assert PersonNames(shipped.members[fooled]).find(text), text
        assert PersonNames(shipped.members[1 - fooled]).find(text) == [], text
        assert PersonNames().find(text) == [], text


def test_name_statistics_read_back_from_the_disk_cache_are_the_ones_computed(tmp_path, monkeypatch):
    from tuwen.transforms.names import resources as names_resources

    tokenizer, tags, scores, model = names_resources.jieba_tables()
    monkeypatch.setenv("TUWEN_CACHE_DIR", str(tmp_path))
    first = names_resources.name_statistics(tags, tokenizer.FREQ)  # computed, then written
    files = list((tmp_path / "names").glob("*.pkl"))
    assert len(files) == 1
    again = names_resources.name_statistics(tags, tokenizer.FREQ)  # read back
    for got in (first, again):
        assert got[0] == scores and got[1].tables() == model.tables()
    files[0].write_bytes(b"not a pickle")  # a corrupt file is computed again, never fatal
    assert names_resources.name_statistics(tags, tokenizer.FREQ)[1].tables() == model.tables()
    monkeypatch.setenv("TUWEN_CACHE_DIR", "")
    assert names_resources.statistics_cache_path() is None


def test_large_embedding_tables_are_stored_as_int8_and_read_back_within_half_a_step():
    from importlib import resources

    from tuwen.transforms.name_tagger import QUANTIZED_ROWS, dequantized, quantized

    rng = np.random.default_rng(0)
    big = (rng.normal(size=(QUANTIZED_ROWS, 8)) * 3).astype(np.float16)
    big[7] = 0  # a row of zeros (a character never seen) stays zeros
    arrays = {"emb0": big, "emb1": rng.normal(size=(10, 4)).astype(np.float16),
              "conv0_w": rng.normal(size=(QUANTIZED_ROWS, 4)).astype(np.float16)}
    q = quantized(arrays)
    assert set(q) == {"emb0.q8", "emb0.scale", "emb1", "conv0_w"} and q["emb0.q8"].dtype == np.int8
    back = dequantized(q)
    assert set(back) == set(arrays) and back["emb1"] is arrays["emb1"]
    x = big.astype(np.float32)
    step = np.abs(x).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(back["emb0"] - x) <= 0.51 * step + 1e-6) and not back["emb0"][7].any()
    assert np.abs(q["emb0.q8"]).max() == 127
    # the shipped file holds its two large tables so, and stays under 2 MB
    shipped = resources.files("tuwen.lexicons").joinpath("name_tagger.npz")
    with np.load(str(shipped)) as z:
        assert {k for k in z.files if k.endswith(".q8")} == {"m0.emb0.q8", "m0.emb5.q8", "m1.emb0.q8", "m1.emb5.q8"}
    assert len(shipped.read_bytes()) < 2_000_000


def test_a_model_file_of_another_kind_is_refused(tmp_path):
    # the earlier logistic-regression tagger is gone: its files say so rather than load as something else
    from tuwen.transforms.name_tagger import tagger_from_npz

    path = tmp_path / "old.npz"
    np.savez(path, chars=np.array(["张伟"]), weights=np.zeros(3, dtype=np.float16),
             meta=np.array([json.dumps({"threshold": 0.5, "unigrams": [0], "ngrams": []})]))
    with pytest.raises(ValueError, match="not a convolutional name tagger"):
        tagger_from_npz(path)


def test_odd_characters_do_not_break_a_batch(names):
    # a lone surrogate (a JSON "\ud83d" cut from an emoji), U+0000, characters outside the BMP: one bad line must
    # not cost the block of lines it is cleaned with
    texts = ["王小明说了\ud83d", "张伟\x00说", "𠀀张伟说😀", "他叫张伟。"]
    found = names.find_many(texts)
    assert [texts[0][r.start:r.end] for r in found[0]] == ["王小明"]
    assert found[3] == names.find("他叫张伟。") and found[3]


# -- the passes one at a time (tuwen.transforms.names.<family>): each finds its own kind of name, alone -----------
def _run_pass(rule_pass, text, seed=(), per_word=False):
    """The names one pass finds in ``text``, starting from the spans of the names in ``seed``."""
    from tuwen.transforms.names.context import Context
    from tuwen.transforms.names.knowledge import Knowledge
    from tuwen.transforms.names.lexicons import Lexicons
    from tuwen.transforms.names.resources import jieba_tables

    tokenizer, tags, scores, model = jieba_tables()
    lex = Lexicons()
    ctx = Context.cut(lex, text, tokenizer, tags)
    found = {(text.index(n), text.index(n) + len(n)) for n in seed}
    kb = Knowledge(lex, model, scores)
    if per_word:
        for k in range(len(ctx.words)):
            rule_pass(kb, ctx, k, found)
    else:
        rule_pass(kb, ctx, found)
    return sorted(text[s:e] for s, e in found)


@pytest.mark.parametrize("family, name, text, seed, expected", [
    ("chinese", "chinese_name", "桥本龙太郎访问中国。", (), ["桥本龙太郎"]),  # a Japanese surname and given name
    ("chinese", "chinese_name", "致牟小东的信", (), ["牟小东"]),  # a function character glued on
    ("chinese", "chinese_name", "通知书到了。", (), []),  # name-shaped, but an ordinary word's characters
    ("titles", "titled_surnames", "王先生来了。", (), ["王"]),
    ("titles", "titled_surnames", "古老的房子。", (), []),  # 古 + 老 is an everyday word
    ("titles", "titled_surnames", "姓张的老伯。", (), ["张"]),
    ("titles", "titled_surnames", "老百姓的生活。", (), []),
    ("titles", "after_titles", "总裁宋朝弟等人出席。", (), ["宋朝弟"]),
    ("titles", "after_titles", "总裁举行会议。", (), []),
    ("famous", "famous", "李白写诗。", (), ["李白"]),
    ("famous", "famous", "孔子学院开学了。", (), []),  # an organisation named after the person
    ("foreign", "transliterated", "克林顿说，", (), ["克林顿"]),
    ("foreign", "transliterated", "俄罗斯的首都", (), []),  # a transliterated place
    ("foreign", "across_joiners", "约翰·克里说", ["约翰"], ["约翰·克里"]),
    ("foreign", "across_joiners", "约翰说", ["约翰"], ["约翰"]),
    ("hmm", "hmm_names", "伍霞说", (), ["伍霞"]),
    ("hmm", "hmm_names", "一只狗在草地上跑。", (), []),
    ("candidates", "names_in_context", "警备区政委高云江说", (), ["高云江"]),  # jieba cut 高云/江说
    ("candidates", "names_in_context", "高云江在跑步", (), []),  # no title before, no verb of saying after
    ("candidates", "scored_candidates", "朱力行说", (), ["朱力行"]),  # a surname and two characters, wherever cut
    ("candidates", "scored_candidates", "方面很多。", (), []),  # a dictionary word
    ("grow", "enumerations", "柳大华、徐天红、高华", ["柳大华"], ["徐天红", "柳大华", "高华"]),
    ("grow", "enumerations", "柳大华、桌子、高兴", ["柳大华"], ["柳大华"]),
    ("grow", "conjoined", "刘斌和蔡菁", ["刘斌"], ["刘斌", "蔡菁"]),
    ("grow", "conjoined", "刘斌和桌子", ["刘斌"], ["刘斌"]),
    ("grow", "extend_split_names", "李铁辰校长", ["李铁"], ["李铁辰"]),
    ("grow", "extend_split_names", "李白和杜甫", ["李白"], ["李白"]),  # 和 is a conjunction here
])
def test_a_pass_alone_finds_its_kind_of_name_and_nothing_else(family, name, text, seed, expected):
    import importlib

    rule_pass = getattr(importlib.import_module(f"tuwen.transforms.names.{family}"), name)
    assert _run_pass(rule_pass, text, seed, per_word=name == "chinese_name") == expected


def test_the_pass_order_runs_every_family():
    from tuwen.transforms.names.person import RULE_PASSES

    assert [p.__name__ for p in RULE_PASSES] == [
        "hmm_names", "names_in_context", "titled_surnames", "transliterated", "after_titles", "famous",
        "extend_split_names", "enumerations", "conjoined", "across_joiners", "scored_candidates"]


def test_the_name_tagger_imports_first_without_a_circle():
    # name_tagger uses names.lexicons and names.resources; names.person uses name_tagger: either may load first
    import subprocess
    import sys

    code = ("import tuwen.transforms.name_tagger, sys; assert 'tuwen.transforms.names.person' not in sys.modules; "
            "from tuwen.transforms.names import PersonNames; assert PersonNames().find('王晨说')")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("text", [
    "小孩子张着嘴。",          # a verb and its aspect particle (张着), never a name
    "拉马车的男人。",          # a verb and its object, a common noun (拉/马车)
    "四个女人滑旱冰。",
    "小女孩戴手链。",
    "黄狗飞溅在水中。",        # a frequent adjective and a frequent one-character noun
    "一个凯蒂猫气球。",        # a transliteration modifying the noun right after it: a brand, a breed
    "光膀子攀岩的男子。",      # a relative clause before a generic person noun: the man who climbs
    "路边拉琴的老人。",
    "一位老人在竹林里吃竹子。",  # a dictionary word (not a person's) before a locative: a place (竹林/里)
])
def test_everyday_readings_in_captions_are_not_names(cleaner, text):
    assert masked(cleaner, text) == text


def test_a_place_before_a_locative_is_no_name_whatever_the_model_says():
    # networks trained on swapped names (2026-12-07, seeds 0 1, before the int8 tables) gave 竹林 in 在竹林里 0.69 / 0.61
    assert _with_probs("一位老人在竹林里吃竹子。", {5: 0.9, 6: 0.9}) == []
    assert _with_probs("他在罗干家里", {2: 0.9, 3: 0.9}) == ["罗干@2"]  # 家 is no locative: the family's home


@pytest.mark.parametrize("text, expected", [
    ("王芳的狗在草地上奔跑", f"{NAME_TOKEN}的狗在草地上奔跑"),   # an owner: 的 and an animal, not a person noun
    ("王芳的女儿在草地上奔跑", f"{NAME_TOKEN}的女儿在草地上奔跑"),  # kin after 的 is a named person's
    ("一个叫王莉的女孩", f"一个叫{NAME_TOKEN}的女孩"),          # a verb of naming before: a name, even before 的女孩
    ("歌手白雪的新歌", f"歌手{NAME_TOKEN}的新歌"),              # a title before: the name reading wins
    ("记者白雪说", f"记者{NAME_TOKEN}说"),
    ("布朗说", f"{NAME_TOKEN}说"),                            # a transliteration before a verb of saying
    ("戴秉国与代表团", f"{NAME_TOKEN}与代表团"),
    ("刘翔在王芳身边坐下", f"{NAME_TOKEN}在{NAME_TOKEN}身边坐下"),  # a person takes a word of place, not a locative
])
def test_names_that_look_like_everyday_readings_keep_their_mask(cleaner, text, expected):
    assert masked(cleaner, text) == expected


def test_the_jieba_tables_read_back_from_the_disk_cache_are_jiebas_own(tmp_path):
    """The prefix-frequency and tag tables the names step reads from the cache (instead of jieba's marshal cache
    and importing jieba.posseg, ~1.4 s) are the ones jieba builds, and the HMM tables read without importing
    jieba.posseg are its own; a fresh process writes the cache, the next one reads it."""
    import os
    import subprocess
    import sys

    probe = (
        "import sys, pickle; from tuwen.transforms.names import resources as r; tok, tags, _, _ = r.jieba_tables(); "
        "r.posseg_hmm(); sys.stdout.buffer.write(pickle.dumps(('jieba.posseg' in sys.modules, tok.total, "
        "len(tok.FREQ), sum(tok.FREQ.values()), sorted(tags.items())[::997])))"
    )
    env = dict(os.environ, TUWEN_CACHE_DIR=str(tmp_path))
    runs = [pickle.loads(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                                        check=True).stdout) for _ in range(2)]
    assert list((tmp_path / "jieba").glob("*.pkl"))
    assert runs[0][0] and not runs[1][0]  # the first built the tables through jieba.posseg, the second did not
    assert runs[0][1:] == runs[1][1:]
    import jieba.posseg

    from tuwen.transforms.names import resources as names_resources

    names_resources.posseg_hmm.cache_clear()
    try:
        assert names_resources.posseg_hmm()[:4] == (jieba.posseg.char_state_tab_P, jieba.posseg.start_P,
                                                    jieba.posseg.trans_P, jieba.posseg.emit_P)
    finally:
        names_resources.posseg_hmm.cache_clear()
