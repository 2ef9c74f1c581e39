"""``tuwen finetune`` learns a labelled synthetic set well above chance; zero-shot scoring logic."""
import json

import pytest
import torch
import torch.nn.functional as F

from tuwen.trainer.checkpoint import save_model_folder
from tuwen.trainer.cli import finetune_main
from tuwen.trainer.model import build_model
from tuwen.trainer.synthetic import synthetic_pairs
from tuwen.trainer.tokenizer import ChineseWordPieceTokenizer


def _manifest(folder, pairs, name):
    (folder / "img").mkdir(exist_ok=True)
    rows = []
    for s in pairs:
        path = folder / "img" / f"{s['id']}.jpg"
        path.write_bytes(s["jpg"])
        rows.append({"image": f"img/{path.name}", "text": s["text"], "label": s.get("label")})
    (folder / name).write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return str(folder / name)


@pytest.mark.slow
def test_finetune_head_beats_chance_clearly(tmp_path):
    torch.manual_seed(0)
    save_model_folder(tmp_path / "ckpt", build_model("tiny"), ChineseWordPieceTokenizer())
    train = _manifest(tmp_path, synthetic_pairs(240, size=48, seed=0), "train.jsonl")
    val = _manifest(tmp_path, synthetic_pairs(90, size=48, seed=1), "val.jsonl")
    rc = finetune_main(["--checkpoint", str(tmp_path / "ckpt"), "--data", train, "--val-data", val,
                        "--output", str(tmp_path / "ft"), "--epochs", "40"])
    assert rc == 0
    res = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert res["classes"] == 18
    assert res["val_top1"] >= 3 * res["chance_top1"]  # 18 classes: chance 5.6%
    assert (tmp_path / "ft" / "classifier.safetensors").is_file()


def test_finetune_refuses_unlabelled_data(tmp_path):
    save_model_folder(tmp_path / "ckpt", build_model("tiny"), ChineseWordPieceTokenizer())
    pairs = synthetic_pairs(4, size=32)
    for p in pairs:
        p.pop("label")
    data = _manifest(tmp_path, pairs, "m.jsonl")
    assert finetune_main(["--checkpoint", str(tmp_path / "ckpt"), "--data", data,
                          "--output", str(tmp_path / "o")]) == 2


class _ColourModel(torch.nn.Module):
    """Stand-in encoder: images -> their mean RGB, texts -> the RGB of the colour word they contain."""

    config = {"embed_dim": 3}

    def __init__(self, tokenizer):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.words = {tokenizer.vocab[c]: rgb for c, rgb in (("红", (1.0, 0, 0)), ("绿", (0, 1.0, 0)),
                                                             ("蓝", (0, 0, 1.0)))}

    def encode_image(self, pixels):
        return F.normalize(pixels.mean(dim=(2, 3)) + 3.0, dim=-1) - F.normalize(torch.ones(1, 3), dim=-1)

    def encode_text(self, ids):
        out = torch.zeros(len(ids), 3)
        for i, row in enumerate(ids.tolist()):
            for t in row:
                if t in self.words:
                    out[i] = torch.tensor(self.words[t])
        return F.normalize(out + 1e-6, dim=-1)


def test_zero_shot_picks_the_prompted_class():
    from PIL import Image

    from tuwen.trainer.data import EvalSet
    from tuwen.trainer.evaluate import ZERO_SHOT_TEMPLATES, zero_shot_top1

    tok = ChineseWordPieceTokenizer()
    colours = {"红色": (250, 0, 0), "绿色": (0, 250, 0), "蓝色": (0, 0, 250)}
    images, labels = [], []
    for name, rgb in colours.items():
        for _ in range(2):
            images.append(lambda rgb=rgb: Image.new("RGB", (8, 8), rgb))
            labels.append(name)
    data = EvalSet(images, [], [], labels)
    pre = lambda im: torch.tensor(list(im.getdata()), dtype=torch.float32).t().reshape(3, 8, 8) / 255  # noqa: E731
    assert len(ZERO_SHOT_TEMPLATES) > 1 and all("{}" in t for t in ZERO_SHOT_TEMPLATES)
    assert zero_shot_top1(_ColourModel(tok), tok, pre, data, list(colours)) == 100.0
    assert zero_shot_top1(_ColourModel(tok), tok, pre, data, ["蓝色", "红色", "绿色"]) == 100.0
    with pytest.raises(ValueError):
        zero_shot_top1(_ColourModel(tok), tok, pre, data, ["红色", "绿色"])
