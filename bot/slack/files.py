"""Files people give the bot in Slack (a CSV or Excel file dropped into its DM, or picked in the
`/indicator import` form): found with `files.info`, downloaded with the bot's own token.

A private file's `url_private_download` needs `Authorization: Bearer <bot token>`; without it
Slack answers 200 with the HTML of its sign-in page, not the file (PITFALLS.md), so an HTML answer
is refused, never read as data. The token is sent only to Slack's file host (or, in tests, the
stand-in at SLACK_API_URL), never to a URL a payload names elsewhere, and not along a redirect.
A download has a size limit (Slack's 10 MB for a form's file) and a time limit; every refusal is
a sentence for the person, and nothing of the file is kept but a temporary copy for the reading.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.text import safe
from bot.slack.app import origin

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # Slack's file_input limit; a bigger DM upload is refused too
DOWNLOAD_TIMEOUT = 30.0  # seconds for the whole download
CHUNK = 64 * 1024
TABLES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
SLACK_FILES = ("https", "files.slack.com", 443)
MAX_NAME_CHARS = 120
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f/\\:*?\"<>|]")


class FileRefused(Exception):
    """The file cannot be read; the message says why, in words safe to show in Slack."""


@dataclass(frozen=True)
class SlackFile:
    id: str
    name: str  # a plain file name (no folders, no control characters), as read and shown
    size: int
    url: str | None  # url_private_download
    pretty_type: str  # "PNG", "PDF"…, for a refusal


def clean_name(name: Any) -> str:
    """A file name fit for a temporary path and a message: its last part only, no control or
    path characters, at most MAX_NAME_CHARS (the suffix kept, so it is still read as its type)."""
    text = str(name or "").replace("\\", "/")
    base = PurePosixPath(text).name or "upload"
    base = _UNSAFE_NAME.sub("_", base).strip(" .") or "upload"
    if len(base) > MAX_NAME_CHARS:
        stem, dot, suffix = base.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            base = stem[: MAX_NAME_CHARS - len(suffix) - 1] + "." + suffix
        else:
            base = base[:MAX_NAME_CHARS]
    return base


def as_file(data: Any) -> SlackFile:
    """A file object of Slack's (files.info's answer, or a form's file_input state)."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise FileRefused("Slack did not say which file this is. Upload it again.")
    size = data.get("size")
    return SlackFile(
        id=data["id"],
        name=clean_name(data.get("name") or data.get("title")),
        size=size if isinstance(size, int) and size >= 0 else 0,
        url=data.get("url_private_download") or data.get("url_private") or None,
        pretty_type=str(data.get("pretty_type") or data.get("filetype") or "").strip()[:30],
    )


def file_info(client: WebClient, file_id: str) -> SlackFile:
    """What Slack says about the file now (its name, its size, where to download it)."""
    try:
        answer = client.files_info(file=file_id)
    except SlackApiError as error:
        code = str(error.response.get("error") or "error")
        logger.warning("files.info refused a file: %s", code)
        if code in ("file_not_found", "file_deleted"):
            raise FileRefused(
                "I can't find that file in Slack any more (it may have been deleted). "
                "Upload it again."
            ) from None
        raise FileRefused(
            f"Slack would not let me read that file ({safe(code, 40)}). Nothing was imported."
        ) from None
    return as_file(answer.get("file"))


def check(file: SlackFile, *, limit: int = MAX_BYTES) -> None:
    """Refuse before downloading what cannot be a table, or is too big."""
    name = safe(file.name, 80)
    suffix = Path(file.name).suffix.lower()
    if suffix == ".xls":
        raise FileRefused(
            f"{name} is an old Excel file (.xls); open it in Excel and save it as .xlsx or CSV, "
            "then upload that. Nothing was imported."
        )
    if suffix not in TABLES:
        kind = file.pretty_type.lower()
        if not suffix or "csv" in kind or "excel" in kind or "xls" in kind:
            # Slack may call it a CSV, but it is read by the end of its name
            raise FileRefused(
                f"{name} has no .csv or .xlsx at the end of its name, so I can't tell how to "
                "read it. Save it as a CSV (.csv) or Excel (.xlsx) file and upload that. "
                "Nothing was imported."
            )
        what = f"a {safe(file.pretty_type, 30)} file" if file.pretty_type else "not a table"
        raise FileRefused(
            f"{name} is {what}: I can import indicator values from a CSV (.csv) or Excel (.xlsx) "
            "file. Nothing was imported."
        )
    if file.size > limit:
        raise FileRefused(
            f"{name} is {file.size / 1_048_576:.1f} MB; I can read files of up to "
            f"{limit // 1_048_576} MB. Split it (by year, say) and upload the parts. "
            "Nothing was imported."
        )


def download(
    client: WebClient,
    file: SlackFile,
    folder: Path,
    *,
    slack_api_url: str,
    limit: int = MAX_BYTES,
    timeout: float | None = None,
) -> Path:
    """The file's bytes, written to `folder/<its name>`, with the bot's token; FileRefused when
    Slack will not give them, they take too long, or they are more than `limit`."""
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    check(file, limit=limit)
    url = file.url
    if not url or origin(url) not in {SLACK_FILES, origin(slack_api_url)}:
        logger.warning("refused to download a file from outside Slack")
        raise FileRefused(
            "Slack did not give me a download link for that file. Upload it again. "
            "Nothing was imported."
        )
    token = client.token
    if not token:
        raise FileRefused("I have no Slack token to download files with. Nothing was imported.")
    request = urllib.request.Request(url, method="GET")  # noqa: S310 - checked just above
    request.add_unredirected_header("Authorization", f"Bearer {token}")  # never along a redirect
    name = safe(file.name, 80)
    deadline = time.monotonic() + timeout
    path = folder / file.name
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            kind = str(answer.headers.get("Content-Type") or "").lower()
            if kind.startswith("text/html"):
                raise FileRefused(
                    "Slack sent me its sign-in page instead of the file, so I could not read it. "
                    "Ask an admin to check that the app has the files:read scope. "
                    "Nothing was imported."
                )
            received = 0
            with path.open("wb") as out:
                while chunk := answer.read(CHUNK):
                    received += len(chunk)
                    if received > limit:
                        raise FileRefused(
                            f"{name} is more than {limit // 1_048_576} MB; I can read files of up "
                            "to that size. Split it and upload the parts. Nothing was imported."
                        )
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    out.write(chunk)
    except FileRefused:
        _remove(path)
        raise
    except urllib.error.HTTPError as error:
        _remove(path)
        logger.warning("downloading a file failed: HTTP %s", error.code)
        raise FileRefused(
            f"Slack could not give me {name} (HTTP {error.code}); it may have been deleted. "
            "Upload it again. Nothing was imported."
        ) from None
    except TimeoutError:
        _remove(path)
        logger.warning("downloading a file took longer than %s s", timeout)
        raise FileRefused(
            f"Slack took too long to send me {name}. Try again in a minute. Nothing was imported."
        ) from None
    except (urllib.error.URLError, OSError) as error:
        _remove(path)
        logger.warning("downloading a file failed: %s", type(error).__name__)
        raise FileRefused(
            f"I could not download {name} from Slack. Try again in a minute. Nothing was imported."
        ) from None
    if received == 0:
        _remove(path)
        raise FileRefused(f"{name} is empty: it has no header and no rows. Nothing was imported.")
    return path


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
