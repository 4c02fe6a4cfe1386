"""Where a running Prometheus holds each hour of its TSDB: the blocks its compactor leaves and the
head, so that the dashboard benchmark reads as many of them as a real query does.

A query reads each series of each of its selectors once per block between its earliest and latest
time (dashboards/rollups.py), so the number of blocks a range spans is the benchmark's main cost.
A Prometheus that has run for a while does not hold its recent past in full-size blocks: the head
holds the newest 1 to 3 hours, the 2-hour blocks cut from it are compacted into 6-hour blocks only
once three fill an aligned 6-hour window, and so on up the ranges. So next to the longest blocks
there are up to two blocks of each shorter range, and a 24-hour range spans several blocks, not one.

`steady_state` replays that: it cuts 2-hour blocks from the head as Prometheus does
(tsdb/head.go `compactable`: the head spans more than 1.5 times 2 hours) and, after each, runs the
compactor's planner as Prometheus 3 has it (tsdb/compact.go `plan`, `selectDirs`, `splitByRange`)
until it selects nothing.
"""

from __future__ import annotations

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MIN_BLOCK_MS = 2 * HOUR_MS  # --storage.tsdb.min-block-duration's default


def max_block_ms(retention_ms: int) -> int:
    """--storage.tsdb.max-block-duration's default: a tenth of the retention, at most 31 days
    (cmd/prometheus)."""
    return min(retention_ms // 10, 31 * DAY_MS)


def compaction_ranges(longest_ms: int) -> list[int]:
    """The compactor's block ranges: 2h, 6h, 18h ... (tsdb.ExponentialBlockRanges(2h, 10, 3)), those
    within the max block duration `longest_ms`."""
    ranges = [MIN_BLOCK_MS * 3**k for k in range(10)]
    return [r for r in ranges if r <= longest_ms] or [MIN_BLOCK_MS]


def for_days(days: int) -> list[int]:
    """The compaction ranges of the benchmarks' Prometheus: its retention `days` + 1, so that a
    range of `days` is all there."""
    return compaction_ranges(max_block_ms((days + 1) * DAY_MS))


def _split_by_range(blocks: list[tuple[int, int]], length: int) -> list[list[tuple[int, int]]]:
    """The blocks in each aligned window of `length` (splitByRange); a block longer than the window
    it starts in belongs to none."""
    groups, i = [], 0
    while i < len(blocks):
        start = blocks[i][0] - blocks[i][0] % length
        if blocks[i][1] > start + length:
            i += 1
            continue
        group = []
        while i < len(blocks) and blocks[i][1] <= start + length:
            group.append(blocks[i])
            i += 1
        groups.append(group)
    return groups


def _plan(blocks: list[tuple[int, int]], ranges: list[int]) -> list[tuple[int, int]]:
    """The blocks the planner compacts next, or none: the newest block is left out (it was just cut
    from the head), and a window's blocks are picked once it is full or wholly before the newest
    block left in."""
    candidates = blocks[:-1]
    if not candidates:
        return []
    high = candidates[-1][0]
    for length in ranges[1:]:
        for group in _split_by_range(candidates, length):
            low, top = group[0][0], group[-1][1]
            if len(group) > 1 and (top - low == length or top <= high):
                return group
    return []


def steady_state(start_ms: int, end_ms: int, ranges: list[int]) -> tuple[list[tuple[int, int]], int]:
    """([(min, max) of each block, oldest first], the head's first millisecond) for samples from
    `start_ms` to `end_ms` in a Prometheus with these compaction ranges."""
    # The head is cut once it spans more than 3 hours, at its first 2-hour boundary: so it starts
    # at a 2-hour boundary and spans more than 1 and at most 3 hours.
    head = (end_ms - HOUR_MS - 1) // MIN_BLOCK_MS * MIN_BLOCK_MS
    blocks: list[tuple[int, int]] = []
    low = start_ms
    while low < head:
        high = min(low - low % MIN_BLOCK_MS + MIN_BLOCK_MS, head)
        blocks.append((low, high))
        low = high
        while group := _plan(blocks, ranges):
            first = blocks.index(group[0])
            blocks[first:first + len(group)] = [(group[0][0], group[-1][1])]
    return blocks, max(head, start_ms)
