"""Which text steps a run uses, and building them: one place for the pipeline, ``tuwen calibrate`` and ``tuwen text``.

:class:`TextStepsConfig` is small and picklable (what a Beam DoFn carries to workers); :meth:`build` makes the heavy
objects (the sensitive-word automaton, jieba) and is called in a DoFn's ``setup()``. Boilerplate fragments come from
a reviewed list or from the run's own mining pass, so they are passed in at build time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from tuwen.transforms.text import MAX_TEXT_CHARS, STEP_ORDER, EditedText, TextCleaner

OPTIONAL_STEPS = tuple(s for s in STEP_ORDER if s != "normalize")  # normalize always runs


def parse_step_list(spec: str) -> tuple[str, ...]:
    """``"names,sensitive"`` → the optional steps in their fixed order; normalize always runs and may be named.
    ValueError naming an unknown step (tuwen run and tuwen text turn it into a usage error)."""
    names = [s.strip() for s in (spec or "").split(",") if s.strip()]
    unknown = sorted(set(names) - set(STEP_ORDER))
    if unknown:
        raise ValueError(f"unknown text step(s) {', '.join(unknown)}; choose from {','.join(STEP_ORDER)}")
    return tuple(s for s in OPTIONAL_STEPS if s in names)


@dataclass(frozen=True)
class TextStepsConfig:
    """The text steps and what they read; its defaults are tuwen run's (pipeline/text_options.py adds the flags)."""
    steps: tuple[str, ...] = OPTIONAL_STEPS
    lexicons: tuple[str, ...] = ()
    allowlists: tuple[str, ...] = ()
    default_lexicons: bool = True
    default_allowlist: bool = True
    max_chars: int = MAX_TEXT_CHARS

    def sensitive_words(self):
        """The sensitive-word step with this run's lexicons and allowlists, whether or not ``sensitive`` is one of
        the caption steps (the image-text check uses it alone)."""
        from tuwen.transforms.sensitive import MaskSensitiveWords, SensitiveConfig

        step = MaskSensitiveWords(SensitiveConfig(lexicons=tuple(self.lexicons), allowlists=tuple(self.allowlists),
                                                  default_lexicons=self.default_lexicons,
                                                  default_allowlist=self.default_allowlist))
        return step.setup()

    def _names(self):
        from tuwen.transforms.names import PersonNames

        return PersonNames()

    def masking_steps(self) -> list:
        """The steps that hide what must never be written (names, personal data, sensitive words), as configured,
        in the fixed step order (mask_only applies them in list order)."""
        out = []
        if "names" in self.steps:
            out.append(self._names())
        if "pii" in self.steps:
            from tuwen.transforms.pii import MaskPersonalData

            out.append(MaskPersonalData())
        if "sensitive" in self.steps:
            out.append(self.sensitive_words())
        return out

    def build(self, fragments: Optional[Sequence] = None, masking: Optional[list] = None) -> TextCleaner:
        steps = list(masking if masking is not None else self.masking_steps())
        if "boilerplate" in self.steps:  # the seed list and markup stripping apply even when nothing was mined
            from tuwen.transforms.boilerplate import StripBoilerplate

            steps.append(StripBoilerplate(fragments or ()))
        return TextCleaner(steps, max_chars=self.max_chars)


def mask_only(text: str, masking_steps: Sequence) -> str:
    """``text`` with names, personal data and sensitive words masked and nothing else changed (kept columns, mined fragments)."""
    et = EditedText(text)
    for step in masking_steps:
        et.apply(step.name, step.find(et.text))
    return et.text
