"""When a rule's notifications go out: days of the week and a time window, in the site's local time.

    schedule: {days: [sat, sun], from: "22:00", to: "06:00"}

`days` defaults to every day, `from` and `to` to "00:00" (from = to: the whole day). A window that crosses
midnight belongs to the day it starts on: the one above covers Saturday 22:00 to Sunday 06:00 and Sunday 22:00 to
Monday 06:00, but not Saturday 02:00 (that is Friday night's).
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class Schedule(BaseModel):
    """Days of the week and a daily window (HH:MM, 24 h, the site's local time)."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    days: list[Day] = Field(default_factory=lambda: list(DAYS), min_length=1)
    start: str = Field(default="00:00", alias="from", description="HH:MM, 24 h",
                       json_schema_extra={"pattern": CLOCK_PATTERN})
    end: str = Field(default="00:00", alias="to", description="HH:MM, 24 h; before `from`: the window ends the next morning",
                     json_schema_extra={"pattern": CLOCK_PATTERN})

    @field_validator("days")
    @classmethod
    def _distinct(cls, days: list[str]) -> list[str]:
        dupes = sorted({d for d in days if days.count(d) > 1}, key=DAYS.index)
        if dupes:
            raise ValueError(f"day {', '.join(dupes)} given twice")
        return days

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, clock: str) -> str:
        if not re.match(CLOCK_PATTERN, clock):
            raise ValueError(f"{clock!r} is not a time of day: give HH:MM, 24 h (e.g. 22:00)")
        return clock

    def covers(self, local: datetime) -> bool:
        """Whether `local` (a time in the site's zone) falls in the schedule."""
        minute = local.hour * 60 + local.minute
        start, end = _minutes(self.start), _minutes(self.end)
        today, yesterday = DAYS[local.weekday()], DAYS[(local.weekday() - 1) % 7]
        if start == end:
            return today in self.days
        if start < end:
            return today in self.days and start <= minute < end
        if minute >= start:
            return today in self.days
        return minute < end and yesterday in self.days


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)
