"""One bounded, conditional download of a catalog source (a CSV/Excel file or a Socrata endpoint).

A catalog's `url` is text someone typed, and the server at the other end is someone else's, so
every way a download can hurt the machine or reach what it should not is closed here:

* **Schemes.** Only http and https, for the address and for every redirect (at most
  `max_redirects`); https is never followed down to http. `file:`, `ftp:`, `gopher:` … are
  refused in words.
* **Addresses.** Every connection, also after a redirect, goes through `_GuardedBackend`: it
  resolves the host itself, refuses it if *any* of its addresses is not a public one (loopback,
  private, link-local such as a cloud's metadata service 169.254.169.254, carrier-grade NAT,
  multicast, reserved, unspecified, and their IPv4-mapped IPv6 forms), and connects to the very
  address it checked, so a DNS answer that changes between the check and the connection cannot
  slip through. Hosts listed in COMMSTAT_SOURCE_PRIVATE_HOSTS (as written in the URL) may be
  private: a health department's own data server, or the tests' local server. Proxies from the
  environment are not used (`trust_env=False`): the checks would be checking the proxy.
* **Size.** A Content-Length over `max_bytes` is refused before the body is read; the body is
  counted as it arrives, after gzip/deflate are undone here with a bounded decompressor (a
  "zip bomb" of a few kilobytes cannot expand past the limit), and dropped at the limit.
* **Time.** Connect and read timeouts per socket call, and one deadline for the whole download
  that every socket read and write is held to: a server that drips a byte every few seconds
  (slow loris) is cut off at the deadline, not after hours.
* **Content.** A web page (HTML: a sign-in page, an error page, a portal's landing page) and
  JSON are refused with what to do instead; anything else that is not a table is refused by the
  importer, which names the problem.

Conditional requests: `If-None-Match` with the stored ETag and `If-Modified-Since` with the
stored Last-Modified; a 304 means nothing changed and nothing is read. A Socrata endpoint is
paged (`$limit`/`$offset`, `$order=:id` for a stable order, dev.socrata.com/docs/paging) into one
CSV; its ETag differs per page and query, so only its Last-Modified (the dataset's own update
time) is used for it, on the first page.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import logging
import re
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpcore
import httpx

from storage.catalog import SODA_PATH

# httpx logs every request at INFO with its whole URL, whose query may hold an app token.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "CommStat-bot/0.1 (indicator source refresh)"
_HTML = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml[^>]*>\s*<html)", re.I)


@dataclass(frozen=True)
class FetchLimits:
    """How much one source may cost. The defaults suit a publisher's file of a few megabytes
    (the bundled CDC files are 9 KB to 370 KB); tests shorten the times."""

    max_bytes: int = 50_000_000
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # silence between two packets
    total_seconds: float = 300.0  # the whole download, every page and redirect included
    max_redirects: int = 5
    soda_page_rows: int = 50_000
    max_pages: int = 200


DEFAULT_LIMITS = FetchLimits()


class FetchError(Exception):
    """The download failed; the message says why in plain words, naming the host, never the
    whole URL (its query may hold a key). `transient`: worth trying again soon (a timeout, a
    5xx, a refused connection); otherwise it will fail the same way until someone fixes it."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Fetched:
    """A finished download: `path` is None when the server said nothing changed (304)."""

    path: Path | None
    etag: str | None
    last_modified: str | None
    size: int

    @property
    def not_modified(self) -> bool:
        return self.path is None


def host_of(url: str) -> str:
    """The host a message may name (never the path or query)."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def is_soda(url: str) -> bool:
    """A Socrata endpoint's CSV form (the catalog refuses its other forms), paged by `fetch`."""
    try:
        found = SODA_PATH.match(urlsplit(url).path)
    except ValueError:
        return False
    return found is not None and found[1].lower() == "csv"


