"""Chinese WordPiece tokenizer for the text tower.

The vocabulary is the 21,128-token Chinese BERT vocab that ships in the ``cn_clip`` wheel (``cn_clip/clip/vocab.txt``),
so token ids match Chinese-CLIP checkpoints. The algorithm is BERT's (basic split on whitespace, punctuation and every
CJK ideograph, lower-casing, accent stripping, then greedy longest-match WordPiece); it is re-implemented here so that
loading a tokenizer does not import cn_clip's model code. Sequences are ``[CLS] tokens [SEP]`` padded with ``[PAD]`` (id
0) to ``context_length`` (52, as Chinese-CLIP), truncating the tokens, never the specials.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

VOCAB_FILE_NAME = "vocab.txt"
DEFAULT_CONTEXT_LENGTH = 52


def shipped_vocab_path() -> Path:
    """Path of ``cn_clip/clip/vocab.txt`` inside the installed cn_clip wheel (found without importing cn_clip)."""
    spec = importlib.util.find_spec("cn_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("cn_clip is not installed; install cn_clip==1.6.0 --no-deps for its vocab.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / "clip" / VOCAB_FILE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"cn_clip vocab not found at {path}")
    return path


def _is_cjk(cp: int) -> bool:
    # BERT's definition of a "Chinese character": the CJK ideograph blocks; each becomes its own token.
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_whitespace(ch: str) -> bool:
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


class ChineseWordPieceTokenizer:
    """Text -> token ids with the cn_clip vocabulary. ``tokenizer(texts)`` returns a LongTensor [N, context_length]."""

    def __init__(self, vocab_file: str | os.PathLike | None = None, context_length: int = DEFAULT_CONTEXT_LENGTH,
                 max_chars_per_word: int = 200):
        self.vocab_file = Path(vocab_file) if vocab_file else shipped_vocab_path()
        # One token per "\n"-terminated line (str.splitlines would also split on U+0085/U+2028 inside tokens).
        tokens = self.vocab_file.read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.vocab = {}
        for i, tok in enumerate(tokens):
            self.vocab.setdefault(tok.strip(), i)
        self.inv_vocab = {i: t for t, i in self.vocab.items()}
        self.context_length = context_length
        self.max_chars_per_word = max_chars_per_word
        self.pad_id = self.vocab["[PAD]"]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.unk_id = self.vocab["[UNK]"]
        self.mask_id = self.vocab["[MASK]"]

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def special_ids(self) -> set[int]:
        return {self.pad_id, self.cls_id, self.sep_id, self.unk_id, self.mask_id}

    def _basic_tokens(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_cjk(cp):
                cleaned.append(f" {ch} ")
            elif _is_whitespace(ch):
                cleaned.append(" ")
            else:
                cleaned.append(ch)
        out: list[str] = []
        for word in "".join(cleaned).split():
            word = unicodedata.normalize("NFD", word.lower())
            word = "".join(c for c in word if unicodedata.category(c) != "Mn")
            current = ""
            for ch in word:
                if _is_punctuation(ch):
                    if current:
                        out.append(current)
                    out.append(ch)
                    current = ""
                else:
                    current += ch
            if current:
                out.append(current)
        return out

    def _wordpiece(self, word: str) -> list[str]:
        if len(word) > self.max_chars_per_word:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = ("##" if start > 0 else "") + word[start:end]
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return ["[UNK]"]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece strings (no specials)."""
        return [p for word in self._basic_tokens(text) for p in self._wordpiece(word)]

    def encode(self, text: str) -> list[int]:
        """Text -> ``[CLS] ids [SEP]`` (unpadded, truncated to the context length)."""
        ids = [self.vocab.get(t, self.unk_id) for t in self.tokenize(text)][: self.context_length - 2]
        return [self.cls_id, *ids, self.sep_id]

    def __call__(self, texts: str | Sequence[str]):
        import torch

        if isinstance(texts, str):
            texts = [texts]
        out = torch.full((len(texts), self.context_length), self.pad_id, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.encode(text)
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text without specials (for reading MLM predictions)."""
        toks = [self.inv_vocab.get(int(i), "[UNK]") for i in ids if int(i) not in (self.pad_id, self.cls_id, self.sep_id)]
        return "".join(t[2:] if t.startswith("##") else t for t in toks)

    def save(self, folder: str | os.PathLike) -> Path:
        """Copy the vocab next to a checkpoint so the folder is self-contained."""
        dest = Path(folder) / VOCAB_FILE_NAME
        if dest.resolve() != self.vocab_file.resolve():
            shutil.copyfile(self.vocab_file, dest)
        return dest


def load_tokenizer(folder: str | os.PathLike | None = None, context_length: int = DEFAULT_CONTEXT_LENGTH):
    """The tokenizer saved in a checkpoint folder, or the shipped one when the folder has no vocab."""
    if folder is not None and (Path(folder) / VOCAB_FILE_NAME).is_file():
        return ChineseWordPieceTokenizer(Path(folder) / VOCAB_FILE_NAME, context_length)
    return ChineseWordPieceTokenizer(None, context_length)
