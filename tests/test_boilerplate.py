import io
import json
import random

import pytest

from tuwen.transforms.boilerplate import (CandidateCounter, DocumentSample, Fragment, MiningThresholds,
                                          StripBoilerplate, candidates_in, mine_boilerplate, propose_candidates,
                                          read_tsv, seed_fragments, write_tsv)
from tuwen.transforms.text import NAME_TOKEN, PHONE_TOKEN, TextCleaner


def strip(text, fragments=(), **kw):
    return TextCleaner([StripBoilerplate(fragments, **kw)]).clean(text).text


# --- captions with furniture, and one viral post, built from a fixed seed ------------------------------------------

CONTENT = ["一只{}的猫趴在{}上", "{}的小狗在{}里奔跑", "两个孩子在{}边看{}", "{}下的{}风景", "穿着{}衣服的女孩站在{}"]
WORDS = ["白色", "黑色", "草地", "沙发", "公园", "海", "夕阳", "雪山", "红色", "门口", "湖", "花园", "桥", "城市"]


def make_corpus(n=800, seed=7):
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        c = rng.choice(CONTENT).format(rng.choice(WORDS), rng.choice(WORDS)) + f"，第{i}张"
        r = rng.random()
        if r < 0.25:
            c = c + " - 新浪图片"
        elif r < 0.40:
            c = "【高清壁纸】" + c
        elif r < 0.50:
            c = c + " via @摄影小站"
        elif r < 0.55:
            c = c + " <br/>&nbsp;"
        texts.append(c)
    return texts


VIRAL = "转发这条锦鲤 - 接好运的人今年都会暴富"


# --- the step -------------------------------------------------------------------------------------------------------

def test_seed_link_labels_are_stripped_anywhere():
    assert strip("美丽的西湖风景展开全文") == "美丽的西湖风景"
    assert strip("查看原网页 美丽的西湖") == "美丽的西湖"


def test_seed_list_is_plain_text_with_the_two_named_labels():
    frags = {f.fragment for f in seed_fragments()}
    assert {"查看原网页", "展开全文"} <= frags


def test_urls_html_tags_and_entities_are_always_stripped():
    assert strip("西湖的夜景<br/>&nbsp;https://example.com/a?b=1") == "西湖的夜景"
    assert strip("<p>雪山&amp;湖泊</p>") == "雪山湖泊"


def test_name_mask_and_chinese_in_angle_brackets_are_not_taken_for_tags():
    assert strip(f"{NAME_TOKEN}在海边") == f"{NAME_TOKEN}在海边"
    assert strip("<西湖>的夜景") == "<西湖>的夜景"


def test_prefix_fragment_is_only_stripped_at_the_start():
    frags = [Fragment("【高清壁纸】", "prefix", 10)]
    assert strip("【高清壁纸】雪山", frags, use_seed=False) == "雪山"
    assert strip("雪山【高清壁纸】雪山", frags, use_seed=False) == "雪山【高清壁纸】雪山"


def test_suffix_fragment_and_its_leading_space_are_stripped_only_at_the_end():
    frags = [Fragment("- 新浪图片", "suffix", 10)]
    assert strip("西湖的夜景 - 新浪图片", frags, use_seed=False) == "西湖的夜景"
    assert strip("- 新浪图片 西湖", frags, use_seed=False) == "- 新浪图片 西湖"


def test_stacked_prefixes_are_peeled_one_after_another():
    frags = [Fragment("【转】", "prefix"), Fragment("【图】", "prefix")]
    assert strip("【转】【图】 雪山下的湖", frags, use_seed=False) == "雪山下的湖"


def test_a_caption_that_is_only_furniture_becomes_empty_and_is_dropped():
    r = TextCleaner([StripBoilerplate()]).clean("展开全文")
    assert r.text == "" and r.dropped == ("text", "empty_text")


def test_edits_are_labelled_boilerplate_with_raw_offsets():
    raw = "西湖 展开全文"
    r = TextCleaner([StripBoilerplate()]).clean(raw)
    assert [e.step for e in r.edits] == ["boilerplate"]
    assert all(raw[e.start:e.end] == e.original for e in r.edits)


def test_step_pickles_and_strips_the_same_afterwards():
    import pickle
    step = StripBoilerplate([Fragment("- 新浪图片", "suffix", 3)])
    again = pickle.loads(pickle.dumps(step))
    assert again.find("西湖 - 新浪图片") == step.find("西湖 - 新浪图片") != []


