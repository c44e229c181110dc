"""What the configuration files share: the declared-model base, decimal strings, one-line errors.

Each TOML file (instrument registry, RFQ settings, venue connections) is declared once as a tree
of pydantic models (strict: TOML's own types, no coercion; unknown keys refused). Validation
errors come out as one :class:`~rfqcore.errors.ConfigError` line naming the file, the item
(``client 'acme'``, ``instrument #3 (okx:BTC-USDT)``), the field and what is wrong, the way the
hand-written checks worded them. Money never passes through a float: decimal fields are strings
(:data:`DecimalStr`) converted exactly by :func:`rfqcore.instruments.decimal_units` once the
scale is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from rfqcore.errors import ConfigError

__all__ = ["DECIMAL_PATTERN", "DecimalStr", "Id", "Loc", "Model", "NonNegInt", "config_error", "fail", "raw_at"]

#: a plain non-negative decimal, as written in the files: digits, optionally a fraction
DECIMAL_PATTERN: Final = r"^(0|[1-9][0-9]*)(\.[0-9]+)?$"

DecimalStr = Annotated[str, StringConstraints(pattern=DECIMAL_PATTERN)]
"""A decimal *string* (``"0.01"``), converted exactly to integers at its field's scale."""

NonNegInt = Annotated[int, Field(ge=0)]

Loc = tuple[int | str, ...]


def fail(message: str) -> PydanticCustomError:
    """A validator's refusal; ``message`` is the line's text after the item's name."""
    return PydanticCustomError("rfqcore", "{message}", {"message": message})


def _id_range(v: int) -> int:
    if not 1 <= v <= 0xFFFF:
        raise fail(f"id must be a unique integer 1..65535, got {v}")
    return v


#: a client / operator / venue id (a u16 on the wire, 0 meaning none)
Id = Annotated[int, AfterValidator(_id_range), Field(json_schema_extra={"minimum": 1, "maximum": 0xFFFF})]


class Model(BaseModel):
    """Base of every configuration table: TOML types only, unknown keys refused, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, use_attribute_docstrings=True)


def raw_at(doc: object, loc: Loc) -> object:
    """The raw (parsed TOML) value at ``loc``, or ``None`` where there is none."""
    cur = doc
    for part in loc:
        if isinstance(part, str) and isinstance(cur, Mapping):
            cur = cur.get(part)
        elif isinstance(part, int) and isinstance(cur, list) and 0 <= part < len(cur):
            cur = cur[part]
        else:
            return None
    return cur


_TYPES: Final = {"int_type": "int", "string_type": "str", "bool_type": "bool", "list_type": "an array",
                 "model_type": "a table", "dict_type": "a table"}
_FLOAT_HINT: Final = ' (write it quoted, e.g. "0.01": floats are not exact)'


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds (one, or the members of a tagged union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    found = _models_in(annotation)
    return found[0] if found else None


def _tagged(models: list[type[BaseModel]], tag: int | str) -> type[BaseModel] | None:
    """The member of a tagged union that pydantic names ``tag`` in an error's location."""
    for m in models:
        if any(tag in get_args(f.annotation) for f in m.model_fields.values() if get_origin(f.annotation) is Literal):
            return m
    return None


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(_is_list(a) for a in get_args(annotation)
                                                 if get_origin(annotation) in (Union, UnionType))


def _split(root: type[BaseModel], loc: Loc) -> tuple[Loc, str | None, type[BaseModel]]:
    """(the item, its field, the item's model) of an error at ``loc``: the item is the innermost
    table (``("client", 0)``, ``("desk",)``), the field a key of it and any array indices after."""
    model, end, i = root, 0, 0
    tags: set[int] = set()
    while i < len(loc):
        part = loc[i]
        info = model.model_fields.get(part) if isinstance(part, str) else None
        subs = _models_in(info.annotation) if info is not None else []
        if info is None or not subs:
            break
        if _is_list(info.annotation):
            if i + 1 < len(loc) and isinstance(loc[i + 1], int):
                model, end, i = subs[0], i + 2, i + 2
            else:
                break
        else:
            model, end, i = subs[0], i + 1, i + 1
        tagged = _tagged(subs, loc[i]) if len(subs) > 1 and i < len(loc) else None
        if tagged is not None:  # a tagged union's member: pydantic puts its tag in the location
            tags.add(i)
            model, end, i = tagged, i + 1, i + 1
    rest = loc[end:]
    field = str(rest[0]) + "".join(f"[{k}]" for k in rest[1:]) if rest else None
    return tuple(p for k, p in enumerate(loc[:end]) if k not in tags), field, model


