"""``rfqcore config check`` and ``rfqcore config schema``: the configuration files, checked and described.

``config check FILE...`` validates each file as ``serve`` would load it (an instrument registry,
RFQ settings or venue connections: the kind is told by the file's sections, or by ``--kind``) and
prints one line per file, ``OK`` with a summary or ``ERROR`` with the one-line reason; the exit
code is 1 if any file has an error. RFQ settings are checked against the instrument registry
given before them on the command line (else ``--config``, else the bundled one); venue connections
against that registry and the RFQ settings given before them (else ``--rfq-config``), and need
the secrets' environment variables set, as ``serve`` does.
``config schema`` writes the JSON Schema of the three files (from the same models) for editors.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from rfqcore.errors import ConfigError
from rfqcore.instruments import Registry, RegistryFile
from rfqcore.rfqconfig import RfqFile, RfqSettings
from rfqcore.venues.config import VenuesFile, venue_links_from_dict

__all__ = ["KINDS", "Checked", "check_files", "config_schema", "detect_kind", "add_parser"]

Kind = Literal["instruments", "rfq", "venues"]
KINDS: Final[tuple[Kind, ...]] = ("instruments", "rfq", "venues")
MODELS: Final[Mapping[Kind, type[BaseModel]]] = {"instruments": RegistryFile, "rfq": RfqFile, "venues": VenuesFile}
SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def detect_kind(doc: Mapping[str, Any]) -> Kind | None:
    """The kind of a parsed file by its top-level sections; ``None`` when they do not tell."""
    keys = set(doc)
    if keys & set(RegistryFile.model_fields):
        return "instruments"
    if keys & set(VenuesFile.model_fields):
        return "venues"
    if keys & set(RfqFile.model_fields):
        return "rfq"
    return None


@dataclass(frozen=True, slots=True)
class Checked:
    """One file's verdict: ``line`` is the summary (``ok``) or the error."""

    path: str
    kind: Kind | None
    ok: bool
    line: str

    def __str__(self) -> str:
        return f"OK    {self.path}: {self.line}" if self.ok else f"ERROR {self.line}"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def check_files(paths: Sequence[str | Path], kind: Kind | None = None, instruments: str | Path | None = None,
                rfq: str | Path | None = None, env: Mapping[str, str] | None = None) -> list[Checked]:
    """Check each file in order (see the module doc); never raises for a bad file."""
    registry: Registry | None = None      # the registry in force for the files that follow
    settings: RfqSettings | None = None   # likewise the RFQ settings
    bad_registry: str | None = None       # the last registry file given, when it has errors
    bad_settings: str | None = None

    def current_registry(path: str) -> Registry:
        nonlocal registry
        if bad_registry is not None:
            raise ConfigError(f"{path}: not checked: the instrument registry before it, {bad_registry}, has errors")
        if registry is None:
            registry = Registry.load(instruments)
        return registry

    out: list[Checked] = []
    for path in map(str, paths):
        k: Kind | None = kind
        try:
            try:
                doc = tomllib.loads(Path(path).read_text("utf-8"))
            except OSError as e:
                raise ConfigError(f"cannot read {path}: {e.strerror}") from None
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"{path}: invalid TOML: {e}") from None
            k = k or detect_kind(doc)
            if k is None:
                raise ConfigError(f"{path}: cannot tell which configuration this is (sections {sorted(doc)}): "
                                  f"pass --kind {'|'.join(KINDS)}")
            if k == "instruments":
                registry, bad_registry = None, path
                registry, bad_registry = Registry.from_dict(doc, path), None
                line = (f"instrument registry, {_count(len(registry), 'instrument')}, "
                        f"{_count(len(registry.composites), 'composite')}")
            elif k == "rfq":
                reg = current_registry(path)
                settings, bad_settings = None, path
                settings, bad_settings = RfqSettings.from_dict(doc, reg, path), None
                line = (f"RFQ settings on {reg.source}, {_count(len(settings.tiers), 'tier')}, "
                        f"{_count(len(settings.clients), 'client')}, {_count(len(settings.operators), 'operator')}, "
                        f"{_count(len(settings.risk), 'risk limit')}, "
                        f"{_count(len(settings.pricing), 'pricing entry', 'pricing entries')}, "
                        f"{_count(len(settings.hedging), 'hedging policy', 'hedging policies')}")
            else:
                reg = current_registry(path)
                if bad_settings is not None:
                    raise ConfigError(f"{path}: not checked: the RFQ settings before it, {bad_settings}, have errors")
                if settings is None and rfq is not None:
                    settings = RfqSettings.load(rfq, reg)
                links = venue_links_from_dict(doc, reg, settings, env, source=path)
                against = f" and {settings.source}" if settings is not None else \
                    " (hedge venues not compared: give the RFQ settings before it, or --rfq-config)"
                line = f"venue connections on {reg.source}{against}, {_count(len(links), 'venue')}"
            out.append(Checked(path, k, True, line))
        except ConfigError as e:
            msg = str(e)
            if k in ("rfq", "venues") and registry is not None and bad_registry is None:
                msg += f" (checked against the instrument registry {registry.source})"
            out.append(Checked(path, k, False, msg))
    return out


