import itertools

import pytest

from diffusers_textvid.data.prompts import (
    MAX_PROMPT_LENGTH,
    MIN_PROMPT_LENGTH,
    VOCABULARY,
    count_prompts,
    normalize_prompt,
    prompt_from_index,
    single_position_variants,
    total_prompt_count,
)


def test_vocabulary_is_36_distinct_upper_case_letters_and_digits():
    assert len(VOCABULARY) == len(set(VOCABULARY)) == 36
    assert all(symbol.isupper() or symbol.isdigit() for symbol in VOCABULARY)


def test_normalize_prompt_upper_cases_lower_case_letters():
    assert normalize_prompt("hello") == "HELLO"
    assert normalize_prompt("a1b2") == "A1B2"


@pytest.mark.parametrize("character", ["-", " ", "é", "?", "_"])
def test_normalize_prompt_rejects_an_unknown_character_and_names_it_as_typed(character):
    with pytest.raises(ValueError, match=repr(character)):
        normalize_prompt(f"AB{character}C")


@pytest.mark.parametrize("character", ["ß", "ı", "ſ", "ﬁ"])
def test_normalize_prompt_rejects_non_ascii_characters_that_upper_case_to_a_z(character):
    with pytest.raises(ValueError, match="unknown character"):
        normalize_prompt(character)


def test_normalize_prompt_rejects_a_non_string():
    with pytest.raises(TypeError):
        normalize_prompt(42)


@pytest.mark.parametrize("length", [MIN_PROMPT_LENGTH - 1, MAX_PROMPT_LENGTH + 1])
def test_normalize_prompt_rejects_lengths_outside_the_language(length):
    with pytest.raises(ValueError, match=f"{length} characters"):
        normalize_prompt("A" * length)


@pytest.mark.parametrize("length", [MIN_PROMPT_LENGTH, MAX_PROMPT_LENGTH])
def test_normalize_prompt_accepts_the_shortest_and_longest_prompts(length):
    assert normalize_prompt("z" * length) == "Z" * length


def test_total_prompt_count_sums_every_length():
    assert total_prompt_count() == sum(36**n for n in range(1, 7))
    assert count_prompts(2) == 36 * 36


def test_prompt_from_index_enumerates_every_two_symbol_prompt_exactly_once():
    first = count_prompts(1)
    prompts = [prompt_from_index(i) for i in range(first, first + count_prompts(2))]
    assert sorted(prompts) == sorted("".join(pair) for pair in itertools.product(VOCABULARY, repeat=2))


@pytest.mark.parametrize("length", range(MIN_PROMPT_LENGTH + 1, MAX_PROMPT_LENGTH + 1))
def test_prompt_from_index_switches_length_at_each_boundary(length):
    boundary = sum(count_prompts(n) for n in range(MIN_PROMPT_LENGTH, length))
    assert prompt_from_index(boundary - 1) == VOCABULARY[-1] * (length - 1)
    assert prompt_from_index(boundary) == VOCABULARY[0] * length
    window = [prompt_from_index(i) for i in range(max(0, boundary - 500), boundary + 500)]
    assert len(set(window)) == len(window)
    assert all(normalize_prompt(prompt) == prompt for prompt in window)


def test_prompt_from_index_covers_the_first_and_last_prompt():
    assert prompt_from_index(0) == VOCABULARY[0]
    assert prompt_from_index(total_prompt_count() - 1) == VOCABULARY[-1] * MAX_PROMPT_LENGTH


@pytest.mark.parametrize("index", [-1, total_prompt_count()])
def test_prompt_from_index_rejects_indices_out_of_range(index):
    with pytest.raises(ValueError, match=str(index)):
        prompt_from_index(index)


@pytest.mark.parametrize("prompt, position", [("HELLO", 0), ("HELLO", 2), ("HELLO", 4), ("Q", 0), ("ABC123", 5)])
def test_single_position_variants_are_35_distinct_prompts_differing_only_at_that_position(prompt, position):
    variants = single_position_variants(prompt, position)
    assert len(variants) == len(set(variants)) == 35
    assert prompt not in variants
    for variant in variants:
        assert len(variant) == len(prompt)
        assert [i for i in range(len(prompt)) if variant[i] != prompt[i]] == [position]
    assert {variant[position] for variant in variants} == set(VOCABULARY) - {prompt[position]}
