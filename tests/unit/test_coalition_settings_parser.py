"""`/commstat settings …` and `/commstat org …` as admins type them, and settings in words."""

from __future__ import annotations

import pytest

from bot.core.coalition_settings_parser import (
    Change,
    Organisation,
    SettingsError,
    days_text,
    holidays_text,
    hour_text,
    in_quiet,
    parse_change,
    parse_organisation,
    quiet_text,
)


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("nudge every 3 days", Change("nudge_every", 3)),
        ("nudges every 1 working day", Change("nudge_every", 1)),
        ("nudge cadence 3", Change("nudge_every", 3)),
        ("nudge hour 8", Change("nudge_hour", 8)),
        ("nudge at 2pm", Change("nudge_hour", 14)),
        ("Nudge time 12 a.m.", Change("nudge_hour", 0)),
        ("quiet hours 19-7", Change("quiet", (19, 7))),
        ("quiet 7pm to 7am", Change("quiet", (19, 7))),
        ("quiet hours off", Change("quiet", None)),
        ("working days sun-thu", Change("working_days", ["mon", "tue", "wed", "thu", "sun"])),
        ("workdays Monday to Friday", Change("working_days", ["mon", "tue", "wed", "thu", "fri"])),
        ("working days mon, wed and fri", Change("working_days", ["mon", "wed", "fri"])),
        ("time zone America/Chicago", Change("time_zone", "America/Chicago")),
        ("timezone europe/london", Change("time_zone", "Europe/London")),
        ("tz UTC", Change("time_zone", "UTC")),
        (
            "holidays add 2026-12-25, 2027-01-01",
            Change("holidays_add", ["2026-12-25", "2027-01-01"]),
        ),
        ("holiday delete 2026-12-25", Change("holidays_remove", ["2026-12-25"])),
        (
            "admin add <@U0LEE|lee> <@U0SAM>",
            Change("admin_add", ["U0LEE", "U0SAM"], affects_schedule=False),
        ),
        ("Admins remove <@U0LEE|lee>", Change("admin_remove", ["U0LEE"], affects_schedule=False)),
        ("default geography MD", Change("default_geography", "MD", affects_schedule=False)),
        ("default place off", Change("default_geography", None, affects_schedule=False)),
    ],
)
def test_settings_are_read_as_admins_type_them(text, change):
    assert parse_change(text) == change


@pytest.mark.parametrize(
    ("said", "zone"),
    [
        ("EST", "America/New_York"),
        ("Eastern time", "America/New_York"),
        ("Central", "America/Chicago"),
        ("pdt", "America/Los_Angeles"),
        ("Hawaii", "Pacific/Honolulu"),
    ],
)
def test_us_zone_names_mean_the_city_clock_with_daylight_saving(said, zone):
    assert parse_change(f"time zone {said}") == Change("time_zone", zone)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nudge every 30 days", "every 1 to 5 working days"),
        ("nudge hour 25", "`25` is not an hour"),
        ("nudge hour 13pm", "`13pm` is not an hour"),
        ("quiet hours 9-9", "as quiet hours"),
        ("quiet hours late", "as quiet hours"),
        ("working days funday", "as days of the week"),
        ("time zone Mars/Olympus", "I don't know the time zone `Mars/Olympus`"),
        ("holidays add Christmas", "`christmas` is not a date I can read"),
        ("admin add @lee", "I couldn't tell who `@lee` is"),
        ("admin add lee", "Who? Mention them"),
        ("colour blue", "I don't know the setting `colour blue`"),
    ],
)
def test_what_cannot_be_read_is_refused_in_words(text, says):
    with pytest.raises(SettingsError) as refused:
        parse_change(text)
    assert says in str(refused.value)


def test_an_unknown_zone_offers_the_closest_names():
    with pytest.raises(SettingsError) as refused:
        parse_change("time zone America/Chicagoo")
    assert "Closest: America/Chicago" in str(refused.value)


def test_an_unknown_setting_lists_the_settings_there_are():
    with pytest.raises(SettingsError) as refused:
        parse_change("colour blue")
    assert "`/commstat settings nudge hour 8`" in str(refused.value)
    assert "`/commstat settings quiet hours 19-7`" in str(refused.value)


def test_what_is_said_back_cannot_ping_the_channel():
    with pytest.raises(SettingsError) as refused:
        parse_change("colour <!channel>")
    assert "`colour @\u2060channel`" in str(refused.value)
    assert "<!channel>" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("<@U0LEE|lee> Health  Department", Organisation("U0LEE", "Health Department")),
        ("<@U0LEE> Police", Organisation("U0LEE", "Police")),
        ("<@U0LEE|lee> none", Organisation("U0LEE", None)),
        ("<@U0LEE|lee> -", Organisation("U0LEE", None)),
    ],
)
def test_an_organisation_is_a_mention_then_a_name(text, choice):
    assert parse_organisation(text) == choice


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("@lee Health Department", "I couldn't tell who `@lee` is"),
        ("Health Department", "Say whose organisation"),
        ("", "Say whose organisation"),
    ],
)
def test_an_organisation_without_a_person_is_refused(text, says):
    with pytest.raises(SettingsError) as refused:
        parse_organisation(text)
    assert says in str(refused.value)


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (["mon", "tue", "wed", "thu", "fri"], "Mon–Fri"),
        (["mon", "tue", "wed", "thu", "sun"], "Sun–Thu"),
        (["mon", "wed", "fri"], "Mon, Wed, Fri"),
        (["sat", "sun"], "Sat, Sun"),
        ([], "none"),
    ],
)
def test_working_days_in_words(days, words):
    assert days_text(days) == words


def test_hours_quiet_hours_and_holidays_in_words():
    assert [hour_text(h) for h in (0, 9, 12, 19)] == ["12:00 AM", "9:00 AM", "12:00 PM", "7:00 PM"]
    assert quiet_text(19, 7) == "7:00 PM to 7:00 AM"
    assert quiet_text(None, None) == "off"
    assert holidays_text(["2026-12-25", "2026-07-04"]) == "Sat, Jul 4, 2026, Fri, Dec 25, 2026"
    assert holidays_text(None) == ""


@pytest.mark.parametrize(
    ("start", "end", "hour", "quiet"),
    [
        (19, 7, 21, True),
        (19, 7, 3, True),
        (19, 7, 7, False),
        (19, 7, 9, False),
        (1, 5, 3, True),
        (1, 5, 5, False),
        (None, None, 3, False),
    ],
)
def test_quiet_hours_may_wrap_past_midnight(start, end, hour, quiet):
    assert in_quiet(start, end, hour) is quiet
