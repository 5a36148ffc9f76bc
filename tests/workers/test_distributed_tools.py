"""Submitted runs with tool loops: `submit --mcp` (servers over stdio and streamable HTTP)
and `submit --mode agentic`, sent by worker processes that connect to the servers themselves
and search the rule index `submit` stored. They ask the sandbox what `run` asks, byte for
byte but the tool-use ids the sandbox draws at random, and write what `run` writes; a server
a worker cannot start, or whose tools changed since submit, is said in one line."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from collections import Counter
from pathlib import Path

import anyio
import psycopg
import pytest

from blockpass.cli import main
from blockpass.ledger import TOOL_TURN
from blockpass.sandbox import Sandbox, SandboxConfig, ToolUse, create_app, serve_in_thread
from blockpass.workers.jobs import job_counts
from tests.mcp_bridge.conftest import everything  # noqa: F401 (the npm server's fixture)
from tests.mcp_bridge.support import REPOSITORY, http_server, stdio_server
from tests.postgres_server import PostgresServer
from tests.test_cli import chapters
from tests.test_cli_interruptions import WAIT_SECONDS, HoldAfter
from tests.workers.test_distributed_retrieval import RequestBodies
from tests.workers.test_distributed_runs import MODEL, read_run, sent_blocks
from tests.workers.worker_processes import finish, kill_worker_at_request, start_worker

pytestmark = pytest.mark.slow

GOOGLE = Path("styles") / "Google" / "Google"
# The sandbox names each tool call with a random id; the rest of a request is the run's.
_TOOL_IDS = re.compile(r"toolu_[0-9a-f]{24}")


def asked(bodies: RequestBodies) -> list[str]:
    return sorted(_TOOL_IDS.sub("toolu_ID", text) for text in bodies.take())


def tool_options(
    shared_data: Path, tmp_path: Path, *extra: str, guide: Path | None = None
) -> list[str]:
    guide = guide or shared_data / "guides" / "18f-content-guide"
    return [
        str(chapters(shared_data, 1, tmp_path)), "--guide", str(guide),
        "--provider", "sandbox", "--model", MODEL, "--min-blocks", "1", "--max-blocks", "8",
        *extra,
    ]  # fmt: skip


def run_workers(dsn: str, base_url: str) -> None:
    # No worker dies here: a longer stalled timeout keeps a late heartbeat on a loaded
    # machine from having a live worker's job retried beside it.
    workers = [
        start_worker(dsn, base_url, f"w{n}", "--exit-when-done", "--stalled-after", "10")
        for n in (1, 2)
    ]
    for worker in workers:
        finish(worker)


def same_outputs(tmp_path: Path) -> None:
    written = (tmp_path / "w" / "results.jsonl").read_text()
    assert written == (tmp_path / "single" / "results.jsonl").read_text()


def test_a_submitted_mcp_job_sent_by_two_workers_asks_and_writes_what_run_mcp_does(
    shared_data: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    everything: str,  # noqa: F811
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(
        SandboxConfig(rules=shared_data / GOOGLE, tool_use=ToolUse(lookup_tools=("echo",)))
    )
    bodies = RequestBodies(create_app(sandbox), fields=("system", "messages", "tools"))
    with serve_in_thread(bodies) as server, http_server("rules") as rules:  # type: ignore[arg-type]
        options = tool_options(shared_data, tmp_path, "--mcp", everything, "--mcp", rules.text)
        assert main(["submit", *options, "--store", dsn, "--run", "tools"]) == 0
        run_workers(dsn, server.base_url)
        distributed = asked(bodies)
        assert main(["report", "--store", dsn, "--run", "tools", "--out", str(tmp_path / "w")]) == 0
        single = ["run", *options, "--base-url", server.base_url, "--mode", "realtime"]
        assert main([*single, "--out", str(tmp_path / "single")]) == 0
        alone = asked(bodies)

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "tools")
    assert ended == blocks
    assert not open_starts
    turns = [call for call in calls if call.status == TOOL_TURN]
    answers = [call for call in calls if call.status == "ok"]
    assert len(turns) == len(answers) > 1, "each pack looked up once, then answered"
    assert all(call.usage.output > 0 for call in turns), "every turn's usage is stored"
    assert distributed == alone, "the workers asked exactly what the single run asked"
    offered = json.loads(alone[0])[2]
    assert {"echo", "count_words", "search_style_rules"} <= {tool["name"] for tool in offered}
    assert any("Echo: " in text for text in alone), "the npm server's tool answered"
    same_outputs(tmp_path)
    pooled = json.loads((tmp_path / "w" / "report.json").read_text())
    reported = json.loads((tmp_path / "single" / "report.json").read_text())
    assert pooled["calls"] == reported["calls"], "tool turns counted as run counts them"
    priced = pooled["by_status"][TOOL_TURN]
    assert priced["calls"] == len(turns)
    assert float(priced["usd"]) > 0, "every turn is priced"
    cached = reported["by_status"][TOOL_TURN]["tokens"]
    assert priced["tokens"]["cache_read"] == cached["cache_read"], "the workers read the cache"


def test_a_submitted_agentic_job_searches_the_index_submit_stored_and_asks_what_run_asks(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path, small_guide: Path
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / GOOGLE))
    bodies = RequestBodies(create_app(sandbox), fields=("system", "messages", "tools"))
    guide_cache = tmp_path / "cache"
    with serve_in_thread(bodies) as server:  # type: ignore[arg-type]
        options = tool_options(
            shared_data,
            tmp_path,
            *("--mode", "agentic", "--cache-dir", str(guide_cache)),
            guide=small_guide,
        )
        assert main(["submit", *options, "--store", dsn, "--run", "agents"]) == 0
        # The workers could not find the guide's index if they looked for it.
        os.rename(guide_cache, tmp_path / "elsewhere")
        run_workers(dsn, server.base_url)
        distributed = asked(bodies)
        os.rename(tmp_path / "elsewhere", guide_cache)
        assert (
            main(["report", "--store", dsn, "--run", "agents", "--out", str(tmp_path / "w")]) == 0
        )
        assert (
            main(
                ["run", *options, "--base-url", server.base_url, "--out", str(tmp_path / "single")]
            )
            == 0
        )
        alone = asked(bodies)

    calls, _, blocks, ended = anyio.run(read_run, dsn, "agents")
    assert ended == blocks
    assert distributed == alone, "the workers asked exactly what the single run asked"
    looked_up = [text for text in alone if '"tool_result"' in text]
    assert looked_up, "the model looked rules up"
    assert all('<rule id=\\"' in text for text in looked_up), "found in the stored index"
    assert TOOL_TURN in {call.status for call in calls}
    same_outputs(tmp_path)
    pooled = json.loads((tmp_path / "w" / "report.json").read_text())
    assert pooled["context"]["mode"] == "agentic"


def server_script(path: Path, name: str) -> None:
    """A test server (``servers.py``) behind one command that stays the same while what it
    serves changes, as an upgraded server on a worker's machine would."""
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(REPOSITORY)!r})\n"
        "import anyio\nfrom tests.mcp_bridge.servers import build\n"
        f"anyio.run(build({name!r}).run_stdio_async)\n"
    )


