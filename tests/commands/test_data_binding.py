"""A data directory belongs to one exchange and is one installation: binding, legacy adoption, the paper
account reset, and the open orders --system-status flags."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from kairos.binding import installation_of, key_fingerprint, order_uid
from tests.commands.conftest import ONE_COIN, Kairos


def test_first_run_binds_state_and_ledger_to_the_exchange(kairos: Kairos) -> None:
    assert kairos("--quarterly-rebalance-twap").code == 0
    installation = kairos.state()["installation"]
    assert len(installation["id"]) == 8 and installation["exchange"]["mode"] == "mock"
    assert installation["exchange"]["key_fp"] == key_fingerprint("sim-access-token-0000")
    assert "sim-access-token-0000" not in kairos.state_file.read_text(encoding="utf-8")  # a fingerprint, never the key
    [row] = kairos.ledger("SELECT value FROM meta WHERE key = 'exchange'")
    assert json.loads(row["value"]) == installation["exchange"]
    # every order carries the installation id
    assert {installation_of(o.user_order_id) for o in kairos.orders()} == {installation["id"]}


def test_another_key_is_another_account(kairos: Kairos) -> None:
    assert kairos("--quarterly-rebalance-twap").code == 0
    kairos.configure(mock={"access_token": "another-sim-token"})
    result = kairos("--process-twap", "--lang", "en")
    assert result.code == 3
    assert "belongs to mock" in result.err and key_fingerprint("another-sim-token") in result.err


def test_a_data_directory_from_before_bindings_is_adopted_by_its_contents(kairos: Kairos) -> None:
    assert kairos("--quarterly-rebalance-twap").code == 0
    data = kairos.home / "data"
    # make it look like an old installation: everything directly under data/, no binding anywhere
    for item in (data / "mock").iterdir():
        item.rename(data / item.name)
    (data / "mock").rmdir()
    state = json.loads((data / "state.json").read_text(encoding="utf-8"))
    plan_id = state["plans"][-1]["plan_id"]
    del state["installation"]
    state["schema_version"] = 1  # bindings came with version 1's last rounds; such a file has no installation key
    (data / "state.json").write_text(json.dumps(state), encoding="utf-8")
    (data / "mock_exchange.sqlite").write_bytes(b"")  # what marks an old data/ as a mock one
    result = kairos("--twap-status", "--lang", "en")
    assert result.code == 0, result.err
    [notice] = [l for l in result.err.splitlines() if l.startswith("notice:")]
    assert "holds a mock account; adopted as" in notice and str(data / "mock") in notice
    assert (data / "mock" / "state.json").exists() and not (data / "state.json").exists()
    assert plan_id in result.out  # its history is intact
    assert kairos("--process-twap").code == 0
    assert kairos.state()["installation"]["exchange"]["mode"] == "mock"


def test_an_old_live_data_directory_is_left_alone_by_a_mock_run(kairos: Kairos) -> None:
    data = kairos.home / "data"
    data.mkdir(parents=True)
    (data / "state.json").write_text('{"schema_version": 1}', encoding="utf-8")  # no mock exchange file: live
    assert kairos("--weekly-analysis").code == 0
    assert (data / "state.json").read_text(encoding="utf-8") == '{"schema_version": 1}'
    assert (data / "mock" / "state.json").exists()


def test_reset_mock_asks_for_yes_then_archives_the_paper_account(kairos: Kairos) -> None:
    kairos.configure(strategy={"portfolio": ONE_COIN})
    assert kairos("--quarterly-rebalance-twap").code == 0
    before = kairos.state_file.read_bytes()
    asked = kairos("--reset-mock", "--lang", "en")
    assert asked.code == 2 and "--yes" in asked.err and kairos.state_file.read_bytes() == before
    done = kairos("--reset-mock", "--yes", "--lang", "en")
    assert done.code == 0, done.err
    [archive] = [p for p in (kairos.home / "data").iterdir() if p.name.startswith("mock.archived-")]
    assert (archive / "state.json").read_bytes() == before and (archive / "kairos.db").exists()
    assert not kairos.state_file.exists()
    assert kairos("--twap-status", "--lang", "en").out.count("tw-") == 0  # a fresh account: no plan


def test_reset_mock_is_refused_in_live_mode(tmp_path: Path, model: object) -> None:
    k = Kairos(tmp_path, model)
    k.configure(mode="live", exchange={"access_token": "t", "secret_key": "s"})
    result = k("--reset-mock", "--yes", "--lang", "en")
    assert result.code == 2 and "only in mock mode" in result.err
    k.close()


def test_a_changed_initial_krw_is_reported_not_silently_ignored(kairos: Kairos) -> None:
    assert kairos("--weekly-analysis").code == 0
    kairos.configure(mock={"initial_krw": 50_000_000})
    result = kairos("--weekly-analysis", "--lang", "en")
    assert result.code == 0
    assert "mock.initial_krw is now 50000000, but this paper account started with 10000000" in result.err
    assert "--reset-mock --yes" in result.err


def test_system_status_names_an_open_order_the_state_does_not_know(kairos: Kairos) -> None:
    from kairos.sim.faults import Fault

    assert kairos("--weekly-analysis").code == 0
    kairos.app.faults.add(Fault("rest", path="/v2.1/order", seconds=3600))
    from kairos.coinone.auth import Credentials
    from kairos.coinone.client import CoinoneClient
    from kairos.coinone.models import OrderRequest
    from kairos.schema import Secret
    from kairos.sim.adapter import SimAdapter
    import requests

    session = requests.Session()
    session.mount("https://x.invalid", SimAdapter(kairos.app))
    by_hand = CoinoneClient(session, "https://x.invalid",
                            credentials=Credentials(Secret("sim-access-token-0000"), Secret("sim-secret-key-0000")))
    order_id = by_hand.place_order(OrderRequest.market_buy("ETH", Decimal(10000), None, "by-hand-1"))
    status = kairos("--system-status", "--lang", "en")
    assert "open order(s) on the account this installation does not know" in status.out
    assert order_id in status.out


def test_order_uid_carries_the_installation_and_fits_coinone_rules() -> None:
    uid = order_uid("ab12cd34", "tw-20261123t0000-1", "BTC", "s000-a1")
    assert uid == "k1-ab12cd34-tw-20261123t0000-1-btc-s000-a1" and installation_of(uid) == "ab12cd34"
    assert installation_of("tw-20261123t0000-1-btc-s000-a1") is None  # the pre-binding format names no installation
    assert uid == uid.lower() and len(uid) <= 150


def test_the_paper_flag_wins_over_the_default_mock_mode(kairos: Kairos) -> None:
    doc = json.loads(kairos("--show-config", "--paper", "--json").out)
    assert doc["data_dir"] == str(kairos.home / "data" / "paper")
    assert json.loads(kairos("--show-config", "--json").out)["data_dir"] == str(kairos.home / "data" / "mock")
