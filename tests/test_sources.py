import io
import json
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tuwen.pipeline.inputs import expand_inputs, read_jsonl, read_parquet, read_tar
from tuwen.transforms.sources import InputError, InputFile, input_root, resolve_image_ref


def test_input_root_is_the_folder_before_the_first_wildcard():
    assert input_root("/data/crawl/*.jsonl") == "/data/crawl/"
    assert input_root("/data/crawl/2024-*/part-?.jsonl") == "/data/crawl/"
    assert input_root("/data/crawl/a.jsonl") == "/data/crawl/"
    assert input_root("gs://bucket/x/{a,b}/*.tar") == "gs://bucket/x/"


def test_ids_do_not_change_when_the_crawl_folder_moves(tmp_path):
    for where in ("one", "two/deeper"):
        d = tmp_path / where / "day1"
        d.mkdir(parents=True)
        (d / "a.jsonl").write_text("{}\n")
    a = expand_inputs([str(tmp_path / "one" / "*" / "*.jsonl")])
    b = expand_inputs([str(tmp_path / "two/deeper" / "*" / "*.jsonl")])
    assert a[0].source == b[0].source == "day1/a.jsonl"


def test_no_match_is_a_start_up_error(tmp_path):
    with pytest.raises(InputError, match="no input matched"):
        expand_inputs([str(tmp_path / "*.jsonl")])


def test_unknown_kind_is_a_start_up_error(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InputError, match="unknown input kind"):
        expand_inputs([str(tmp_path / "*")])


def test_same_relative_path_under_two_inputs_is_a_start_up_error(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "part.jsonl").write_text("{}\n")
    with pytest.raises(InputError, match="same relative path"):
        expand_inputs([str(tmp_path / "a" / "*.jsonl"), str(tmp_path / "b" / "*.jsonl")])


def test_image_refs_resolve_against_the_manifest_folder():
    assert resolve_image_ref("/data/m/a.jsonl", "img/1.jpg") == "/data/m/img/1.jpg"
    assert resolve_image_ref("/data/m/a.jsonl", "/abs/1.jpg") == "/abs/1.jpg"
    assert resolve_image_ref("/data/m/a.jsonl", "file:///abs/1.jpg") == "/abs/1.jpg"
    assert resolve_image_ref("gs://b/m/a.jsonl", "img/1.jpg") == "gs://b/m/img/1.jpg"
    assert resolve_image_ref("/data/m/a.jsonl", "s3://b/1.jpg") == "s3://b/1.jpg"


def jsonl_file(tmp_path, lines: bytes) -> InputFile:
    p = tmp_path / "m.jsonl"
    p.write_bytes(lines)
    return InputFile(str(p), "m.jsonl", "jsonl")


def test_jsonl_rows_get_ids_and_every_bad_line_a_reason(tmp_path):
    f = jsonl_file(tmp_path, b"\n".join([
        json.dumps({"text": "中文", "image": "a.jpg"}).encode(),
        b'{"id": 7, "text": "x", "image": "b.jpg", "tag": "t"}',
        b"",  # blank lines are not pairs
        b'{"text": "cut',
        b'["a list"]',
        b'{"text": "\xd6\xd0"}',
        b'{"image": "c.jpg"}',
        b'{"text": "no image"}',
    ]) + b"\n")
    rows = list(read_jsonl(f, keep_columns=["tag"]))
    assert [r["id"] for r in rows] == ["m.jsonl#0", "7", "m.jsonl#3", "m.jsonl#4", "m.jsonl#5", "m.jsonl#6",
                                       "m.jsonl#7"]
    assert [r.get("reason") for r in rows] == [None, None, "malformed_line", "malformed_line", "invalid_utf8",
                                               "missing_text", "missing_image"]
    assert rows[0]["image_ref"] == str(tmp_path / "a.jpg")
    assert rows[1]["extra"] == {"tag": "t"}


