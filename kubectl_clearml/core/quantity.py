"""Kubernetes resource quantities ("500m", "1Gi", "1e3", "16G", "2"), parsed and formatted like apimachinery.

The grammar and rounding follow ``k8s.io/apimachinery/pkg/api/resource``: an optionally signed decimal
number (``1.`` and ``.5`` are accepted), then one suffix: a binary SI one (Ki Mi Gi Ti Pi Ei), a decimal
SI one (n u m "" k M G T P E) or a decimal exponent (``e3``, ``E-2``). Values are rounded *away from zero*
to a whole nano and clamped to +/-(2**63 - 1), as ``ParseQuantity`` does. The scheduler then compares cpu
in milli-units and every other resource in whole units rounded up (``MilliValue()`` / ``Value()``); see
:func:`resource_amount`.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from kubectl_clearml.errors import UsageError

QuantityFormat = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

BINARY_SUFFIXES: dict[str, int] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SUFFIXES: dict[str, int] = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

MAX_QUANTITY = Fraction(2**63 - 1)
NANO = Fraction(1, 10**9)

# Mirrors parseQuantityString: sign, digits, optional "." and digits, then a run of suffix letters, an optional
# sign and digits. Anything else (spaces, "1.5.5", "1Gb") is a format error.
_QUANTITY_RE = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[+-]?[0-9]*)$")
_EXPONENT_RE = re.compile(r"^[eE]([+-]?[0-9]+)$")


class QuantityError(UsageError):
    """A string that is not a Kubernetes quantity."""


def _invalid(text: str) -> QuantityError:
    return QuantityError(
        f"invalid quantity {text!r}",
        hint="use a number with an optional suffix such as 500m, 2, 1.5, 1Gi, 16G or 1e3",
    )


def _suffix_multiplier(suffix: str, text: str) -> tuple[Fraction, QuantityFormat]:
    if suffix in BINARY_SUFFIXES:
        return Fraction(BINARY_SUFFIXES[suffix]), "BinarySI"
    if suffix in DECIMAL_SUFFIXES:
        return Fraction(10) ** DECIMAL_SUFFIXES[suffix], "DecimalSI"
    match = _EXPONENT_RE.match(suffix)
    if match:
        exponent = int(match.group(1))
        if abs(exponent) > 10_000:  # far outside int64 either way; avoid building a gigantic Fraction
            exponent = 10_000 if exponent > 0 else -10_000
        return Fraction(10) ** exponent, "DecimalExponent"
    raise _invalid(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[Fraction, QuantityFormat]:
    if not text:
        raise QuantityError("invalid quantity ''", hint="a quantity cannot be empty")
    match = _QUANTITY_RE.match(text)
    if not match:
        raise _invalid(text)
    sign, whole, fraction, suffix = match.groups()
    # Like apimachinery, a missing number reads as 0: "-", "." and even a bare "Gi" parse as zero.
    number = Fraction(int(whole or "0"))
    if fraction:
        number += Fraction(int(fraction), 10 ** len(fraction))
    multiplier, fmt = _suffix_multiplier(suffix, text)
    value = number * multiplier
    if value.denominator != 1 and (value / NANO).denominator != 1:
        value = Fraction(math.ceil(value / NANO)) * NANO  # round up (away from zero: still positive here)
    value = min(value, MAX_QUANTITY)
    if sign == "-":
        value = -value
    return value, fmt


def parse_quantity(text: str | int | float) -> Fraction:
    """The exact value of a quantity. Raises :class:`QuantityError` on a malformed string."""
    if isinstance(text, bool):
        raise _invalid(str(text))
    if isinstance(text, int):
        return Fraction(max(min(text, 2**63 - 1), -(2**63 - 1)))
    if isinstance(text, float):
        if not math.isfinite(text):
            raise _invalid(str(text))
        text = repr(text).replace("e+", "e")  # YAML may hand us 0.5 or 1e3 as floats
    if not isinstance(text, str):
        raise _invalid(repr(text))
    return _parse(text.strip())[0]  # JSON decoding trims blanks before parsing


def quantity_format(text: str) -> QuantityFormat:
    """The format family of a quantity string; :func:`format_quantity` keeps it when it can."""
    return _parse(text)[1]


def ceil_int(value: Fraction) -> int:
    """Whole units rounded up, like ``Quantity.Value()`` (which rounds away from zero)."""
    return math.ceil(value) if value >= 0 else -math.ceil(-value)


def to_milli(value: Fraction) -> int:
    """Milli-units rounded up, like ``Quantity.MilliValue()``."""
    return ceil_int(value * 1000)


@lru_cache(maxsize=8192)
def _resource_amount(resource: str, text: str) -> int:
    value = _parse(text)[0]
    return to_milli(value) if resource == "cpu" else ceil_int(value)


def resource_amount(resource: str, quantity: str | int | float) -> int:
    """The integer the scheduler compares: millicores for ``cpu``, whole units (bytes, GPUs) for the rest."""
    if isinstance(quantity, str):
        return _resource_amount(resource, quantity)
    value = parse_quantity(quantity)
    return to_milli(value) if resource == "cpu" else ceil_int(value)


def format_resource(resource: str, amount: int) -> str:
    """Inverse of :func:`resource_amount`: ``("cpu", 1500) -> "1500m"``, ``("memory", 2**30) -> "1Gi"``."""
    if resource == "cpu":
        return format_quantity(Fraction(amount, 1000))
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        return format_quantity(Fraction(amount), "BinarySI")
    return format_quantity(Fraction(amount))


def format_quantity(value: Fraction | int, fmt: QuantityFormat = "DecimalSI") -> str:
    """The canonical string for a value, as ``Quantity.String()`` would print it.

    BinarySI is used only for whole values with magnitude >= 1024 (as apimachinery does); otherwise the
    largest decimal suffix keeping an integer mantissa, falling back to "n" (values are whole nanos).
    """
    value = Fraction(value)
    sign = "-" if value < 0 else ""
    magnitude = -value if value < 0 else value
    if magnitude == 0:
        return "0"
    if fmt == "BinarySI" and magnitude.denominator == 1 and magnitude >= 1024:
        whole = int(magnitude)
        suffix = ""
        for name, factor in BINARY_SUFFIXES.items():
            if whole % factor == 0:
                suffix = name
        if suffix:
            return f"{sign}{whole // BINARY_SUFFIXES[suffix]}{suffix}"
        return f"{sign}{whole}"
    # Find the largest power of 1000 dividing the value (in nanos), so the mantissa is an integer.
    nanos = magnitude / NANO
    if nanos.denominator != 1:
        nanos = Fraction(math.ceil(nanos))
    units = int(nanos)
    exponent = -9
    while units % 1000 == 0 and exponent < 18:
        units //= 1000
        exponent += 3
    if fmt == "DecimalExponent":
        return f"{sign}{units}" + (f"e{exponent}" if exponent else "")
    suffix = {v: k for k, v in DECIMAL_SUFFIXES.items()}[exponent]
    return f"{sign}{units}{suffix}"
