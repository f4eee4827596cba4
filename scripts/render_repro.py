"""Render docs/reproduction.md's reproduction tables from a report JSON (``python -m xai_core reproduce --json …``),
judged again against the current claim registry, and write them between that page's markers.

Usage: .venv/bin/python scripts/render_repro.py [--report results/repro_quick.json] [--doc docs/reproduction.md]
       [--check]
``--check``: write nothing; exit 1 with one line when the page's block differs from the rendering.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xai_core.errors import XAIError  # noqa: E402
from xai_core.reproduce.render import DOC, doc_block, rejudge, render_markdown, update_doc  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", default=str(ROOT / "results" / "repro_quick.json"))
    parser.add_argument("--doc", default=str(ROOT / DOC), help="the page holding the tables (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is not the current rendering")
    args = parser.parse_args(argv)
    try:
        report = json.loads(Path(args.report).read_text(encoding="utf-8"))
        rendered = render_markdown(rejudge(report))
        doc = Path(args.doc)
        text = doc.read_text(encoding="utf-8")
        if args.check:
            if doc_block(text) != rendered:
                print(f"{doc.name}'s reproduction tables are not rendered from the current claims and "
                      f"{Path(args.report).name}: run python scripts/render_repro.py", file=sys.stderr)
                return 1
            return 0
        updated = update_doc(text, rendered)
        if updated != text:
            doc.write_text(updated, encoding="utf-8")
        print(f"{doc.name}: reproduction tables {'updated' if updated != text else 'already current'}")
        return 0
    except (OSError, ValueError, XAIError) as err:
        print(f"render_repro: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