# --- mining ---------------------------------------------------------------------------------------------------------

def test_mining_finds_site_prefix_suffix_and_via_tail():
    mined = {(f.fragment, f.position) for f in mine_boilerplate(make_corpus(), min_doc_count=20)}
    assert ("- 新浪图片", "suffix") in mined
    assert ("【高清壁纸】", "prefix") in mined
    assert ("via @摄影小站", "suffix") in mined


def test_a_viral_post_copied_a_thousand_times_is_not_boilerplate():
    texts = make_corpus() + [VIRAL] * 1000
    mined = {f.fragment for f in mine_boilerplate(texts, min_doc_count=20)}
    assert "- 接好运的人今年都会暴富" not in mined and "转发这条锦鲤 -" not in mined
    assert "- 新浪图片" in mined  # while furniture in the same corpus still is


# --- reposted social posts (issue 15): what recurs beside many different remainders but is content ------------------

def _reposts_bench():
    """bench/boilerplate_reposts.py: the generated Weibo-style corpus, every character labelled."""
    from bench_modules import bench_module

    return bench_module("boilerplate_reposts")


def reposts_corpus(posts=2000, seed=5):
    return [t for t, _, _ in _reposts_bench().build_corpus(posts, seed)]


def _posts(n, seed=3):
    """Distinct ordinary posts (a counter keeps them distinct) about unrelated things."""
    rng = random.Random(seed)
    return [rng.choice(CONTENT).format(rng.choice(WORDS), rng.choice(WORDS)) + f"，第{i}天" for i in range(n)]


def test_a_punctuation_only_fragment_is_never_mined():
    # sentence-final marks after a space (where an emoticon or a link stood), on hundreds of different posts
    texts = [p + end for p, end in zip(_posts(600), [" 。", " ！", " ！！", " ~", "。 网页链接 ！"] * 120)]
    assert ("。", "suffix") not in candidates_in("今天的晚霞 。")
    mined = mine_boilerplate(texts, min_doc_count=20)
    assert not [f for f in mined if not any(c.isalpha() for c in f.fragment)], mined


def test_an_event_hashtag_carried_by_many_posts_is_content():
    rng = random.Random(4)
    texts = [p + " #某市化工厂爆炸#" if rng.random() < 0.5 else "#某市化工厂爆炸# " + p for p in _posts(400)]
    texts += [p + " 来自iPhone客户端" for p in _posts(200, seed=9)] + [p + " - 微博热搜榜" for p in _posts(200, seed=8)]
    mined = {f.fragment for f in mine_boilerplate(texts, min_doc_count=20)}
    assert not any("#" in f for f in mined), mined
    assert "- 微博热搜榜" in mined  # while furniture in the same corpus still is


def test_no_candidate_is_cut_at_a_repost_marker():
    cands = {f for f, _ in candidates_in("转发 //@小明: 寻人启事：孩子走失 请转发")}
    assert not any("//" in f or f.startswith("@") or f.startswith(":") for f in cands), cands


def test_a_viral_opening_under_different_comments_is_not_mined():
    # the same notice reposted with each reposter's own comment: 寻人启事： recurs beside distinct remainders, but
    # those remainders all tell the same story
    rng = random.Random(2)
    story = "寻人启事：王小明，男，6岁，5月3日在人民公园走失，身穿蓝色外套。有线索请联系王丽 13812345678，万分感谢！"
    comments = ["转发", "扩散", "希望早日找到", "帮转", "太揪心了", "已转"]
    texts = [f"{story} {rng.choice(comments)}{i}" for i in range(200)] + make_corpus(400)
    mined = {f.fragment for f in mine_boilerplate(texts, min_doc_count=20)}
    assert not [f for f in mined if f in story], mined
    assert "- 新浪图片" in mined


def test_the_reposting_corpus_keeps_its_content_and_loses_all_its_furniture():
    bench = _reposts_bench()
    corpus = bench.build_corpus(2000, 5)
    mined = mine_boilerplate([t for t, _, _ in corpus])
    found, total, stripped, kinds = bench.measure(corpus, mined)
    assert found == total > 300
    assert sum(stripped.values()) == 0, (stripped, mined)
    assert {"【每日精选】", "- 微博热搜榜"} <= {f.fragment for f in mined}  # the furniture only mining finds


