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


def test_sentences_sharing_a_long_string_with_an_excluded_file_are_dropped(tmp_path):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"text": "新华社北京一月一日电国家主席江泽民发表新年讲话"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    grams = nc.excluded_strings([bench])
    rows = [{"text": "据报道国家主席江泽民发表新年讲话并祝福", "names": []},  # shares 12 characters
            {"text": "国家主席江泽民在北京会见了客人们和朋友们", "names": []}]  # shares 7 at most
    assert [r["text"] for r in nc.decontaminated(rows, grams)] == [rows[1]["text"]]


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