def submit_with_script_server(shared_data: Path, tmp_path: Path, dsn: str, run: str) -> Path:
    """Submit run ``run`` with the test server ``rules`` behind a script; the script."""
    script = tmp_path / "server.py"
    server_script(script, "rules")
    options = tool_options(shared_data, tmp_path, "--mcp", f"stdio:{sys.executable} {script}")
    assert main(["submit", *options, "--store", dsn, "--run", run]) == 0
    return script


def test_a_worker_whose_server_lists_other_tools_than_at_submit_fails_the_packs_with_the_reason(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / GOOGLE))
    with serve_in_thread(create_app(sandbox)) as server:
        script = submit_with_script_server(shared_data, tmp_path, dsn, "changed")
        server_script(script, "twin")
        worker = start_worker(
            dsn, server.base_url, "w1", "--exit-when-done", "--stalled-after", "10"
        )
        _, err = worker.communicate(timeout=WAIT_SECONDS)
    assert worker.returncode == 0, err
    assert sandbox.stats.requests["POST /v1/messages"] == 0, "nothing was sent"
    refusals = [line for line in err.splitlines() if "differ from those the run was" in line]
    assert refusals
    assert "Traceback" not in err
    assert main(["report", "--store", dsn, "--run", "changed", "--out", str(tmp_path / "w")]) == 0
    results = [
        json.loads(line) for line in (tmp_path / "w" / "results.jsonl").read_text().splitlines()
    ]
    failed = [result for result in results if result["outcome"] == "failed"]
    assert failed
    assert all("submit the run again" in result["reason"] for result in failed)


