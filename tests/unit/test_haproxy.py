"""The HAProxy driver: `show stat` CSV parsed by its header, and the runtime API against an in-test TCP fake."""

from __future__ import annotations

import csv
import io
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_athalia._errors import RouterError, StackError
from pytest_athalia.config._environment import Environment, EnvironmentSpec
from pytest_athalia.release._haproxy import HAProxyRouter, parse_show_stat
from pytest_athalia.release._router import Router, ServerStats
from pytest_athalia.stack._stack import Endpoint

DATA = Path(__file__).parent / "data"
# Captured from HAProxy 2.6.12 (Debian bookworm) in the router the plugin generates: `show stat` after
# 5 requests to blue and 6 to green, then blue at weight 0; `show stat colors 4 -1` after green's
# container was removed (its name no longer resolves); and on the demo stack after 40 requests to a
# green deployed with FAULT_ERROR_RATE=0.5 and FAULT_LATENCY_MS=20.
SHOW_STAT = (DATA / "haproxy-2.6-show-stat.csv").read_text()
SHOW_STAT_MAINT = (DATA / "haproxy-2.6-show-stat-servers-maint.csv").read_text()
SHOW_STAT_5XX = (DATA / "haproxy-2.6-show-stat-servers-5xx.csv").read_text()


def table(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text.removeprefix("# "))))
    return rows[0], [row for row in rows[1:] if row]


