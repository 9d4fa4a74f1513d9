"""An owner whose Slack account is deactivated, end to end: commitments made over signed HTTP,
the account turned off (and on) in the Slack stand-in, scheduler passes day after day. One
failed message in all, not one every reminder day; the creator is told plainly who cannot be
reached; reminders come back on the next reminder day once Slack says the account is active."""

from __future__ import annotations

from datetime import timedelta

from bot.slack import outbox, people
from bot.slack.blocks.nudges import creator_payload
from storage.models import Commitment, CommitmentOwner, CommitmentStatus, Person
from storage.repositories import mark_unreachable
from tests.helpers import add_late_indicator, all_text, wait_for
from tests.scheduler import test_sources as sources
from tests.scheduler.test_nudges_e2e import dms, make, no_public_holidays, ny, tick
from tests.scheduler.test_sources import services, site  # noqa: F401  (their fixtures)

TEAM = "T0COALITION"


def days(first, count):
    """`count` calendar days from `first` (a New York datetime), at its time of day."""
    return [first + timedelta(days=n) for n in range(count)]


def attempts_to(slack, user):
    """Every request the bot made to write to `user` directly (posts and DM opens)."""
    posts = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == user]
    opens = [c for c in slack.calls_to("conversations.open") if user in str(c.params)]
    return len(posts) + len(opens)


def problems(served):
    """The delivery problems an admin sees: (recipient, status, reason), newest first."""
    with served.sessions() as session:
        return [
            (row.channel, str(row.status), row.last_error or "")
            for row in outbox.problems(session, TEAM)
        ]


def person(bot, user):
    with bot.services.sessions() as session:
        return session.get(Person, (TEAM, user))


def notice_of(bot):
    """The creator's one-time notice (Maria logged every commitment here)."""
    [notice] = dms(bot, "U0MARIA")
    return all_text(notice)


