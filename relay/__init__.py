"""Terminrelay, the relay: HTTP server, Redis store, mail worker and command line.

The code lives in wings, each a subpackage for one concern, layered from the top down
(pyproject.toml's [tool.importlinter] contracts are the rule, tests/test_architecture.py
runs them):

    __main__, dev, app    command line, `relay dev`, the app factory: may import everything
    web                   HTTP: routes, pages, APIs, middleware
    booking               the life of a booking: fields, validation, submit/confirm, cancel
    mail | abuse          mails and their queue worker | limits and proof of work
    practice              profiles, details, slots, the practice cache, registry, local time
    crypto | storage      sealing and tokens | Redis: the store, its Lua scripts, connections
    rules | ops | i18n    value rules (text, contact) | logs, metrics, background loops |
                          the patients' languages

Beside them, `errors`, `settings` and `encoded` (a body kept with its gzip copy) may be
imported by every wing and import only `rules`.
"""