def test_a_worker_that_cannot_start_a_server_says_so_and_the_pack_waits_for_one_that_can(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / GOOGLE))
    with serve_in_thread(create_app(sandbox)) as server:
        script = submit_with_script_server(shared_data, tmp_path, dsn, "gone")
        _, _, _, skipped = anyio.run(read_run, dsn, "gone")
        script.rename(tmp_path / "away.py")  # the server's command now fails at once
        # Nobody dies here: see run_workers.
        worker = start_worker(dsn, server.base_url, "w1", "--stalled-after", "10")
        assert worker.stderr is not None
        # Bounded: the worker's first job fails within seconds. What the server's command
        # wrote to stderr comes first (a worker's stderr is its servers' log).
        line = ""
        while not line.startswith("blockpass worker w1:"):
            line = worker.stderr.readline()
            assert line, "the worker ended without saying why the pack waits"
        worker.send_signal(signal.SIGTERM)
        _, rest = worker.communicate(timeout=WAIT_SECONDS)
        assert "Traceback" not in rest
        assert "blockpass worker w1: run gone" not in rest, "said once, not once per pack"
        assert "run gone: --mcp" in line, line
        assert "cannot connect" in line
        assert "wait for a worker that can offer the tools" in line
        counts = anyio.run(job_counts, dsn, "gone")
        assert "failed" not in counts, "the packs still wait"
        _, _, _, ended = anyio.run(read_run, dsn, "gone")
        assert ended == skipped, "no pack was sent or failed"
        (tmp_path / "away.py").rename(script)
        finish(
            start_worker(dsn, server.base_url, "w2", "--exit-when-done", "--stalled-after", "10")
        )
    _, _, blocks, ended = anyio.run(read_run, dsn, "gone")
    assert ended == blocks, "every pack was sent once a worker could start the server"


def test_a_worker_killed_mid_loop_leaves_the_pack_to_another_and_pays_no_committed_turn_twice(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / GOOGLE))
    # One pack at a time: its lookup turn and its answer, then the next pack's lookup turn;
    # that pack's answer is counted by the sandbox but never leaves it.
    hold = HoldAfter(create_app(sandbox), answered=3, held=1)
    with serve_in_thread(hold) as server:  # type: ignore[arg-type]
        try:
            options = tool_options(shared_data, tmp_path, "--mcp", stdio_server("rules").text)
            assert main(["submit", *options, "--store", dsn, "--run", "killed"]) == 0
            kill_worker_at_request(dsn, server.base_url, hold, 4, "the second pack's answer")
            finish(start_worker(dsn, server.base_url, "survivor", "--exit-when-done"))
            requests = sandbox.stats.requests["POST /v1/messages"]
        finally:
            hold.release.set()

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "killed")
    assert ended == blocks, "every block ended, the killed worker's pack too"
    assert len(open_starts) == 1, "the answer lost with the killed worker is known to be unknown"
    assert requests == len(calls) + len(open_starts), "the store accounts for every request"
    assert set(sent_blocks(calls).values()) == {1}, "no stored result was paid for twice"
    lookups = Counter(tuple(call.block_ids) for call in calls if call.status == TOOL_TURN)
    killed = tuple(open_starts[0].block_ids)
    assert lookups[killed] == 2, "the killed pack's loop went again from its start"
    assert all(count == 1 for pack, count in lookups.items() if pack != killed), (
        "a pack whose answer was committed was not looked up again"
    )


