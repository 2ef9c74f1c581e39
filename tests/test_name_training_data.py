"""The name tagger's training data (tools/name_corpora.py, tools/train_name_tagger.py): what the corpora's files
become, and the labels of the lines the tool makes. Torch and the corpora's packages are not needed."""
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools import name_corpora as nc  # noqa: E402
from tools import train_name_tagger as trainer  # noqa: E402


def test_bmes_files_become_rows_with_the_person_spans_only(tmp_path):
    path = tmp_path / "train.char.bmes.txt"
    lines = ["高 B-NAME", "勇 E-NAME", "： O", "任 O", "华 B-ORG", "为 E-ORG", "", "王 S-NAME", "说 O",
             "李 B-NAME", "四 O", "", "张 B-NAME", "三 M-NAME", "丰 E-NAME"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = nc.read_bmes(path, "NAME")
    assert [r["text"] for r in rows] == ["高勇：任华为", "王说李四", "张三丰"]
    assert rows[0]["names"] == [{"start": 0, "end": 2, "text": "高勇"}]  # not the ORG
    assert rows[1]["names"] == [{"start": 0, "end": 1, "text": "王"}]  # a B- cut off by O is no name
    assert rows[2]["names"] == [{"start": 0, "end": 3, "text": "张三丰"}]
    assert nc.char_labels(rows[0]) == [1, 1, 0, 0, 0, 0]


def test_tagged_word_paragraphs_become_sentences_with_surname_and_given_name_joined(tmp_path):
    path = tmp_path / "199801.txt"
    path.write_text(
        "主席/n  江/nr  泽民/nr  讲话/n  。/w  李/nr  鹏/nr  朱/nr  镕基/nr  出席/v  。/w\n"
        "克林顿/nr  说/v  ，/w  江/nr  主席/n  好/a  ！/w  北京/ns  untagged\n"
        "\n", encoding="utf-8")
    rows = nc.read_tagged_words(path, "nr")
    assert [r["text"] for r in rows] == ["主席江泽民讲话。", "李鹏朱镕基出席。", "克林顿说，江主席好！", "北京untagged"]
    assert [[g["text"] for g in r["names"]] for r in rows] == [["江泽民"], ["李鹏", "朱镕基"], ["克林顿", "江"], []]
    assert rows[1]["names"][1] == {"start": 2, "end": 5, "text": "朱镕基"}  # offsets within the sentence
    assert nc.char_labels(rows[2]) == [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]


def test_sentences_sharing_a_long_string_with_an_excluded_file_are_dropped(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"text": "新华社北京一月一日电国家主席江泽民发表新年讲话"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    grams = nc.excluded_strings([bench])
    rows = [{"text": "据报道国家主席江泽民发表新年讲话并祝福", "names": []},  # shares 12 characters
            {"text": "国家主席江泽民在北京会见了客人们和朋友们", "names": []}]  # shares 7 at most
    assert [r["text"] for r in nc.decontaminated(rows, grams)] == [rows[1]["text"]]


def test_the_measured_splits_strings_are_what_a_training_only_corpus_loses(monkeypatch):
    measured = {("msra", "test"): [{"text": "国家主席江泽民在北京会见了客人们和朋友们", "names": []}],
                ("resume", "test"): [{"text": "高勇：男，中国国籍，无境外居留权", "names": []}]}
    monkeypatch.setattr(nc, "read_rows", lambda corpus, split: measured.get((corpus, split)))
    grams = nc.measured_strings()  # Resume's dev split not installed here: skipped
    rows = [{"text": "据报道国家主席江泽民在北京会见了客人们", "names": []},
            {"text": "李明：男，中国国籍，研究生学历", "names": []},
            {"text": "据报道高勇：男，中国国籍，无境外居留权", "names": []},  # shares 14 with Resume's test split
            {"text": "江泽民在上海", "names": []}]
    assert [r["text"] for r in nc.decontaminated(rows, grams)] == ["李明：男，中国国籍，研究生学历", "江泽民在上海"]


def test_template_lines_label_the_filled_word_only():
    assert trainer.templated(lambda c: f"一张{c}的照片。", "杜宾犬", 0) == ("一张杜宾犬的照片。", [0] * 9)
    text, y = trainer.templated(lambda c: f"一张{c}的照片。", "王芳", 1)
    assert text == "一张王芳的照片。" and y == [0, 0, 1, 1, 0, 0, 0, 0]
    assert trainer.spans(y) == [(2, 4)]
    assert trainer.spans([1, 0, 1, 1]) == [(0, 1), (2, 4)]


def test_tatoeba_rows_mark_the_cast_in_simplified_sentences_once_each(tmp_path):
    tsv = tmp_path / "tatoeba.tsv"
    tsv.write_text("\ufeff" + "\n".join([
        "1\t汤姆和玛丽亚是朋友。\t2\tTom and Maria are friends.",
        "1\t汤姆和玛丽亚是朋友。\t3\tTom and Maria are pals.",  # the same sentence, another translation
        "4\t湯姆很高。\t5\tTom is tall.",  # traditional script
        "6\tTom很高。\t7\tTom is tall.",  # Latin letters
        "8\t这很简单，我肯定。\t9\tIt is simple, I am sure.",  # 简 and 肯 are not in the cast
        "bad line",
    ]) + "\n", encoding="utf-8")
    rows = nc.tatoeba_rows(tsv)
    assert rows == [{"text": "汤姆和玛丽亚是朋友。", "names": [{"start": 0, "end": 2, "text": "汤姆"},
                                                          {"start": 3, "end": 6, "text": "玛丽亚"}]}]
    assert nc.tatoeba_rows(tmp_path / "missing.tsv") is None


def test_tatoeba_name_free_keeps_sentences_whose_every_translation_names_no_one(tmp_path):
    tsv = tmp_path / "tatoeba.tsv"
    tsv.write_text("\ufeff" + "\n".join([
        "1\t我们买了张圆桌。\t2\tWe bought a round table, as we said.",
        "1\t我们买了张圆桌。\t3\tWe bought a table. It is round, as it should be.",  # a second sentence starts capitalised
        "4\t比尔很高。\t5\tBill is tall.",  # first word a name: written capitalised inside a sentence below
        "6\t我看见了比尔。\t7\tI saw Bill.",
        "8\t她住在东京。\t9\tShe lives in Tokyo.",  # a place: dropped, a sentence lost, nothing mislabelled
        "10\t他来了。\t11\the came.",
        "10\t他来了。\t12\tHere he is, said Kim.",  # one translation names someone: the sentence goes
        "13\t我累了。\t14\tI'm tired.",
        "15\t湯姆很高。\t16\tHe is tall.",  # traditional script
        "17\t你要一张票吗？\t18\tDo you want a ticket? I do.",
        "19\t这是一本好书。\t20\tZzyzx is a good book.",  # a first word never written in lower case
    ]) + "\n", encoding="utf-8")
    assert nc.tatoeba_name_free(tsv) == ["我们买了张圆桌。", "我累了。", "你要一张票吗？"]
    assert nc.tatoeba_name_free(tmp_path / "missing.tsv") is None


def test_everyday_lines_are_name_free_or_name_a_pronouns_place():
    import random

    rows = trainer.given_names(["他很难过。", "天很蓝。"], ["王芳"], 1.0, random.Random(0))
    assert rows == [("王芳很难过。", [1, 1, 0, 0, 0, 0]), ("天很蓝。", [0, 0, 0, 0])]


def test_swapped_copies_keep_the_words_around_and_label_the_new_names():
    import random

    rows = [("记者王芳报道", [0, 0, 1, 1, 0, 0]), ("欧阳修和约翰·克里说", [1, 1, 1, 0, 1, 1, 1, 1, 1, 0]),
            ("汤杯决赛", [1, 0, 0, 0]), ("天很蓝", [0, 0, 0])]
    for recombine in (False, True):
        copies = trainer.swapped_rows(rows * 20, 1.0, random.Random(0), recombine)
        assert len(copies) == 40  # a one-character name is no name to swap, a name-free line has none
        seen = set()
        for text, y in copies:
            assert len(text) == len(y)
            found = [text[a:e] for a, e in trainer.spans(y)]
            seen.update(found)
            if text.endswith("报道"):
                assert text.startswith("记者") and len(found) == 1
            else:  # the other name stays the only other one
                assert len(found) == 2 and text.endswith("和约翰·克里说") and found[1] == "约翰·克里"
        chinese = seen - {"约翰·克里"}
        if recombine:  # surnames and given names drawn apart
            assert chinese == {"王芳", "王修", "欧阳芳", "欧阳修"}
        else:
            assert chinese == {"王芳", "欧阳修"}
    assert trainer.swapped_rows(rows, 0.0, random.Random(0)) == []
    # a surname standing alone for the name before it stays (a person's surname still), or follows the swap;
    # another one-character name stays
    again = [("陈刚说，陈对此一无所知", [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ("王芳", [1, 1]), ("汤和陈刚", [1, 0, 1, 1])]
    kept = trainer.swapped_rows(again * 10, 1.0, random.Random(0))
    assert {text[a:e] for text, y in kept if text.endswith("一无所知") for a, e in trainer.spans(y)[1:]} == {"陈"}
    assert any(text.startswith("王芳说") for text, _ in kept)
    for text, y in trainer.swapped_rows(again * 10, 1.0, random.Random(0), lone_follows=True):
        found = [text[a:e] for a, e in trainer.spans(y)]
        if text.endswith("一无所知"):
            assert found in (["王芳", "王"], ["陈刚", "陈"]) and text == f"{found[0]}说，{found[1]}对此一无所知"
        elif text.startswith("汤和"):
            assert found[0] == "汤"


def test_japanese_names_are_written_as_chinese_text_writes_them_in_two_disjoint_halves(tmp_path, monkeypatch):
    data = tmp_path / "gimei" / "data"
    data.mkdir(parents=True)
    (data / "names.yml").write_text("\n".join([
        "first_name:",
        "  male:",
        "    - ['俊男', 'としお', 'トシオ']",
        "    - ['龍太郎', 'りゅうたろう', 'リュウタロウ']",
        "  female:",
        "    - ['優子', 'ゆうこ', 'ユウコ']",
        "    - ['栄子', 'えいこ', 'エイコ']",  # 栄: a Japanese form outside the simplified set
        "    - ['花子', 'はなこ', 'ハナコ']",
        "last_name:",
        "  - ['鈴木', 'すずき', 'スズキ']",
        "  - ['佐々木', 'ささき', 'ササキ']",
        "  - ['山下', 'やました', 'ヤマシタ']",
    ]) + "\n", encoding="utf-8")
    monkeypatch.setattr(nc, "package_dir", lambda module: tmp_path / "gimei" if module == "gimei" else None)
    assert nc.japanese_names("train") == (["铃木", "山下"], ["俊男", "优子"])
    assert nc.japanese_names("measure") == (["佐佐木"], ["龙太郎", "花子"])
    monkeypatch.setattr(nc, "package_dir", lambda module: None)
    assert nc.japanese_names("train") is None


def test_a_share_of_the_drawn_names_are_japanese_and_none_without_the_option():
    import random

    japanese = trainer.JapaneseNames(["铃木"], ["俊男"], 0.5)
    rows = trainer.given_names(["他很难过。"] * 200, ["王芳"], 1.0, random.Random(0), japanese)
    drawn = {text[:-4] for text, _ in rows}
    assert drawn == {"王芳", "铃木俊男"}
    assert all(y == [1] * (len(text) - 4) + [0] * 4 for text, y in rows)
    share = sum(text.startswith("铃木") for text, _ in rows) / len(rows)
    assert 0.35 < share < 0.65
    swapped = trainer.swapped_rows([("记者王芳报道", [0, 0, 1, 1, 0, 0])] * 200, 1.0, random.Random(0),
                                   japanese=japanese)
    assert {text for text, _ in swapped} == {"记者王芳报道", "记者铃木俊男报道"}
    # without it, the draws are those of before (the same random stream)
    assert trainer.given_names(["他很难过。"] * 20, ["王芳", "李明"], 1.0, random.Random(3)) == \
        trainer.given_names(["他很难过。"] * 20, ["王芳", "李明"], 1.0, random.Random(3), None)
