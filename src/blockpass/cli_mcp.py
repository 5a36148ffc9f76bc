"""``blockpass mcp serve``: a run directory and its rules as an MCP server.

    blockpass mcp serve --out RUN_DIR --guide GUIDE [--styles STYLES] [--http PORT]
    blockpass mcp serve --out postgresql://... --run NAME --guide GUIDE ...

Over stdio by default (an MCP client launches it: ``stdio:blockpass mcp serve --out ...``),
or over streamable HTTP on 127.0.0.1 with ``--http PORT`` (0: any free port), at ``/mcp``.
The tools are ``mcp_bridge/server.py``'s. Nothing is written to stdout in stdio mode: it is
the protocol's channel; what the command says goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from blockpass.errors import UserInputError

if TYPE_CHECKING:
    from blockpass.rag import RuleIndex

__all__ = ["add_mcp_parser", "mcp_command"]


def add_mcp_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("mcp", help="blockpass as an MCP server")
    actions = parser.add_subparsers(dest="mcp_command", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve a run's blocks and the rules to MCP clients",
        description="Tools: search_style_rules, get_block_batch, get_schema_for_block_type, "
        "lookup_previous_results, submit_results.",
    )
    serve.add_argument(
        "--out",
        required=True,
        help="the run to serve: a run directory, or a postgresql:// URL with --run",
    )
    serve.add_argument("--run", help="the run's name in a PostgreSQL database")
    serve.add_argument("--guide", type=Path, action="append", default=[], help="repeatable")
    serve.add_argument(
        "--styles", type=Path, action="append", default=[], help="a Vale style folder; repeatable"
    )
    serve.add_argument(
        "--http", type=int, metavar="PORT", help="streamable HTTP on 127.0.0.1 (0: any port)"
    )
    serve.add_argument(
        "--lease-seconds",
        type=float,
        default=600.0,
        help="how long a batch's blocks stay with the client that got them (default 600)",
    )
    serve.add_argument(
        "--cache-dir",
        type=Path,
        help="where the rule index is kept (default: the run directory, or the user's cache)",
    )


def mcp_command(args: argparse.Namespace) -> int:
    from blockpass.cli_rules import default_cache_dir
    from blockpass.rag import MiniLmEmbedder, load_units, open_index
    from blockpass.rules import load_styles
    from blockpass.store import RUN_FILE_NAME
    from blockpass.store.locations import is_postgres_url

    in_database = is_postgres_url(args.out)
    if in_database and not args.run:
        raise UserInputError(f"--out {args.out}: a PostgreSQL store needs --run NAME")
    if not in_database and not (Path(args.out) / RUN_FILE_NAME).is_file():
        raise UserInputError(
            f"{args.out} holds no run: start one with `blockpass run ... --out {args.out}`"
        )
    if args.lease_seconds <= 0:
        raise UserInputError(f"--lease-seconds must be more than 0, not {args.lease_seconds}")
    if args.http is not None and not 0 <= args.http <= 65535:
        raise UserInputError(f"--http: a port is from 0 to 65535, not {args.http}")
    units = load_units(args.guide, load_styles(args.styles))
    index = None
    if units:
        default = default_cache_dir(os.environ) if in_database else Path(args.out) / "index"
        cache_dir = args.cache_dir or default
        index = open_index(units, cache_dir=cache_dir, embedder=MiniLmEmbedder())
    anyio.run(_serve, args, index)
    return 0


async def _serve(args: argparse.Namespace, index: RuleIndex | None) -> None:
    import uvicorn

    from blockpass.mcp_bridge.server import build_server
    from blockpass.store import RunHold, open_store_at

    # A reader's hold: the run's own `blockpass run` (or its workers) may hold it meanwhile,
    # and the blocks this server hands out are leased like theirs.
    async with open_store_at(args.out, run=args.run, hold=RunHold.NONE) as store:
        if not await store.join_run():
            raise UserInputError(f"{args.out}: no run was ever started in it")
        if args.run:
            server = build_server(store, args.run, index, lease_seconds=args.lease_seconds)
        else:
            out = Path(args.out)
            server = build_server(
                store,
                out.name,
                index,
                report_path=out / "report.json",
                lease_seconds=args.lease_seconds,
            )
        if args.http is None:
            await server.run_stdio_async()
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.http))
        port = sock.getsockname()[1]
        # Listening before the address is announced: a client that connects at once is
        # queued until uvicorn accepts, not refused.
        sock.listen(128)
        config = uvicorn.Config(
            server.streamable_http_app(host="127.0.0.1"), log_level="warning", access_log=False
        )
        served = args.out if args.run is None else f"run {args.run!r}"
        print(f"blockpass mcp on http://127.0.0.1:{port}/mcp for {served}", file=sys.stderr)
        await uvicorn.Server(config).serve(sockets=[sock])
