"""Vendors stay behind the provider seam: outside ``providers/`` and ``sandbox/`` no module
imports a vendor's SDK or a vendor's adapter, or compares a value with a vendor's name."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "blockpass"
ALLOWED = (SOURCE / "providers", SOURCE / "sandbox")
VENDOR_SDKS = frozenset({"anthropic", "openai", "llama_cpp"})
VENDOR_MODULES = tuple(
    f"blockpass.{module}"
    for module in (
        "providers.anthropic",
        "providers.anthropic_batches",
        "providers.local",
        "providers.openai",
        "providers.openai_batches",
        "providers.openai_webhooks",
        "sandbox.anthropic",
        "sandbox.openai",
    )
)
VENDOR_NAMES = frozenset({"anthropic", "openai", "openai-compatible", "local", "sandbox"})


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, tree: ast.AST) -> list[str]:
    """Every module an import statement in ``tree`` names, nested imports included."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else ""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = (package or module_name(path)).split(".")
                base = ".".join([*anchor[: len(anchor) - node.level + 1], base]).strip(".")
            names += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return names


def is_vendor(module: str) -> bool:
    return module.split(".")[0] in VENDOR_SDKS or any(
        module == vendor or module.startswith(f"{vendor}.") for vendor in VENDOR_MODULES
    )


def vendor_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing something with a vendor's name: a branch on the provider."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(
            isinstance(part, ast.Constant) and part.value in VENDOR_NAMES
            for part in [node.left, *node.comparators]
        )
    ]


def outside_the_seam() -> list[Path]:
    return [
        path
        for path in sorted(SOURCE.rglob("*.py"))
        if not any(path.is_relative_to(folder) for folder in ALLOWED)
    ]


def test_no_module_outside_providers_and_sandbox_imports_a_vendor_sdk_or_adapter() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}: {module}"
        for path in outside_the_seam()
        for module in imported(path, ast.parse(path.read_text()))
        if is_vendor(module)
    ]
    assert found == []


def test_no_module_outside_providers_and_sandbox_branches_on_a_vendors_name() -> None:
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}"
        for path in outside_the_seam()
        for line in vendor_comparisons(ast.parse(path.read_text()))
    ]
    assert found == []


def test_the_import_rule_sees_a_vendor_import_nested_in_a_function(tmp_path: Path) -> None:
    source = (
        "def f():\n    from blockpass.providers.local import LocalProvider\n    import openai\n"
    )
    modules = imported(SOURCE / "cli.py", ast.parse(source))
    assert [module for module in modules if is_vendor(module)] == [
        "blockpass.providers.local",
        "blockpass.providers.local.LocalProvider",
        "openai",
    ]


HEAVY_LIBRARIES = ("torch", "sentence_transformers", "transformers", "bm25s", "Stemmer")


def test_starting_blockpass_or_its_retrieval_library_imports_no_model_library() -> None:
    """torch and its kin take seconds to import: only building or searching an index may."""
    probe = (
        "import sys, blockpass.cli, blockpass.rag, blockpass.cli_rules;"
        f"print([name for name in {HEAVY_LIBRARIES!r} if name in sys.modules])"
    )
    child = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(SOURCE.parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "[]"


def test_importing_the_cli_and_the_mcp_bridge_does_not_import_the_mcp_sdk() -> None:
    """The SDK is imported when a toolbox opens: every CLI start would pay for it."""
    probe = (
        "import sys, blockpass.cli, blockpass.mcp_bridge.client, blockpass.mcp_bridge.loop\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(SOURCE.parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]"