def render(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return "# " + out.getvalue() + "\n"


def with_columns(text: str, order: list[int]) -> str:
    """`text` with its columns in `order` (a permutation of the column indexes)."""
    header, rows = table(text)
    return render([header[i] for i in order], [[row[i] if i < len(row) else "" for i in order] for row in rows])


def edited(text: str, server: str, **values: str | None) -> str:
    """`text` with columns of `server`'s row set (None removes the column from every row)."""
    header, rows = table(text)
    for name, value in values.items():
        index = header.index(name)
        if value is None:
            header.pop(index)
            for row in rows:
                row.pop(index)
        else:
            for row in rows:
                if row[1] == server:
                    row[index] = value
    return render(header, rows)


# -- parse_show_stat ---------------------------------------------------------------------------------------------


def test_real_show_stat_gives_the_two_colors_and_skips_frontends_and_backends() -> None:
    """Only the servers of backend `colors` come out, with status, set weight, requests, 5xx and response time."""
    stats = parse_show_stat(SHOW_STAT)
    assert [s.server for s in stats] == ["blue", "green"]
    blue, green = stats
    assert blue == ServerStats("blue", "UP", 0, 5, 0, 1.0)
    assert (green.status, green.weight, green.requests, green.responses_5xx) == ("UP", 100, 6, 0)


def test_a_server_whose_name_does_not_resolve_is_maint_and_keeps_its_set_weight() -> None:
    """`MAINT (resolution)` is reported as is, and the weight is the one set through the API (uweight)."""
    blue, green = parse_show_stat(SHOW_STAT_MAINT)
    assert blue.status == "UP"
    assert green.status == "MAINT (resolution)"
    assert green.weight == 100


def test_a_failing_slow_color_shows_its_5xx_and_response_time() -> None:
    """hrsp_5xx counts the 500s HAProxy relayed, and rtime the candidate's added latency."""
    blue, green = parse_show_stat(SHOW_STAT_5XX)
    assert blue == ServerStats("blue", "UP", 0, 3, 0, 2.0)
    assert green == ServerStats("green", "UP", 100, 40, 22, 23.0)


def test_reversed_columns_parse_the_same() -> None:
    """Columns are found by name: the same table with its columns reversed gives the same values."""
    header, _ = table(SHOW_STAT)
    assert parse_show_stat(with_columns(SHOW_STAT, list(reversed(range(len(header)))))) == parse_show_stat(SHOW_STAT)


@settings(max_examples=30, deadline=None)
@given(st.permutations(range(len(table(SHOW_STAT)[0]))))
def test_any_column_order_parses_the_same(order: list[int]) -> None:
    """Whatever order HAProxy puts its columns in, the values are the same."""
    assert parse_show_stat(with_columns(SHOW_STAT, order)) == parse_show_stat(SHOW_STAT)


def test_the_5xx_counter_and_response_time_come_from_their_columns() -> None:
    """hrsp_5xx and rtime are read from the columns so named, wherever they are."""
    text = edited(SHOW_STAT, "green", hrsp_5xx="4", rtime="37", req_tot="12")
    green = parse_show_stat(text)[1]
    assert (green.requests, green.responses_5xx, green.response_time_ms) == (12, 4, 37.0)


def test_requests_fall_back_to_sessions_where_req_tot_is_empty_or_missing() -> None:
    """Without req_tot (older HAProxy, or an empty field) requests are the sessions sent to the server (stot)."""
    assert parse_show_stat(edited(SHOW_STAT, "green", req_tot="", stot="9"))[1].requests == 9
    assert parse_show_stat(edited(SHOW_STAT, "green", req_tot=None, stot="8"))[1].requests == 8


def test_weight_falls_back_to_the_effective_weight_without_uweight() -> None:
    """Without uweight the weight is HAProxy's weight column."""
    assert parse_show_stat(edited(SHOW_STAT, "green", uweight=None, weight="42"))[1].weight == 42


def test_a_server_that_served_nothing_has_no_response_time() -> None:
    """rtime is 0 both for 'fast' and for 'no data'; with no request it is None, and an empty field too."""
    assert parse_show_stat(edited(SHOW_STAT, "green", req_tot="0", rtime="0"))[1].response_time_ms is None
    assert parse_show_stat(edited(SHOW_STAT, "green", rtime=""))[1].response_time_ms is None


def test_an_empty_counter_is_an_error_not_a_zero() -> None:
    """A 5xx count we cannot read fails closed, naming the column and the server."""
    with pytest.raises(RouterError, match=r"column hrsp_5xx of `show stat` for server green, found ''"):
        parse_show_stat(edited(SHOW_STAT, "green", hrsp_5xx=""))


def test_a_missing_column_is_named() -> None:
    """A table without a required column says which one."""
    with pytest.raises(RouterError, match="has no column hrsp_5xx"):
        parse_show_stat(edited(SHOW_STAT, "green", hrsp_5xx=None))


@pytest.mark.parametrize("text", ["", "\n", "Unknown command.\n", "pxname,svname\ncolors,blue\n"])
def test_output_that_is_not_show_stat_csv_is_an_error(text: str) -> None:
    """Anything but the CSV with its `# pxname,...` header is a RouterError quoting what was found."""
    with pytest.raises(RouterError, match=re.escape("expected `show stat` CSV starting with '# pxname,svname,...'")):
        parse_show_stat(text)


def test_a_missing_backend_lists_the_proxies_found() -> None:
    """Asking for a backend that is not there names the ones that are."""
    with pytest.raises(RouterError, match=r"no server of backend 'web' \(proxies: athalia_clients, athalia_monitor"):
        parse_show_stat(SHOW_STAT, "web")


# -- the driver against a fake runtime API -----------------------------------------------------------------------


class FakeAPI(socketserver.ThreadingTCPServer):
    """Answers one command per connection, like HAProxy's stats socket in non-interactive mode."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, answer: Callable[[str], str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.commands: list[str] = []

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("127.0.0.1", self.server_address[1])


class _Handler(socketserver.StreamRequestHandler):
    server: FakeAPI

    def handle(self) -> None:
        command = self.rfile.readline().decode().rstrip("\n")
        self.server.commands.append(command)
        self.wfile.write(self.server.answer(command).encode())


def default_answer(command: str) -> str:
    if command.startswith("set server colors/"):
        return "No such server.\n\n" if "/purple " in command else "\n"
    if command == "show stat colors 4 -1":
        return SHOW_STAT
    return "Unknown command, but maybe one of the following ones is a better match:\n  help\n\n"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    server = FakeAPI(default_answer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def router(api: FakeAPI) -> HAProxyRouter:
    return HAProxyRouter(api.endpoint, Endpoint("127.0.0.1", 18080), timeout=2.0)


def test_the_driver_is_a_router(router: HAProxyRouter) -> None:
    """HAProxyRouter implements the Router protocol, and its url() is the clients' address."""
    assert isinstance(router, Router)
    assert router.url("/version") == "http://127.0.0.1:18080/version"


def test_set_weight_sends_one_set_server_command_and_times_it(api: FakeAPI, router: HAProxyRouter) -> None:
    """set_weight sends `set server colors/<server> weight N`; HAProxy's empty answer means done."""
    assert router.last_command_seconds is None
    router.set_weight("green", 100)
    router.set_weight("blue", 0)
    assert api.commands == ["set server colors/green weight 100", "set server colors/blue weight 0"]
    assert router.last_command_seconds is not None
    assert 0 < router.last_command_seconds < 2


def test_set_weights_sends_both_changes_in_order_on_one_connection(api: FakeAPI, router: HAProxyRouter) -> None:
    """A switch is one `cmd1; cmd2` line (the new color first), after one `show stat` that learns the servers."""
    router.set_weights([("green", 100), ("blue", 0)])
    router.set_weights([("blue", 100), ("green", 0)])
    assert api.commands == [
        "show stat colors 4 -1",
        "set server colors/green weight 100; set server colors/blue weight 0",
        "set server colors/blue weight 100; set server colors/green weight 0",
    ]


def test_set_weights_refuses_an_unknown_server_before_sending_anything(api: FakeAPI, router: HAProxyRouter) -> None:
    """HAProxy would still drain blue after refusing purple; the driver sends nothing and names the servers."""
    with pytest.raises(RouterError, match="has no server purple \\(it has blue, green\\); nothing was changed"):
        router.set_weights([("purple", 100), ("blue", 0)])
    assert not any(command.startswith("set ") for command in api.commands)


def test_set_weights_reports_a_refusal_with_the_whole_line(api: FakeAPI, router: HAProxyRouter) -> None:
    """A non-empty answer to the batch is a RouterError quoting the line and HAProxy's words."""
    router.weights()
    api.answer = lambda command: "Permission denied\n\n"
    with pytest.raises(RouterError, match="refused `set server colors/green weight 100; set server colors/blue"):
        router.set_weights([("green", 100), ("blue", 0)])


def test_a_refused_command_names_address_command_answer_and_fix(api: FakeAPI, router: HAProxyRouter) -> None:
    """A non-empty answer is a RouterError quoting the command and HAProxy's words."""
    with pytest.raises(RouterError) as info:
        router.set_weight("purple", 10)
    message = str(info.value)
    assert f"runtime API at 127.0.0.1:{api.endpoint.port} refused `set server colors/purple weight 10`" in message
    assert "it answered 'No such server.'" in message
    assert "the servers of backend colors are the colors blue and green" in message


def test_an_api_without_admin_level_is_explained(api: FakeAPI, router: HAProxyRouter) -> None:
    """`Permission denied` (a socket below level admin) points at the socket's level."""
    api.answer = lambda command: "Permission denied\n\n"
    with pytest.raises(RouterError, match="the stats socket needs `level admin`"):
        router.set_weight("green", 1)


@pytest.mark.parametrize(("server", "weight"), [("green", 257), ("green", -1), ("green", True), ("a/b", 1), ("", 1)])
def test_invalid_weights_and_names_are_refused_before_anything_is_sent(
    api: FakeAPI, router: HAProxyRouter, server: str, weight: int
) -> None:
    """HAProxy's limits (0..256, a plain server name) are checked locally; nothing reaches the API."""
    with pytest.raises(RouterError, match="expected a"):
        router.set_weight(server, weight)
    assert api.commands == []


def test_weights_and_stats_read_show_stat_of_the_colors_backend(api: FakeAPI, router: HAProxyRouter) -> None:
    """weights() and stats() each read `show stat colors 4 -1` (servers only) once."""
    assert dict(router.weights()) == {"blue": 0, "green": 100}
    assert [s.requests for s in router.stats()] == [5, 6]
    assert api.commands == ["show stat colors 4 -1", "show stat colors 4 -1"]


def test_unusable_stats_name_the_command_and_address(api: FakeAPI, router: HAProxyRouter) -> None:
    """A stats answer that is not CSV says which command at which address produced it."""
    api.answer = lambda command: "Unknown command.\n"
    with pytest.raises(RouterError, match=rf"`show stat colors 4 -1` at 127.0.0.1:{api.endpoint.port}"):
        router.stats()


def test_commands_are_sent_one_by_one(router: HAProxyRouter, api: FakeAPI) -> None:
    """A command with a newline or ';' (several commands) is refused."""
    for bad in ("show info\nshow stat", "show info; show stat"):
        with pytest.raises(RouterError, match="expected one runtime API command"):
            router.command(bad)
    assert api.commands == []


def test_an_unreachable_api_names_the_address_command_and_what_to_check() -> None:
    """Connection refused is a RouterError with the address, the command and where to look."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: connections are refused
        router = HAProxyRouter(Endpoint("127.0.0.1", port), Endpoint("127.0.0.1", 1), hint="look at X")
        with pytest.raises(RouterError) as info:
            router.set_weight("green", 0)
    message = str(info.value)
    assert f"cannot reach the HAProxy runtime API at 127.0.0.1:{port}" in message
    assert "`set server colors/green weight 0`" in message
    assert "ConnectionRefusedError" in message
    assert message.endswith("look at X.")


def test_an_api_that_never_answers_times_out(api: FakeAPI) -> None:
    """A silent socket is a RouterError after the driver's timeout, not a hang."""

    def silent(command: str) -> str:
        time.sleep(1.0)
        return ""

    api.answer = silent
    router = HAProxyRouter(api.endpoint, Endpoint("127.0.0.1", 1), timeout=0.2)
    start = time.monotonic()
    with pytest.raises(RouterError, match="TimeoutError"):
        router.set_weight("green", 0)
    assert time.monotonic() - start < 0.9


def test_for_stack_uses_the_published_ports_of_the_service_the_router_replaces() -> None:
    """for_stack asks for stack.service's ports 9999 (API) and stack.port (clients): the router took its name."""
    spec = EnvironmentSpec.model_validate(
        {"stack": {"compose_files": ["compose.yml"], "service": "app", "port": 8000}, "rollout": {"enabled": True}}
    )

    class Stack:
        project = "athalia-x-main-p1-abcdef"
        environment = Environment("dev", Path("/nonexistent/dev.yml"), spec)

        def __init__(self) -> None:
            self.asked: list[tuple[str | None, int | None]] = []

        def endpoint(self, service: str | None = None, port: int | None = None) -> Endpoint:
            self.asked.append((service, port))
            return Endpoint("127.0.0.1", {9999: 40001, 8000: 40002}[port or 0])

    stack = Stack()
    router = HAProxyRouter.for_stack(stack)  # type: ignore[arg-type]
    assert stack.asked == [("app", 9999), ("app", 8000)]
    assert router.api == Endpoint("127.0.0.1", 40001)
    assert router.url("/x") == "http://127.0.0.1:40002/x"


# -- the driver as a FaultInjector (release drills) ----------------------------------------------------------------

# `show servers state colors` of HAProxy 2.6.12 (Debian bookworm) with green's check port moved to 1.
SERVERS_STATE = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state "
    "bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr "
    "srv_agent_addr srv_agent_port\n"
    "3 colors 1 blue 172.19.0.2 2 0 100 100 5 15 3 2 6 0 0 0 web 8000 - 0 0 - - 0\n"
    "3 colors 2 green 172.19.0.3 0 0 0 0 4 8 2 0 6 0 0 0 web-green 8000 - 0 1 - - 0\n\n"
)


