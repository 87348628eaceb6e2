"""BaseModel / Field: attribute access, the primary key as ``_id``, type checks, conversions."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from bson import Decimal128, ObjectId

import db_plugins
from db_plugins.db.mongo import BaseModel, Field, IndexModel
from db_plugins.db.mongo.models import collect_models, from_document, index_models, schema, to_document, validate
from tests.mongo import models
from tests.mongo.models import Doc, Note, Price, Ticket


def test_instances_are_dicts_with_attribute_access():
    doc = Doc(key="a", s="x")
    assert isinstance(doc, dict) and doc == {"key": "a", "s": "x"}
    assert doc.key == doc["key"] == "a"
    assert doc.i is None  # declared, absent: None until stored (defaults apply on insert)
    doc.f = 2.5
    assert doc["f"] == 2.5
    with pytest.raises(AttributeError, match="nope"):
        doc.nope = 1
    with pytest.raises(AttributeError):
        doc.nope  # noqa: B018


def test_constructor_refuses_unknown_fields():
    with pytest.raises(db_plugins.ValidationError, match="Doc: unknown field 'colour'"):
        Doc(key="a", colour="red")


def test_primary_key_is_stored_as_id_and_presented_by_name():
    values = validate(Doc, {"key": "a", "i": 1}, "insert")
    document = to_document(Doc, values)
    assert document["_id"] == "a" and "key" not in document
    back = from_document(Doc, document)
    assert isinstance(back, Doc) and back.key == "a" and "_id" not in back
    assert back._id == "a"  # the stored name also reads the key
    assert Doc(_id="b").key == "b"


def test_keyless_models_carry_the_generated_id():
    oid = ObjectId()
    note = from_document(Note, {"_id": oid, "text": "t"})
    assert note._id == oid and note["_id"] == oid
    assert "_id" in schema(Note) and "_id" not in schema(Doc)
    # A 24-hex string is an ObjectId too, in values and in filters.
    assert validate(Note, {"_id": str(oid), "text": "t"}, "insert")["_id"] == oid
    assert schema(Note)["_id"].check(str(oid)) == oid
    with pytest.raises(db_plugins.ValidationError, match="'_id' of Note expects an ObjectId"):
        validate(Note, {"_id": "not-an-id", "text": "t"}, "insert")


def test_defaults_and_required_on_a_full_check_only():
    values = validate(Doc, {"key": "a"}, "insert")
    assert values["i"] == 0 and values["day"] == dt.date(2024, 1, 2)  # a value and a callable
    assert "s" not in values  # no default: left out, not stored as null
    with pytest.raises(db_plugins.ValidationError, match="missing required field 'text' for Note"):
        validate(Note, {"n": 1}, "insert")
    with pytest.raises(db_plugins.ValidationError, match="missing required field 'key' for Doc"):
        validate(Doc, {"s": "x"}, "insert")
    with pytest.raises(db_plugins.ValidationError, match="'text' of Note is required"):
        validate(Note, {"text": None}, "update", partial=True)
    assert validate(Note, {"n": 2}, "update", partial=True) == {"n": 2}


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("s", 1, "a string"),
        ("i", "3", "a 64-bit integer"),
        ("i", True, "a 64-bit integer"),
        ("i", 2.5, "a 64-bit integer"),
        ("i", 2**63, "a 64-bit integer"),
        ("f", "1.0", "a number"),
        ("f", False, "a number"),
        ("b", 1, "a boolean"),
        ("when", dt.date(2024, 1, 1), "a datetime"),
        ("day", dt.datetime(2024, 1, 1), "a date"),
        ("data", [1], "a dict"),
        ("tags", "abc", "a list"),
        ("raw", "abc", "bytes"),
        ("ref", "xyz", "an ObjectId"),
    ],
)
def test_wrong_types_name_the_field(field, value, expected):
    with pytest.raises(db_plugins.ValidationError, match=f"field '{field}' of Doc expects {expected}"):
        validate(Doc, {"key": "a", field: value}, "insert")


def test_conversions_match_what_bson_stores():
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456)
    values = validate(
        Doc,
        {"key": "a", "f": 2, "when": when, "day": dt.date(2024, 5, 6), "tags": (1, 2), "raw": bytearray(b"x")},
        "insert",
    )
    assert values["f"] == 2.0 and isinstance(values["f"], float)
    assert values["when"] == when.replace(microsecond=123000)  # BSON keeps milliseconds
    assert values["tags"] == [1, 2] and values["raw"] == b"x"
    document = to_document(Doc, values)
    assert document["day"] == dt.datetime(2024, 5, 6)  # BSON has no date: midnight
    assert from_document(Doc, document).day == dt.date(2024, 5, 6)


def test_decimal_fields_store_decimal128_and_read_decimal():
    values = validate(Price, {"sku": "p", "amount": decimal.Decimal("1.10")}, "insert")
    document = to_document(Price, values)
    assert document["amount"] == Decimal128("1.10")
    assert from_document(Price, document).amount == decimal.Decimal("1.10")


def test_objectid_primary_key_is_generated_when_absent():
    assert validate(Ticket, {"title": "t"}, "insert") == {"title": "t"}
    assert Ticket.__fields__["tid"].required is False


def test_model_declaration_errors():
    with pytest.raises(TypeError, match="more than one primary_key"):

        class Two(BaseModel):
            a = Field(str, primary_key=True)
            b = Field(str, primary_key=True)

    with pytest.raises(TypeError, match="may not start with '_'"):

        class Under(BaseModel):
            _secret = Field(str)

    with pytest.raises(TypeError, match="IndexModel"):

        class BadIndexes(BaseModel):
            __table_args__ = [("a", 1)]

    with pytest.raises(TypeError, match="unsupported type"):
        Field(set)


def test_fields_are_inherited():
    class Base(BaseModel):
        a = Field(str, primary_key=True)

    class Child(Base):
        __tablename__ = "children"
        b = Field(int)

    assert list(Child.__fields__) == ["a", "b"] and Child.__primary_key__ == "a"
    assert Child(a="x", b=1).b == 1


def test_index_keys_name_the_primary_key_id():
    class Keyed(BaseModel):
        __tablename__ = "keyed"
        __table_args__ = [IndexModel([("code", 1), ("v", -1)], unique=True)]
        code = Field(str, primary_key=True)
        v = Field(int)

    (index,) = index_models(Keyed)
    assert list(index.document["key"].items()) == [("_id", 1), ("v", -1)]
    assert index.document["unique"] is True


def test_collect_models_from_a_module_a_class_or_a_list():
    found = collect_models(models)
    assert found == [models.Doc, models.Note, models.User, models.Price, models.Ticket]
    assert collect_models(Doc) == [Doc]
    assert collect_models([Doc, Note, Doc]) == [Doc, Note]
    assert Doc in collect_models(None)  # every model defined so far
    with pytest.raises(db_plugins.ConfigError, match="MODELS"):
        collect_models(42)
