import json
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carton.web.formats import JSON, XML, negotiate, render, split_suffix, to_xml


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/downloads.json", ("/api/v1/downloads", "json")),
        ("/api/v1/downloads/abc.xml", ("/api/v1/downloads/abc", "xml")),
        ("/api/v1/downloads", ("/api/v1/downloads", None)),
        ("/api/v1/downloads.yaml", ("/api/v1/downloads.yaml", None)),
        ("/api/v1/.json", ("/api/v1/.json", None)),
    ],
)
def test_split_suffix(path: str, expected: tuple[str, str | None]) -> None:
    assert split_suffix(path) == expected


def test_a_suffix_after_a_parameter_is_taken_off_its_value() -> None:
    event = {
        "path": "/api/v1/downloads/abc.xml",
        "resource": "/api/v1/downloads/{download_id}",
        "pathParameters": {"download_id": "abc.xml"},
        "headers": {},
    }
    stripped, chosen = negotiate(event)
    assert chosen == XML
    assert stripped["path"] == "/api/v1/downloads/abc"
    assert stripped["pathParameters"] == {"download_id": "abc"}
    assert event["pathParameters"] == {"download_id": "abc.xml"}, "the original event is left alone"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("application/xml", XML), ("text/xml;q=0.9", XML), ("application/json", JSON), ("*/*", JSON), ("", JSON)],
)
def test_accept_header(accept: str, expected: str) -> None:
    assert negotiate({"path": "/x", "headers": {"Accept": accept}})[1] == expected


def test_xml_bodies_are_built_by_xmltodict_and_escape_what_they_must() -> None:
    response = {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"name": "a <b> & c", "assets": ["x", "y"], "done": True, "error": None}),
    }
    converted = render(response, XML)
    assert converted["headers"]["Content-Type"].startswith("application/xml")
    assert converted["body"] == to_xml(json.loads(response["body"]))
    assert "<name>a &lt;b&gt; &amp; c</name>" in converted["body"]
    assert "<assets><item>x</item><item>y</item></assets>" in converted["body"]
    assert "<done>true</done>" in converted["body"]
    assert render(response, JSON) is response


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_any_json_document_renders_as_well_formed_xml(document: dict[str, object]) -> None:
    """Field names a client made up (`a b`, `a<b`, `@id`) and characters XML cannot carry
    never break the document: such names become <field name="...">, such characters U+FFFD."""
    rendered = to_xml(document)
    ElementTree.fromstring(rendered.encode())


def test_odd_field_names_keep_their_name_in_an_attribute() -> None:
    root = ElementTree.fromstring(to_xml({"errors": {"a b": ["unknown field"], "@id": ["unknown field"]}}).encode())
    fields = root.findall("./errors/field")
    assert [(f.get("name"), f.findtext("item")) for f in fields] == [("a b", "unknown field"), ("@id", "unknown field")]
