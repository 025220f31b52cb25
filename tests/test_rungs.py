"""Rung ids, fraction lists, the ladder and the `--dcs-max-rung` cap."""

from __future__ import annotations

import math

import pytest

from pytest_dcs.rungs import (
    DISTRIBUTED,
    LOCAL,
    RungCap,
    RungError,
    RungSpec,
    build_ladder,
    check_fractions,
    fraction_rung,
    parse_fraction_text,
    parse_max_rung,
    parse_rung_id,
    rung_below,
    rung_id,
)

# -- rung ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.01, "1pct"),
        (0.005, "0.5pct"),
        (1.0, "100pct"),
        (1, "100pct"),
        (0.4, "40pct"),
        (0.07, "7pct"),
        (0.1, "10pct"),
        (0.001, "0.1pct"),
        (0.0007, "0.07pct"),
        (0.3, "30pct"),
        (0.1 + 0.2, "30pct"),
        (0.123, "12.3pct"),
    ],
)
def test_rung_id_is_percent_plus_pct(fraction: float, expected: str) -> None:
    assert rung_id(fraction) == expected


def test_fraction_rung_carries_id_fraction_and_kind() -> None:
    spec = fraction_rung(0.07)
    assert spec == RungSpec(level=2, fraction=0.07, name="7pct", kind="fraction")
    assert spec.engine == "cluster"


# -- check_fractions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.01, 0.1, 0.4], (0.01, 0.1, 0.4)),
        ((0.5, 1), (0.5, 1.0)),
        ([1], (1.0,)),
        (["0.01", "0.1"], (0.01, 0.1)),
        ([" 0.2 ", 0.3], (0.2, 0.3)),
        (iter([0.25, 0.75]), (0.25, 0.75)),
        ([], ()),
    ],
)
def test_check_fractions_accepts_numbers_and_numeric_strings(
    values: object, expected: tuple[float, ...]
) -> None:
    result = check_fractions(values)  # type: ignore[arg-type]
    assert result == expected
    assert all(type(f) is float for f in result)


@pytest.mark.parametrize(
    "value", [True, False, None, [0.1], {"f": 0.1}, b"0.1", "abc", "", "10pct", object()]
)
def test_check_fractions_rejects_non_numbers(value: object) -> None:
    with pytest.raises(RungError) as excinfo:
        check_fractions([value])
    assert str(excinfo.value) == f"fraction {value!r} is not a number"


@pytest.mark.parametrize(
    "value", [0, 0.0, -0.1, -1, 1.0000001, 1.5, 2, math.nan, "nan", math.inf, "-inf", "1e400"]
)
def test_check_fractions_rejects_values_outside_unit_interval(value: object) -> None:
    with pytest.raises(RungError) as excinfo:
        check_fractions([value])
    message = str(excinfo.value)
    assert f"fraction {value!r} is outside (0, 1]" in message
    assert "write 1% as 0.01" in message


@pytest.mark.parametrize(
    ("values", "later", "earlier"),
    [([0.1, 0.05], "0.05", "0.1"), ([0.1, 0.1], "0.1", "0.1"), ([0.01, 0.4, 0.2], "0.2", "0.4")],
)
def test_check_fractions_rejects_non_increasing(
    values: list[float], later: str, earlier: str
) -> None:
    with pytest.raises(RungError) as excinfo:
        check_fractions(values)
    message = str(excinfo.value)
    assert message.startswith("fractions must increase")
    assert f"{later} comes after {earlier}" in message


def test_tiny_fractions_are_written_without_exponents() -> None:
    assert rung_id(1e-7) == "0.00001pct"


def test_check_fractions_rejects_fractions_with_the_same_rung_id() -> None:
    # Strictly increasing, but both are written `10pct`: two items would share one id.
    with pytest.raises(RungError) as excinfo:
        check_fractions([0.1, 0.1 + 1e-14])
    message = str(excinfo.value)
    assert "duplicate rung ids" in message
    assert "['10pct', '10pct']" in message


def test_check_fractions_reports_the_first_bad_value() -> None:
    with pytest.raises(RungError, match=r"fraction 2 is outside"):
        check_fractions([0.1, 2, "x"])


# -- the ladder -----------------------------------------------------------------------------


def test_build_ladder_climbs_local_distributed_then_fractions() -> None:
    ladder = build_ladder((0.01, 0.1, 0.4))
    assert [r.name for r in ladder] == ["local", "distributed", "1pct", "10pct", "40pct"]
    assert [r.kind for r in ladder] == ["local", "distributed", "fraction", "fraction", "fraction"]
    assert [r.engine for r in ladder] == ["local", "cluster", "cluster", "cluster", "cluster"]
    assert [r.fraction for r in ladder] == [None, None, 0.01, 0.1, 0.4]
    assert [r.level for r in ladder] == [0, 1, 2, 2, 2]
    assert ladder[:2] == (LOCAL, DISTRIBUTED)


def test_build_ladder_without_fractions_has_two_rungs() -> None:
    assert build_ladder(()) == (LOCAL, DISTRIBUTED)


def test_rung_below_is_the_previous_step_of_the_ladder() -> None:
    fractions = (0.01, 0.1)
    assert rung_below(LOCAL, fractions) is None
    assert rung_below(DISTRIBUTED, fractions) == LOCAL
    assert rung_below(fraction_rung(0.01), fractions) == DISTRIBUTED
    assert rung_below(fraction_rung(0.1), fractions) == fraction_rung(0.01)


