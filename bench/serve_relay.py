"""`relay serve` for bench/table.py, optionally with redis-py's pure-Python reply parser
(to measure what hiredis buys).

    python bench/serve_relay.py [--python-parser]     (settings from RELAY_*)
"""

from __future__ import annotations

import sys

if "--python-parser" in sys.argv:
    # redis-py picks its parser when redis.asyncio.connection is imported.
    import redis.utils

    redis.utils.HIREDIS_AVAILABLE = False

from relay.__main__ import main  # imported after the parser choice above

if __name__ == "__main__":
    sys.exit(main(["serve"]))
