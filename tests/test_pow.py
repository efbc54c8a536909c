"""relay/abuse/pow.py: ALTCHA challenges issued, solved, verified; forged, wrong, expired and
malformed solutions refused; and the `altcha` library understands ours and we its."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import altcha
import pytest

from relay.abuse.pow import Challenge, InvalidSolution, ProofOfWork, encode_solution, solve

KEY = secrets.token_bytes(32)
NOW = 1_900_000_000.0
# Small, so the tests solve in milliseconds; the product's default is a setting.
CHEAP = 2000


def payload_of(document: dict[str, object]) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def solved_document(challenge: Challenge) -> dict[str, object]:
    return json.loads(base64.b64decode(solve(challenge)))


def test_a_solved_challenge_verifies_once_issued() -> None:
    """A challenge the relay issued, solved, verifies; its marker is the signature's
    start and it expires at the issue time plus the TTL."""
    pow_ = ProofOfWork(KEY)
    challenge = pow_.issue(CHEAP, now=NOW, ttl=600)
    assert challenge.maxnumber == CHEAP
    assert challenge.salt.endswith(f"?expires={int(NOW) + 600}&")

    solved = pow_.verify(solve(challenge), now=NOW + 1)

    assert solved.marker == challenge.signature[:32]
    assert solved.expires_at == int(NOW) + 600


def test_an_expired_solution_is_refused() -> None:
    """Past the expiry in its salt a correct solution is refused."""
    pow_ = ProofOfWork(KEY)
    challenge = pow_.issue(CHEAP, now=NOW, ttl=60)
    payload = solve(challenge)
    assert pow_.verify(payload, now=NOW + 59)
    with pytest.raises(InvalidSolution):
        pow_.verify(payload, now=NOW + 60)


def test_forged_or_wrong_solutions_are_refused() -> None:
    """Another relay's key, a flipped signature, a later expiry or a wrong number fail."""
    pow_ = ProofOfWork(KEY)
    challenge = pow_.issue(CHEAP, now=NOW)
    good = solved_document(challenge)
    signature = str(good["signature"])
    later_salt = str(good["salt"]).replace(f"expires={int(NOW) + 1800}", f"expires={2**31}")
    forgeries = [
        {**good, "signature": ("0" if signature[0] != "0" else "1") + signature[1:]},
        {**good, "salt": later_salt},
        {**good, "number": int(str(good["number"])) + 1},
        {**good, "algorithm": "SHA-1"},
    ]
    for forged in forgeries:
        with pytest.raises(InvalidSolution):
            pow_.verify(payload_of(forged), now=NOW)
    with pytest.raises(InvalidSolution):
        ProofOfWork(secrets.token_bytes(32)).verify(payload_of(good), now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),
        payload_of({"algorithm": "SHA-256"}),
        "A" * 5000,
        "äöü",
    ],
)
def test_malformed_payloads_are_refused(payload: str) -> None:
    """Anything that is not a payload is the same opaque refusal, never a crash."""
    with pytest.raises(InvalidSolution):
        ProofOfWork(KEY).verify(payload, now=NOW)


def test_number_must_be_a_json_integer() -> None:
    """The number as a string or a boolean is refused, even when its digits are right."""
    pow_ = ProofOfWork(KEY)
    good = solved_document(pow_.issue(CHEAP, now=NOW))
    for odd in (str(good["number"]), True, -1, 1.0):
        with pytest.raises(InvalidSolution):
            pow_.verify(payload_of({**good, "number": odd}), now=NOW)


def test_the_altcha_library_solves_and_verifies_our_challenges() -> None:
    """The `altcha` library (v1 scheme) solves a relay challenge, and verifies the relay's
    solution payload with the same key: the scheme is ALTCHA's."""
    pow_ = ProofOfWork(KEY)
    challenge = pow_.issue(CHEAP, now=time.time())
    theirs = altcha.ChallengeV1(
        challenge.algorithm,  # type: ignore[arg-type]
        challenge.challenge,
        challenge.maxnumber,
        challenge.salt,
        challenge.signature,
    )
    solution = altcha.solve_challenge_v1(theirs)
    assert solution is not None
    payload = encode_solution(challenge, solution.number)
    assert pow_.verify(payload, now=time.time())
    verified, error = altcha.verify_solution_v1(payload, KEY, check_expires=True)
    assert (verified, error) == (True, None)


def test_we_verify_challenges_the_altcha_library_made() -> None:
    """A challenge made by the `altcha` library with the relay's key and an expiry is one
    the relay verifies once solved."""
    expires = datetime.now(UTC) + timedelta(minutes=5)
    theirs = altcha.create_challenge_v1(
        altcha.ChallengeOptionsV1(max_number=CHEAP, hmac_key=KEY, expires=expires)
    )
    solution = altcha.solve_challenge_v1(theirs)
    assert solution is not None
    payload = altcha.PayloadV1(
        theirs.algorithm, theirs.challenge, solution.number, theirs.salt, theirs.signature
    ).to_base64()
    assert ProofOfWork(KEY).verify(payload, now=time.time()).expires_at == int(expires.timestamp())
