"""Indicator data uploaded in Slack: a file dropped into the bot's DM, or picked in the
`/indicator import` form, is previewed in the DM; Import, Change mapping and Cancel act on it.

Every listener is an ack plus a lazy function (a stored job). The file is fetched again from
Slack for each step that reads it (preview, new preview, import): nothing of it is kept between
clicks but its Slack id. A click is read defensively: a button value that is not an upload's
number, or someone else's upload, gets a private answer and nothing changes."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bootstrap import Services
from bot.slack import ids
from bot.slack.app import is_channel_id, is_user_id
from bot.slack.blocks import imports as blocks
from bot.slack.files import FileRefused, download, file_info
from bot.slack.jobs import ack_now, form_ack
from bot.slack.people import actor_for
from bot.usecases import imports
from bot.usecases.imports import ImportRefused, ImportStatus, PreviewChanged, Uploader
from handlers import replies
from storage.importer import ImportError_, ImportMapping

logger = logging.getLogger(__name__)

MAX_FILES = 3  # files previewed from one message; more are named and left
# The answer to words typed in the bot's DM (it reads files there, not messages), and how many
# of the DM's latest messages are looked at before saying it again.
TYPED_IN_DM = (
    "I don't read messages here. Drop a CSV or Excel file in this conversation to preview an "
    "import of indicator data; for everything else use `/commit help`, `/indicator help` or "
    "`/commstat help` in any channel."
)
RECENT_MESSAGES = 5
FIELD_ERROR_CHARS = 150
# Which form field a mapping mistake belongs next to, by the option the importer names.
_FIELD_OF_OPTION = (
    ("--indicator-column", "indicator_column"),
    ("--indicator", "indicator"),
    ("--period-column", "period_columns"),
    ("--value-column", "value_columns"),
    ("--geography-column", "geography_column"),
    ("--filter", "filters"),
    ("--sheet", "sheet"),
    ("--skip-rows", "skip_rows"),
    ("--unit", "unit"),
)


def register(app: App, services: Services) -> None:
    def from_a_person(event: dict[str, Any], context: BoltContext) -> bool:
        """A person's file in a DM with the bot (not the bot's own chart uploads)."""
        return (
            event.get("channel_type") == "im"
            and not event.get("bot_id")
            and event.get("user") not in (None, context.bot_user_id)
        )

    def on_file_shared(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        user_id, channel = event.get("user"), event.get("channel")
        files = event.get("files")
        if not is_user_id(user_id) or not is_channel_id(channel) or not isinstance(files, list):
            return
        assert isinstance(user_id, str) and isinstance(channel, str)
        ids_ = [f["id"] for f in files if isinstance(f, dict) and isinstance(f.get("id"), str)]
        for file_id in ids_[:MAX_FILES]:
            upload(
                services,
                client,
                team_id=str(body["team_id"]),
                user_id=user_id,
                where=channel,
                file_id=file_id,
            )
        if len(ids_) > MAX_FILES:
            client.chat_postMessage(
                channel=channel,
                text=f"I previewed the first {MAX_FILES} files; send the others one at a time.",
            )

    def on_typed(event: dict[str, Any], client: WebClient) -> None:
        """Words typed in the bot's DM: it does not read them, so it says what it does read,
        once for a run of messages (not again while its last answer is among the latest)."""
        channel = event.get("channel")
        if not isinstance(channel, str) or not is_channel_id(channel):
            return
        latest = client.conversations_history(channel=channel, limit=RECENT_MESSAGES)
        if any(m.get("text") == TYPED_IN_DM for m in latest.get("messages") or []):
            return
        client.chat_postMessage(channel=channel, text=TYPED_IN_DM)

    def on_confirm(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        confirm(services, client, body, respond, action.get("value"))

    def on_cancel(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        cancel(services, client, body, respond, action.get("value"))

    def on_mapping_button(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        open_mapping_form(services, client, body, respond, action.get("value"))

    def on_mapping_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        mapping_submitted(services, ack, body, view, client)

    def on_upload_submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        upload_submitted(services, ack, body, view, client)

    app.event({"type": "message", "subtype": "file_share"}, matchers=[from_a_person])(
        ack=ack_now, lazy=[on_file_shared]
    )
    app.event({"type": "message", "subtype": None}, matchers=[from_a_person])(
        ack=ack_now, lazy=[on_typed]
    )
    # Every other message (the bot's own posts, edits, other channels): acknowledged, no job.
    # Without a listener Bolt would answer 404 and Slack would retry them.
    app.event("message")(ack_now)
    app.action(ids.IMPORT_CONFIRM)(ack=ack_now, lazy=[on_confirm])
    app.action(ids.IMPORT_CANCEL)(ack=ack_now, lazy=[on_cancel])
    app.action(ids.IMPORT_MAPPING)(ack=ack_now, lazy=[on_mapping_button])
    app.view(ids.IMPORT_MAPPING_VIEW)(
        ack=form_ack(services, on_mapping_submitted), lazy=[on_mapping_submitted]
    )
    app.view(ids.IMPORT_UPLOAD_VIEW)(
        ack=form_ack(services, on_upload_submitted), lazy=[on_upload_submitted]
    )


# --- reading the payloads ----------------------------------------------------------------------


def _row_id(value: Any) -> int | None:
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None


def _uploader(
    services: Services, client: WebClient, team_id: str, user_id: str, where: str | None
) -> Uploader:
    actor = actor_for(services, client, team_id, user_id)
    return Uploader(team_id, user_id, actor.is_admin, where)


def _message_of(body: dict[str, Any]) -> tuple[str, str] | None:
    """The (channel, ts) of the preview message that was clicked."""
    container = body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if is_channel_id(channel) and isinstance(ts, str) and ts:
        return str(channel), ts
    return None


# --- previews --------------------------------------------------------------------------------


def upload(
    services: Services,
    client: WebClient,
    *,
    team_id: str,
    user_id: str,
    where: str,
    file_id: str,
    answer_in: str | None = None,
) -> None:
    """Download a file and send its preview to the person's DM (`answer_in`, else `where`)."""
    uploader = _uploader(services, client, team_id, user_id, where)
    channel = answer_in or where
    try:
        preview = _read(services, client, uploader, file_id)
    except FileRefused as refused:
        client.chat_postMessage(channel=channel, text=str(refused))
        return
    client.chat_postMessage(
        channel=channel,
        text=blocks.preview_fallback(preview),
        blocks=blocks.build_preview(preview),
    )


