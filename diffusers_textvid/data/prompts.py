"""The prompt language: which symbols exist, how long a prompt may be, how to count and index prompts."""

import string

VOCABULARY = string.ascii_uppercase + string.digits  # 36 symbols, in token-id order
PROMPT_CHARACTERS = frozenset(VOCABULARY + VOCABULARY.lower())  # what a prompt may contain, in either case
MIN_PROMPT_LENGTH = 1
MAX_PROMPT_LENGTH = 6


def normalize_prompt(text: str) -> str:
    """Upper-case `text` and check it is a prompt of the language; raise `ValueError` naming the problem."""
    if not isinstance(text, str):
        raise TypeError(f"A prompt must be a str, got {type(text).__name__}.")
    # Check before upper-casing: str.upper() also maps non-ASCII characters ("ß", "ı") onto A-Z.
    if not PROMPT_CHARACTERS.issuperset(text):
        unknown = sorted(set(text) - PROMPT_CHARACTERS)
        raise ValueError(
            f"Prompt {text!r} contains unknown character(s) {', '.join(repr(c) for c in unknown)}: "
            f"only A-Z and 0-9 are allowed."
        )
    if not MIN_PROMPT_LENGTH <= len(text) <= MAX_PROMPT_LENGTH:  # upper-casing ASCII keeps the length
        raise ValueError(
            f"Prompt {text!r} has {len(text)} characters; it must have "
            f"{MIN_PROMPT_LENGTH} to {MAX_PROMPT_LENGTH}."
        )
    return text.upper()


def count_prompts(length: int) -> int:
    """How many distinct prompts of exactly `length` symbols exist."""
    return len(VOCABULARY) ** length


def total_prompt_count() -> int:
    """How many distinct prompts exist over all allowed lengths."""
    return sum(count_prompts(n) for n in range(MIN_PROMPT_LENGTH, MAX_PROMPT_LENGTH + 1))


def prompt_from_index(index: int) -> str:
    """Map an integer in `[0, total_prompt_count())` to a prompt: shorter prompts first, then base-36 order."""
    if not 0 <= index < total_prompt_count():
        raise ValueError(f"Prompt index {index} is outside [0, {total_prompt_count()}).")
    length = MIN_PROMPT_LENGTH
    while index >= count_prompts(length):
        index -= count_prompts(length)
        length += 1
    symbols = []
    for _ in range(length):
        index, digit = divmod(index, len(VOCABULARY))
        symbols.append(VOCABULARY[digit])
    return "".join(reversed(symbols))


def single_position_variants(prompt: str, position: int) -> list[str]:
    """The 35 prompts that differ from `prompt` only at `position`."""
    return [prompt[:position] + symbol + prompt[position + 1 :] for symbol in VOCABULARY if symbol != prompt[position]]