class _TomlSchema(GenerateJsonSchema):
    """TOML has no null: an optional key is one that may be left out, not one that may be null."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        out = super().default_schema(schema)
        if "default" in out and out["default"] is None:
            del out["default"]
        elif isinstance(out.get("default"), dict):
            out["default"] = {k: v for k, v in out["default"].items() if v is not None}
        return out


def config_schema(kind: Kind | None = None) -> dict[str, Any]:
    """The JSON Schema of one kind of file, or of all three (``anyOf``) for editors."""
    if kind is not None:
        schema = MODELS[kind].model_json_schema(schema_generator=_TomlSchema)
        return {"$schema": SCHEMA_DIALECT, **schema}
    _, defs = models_json_schema([(m, "validation") for m in MODELS.values()], schema_generator=_TomlSchema)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "rfqcore configuration",
        "description": "An instrument registry, RFQ settings or venue connections (TOML). Generated from the "
                       "models in rfqcore (`rfqcore config schema`); `rfqcore config check FILE` validates a file.",
        "anyOf": [{"$ref": f"#/$defs/{m.__name__}"} for m in MODELS.values()],
        **defs,
    }


def schema_text(kind: Kind | None = None) -> str:
    """:func:`config_schema` as written to a file: indented JSON and a final newline."""
    return json.dumps(config_schema(kind), indent=2, ensure_ascii=False) + "\n"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cfg = sub.add_parser("config", help="check configuration files; write their JSON Schema",
                         description="Check the instrument registry, RFQ settings and venue connections files "
                                     "as serve loads them, or write their JSON Schema for an editor.")
    csub = cfg.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    ck = csub.add_parser("check", help="validate files: one line each, OK with a summary or the error (exit 1 "
                                       "on any error)",
                         description=__doc__.split("\n\n")[1] if __doc__ else None)
    ck.add_argument("files", nargs="+", metavar="FILE", help="TOML files, checked in order")
    ck.add_argument("--kind", choices=KINDS, help="what every FILE is (default: told by its sections)")
    ck.add_argument("--rfq-config", help="RFQ settings that venue files are checked against when no RFQ settings "
                                         "file comes before them")
    ck.set_defaults(func=_cmd_check)
    sc = csub.add_parser("schema", help="write the JSON Schema of the configuration files (editors: taplo, "
                                        "Even Better TOML)")
    sc.add_argument("--kind", choices=KINDS, help="one kind of file only (default: all three, anyOf)")
    sc.add_argument("-o", "--output", help="write it here (default: standard output)")
    sc.set_defaults(func=_cmd_schema)


def _cmd_check(args: argparse.Namespace) -> int:
    results = check_files(args.files, args.kind, args.config, args.rfq_config)
    for r in results:
        print(r)
    return 0 if all(r.ok for r in results) else 1


def _cmd_schema(args: argparse.Namespace) -> int:
    text = schema_text(args.kind)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, "utf-8")
    except OSError as e:
        print(f"rfqcore config schema: cannot write {args.output}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0
