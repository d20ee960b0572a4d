"""Each row operation is atomic: concurrent conditional puts on one key have exactly one winner."""

from __future__ import annotations

import threading
from collections.abc import Callable

from tablestore import Condition, OTSClient, OTSServiceError, Row, RowExistenceExpectation

from ehpc_rerun.otsserver import TablestoreServer
from tests.otsserver.conftest import TABLE


def test_eight_threads_racing_expect_not_exist_puts_on_one_key_have_exactly_one_winner(
    make_client: Callable[..., OTSClient], server: TablestoreServer
) -> None:
    # given eight clients released at the same moment
    clients = [make_client() for _ in range(8)]
    start = threading.Barrier(len(clients))
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(n: int) -> None:
        start.wait()
        try:
            clients[n].put_row(
                TABLE,
                Row([("key", "the-job")], [("owner", f"worker-{n}")]),
                Condition(RowExistenceExpectation.EXPECT_NOT_EXIST),
            )
            result = f"won:worker-{n}"
        except OTSServiceError as error:
            result = error.get_error_code()
        with lock:
            outcomes.append(result)

    # when each of them tries to claim the same key
    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    # then exactly one won, the seven others failed the condition, and the stored owner is the winner
    winners = [o for o in outcomes if o.startswith("won:")]
    assert len(outcomes) == 8 and len(winners) == 1
    assert sorted(o for o in outcomes if not o.startswith("won:")) == ["OTSConditionCheckFail"] * 7
    assert server.rows() == {("the-job",): {"owner": winners[0].removeprefix("won:")}}
    assert server.calls["PutRow"] == 8