def check_url(url: str) -> None:
    """http(s), a host, no user name or password; FetchError (not transient) otherwise."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise FetchError("The source's address is not a valid URL.", transient=False) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(
            f"The source's address starts with '{parts.scheme or '?'}:'; only http and https "
            "addresses are fetched.",
            transient=False,
        )
    if not parts.hostname:
        raise FetchError("The source's address has no host name.", transient=False)
    if parts.username is not None or parts.password is not None:
        raise FetchError(
            "The source's address holds a user name or password; use a public address.",
            transient=False,
        )


def private_hosts(setting: str | None) -> frozenset[str]:
    """COMMSTAT_SOURCE_PRIVATE_HOSTS as a set of lower-case host names or addresses."""
    if not setting:
        return frozenset()
    return frozenset(h.strip().strip("[]").lower() for h in setting.split(",") if h.strip())


def fetch(
    url: str,
    *,
    folder: Path,
    stem: str,
    etag: str | None = None,
    last_modified: str | None = None,
    limits: FetchLimits = DEFAULT_LIMITS,
    allowed_private: frozenset[str] = frozenset(),
) -> Fetched:
    """Download `url` into `folder` as `stem`.csv or `stem`.xlsx (by its content), or learn that
    it has not changed. Raises FetchError in plain words; never opens a database transaction."""
    check_url(url)
    deadline = time.monotonic() + limits.total_seconds
    host = host_of(url)
    backend = _GuardedBackend(allowed_private, deadline)
    timeout = httpx.Timeout(
        connect=limits.connect_timeout,
        read=limits.read_timeout,
        write=limits.read_timeout,
        pool=limits.connect_timeout,
    )
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
    with httpx.Client(
        transport=_GuardedTransport(backend),
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
    ) as client:
        download = _Download(client, limits, deadline, host)
        try:
            if is_soda(url):
                return _fetch_soda(download, url, folder, stem, headers, last_modified)
            conditional = dict(headers)
            if etag:
                conditional["If-None-Match"] = etag
            if last_modified:
                conditional["If-Modified-Since"] = last_modified
            part = folder / f"{stem}.part"
            try:
                with part.open("wb") as out:
                    answer = download.get(url, conditional, out.write, limits.max_bytes)
            except BaseException:
                part.unlink(missing_ok=True)  # nothing half-downloaded is left behind
                raise
            if answer.status == 304:
                part.unlink(missing_ok=True)
                return Fetched(None, etag, last_modified, 0)
            path = _settle(part, folder, stem, host, answer.content_type)
            return Fetched(path, answer.etag, answer.last_modified, answer.size)
        except httpx.TimeoutException:
            if time.monotonic() >= deadline - 0.05:
                raise FetchError(
                    f"{host} took longer than {limits.total_seconds:g} s in all.",
                    transient=True,
                ) from None
            raise FetchError(
                f"{host} did not answer within {limits.read_timeout:g} s.", transient=True
            ) from None
        except httpx.TransportError as exc:
            raise FetchError(
                f"{host} could not be reached ({_transport_words(exc)}).", transient=True
            ) from None
        except _Refused as exc:
            raise FetchError(f"Not fetched: {exc}.", transient=False) from None


# --- one GET, with redirects, limits and decoding ----------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int
    etag: str | None
    last_modified: str | None
    content_type: str
    size: int


class _Download:
    def __init__(
        self, client: httpx.Client, limits: FetchLimits, deadline: float, host: str
    ) -> None:
        self.client = client
        self.limits = limits
        self.deadline = deadline
        self.host = host

    def get(
        self, url: str, headers: dict[str, str], sink: Callable[[bytes], Any], budget: int
    ) -> _Answer:
        """GET `url`, following redirects (each checked again), writing the decoded body to
        `sink`; at most `budget` bytes. 304 is returned, any other non-200 raises."""
        current = httpx.URL(url)
        for _hop in range(self.limits.max_redirects + 1):
            check_url(str(current))
            with self.client.stream("GET", current, headers=headers) as response:
                if response.has_redirect_location:
                    target = current.join(response.headers["location"])
                    if current.scheme == "https" and target.scheme == "http":
                        raise FetchError(
                            f"{self.host} redirected from https to plain http; not followed.",
                            transient=False,
                        )
                    current = target
                    continue
                if response.status_code == 304:
                    return _Answer(304, None, None, "", 0)
                if response.status_code != 200:
                    raise _status_error(self.host, response.status_code)
                content_type = response.headers.get("content-type", "").lower()
                if "html" in content_type:
                    raise _html_error(self.host)
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > budget:
                    raise _too_big(self.host, self.limits.max_bytes)
                size = 0
                for chunk in _decoded(response, self.host):
                    size += len(chunk)
                    if size > budget:
                        raise _too_big(self.host, self.limits.max_bytes)
                    sink(chunk)
                return _Answer(
                    200,
                    response.headers.get("etag"),
                    response.headers.get("last-modified"),
                    content_type,
                    size,
                )
        raise FetchError(
            f"{self.host} redirected more than {self.limits.max_redirects} times; not followed.",
            transient=False,
        )


def _decoded(response: httpx.Response, host: str) -> Iterator[bytes]:
    """The body with gzip/deflate undone in pieces of at most 1 MB, so a small compressed body
    cannot expand into memory before the size limit sees it."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    raw = response.iter_raw(65_536)
    if encoding in ("", "identity"):
        yield from raw
        return
    if encoding in ("gzip", "x-gzip"):
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decompressor = zlib.decompressobj()
    else:
        raise FetchError(
            f"{host} sent the data compressed as '{encoding[:20]}', which I cannot read.",
            transient=False,
        )
    try:
        for chunk in raw:
            data = decompressor.decompress(chunk, 1_048_576)
            while data:
                yield data
                data = decompressor.decompress(decompressor.unconsumed_tail, 1_048_576)
        tail = decompressor.flush()
        if tail:
            yield tail
    except zlib.error:
        raise FetchError(f"{host} sent compressed data that is damaged.", transient=True) from None