def _has_pattern(annotation_or_meta: Any) -> bool:
    if getattr(annotation_or_meta, "pattern", None) == DECIMAL_PATTERN:
        return True
    meta = getattr(annotation_or_meta, "__metadata__", ())
    return any(_has_pattern(m) for m in meta) or any(_has_pattern(a) for a in get_args(annotation_or_meta))


def _is_decimal(info: FieldInfo | None) -> bool:
    """Whether the field holds decimal strings (itself, or its array's items)."""
    return info is not None and (any(_has_pattern(m) for m in info.metadata) or _has_pattern(info.annotation))


def _message(err: ErrorDetails, where: str, field: str | None, info: FieldInfo | None) -> str:
    kind, value = err["type"], err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    got = f"got {type(value).__name__} {value!r}"
    if kind == "rfqcore":
        return f"{where}: {ctx['message']}"
    if kind == "missing":
        return f"{where}: missing key {field!r}"
    if kind == "union_tag_invalid":
        return f"{where}: {ctx['discriminator'].strip(chr(39))} {ctx['tag']!r} is not one of {ctx['expected_tags']}"
    if kind == "union_tag_not_found":
        return f"{where}: missing key {ctx['discriminator'].strip(chr(39))!r}"
    if kind in ("model_type", "dict_type", "model_attributes_type") and field is None:
        return f"{where} is not a table"
    if kind == "list_type" and info is not None and _model_in(info.annotation) is not None:
        return f"{where}: {field} must be an array of tables ([[{field}]]), {got}"
    if kind in _TYPES:
        hint = _FLOAT_HINT if kind == "string_type" and isinstance(value, int | float) and _is_decimal(info) else ""
        return f"{where}: {field} must be {_TYPES[kind]}, {got}{hint}"
    if kind == "string_pattern_mismatch":
        return f"{where} {field}: {value!r} is not a plain non-negative decimal string (digits and an optional " \
               f"fraction, quoted, e.g. \"0.01\")"
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"),
              "less_than": ("<", "lt")}
    if kind in bounds:
        op, key = bounds[kind]
        return f"{where}: {field} must be {op} {ctx[key]}, got {value!r}"
    if kind == "literal_error":
        return f"{where}: {field} {value!r} is not one of {ctx['expected']}"
    if kind in ("string_too_short", "too_short"):
        return f"{where}: {field} must not be empty"
    prefix = f"{field}: " if field else ""
    return f"{where}: {prefix}{err['msg']}"


def config_error(exc: ValidationError, root: type[BaseModel], source: str,
                 name_item: Callable[[Loc], str]) -> ConfigError:
    """``exc`` as one line: the first problem (the unknown keys of its item first: a misspelt key is
    usually also a missing one), and how many more there are."""
    errors = exc.errors(include_url=False)
    item, field, model = _split(root, errors[0]["loc"])
    where = f"{source}: {name_item(item)}" if item else source
    extras = [e for e in errors if e["type"] == "extra_forbidden" and _split(root, e["loc"])[0] == item]
    if extras:
        keys = sorted(str(_split(root, e["loc"])[1]) for e in extras)
        message = f"{where}: unknown {'keys' if item else 'sections'} {keys} (allowed: {', '.join(model.model_fields)})"
    else:
        info = model.model_fields.get(field.partition("[")[0]) if field is not None else None
        message = _message(errors[0], where, field, info)
    more = len(errors) - max(len(extras), 1)
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message)