def fault_answer(command: str) -> str:
    if command.startswith("athalia "):
        return "athalia: expected an error ratio from 0 to 1, found 2\n\n" if " 2 " in command else "\n"
    if command == "show servers state colors":
        return SERVERS_STATE
    return default_answer(command)


def test_the_driver_is_a_fault_injector(api: FakeAPI, router: HAProxyRouter) -> None:
    """A health fault sets the Lua fault (hold 1) and moves the server's checks to port 1."""
    from pytest_athalia.release._faults import Fault, FaultInjector

    api.answer = fault_answer
    assert isinstance(router, FaultInjector)
    router.inject("green", Fault(health_fail=True))
    assert api.commands == [
        "show stat colors 4 -1",  # the server must exist
        "athalia fault green 0 500 0 1",
        "set server colors/green check-port 1",
    ]


def test_a_fault_without_health_gives_the_checks_their_port_back(api: FakeAPI, router: HAProxyRouter) -> None:
    """An error or latency fault restores a check port an earlier health fault moved; clear() restores all."""
    from pytest_athalia.release._faults import Fault

    api.answer = fault_answer
    router.inject("green", Fault(error_ratio=0.5, latency_ms=20))
    router.clear()
    assert api.commands == [
        "show stat colors 4 -1",
        "athalia fault green 0.5 500 20 0",
        "show servers state colors",
        "set server colors/green check-port 8000",
        "athalia clear",
        "show servers state colors",
        "set server colors/green check-port 8000",
    ]


