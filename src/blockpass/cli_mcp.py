"""``blockpass mcp serve``: a run directory and its rules as an MCP server.

    blockpass mcp serve --out RUN_DIR --guide GUIDE [--styles STYLES] [--http PORT]

Over stdio by default (an MCP client launches it: ``stdio:blockpass mcp serve --out ...``),
or over streamable HTTP on 127.0.0.1 with ``--http PORT`` (0: any free port), at ``/mcp``.
The tools are ``mcp_bridge/server.py``'s. Nothing is written to stdout in stdio mode: it is
the protocol's channel; what the command says goes to stderr.
"""

from __future__ import annotations

import argparse
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
    serve.add_argument("--out", type=Path, required=True, help="the run directory to serve")
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
    serve.add_argument("--cache-dir", type=Path, help="where the rule index is kept")


def mcp_command(args: argparse.Namespace) -> int:
    from blockpass.rag import MiniLmEmbedder, load_units, open_index
    from blockpass.rules import load_styles
    from blockpass.store import RUN_FILE_NAME

    if not (args.out / RUN_FILE_NAME).is_file():
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
        cache_dir = args.cache_dir or args.out / "index"
        index = open_index(units, cache_dir=cache_dir, embedder=MiniLmEmbedder())
    anyio.run(_serve, args, index)
    return 0


async def _serve(args: argparse.Namespace, index: RuleIndex | None) -> None:
    import uvicorn

    from blockpass.mcp_bridge.server import build_server
    from blockpass.store import open_sqlite_store

    store = await open_sqlite_store(args.out)
    try:
        if not await store.join_run():
            raise UserInputError(f"{args.out}: no run was ever started in it")
        server = build_server(store, args.out, index, lease_seconds=args.lease_seconds)
        if args.http is None:
            await server.run_stdio_async()
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.http))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            server.streamable_http_app(host="127.0.0.1"), log_level="warning", access_log=False
        )
        print(f"blockpass mcp on http://127.0.0.1:{port}/mcp for {args.out}", file=sys.stderr)
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        await store.close()
