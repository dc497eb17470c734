"""The bulk engine against scripted transports: batching, per-recipient results, policy per batch."""

import tracemalloc
import uuid

import pytest

from mailcore import Mailer, MessageRejected, TransientError, TransportRejected
from mailcore.bulk import BulkSender, MergeError, bulk_template
from mailcore.testing import outbox

from .conftest import CountingTransport, ScriptedBatchTransport

TEMPLATE = bulk_template("news@example.com", "Hello {name}", text="Hi {name}, code {code}", metadata={"campaign": "c1"})


def people(n, start=0):
    for i in range(start, start + n):
        yield {"email": f"user{i}@example.org", "name": f"User {i}", "code": i, "metadata": {"row": str(i)}}


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_each_recipient_gets_one_message_of_their_own_in_order():
    name = unique("bulk")
    mailer = Mailer(f"memory://{name}", retry=None)
    results = list(mailer.send_bulk(TEMPLATE, people(25), concurrency=3))
    assert [r.email for r in results] == [f"user{i}@example.org" for i in range(25)]
    assert all(r.ok and r.transport == f"memory://{name}" and r.provider_message_id for r in results)
    sent = {m.to[0].email: m for m in outbox(name)}
    assert len(sent) == 25
    for i in range(25):
        message = sent[f"user{i}@example.org"]
        assert message.recipients == message.to and len(message.to) == 1  # nobody sees anybody else
        assert message.subject == f"Hello User {i}" and message.text == f"Hi User {i}, code {i}"
        assert message.metadata == {"campaign": "c1", "row": str(i)}
    assert len({m.message_id for m in outbox(name)}) == 25
    assert {r.message_id for r in results} == {m.message_id for m in outbox(name)}


def test_a_recipient_missing_a_field_fails_alone():
    name = unique("bulk")
    recipients = [*people(2), {"email": "nocode@example.org", "name": "N"}, "not-an-address", *people(2, start=2)]
    results = list(Mailer(f"memory://{name}", retry=None).send_bulk(TEMPLATE, recipients))
    assert [r.ok for r in results] == [True, True, False, False, True, True]
    assert isinstance(results[2].error, MergeError)
    assert "nocode@example.org" in str(results[2].error) and "{code}" in str(results[2].error)
    assert "not-an-address" in str(results[3].error)
    assert len(outbox(name)) == 4


def test_batches_respect_the_provider_maximum_1000_and_1001():
    for count, sizes in ((1000, [1000]), (1001, [1000, 1]), (2500, [1000, 1000, 500])):
        transport = ScriptedBatchTransport(unique("batch://sizes"))
        results = list(Mailer(transport, retry=None).send_bulk(TEMPLATE, people(count), concurrency=1))
        assert transport.sizes == sizes
        assert len(results) == count and all(r.ok for r in results)
        assert [r.index for r in results] == list(range(count))


def test_batch_size_option_and_a_smaller_provider_maximum():
    transport = ScriptedBatchTransport(unique("batch://small"), max_batch_size=50)
    assert BulkSender(Mailer(transport), TEMPLATE).batch_size == 50
    list(Mailer(transport, retry=None).send_bulk(TEMPLATE, people(120), batch_size=30))
    assert transport.sizes == [30, 30, 30, 30]


def test_no_batch_carries_the_same_address_twice():
    transport = ScriptedBatchTransport(unique("batch://dupes"))
    recipients = [
        {"email": "same@example.org", "name": "A", "code": 1},
        {"email": "SAME@example.org", "name": "B", "code": 2},
    ]
    results = list(Mailer(transport, retry=None).send_bulk(TEMPLATE, recipients))
    assert transport.sizes == [1, 1] and all(r.ok for r in results)


def test_a_batch_failing_transiently_is_retried_as_a_whole(no_sleep):
    transport = ScriptedBatchTransport(unique("batch://flaky"), errors=[TransientError("503 try later")])
    results = list(Mailer(transport, **no_sleep).send_bulk(TEMPLATE, people(10)))
    assert all(r.ok for r in results)
    assert transport.sizes == [10]
    attempts = results[0].attempts
    assert len(attempts) == 2 and isinstance(attempts[0].error, TransientError) and attempts[1].ok


def test_a_batch_fails_over_as_a_whole(no_sleep):
    first = ScriptedBatchTransport(unique("batch://down"), errors=[TransportRejected("401 bad key")])
    second = ScriptedBatchTransport(unique("batch://backup"))
    results = list(Mailer([first, second], **no_sleep).send_bulk(TEMPLATE, people(30)))
    assert all(r.ok and r.transport == second.name for r in results)
    assert first.sizes == [] and second.sizes == [30]
    assert results[0].attempts[0].transport == first.name


def test_a_batch_that_keeps_failing_gives_every_recipient_the_error(no_sleep):
    transport = ScriptedBatchTransport(unique("batch://dead"), errors=[TransientError("down")] * 3)
    results = list(Mailer(transport, **no_sleep).send_bulk(TEMPLATE, people(5)))
    assert not any(r.ok for r in results)
    assert all("down" in str(r.error) and len(r.attempts) == 3 for r in results)


def test_a_refused_batch_is_split_until_the_bad_recipient_is_isolated(no_sleep):
    transport = ScriptedBatchTransport(unique("batch://split"))
    recipients = [*people(10), {"email": "bad@example.org", "name": "Bad", "code": 0}, *people(9, start=10)]
    results = list(Mailer(transport, **no_sleep).send_bulk(TEMPLATE, recipients))
    failed = [r for r in results if not r.ok]
    assert [r.email for r in failed] == ["bad@example.org"]
    assert isinstance(failed[0].error.last_error, MessageRejected)
    assert transport.delivered == 19
    assert [r.index for r in results] == list(range(20))


