"""open_store: which backend and which file each EHPC_RERUN_STATE value selects."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ehpc_rerun.errors import ConfigError, StateStoreUnavailable
from ehpc_rerun.state import SqliteStateStore, StateStore, default_sqlite_path, open_store
from ehpc_rerun.state.redis import RedisStateStore
from ehpc_rerun.state.tablestore import TablestoreStateStore

from .conftest import fake_credentials

HANDLER_DIR = Path(__file__).resolve().parents[2] / "handler"


def _sqlite_path(store: StateStore) -> Path:
    assert isinstance(store, SqliteStateStore)
    store.close()
    return store.path


@pytest.mark.parametrize("unset", [None, "", "   "])
def test_no_url_means_a_sqlite_file_in_the_temp_dir(
    unset: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the temp dir is tmp_path (as /tmp is on FC) / when nothing is configured
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    store = open_store(unset)
    # then the store is <tmp>/ehpc-rerun/state.db, created with its directory
    assert _sqlite_path(store) == tmp_path / "ehpc-rerun" / "state.db"
    assert (tmp_path / "ehpc-rerun" / "state.db").is_file()


def test_default_dir_overrides_the_temp_dir(tmp_path: Path) -> None:
    store = open_store(None, default_dir=str(tmp_path / "here"))
    assert _sqlite_path(store) == tmp_path / "here" / "state.db"
    assert default_sqlite_path(str(tmp_path)) == tmp_path / "state.db"


def test_four_slashes_is_an_absolute_sqlite_path(tmp_path: Path) -> None:
    absolute = tmp_path / "abs" / "state.db"
    assert str(absolute).startswith("/")
    store = open_store(f"sqlite:///{absolute}")  # sqlite: + /// + /tmp/... = four slashes
    assert _sqlite_path(store) == absolute
    assert absolute.is_file()


def test_three_slashes_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///rel/state.db")
    assert _sqlite_path(store) == tmp_path / "rel" / "state.db"
    assert (tmp_path / "rel" / "state.db").is_file()


def test_the_scheme_is_case_insensitive(tmp_path: Path) -> None:
    assert _sqlite_path(open_store(f"SQLite:///{tmp_path}/x.db")) == tmp_path / "x.db"


def test_a_redis_url_opens_a_redis_store(redis_url: str) -> None:
    store = open_store(redis_url)
    try:
        assert isinstance(store, RedisStateStore)
    finally:
        store.close()


def test_a_rediss_url_is_routed_to_redis(tmp_path: Path) -> None:
    # nothing listens on port 1, so reaching the Redis backend shows up as "unavailable"
    with pytest.raises(StateStoreUnavailable, match=r"Redis state store at 127\.0\.0\.1:1/"):
        open_store("rediss://127.0.0.1:1/0")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://admin:hunter2-pw@db.example.com/state",
        "postgresql://admin:hunter2-pw@db/x",
        "unix:///var/run/redis.sock",
        "/tmp/state.db",
        "hunter2-pw",
    ],
)
def test_an_unknown_scheme_is_a_config_error_naming_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match="EHPC_RERUN_STATE") as caught:
        open_store(url)
    assert "hunter2-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///",
        "sqlite://host/x.db",
        "sqlite:///x.db?mode=ro",
        "sqlite:///:memory:",
        "sqlite:///x.db#x",
    ],
)
def test_a_sqlite_url_without_a_usable_file_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="EHPC_RERUN_STATE"):
        open_store(url)


def test_a_redis_url_with_a_bad_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="EHPC_RERUN_STATE") as caught:
        open_store("redis://:hunter2-pw@127.0.0.1:99999/0")
    assert "hunter2-pw" not in str(caught.value)


# --- Tablestore -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "endpoint", "instance", "table"),
    [
        (
            "tablestore://myinst.cn-hangzhou.ots.aliyuncs.com/myinst/ehpc_rerun_state",
            "https://myinst.cn-hangzhou.ots.aliyuncs.com",
            "myinst",
            "ehpc_rerun_state",
        ),
        (
            "tablestore://myinst.cn-hangzhou.vpc.tablestore.aliyuncs.com/myinst/t1",
            "https://myinst.cn-hangzhou.vpc.tablestore.aliyuncs.com",
            "myinst",
            "t1",
        ),
        ("TableStore://h.example:8443/inst-1/_t", "https://h.example:8443", "inst-1", "_t"),
        ("tablestore+http://127.0.0.1:8800/ehpc-rerun/state", "http://127.0.0.1:8800", "ehpc-rerun", "state"),
        ("tablestore+http://localhost:8800/abc/state", "http://localhost:8800", "abc", "state"),
    ],
)
def test_a_tablestore_url_names_endpoint_instance_and_table(
    url: str, endpoint: str, instance: str, table: str
) -> None:
    # given a Tablestore URL / when opened (no request is made until the first operation)
    store = open_store(url, credentials=fake_credentials)
    # then the store talks to that endpoint (HTTPS unless tablestore+http), instance and table
    assert isinstance(store, TablestoreStateStore)
    assert (store.endpoint, store.instance, store.table) == (endpoint, instance, table)
    store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("tablestore://test-ak-id:hunter2-pw@h.example/inst/t", "must not carry credentials"),
        ("tablestore://hunter2-pw@h.example/inst/t", "must not carry credentials"),
        ("tablestore://h.example/inst/t?AccessKeySecret=hunter2-pw", "no ?query"),
        ("tablestore://h.example/inst/t#x", "no ?query"),
        ("tablestore://h.example/inst", "exactly an instance and a table"),
        ("tablestore://h.example/inst/t/extra", "exactly an instance and a table"),
        ("tablestore://h.example/inst/t/", "exactly an instance and a table"),
        ("tablestore://h.example//t", "names the instance ''"),
        ("tablestore:///inst/t", "needs the endpoint host"),
        ("tablestore://h_bad.example/inst/t", "needs the endpoint host"),
        ("tablestore://h.example:99999/inst/t", "invalid host or port"),
        ("tablestore://h.example/in/t", "names the instance 'in'"),
        ("tablestore://h.example/inst-/t", "names the instance 'inst-'"),
        ("tablestore://h.example/1inst/t", "names the instance '1inst'"),
        ("tablestore://h.example/inst/bad-table", "names the table 'bad-table'"),
        ("tablestore+http://myinst.cn-hangzhou.ots.aliyuncs.com/myinst/t", "plain HTTP to myinst"),
        ("tablestore+http://127.0.0.1/inst/t", "needs the local server's port"),
    ],
)
def test_a_malformed_tablestore_url_is_a_config_error_naming_the_expected_form(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigError, match="EHPC_RERUN_STATE") as caught:
        open_store(url, credentials=fake_credentials)
    assert problem in caught.value.message
    assert "hunter2-pw" not in str(caught.value)


def test_a_tablestore_url_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"EHPC_RERUN_STATE names the Tablestore table 't'.*credentials"):
        open_store("tablestore://h.example/inst/t")


def test_the_expected_forms_include_tablestore() -> None:
    with pytest.raises(ConfigError, match=r"tablestore://<endpoint-host>/<instance>/<table>"):
        open_store("mongodb://h/x")


@pytest.mark.parametrize("library", ["redis", "tablestore"])
def test_sqlite_users_never_import_another_store_s_library(library: str, tmp_path: Path) -> None:
    # given a fresh interpreter / when it opens the default SQLite store
    code = (
        "import sys; from ehpc_rerun.state import open_store; "
        f"open_store(None, default_dir={str(tmp_path)!r}).close(); "
        f"print({library!r} in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(HANDLER_DIR)},
    )
    # then neither redis-py nor the Tablestore SDK (0.3 s and 60 MB to import) was loaded
    assert out.stdout.strip() == "False"
