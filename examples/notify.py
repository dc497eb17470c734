"""A notification that must not break the caller: fail_silently=True.

    MAILCORE_URL="smtp://user:pass@smtp.example.com:587" MAILCORE_FROM="shop@example.com" \
    python examples/notify.py bob@example.org 1042

An order is saved whether or not the "we got your order" mail goes out: a provider outage must
not turn into a failed checkout. ``fail_silently=True`` swallows *send* errors only (they are
logged as a warning on the "mailcore" logger); a wrong configuration or an invalid message still
raises, because those will not fix themselves and hiding them hides a bug.
"""

from __future__ import annotations

import logging
import sys

import mailcore

log = logging.getLogger("shop")


def save_order(order_id: int) -> None:
    """Stands in for the real work the notification must never undo."""
    log.info("order %s saved", order_id)


def notify_order_received(address: str, order_id: int, mailer: mailcore.Mailer | None = None) -> bool:
    """Mail the confirmation; return whether it went out. Never raises a send error."""
    sent = mailcore.send_mail(
        f"Order {order_id} received",
        f"Thanks! We received order {order_id} and will mail you again when it ships.",
        None,
        [address],
        fail_silently=True,  # 0 instead of DeliveryFailed when every transport failed
        mailer=mailer,
    )
    if not sent:
        log.warning("order %s: confirmation not sent; the order itself is fine", order_id)
    return bool(sent)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if len(argv) != 3:
        print("usage: python examples/notify.py ADDRESS ORDER_ID", file=sys.stderr)
        return 2
    order_id = int(argv[2])
    save_order(order_id)
    notify_order_received(argv[1], order_id)
    return 0  # the checkout succeeded either way


if __name__ == "__main__":
    sys.exit(main(sys.argv))
