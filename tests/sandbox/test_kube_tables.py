"""Ages in server-side tables read like kubectl's (Go's duration.HumanDuration)."""

from __future__ import annotations

import pytest

from kubectl_clearml.sandbox.kube.tables import human_duration

MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(("seconds", "text"), [
    (-2, "<invalid>"), (-1, "0s"), (0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (121, "2m1s"),
    (9 * MINUTE + 59, "9m59s"), (10 * MINUTE, "10m"), (179 * MINUTE, "179m"), (3 * HOUR, "3h"),
    (3 * HOUR + 30 * MINUTE, "3h30m"), (8 * HOUR, "8h"), (47 * HOUR, "47h"), (48 * HOUR, "2d"),
    (49 * HOUR, "2d1h"), (8 * DAY, "8d"), (730 * DAY, "2y"), (731 * DAY, "2y1d"), (8 * 365 * DAY, "8y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text