def _read(
    services: Services,
    client: WebClient,
    uploader: Uploader,
    file_id: str,
    *,
    mapping: ImportMapping | None = None,
    row_id: int | None = None,
) -> imports.Preview:
    with _downloaded(services, client, file_id) as path:
        return imports.preview(
            services.sessions,
            uploader=uploader,
            path=path,
            file_id=file_id,
            now=services.clock(),
            time_zone=services.settings.timezone,
            mapping=mapping,
            row_id=row_id,
        )


@contextmanager
def _downloaded(
    services: Services, client: WebClient, file_id: str, *, name: str | None = None
) -> Iterator[Path]:
    """The file as Slack has it now, in a temporary folder for as long as it is read (under
    `name`, the one its preview showed, when given); FileRefused when Slack will not give it."""
    file = file_info(client, file_id)
    with tempfile.TemporaryDirectory(prefix="commstat-upload-") as folder:
        path = download(client, file, Path(folder), slack_api_url=services.settings.slack_api_url)
        yield path.rename(path.with_name(name)) if name else path


def upload_submitted(
    services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """`/indicator import`'s form: the picked file is previewed in the person's DM."""
    picked = replies.node(view, "state", "values", "file", "file", "files")
    files = [f for f in picked if isinstance(f, dict)] if isinstance(picked, list) else []
    file_id = files[0].get("id") if files else None
    if not isinstance(file_id, str) or not file_id:
        ack(response_action="errors", errors={"file": "Pick a CSV or Excel file."})
        return
    ack()
    user_id = body["user"]["id"]
    where = replies.text_at(view, "private_metadata")
    dm = client.conversations_open(users=user_id)["channel"]["id"]
    upload(
        services,
        client,
        team_id=replies.team_of(body),
        user_id=user_id,
        where=where if is_channel_id(where) else dm,
        file_id=file_id,
        answer_in=dm,
    )


# --- the buttons -------------------------------------------------------------------------------


def _upload_of(
    services: Services, client: WebClient, team_id: str, user_id: str, row_id: int
) -> tuple[Uploader, imports.Pending]:
    """The person's upload `row_id`, and them as its uploader, seeing what can be seen where it
    was previewed; ImportRefused when it is someone else's or gone."""
    uploader = _uploader(services, client, team_id, user_id, None)
    with services.sessions() as session:
        upload_ = imports.pending(session, uploader, row_id)
    return replace(uploader, channel_id=upload_.channel_id), upload_


def _clicked(
    services: Services, client: WebClient, body: dict[str, Any], value: Any
) -> tuple[Uploader, imports.Pending]:
    """The upload a button names, if the clicker may act on it; ImportRefused otherwise."""
    row_id = _row_id(value)
    if row_id is None:
        raise ImportRefused("That button is not one of mine. Nothing was changed.")
    return _upload_of(services, client, replies.team_of(body), body["user"]["id"], row_id)


@contextmanager
def _refusals_told(client: WebClient, body: dict[str, Any], respond: Respond) -> Iterator[None]:
    """A click refused (not the clicker's upload, the file gone from Slack…): the reason is told
    to the clicker only, and the click does nothing more."""
    try:
        yield
    except (FileRefused, ImportRefused) as refused:
        replies.tell(client, body, respond, str(refused))


def confirm(
    services: Services, client: WebClient, body: dict[str, Any], respond: Respond, value: Any
) -> None:
    """Import: write the previewed file once, then show the result in place of the preview."""
    with _refusals_told(client, body, respond):
        uploader, upload_ = _clicked(services, client, body, value)
        with services.sessions() as session:
            done = imports.finished(session, uploader, upload_.row_id)
        if done is None:
            try:
                with _downloaded(services, client, upload_.file_id, name=upload_.file_name) as path:
                    done = imports.run_import(
                        services.sessions,
                        uploader=uploader,
                        row_id=upload_.row_id,
                        path=path,
                        now=services.clock(),
                        time_zone=services.settings.timezone,
                    )
            except PreviewChanged as changed:
                # the new preview first: the note that points at it ("Here is a new preview")
                # comes when it is there to see
                _preview_again(services, client, body, respond, uploader, upload_.row_id)
                replies.tell(client, body, respond, str(changed))
                return
        text, shown = blocks.build_imported(done)
        _replace(client, _message_of(body), body["user"]["id"], text, shown)


def _preview_again(
    services: Services,
    client: WebClient,
    body: dict[str, Any],
    respond: Respond,
    uploader: Uploader,
    row_id: int,
) -> None:
    """The clicked preview, read again from the file as it is now (with the upload's mapping)."""
    try:
        with services.sessions() as session:
            upload_ = imports.pending(session, uploader, row_id)
        preview = _read(
            services, client, uploader, upload_.file_id, mapping=upload_.mapping, row_id=row_id
        )
    except (FileRefused, ImportRefused) as refused:
        replies.tell(client, body, respond, str(refused))
        return
    text, shown = blocks.preview_fallback(preview), blocks.build_preview(preview)
    _replace(client, _message_of(body), body["user"]["id"], text, shown)


def cancel(
    services: Services, client: WebClient, body: dict[str, Any], respond: Respond, value: Any
) -> None:
    with _refusals_told(client, body, respond):
        uploader, upload_ = _clicked(services, client, body, value)
        with services.sessions.begin() as session:
            said, cancelled = imports.cancel(
                session, uploader, upload_.row_id, now=services.clock()
            )
        if not cancelled:  # imported: its result stays in place of the preview
            replies.tell(client, body, respond, said)
            return
        text, shown = blocks.build_closed(said)
        _replace(client, _message_of(body), body["user"]["id"], text, shown)


def _replace(
    client: WebClient, where: tuple[str, str] | None, user_id: str, text: str, shown: list[Any]
) -> None:
    """The preview at `where` becomes `shown`, in place (no buttons left to press twice); when it
    can't be updated, `shown` is posted in the person's DM instead, buttons and all."""
    if where is not None:
        try:
            client.chat_update(channel=where[0], ts=where[1], text=text, blocks=shown)
            return
        except SlackApiError:
            logger.warning("could not update an upload's preview in place; posting it again")
    client.chat_postMessage(channel=user_id, text=text, blocks=shown)


def open_mapping_form(
    services: Services, client: WebClient, body: dict[str, Any], respond: Respond, value: Any
) -> None:
    with _refusals_told(client, body, respond):
        _, upload_ = _clicked(services, client, body, value)
        if upload_.status in (ImportStatus.IMPORTED, ImportStatus.CANCELLED):
            done = "imported" if upload_.status == ImportStatus.IMPORTED else "cancelled"
            raise ImportRefused(f"This upload was {done} already; upload the file again.")
        where = _message_of(body)
        columns = ""
        for block in replies.node(body, "message", "blocks") or []:
            if isinstance(block, dict) and block.get("block_id") == blocks.COLUMNS_BLOCK:
                columns = replies.text_at((block.get("elements") or [{}])[0], "text")
        view = blocks.build_mapping_modal(
            row_id=upload_.row_id,
            file_name=upload_.file_name,
            mapping=upload_.mapping,
            columns_text=columns,
            context=f"{where[0]}|{where[1]}" if where else "",
        )
        if not replies.open_form(client, str(body.get("trigger_id") or ""), view):
            replies.tell(
                client,
                body,
                respond,
                "Sorry — I was too busy to open the form within the 3 seconds Slack allows. "
                "Press Change mapping again.",
            )


def mapping_submitted(
    services: Services, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    """Change mapping: a mistake in the options goes next to its field; otherwise the form
    closes and the preview is read again with the new mapping, in place."""
    values = replies.node(view, "state", "values") or {}
    typed = {
        block_id: replies.text_at(values, block_id, "value", "value")
        for block_id, *_ in blocks.MAPPING_FIELDS
    }
    try:
        mapping = imports.mapping_from_form(**typed)
    except ImportError_ as error:
        text = str(error)
        field = next((f for option, f in _FIELD_OF_OPTION if option in text), "period_columns")
        ack(response_action="errors", errors={field: text[:FIELD_ERROR_CHARS]})
        return
    row_text, _, where = replies.text_at(view, "private_metadata").partition("|")
    row_id = _row_id(row_text)
    user_id = body["user"]["id"]
    if row_id is None:
        ack(response_action="errors", errors={"indicator": "This form is out of date."})
        return
    try:
        uploader, upload_ = _upload_of(services, client, replies.team_of(body), user_id, row_id)
    except ImportRefused as refused:
        ack(response_action="errors", errors={"indicator": str(refused)[:FIELD_ERROR_CHARS]})
        return
    if upload_.status in (ImportStatus.IMPORTED, ImportStatus.CANCELLED):
        ack(
            response_action="errors",
            errors={"indicator": "This upload is finished; upload the file again."},
        )
        return
    ack()
    channel, _, ts = where.partition("|")
    try:
        preview = _read(services, client, uploader, upload_.file_id, mapping=mapping, row_id=row_id)
    except (FileRefused, ImportRefused) as refused:
        client.chat_postMessage(channel=user_id, text=str(refused))
        return
    text, shown = blocks.preview_fallback(preview), blocks.build_preview(preview)
    _replace(client, (channel, ts) if is_channel_id(channel) and ts else None, user_id, text, shown)
