"""The alerts webhook is accepted exactly when curl 7.88 (the nodes') posts to it once.

Each URL was tried with the notify handler's curl arguments: curl exit 3 ('URL using
bad/illegal format', 'bad range') for the refused ones, a connection for the others.
"""

from __future__ import annotations

import pytest

from lbdeploy.inventory.urls import check_webhook

CURL_POSTS = [
    "https://hooks.example.org/T0/B1/abc",
    "HTTPS://hooks.example.org/x",
    "Http://hooks.example.org/x",
    "http://hooks.example.org:/x",
    "http://hooks.example.org:65535/x",
    "http://[fd00::1]:8080/x",
    "http://[fe80::1%25eth0]/x",
    "http://user:pw@hooks.example.org/x",
    "http://@hooks.example.org/",
    "http://ho_ok.example.org/x",
    "http://hooks.example.org?x=1",
    "http://hooks.example.org/x|y^z",
    "http://hóoks.example.org/x",
]
CURL_REFUSES = {
    "http://": "no host",
    "http://:80/x": "no host",
    "http://user@/x": "no host",
    "http://hooks.example.org:65536/x": "port 65536",
    "http://hooks.example.org:0/x": "port 0",
    "http://hooks.example.org:8a/x": "not a number",
    "http://fd00::1/x": "without brackets",
    "http://[fd00::zz]/x": "not an IPv6 address",
    "http://[fd00::1/x": "in brackets",
    "http://hoo<k.example.org/x": "'<'",
    "http://hooks.example.org/x[1-2]": "range pattern",
    "http://hooks.example.org/x]": "range pattern",
    "ftp://hooks.example.org/x": "http:// or https://",
    "http:hooks.example.org/x": "http:// or https://",
}


@pytest.mark.parametrize("url", CURL_POSTS)
def test_a_url_curl_posts_to_is_accepted(url: str) -> None:
    assert check_webhook(url) == url


@pytest.mark.parametrize(("url", "reason"), CURL_REFUSES.items())
def test_a_url_curl_refuses_is_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_webhook(url)
    assert reason in str(raised.value)
