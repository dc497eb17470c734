"""The suppression layer: refused before any attempt, per recipient, bypass tags, provider routes.

The layer reads the list of a SQLite or a PostgreSQL outbox (``url`` runs each test on both;
PostgreSQL on 127.0.0.1:5432 skips with a reason locally, fails in CI when missing)."""

from __future__ import annotations

import io
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailcore import ConfigurationError, DeliveryFailed, Mailer, Message, RecipientSuppressed
from mailcore.outbox import suppressions as store
from mailcore.outbox.events import Suppression
from mailcore.outbox.eventsql import open_event_store
from mailcore.policy import Suppressing, SuppressionPolicy
from mailcore.policy.suppress import check_recipients
from mailcore.testing import outbox as sent_messages


def entry(address: str, scope: str = "*", reason: str = "hard_bounce") -> Suppression:
    return Suppression(address, scope, reason, "test", "550 no such user", 1796040000.0)


@pytest.fixture
def url(store_url):
    return store_url


def listing(url: str, *entries: Suppression) -> None:
    with open_event_store(url) as box:
        store.add(box, entries)


def test_check_recipients_is_pure_and_per_recipient() -> None:
    entries = {
        "gone@example.org": [entry("gone@example.org")],
        "reader@example.org": [entry("reader@example.org", "newsletter", "unsubscribe")],
        "sg@example.org": [entry("sg@example.org", "provider:sendgrid", "provider")],
    }
    refused, avoid = check_recipients(
        ["Gone@example.org", "reader@example.org", "sg@example.org", "ok@example.org"],
        entries,
        tags=["receipts"],
        providers=frozenset({"sendgrid", "ses"}),
    )
    assert list(refused) == ["Gone@example.org"] and "hard bounce" in refused["Gone@example.org"]
    assert "2026-11-30" in refused["Gone@example.org"] and "550 no such user" in refused["Gone@example.org"]
    assert avoid == {"sendgrid"}
    refused, _ = check_recipients(["reader@example.org"], entries, tags=["newsletter"], providers=frozenset({"ses"}))
    assert "unsubscribed from newsletter" in refused["reader@example.org"]
    refused, avoid = check_recipients(["sg@example.org"], entries, tags=[], providers=frozenset({"sendgrid"}))
    assert "every configured provider refuses it" in refused["sg@example.org"] and not avoid


def test_suppressed_recipient_is_refused_before_any_attempt_others_still_go(url) -> None:
    listing(url, entry("gone@example.org"))
    mailer = Mailer("memory://sup-a", suppression=url)
    with pytest.raises(DeliveryFailed) as caught:
        mailer.send(Message("a@example.com", ["gone@example.org"], "s", text="x"))
    error = caught.value.last_error
    assert isinstance(error, RecipientSuppressed) and list(error.recipients) == ["gone@example.org"]
    assert sent_messages("sup-a") == []
    result = mailer.send(Message("a@example.com", ["gone@example.org"], "s", text="x", cc=["ok@example.org"]))
    [delivered] = sent_messages("sup-a")
    assert [a.email for a in delivered.recipients] == ["ok@example.org"]
    assert list(result.rejected) == ["gone@example.org"]
    assert delivered.message_id == result.message_id
    mailer.close()


def test_bypass_tags_skip_the_list(url) -> None:
    listing(url, entry("user@example.org"))
    mailer = Mailer("memory://sup-b", suppression={"store": url, "bypass": ["otp", "password-reset"]})
    mailer.send(Message("a@example.com", ["user@example.org"], "Your code", text="123456", tags=["otp"]))
    assert len(sent_messages("sup-b")) == 1
    with pytest.raises(DeliveryFailed):
        mailer.send(Message("a@example.com", ["user@example.org"], "News", text="x", tags=["news"]))
    mailer.close()


def test_provider_scoped_entry_fails_over_and_alone_is_refused(url) -> None:
    listing(url, entry("old@example.org", "provider:memory", "provider"))
    mailer = Mailer("failover(memory://sup-c smtp://relay.invalid:587)", suppression=url, retry=None)
    assert mailer.transport.describe().startswith("suppression list")
    alone = Mailer("memory://sup-d", suppression=url)
    with pytest.raises(DeliveryFailed) as caught:
        alone.send(Message("a@example.com", ["old@example.org"], "s", text="x"))
    assert "every configured provider refuses it" in str(caught.value)
    assert sent_messages("sup-d") == []
    mailer.close()
    alone.close()