def _settle(part: Path, folder: Path, stem: str, host: str, content_type: str) -> Path:
    """The downloaded file named by what it holds (.xlsx for a zip, else .csv), once it is known
    not to be a web page, JSON or an old binary spreadsheet."""
    with part.open("rb") as handle:
        head = handle.read(2048)
    try:
        _refuse_page_or_json(head, host, content_type)
    except FetchError:
        part.unlink(missing_ok=True)
        raise
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        part.unlink(missing_ok=True)
        raise FetchError(
            f"{host} sent an old-style Excel file (.xls); only .xlsx and CSV can be read.",
            transient=False,
        )
    suffix = ".xlsx" if head.startswith(b"PK\x03\x04") else ".csv"
    if suffix == ".csv" and b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        part.unlink(missing_ok=True)
        raise FetchError(f"{host} sent a binary file, not a table (CSV or Excel).", transient=False)
    path = folder / f"{stem}{suffix}"
    part.replace(path)
    return path


def _refuse_page_or_json(head: bytes, host: str, content_type: str) -> None:
    """FetchError for a body that is empty, a web page or JSON (read from its first bytes): the
    checks a file and a Socrata endpoint's first page share."""
    stripped = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise FetchError(f"{host} sent an empty file.", transient=True)
    if _HTML.match(stripped):
        raise _html_error(host)
    if stripped[:1] in (b"{", b"[") or "json" in content_type:
        raise FetchError(
            f"{host} sent JSON, not a table. Use the address of the CSV or Excel file (for a "
            "Socrata dataset: …/resource/abcd-1234.csv).",
            transient=False,
        )


# --- Socrata ---------------------------------------------------------------------------------


def _fetch_soda(
    download: _Download,
    url: str,
    folder: Path,
    stem: str,
    headers: dict[str, str],
    last_modified: str | None,
) -> Fetched:
    """Every page of a Socrata query, as one CSV (the header once)."""
    base = httpx.URL(url)
    asked = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    path = folder / f"{stem}.csv"
    try:
        return _pages(download, base, asked, path, headers, last_modified)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _pages(
    download: _Download,
    base: httpx.URL,
    asked: dict[str, str],
    path: Path,
    headers: dict[str, str],
    last_modified: str | None,
) -> Fetched:
    limits = download.limits
    header: bytes | None = None
    size = 0
    first_answer: _Answer | None = None
    with path.open("wb") as out:
        for page in range(limits.max_pages):
            params: dict[str, Any] = {
                "$limit": str(limits.soda_page_rows),
                "$offset": str(page * limits.soda_page_rows),
            }
            if "$order" not in asked:
                params["$order"] = ":id"
            page_headers = dict(headers)
            if page == 0 and last_modified:
                page_headers["If-Modified-Since"] = last_modified
            buffer = io.BytesIO()
            answer = download.get(
                str(base.copy_merge_params(params)),
                page_headers,
                buffer.write,
                limits.max_bytes - size,
            )
            if answer.status == 304:
                if page == 0:
                    out.close()
                    path.unlink(missing_ok=True)
                    return Fetched(None, None, last_modified, 0)
                raise FetchError(
                    f"{download.host} answered 'not modified' in the middle of paging.",
                    transient=True,
                )
            body = buffer.getvalue()
            if page == 0:
                first_answer = answer
                _refuse_page_or_json(body, download.host, answer.content_type)
            line_end = body.find(b"\n")
            page_header = body if line_end < 0 else body[: line_end + 1]
            rows = _count_rows(body, download.host)
            if header is None:
                header = page_header
                out.write(body)
            elif rows:
                if page_header.strip() != header.strip():
                    raise FetchError(
                        f"{download.host} changed the columns between pages; try again later.",
                        transient=True,
                    )
                out.write(body[len(page_header) :])
            size += answer.size
            if rows < limits.soda_page_rows:
                assert first_answer is not None
                # a page's ETag says nothing about the whole query
                return Fetched(path, None, first_answer.last_modified, size)
    raise FetchError(
        f"{download.host} has more than {limits.max_pages * limits.soda_page_rows:,} rows for "
        "this query; narrow it with $where in the source's url.",
        transient=False,
    )