def test_faults_on_unknown_servers_or_refused_are_router_errors(api: FakeAPI, router: HAProxyRouter) -> None:
    """An unknown server is refused before anything is sent; the script's refusal is quoted."""
    from pytest_athalia.release._faults import Fault

    api.answer = fault_answer
    with pytest.raises(RouterError, match=r"has no server purple .*no fault was injected"):
        router.inject("purple", Fault(error_ratio=1))
    assert not [c for c in api.commands if c.startswith("athalia")]
    with pytest.raises(RouterError, match="refused `athalia fault green 2 500 0 0`: it answered 'athalia: expected"):
        router._fault_command("athalia fault green 2 500 0 0")


def test_a_router_without_the_fault_script_says_to_restart_the_stack(api: FakeAPI, router: HAProxyRouter) -> None:
    """An older generated config (no lua-load) answers Unknown command: the error says why and what to do."""
    from pytest_athalia.release._faults import Fault

    with pytest.raises(RouterError) as info:
        router.inject("green", Fault(error_ratio=0.5))
    text = str(info.value)
    assert "does not know `athalia ...`" in text
    assert "Restart the stack" in text
    assert "rollout.drills.<name>.env" in text


def _dead_endpoint() -> Endpoint:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return Endpoint("127.0.0.1", sock.getsockname()[1])


def test_a_restarted_router_is_found_at_its_new_ports(api: FakeAPI) -> None:
    """The runtime API refuses at the old port: the driver looks its ports up again and sends once more there."""
    front = Endpoint("127.0.0.1", 18081)
    router = HAProxyRouter(_dead_endpoint(), Endpoint("127.0.0.1", 18080), locate=lambda: (api.endpoint, front))
    assert router.weights() == {"blue": 0, "green": 100}
    assert router.url("/x") == "http://127.0.0.1:18081/x"
    assert router.relocate() is False  # where it is now: nothing moved


def test_a_router_that_is_still_restarting_is_an_error_naming_it(api: FakeAPI) -> None:
    """No port published yet (the lookup fails): the old address stays and the error says the API is unreachable."""

    def restarting() -> tuple[Endpoint, Endpoint]:
        raise StackError("athalia: service 'app' of project p publishes no port 8404 (or has no running container).")

    dead = _dead_endpoint()
    router = HAProxyRouter(dead, Endpoint("127.0.0.1", 18080), locate=restarting)
    with pytest.raises(RouterError, match="cannot reach the HAProxy runtime API"):
        router.weights()
    assert router.api == dead
