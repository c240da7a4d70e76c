"""Host names as callers write them, read as service names: one service under its several spellings.

A caller names the service it calls by the address it dialled (``server.address``, ``net.peer.name``, a metric's
``peer`` label): with a port, a Kubernetes service domain, another case. `host_name` takes those away,
`host_spellings` gives what a name is matched on, and `service_of` finds the service of a bundle a peer spells.
Shared by the traces' peers (`rca.contract.otlp`) and meant for the metrics' peer labels.

>>> host_name("redis-cart.default.svc.cluster.local:6379")
'redis-cart'
>>> host_name("outbound|8080||cartservice.default.svc.cluster.local")
'cartservice'
>>> service_of("payments.prod.svc:8080", spelled_services(["Payments", "cart"]))
'Payments'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

_PORT = re.compile(r":\d+$")
_BRACKETED = re.compile(r"^\[(?P<ip>[^\]]+)\](?::\d+)?$")   # an IPv6 literal, with or without a port
_K8S_SERVICE = re.compile(r"^(?P<svc>[^.]+)\.(?P<ns>[^.]+)\.svc(?:\.cluster\.local)?\.?$", re.IGNORECASE)


def host_name(value: str) -> str:
    """A peer's address as a service name: without blanks around it, a port (``payments:8080``, ``[::1]:80``) or a
    Kubernetes service domain (``<svc>.<namespace>.svc.cluster.local`` and ``<svc>.<namespace>.svc`` are ``<svc>``);
    of an Envoy cluster name (``outbound|8080||cart.shop.svc.cluster.local``), the host it ends with. An IP literal
    stays one (``10.0.0.7``, ``fe80::1``); other names are kept as written."""
    text = _address(value)
    service = _K8S_SERVICE.match(text)
    return service["svc"] if service else text


def _address(value: str) -> str:
    """``value`` without blanks around it nor a port; of an Envoy cluster name (``outbound|8080||cart.shop.svc``),
    its host."""
    text = str(value).strip()
    if "|" in text:
        text = next((part for part in reversed(text.split("|")) if part), "")
    if is_ip(text):
        return text
    bracketed = _BRACKETED.match(text)
    return bracketed["ip"] if bracketed else _PORT.sub("", text)


def is_ip(value: str) -> bool:
    """Whether ``value`` is an IPv4 or IPv6 address literal (a pod's or a replica's, not a service's name)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host_spellings(name: str) -> set[str]:
    """The spellings one service goes by in callers' peers, in lower case: its name without a port, its first DNS
    label and, for a Kubernetes service domain, ``<svc>.<namespace>`` (``payments``, ``Payments``,
    ``payments:8080``, ``payments.prod.svc.cluster.local`` are one service, and the last also spells a service
    named ``payments.prod``). An IP literal is its only spelling."""
    low = _address(name).lower()
    if is_ip(low):
        return {low}
    service = _K8S_SERVICE.match(low)
    return {low, low.split(".")[0], *([f"{service['svc']}.{service['ns']}"] if service else [])} - {""}


def spelled_services(services: Iterable[str]) -> dict[str, str]:
    """Each spelling (`host_spellings`) of the ``services``' names, mapped to its service. A full name in lower case
    is its service's; a first DNS label two services share (``cart.prod`` and ``cart.staging``) names neither."""
    by_label: dict[str, set[str]] = {}
    for service in map(str, services):
        for spelling in host_spellings(service):
            by_label.setdefault(spelling, set()).add(service)
    out = {spelling: next(iter(names)) for spelling, names in by_label.items() if len(names) == 1}
    out.update({host_name(service).lower(): service for service in sorted(map(str, services), reverse=True)})
    return out


def service_of(peer: str, spelled: dict[str, str]) -> str | None:
    """The service (of `spelled_services`) a peer's address spells, its full name before its first label; None
    when it spells none."""
    for spelling in sorted(host_spellings(peer), key=len, reverse=True):
        if spelling in spelled:
            return spelled[spelling]
    return None
