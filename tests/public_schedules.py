"""The public schedule constructors: the names a user imports from `optaxlr.schedules`."""

from __future__ import annotations

from collections.abc import Callable

import optaxlr.schedules as sch

#: The public names of `optaxlr.schedules` that build no schedule.
TOOLS = frozenset({"Schedule", "bounds", "to_config", "from_config", "parse"})

CONSTRUCTORS: dict[str, Callable[..., sch.Schedule]] = {
    name: getattr(sch, name) for name in sch.__all__ if name not in TOOLS
}