def test_a_post_beside_nothing_but_known_furniture_is_not_mined():
    # one short post copied with different client tails and links after it: its remainders hold no word that is
    # not furniture, so nothing tells it from a site's label
    seed = ["网页链接", "来自iPhone客户端", "秒拍视频", "查看原网页", "展开全文", "来自Android客户端", "转发微博",
            "图片来源于网络", "长按识别二维码", "点击阅读原文", "转载请注明出处", "扫码关注"]
    texts = [f"为了年终奖排了一个小时队 {seed[i % 12]} {seed[(i * 5 + 3) % 12]} ！" for i in range(24)]
    texts += make_corpus(400)
    mined = {f.fragment for f in mine_boilerplate(texts, min_doc_count=20)}
    assert not any("年终奖" in f for f in mined), mined
    assert "- 新浪图片" in mined


def test_remainder_sample_is_bounded_and_merges_whatever_the_split():
    texts = reposts_corpus(1200)
    th = MiningThresholds.of(min_doc_count=10, remainder_sample=8)
    sample = DocumentSample(th.sample_size)
    for t in texts:
        sample.add(t)
    cands = propose_candidates(sample.texts(), th)
    one = CandidateCounter.for_thresholds(cands, th)
    for t in texts:
        one.add(t)
    parts = [CandidateCounter.for_thresholds(cands, th) for _ in range(3)]
    for i, t in enumerate(texts):
        parts[(i * 5) % 3].add(t)
    merged = parts[1].merge(parts[2]).merge(parts[0])
    assert max(len(r) for r in one.remainders.values()) == th.remainder_sample
    assert merged.remainders == one.remainders and merged.fragments(th) == one.fragments(th) != []


def test_furniture_on_a_few_pages_below_the_threshold_is_not_mined():
    texts = make_corpus(200)
    texts += [f"第{i}只猫 - 小众站点" for i in range(5)]
    mined = {f.fragment for f in mine_boilerplate(texts, min_doc_count=20)}
    assert "- 小众站点" not in mined


def test_doc_count_is_the_exact_number_of_documents_carrying_the_fragment():
    texts = make_corpus()
    expected = sum(1 for t in texts if t.endswith(" - 新浪图片"))
    mined = {f.fragment: f for f in mine_boilerplate(texts, min_doc_count=20)}
    assert mined["- 新浪图片"].doc_count == expected


def test_mined_list_does_not_depend_on_document_order():
    texts = make_corpus() + [VIRAL] * 300
    shuffled = texts[:]
    random.Random(1).shuffle(shuffled)
    kw = dict(min_doc_count=20, sample_size=150)  # a sample smaller than the corpus: it really drops documents
    assert mine_boilerplate(texts, **kw) == mine_boilerplate(shuffled, **kw) != []


def test_accumulators_merged_from_any_split_give_the_same_result():
    texts = make_corpus() + [VIRAL] * 300
    th = MiningThresholds.of(min_doc_count=20, sample_size=150)
    whole = DocumentSample(th.sample_size)
    for t in texts:
        whole.add(t)
    parts = [DocumentSample(th.sample_size) for _ in range(3)]
    for i, t in enumerate(texts):
        parts[(i * 7) % 3].add(t)
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert merged.texts() == whole.texts()
    assert len(whole) == 150

    cands = propose_candidates(whole.texts(), th)
    one = CandidateCounter(cands, th.sketch_size)
    for t in texts:
        one.add(t)
    halves = [CandidateCounter(cands, th.sketch_size) for _ in range(2)]
    for i, t in enumerate(texts):
        halves[i % 2].add(t)
    assert halves[1].merge(halves[0]).fragments(th) == one.fragments(th)


def test_sample_memory_is_bounded_by_the_sample_size():
    s = DocumentSample(50)
    for i in range(5000):
        s.add(f"文档{i}")
    assert len(s) == 50


def test_candidates_are_separator_bounded_and_leave_content():
    c = candidates_in("西湖的夜景 - 新浪图片")
    assert ("- 新浪图片", "suffix") in c and ("西湖的夜景 -", "prefix") in c
    assert candidates_in("没有分隔符的句子") == set()


def test_unknown_mining_option_is_an_error():
    with pytest.raises(TypeError):
        mine_boilerplate([], min_docs=3)


