"""State that survives a failover (issue 23): a service's stickiness and rate limit.

Both live in one HAProxy stick table per service, which the nodes keep in sync through a
`peers` section derived from the nodes themselves (never typed): a client stays on its
server, and its request counter keeps its value, whichever node holds the VIP. The
forms are small on purpose (docs/failover.md):

    stick: {on: src, expire: 30m, size: 100k}    # the client's address picks its server
    rate_limit: {requests: 100, per: 10s}        # more than 100 in 10 s: HTTP 429
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import Timeout, between, timeout_ms

if TYPE_CHECKING:
    from lbdeploy.inventory.addressing import Found
    from lbdeploy.inventory.model import Inventory

_SIZE = re.compile(r"([0-9]{1,10})([kmg]?)", re.IGNORECASE)
_SHIFT = {"": 0, "k": 10, "m": 20, "g": 30}
# HAProxy's parse_size_err() (src/tools.c, 2.6 and 3.0): digits and an optional k, m or g
# (powers of 1024), at most an unsigned int.
MAX_TABLE_SIZE = 2**32 - 1


def _table_size(value: Any) -> str:
    text = str(value)
    found = _SIZE.fullmatch(text)
    if not found or isinstance(value, bool):
        raise ValueError(f"{text[:24]!r} is not a table size (entries, e.g. 100k, 1m or 50000)")
    entries = int(found.group(1)) << _SHIFT[found.group(2).lower()]
    if entries == 0:
        raise ValueError("a table of 0 entries keeps nothing; give e.g. 100k")
    if entries > MAX_TABLE_SIZE:
        raise ValueError(f"{text} is past HAProxy's largest table size, {MAX_TABLE_SIZE} entries")
    return text.lower()


TableSize = Annotated[str, BeforeValidator(_table_size)]


class Stick(Strict):
    """Each client keeps its server, by its source address, on every node of the pair."""

    on: Literal["src"] = Field("src", description="the client's source address")
    expire: Timeout = Field("30m", description="forgotten after this long without a request")
    size: TableSize = Field("100k", description="most clients remembered (k, m: x1024)")


class RateLimit(Strict):
    """More than `requests` HTTP requests from one address within `per`: HTTP 429."""

    requests: Annotated[int, between(1, 2**31 - 1)]
    per: Timeout = "10s"


def check_persistence(inv: Inventory) -> Iterator[Found]:
    """Stick tables that could not do what they say, each at its line."""
    tables = False
    for i, svc in enumerate(inv.services):
        loc = ("services", i)
        tables = tables or svc.stick is not None or svc.rate_limit is not None
        if svc.rate_limit is not None and svc.mode != "http":
            yield (
                (*loc, "rate_limit"),
                "counts HTTP requests, so it needs mode: http (a tcp service has none)",
            )
        if svc.stick is not None and svc.rate_limit is not None:
            expire, per = timeout_ms(svc.stick.expire), timeout_ms(svc.rate_limit.per)
            if expire < per:
                yield (
                    (*loc, "stick", "expire"),
                    f"{svc.stick.expire} is shorter than rate_limit.per ({svc.rate_limit.per}),"
                    " which shares this table: a client's count would be forgotten before its"
                    " period ends; give an expire of at least the period",
                )
    port = inv.haproxy.peers_port
    if tables and inv.stats is not None and inv.stats.port == port:
        yield (
            ("stats", "port"),
            f"{port} is also haproxy.peers_port, where the nodes sync stick tables, and both"
            " listen on each node's own address; choose another stats port or peers_port",
        )