def test_rung_order_follows_the_climb() -> None:
    ladder = build_ladder((0.005, 0.5, 1.0))
    assert sorted(reversed(ladder)) == list(ladder)
    assert LOCAL < DISTRIBUTED < fraction_rung(0.005) < fraction_rung(1.0)


# -- parse_fraction_text --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1", 0.1),
        ("10pct", 0.1),
        ("10%", 0.1),
        (" 10PCT ", 0.1),
        ("0.5pct", 0.005),
        ("100%", 1.0),
        ("1", 1.0),
    ],
)
def test_parse_fraction_text(text: str, expected: float) -> None:
    assert parse_fraction_text(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text", ["abc", "pct", "%", "", "ten pct", "10 %%"])
def test_parse_fraction_text_rejects_garbage(text: str) -> None:
    with pytest.raises(RungError) as excinfo:
        parse_fraction_text(text)
    assert str(excinfo.value) == f"{text!r} is not a fraction (write 0.1, 10pct or 10%)"


# -- parse_max_rung and RungCap -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level", "fraction"),
    [
        ("local", 0, None),
        (" LOCAL ", 0, None),
        ("distributed", 1, None),
        ("Distributed", 1, None),
        ("10pct", 2, 0.1),
        ("10%", 2, 0.1),
        ("0.4", 2, 0.4),
        ("100pct", 2, 1.0),
        ("0.5pct", 2, 0.005),
    ],
)
def test_parse_max_rung(text: str, level: int, fraction: float | None) -> None:
    cap = parse_max_rung(text)
    assert cap.text == text
    assert cap.level == level
    if fraction is None:
        assert cap.fraction is None
    else:
        assert cap.fraction == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize("text", ["bogus", "", "locals", "dist", "1 0pct"])
def test_parse_max_rung_rejects_unknown_names(text: str) -> None:
    with pytest.raises(RungError) as excinfo:
        parse_max_rung(text)
    message = str(excinfo.value)
    assert message.startswith(f"{text!r} is not a rung")
    assert "use local, distributed, or a fraction such as 0.1 or 10pct" in message


@pytest.mark.parametrize("text", ["0", "0pct", "150pct", "1.5", "-0.1", "nan", "inf"])
def test_parse_max_rung_rejects_fractions_outside_unit_interval(text: str) -> None:
    with pytest.raises(RungError) as excinfo:
        parse_max_rung(text)
    assert str(excinfo.value) == (
        f"{text!r} is outside (0, 1]: use a fraction such as 0.1 or 10pct"
    )


LADDER = build_ladder((0.01, 0.1, 0.4, 1.0))


@pytest.mark.parametrize(
    ("cap", "allowed"),
    [
        ("local", ["local"]),
        ("distributed", ["local", "distributed"]),
        ("0.005", ["local", "distributed"]),
        ("1pct", ["local", "distributed", "1pct"]),
        ("5pct", ["local", "distributed", "1pct"]),
        ("10pct", ["local", "distributed", "1pct", "10pct"]),
        ("0.1", ["local", "distributed", "1pct", "10pct"]),
        ("10%", ["local", "distributed", "1pct", "10pct"]),
        ("0.4", ["local", "distributed", "1pct", "10pct", "40pct"]),
        ("100pct", ["local", "distributed", "1pct", "10pct", "40pct", "100pct"]),
    ],
)
def test_cap_allows_rungs_up_to_and_including_itself(cap: str, allowed: list[str]) -> None:
    rung_cap = parse_max_rung(cap)
    assert [r.name for r in LADDER if rung_cap.allows(r)] == allowed


@pytest.mark.parametrize(
    "fraction", [0.0007, 0.001, 0.005, 0.01, 0.011, 0.07, 0.1, 0.3, 0.1 + 0.2, 0.4, 0.7, 1.0]
)
def test_cap_written_as_a_rung_id_keeps_that_rung(fraction: float) -> None:
    # `--dcs-max-rung=<id shown in the table>` must keep that very rung despite float noise.
    assert parse_max_rung(rung_id(fraction)).allows(fraction_rung(fraction))


def test_cap_tolerates_float_noise_but_not_a_higher_rung() -> None:
    cap = parse_max_rung("30pct")
    assert cap.allows(fraction_rung(0.1 + 0.2))  # 0.30000000000000004
    assert not cap.allows(fraction_rung(0.3000001))
    assert not parse_max_rung("10pct").allows(fraction_rung(0.10001))


def test_fraction_cap_allows_local_and_distributed() -> None:
    cap = RungCap("tiny", 2, 1e-6)
    assert cap.allows(LOCAL)
    assert cap.allows(DISTRIBUTED)
    assert not cap.allows(fraction_rung(0.01))


# -- parse_rung_id --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("local", LOCAL),
        ("distributed", DISTRIBUTED),
        ("1pct", fraction_rung(0.01)),
        ("0.5pct", fraction_rung(0.005)),
        ("100pct", fraction_rung(1.0)),
        ("12.3pct", fraction_rung(0.123)),
        ("10.0pct", None),  # not how rung_id writes 10%
        ("01pct", None),
        ("0pct", None),
        ("101pct", None),
        ("10%", None),
        ("0.1", None),
        ("Local", None),
        ("", None),
    ],
)
def test_parse_rung_id_reads_exact_ids_only(text: str, expected: RungSpec | None) -> None:
    assert parse_rung_id(text) == expected


def test_sort_key_climbs_the_ladder() -> None:
    keys = [r.sort_key for r in build_ladder((0.01, 0.1, 0.4))]
    assert keys == [(0, 0.0), (1, 0.0), (2, 0.01), (2, 0.1), (2, 0.4)]