def test_a_deactivated_owner_is_tried_once_while_the_co_owner_is_still_reminded(bot):
    commitment = make(bot, "<@U0LEE|lee> <@U0KIM|kim> Send the naloxone report by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    bot.slack.deactivate_user("U0LEE")  # after the commitment: Lee was active when it was made
    # Two weeks of passes: after 09:00 in Los Angeles (Lee) and in Auckland (Kim) every day.
    for day in days(ny(23, 12, 30), 15):
        tick(bot, day)
        tick(bot, day + timedelta(hours=3))
    assert attempts_to(bot.slack, "U0LEE") == 1
    [(channel, status, error)] = problems(bot.services)
    assert (channel, status) == ("U0LEE", "failed")
    assert error.startswith("user_disabled: this person's Slack account was deactivated")
    lee = person(bot, "U0LEE")
    assert lee.unreachable_since == ny(24, 12, 30)  # Tuesday's "due tomorrow", the only try
    assert lee.unreachable_reason == "user_disabled"
    kims = dms(bot, "U0KIM")
    assert len(kims) >= 5  # due tomorrow, due today, then overdue every other working day
    assert all("Send the naloxone report" in all_text(m) for m in kims)
    seen = notice_of(bot)
    assert "which you logged, is 7 days overdue" in seen
    assert "<@U0KIM> is still being reminded, but <@U0LEE>'s Slack account is deactivated." in seen
    assert "Its owners are still being reminded" not in seen


def test_no_one_reachable_is_said_plainly_and_a_reactivated_owner_is_reminded_again(bot):
    commitment = make(bot, "<@U0LEE|lee> Call the shelters by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    bot.slack.deactivate_user("U0LEE")
    for day in days(ny(23, 12, 30), 10):  # to Wed Dec 2, a week overdue
        tick(bot, day)
    assert attempts_to(bot.slack, "U0LEE") == 1
    assert [p[:2] for p in problems(bot.services)] == [("U0LEE", "failed")]
    [notice] = dms(bot, "U0MARIA")
    assert (
        f"<@U0LEE>'s Slack account is deactivated, so no one is being reminded: drop it "
        f"(`/commit drop {commitment.id} <reason>`)" in all_text(notice)
    )
    assert "still being reminded" not in all_text(notice)
    assert notice["text"].endswith(
        "No one is being reminded: <@U0LEE>'s Slack account is deactivated."
    )

    # An admin turns Lee's account back on; Lee never uses the bot. Slack is asked again once a
    # day, and the next reminder day brings one message: the missed ones are not sent in a burst.
    bot.slack.reactivate_user("U0LEE")
    before = len(bot.slack.calls_to("users.info"))
    for day in days(ny(3, 12, 30, month=12), 7):
        tick(bot, day)
        tick(bot, day + timedelta(hours=2))
        if dms(bot, "U0LEE"):
            break
    [morning] = dms(bot, "U0LEE")
    assert "*1 commitment* needs you today" in all_text(morning)
    assert "days overdue*" in all_text(morning)
    assert person(bot, "U0LEE").unreachable_since is None
    assert len(bot.slack.calls_to("users.info")) - before <= 2  # once a day, not every pass
    tick(bot, day + timedelta(hours=4))  # later the same day: nothing more
    assert len(dms(bot, "U0LEE")) == 1
    assert len(problems(bot.services)) == 1


def test_a_command_from_the_person_proves_the_account_works(sqlite_bot):
    bot = sqlite_bot
    commitment = make(bot, "<@U0LEE|lee> Call the shelters by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    bot.slack.deactivate_user("U0LEE")
    tick(bot, ny(24, 12, 30))
    assert person(bot, "U0LEE").unreachable_since is not None
    # Back on, and Slack's users.info is failing: Lee's own /commit list is proof enough.
    bot.slack.reactivate_user("U0LEE")
    bot.slack.set_error("users.info", "internal_error")
    assert bot.driver.command("/commit", "list", user="U0LEE").status == 200
    wait_for(lambda: person(bot, "U0LEE").unreachable_since is None)
    tick(bot, ny(25, 12, 30))  # the due date: reminded again
    [morning] = dms(bot, "U0LEE")
    assert "*due today*" in all_text(morning)
    assert attempts_to(bot.slack, "U0LEE") == 2


def test_a_broadcast_as_display_name_pings_no_one_in_the_notice(sqlite_bot):
    bot = sqlite_bot
    bot.slack.add_user("U0EVIL", name="<!channel>", display_name="<!channel>", real_name="<!here>")
    commitment = make(bot, "<@U0EVIL> Fix the intake form by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    assert person(bot, "U0EVIL").display_name == "<!channel>"  # the bot knows that name
    bot.slack.deactivate_user("U0EVIL")
    for day in days(ny(23, 12, 30), 10):
        tick(bot, day)
    [notice] = dms(bot, "U0MARIA")
    seen = all_text(notice)
    assert "<@U0EVIL>'s Slack account is deactivated, so no one is being reminded" in seen
    assert "<!" not in seen and "@channel" not in seen and "@here" not in seen


def test_the_bots_own_token_or_a_slack_outage_marks_no_one(sqlite_bot):
    bot = sqlite_bot
    commitment = make(bot, "<@U0LEE|lee> Call the shelters by Wednesday")
    no_public_holidays(bot, commitment.team_id)
    bot.slack.set_error("chat.postMessage", "account_inactive", channel="U0LEE")
    tick(bot, ny(24, 12, 30))
    assert [p[:2] for p in problems(bot.services)] == [("U0LEE", "failed")]
    bot.slack.set_error("chat.postMessage", "service_unavailable", channel="U0LEE")
    tick(bot, ny(25, 12, 30))  # retried later, not given up
    assert person(bot, "U0LEE").unreachable_since is None
    bot.slack.set_error("chat.postMessage", None, channel="U0LEE")
    tick(bot, ny(25, 13, 30))
    [morning] = dms(bot, "U0LEE")
    assert "*due today*" in all_text(morning)


def test_a_deactivated_steward_is_never_tried(sqlite_bot):
    # Lee is named steward in the catalog and never used the bot; Slack says his account is
    # deactivated when the scheduler asks where he lives, before any reminder is planned.
    bot = sqlite_bot
    bot.slack.deactivate_user("U0LEE")
    add_late_indicator(bot.services.sessions, TEAM, now=bot.clock())
    for day in days(ny(1, 12, 30, month=12), 14):
        tick(bot, day)
    assert attempts_to(bot.slack, "U0LEE") == 0
    assert problems(bot.services) == []
    assert person(bot, "U0LEE").unreachable_reason == "user_disabled"
    assert len(bot.slack.calls_to("users.info")) <= 15  # about once a day, not every pass


def test_the_notice_names_every_owner_who_cannot_be_reached():
    owners = ["U0LEE", "U0KIM", "U0SAM"]
    commitment = Commitment(
        id=7,
        team_id=TEAM,
        text="Call the shelters",
        due_at=ny(25, 17),
        time_zone="America/New_York",
        created_at=ny(23, 10),
        creator_id="U0MARIA",
        status=CommitmentStatus.OPEN,
        due_version=1,
        owners=[CommitmentOwner(user_id=o, team_id=TEAM, position=i) for i, o in enumerate(owners)],
    )
    gone = {"U0LEE": "user_disabled", "U0KIM": "user_not_found", "U0SAM": "user_disabled"}
    seen = all_text(creator_payload(commitment, now=ny(2, 12, month=12), unreachable=gone))
    assert (
        "The Slack accounts of <@U0LEE>, <@U0KIM> and <@U0SAM> are deactivated or no longer "
        "exist, so no one is being reminded" in seen
    )
    some = {"U0KIM": "user_not_found"}
    seen = all_text(creator_payload(commitment, now=ny(2, 12, month=12), unreachable=some))
    assert (
        "<@U0LEE> and <@U0SAM> are still being reminded, but <@U0KIM>'s Slack account no "
        "longer exists." in seen
    )


def test_a_deactivated_steward_hears_nothing_of_a_failing_source(
    services,  # noqa: F811
    site,  # noqa: F811
    fake_slack,
    tmp_path,
):
    # Maria stewards the source's indicators; her account is deactivated. Slack says so when the
    # scheduler first asks where she lives, so the failure note (once a streak) is never tried.
    fake_slack.deactivate_user("U0MARIA")
    site.serve("/vsrr.csv", sources.without_april(sources.VSRR))
    sources.set_up(services, tmp_path, sources.vsrr_catalog(site))
    sources.tick(services, sources.T0)
    site.answer("/vsrr.csv", "status", 500)
    start = sources.AUG_30
    for at in [start, sources.on(start, 0.25), sources.on(start, 1.25), sources.on(start, 25.25)]:
        sources.tick(services, at)
    assert sources.source(services).failures >= 3  # she would have been told by now
    assert attempts_to(fake_slack, "U0MARIA") == 0
    assert problems(services) == []


def test_people_slack_will_not_answer_about_do_not_keep_others_from_being_asked(sqlite_bot):
    """25 unreachable people, and users.info failing: each pass asks the 20 asked longest ago
    (each at most once a day), so nobody is left out while the first 20 keep failing."""
    bot = sqlite_bot
    make(bot, "Call the shelters by Wednesday")  # the coalition's first use
    users = [f"U0P{n:02}" for n in range(25)]
    with bot.services.sessions.begin() as session:
        for user in users:
            session.add(Person(team_id=TEAM, user_id=user, is_admin=False, is_slack_admin=False))
            session.flush()
            mark_unreachable(session, TEAM, user, reason="user_disabled", since=ny(20, 9, 0))
    bot.slack.set_error("users.info", "service_unavailable")

    def asked() -> set[str]:
        return {
            c.params.get("user")
            for c in bot.slack.calls_to("users.info")
            if c.params.get("user") in users
        }

    bot.clock.now = ny(23, 13, 0)
    assert people.recheck_unreachable(bot.services) == 20
    first = asked()
    assert len(first) == 20
    assert people.recheck_unreachable(bot.services) == 5  # the next pass: the other five
    assert asked() == set(users)
    assert people.recheck_unreachable(bot.services) == 0  # and nobody again the same day
    bot.clock.now = ny(24, 13, 30)
    assert people.recheck_unreachable(bot.services) == 20  # a day later: the longest-unasked
