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
