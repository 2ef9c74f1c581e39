"""`tuwen text` and `tuwen lexicon lint`, end to end through subprocesses, plus the record logic in-process."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuwen.pipeline.text_cli import clean_record, run_text
from tuwen.transforms.sensitive import MaskSensitiveWords
from tuwen.transforms.text import TextCleaner
from tuwen.transforms.text_steps import parse_step_list

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, TUWEN_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")


def tuwen(args, lines, env, check=True):
    data = "".join(ln + "\n" for ln in lines)
    p = subprocess.run([sys.executable, "-m", "tuwen.cli", *args], input=data, capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=120)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def _records(p):
    return [json.loads(ln) for ln in p.stdout.splitlines()]


def _assert_edits_valid(raw, rec):
    """Offsets are code points into the raw text, edits are sorted and never overlap."""
    prev_end = -1
    for ed in rec["edits"]:
        assert set(ed) == {"step", "start", "end", "original", "replacement"}
        assert raw[ed["start"]:ed["end"]] == ed["original"]
        assert ed["start"] >= prev_end
        prev_end = ed["end"]


def test_text_command_writes_one_line_per_input_line_in_order_keeping_fields(env):
    lines = [
        json.dumps({"id": 1, "text": "这是色情网站，去赌 場玩", "url": "u1"}, ensure_ascii=False),
        "this is not json",
        json.dumps({"id": 2, "text": "穿着连衣裙的小女孩。", "extra": {"a": [1, 2]}}, ensure_ascii=False),
        json.dumps([1, 2]),
        json.dumps({"id": 3, "text": "Hello world"}),
        json.dumps({"id": 4}),
        json.dumps({"id": 5, "text": "ＡＢＣ　的  照片\u200b"}, ensure_ascii=False),
    ]
    recs = _records(tuwen(["text", "--text-steps", "sensitive"], lines, env))
    assert len(recs) == len(lines)
    assert recs[0]["id"] == 1 and recs[0]["url"] == "u1"
    assert recs[0]["text"] == "这是****，去***玩"
    assert [e["step"] for e in recs[0]["edits"]] == ["sensitive", "sensitive"]
    assert "dropped" not in recs[0]
    assert set(recs[1]) == {"error"} and set(recs[3]) == {"error"}
    assert recs[2] == {"id": 2, "text": "穿着连衣裙的小女孩。", "extra": {"a": [1, 2]}, "edits": []}
    assert recs[4]["dropped"] == {"stage": "text", "reason": "no_chinese"}
    assert recs[5]["dropped"] == {"stage": "text", "reason": "empty_text"}
    assert recs[6]["text"] == "ABC 的 照片" and all(e["step"] == "normalize" for e in recs[6]["edits"])
    for ln, rec in zip(lines, recs):
        if "error" not in rec and isinstance(json.loads(ln).get("text"), str):
            _assert_edits_valid(json.loads(ln)["text"], rec)


def test_steps_run_in_the_fixed_order_whatever_order_is_listed(env):
    lines = [json.dumps({"text": "全角ＡＢ与賭\u200b場"}, ensure_ascii=False)]
    a = tuwen(["text", "--text-steps", "sensitive,normalize"], lines, env).stdout
    b = tuwen(["text", "--text-steps", "normalize,sensitive"], lines, env).stdout
    assert a == b
    rec = json.loads(a)
    assert rec["text"] == "全角AB与**"


def test_unknown_step_is_a_usage_error(env):
    p = tuwen(["text", "--text-steps", "normalize,frobnicate"], ['{"text": "你好"}'], env, check=False)
    assert p.returncode == 2 and "frobnicate" in p.stderr and p.stdout == ""
    with pytest.raises(ValueError, match="nope"):
        parse_step_list("names,nope")
    assert parse_step_list("sensitive,names,normalize,boilerplate") == ("boilerplate", "names", "sensitive")


def test_a_length_limit_below_one_is_a_usage_error(env):
    p = tuwen(["text", "--max-text-chars", "0"], ['{"text": "你好"}'], env, check=False)
    assert p.returncode == 2 and "--max-text-chars must be positive" in p.stderr and p.stdout == ""


def test_the_old_option_names_still_work_and_say_they_are_deprecated(env):
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in ("王小明说他去赌场了", "长" * 30)]
    new = tuwen(["text", "--text-steps", "names,sensitive", "--max-text-chars", "20"], lines, env)
    old = tuwen(["text", "--steps", "names,sensitive", "--max-chars", "20"], lines, env)
    assert old.stdout == new.stdout
    assert [r.get("dropped", {}).get("reason") for r in _records(old)] == [None, "text_too_long"]
    assert "<人名>" in _records(old)[0]["text"]
    assert "--steps is deprecated, use --text-steps" in old.stderr
    assert "--max-chars is deprecated, use --max-text-chars" in old.stderr
    assert "deprecated" not in new.stderr


def test_tuwen_text_builds_the_text_steps_tuwen_run_builds_from_the_same_options(tmp_path):
    """One set of text options: the same flags give tuwen text and tuwen run the same TextStepsConfig."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from tuwen.pipeline.options import TuwenOptions
    from tuwen.pipeline.text_cli import _text_parser
    from tuwen.pipeline.text_options import text_steps_config

    flags = ["--text-steps=sensitive,names", "--max-text-chars=50", f"--lexicon={tmp_path}/a.txt",
             f"--lexicon={tmp_path}/b.txt", f"--allowlist={tmp_path}/c.txt", "--no-default-allowlist"]
    run_config = PipelineOptions(flags).view_as(TuwenOptions).text_steps_config()
    assert text_steps_config(_text_parser().parse_args(flags)) == run_config
    assert run_config.steps == ("names", "sensitive") and run_config.max_chars == 50
    assert run_config.lexicons == (f"{tmp_path}/a.txt", f"{tmp_path}/b.txt") and not run_config.default_allowlist


