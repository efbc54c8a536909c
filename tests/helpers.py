"""Shared test data: a practice profile with real slots and a valid booking."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

BERLIN = ZoneInfo("Europe/Berlin")
DOCTORS = ["Dr. A. Beispiel", "Dr. B. Muster"]


def slot_times(days_ahead: int = 2, count: int = 3) -> list[tuple[datetime, datetime]]:
    """`count` 20-minute slots from 09:00 Berlin time, `days_ahead` days from now."""
    day = (datetime.now(BERLIN) + timedelta(days=days_ahead)).date()
    first = datetime(day.year, day.month, day.day, 9, 0, tzinfo=BERLIN)
    return [
        (first + timedelta(minutes=20 * i), first + timedelta(minutes=20 * (i + 1)))
        for i in range(count)
    ]


def profile_json(*, accept_wishes: bool = True, count: int = 3) -> dict[str, Any]:
    return {
        "name": "Praxis Dr. Beispiel",
        "time_zone": "Europe/Berlin",
        "doctors": DOCTORS,
        "appointment_types": [
            {"name": "Erstgespräch", "minutes": 20},
            {"name": "Kontrolle", "minutes": 10},
        ],
        "slots": [
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "doctor": DOCTORS[0],
                "appointment_type": "Erstgespräch",
            }
            for start, end in slot_times(count=count)
        ],
        "accept_wishes": accept_wishes,
    }


def booking_json(start: datetime | None = None, **changes: Any) -> dict[str, Any]:
    """A valid booking whose values are unique, so a leak of any of them can be searched."""
    marker = secrets.token_hex(4)
    booking: dict[str, Any] = {
        "first_name": f"Zerlina{marker}",
        "last_name": f"Quastenflosser{marker}",
        "birth_date": "1984-03-05",
        "gender": "female",
        "insurance": "statutory",
        "note": f"Rückenschmerzen seit Tagen {marker}",
        "new_patient": True,
        "doctor": DOCTORS[0],
        "appointment_type": "Erstgespräch",
        "start": (start or slot_times()[0][0]).isoformat(),
        "email": f"patient.{marker}@example.org",
        "phone": f"+49 30 555{int(marker, 16) % 10000:04d}",
        "consent": True,
    }
    booking.update(changes)
    return booking


def wish_booking_json(**changes: Any) -> dict[str, Any]:
    """A valid booking for a practice that lists no doctors or types (the default profile)."""
    booking = booking_json(**changes)
    del booking["doctor"], booking["appointment_type"]
    return booking


async def put_profile(
    http: aiohttp.ClientSession, relay_url: str, token: str, profile: dict[str, Any]
) -> None:
    async with http.put(
        f"{relay_url}/api/v1/profile", json=profile, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        assert response.status == 200, await response.text()


async def submit(
    http: aiohttp.ClientSession, relay_url: str, slug: str, booking: dict[str, Any]
) -> aiohttp.ClientResponse:
    async with http.post(f"{relay_url}/api/v1/practices/{slug}/bookings", json=booking) as response:
        await response.read()
        return response
