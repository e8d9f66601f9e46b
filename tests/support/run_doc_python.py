"""Run one page's Python blocks in order, in one namespace, as a reader pasting them into
``python -m asyncio`` would: top-level ``await`` works and names carry over.

Usage: python run_doc_python.py BLOCKS.json (a list of {"where", "line", "path", "text"}).
A failing block prints its traceback (with the page's own line numbers) and exits 1.
"""

from __future__ import annotations

import ast
import asyncio
import json
import sys
import traceback


def main(blocks_file: str) -> int:
    with open(blocks_file, encoding="utf-8") as handle:
        blocks = json.load(handle)
    namespace: dict = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for block in blocks:
        source = "\n" * block["line"] + block["text"]  # tracebacks show the page's lines
        try:
            code = compile(source, block["path"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)  # the project's own documentation
            if asyncio.iscoroutine(result):
                loop.run_until_complete(result)
        except BaseException:  # report which block failed, whatever it was
            traceback.print_exc()
            print(f"the block at {block['where']} failed", file=sys.stderr)
            return 1
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
