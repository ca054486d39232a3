"""strictjson.loads: JSON as a stranger sends it — refused with a message, never a RecursionError."""

import json

import pytest

from synthesis.services import strictjson
from synthesis.services.strictjson import MAX_DEPTH, MAX_ITEMS, StrictJSONError


def nested(depth: int, open_="[", close="]") -> str:
    return open_ * depth + close * depth


def refused(data) -> str:
    with pytest.raises(StrictJSONError) as caught:
        strictjson.loads(data)
    return str(caught.value)


def test_it_parses_an_ordinary_body_from_bytes_or_text():
    body = {"text": "Hello, \"world\" [1] {2} \\", "voice": "af_heart", "speed": 1.5, "store": False, "ids": [1, 2]}

    assert strictjson.loads(json.dumps(body)) == body
    assert strictjson.loads(json.dumps(body).encode()) == body
    assert strictjson.loads(json.dumps({"text": "Grüße, 你好 😀"}, ensure_ascii=False).encode()) == {"text": "Grüße, 你好 😀"}


def test_it_accepts_nesting_up_to_max_depth_and_refuses_one_level_more():
    assert strictjson.loads(nested(MAX_DEPTH)) is not None
    assert strictjson.loads('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH) is not None

    assert "nested deeper than 32" in refused(nested(MAX_DEPTH + 1))
    assert "nested deeper than 32" in refused('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))


@pytest.mark.parametrize(
    "body",
    [
        nested(1000),
        nested(200_000),
        "[" * 100_000,  # never closed: the decoder would still descend into every one
        "[0," * 1000 + "0" + "]" * 1000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        '{"text": "hi", "voice": ' + nested(1000, "[{\"a\":", "}]") + "}",
    ],
    ids=["arrays", "very-deep", "unclosed", "with-members", "objects", "inside-a-body"],
)
def test_deep_nesting_is_refused_without_a_recursion_error(body):
    assert "nested deeper" in refused(body)


@pytest.mark.parametrize(
    "text",
    ["[" * 5000, "{[{[" * 1000, '\\"' + "[" * 1000, "\\\\" + "[" * 1000, "]]]]" + "[" * 1000],
    ids=["brackets", "mixed", "escaped-quote", "escaped-backslash", "closing-first"],
)
def test_brackets_inside_strings_are_text(text):
    assert strictjson.loads(json.dumps({"text": text})) == {"text": text}


def test_an_escaped_backslash_before_a_quote_ends_the_string():
    # "\\" is one backslash: the quote after it closes the string, so what follows is structure.
    assert "nested deeper" in refused('["\\\\", ' + nested(MAX_DEPTH + 5) + "]")
    assert strictjson.loads('["\\\\", ' + nested(3) + "]") == ["\\", [[[]]]]


def test_it_accepts_max_items_members_and_refuses_one_more():
    assert len(strictjson.loads(json.dumps(list(range(MAX_ITEMS))))) == MAX_ITEMS

    assert "more than 10,000 members" in refused(json.dumps(list(range(MAX_ITEMS + 1))))
    assert "more than 10,000 members" in refused(json.dumps({str(i): i for i in range(MAX_ITEMS + 1)}))
    assert "more than 10,000 members" in refused(json.dumps({"a": [{"b": [[]] * (MAX_ITEMS + 1)}]}))


def test_members_are_counted_per_array_not_per_body():
    body = [list(range(MAX_ITEMS))] * 3

    assert strictjson.loads(json.dumps(body)) == body


def test_commas_inside_strings_are_not_members():
    assert strictjson.loads(json.dumps({"text": "," * (MAX_ITEMS * 2)})) == {"text": "," * (MAX_ITEMS * 2)}


@pytest.mark.parametrize(
    "body", ['{"text": "a", "text": "b"}', '{"text": "a", "voice_settings": {"speed": 1, "speed": 2}}', '[{"a": 1, "b": 2, "a": 1}]']
)
def test_a_repeated_key_is_refused_and_named(body):
    message = refused(body)

    assert "repeats the key" in message
    assert "'text'" in message or "'speed'" in message or "'a'" in message


@pytest.mark.parametrize("body", ['{"speed": NaN}', '{"speed": Infinity}', '{"speed": -Infinity}', '{"speed": 1e999}'])
def test_nan_and_infinity_are_refused(body):
    refused(body)


@pytest.mark.parametrize("body", [b'{"text": "\xff"}', b'{"text": "\xc3"}', b'{"text": "\xed\xa0\x80"}'])
def test_bytes_that_are_not_utf8_are_refused(body):
    assert "UTF-8" in refused(body)


def test_surrogate_escapes_parse_and_are_left_to_the_serializers():
    assert strictjson.loads('{"text": "\\ud83d\\ude00"}') == {"text": "😀"}
    assert strictjson.loads('{"text": "\\ud800"}') == {"text": "\ud800"}  # refused by the field, with its own code


@pytest.mark.parametrize("body", ['{"text": "a"', '{"text": "a}', "", "[1,]", "9" * 5000, '\\"' * 10_000])
def test_invalid_json_is_a_strict_json_error_with_a_message(body):
    assert refused(body)


def test_the_error_is_a_value_error():
    assert issubclass(StrictJSONError, ValueError)
