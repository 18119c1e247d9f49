"""Headless Chromium driven through its DevTools protocol over a pipe (``--remote-debugging-pipe``).

No port, no Python dependency: Chromium reads NUL-terminated JSON commands on fd 3 and writes
replies and events on fd 4. Enough for a page test: open a file, wait for a condition, evaluate
JavaScript, take a full-page screenshot, and collect console errors, uncaught exceptions, log
errors and every URL the page requested.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Browser", "chromium_binary", "open_browser"]


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


@dataclass
class Browser:
    process: subprocess.Popen[bytes]
    to_browser: int
    from_browser: int
    session: str = ""
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    _next_id: int = 0
    _buffer: bytes = b""
    _events: list[dict[str, Any]] = field(default_factory=list)

    def send(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30) -> dict[str, Any]:
        """Send a command (to the page's session once attached) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self._event(reply)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        for seen in self._events:
            if seen.get("method") == event:
                self._events.remove(seen)
                return seen
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            self._event(message)
            if message.get("method") == event:
                self._events.remove(message)
                return message

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def poll(self, expression: str, timeout: float = 30) -> bool:
        """Evaluate `expression` until it is true; False if it never was within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.1)
        return False

    def open(self, url: str, width: int = 1400, height: int = 900) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", timeout=60)

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page, not only the viewport."""
        metrics = self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        if method is not None:
            self._events.append(message)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited with status {self.process.returncode}")
            try:
                chunk = os.read(self.from_browser, 1 << 20)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message


@contextmanager
def open_browser(binary: str, profile: Path) -> Iterator[Browser]:
    """Start headless Chromium (no sandbox: tests run as root in containers) with its DevTools on a pipe."""
    commands_read, commands_write = os.pipe()  # we write, Chromium reads (its fd 3)
    replies_read, replies_write = os.pipe()  # Chromium writes (its fd 4), we read
    # The child's ends move above 9 so that bash's redirections to 3 and 4 cannot overwrite them.
    child_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD_CLOEXEC, 10)
    child_write = fcntl.fcntl(replies_write, fcntl.F_DUPFD_CLOEXEC, 10)
    for fd in (commands_read, replies_write):
        os.close(fd)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        "--mute-audio",
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        "about:blank",
    ]
    redirect = f'exec "$0" "$@" 3<&{child_read} 4>&{child_write} {child_read}<&- {child_write}>&-'
    process = subprocess.Popen(
        ["bash", "-c", redirect, binary, *flags],
        pass_fds=(child_read, child_write),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(child_read)
    os.close(child_write)
    os.set_blocking(replies_read, False)
    browser = Browser(process, commands_write, replies_read)
    try:
        yield browser
    finally:
        try:
            browser.session = ""
            browser.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(commands_write)
        os.close(replies_read)
