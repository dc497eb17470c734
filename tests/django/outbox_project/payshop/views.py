"""``/pay?amount=N&email=E&then=commit|raise|hang``: a payment and its receipt in one transaction.

* ``raise`` — the view raises inside ``atomic()`` after ``send_mail()``: neither the payment nor
  the receipt may survive;
* ``commit`` — both are committed; the response carries the payment id;
* ``hang`` — both are committed, then the view writes the payment id to ``PAYSHOP_MARKER`` and
  waits: the test SIGKILLs the server at that moment, before any response.
"""

import os
import time
from pathlib import Path

from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpResponse

from payshop.models import Payment


def pay(request):
    then = request.GET.get("then", "commit")
    email = request.GET.get("email", "buyer@example.com")
    with transaction.atomic():
        payment = Payment.objects.create(amount=int(request.GET["amount"]), email=email)
        send_mail(f"Receipt for payment {payment.pk}", f"We received {payment.amount}.", None, [email])
        if then == "raise":
            raise RuntimeError("card declined after the receipt was queued")
    if then == "hang":
        Path(os.environ["PAYSHOP_MARKER"]).write_text(str(payment.pk))
        time.sleep(300)  # the test kills the server here
    return HttpResponse(str(payment.pk))
