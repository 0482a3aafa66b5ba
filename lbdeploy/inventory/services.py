"""Rules that compare a service's fields with each other and with the rest of the inventory.

Each returns (path, message) pairs, as `checks.py` does, so the loader can point at the
line that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_address

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lbdeploy.addresses import IPAddress, hostport
from lbdeploy.inventory.addressing import Found, Loc
from lbdeploy.inventory.model import Inventory
from lbdeploy.inventory.proxy import Service
from lbdeploy.inventory.tls import CertChain

Bind = tuple[IPAddress, int]
HTTP_BALANCE = frozenset({"uri"})  # of the model's algorithms, those that read HTTP


def _key_kind(chain: CertChain) -> str:
    """HAProxy's kinds of certificate key: it keeps one of each per name (ssl_sock.c)."""
    key = chain.leaf.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    return "RSA" if isinstance(key, rsa.RSAPublicKey) else "Ed25519 or DSA"


def _check_sni(loc: Loc, svc: Service) -> Iterator[Found]:
    """A name of two certificates with one kind of key: only the first is ever served.

    HAProxy 2.6 (ssl_sock_switchctx_cbk) files each name of a certificate (SAN and CN,
    lower-cased) and, for the client's SNI, takes the first ECDSA, RSA and other
    certificate filed under it, then serves one by what the client supports: an ECDSA
    and an RSA certificate for one name both serve, a second ECDSA one never does.
    """
    seen: dict[tuple[str, str], int] = {}
    for j, pair in enumerate(svc.tls_files):
        kind = _key_kind(pair.cert)
        for name in pair.cert.names:
            first = seen.setdefault((name.lower(), kind), j)
            if first != j:
                yield (
                    (*loc, "tls", j, "cert"),
                    f"{name} is already a name of tls[{first}], also an {kind} certificate;"
                    f" HAProxy serves the first {kind} certificate of a name, so this one"
                    f" would never be served for {name}",
                )
                break


def _check_tls(
    loc: Loc, svc: Service, binds: list[Bind], seen_bind: dict[Bind, str]
) -> Iterator[Found]:
    """redirect_http and hsts belong to an HTTPS service; the redirect needs port 80 free."""
    yield from _check_sni(loc, svc)
    for field, given in (("redirect_http", svc.redirect_http), ("hsts", svc.hsts is not None)):
        if given and svc.tls is None:
            yield ((*loc, field), f"{field} needs tls (a certificate) on this service")
        elif given and svc.mode != "http":
            yield ((*loc, field), f"{field} needs mode: http")
    if _port80_name(svc) is None:
        return
    at, why = (
        (("redirect_http",), "its redirect to https")
        if svc.redirect_http
        else (("tls", "acme"), "its ACME HTTP-01 answers")
    )
    for vip, _ in binds:
        http = (vip, 80)
        if http in seen_bind:
            yield (
                (*loc, *at),
                f"{hostport(vip, 80)} is already taken by service {seen_bind[http]}"
                + ("" if svc.redirect_http else "; the CA asks for its HTTP-01 token on port 80"),
            )
        seen_bind.setdefault(http, f"{svc.name} ({why})")


def _port80_name(svc: Service) -> str | None:
    """The frontend on port 80 that a service brings (templates/haproxy.cfg.j2): its
    redirect to https, else the ACME HTTP-01 answers of its certificate."""
    if svc.tls is None:
        return None
    if svc.redirect_http:
        return f"{svc.name}_redirect"
    return f"{svc.name}_acme" if svc.acme_names else None


def _check_acme(inv: Inventory) -> Iterator[Found]:
    """An ACME certificate needs the `acme:` CA; a name belongs to one certificate."""
    owner: dict[str, int] = {}
    for i, svc in enumerate(inv.services):
        if svc.acme_names and inv.acme is None:
            yield (
                ("services", i, "tls", "acme"),
                "an ACME certificate needs the `acme:` section (at least `acme: {}` for"
                " Let's Encrypt; email, directory, ca_bundle)",
            )
        for j, name in enumerate(svc.acme_names):
            first = owner.setdefault(name, i)
            if first != i:
                yield (
                    ("services", i, "tls", "acme", j),
                    f"{name} is already a name of services[{first}]'s ACME certificate;"
                    " HAProxy would serve only one of the two for it",
                )


