"""The small-record steps of the DAG as plain functions: who wins a sample key, and which shard a sample lands in."""
import random

from tuwen.pipeline.progress import Progress, ProgressConfig
from tuwen.pipeline.records import KEPT, REJECTED, Kept, Rejected
from tuwen.pipeline.sharding import _rank_bucket, _resolve_key_group
from tuwen.transforms import shards as fmt


def kept(ident, source="a.jsonl", row=0, key="k"):
    return Kept(KEPT, key, ident, source, row, "f.bin", 0, 1, 100)


def rejected(ident, source="a.jsonl", row=0, key="k", reason="no_chinese"):
    return Rejected(REJECTED, key, ident, source, row, "text", reason, "")


def resolve(*outcomes):
    return [(o.tag, o.value) for o in _resolve_key_group(("k", list(outcomes)))]


def test_a_lone_outcome_keeps_its_fate():
    assert resolve(kept("x")) == [(KEPT, kept("x"))]
    assert resolve(rejected("x")) == [(REJECTED, rejected("x"))]


def test_the_smallest_source_and_row_of_an_id_keeps_its_fate_later_rows_are_duplicate_id():
    first, later, latest = kept("x", "a.jsonl", 5), kept("x", "b.jsonl", 0), rejected("x", "a.jsonl", 9)
    out = resolve(latest, later, first)  # input order does not matter
    assert out[0] == (KEPT, first)
    assert [(tag, v.reason, v.detail) for tag, v in out[1:]] == [
        (REJECTED, "duplicate_id", "same id as a.jsonl row 5"), (REJECTED, "duplicate_id", "same id as a.jsonl row 5")]
    assert {v.row for _, v in out[1:]} == {9, 0}


def test_a_rejected_first_row_stays_rejected_and_its_later_copy_is_still_a_duplicate():
    out = resolve(kept("x", row=3), rejected("x", row=1))
    assert out[0] == (REJECTED, rejected("x", row=1))
    assert out[1][1].reason == "duplicate_id" and out[1][1].row == 3


def test_two_ids_on_one_key_the_smaller_id_wins_the_other_is_key_collision():
    out = resolve(kept("zz", row=0), kept("aa", row=7))
    tags = {v.id: (tag, getattr(v, "reason", None)) for tag, v in out}
    assert tags == {"aa": (KEPT, None), "zz": (REJECTED, "key_collision")}
    assert [v.detail for _, v in out if v.id == "zz"] == ["key k is also id 'aa'"]


def test_ranks_over_buckets_number_shards_as_one_global_sort_would():
    rng = random.Random(0)
    keys = sorted({"".join(rng.choice("0123456789abcdef") for _ in range(16)) for _ in range(500)})
    samples = [kept(f"id{i}", key=k) for i, k in enumerate(keys)]
    buckets = {}
    for s in rng.sample(samples, len(samples)):  # any order in, any bucket order
        buckets.setdefault(fmt.bucket_of(s.key), []).append(s)
    counts = {b: len(v) for b, v in buckets.items()}
    placed = [pair for item in buckets.items() for pair in _rank_bucket(item, counts, shard_size=64)]
    assert sorted(placed, key=lambda p: p[1].key) == [(i // 64, s) for i, s in enumerate(samples)]


def test_a_progress_line_says_checked_of_the_total_passed_rejected_rate_and_time_left():
    p = Progress(ProgressConfig(seconds=15, total=10_000, workers=2))
    p.seen, p.passed = 1_000, 900
    line = p.line(p.started + 20.0)
    assert line.endswith(": 1,000 pairs checked of ~5,000 (20%), 900 passed, 100 rejected, 50 pairs/s, "
                         "about 1 min 20 s left")
    p.seen = p.passed = 5_000
    assert p.line(p.started + 100.0, final=True).endswith(" done: 5,000 pairs checked of ~5,000 (100%), 5,000 "
                                                          "passed, 0 rejected, 50 pairs/s")
    unknown = Progress(ProgressConfig(seconds=15))
    unknown.seen = unknown.passed = 3
    assert unknown.line(unknown.started + 1.0).endswith(": 3 pairs checked, 3 passed, 0 rejected, 3 pairs/s")


def test_the_pairs_of_local_jsonl_and_parquet_inputs_are_counted_and_others_are_unknown(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tuwen.transforms.sources import InputFile, count_pairs

    (tmp_path / "a.jsonl").write_bytes(b'{"a": 1}\n\n\n{"b": 2}\n{"c": 3}')
    pq.write_table(pa.table({"text": ["x"] * 7}), tmp_path / "b.parquet")
    files = [InputFile(str(tmp_path / "a.jsonl"), "a.jsonl", "jsonl"), InputFile(str(tmp_path / "b.parquet"),
                                                                               "b.parquet", "parquet")]
    assert count_pairs(files) == 10
    assert count_pairs(files + [InputFile(str(tmp_path / "c.tar"), "c.tar", "tar")]) is None
    assert count_pairs([InputFile("gs://bucket/a.jsonl", "a.jsonl", "jsonl")]) is None


def test_the_fused_stage_reads_a_referenced_image_through_beams_filesystems_remote_ones_too(tmp_path):
    import io

    from apache_beam.io.localfilesystem import LocalFileSystem
    from PIL import Image

    from tuwen.pipeline.check_and_stage import _CheckPairs
    from tuwen.pipeline.records import Ident
    from tuwen.transforms.image import ImageConfig
    from tuwen.transforms.text_steps import TextStepsConfig

    class RemoteStandIn(LocalFileSystem):  # defining it registers the scheme with Beam's FileSystems, alone
        @classmethod
        def scheme(cls):
            return "tuwen-test-remote"

        def open(self, path, *args, **kwargs):
            return super().open(path[len("tuwen-test-remote://"):], *args, **kwargs)

    buf = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 120, 40)).save(buf, format="JPEG")
    (tmp_path / "a.jpg").write_bytes(buf.getvalue())
    check = _CheckPairs(ImageConfig(), TextStepsConfig(steps=()), ProgressConfig())
    check.setup()
    pair = {"id": "r1", "source": "m.jsonl", "row": 0, "text": "一只猫坐在窗台上晒太阳",
            "image_ref": f"tuwen-test-remote://{tmp_path}/a.jpg"}
    out = list(check.process(pair))
    assert len(out) == 1 and isinstance(out[0], tuple), [getattr(o, "value", o) for o in out]  # not a reject
    ident, checked = out[0]
    assert ident == Ident("r1", "m.jsonl", 0) and (checked.image.width, checked.image.height) == (300, 300)
