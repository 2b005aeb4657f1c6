"""services.core.safejson: the one parser for untrusted JSON, and the rule for text people read."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import orjson
import pytest

from services.core import safejson
from services.core.safejson import MAX_SAFE_INTEGER, UnsafeJSON, check, loads, unsafe_char


def _refused(data, match: str, **limits) -> UnsafeJSON:
    with pytest.raises(UnsafeJSON, match=match) as caught:
        loads(data, **limits)
    return caught.value


def test_ordinary_json_parses_like_orjson():
    document = {"a": [1, -2, 3.5, True, False, None, "naïve — 😀", {"b": {"c": []}}], "e": "\u00e9\n\t"}
    raw = orjson.dumps(document)
    assert loads(raw) == orjson.loads(raw) == document
    assert loads(raw.decode()) == document  # str input too
    assert loads(b'"\\ud83d\\ude00"') == "😀"  # a surrogate *pair* is one character


def test_nesting_is_bounded_without_recursion():
    assert loads(b"[" * 64 + b"]" * 64) is not None
    _refused(b"[" * 65 + b"]" * 65, "nested deeper than 64 levels")
    _refused(b'{"a":' * 260 + b"1" + b"}" * 260, "nested deeper than 64")
    _refused(b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64")  # orjson stops at 1024 on its own
    assert loads(b"[[[]]]", max_depth=3) == [[[]]]
    _refused(b"[[[[]]]]", "deeper than 3", max_depth=3)


def test_a_hundred_thousand_levels_do_not_crash_a_process_whose_recursion_limit_py_ecc_raised():
    """The crash this module exists for: py_ecc (imported by web3) sets the recursion limit to
    100,000, and the stdlib decoder then recurses on the C stack until SIGSEGV."""
    script = textwrap.dedent("""
        import sys
        import py_ecc  # noqa: F401 - raises the recursion limit, as in every service process
        assert sys.getrecursionlimit() >= 100_000
        from services.core import safejson
        try:
            safejson.loads(b"[" * 100_000 + b"]" * 100_000)
        except safejson.UnsafeJSON as exc:
            print("refused:", exc.message)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-2000:]}"
    assert "refused: the JSON is nested deeper than 64 levels" in run.stdout


@pytest.mark.parametrize("raw", [b"[10000000000000000000000000000000]", b"[9007199254740992]", b"[-9007199254740992]",
                                 b"[18446744073709551615]", b"[-9223372036854775809]", b'{"a": 1e300}',
                                 b'{"a": -1.5e16}'])
def test_numbers_beyond_2_to_the_53_are_refused(raw):
    # orjson turns an integer literal beyond 64 bits into a float: the bound covers floats too.
    _refused(raw, r"beyond ±9007199254740991")


def test_numbers_within_the_safe_range_are_kept_exactly():
    assert loads(b"[9007199254740991, -9007199254740991, 0.5, 1e15]") == [MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, 0.5, 1e15]


@pytest.mark.parametrize("raw", [b'"\\ud800"', b'{"a": "x\\udfffy"}', b'{"\\ud800": 1}', b'["\\ud83d"]'])
def test_lone_surrogates_are_refused(raw):
    _refused(raw, "lone surrogate")


def test_orjson_refuses_a_lone_surrogate_and_the_walk_checks_again():
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'"\\ud800"')  # what orjson does today; the explicit check below does not rely on it
    with pytest.raises(UnsafeJSON, match="lone surrogate"):
        check({"name": "a\ud800b"})
    with pytest.raises(UnsafeJSON, match="lone surrogate"):
        check({"na\udc00me": "x"})
    with pytest.raises(UnsafeJSON, match="lone surrogate"):
        loads('"\ud800"')  # a str holding one


def test_the_value_count_is_bounded():
    assert len(loads(b"[" + b"0," * 199_998 + b"0]")) == 199_999
    _refused(b"[" + b"0," * 200_000 + b"0]", "more than 200000 values")
    _refused(b'{"a": [1, 2, 3]}', "more than 3 values", max_values=3)


def test_size_is_bounded():
    _refused(b'"' + b"a" * 100 + b'"', "larger than 50 bytes", max_bytes=50)


@pytest.mark.parametrize("raw", [b"{x", b"", b"NaN", b"[1,]", b"\xef\xbb\xbf{}", b"\xff\xfe", b"{} {}", b"1e400"])
def test_what_is_not_json_says_so(raw):
    assert _refused(raw, "JSON").not_json is True


def test_limits_are_not_flagged_as_not_json():
    assert _refused(b"[" * 70 + b"]" * 70, "deeper").not_json is False


def test_check_refuses_what_json_cannot_hold():
    for value in ({"a": float("nan")}, {"a": float("inf")}, {"a": {1, 2}}, {1: "x"}, {"a": 10**30}, b"bytes"):
        with pytest.raises(UnsafeJSON):
            check(value)
    assert check({"a": [1, "b", None, True]}) == {"a": [1, "b", None, True]}


def test_one_error_type_with_a_plain_message():
    error = _refused(b"[" * 300 + b"]" * 300, "deeper")
    assert isinstance(error, ValueError) and error.message == str(error) and "\n" not in error.message


@pytest.mark.parametrize("text,multiline,bad", [
    ("Ada Lovelace", False, None), ("Zoë Ðặng 李", False, None), ("a\u200db", False, None),  # ZWJ is legit
    ("Ada\u0085", False, "\u0085"), ("A\u009bB", False, "\u009b"), ("a\x00b", False, "\x00"), ("a\x7f", False, "\x7f"),
    ("abc\u202egpj.exe", False, "\u202e"), ("\u2066x\u2069", False, "\u2066"), ("a\u200fb", False, "\u200f"),
    ("a\u061cb", False, "\u061c"), ("a\tb", False, "\t"), ("a\nb", False, "\n"), ("a\u2028b", False, "\u2028"),
    ("a\tb\nc\r\nd", True, None), ("a\rb", True, "\r"), ("a\u202db", True, "\u202d"), ("a\x1bb", True, "\x1b"),
    ("x\ud800", False, "\ud800"),
])
def test_text_for_people(text, multiline, bad):
    assert unsafe_char(text, multiline=multiline) == bad
    if bad:
        assert safejson.describe_char(bad).startswith(f"U+{ord(bad):04X} (")