def test_submit_refuses_an_unreachable_server_and_tools_in_batches_in_one_line_storing_nothing(
    shared_data: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = postgres_server.new_database()
    unreachable = tool_options(shared_data, tmp_path, "--mcp", "http://127.0.0.1:9/mcp")
    assert main(["submit", *unreachable, "--store", dsn, "--run", "never"]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1
    assert "--mcp 'http://127.0.0.1:9/mcp': cannot connect" in said[0]
    batch = [*unreachable, "--mode", "batch"]
    assert main(["submit", *batch, "--store", dsn, "--run", "never"]) == 2
    assert "--mcp needs --mode realtime" in capsys.readouterr().err
    tiers = [*unreachable, "--tiers", "claude-haiku-4-5,claude-sonnet-4-5", "--route", "heuristic"]
    assert main(["submit", *tiers, "--store", dsn, "--run", "never"]) == 2
    assert "submit runs tool loops on one model" in capsys.readouterr().err
    with pytest.raises(psycopg.errors.UndefinedTable):
        anyio.run(count_submissions, dsn)


async def count_submissions(dsn: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as connection:
        cursor = await connection.execute("SELECT count(*) FROM blockpass_submissions")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


ONCE_SERVER = '''
import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("dies-once")
with open(sys.argv[2], "a") as log:
    log.write("started\\n")


def search_style_rules(text: str) -> str:
    """Search the style guide for the rules that apply to a text."""
    if not os.path.exists(sys.argv[1]):
        open(sys.argv[1], "w").close()
        os._exit(1)  # the first call ever made ends the server's process
    return "no rule found"


server.add_tool(search_style_rules)
anyio.run(server.run_stdio_async)
with open(sys.argv[2], "a") as log:
    log.write("ended\\n")  # its client closed the connection
'''


def test_a_worker_whose_server_went_away_connects_again_and_sends_the_pack(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    script = tmp_path / "once.py"
    script.write_text(ONCE_SERVER)
    launches = tmp_path / "launches.log"
    address = f"stdio:{sys.executable} {script} {tmp_path / 'called'} {launches}"
    sandbox = Sandbox(SandboxConfig(rules=shared_data / GOOGLE))
    with serve_in_thread(create_app(sandbox)) as server:
        options = tool_options(shared_data, tmp_path, "--mcp", address)
        assert main(["submit", *options, "--store", dsn, "--run", "again"]) == 0
        worker = start_worker(
            dsn, server.base_url, "w1", "--exit-when-done", "--stalled-after", "10"
        )
        _, err = worker.communicate(timeout=WAIT_SECONDS)
    assert worker.returncode == 0, err
    assert (tmp_path / "called").exists(), "the server died on its first call"
    said = [line for line in err.splitlines() if "went away" in line]
    assert len(said) == 1, err
    assert said[0].endswith("connecting again")
    _, _, blocks, ended = anyio.run(read_run, dsn, "again")
    assert ended == blocks, "the pack whose loop lost its server was sent again"
    # Submit's listing, the worker's connection for the run (not one per pack: there are 5)
    # and its second one; each closed cleanly but the one that died.
    assert launches.read_text().split() == ["started", "ended", "started", "started", "ended"]


def test_submit_refuses_tools_for_a_model_that_cannot_call_them_before_reading_anything(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = shared_data / "guides" / "18f-content-guide"
    # No server listens there: the refusal comes before the database is touched.
    store = "postgresql://nobody@127.0.0.1:9/blockpass"
    options = [str(tmp_path / "absent.md"), "--guide", str(guide), "--provider", "local"]
    assert main(["submit", *options, "--mode", "agentic", "--store", store]) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [
        "blockpass: error: model 'smollm2-135m-instruct' cannot call tools: leave --mcp and --mode agentic out"
    ]