def test_parquet_rows_with_inline_bytes(tmp_path):
    p = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([{"text": "中", "image_bytes": b"abc", "id": None},
                                         {"text": None, "image_bytes": b"def", "id": "named"}]), p)
    rows = list(read_parquet(InputFile(str(p), "x.parquet", "parquet")))
    assert [r["id"] for r in rows] == ["x.parquet#0", "named"]
    assert rows[0]["image_bytes"] == b"abc" and rows[1]["text"] is None


def test_corrupt_parquet_is_reported_not_raised(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"PAR1 this is not parquet")
    rows = list(read_parquet(InputFile(str(p), "bad.parquet", "parquet")))
    assert len(rows) == 1 and rows[0]["reason"] == "unreadable_input"


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_tar_members_group_by_key(tmp_path):
    p = tmp_path / "s.tar"
    _tar(p, [("k1.jpg", b"J1"), ("k1.txt", "一".encode()), ("k1.json", b'{"url": "u"}'), ("k1.gen.txt", "二".encode()),
             ("k2.png", b"P2"), ("k2.txt", b"\xff\xfe"), ("k3.txt", "只有字".encode())])
    rows = list(read_tar(InputFile(str(p), "s.tar", "tar"), keep_columns=["url"]))
    assert [r["id"] for r in rows] == ["s.tar#k1", "s.tar#k2", "s.tar#k3"]
    assert rows[0]["image_bytes"] == b"J1" and rows[0]["text"] == "一" and rows[0]["gen_text"] == "二"
    assert rows[0]["extra"] == {"url": "u"}
    assert rows[1]["reason"] == "invalid_utf8"
    assert rows[2]["reason"] == "missing_image"


def test_truncated_tar_reports_where_it_stopped(tmp_path):
    p = tmp_path / "t.tar"
    _tar(p, [("k1.jpg", b"J" * 5000), ("k1.txt", "一".encode()), ("k2.jpg", b"J" * 5000), ("k2.txt", b"x")])
    data = p.read_bytes()
    p.write_bytes(data[:6000])
    rows = list(read_tar(InputFile(str(p), "t.tar", "tar")))
    assert rows[-1]["reason"] == "unreadable_input"


def _tar_with(path, members):
    """members: (name, data) or (name, size) for a member of `size` zero bytes written without holding them."""
    with open(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if isinstance(data, int):
                info.size = data
                tar.addfile(info, _Zeros(data))
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


class _Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return b"\0" * n


def test_tar_members_over_their_limits_are_skipped_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.tar"
    _tar_with(path, [("a.jpg", 5_000_000), ("a.txt", "大图片".encode()),
                     ("b.jpg", b"\xff\xd8small"), ("b.txt", 2_000_000),
                     ("c.jpg", b"\xff\xd8ok"), ("c.txt", "好".encode()), ("c.bin", 3_000_000), ("c.json", 2_000_000)])
    read = []
    original = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda self, info: read.append(info.name) or original(self, info))
    pairs = {p["id"].split("#")[1]: p for p in read_tar(InputFile(str(path), "big.tar", "tar"),
                                                        max_image_bytes=1_000_000)}
    assert pairs["a"]["reason"] == "image_file_too_large" and "5000000 bytes" in pairs["a"]["detail"]
    assert pairs["b"]["reason"] == "text_too_long"
    assert pairs["c"]["text"] == "好" and pairs["c"]["image_bytes"] == b"\xff\xd8ok"
    assert set(read) == {"a.txt", "b.jpg", "c.jpg", "c.txt"}  # nothing oversized, nothing unused was read


def test_the_text_pass_over_a_tar_reads_no_image_member(tmp_path, monkeypatch):
    from tuwen.pipeline.inputs import read_texts

    path = tmp_path / "t.tar"
    _tar_with(path, [("a.jpg", b"\xff\xd8a"), ("a.txt", "一".encode()), ("b.png", b"\x89PNG"), ("b.txt", "二".encode()),
                     ("c.txt", "没有图片".encode())])
    read = []
    original = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile",
                        lambda self, info: read.append(info.name) or original(self, info))
    assert list(read_texts(InputFile(str(path), "t.tar", "tar"))) == ["一", "二"]
    assert set(read) == {"a.txt", "b.txt", "c.txt"}


