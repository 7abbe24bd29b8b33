"""Open a local HTML file in headless Chromium: screenshot, DOM, and proof of no network.

``render(path, out_dir)`` runs Chromium once with ``--screenshot``, ``--dump-dom`` and
``--log-net-log``. Chromium's NetLog records every URL request the network stack starts;
requests a page makes carry the page's ``file://`` origin, while the browser's own
background requests (update checks, sign-in probes, which happen whatever the flags)
carry ``initiator: "not an origin"``. ``Rendered.page_requests`` lists the former, so a
test can assert the page fetched nothing (``tests/test_heatmap.py`` also checks a control
page that does fetch, so the detector itself is tested).

``external_references(html)`` is the static half of the proof: every ``src``, ``href``,
``srcset``, ``action``, ``poster``, ``data`` attribute and every ``url(...)`` / ``@import``
in styles of the parsed document, except ``data:`` URIs and ``#fragment`` links.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--mute-audio")
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background", "xlink:href", "ping"}


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


requires_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (apt-get install -y chromium): the browser rendering tests are skipped")


@dataclass
class Rendered:
    dom: str  # the DOM after loading, serialised
    screenshot: Path
    page_requests: list[str] = field(default_factory=list)  # URLs the page asked the network for
    browser_requests: list[str] = field(default_factory=list)  # Chromium's own background requests


def render(html_path: str | Path, out_dir: str | Path, *, width: int = 1280, height: int = 1600,
           timeout: float = 90.0) -> Rendered:
    """Load ``html_path`` (file://) in headless Chromium; screenshot into ``out_dir``."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed")
    html_path = Path(html_path).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / (html_path.stem + ".png")
    netlog = out_dir / (html_path.stem + ".netlog.json")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run(
            [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--screenshot={shot}", f"--log-net-log={netlog}", "--net-log-capture-mode=Default", "--dump-dom",
             html_path.as_uri()],
            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0 or not shot.is_file():
        raise AssertionError(f"chromium failed (exit {result.returncode}): {result.stderr[-2000:]}")
    page, browser = network_requests(netlog)
    return Rendered(result.stdout, shot, page, browser)


def network_requests(netlog_path: str | Path) -> tuple[list[str], list[str]]:
    """(requests the page made, the browser's own requests) from a Chromium NetLog file."""
    text = Path(netlog_path).read_text()
    try:
        log = json.loads(text)
    except ValueError:  # a log cut short at exit lacks its closing brackets
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page, browser = [], []
    for event in log.get("events", []):
        if names.get(event.get("type")) != "URL_REQUEST_START_JOB":
            continue
        params = event.get("params", {})
        url = params.get("url")
        if url is None:  # the job's end event (net_error only)
            continue
        if params.get("initiator") == "not an origin" and "file://" not in params.get("network_isolation_key", ""):
            browser.append(url)
        else:
            page.append(url)
    return page, browser


class _References(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.csp: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, value in attrs.items():
            if value is None:
                continue
            if name in URL_ATTRIBUTES:
                parts = value.split(",") if name == "srcset" else [value]
                self.urls.extend(p.strip().split(" ")[0] for p in parts)
            if name == "style":
                self.urls.extend(_style_urls(value))
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp.append(attrs.get("content") or "")
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.urls.extend(_style_urls(data))


def _style_urls(css: str) -> list[str]:
    found = re.findall(r"url\(\s*['\"]?([^'\")]*)", css, flags=re.I)
    found += re.findall(r"@import\s+['\"]([^'\"]+)", css, flags=re.I)
    return found


def external_references(html: str) -> list[str]:
    """URLs in the document that a browser would fetch (everything but data: and #fragments)."""
    parser = _References()
    parser.feed(html)
    return [u for u in parser.urls if u and not u.startswith("#") and not u.lower().startswith("data:")]


def content_security_policies(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.csp


def non_white_fraction(png_path: str | Path) -> float:
    """Share of the screenshot's pixels that are not (near) white."""
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png_path))[..., :3]
    return float(((pixels < 0.94).any(axis=-1)).mean())


def distinct_colors(png_path: str | Path) -> int:
    import numpy as np
    import matplotlib.image

    pixels = (matplotlib.image.imread(str(png_path))[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    return len(np.unique(pixels, axis=0))
