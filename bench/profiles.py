"""Summaries of py-spy's folded stacks (`py-spy record --format raw`) for the benches."""

from __future__ import annotations

import collections
from pathlib import Path


def profile_summary(profile: Path, top: int = 25) -> str:
    """The functions with the largest share of samples (inclusive), from collapsed stacks."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in profile.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        # py-spy writes "function (file:line)"; the line differs per call site, so drop it.
        frames = {frame.rsplit(":", 1)[0] + ")" for frame in stack.split(";")}
        for frame in frames:
            inclusive[frame] += samples
    lines = [f"  {profile.name}: {total} samples (wall clock, idle included)"]
    lines += [
        f"    {100 * samples / total:5.1f} %  {frame}"
        for frame, samples in inclusive.most_common(top)
    ]
    return "\n".join(lines)