def test_mining_an_empty_corpus_gives_nothing():
    assert mine_boilerplate([]) == []


# --- boilerplate_mined.tsv ------------------------------------------------------------------------------------------

def test_tsv_round_trips_with_header_and_escapes(tmp_path):
    frags = [Fragment("- 新浪图片", "suffix", 120), Fragment("【图】", "prefix", 30), Fragment("a\tb", "anywhere", 2)]
    path = tmp_path / "boilerplate_mined.tsv"
    write_tsv(path, frags)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "fragment\tposition\tdoc_count"
    assert lines[1] == "- 新浪图片\tsuffix\t120"
    assert read_tsv(path) == frags
    assert read_tsv(io.StringIO(path.read_text(encoding="utf-8"))) == frags


def test_write_tsv_writes_the_cleaned_fragments_it_is_given(tmp_path):
    # the lead masks names/sensitive words in fragments before writing; write_tsv must keep them as given
    path = tmp_path / "b.tsv"
    write_tsv(path, [Fragment(f"via @{NAME_TOKEN}", "suffix", 9)])
    assert read_tsv(path)[0].fragment == f"via @{NAME_TOKEN}"


def test_a_masked_fragment_from_a_reviewed_list_strips_whatever_name_stood_there():
    # the written list carries "via @<人名>" (names are masked before writing); reused, it still strips the tail
    frags = [Fragment(f"via @{NAME_TOKEN}", "suffix", 40), Fragment("【**】", "prefix", 12)]
    assert strip("雪山下的湖 via @张小明", frags, use_seed=False) == "雪山下的湖"
    assert strip("【赌场】雪山下的湖", frags, use_seed=False) == "雪山下的湖"
    assert strip("雪山下的湖 via 张小明", frags, use_seed=False) == "雪山下的湖 via 张小明"


def test_a_fragment_with_a_personal_data_placeholder_strips_whatever_stood_there():
    # a mined list is masked by the pii step too: "客服电话<电话>" must still strip the number it stood for
    frags = [Fragment(f"客服电话{PHONE_TOKEN}", "suffix", 40)]
    assert strip("雪山下的湖 客服电话138-1234-5678", frags, use_seed=False) == "雪山下的湖"
    assert strip("雪山下的湖 客服电话", frags, use_seed=False) == "雪山下的湖 客服电话"


def test_reviewed_list_cleans_like_the_mined_one(tmp_path):
    texts = make_corpus()
    mined = mine_boilerplate(texts, min_doc_count=20)
    path = tmp_path / "b.tsv"
    write_tsv(path, mined)
    a, b = StripBoilerplate(mined), StripBoilerplate(read_tsv(path))
    assert all(a.find(t) == b.find(t) for t in texts)


def test_bad_position_is_rejected(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text("fragment\tposition\tdoc_count\nx\tmiddle\t3\n", encoding="utf-8")
    with pytest.raises(ValueError):
        read_tsv(path)


# --- real data ------------------------------------------------------------------------------------------------------

@pytest.mark.shared
def test_plain_human_captions_yield_no_boilerplate_with_default_thresholds(shared_data):
    rows = [json.loads(ln) for ln in open(shared_data / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")]
    caps = [c for r in rows for c in r["captions"]]
    mined = mine_boilerplate(caps)
    assert mined == [], mined[:10]


@pytest.mark.shared
def test_news_sentences_wrapped_in_furniture_give_back_the_furniture(shared_data):
    rows = [json.loads(ln) for ln in open(shared_data / "names" / "peoples_daily_ner_dev.jsonl", encoding="utf-8")]
    rng = random.Random(3)
    texts, wrapped = [], 0
    for r in rows:
        t = r["text"]
        if rng.random() < 0.3:
            t = t + " _人民网"
            wrapped += 1
        texts.append(t)
    mined = mine_boilerplate(texts)
    assert [(f.fragment, f.position, f.doc_count) for f in mined] == [("_人民网", "suffix", wrapped)]
    with_mined, seed_only = TextCleaner([StripBoilerplate(mined)]), TextCleaner([StripBoilerplate()])
    cleaned = [with_mined.clean(t).text for t in texts]
    assert cleaned == [seed_only.clean(r["text"]).text for r in rows]  # (the seed list strips 附图片1张 tails)
