"""Handing bookings over: {id}.json, .ics and FHIR files written durably, --exec hooks.

May import only the base modules (limits, os_errors, i18n).
"""