def test_configuration_forms(url, monkeypatch) -> None:
    assert SuppressionPolicy.coerce(True) == SuppressionPolicy()
    assert SuppressionPolicy.coerce(url) == SuppressionPolicy(store=url)
    assert SuppressionPolicy.coerce({"bypass": "otp, login"}).bypass == ("otp", "login")
    assert SuppressionPolicy.coerce(None) is None
    with pytest.raises(ConfigurationError, match="did you mean 'bypass'"):
        SuppressionPolicy.coerce({"bypas": "otp"})
    with pytest.raises(ConfigurationError, match="takes True"):
        SuppressionPolicy.coerce(3)
    assert SuppressionPolicy.coerce("env", {}) is None
    assert SuppressionPolicy.coerce("env", {"MAILCORE_SUPPRESSION": "on", "MAILCORE_SUPPRESSION_BYPASS": "otp"}) == (
        SuppressionPolicy(bypass=("otp",))
    )
    assert SuppressionPolicy.coerce("env", {"MAILCORE_SUPPRESSION": url}).store == url
    with pytest.raises(ConfigurationError, match="MAILCORE_SUPPRESSION='maybe'"):
        SuppressionPolicy.coerce("env", {"MAILCORE_SUPPRESSION": "maybe"})
    monkeypatch.setenv("MAILCORE_SUPPRESSION", url)
    assert isinstance(Mailer("memory://sup-e").transport, Suppressing)
    monkeypatch.delenv("MAILCORE_SUPPRESSION")
    assert not isinstance(Mailer("memory://sup-f").transport, Suppressing)


def test_a_postgresql_store_url_never_shows_its_password() -> None:
    url = "postgresql://app:hunter2-Secret@db.internal/mail"
    policy = SuppressionPolicy.coerce("env", {"MAILCORE_SUPPRESSION": url})
    assert policy is not None and policy.store == url
    layer = Suppressing(Mailer("memory://sup-g").transport, policy)
    for text in (repr(policy), layer.describe()):
        assert "hunter2" not in text and "db.internal/mail" in text
    with pytest.raises(ConfigurationError) as caught:
        SuppressionPolicy.coerce("env", {"MAILCORE_SUPPRESSION": "mysql://app:hunter2-Secret@db/mail"})
    assert "hunter2" not in str(caught.value)


def test_a_queue_without_a_suppression_list_is_a_clear_error() -> None:
    mailer = Mailer("memory://sup-h", suppression="celery")
    with pytest.raises(ConfigurationError) as caught:
        mailer.send(Message("a@example.com", ["ok@example.org"], "s", text="x"))
    assert "kept in a SQLite or PostgreSQL outbox" in str(caught.value) and "suppression=" in str(caught.value)
    assert sent_messages("sup-h") == []
    mailer.close()


# -- CSV: what export writes, import reads back (property) -------------------------------------

local = st.text(string.ascii_lowercase + string.digits + "._-", min_size=1, max_size=12).filter(
    lambda s: s[0] not in "._-" and s[-1] not in "._-" and ".." not in s
)
addresses = st.builds(lambda part, d: f"{part}@{d}.example", local, st.sampled_from(["a", "b-c", "mail"]))
scopes = st.sampled_from(["*", "newsletter", "provider:sendgrid"])
details = st.none() | st.text(min_size=1, max_size=30).filter(lambda t: t.strip() == t and "\x00" not in t)


@given(st.lists(st.tuples(addresses, scopes, st.sampled_from(store.REASONS), details), max_size=8))
def test_export_then_import_round_trips(rows) -> None:
    entries = [Suppression(a, s, r, "cli", d, 1796040000.5) for a, s, r, d in rows]
    text = "".join(store.export_csv(entries))
    parsed, problems = store.parse_csv(io.StringIO(text))
    assert problems == []
    assert parsed == entries


def test_import_reports_every_bad_line() -> None:
    text = "address,scope,reason\nok@example.org,,\nnot-an-address,,\nx@example.org,bad scope,\ny@example.org,*,spam\n"
    parsed, problems = store.parse_csv(io.StringIO(text))
    assert [p.line for p in problems] == [3, 4, 5]
    assert "not an address" in str(problems[0]) and "scope" in str(problems[1]) and "reason" in str(problems[2])
    assert [e.address for e in parsed] == ["ok@example.org"]
    _, problems = store.parse_csv(io.StringIO("adress\nx@example.org\n"))
    assert "'address' column" in str(problems[0])
    _, problems = store.parse_csv(io.StringIO("address,why\nx@example.org,a\n"))
    assert "unknown column(s) why" in str(problems[0])


def test_mailer_option_checks_know_suppression() -> None:
    from mailcore.policy.validate import mailer_option_problems

    assert mailer_option_problems({"suppression": True, "retry": None}) == []
    [(key, problem)] = mailer_option_problems({"suppression": 3})
    assert key == "suppression" and "takes True" in problem
    [(key, problem)] = mailer_option_problems({"supression": True})
    assert "did you mean 'suppression'" in problem


def test_bulk_sends_check_every_recipient(url) -> None:
    listing(url, entry("gone@example.org"))
    mailer = Mailer("memory://sup-bulk", suppression=url)
    template = Message("a@example.com", ["placeholder@example.org"], "Hi {name}", text="Hello {name}")
    results = list(mailer.send_bulk(template, [{"email": "ok@example.org", "name": "Ok"},
                                               {"email": "gone@example.org", "name": "Gone"}]))  # fmt: skip
    assert [r.ok for r in results] == [True, False]
    assert "suppression list" in str(results[1].error)
    assert [m.to[0].email for m in sent_messages("sup-bulk")] == ["ok@example.org"]
    mailer.close()
