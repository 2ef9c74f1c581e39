"""The tokenizer reproduces cn_clip's token ids with cn_clip's shipped vocab."""
import torch

from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer, load_tokenizer, shipped_vocab_path

TEXTS = ["穿着连衣裙的小女孩。", "A dog runs 在草地上, Café 123abc！", "𠀀中文ＡＢＣ 《书》，ok?", "", "很长" * 40,
         "\u3000ｈｅｌｌｏ　世界\x85!", "两只狗在雪地里玩耍"]


def test_vocab_is_cn_clips_21128_tokens():
    tok = ChineseWordPieceTokenizer()
    assert len(tok) == 21128
    assert shipped_vocab_path().parts[-3:] == ("cn_clip", "clip", "vocab.txt")
    assert (tok.pad_id, tok.cls_id, tok.sep_id) == (0, 101, 102)


def test_ids_match_cn_clip_tokenize():
    import cn_clip.clip as cc

    assert torch.equal(ChineseWordPieceTokenizer()(TEXTS), cc.tokenize(TEXTS))


def test_long_text_is_truncated_but_keeps_cls_and_sep():
    ids = ChineseWordPieceTokenizer(context_length=10)("一二三四五六七八九十百千")[0]
    assert ids.tolist()[0] == 101 and ids.tolist()[-1] == 102 and len(ids) == 10


def test_saved_vocab_round_trips(tmp_path):
    tok = ChineseWordPieceTokenizer()
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.vocab_file == tmp_path / "vocab.txt"
    assert torch.equal(again(TEXTS), tok(TEXTS))
    assert tok.decode(tok("小狗")[0]) == "小狗"
