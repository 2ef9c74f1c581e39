import os

from tuwen.transforms import diskcache


def test_cache_root_follows_the_override_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TUWEN_CACHE_DIR", str(tmp_path / "env"))
    assert diskcache.cache_root() == tmp_path / "env"
    assert diskcache.cache_root(str(tmp_path / "own")) == tmp_path / "own"
    assert diskcache.cache_root("") is None
    monkeypatch.setenv("TUWEN_CACHE_DIR", "")
    assert diskcache.cache_root() is None  # the environment turns caching off for every cache
    monkeypatch.delenv("TUWEN_CACHE_DIR")
    assert diskcache.cache_root().parts[-2:] == (".cache", "tuwen")


def test_saved_objects_load_back_and_only_the_newest_files_stay(tmp_path):
    paths = [tmp_path / "c" / f"{i}.pkl" for i in range(5)]
    for i, p in enumerate(paths):
        diskcache.save(p, {"i": i}, keep=3)
        os.utime(p, (1000 + i, 1000 + i))  # distinct ages on coarse file-system clocks
    diskcache.save(paths[4], {"i": 4}, keep=3)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["2.pkl", "3.pkl", "4.pkl"]
    assert diskcache.load(paths[4]) == {"i": 4} and diskcache.load(paths[0]) is None
    assert oct(paths[4].stat().st_mode & 0o777) == oct(0o644)


def test_a_corrupt_or_unwritable_cache_is_never_fatal(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    assert diskcache.load(bad) is None and diskcache.load(None) is None
    blocker = tmp_path / "file"
    blocker.write_text("x")
    diskcache.save(blocker / "sub" / "x.pkl", 1)  # its folder cannot be made: nothing written, no error
    diskcache.save(None, 1)
    assert not list(tmp_path.glob("**/*.tmp"))