@pytest.mark.slow
def test_a_run_over_a_tar_with_a_600_mb_member_stays_small(tmp_path):
    import subprocess
    import sys
    import time

    path = tmp_path / "crawl.tar"
    _tar_with(path, [("a.jpg", 600 * 1024 * 1024), ("a.txt", "很大的图片。".encode())])
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "tuwen.cli", "run", f"--input={path}", f"--output={out}",
                             "--progress-seconds=0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The child's own high-water mark (VmHWM starts afresh at exec; ru_maxrss would count the pytest process it
    # was forked from).
    peak_kib = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                hwm = [line for line in fh if line.startswith("VmHWM:")]
            if hwm:
                peak_kib = max(peak_kib, int(hwm[0].split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    assert proc.returncode == 0
    assert 0 < peak_kib < 600 * 1024  # the member never entered memory
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rejected_by_reason"] == {"image_file_too_large": 1} and stats["read"] == 1


class _Http404(Exception):
    """Stands in for a filesystem client's 404: google.api_core's NotFound has ``code``, Azure's error
    ``status_code``."""

    def __init__(self, attribute: str):
        super().__init__("the object is gone")
        setattr(self, attribute, 404)


def test_a_missing_file_is_told_by_the_exception_type_never_by_its_message():
    from apache_beam.io.filesystem import BeamIOError

    from tuwen.transforms.sources import is_missing_file

    assert is_missing_file(FileNotFoundError(2, "No such file or directory"))
    assert is_missing_file(_Http404("code")) and is_missing_file(_Http404("status_code"))
    assert is_missing_file(BeamIOError("Match operation failed", {"gs://b/x.jpg": _Http404("code")}))
    assert not is_missing_file(BeamIOError("Match operation failed", {"gs://b/x.jpg": PermissionError(13, "no")}))
    assert not is_missing_file(BeamIOError("File not found: hdfs://x.jpg"))  # a message alone says nothing
    assert not is_missing_file(OSError("object not found; no such file"))
    assert not is_missing_file(PermissionError(13, "Permission denied"))


def test_an_image_the_reader_cannot_find_is_missing_and_any_other_failure_a_read_error():
    from tuwen.transforms.pairs import Dropped, read_image_bytes

    def reader(error):
        def read(path, limit):
            raise error
        return read

    pair = {"image_ref": "gs://bucket/a.jpg"}
    gone = read_image_bytes(pair, 100, reader(_Http404("code")))
    assert gone == Dropped("image_missing", "gs://bucket/a.jpg: _Http404: the object is gone")
    denied = read_image_bytes(pair, 100, reader(PermissionError(13, "Permission denied")))
    assert denied == Dropped("image_read_error", "gs://bucket/a.jpg: PermissionError: [Errno 13] Permission denied")
    local = read_image_bytes({"image_ref": "/nowhere/a.jpg"}, 100)
    assert local == Dropped("image_missing", "/nowhere/a.jpg: No such file or directory")


def test_the_checks_read_a_referenced_image_through_the_reader_they_are_handed(tmp_path):
    from tuwen.pipeline.inputs import read_bytes
    from tuwen.transforms.pairs import Dropped, read_image_bytes

    pair = {"image_ref": "s3://bucket/a.jpg"}
    handed = read_image_bytes(pair, 100, lambda path, limit: b"JPEG from " + path.encode())
    assert handed == b"JPEG from s3://bucket/a.jpg"
    alone = read_image_bytes(pair, 100)  # the Beam-free default reads local files only, and says so
    assert isinstance(alone, Dropped) and alone.reason == "image_read_error" and "NeedsFilesystem" in alone.detail
    (tmp_path / "a.jpg").write_bytes(b"x" * 10)
    assert read_bytes(str(tmp_path / "a.jpg"), 4) == b"xxxxx"  # the pipeline's reader: limit + 1 bytes, local too
