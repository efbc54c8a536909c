"""The baseline of bench/table.py: a bare aiohttp app that parses a booking-sized form POST.

python bench/bare_app.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web


async def parse_form(request: web.Request) -> web.Response:
    form = await request.post()
    return web.Response(text=f"{len(form)} fields")


def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/", parse_form)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
