"""VRRP's inventory: the instances that move the VIPs, and where their transitions are sent.

Rules that compare instances with the rest of the inventory (ids, subnets, sync) are in
`checks.py`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from lbdeploy.inventory.base import Strict
from lbdeploy.inventory.fields import Flag, Name, SecretValue, between
from lbdeploy.inventory.ipfields import IP
from lbdeploy.inventory.urls import check_webhook
from lbdeploy.scripts.shell import Secret


class VrrpInstance(Strict):
    """One VIP and the VRRP instance that moves it."""

    virtual_router_id: Annotated[int, between(1, 255)]
    vip: IP
    auth_pass: SecretValue | None = None
    advert_int: Annotated[int, between(1, 255)] = 1
    advert_ms: Annotated[int, between(10, 40950)] | None = Field(
        None,
        description="opt-in sub-second adverts, e.g. 100: a dead master is replaced in about"
        " 3 x advert_ms; runs VRRP version 3, so no auth_pass",
    )
    nopreempt: Flag = False
    unicast: Flag = False
    master: Name | None = Field(None, description="preferred holder; defaults to the first node")

    @field_validator("auth_pass")
    @classmethod
    def _at_most_8(cls, value: Secret | None) -> Secret | None:
        """keepalived keeps 8 bytes of the password and expands '$NAME' in its config."""
        if value is None:
            return value
        size = len(value.reveal().encode())
        if size > 8:
            unit = "characters" if size == len(value) else f"bytes in UTF-8 ({size})"
            raise ValueError(
                f"longer than 8 {unit}; keepalived's PASS authentication "
                "silently uses only the first 8"
            )
        if "$" in value.reveal():
            raise ValueError(
                "contains a '$', which keepalived expands as a variable ($NAME, ${NAME}); "
                "choose a password without '$'"
            )
        return value


class Alerts(Strict):
    """Where every VRRP transition is POSTed as JSON, from the nodes themselves."""

    webhook: SecretValue = Field(description="http(s) URL; often holds a token: {env: NAME}")

    @field_validator("webhook")
    @classmethod
    def _http(cls, value: Secret) -> Secret:
        check_webhook(value.reveal())
        return value
