import hashlib
import io
import tarfile

from tuwen.transforms import shards as fmt


def sample(i):
    pid = f"id-{i}"
    return {"id": pid, "key": fmt.sample_key(pid), "source": "m.jsonl", "text": f"文字{i}", "gen_text": None,
            "width": 300, "height": 300, "orig_width": 300, "orig_height": 300, "sha256": "0" * 64, "extra": {}}


def test_sample_key_is_the_sha256_prefix_of_the_id():
    assert fmt.sample_key("a#1") == hashlib.sha256(b"a#1").hexdigest()[:16]
    assert "." not in fmt.sample_key("x.y.z")


def test_tar_bytes_do_not_depend_on_time_or_user():
    def build():
        buf = io.BytesIO()
        fmt.write_tar(buf, fmt.sample_members(sample(1), b"JPEG"))
        return buf.getvalue()

    first = build()
    assert first == build()
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        infos = tar.getmembers()
    assert [i.name.split(".", 1)[1] for i in infos] == ["jpg", "txt", "json"]
    assert all(i.mtime == 0 and i.uid == 0 and i.uname == "" and i.mode == 0o644 for i in infos)


def test_gen_text_member_only_when_present():
    s = sample(2)
    s["gen_text"] = "生成的说明"
    names = [n for n, _ in fmt.sample_members(s, b"J")]
    assert names[-1] == f"{s['key']}.gen.txt"


def test_rank_buckets_are_prefix_sums_in_key_order():
    assert fmt.rank_buckets({"0a": 3, "00": 2, "ff": 1}) == {"00": 0, "0a": 2, "ff": 5}


def test_index_table_has_a_fixed_schema_with_kept_columns():
    rows = [fmt.index_row({**sample(3), "extra": {"url": "u", "n": 5}}, "000000.tar", ["url", "n"])]
    table = fmt.index_table(rows, ["url", "n"])
    assert table.column_names[:11] == ["id", "key", "shard", "source", "text", "gen_text", "width", "height",
                                       "orig_width", "orig_height", "sha256"]
    assert table.to_pylist()[0]["n"] == "5"


def test_sizes_json_lists_shard_counts_in_name_order():
    assert fmt.sizes_json({"000001.tar": 2, "000000.tar": 5}) == b'{\n "000000.tar": 5,\n "000001.tar": 2\n}'


def test_shard_folder_holds_samples_in_key_order_with_sizes_json(tmp_path):
    samples = [(sample(i), f"JPEG{i}".encode()) for i in range(5)]
    paths = fmt.write_shard_folder(samples, tmp_path, shard_size=2)
    assert [p.name for p in paths] == ["000000.tar", "000001.tar", "000002.tar"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths] + [fmt.SIZES_NAME]
    assert (tmp_path / fmt.SIZES_NAME).read_bytes() == fmt.sizes_json({p.name: n for p, n in zip(paths, [2, 2, 1])})
    ordered = sorted(samples, key=lambda pair: pair[0]["key"])
    for n, p in enumerate(paths):
        buf = io.BytesIO()
        fmt.write_tar(buf, [m for s, jpeg in ordered[2 * n:2 * n + 2] for m in fmt.sample_members(s, jpeg)])
        assert p.read_bytes() == buf.getvalue()


def test_trainer_test_shards_are_written_as_the_pipeline_writes_them(tmp_path):
    from PIL import Image

    from tuwen.trainer.synthetic import synthetic_pairs, write_shards

    pairs = synthetic_pairs(6, size=32, seed=2)
    write_shards(pairs, tmp_path, shard_size=4)
    records = []
    for s in pairs:
        im = Image.open(io.BytesIO(s["jpg"]))
        records.append((fmt.sample_record(s["id"], "synthetic", s["text"], s["jpg"], im.width, im.height,
                                          gen_text=s["gen_text"], extra={"label": s["label"]}), s["jpg"]))
    records.sort(key=lambda pair: pair[0]["key"])
    for n, chunk in enumerate([records[:4], records[4:]]):
        buf = io.BytesIO()
        fmt.write_tar(buf, [m for s, jpeg in chunk for m in fmt.sample_members(s, jpeg)])
        assert (tmp_path / fmt.shard_name(n)).read_bytes() == buf.getvalue()
    with tarfile.open(tmp_path / fmt.shard_name(0)) as tar:
        infos = tar.getmembers()
    assert all(i.mode == fmt.MEMBER_MODE and i.uname == "" and i.mtime == 0 for i in infos)
    assert [i.name.split(".", 1)[1] for i in infos[:4]] == ["jpg", "txt", "json", "gen.txt"]


def test_sample_record_defaults_the_original_size_to_the_image_size():
    rec = fmt.sample_record("p", "s", "文字", b"JPEG", 40, 30)
    assert (rec["orig_width"], rec["orig_height"], rec["key"]) == (40, 30, fmt.sample_key("p"))
    assert rec["sha256"] == hashlib.sha256(b"JPEG").hexdigest()
