import pytest

from bot.config import ConfigError, load_settings


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.database_url == "sqlite:///commstat.sqlite3"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.port == 3000
    assert settings.timezone == "America/New_York"


def test_reads_every_documented_variable():
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql+psycopg://u@h/db",
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s3cret",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_API_URL": "http://127.0.0.1:9000/api",
            "PORT": "8080",
            "COMMSTAT_TIMEZONE": "America/Chicago",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.slack_api_url == "http://127.0.0.1:9000/api/"  # WebClient needs the slash
    assert settings.port == 8080
    assert settings.timezone == "America/Chicago"
    assert settings.secret_values() == ["xoxb-1", "s3cret", "xapp-1"]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"COMMSTAT_TIMEZONE": "Mars/Olympus"}, "COMMSTAT_TIMEZONE"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
    ],
)
def test_a_wrong_value_is_named_in_one_line(env, variable):
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    message = str(error.value)
    assert message.startswith(f"{variable} is not valid")
    assert "\n" not in message


def test_a_missing_required_setting_names_the_variable():
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "  "})
    with pytest.raises(ConfigError, match=r"^SLACK_SIGNING_SECRET is not set"):
        settings.require("slack_bot_token", "slack_signing_secret")


def test_secrets_do_not_show_in_the_settings_repr():
    settings = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-very-secret", "SLACK_SIGNING_SECRET": "sign-me"}
    )
    assert "xoxb-very-secret" not in repr(settings)
    assert "sign-me" not in str(settings)
