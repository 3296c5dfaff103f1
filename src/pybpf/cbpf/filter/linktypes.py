"""Link-layer header types the filter compiler knows: numbers, names, and the offsets
libpcap's ``init_linktype`` starts from."""

from __future__ import annotations

from typing import NamedTuple

OFFSET_NOT_SET = 0xFFFFFFFF

DLT_NULL = 0
DLT_EN10MB = 1
DLT_PPP = 9
DLT_RAW = 12
DLT_LOOP = 108
DLT_LINUX_SLL = 113
DLT_IPV4 = 228
DLT_IPV6 = 229
DLT_LINUX_SLL2 = 276


class LinkInfo(NamedTuple):
    dlt: int
    name: str
    description: str
    off_linktype: int
    off_linkpl: int
    off_nl: int
    off_nl_nosnap: int


LINKS: dict[int, LinkInfo] = {li.dlt: li for li in (
    LinkInfo(DLT_NULL, "NULL", "BSD loopback", 0, 4, 0, 0),
    LinkInfo(DLT_EN10MB, "EN10MB", "Ethernet", 12, 14, 0, 3),
    LinkInfo(DLT_PPP, "PPP", "PPP", 2, 4, 0, 0),
    LinkInfo(DLT_RAW, "RAW", "Raw IP", OFFSET_NOT_SET, 0, 0, 0),
    LinkInfo(DLT_LOOP, "LOOP", "OpenBSD loopback", 0, 4, 0, 0),
    LinkInfo(DLT_LINUX_SLL, "LINUX_SLL", "Linux cooked v1", 14, 16, 0, 0),
    LinkInfo(DLT_IPV4, "IPV4", "Raw IPv4", OFFSET_NOT_SET, 0, 0, 0),
    LinkInfo(DLT_IPV6, "IPV6", "Raw IPv6", OFFSET_NOT_SET, 0, 0, 0),
    LinkInfo(DLT_LINUX_SLL2, "LINUX_SLL2", "Linux cooked v2", 0, 20, 0, 0),
)}

_ALIASES = {"ETHERNET": DLT_EN10MB, "SLL": DLT_LINUX_SLL, "SLL2": DLT_LINUX_SLL2,
            "LINKTYPE_RAW": DLT_RAW}
# savefile LINKTYPE_ values that differ from the DLT_ libpcap uses internally
_LINKTYPE_TO_DLT = {101: DLT_RAW}


def resolve(linktype: int | str) -> LinkInfo:
    """A DLT by number (LINKTYPE_ numbers accepted: 101 is DLT_RAW) or by name
    (``EN10MB``, ``DLT_EN10MB``, ``raw``...)."""
    if isinstance(linktype, str):
        key = linktype.upper()
        if key.startswith("DLT_"):
            key = key[4:]
        if key.isdigit():
            return resolve(int(key))
        if key in _ALIASES:
            return LINKS[_ALIASES[key]]
        for li in LINKS.values():
            if li.name == key:
                return li
        raise ValueError(f"unknown link type {linktype!r}")
    dlt = _LINKTYPE_TO_DLT.get(linktype, linktype)
    if dlt not in LINKS:
        raise ValueError(f"unsupported link type {linktype}")
    return LINKS[dlt]


def description(dlt: int) -> str:
    li = LINKS.get(dlt)
    return li.description if li else f"DLT {dlt}"
