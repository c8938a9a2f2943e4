"""Waves: the bursts a long-running problem is reported in.

A problem people report for months arrives in waves (a week of posts, a quiet month, another
burst when the plant works nights again). One lead holds them all; the desk shows them so an
analyst sees a recurrence at a glance. Contract: `waves(times, quiet) -> [Wave]`, oldest first;
a gap longer than `quiet` between consecutive posts starts a new wave.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Wave:
    start: datetime
    end: datetime
    posts: int


def waves(times: Iterable[datetime], quiet: timedelta) -> list[Wave]:
    ordered = sorted(times)
    out: list[Wave] = []
    for at in ordered:
        if out and at - out[-1].end <= quiet:
            last = out[-1]
            out[-1] = Wave(last.start, at, last.posts + 1)
        else:
            out.append(Wave(at, at, 1))
    return out
