import pytest

from mailcore import InvalidMessage, Message
from mailcore.bulk import BulkTemplate, MergeError, MergeTemplate, Recipient, bulk_template


def test_placeholders_are_filled_and_listed():
    template = MergeTemplate.parse("Hi {first_name}, your code is {code}. Bye {first_name}")
    assert template.fields == ("first_name", "code")
    assert template.render({"first_name": "Ann", "code": 42}) == "Hi Ann, your code is 42. Bye Ann"


def test_literal_braces_css_and_escapes_survive():
    source = "p { color: red } {{name}} {a:b} {name}"
    template = MergeTemplate.parse(source)
    assert template.fields == ("name",)
    assert template.render({"name": "Z"}) == "p { color: red } {name} {a:b} Z"


def test_no_attribute_access_or_indexing():
    # str.format would evaluate these; the merge syntax treats them as literal text
    template = MergeTemplate.parse("{user.__class__} {items[0]} {x!r}")
    assert template.fields == ("user.__class__",)
    with pytest.raises(MergeError):
        template.render({})
    assert MergeTemplate.parse("{items[0]} {x!r}").render({}) == "{items[0]} {x!r}"


def test_missing_field_names_the_recipient_and_the_field():
    template = MergeTemplate.parse("Dear {title} {last}")
    with pytest.raises(MergeError) as caught:
        template.render({"title": "Dr"}, recipient="ann@example.org", where="subject")
    error = caught.value
    assert isinstance(error, InvalidMessage)
    assert (error.recipient, error.merge_field, error.where) == ("ann@example.org", "last", "subject")
    assert "ann@example.org" in str(error) and "{last}" in str(error) and "subject" in str(error)


def test_html_values_are_escaped_text_values_are_not():
    bulk = BulkTemplate(bulk_template("n@example.com", "Hi {name}", text="T {name}", html="<b>{name}</b>"))
    item = bulk.item(0, Recipient("a@example.org", {"name": "<script>&"}))
    message = bulk.render(item)
    assert message.text == "T <script>&"
    assert message.html == "<b>&lt;script&gt;&amp;</b>"
    assert message.subject == "Hi <script>&"


def test_missing_body_field_is_reported_per_recipient():
    bulk = BulkTemplate(bulk_template("n@example.com", "Hi", text="code {code}"))
    with pytest.raises(MergeError) as caught:
        bulk.item(3, Recipient("b@example.org", {"other": 1}))
    assert caught.value.merge_field == "code" and caught.value.where == "text"


def test_translate_rewrites_placeholders_for_providers():
    assert MergeTemplate.parse("a {x} {{y}}").translate(lambda n: f"%recipient.{n}%") == "a %recipient.x% {y}"


def test_template_with_cc_is_refused():
    message = Message("n@example.com", ["n@example.com"], "s", text="t", cc=["c@example.org"])
    with pytest.raises(InvalidMessage, match="cc"):
        BulkTemplate(message)


def test_recipient_coercion():
    r = Recipient.coerce({"email": "a@example.org", "name": "Ann", "code": 1, "metadata": {"row": "7"}})
    assert r.fields == {"code": 1} and r.metadata == {"row": "7"} and r.name == "Ann"
    assert Recipient.coerce("b@example.org").email == "b@example.org"
    with pytest.raises(InvalidMessage):
        Recipient.coerce({"name": "no email"})
