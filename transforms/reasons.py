"""Why a pair was dropped: every reject row carries one of these codes, with the stage that decided it.

A new filter adds its codes here; the README's table of reasons is generated from this list
(``python -m tuwen.transforms.reasons``).
"""

# code -> (stage, what it means)
REASONS: dict[str, tuple[str, str]] = {
    # read: the row itself
    "malformed_line": ("read", "the manifest line is not a JSON object, or a Parquet/tar row could not be read"),
    "unreadable_input": ("read", "the input file could not be read on from here (corrupt Parquet, tar ending early); "
                                 "the row records where, rows after it cannot be counted"),
    "invalid_utf8": ("read", "the text (or the JSONL line) is not valid UTF-8"),
    "missing_text": ("read", "the row has no `text` field"),
    "missing_image": ("read", "the row names no image (`image` path or `image_bytes`)"),
    "duplicate_id": ("read", "another pair has the same id; the smallest (source, row) is kept"),
    "removed_on_request": ("read", "its id or image URL/path is on the removal list (--removed-list; tuwen remove "
                                   "takes published pairs out and adds them to it)"),
    "key_collision": ("read", "another id hashes to the same 16-hex sample key (sha256 prefix); the smaller id is kept"),
    # text: the basic checks (text-safety steps add theirs)
    "empty_text": ("text", "the text is empty or only whitespace after cleaning"),
    "text_not_string": ("text", "the `text` field is not a string"),
    "text_too_long": ("text", "the raw text is longer than --max-text-chars"),
    "no_chinese": ("text", "no CJK ideograph left (masks such as <人名>, <电话> and * do not count)"),
    "japanese_text": ("text", "Japanese rather than Chinese: at least 2 kana making up at least 20% of ideographs+kana"),
    # image
    "image_missing": ("image", "the image file does not exist"),
    "image_read_error": ("image", "the image file could not be read"),
    "image_file_too_large": ("image", "the image file is larger than --max-image-bytes"),
    "image_empty": ("image", "the image file is empty"),
    "image_decode_error": ("image", "not a decodable image (corrupt or unknown format)"),
    "image_truncated": ("image", "the image data ends early"),
    "image_too_large": ("image", "more pixels than --max-pixels (decompression-bomb guard), judged from the header "
                                 "(or, for a format that says its size only then, the decode)"),
    "aspect_ratio": ("image", "long side / short side > --max-aspect-ratio (after EXIF orientation)"),
    "image_too_small": ("image", "shorter side < --min-side (after EXIF orientation)"),
    # safety: what the image shows (--image-safety)
    "unsafe_image_nsfw": ("safety", "open_nsfw's nudity/pornography probability at least --nsfw-threshold "
                                    "(the score in detail)"),
    "unsafe_image_text": ("safety", "OCR found a sensitive word in the image (--image-safety ...,ocr; the captions' "
                                    "lexicons, evasions included; detail: the lexicon category or user:<file stem>)"),
    "unsafe_image_prompt": ("safety", "the --scorer's image embedding is nearer an unsafe prompt class than any safe "
                                      "one by more than --prompt-safety-margin (--image-safety ...,prompts; detail: "
                                      "the two classes and the margin)"),
    "unsafe_image_head": ("safety", "the --safety-head classifier on the --scorer's image embedding gives P(unsafe) "
                                    "at least its threshold (detail: the probability; tuwen safety-head trains it)"),
    "text_heavy_image": ("safety", "detected text covers more than --max-image-text-share of the image area "
                                   "(screenshots, posters, memes)"),
    # relevance: the pair judged as a pair
    "low_similarity": ("relevance", "image-text cosine similarity from --scorer below --similarity-threshold "
                                    "(the score in detail)"),
    # dedup: on small records after the per-pair stage
    "duplicate_pair": ("dedup", "same cleaned text and score (--dedup text-score) or perceptual image hash "
                                "(text-image) as a kept pair, whose id is the detail; the larger image, then the "
                                "smaller id is kept"),
    "seen_in_earlier_run": ("dedup", "an earlier run recorded in --dedup-index kept the same cleaned text and "
                                     "perceptual image hash (detail: its id and run)"),
}


def stage_of(reason: str) -> str:
    return REASONS[reason][0]


def markdown_table() -> str:
    rows = ["| reason | stage | meaning |", "|---|---|---|"]
    rows += [f"| `{code}` | {stage} | {meaning} |" for code, (stage, meaning) in REASONS.items()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
