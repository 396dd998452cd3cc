"""Kubernetes quantities: grammar, rounding and formatting as apimachinery does them."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubectl_clearml.core.quantity import (
    BINARY_SUFFIXES,
    DECIMAL_SUFFIXES,
    MAX_QUANTITY,
    QuantityError,
    format_quantity,
    format_resource,
    parse_quantity,
    quantity_format,
    resource_amount,
)
from kubectl_clearml.errors import UsageError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("1", 1),
        ("500m", Fraction(1, 2)),
        ("1.5", Fraction(3, 2)),
        ("1Gi", 2**30),
        ("1.5Gi", 3 * 2**29),
        ("16G", 16 * 10**9),
        ("1e3", 1000),
        ("1E3", 1000),
        ("1E", 10**18),  # a bare E is exa, not an exponent
        ("2e-3", Fraction(2, 1000)),
        ("1k", 1000),
        ("100Mi", 100 * 2**20),
        ("+7", 7),
        ("-7", -7),
        ("-500m", Fraction(-1, 2)),
        ("1.", 1),  # apimachinery accepts "1." (and "1.G")
        ("1.G", 10**9),
        (".5", Fraction(1, 2)),
        ("007", 7),
        ("10n", Fraction(10, 10**9)),
        ("3u", Fraction(3, 10**6)),
        ("0.1n", Fraction(1, 10**9)),  # rounded up to a whole nano
        ("-0.1n", Fraction(-1, 10**9)),  # away from zero
        ("1Ei", 2**60),
        ("99E", MAX_QUANTITY),  # clamped to int64
        ("-99E", -MAX_QUANTITY),
        (" 2 ", 2),  # JSON decoding trims blanks
        ("-", 0),  # apimachinery reads a missing number as zero
        (".", 0),
    ],
)
def test_parse_table(text: str, value: Fraction | int) -> None:
    assert parse_quantity(text) == Fraction(value)


@pytest.mark.parametrize("text", ["", "1Gb", "1.5.5", "abc", "1 Gi", "1e", "1Ki3", "--1", "1e1.5", "0x10", "1gi"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert isinstance(info.value, UsageError)
    assert "quantity" in info.value.one_line()


def test_numbers_from_yaml() -> None:
    assert parse_quantity(2) == 2
    assert parse_quantity(0.5) == Fraction(1, 2)
    assert parse_quantity(1e3) == 1000
    with pytest.raises(QuantityError):
        parse_quantity(True)
    with pytest.raises(QuantityError):
        parse_quantity(float("nan"))


@pytest.mark.parametrize(
    ("text", "fmt"), [("1Gi", "BinarySI"), ("1G", "DecimalSI"), ("5", "DecimalSI"), ("1e3", "DecimalExponent")]
)
def test_format_family(text: str, fmt: str) -> None:
    assert quantity_format(text) == fmt


@pytest.mark.parametrize(
    ("resource", "text", "amount"),
    [
        ("cpu", "500m", 500),
        ("cpu", "2", 2000),
        ("cpu", "0.1m", 1),  # MilliValue rounds up
        ("memory", "1Gi", 2**30),
        ("memory", "1.5", 2),  # Value rounds up
        ("nvidia.com/gpu", "1", 1),
        ("nvidia.com/gpu", 2, 2),
        ("nvidia.com/mig-1g.5gb", "3", 3),
    ],
)
def test_resource_amount(resource: str, text: str | int, amount: int) -> None:
    assert resource_amount(resource, text) == amount


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (Fraction(1, 2), "DecimalSI", "500m"),
        (1000, "DecimalSI", "1k"),
        (1500, "DecimalSI", "1500"),
        (2**30, "BinarySI", "1Gi"),
        (1536 * 2**20, "BinarySI", "1536Mi"),
        (512, "BinarySI", "512"),  # below 1024 binary falls back to decimal
        (1000, "DecimalExponent", "1e3"),
        (-2000, "DecimalSI", "-2k"),
        (0, "BinarySI", "0"),
        (Fraction(3, 10**9), "DecimalSI", "3n"),
    ],
)
def test_format_table(value: Fraction | int, fmt: str, text: str) -> None:
    assert format_quantity(value, fmt) == text  # type: ignore[arg-type]


def test_format_resource() -> None:
    assert format_resource("cpu", 1500) == "1500m"
    assert format_resource("cpu", 2000) == "2"
    assert format_resource("memory", 2**31) == "2Gi"
    assert format_resource("nvidia.com/gpu", 8) == "8"


number = st.fractions(min_value=-(10**12), max_value=10**12, max_denominator=10**9).map(
    lambda f: Fraction(round(f * 10**9), 10**9)  # quantities are whole nanos
)


@given(number, st.sampled_from(["DecimalSI", "BinarySI", "DecimalExponent"]))
def test_format_round_trips(value: Fraction, fmt: str) -> None:
    assert parse_quantity(format_quantity(value, fmt)) == value  # type: ignore[arg-type]


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(sorted(BINARY_SUFFIXES)),
)
def test_binary_suffix_scales(mantissa: int, suffix: str) -> None:
    assert parse_quantity(f"{mantissa}{suffix}") == min(Fraction(mantissa * BINARY_SUFFIXES[suffix]), MAX_QUANTITY)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(sorted(DECIMAL_SUFFIXES)),
)
def test_decimal_suffix_scales_and_matches_exponent_form(mantissa: int, suffix: str) -> None:
    exponent = DECIMAL_SUFFIXES[suffix]
    expected = min(Fraction(mantissa) * Fraction(10) ** exponent, MAX_QUANTITY)
    assert parse_quantity(f"{mantissa}{suffix}") == expected
    assert parse_quantity(f"{mantissa}e{exponent}") == expected


@given(number, number)
def test_order_is_preserved_by_amounts(a: Fraction, b: Fraction) -> None:
    # The scheduler's integer amounts never invert the order of two quantities.
    if a <= b:
        assert resource_amount("cpu", format_quantity(a)) <= resource_amount("cpu", format_quantity(b))
        assert resource_amount("memory", format_quantity(a)) <= resource_amount("memory", format_quantity(b))


@given(st.text(alphabet="0123456789.eEiKMGTPnumk+- ", max_size=8))
def test_parser_never_crashes(text: str) -> None:
    try:
        value = parse_quantity(text)
    except QuantityError:
        return
    assert abs(value) <= MAX_QUANTITY
    assert (value * 10**9).denominator == 1
