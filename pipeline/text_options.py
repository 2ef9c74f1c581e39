"""The text options that ``tuwen run``, ``tuwen text`` and ``tuwen lexicon lint`` share, written once: the flags that
pick the text steps, the length limit and the lexicons, their defaults (:class:`TextStepsConfig`'s) and the
:class:`TextStepsConfig` they make, checked.

Beam-free, like ``tuwen text`` itself; pipeline/options.py adds the same flags to tuwen run's options.
"""
from __future__ import annotations

import argparse

from tuwen.transforms.text_steps import TextStepsConfig, parse_step_list

# tuwen text's names before it took tuwen run's: kept as aliases for one release, deprecated (README, --help).
OLD_NAMES = {"--text-steps": "--steps", "--max-text-chars": "--max-chars"}


class _OldName(argparse.Action):
    """Stores the value as usual and notes when the deprecated old name was the one given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        if option_string in OLD_NAMES.values():
            namespace.old_names_used = [*getattr(namespace, "old_names_used", []), option_string]


def add_text_arguments(parser, steps_default: str, old_names: bool = False) -> None:
    """--max-text-chars, --text-steps, the lexicon flags and --boilerplate-list on ``parser`` (or an argument group).
    ``old_names``: also take tuwen text's deprecated names (:data:`OLD_NAMES`)."""

    def names(new: str) -> list[str]:
        return [new, OLD_NAMES[new]] if old_names else [new]

    def said(new: str) -> str:
        return f"; {OLD_NAMES[new]} is its old name, deprecated: it goes in the next release" if old_names else ""

    action = _OldName if old_names else "store"
    parser.add_argument(*names("--max-text-chars"), action=action, type=int, default=TextStepsConfig.max_chars,
                        metavar="N", dest="max_text_chars",
                        help="drop texts longer than this many characters as text_too_long (default: %(default)s)"
                             + said("--max-text-chars"))
    parser.add_argument(*names("--text-steps"), action=action, default=steps_default, metavar="STEPS",
                        dest="text_steps",
                        help="text steps, comma-separated, run in the fixed order normalize → boilerplate → names → "
                             "pii → sensitive (normalize always runs); '' for normalisation only (default: %(default)s)"
                             + said("--text-steps"))
    add_lexicon_arguments(parser)
    parser.add_argument("--boilerplate-list", default=None, metavar="TSV",
                        help="reuse a reviewed boilerplate list (fragment, position, doc_count; the format of tuwen "
                             "run's boilerplate_mined.tsv) instead of mining one over the input's texts "
                             "(default: mine)")


def add_lexicon_arguments(parser) -> None:
    """--lexicon, --allowlist, --no-default-lexicons and --no-default-allowlist on ``parser``."""
    parser.add_argument("--lexicon", action="append", default=None, metavar="PATH",
                        help="an extra sensitive-word list, one entry per line; repeatable. A public list goes "
                             "through the hygiene policy unless its header holds '# tuwen-lexicon: trusted' "
                             "(default: only the shipped starter lexicons)")
    parser.add_argument("--allowlist", action="append", default=None, metavar="PATH",
                        help="entries never to mask, one per line; repeatable (default: the shipped allowlist)")
    parser.add_argument("--no-default-lexicons", action="store_true", default=not TextStepsConfig.default_lexicons,
                        help="do not load the shipped starter lexicons (default: load them)")
    parser.add_argument("--no-default-allowlist", action="store_true", default=not TextStepsConfig.default_allowlist,
                        help="do not load the shipped allowlist (default: load it)")


def text_steps_config(options) -> TextStepsConfig:
    """The :class:`TextStepsConfig` that ``options`` (tuwen run's or tuwen text's, with the flags above) ask for;
    ValueError for a length limit below 1 or an unknown step."""
    if options.max_text_chars <= 0:
        raise ValueError("--max-text-chars must be positive")
    return TextStepsConfig(steps=parse_step_list(options.text_steps), lexicons=tuple(options.lexicon or ()),
                           allowlists=tuple(options.allowlist or ()),
                           default_lexicons=not options.no_default_lexicons,
                           default_allowlist=not options.no_default_allowlist, max_chars=options.max_text_chars)
