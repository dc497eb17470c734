"""A one-time-password email that must not be lost: any failure reaches the caller.

    MAILCORE_URL="failover(smtp://user:pass@smtp.example.com:587 ses://?region=eu-west-1)" \
    MAILCORE_FROM="Example <login@example.com>" \
    python examples/otp.py alice@example.org

The user is waiting on the sign-in page, so the policy is fast and bounded: three tries per
transport, failover to the next, and a 20-second deadline for the whole thing. If the code cannot
be sent, the caller is told (``DeliveryFailed``) and can say so on the page instead of letting
the user wait for a mail that will never come.
"""

from __future__ import annotations

import secrets
import sys

import mailcore

#: Fail fast: a user is waiting. Keys are mailcore.policy.RetryPolicy fields.
OTP_RETRY = {"attempts": 3, "first_delay": 0.5, "deadline": 20.0}


def otp_mailer() -> mailcore.Mailer:
    """A Mailer from MAILCORE_URL / MAILCORE_FROM with the OTP retry policy."""
    return mailcore.Mailer.from_env(retry=OTP_RETRY)


def send_otp(address: str, mailer: mailcore.Mailer) -> str:
    """Mail a fresh 6-digit code to ``address`` and return it; raise if it was not sent.

    Raises :class:`mailcore.DeliveryFailed` when every transport failed (``.attempts`` says
    what happened), :class:`mailcore.InvalidMessage` for a bad address, and
    :class:`mailcore.ConfigurationError` when MAILCORE_URL is missing or wrong.
    """
    code = f"{secrets.randbelow(1_000_000):06d}"
    mailcore.send_mail(
        "Your sign-in code",
        f"Your code is {code}. It expires in 10 minutes.\n\nIf you did not try to sign in, ignore this mail.",
        None,  # the sender comes from MAILCORE_FROM
        [address],
        mailer=mailer,  # fail_silently is False: an error is raised, never swallowed
    )
    return code


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python examples/otp.py ADDRESS", file=sys.stderr)
        return 2
    with otp_mailer() as mailer:
        try:
            send_otp(argv[1], mailer)
        except mailcore.DeliveryFailed as error:
            # error.outcome is "unknown" when the last try may have been delivered after all.
            print(f"could not send the code ({error.outcome}, {len(error.attempts)} attempts)", file=sys.stderr)
            return 1
        except mailcore.InvalidMessage as error:
            print(f"that address cannot receive mail: {error}", file=sys.stderr)
            return 1
    print("code sent")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
