"""The retry backoff: exponential, capped, half fixed and half random."""

from __future__ import annotations

from jobservice.core.attempt import retry_delay_ms


def test_each_delay_lies_in_the_upper_half_of_its_doubling_ceiling() -> None:
    for attempt, ceiling in [(1, 1000), (2, 2000), (3, 4000), (4, 8000)]:
        delays = {retry_delay_ms(attempt, 1000, 60_000) for _ in range(200)}
        assert min(delays) >= ceiling // 2 and max(delays) <= ceiling
        assert len(delays) > 1  # jittered


def test_the_ceiling_caps_delays_even_after_very_many_attempts() -> None:
    assert all(15_000 <= retry_delay_ms(attempt, 1000, 30_000) <= 30_000
               for attempt in (6, 50, 10_000))  # fmt: skip
