"""The web-download allow-list: operator prefixes as they are compared, and the URIs they
admit (`config.check_url_prefix`, `domain.image_import.check_uri`)."""

from __future__ import annotations

import pytest

from openims import errors
from openims.config import Settings, check_url_prefix
from openims.domain import image_import


@pytest.mark.parametrize(
    ("given", "compared"),
    [
        ("http://a.example", "http://a.example/"),
        ("HTTPS://Mirror.Example:8443/Images/", "https://mirror.example:8443/Images/"),
        (" http://10.0.0.1/pub ", "http://10.0.0.1/pub"),
    ],
)
def test_prefixes_are_compared_in_a_normal_form(given: str, compared: str) -> None:
    assert check_url_prefix(given) == compared


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://a.example/",
        "file:///srv",
        "a.example/",
        "http://",
        "http://u:p@a.example/",
        "http://a.example/?k=v",
        "http://a.example:99999/",
        "http://a.example/x y",
    ],
)
def test_bad_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"prefix|port"):
        check_url_prefix(bad)


def test_the_setting_reads_comma_separated_prefixes_and_hands_them_on_so() -> None:
    settings = Settings(web_download_allow="http://a.example, https://b.example/pub/,")
    assert settings.web_download_allow == ["http://a.example/", "https://b.example/pub/"]
    dumped = settings.model_dump()["web_download_allow"]
    assert Settings(web_download_allow=dumped).web_download_allow == settings.web_download_allow
    assert Settings().web_download_allow == []


ALLOW = [check_url_prefix("http://a.example"), check_url_prefix("https://b.example/pub/")]


@pytest.mark.parametrize(
    "uri",
    ["http://a.example/x.qcow2", "HTTP://A.EXAMPLE/x", "https://b.example/pub/x?sig=1"],
)
def test_admitted(uri: str) -> None:
    assert image_import.check_uri(uri, ALLOW) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "http://a.example.evil.net/x",  # the host ends where the prefix says
        "http://a.example:8080/x",
        "https://a.example/x",
        "https://b.example/public/x",
        "https://b.example/pub/../secret",
        "https://b.example/pub/%2E%2E/secret",
        "http://a.example@evil.net/x",
        "http://a.example/x#frag\n",
        None,
        42,
    ],
)
def test_refused(uri: object) -> None:
    with pytest.raises(errors.ApiError) as caught:
        image_import.check_uri(uri, ALLOW)
    assert caught.value.spec is errors.IMPORT_URI_FILTERED


def test_nothing_is_admitted_without_a_list() -> None:
    with pytest.raises(errors.ApiError):
        image_import.check_uri("http://a.example/x", [])


def test_logged_uris_lose_their_query_and_user() -> None:
    shown = image_import.safe_for_log("https://u:p@b.example:8443/pub/x?X-Amz-Signature=s")
    assert shown == "https://b.example:8443/pub/x"
