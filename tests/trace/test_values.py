"""Value reprs: identical to repr when short, bounded and safe otherwise."""

import pytest

from opencwm.trace.values import TRUNCATED, AddressNumbering, safe_repr


@pytest.mark.parametrize(
    "value",
    [
        0,
        -5,
        10**50,
        1.5,
        float("inf"),
        None,
        True,
        "a'b\"c",
        "ünï",
        b"\x00",
        (1,),
        (),
        [],
        {},
        set(),
        frozenset(),
        {"a", "b"},
        {1: [2, (3, {4})]},
        frozenset({1}),
        range(3),
        2j,
    ],
)
def test_short_values_repr_exactly(value):
    assert safe_repr(value, 500) == repr(value)


def test_self_referential_containers():
    a = [1]
    a.append(a)
    d = {}
    d["d"] = d
    assert safe_repr(a) == "[1, [...]]" and safe_repr(d) == "{'d': {...}}"


def test_cap_applies_with_marker_and_stays_cheap_on_huge_values():
    out = safe_repr(list(range(10**6)), 30)
    assert out.endswith(TRUNCATED) and len(out) == 30 + len(TRUNCATED)
    assert safe_repr("x" * 10**7, 10) == "'" + "x" * 9 + TRUNCATED


def test_big_ints_beyond_str_limit():
    assert safe_repr(10**5000, 20) == "1" + "0" * 19 + TRUNCATED
    assert safe_repr(2**400_000) == "<int with about 120412 digits>"


def test_raising_and_non_string_reprs():
    class Bad:
        def __repr__(self):
            raise RuntimeError("no")

    class NotStr:
        def __repr__(self):
            return 3

    assert safe_repr([Bad()]) == "[<repr of Bad failed: RuntimeError>]"
    assert safe_repr(NotStr()) == "<repr of NotStr failed: TypeError>"


def test_deep_nesting_is_bounded():
    x = []
    for _ in range(10_000):
        x = [x]
    assert safe_repr(x, 10_000).count("[") < 100


def test_addresses_numbered_consistently():
    n = AddressNumbering()
    assert (
        n("<A at 0x7f12ab34cd56> <B at 0x7f00000000aa> <A at 0x7f12ab34cd56>")
        == "<A at 0x1> <B at 0x2> <A at 0x1>"
    )