def test_mixed_stack_sends_one_message_each_on_a_transport_without_batches(no_sleep):
    name = unique("mixed")
    first = ScriptedBatchTransport(unique("batch://gone"), errors=[TransportRejected("suspended")])
    results = list(Mailer([first, f"memory://{name}"], **no_sleep).send_bulk(TEMPLATE, people(7)))
    assert all(r.ok and r.transport == f"memory://{name}" for r in results)
    assert sorted(m.to[0].email for m in outbox(name)) == sorted(f"user{i}@example.org" for i in range(7))


def test_progress_survives_a_failure_midway_no_recipient_is_sent_twice(no_sleep):
    from mailcore.transports.memory import MemoryTransport

    name = unique("midway")
    flaky = MemoryTransport(name, errors=[None, None, TransientError("connection dropped")])
    batch = ScriptedBatchTransport(unique("batch://never"), errors=[TransportRejected("off")] * 10)
    results = list(
        Mailer([batch, flaky], strategy="failover", **no_sleep).send_bulk(TEMPLATE, people(6), concurrency=1)
    )
    assert all(r.ok for r in results)
    delivered = [m.to[0].email for m in outbox(name)]
    assert sorted(delivered) == sorted(f"user{i}@example.org" for i in range(6))  # each exactly once


@pytest.mark.parametrize("batched", [True, False])
def test_streaming_a_generator_of_20000_keeps_memory_flat(batched):
    transport = ScriptedBatchTransport(unique("batch://flat"), keep=False) if batched else CountingTransport()
    mailer = Mailer(transport, retry=None)
    tracemalloc.start()
    try:
        sent = 0
        for result in mailer.send_bulk(TEMPLATE, people(20_000), concurrency=4, batch_size=250):
            sent += result.ok
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == 20_000
    # holding all 20,000 recipients and results takes about 20 MB; the bounded window (2 x 4
    # batches of 250 in flight) stays a few MB whatever the length of the generator
    assert peak < 6 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    if not batched:
        assert transport.count == 20_000 and transport.multi == 0


def _policy_classes(base):
    found = set()
    for sub in base.__subclasses__():
        found |= {sub} | _policy_classes(sub)
    return found


def test_batch_route_mirrors_every_policy_layer_and_shares_its_state():
    """route.py copies layers and swaps ``Wrapper.inner`` / ``Combinator.transports``: every
    built-in layer must keep working that way (a new layer class shows up here)."""
    import mailcore.policy as policy
    from mailcore.bulk.route import BatchLeaf, batch_route
    from mailcore.policy.base import Wrapper
    from mailcore.policy.failover import Combinator

    a, b, c = (ScriptedBatchTransport(f"batch://{n}") for n in "abc")
    guarded = [policy.Retrying(policy.CircuitBreaker(policy.RateLimit(t, "100/s"))) for t in (a, b, c)]
    stack = policy.Failover([policy.RoundRobin(guarded[:2]), policy.Weighted([(guarded[2], 2.0)])])
    layers = [stack, *stack.transports, *guarded]
    layers += [g.inner for g in guarded] + [g.inner.inner for g in guarded]
    used = {type(layer) for layer in layers}
    assert _policy_classes(Wrapper) | _policy_classes(Combinator) <= used, "a layer class bulk never routed"

    twin = batch_route(stack)

    def pairs(original, copy):
        yield original, copy
        for child, twin_child in zip(original.children(), copy.children(), strict=True):
            yield from pairs(child, twin_child)

    for original, copy in pairs(stack, twin):
        assert copy is not original and copy.name == original.name
        if isinstance(copy, BatchLeaf):
            assert copy.leaf is original
            continue
        assert type(copy) is type(original)
        shared = {k: v for k, v in vars(original).items() if k not in ("inner", "transports")}
        assert all(vars(copy)[k] is v for k, v in shared.items() if not isinstance(v, int | float | str)), (
            "policy state (breaker store, limiter, retry policy, clocks) must be shared, not copied"
        )
    assert stack.transports[0].transports[0].inner.inner.inner is a, "the original stack is untouched"


def test_a_template_no_transport_can_carry_fails_before_any_recipient_is_read():
    from mailcore import InvalidMessage

    lacking = ScriptedBatchTransport(unique("batch://lacking"))
    lacking.capabilities = frozenset()  # carries no metadata; TEMPLATE has some

    def recipients():
        raise AssertionError("recipients were read")
        yield

    with pytest.raises(InvalidMessage, match="cannot carry metadata"):
        Mailer(lacking, retry=None).send_bulk(TEMPLATE, recipients())
    assert lacking.batches == []


def test_a_batch_transport_lacking_a_need_sends_no_batch_and_fails_over():
    from mailcore.capabilities import CannotCarry

    lacking = ScriptedBatchTransport(unique("batch://nometa"))
    lacking.capabilities = frozenset()
    backup = CountingTransport(unique("count://backup"))
    results = list(Mailer([lacking, backup], retry=None).send_bulk(TEMPLATE, people(3)))
    assert all(r.ok for r in results) and backup.count == 3 and lacking.batches == []
    assert isinstance(results[0].attempts[0].error, CannotCarry)