def _check_names(i: int, svc: Service, seen: dict[str, str]) -> Iterator[Found]:
    """Each section haproxy.cfg gets from a service is named once: HAProxy refuses a
    frontend named like another proxy ("has the same name as proxy ...", haproxy 2.6 -c)."""
    if svc.name == "stats":
        yield (("services", i, "name"), "'stats' is reserved for HAProxy's stats listener")
    elif svc.name in seen:
        yield (
            ("services", i, "name"),
            f"{svc.name!r} is already the name of {seen[svc.name]}"
            + ("; rename one of the two services" if "frontend" in seen[svc.name] else ""),
        )
    seen.setdefault(svc.name, f"services[{i}]")
    frontend = _port80_name(svc)
    if frontend is None:
        return
    field, what = (
        (("redirect_http",), "redirect frontend (for its redirect_http)")
        if svc.redirect_http
        else (("tls", "acme"), "port-80 frontend (for its ACME HTTP-01 answers)")
    )
    if frontend in seen:
        yield (
            ("services", i, *field),
            f"its {what.split(' (')[0]} would be named {frontend!r}, which is already the name"
            f" of {seen[frontend]}; rename one of the two services",
        )
    seen.setdefault(frontend, f"services[{i}]'s {what}")


def check_services(inv: Inventory) -> Iterator[Found]:
    vips = [inst.vip for inst in inv.vrrp] + [a.vip for a in inv.anycast]
    seen_bind: dict[Bind, str] = {}
    seen_name: dict[str, str] = {}
    for i, svc in enumerate(inv.services):
        loc = ("services", i)
        yield from _check_names(i, svc, seen_name)
        binds: list[Bind] = []
        for j, vip in enumerate(svc.vip or vips[:1]):
            if svc.vip is not None and vip not in vips:
                known = ", ".join(map(str, vips))
                yield ((*loc, "vip", j), f"{vip} is not one of the VIPs ({known})")
            elif (vip, svc.port) in binds:
                yield ((*loc, "vip", j), f"{vip} is listed twice")
                continue
            bind = (vip, svc.port)
            if bind in seen_bind:
                yield (
                    (*loc, "port"),
                    f"{hostport(*bind)} is already taken by service {seen_bind[bind]}",
                )
            seen_bind.setdefault(bind, svc.name)
            binds.append(bind)
        yield from _check_tls(loc, svc, binds, seen_bind)
        if svc.health_check is not None and svc.mode != "http":
            yield ((*loc, "health_check"), "an HTTP health check needs mode: http")
        if svc.balance in HTTP_BALANCE and svc.mode != "http":
            # haproxy 2.6 -c: "Layer 7 hash not possible ... Falling back to round robin."
            yield (
                (*loc, "balance"),
                f"balance {svc.balance} hashes the HTTP request, so it needs mode: http; in tcp"
                " mode HAProxy balances round robin instead",
            )
        yield from _check_servers(loc, svc, binds)
    yield from _check_acme(inv)


def _check_servers(loc: Loc, svc: Service, binds: list[Bind]) -> Iterator[Found]:
    seen_server: dict[str, int] = {}
    for j, server in enumerate(svc.servers):
        if _unspecified(server.address):
            # configuration.txt (2.6), server <address>: "0.0.0.0" means "the same IP
            # address as the one from the client connection".
            yield (
                (*loc, "servers", j, "address"),
                f"{server.address} is the unspecified address, which HAProxy reads as 'the"
                " address the client connected to': the VIP, so itself; give the server's"
                " own address",
            )
        for vip, port in binds:
            if server.port == port and _same_address(server.address, vip):
                yield (
                    (*loc, "servers", j, "address"),
                    f"{hostport(vip, port)} is this service's own VIP and port; haproxy would "
                    "send every request back to itself",
                )
        if server.name in seen_server:
            yield (
                (*loc, "servers", j, "name"),
                f"{server.name!r} is already servers[{seen_server[server.name]}] of this service",
            )
        seen_server.setdefault(server.name, j)


def _unspecified(host: str) -> bool:
    try:
        return ip_address(host).is_unspecified
    except ValueError:
        return False


def _same_address(host: str, vip: IPAddress) -> bool:
    try:
        return ip_address(host) == vip
    except ValueError:
        return False
