"""MineBoilerplate on the FnApiRunner: the same list whatever the number of workers and the input order."""
import json
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from tuwen.transforms.boilerplate import Fragment, StripBoilerplate, mine_boilerplate
from tuwen.pipeline.boilerplate import MineBoilerplate

from test_boilerplate import VIRAL, make_corpus, reposts_corpus

# A sample smaller than the corpus, so that which documents the sample keeps matters.
THRESHOLDS = dict(min_doc_count=20, sample_size=150)


def _corpus():
    return make_corpus(600) + [VIRAL] * 200


def _mine_in_beam(texts, workers, mode, tmp_path):
    """Run MineBoilerplate and read its one output back (through a file: workers may be other processes, which
    cannot import this test module, hence a lambda and a Beam sink)."""
    prefix = str(tmp_path / f"mined_{workers}_{mode}")
    opts = PipelineOptions(["--runner=FnApiRunner", f"--direct_num_workers={workers}",
                            f"--direct_running_mode={mode}"])
    with beam.Pipeline(options=opts) as p:
        (p
         | beam.Create(texts, reshuffle=True)
         | MineBoilerplate(**THRESHOLDS)
         | beam.Map(lambda frags: json.dumps([[f.fragment, f.position, f.doc_count] for f in frags],
                                             ensure_ascii=False))
         | beam.io.WriteToText(prefix, shard_name_template=""))
    rows = json.loads(open(prefix, encoding="utf-8").read())
    return [Fragment(*r) for r in rows]


def test_one_worker_mines_what_the_beam_free_miner_mines(tmp_path):
    texts = _corpus()
    mined = _mine_in_beam(texts, 1, "in_memory", tmp_path)
    assert mined == mine_boilerplate(texts, **THRESHOLDS)
    assert ("- 新浪图片", "suffix") in {(f.fragment, f.position) for f in mined}
    assert not any("暴富" in f.fragment for f in mined)


@pytest.mark.slow
def test_two_worker_processes_and_shuffled_input_mine_the_same_list(tmp_path):
    texts = _corpus()
    shuffled = texts[:]
    random.Random(5).shuffle(shuffled)
    one = _mine_in_beam(texts, 1, "in_memory", tmp_path)
    two = _mine_in_beam(shuffled, 2, "multi_processing", tmp_path)
    assert one == two != []


def test_two_in_memory_workers_and_reversed_input_mine_the_same_list(tmp_path):
    texts = _corpus()
    assert _mine_in_beam(texts[::-1], 2, "in_memory", tmp_path) == mine_boilerplate(texts, **THRESHOLDS)


def test_reposted_posts_mine_in_beam_what_the_beam_free_miner_mines(tmp_path):
    # the remainder samples that tell a repost chain from furniture merge like the counts do
    texts = reposts_corpus(1500)
    beam_mined = _mine_in_beam(texts[::-1], 2, "in_memory", tmp_path)
    assert beam_mined == mine_boilerplate(texts, **THRESHOLDS)
    fragments = {f.fragment for f in beam_mined}
    assert "- 微博热搜榜" in fragments and not any("寻人启事" in f or "#" in f for f in fragments)


def test_mined_list_feeds_the_stripping_step_as_a_side_input():
    texts = make_corpus(300)
    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as p:
        col = p | beam.Create(texts)
        mined = col | MineBoilerplate(min_doc_count=20)
        cleaned = col | beam.Map(_strip, beam.pvalue.AsSingleton(mined))
        assert_that(cleaned | beam.Filter(lambda t: "新浪图片" in t or "摄影小站" in t), equal_to([]))


def test_an_empty_collection_mines_an_empty_list(tmp_path):
    assert _mine_in_beam([], 1, "in_memory", tmp_path) == []


def _strip(text, frags):
    out, pos = [], 0
    for r in StripBoilerplate(frags).find(text):
        out.append(text[pos:r.start])
        pos = r.end
    out.append(text[pos:])
    return "".join(out)
