"""keepalived.conf, haproxy.cfg and /etc/default/haproxy: validated on the node, then moved."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.facts import Facts
from lbdeploy.render import DEFAULT_HAPROXY, HAPROXY_CFG, KEEPALIVED_CONF, FileSpec
from lbdeploy.steps.base import Change, Upload, Validator, upload_if_differs

_MANAGED: dict[str, tuple[Validator | None, str]] = {
    DEFAULT_HAPROXY: (None, "haproxy"),
    HAPROXY_CFG: ("haproxy", "haproxy"),
    KEEPALIVED_CONF: ("keepalived", "keepalived"),
}


@dataclass(frozen=True)
class Configs:
    """One change for all daemon configs: all are validated before any is moved."""

    files: tuple[FileSpec, ...]
    name: str = "configs"

    def plan(self, facts: Facts) -> Change | None:
        uploads: list[Upload] = []
        reloads: set[str] = set()
        for spec in self.files:
            validator, service = _MANAGED[spec.path]
            upload = upload_if_differs(spec, facts, validator)
            if upload is None:
                continue
            uploads.append(upload)
            if upload.content_changed:
                reloads.add(service)
        if not uploads:
            return None
        names = ", ".join(
            u.spec.path + ("" if u.content_changed else " (mode/owner)") for u in uploads
        )
        return Change(
            step=self.name,
            why=f"update {names}",
            uploads=tuple(uploads),
            reloads=frozenset(reloads),
        )

    @staticmethod
    def managed_paths() -> list[str]:
        return list(_MANAGED)