def test_lexicon_and_allowlist_options(tmp_path, env):
    lex = tmp_path / "mine.txt"
    lex.write_text("# my list\n援交\n出售冰毒\n", encoding="utf-8")
    allow = tmp_path / "allow.txt"
    allow.write_text("援交\n", encoding="utf-8")
    line = json.dumps({"text": "援交与出售冰毒"}, ensure_ascii=False)
    rec = _records(tuwen(["text", "--text-steps", "sensitive", "--lexicon", str(lex)], [line], env))[0]
    assert rec["text"] == "**与****"
    rec = _records(tuwen(["text", "--text-steps", "sensitive", "--lexicon", str(lex), "--allowlist", str(allow)],
                         [line], env))[0]
    assert rec["text"] == "援交与****"


def test_text_command_imports_neither_beam_nor_torch(env):
    code = ("import sys, io\n"
            "sys.stdin = io.StringIO('{\"text\": \"赌场\"}\\n')\n"
            "from tuwen.cli import main\n"
            "rc = main(['text', '--text-steps', 'normalize,sensitive'])\n"
            "bad = [m for m in ('apache_beam', 'torch') if m in sys.modules]\n"
            "print('BAD', bad, file=sys.stderr)\n"
            "sys.exit(rc or (3 if bad else 0))\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["text"] == "**"


def test_record_logic_in_process():
    cleaner = TextCleaner([MaskSensitiveWords(cache_dir="")])
    assert clean_record(cleaner, '{"text": "卖毒品", "k": 1}') == {
        "text": "卖**", "k": 1, "edits": [{"step": "sensitive", "start": 1, "end": 3, "original": "毒品",
                                           "replacement": "**"}]}
    assert "error" in clean_record(cleaner, "{bad")
    assert clean_record(cleaner, '{"text": 5}')["dropped"] == {"stage": "text", "reason": "text_not_string"}
    long = clean_record(cleaner, json.dumps({"text": "长" * 2000}))
    assert long["dropped"]["reason"] == "text_too_long"
    out = io.StringIO()
    n = run_text(['{"text": "一"}\n'] * 1100, out, cleaner)
    assert n == 1100 and out.getvalue().count("\n") == 1100


def test_names_step_masks_names_before_sensitive_and_no_step_enters_a_name_mask(env):
    lines = [json.dumps({"text": "王小明说他去赌场了"}, ensure_ascii=False)]
    rec = _records(tuwen(["text", "--text-steps", "names,sensitive"], lines, env))[0]
    assert "<人名>" in rec["text"] and "王小明" not in rec["text"]
    assert "**" in rec["text"] and "赌场" not in rec["text"]
    assert {e["step"] for e in rec["edits"]} == {"names", "sensitive"}
    _assert_edits_valid(json.loads(lines[0])["text"], rec)


def test_boilerplate_is_mined_over_the_whole_input_without_a_list(env):
    subjects = ["西湖的日落", "街头的小狗", "雪山下的湖", "城市夜景", "海边的灯塔", "秋天的树林", "草原上的马",
                "古镇的小巷", "夏日的荷花", "冬天的长城", "公园里的孩子", "雨中的街道", "山顶的云海", "河边的柳树"]
    lines = [json.dumps({"id": i, "text": f"{s} - 某某图片网"}, ensure_ascii=False) for i, s in enumerate(subjects)]
    recs = _records(tuwen(["text", "--text-steps", "boilerplate"], lines, env))
    assert [r["id"] for r in recs] == list(range(len(subjects)))
    assert [r["text"] for r in recs] == subjects
    for ln, rec in zip(lines, recs):
        assert rec["edits"][0]["step"] == "boilerplate"
        _assert_edits_valid(json.loads(ln)["text"], rec)


def test_boilerplate_list_option_reuses_a_reviewed_list(tmp_path, env):
    tsv = tmp_path / "reviewed.tsv"
    tsv.write_text("fragment\tposition\tdoc_count\n| 我的网站\tsuffix\t50\n", encoding="utf-8")
    lines = [json.dumps({"text": "湖边的日落 | 我的网站"}, ensure_ascii=False)]
    rec = _records(tuwen(["text", "--text-steps", "boilerplate", "--boilerplate-list", str(tsv)], lines, env))[0]
    assert rec["text"] == "湖边的日落"


def test_lexicon_lint_prints_the_most_masking_entries_and_writes_an_allowlist(tmp_path, env):
    lex = tmp_path / "public.txt"
    lex.write_text("援交\n出售冰毒\n跑跑卡丁车\n", encoding="utf-8")
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in
                              ["跑跑卡丁车。"] * 5 + ["网上出售冰毒"] + ["没有问题"] * 3), encoding="utf-8")
    out = tmp_path / "allow.txt"
    p = tuwen(["lexicon", "lint", "--lexicon", str(lex), "--sample", str(sample), "--write-allowlist", str(out)],
              [], env)
    rows = [ln.split() for ln in p.stdout.splitlines() if ln.strip()[:1].isdigit()]
    assert rows[0][1:3] == ["25", "5"] and rows[0][4] == "跑跑卡丁车"
    assert rows[1][1:3] == ["4", "1"] and rows[1][4] == "出售冰毒"
    assert "9 texts" in p.stdout
    allow = [ln for ln in out.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    assert allow == ["跑跑卡丁车"]  # --min-docs 2 leaves out the single hit
    line = json.dumps({"text": "跑跑卡丁车，出售冰毒"}, ensure_ascii=False)
    rec = _records(tuwen(["text", "--text-steps", "sensitive", "--lexicon", str(lex), "--allowlist", str(out)],
                         [line], env))[0]
    assert rec["text"] == "跑跑卡丁车，****"


def test_lexicon_command_needs_a_known_sub_command(env):
    p = tuwen(["lexicon", "frob"], [], env, check=False)
    assert p.returncode == 2 and "lint" in p.stderr


@pytest.mark.shared
@pytest.mark.slow
def test_text_command_with_the_61k_list_on_captions(shared_data, env):
    lex = shared_data / "lexicons" / "sensitive_public_61k.txt"
    caps = [c for ln in open(shared_data / "flickr8k_cn" / "pairs.jsonl", encoding="utf-8")
            for c in json.loads(ln)["captions"]][:2000]
    lines = [json.dumps({"text": c}, ensure_ascii=False) for c in caps] + \
        [json.dumps({"text": "一只黑狗在草地上跑了很久很久，有人出 售 冰 毒"}, ensure_ascii=False)]
    recs = _records(tuwen(["text", "--text-steps", "sensitive", "--lexicon", str(lex)], lines, env))
    assert len(recs) == len(lines)
    masked = sum(e["end"] - e["start"] for r in recs[:-1] for e in r["edits"] if e["step"] == "sensitive")
    assert masked / sum(len(c) for c in caps) <= 0.003
    assert recs[-1]["text"] == "一只黑狗在草地上跑了很久很久，有人*******"
