"""Terminrelay's practice client: fetches sealed bookings, opens them, hands them over.

The wings, layered from the top down (pyproject.toml's [tool.importlinter] contracts):

    __main__, runner, check, commands, publisher   command line and the long-running loops
    calendar | relay     slots from opening hours and busy times | the relay's protocol
    handover             booking files (.json, .ics, FHIR), durable writes, hooks

Beside them, `limits` (bounds on JSON read), `os_errors` (OS errors as sentences) and
`i18n` (messages in the locale's language, German or English) may be imported by every
wing. Nothing here imports the relay server's `relay` package.
"""