def _count_rows(body: bytes, host: str) -> int:
    """Records after the header, read as CSV (a quoted cell may hold a line break)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FetchError(f"{host} sent text that is not UTF-8.", transient=False) from None
    try:
        records = sum(1 for _ in csv.reader(io.StringIO(text)))
    except csv.Error:
        raise FetchError(f"{host} sent a page that is not CSV.", transient=False) from None
    return max(records - 1, 0)


# --- words -----------------------------------------------------------------------------------


def _status_error(host: str, status: int) -> FetchError:
    said = f"{status} {httpx.codes.get_reason_phrase(status)}".strip()
    if status in (401, 403):
        return FetchError(
            f"{host} refused access ({said}); the file may need a sign-in, which sources "
            "cannot give.",
            transient=False,
        )
    if status in (404, 410):
        return FetchError(
            f"{host} has no file at that address ({said}); it may have moved. Check the "
            "source's url in the catalog.",
            transient=False,
        )
    transient = status >= 500 or status in (408, 429)
    return FetchError(f"{host} answered {said}.", transient=transient)


def _html_error(host: str) -> FetchError:
    return FetchError(
        f"{host} sent a web page (HTML), not a table. The url should download the CSV or Excel "
        "file itself (for a Socrata dataset: …/resource/abcd-1234.csv).",
        transient=False,
    )


def _too_big(host: str, limit: int) -> FetchError:
    return FetchError(
        f"{host} sent more than {limit / 1_000_000:g} MB; a source may be at most that big. "
        "Narrow it (for a Socrata dataset, with $where in the url).",
        transient=False,
    )


def _transport_words(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "Connection refused" in text or "[Errno 111]" in text:
        return "connection refused"
    return text[:120]


# --- the guarded network backend ----------------------------------------------------------------


class _Refused(Exception):
    """A connection the guard would not make; raised through httpx as the reason."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            ip = mapped
    return ip.is_global and not ip.is_multicast


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with the address check and the deadline."""

    def __init__(self, allowed_private: frozenset[str], deadline: float) -> None:
        self._inner = httpcore.SyncBackend()
        self._allowed = allowed_private
        self._deadline = deadline

    def _remaining(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the download's deadline passed")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._vetted(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    timeout=self._remaining(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - never asked for: no uds transport
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - retries are off
        time.sleep(seconds)

    def _vetted(self, host: str, port: int) -> list[str]:
        name = host.strip("[]").lower()
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise httpcore.ConnectError(f"no such host: {name[:80]}") from None
        addresses: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in addresses:
                addresses.append(address)
        if name in self._allowed:
            return addresses
        for address in addresses:
            if not _public(address):
                raise _Refused(
                    f"{name[:80]} is on a private or local network ({address}); sources are "
                    "fetched only from public addresses (an operator may allow a host with "
                    "COMMSTAT_SOURCE_PRIVATE_HOSTS)"
                )
        return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the download's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, backend: _GuardedBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._backend._remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend._remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname=server_hostname, timeout=self._backend._remaining(timeout)
        )
        return _DeadlineStream(inner, self._backend)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that uses the guarded backend (httpx takes no
    network backend itself; httpcore's pool does)."""

    def __init__(self, backend: _GuardedBackend) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=4,
            max_keepalive_connections=2,
            network_backend=backend,
        )


__all__ = [
    "DEFAULT_LIMITS",
    "FetchError",
    "FetchLimits",
    "Fetched",
    "check_url",
    "fetch",
    "host_of",
    "is_soda",
    "private_hosts",
]
