from pathlib import Path

import pytest

from bastion.errors import ConfigurationError
from bastion.settings import load_settings


def test_defaults_put_sqlite_in_the_xdg_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.data_dir == tmp_path / "bastion"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'bastion' / 'bastion.db'}"
    assert settings.port == 8000
    assert settings.graph_api_version == "v25.0"


def test_data_dir_and_port_are_overridden_by_their_variables(tmp_path: Path) -> None:
    settings = load_settings({"BASTION_DATA_DIR": str(tmp_path), "BASTION_PORT": "9001"})
    assert settings.data_dir == tmp_path
    assert settings.port == 9001


def test_an_invalid_value_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="BASTION_PORT"):
        load_settings({"BASTION_PORT": "eighty"})
    with pytest.raises(ConfigurationError, match="BASTION_GRAPH_API_VERSION"):
        load_settings({"BASTION_GRAPH_API_VERSION": "25"})


def test_an_unknown_variable_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="BASTION_DATABSE_URL: unknown setting"):
        load_settings({"BASTION_DATABSE_URL": "sqlite://"})


def test_test_only_variables_are_not_settings() -> None:
    load_settings({"BASTION_TEST_DATABASE_URL": "postgresql://x", "BASTION_REQUIRE_POSTGRES": "1"})


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "smtp"
    secret_file.write_text("smtp://user:hunter2@mail.example.com:587\n")
    settings = load_settings({"BASTION_SMTP_URL_FILE": str(secret_file)})
    assert settings.smtp_url is not None
    assert settings.smtp_url.get_secret_value() == "smtp://user:hunter2@mail.example.com:587"
    assert "hunter2" not in repr(settings)


def test_a_missing_secret_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="BASTION_SECRET_KEYS_FILE: cannot read"):
        load_settings({"BASTION_SECRET_KEYS_FILE": str(tmp_path / "absent")})


def test_a_secret_given_twice_is_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "keys"
    secret_file.write_text("k1:abc")
    with pytest.raises(ConfigurationError, match="set either it or BASTION_SECRET_KEYS"):
        load_settings(
            {"BASTION_SECRET_KEYS_FILE": str(secret_file), "BASTION_SECRET_KEYS": "k1:abc"}
        )


def test_an_invalid_value_is_not_echoed_into_the_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"BASTION_GRAPH_URL": "EAAsecretlookingvalue123"})
    assert "EAAsecretlookingvalue123" not in str(caught.value)
