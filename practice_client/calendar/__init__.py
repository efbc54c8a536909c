"""Slots to publish: opening-hours rules, busy times (.ics, CalDAV), received bookings.

May import handover (reading received booking files) and the base modules; never relay.
"""
