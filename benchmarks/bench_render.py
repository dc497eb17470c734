"""Messages rendered per second: mailcore's renderer against the stdlib and Django, one run.

python benchmarks/bench_render.py          (or: python3 noxfile.py -s bench)
"""

from __future__ import annotations

import sys
from email.message import EmailMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import default as default_policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import measure, report, write_json

from mailcore import Message
from mailcore.render import render

N = 2000
SENDER, RCPT, SUBJECT = "Shop <shop@example.com>", "ana@example.org", "Your receipt #1042"
TEXT, HTML = "Thanks for your order.\nTotal: 12.00 EUR\n", "<p>Thanks for your order.</p><p>Total: 12.00 EUR</p>"


def mailcore_render() -> int:
    for _ in range(N):
        render(Message(SENDER, [RCPT], SUBJECT, text=TEXT, html=HTML))
    return N


def stdlib_policy_default() -> int:
    for _ in range(N):
        msg = EmailMessage(policy=default_policy)
        msg["From"], msg["To"], msg["Subject"] = SENDER, RCPT, SUBJECT
        msg.set_content(TEXT)
        msg.add_alternative(HTML, subtype="html")
        msg.as_bytes()
    return N


def stdlib_compat32() -> int:
    for _ in range(N):
        msg = MIMEMultipart("alternative")
        msg["From"], msg["To"], msg["Subject"] = SENDER, RCPT, SUBJECT
        msg.attach(MIMEText(TEXT, "plain", "utf-8"))
        msg.attach(MIMEText(HTML, "html", "utf-8"))
        msg.as_bytes()
    return N


def django_message() -> int:
    from django.core.mail import EmailMultiAlternatives

    for _ in range(N):
        msg = EmailMultiAlternatives(SUBJECT, TEXT, SENDER, [RCPT])
        msg.attach_alternative(HTML, "text/html")
        msg.message().as_bytes()
    return N


def main() -> None:
    workloads = [
        ("mailcore Message + render", mailcore_render),
        ("stdlib EmailMessage(policy.default)", stdlib_policy_default),
        ("stdlib compat32 MIMEMultipart", stdlib_compat32),
    ]
    django = None
    try:
        import django
        from django.conf import settings

        if not settings.configured:
            settings.configure(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
        django.setup()
        workloads.append((f"Django {django.__version__} EmailMessage.message()", django_message))
    except ImportError:
        print("django not installed: its row is left out")
    results = [measure(name, fn) for name, fn in workloads]
    suffix = f"-django{django.__version__.replace('.', '')[:2]}" if "django" in sys.modules else ""
    write_json(
        f"render{suffix}", report(f"Rendering {N} text+html messages", results, "stdlib EmailMessage(policy.default)")
    )


if __name__ == "__main__":
    main()
