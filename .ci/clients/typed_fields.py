"""Every member of every body schema in shared/api/openapi.json is a typed field of the
generated clients: an attribute of the Python model (not `Any`, not only an extra property)
and a member of the TypeScript type (not `unknown`).

    python typed_fields.py <openapi.json> <api.d.ts>
"""

import json
import keyword
import re
import sys

import attrs

import ledgerdesk_client.models as models


def snake(name: str) -> str:
    out = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return out + "_" if keyword.iskeyword(out) or out == "type" else out


def ts_members(dts: str, name: str) -> dict[str, str]:
    """The members of `components["schemas"][name]` as openapi-typescript writes them."""
    match = re.search(rf"^        {re.escape(name)}: {{\n(.*?)^        }};", dts, re.M | re.S)
    if not match:
        return {}
    members = {}
    for line in match.group(1).splitlines():
        # A member at the type's own indentation; its type may go on over further lines.
        m = re.match(r"^            \"?([A-Za-z_$][\w$]*)\"?\??: (.*)$", line)
        if m:
            members[m.group(1)] = m.group(2).rstrip(";")
    return members


def main(spec_path: str, dts_path: str) -> None:
    spec = json.load(open(spec_path))
    dts = open(dts_path).read()
    problems = []
    checked = 0
    for name, schema in spec["components"]["schemas"].items():
        properties = schema.get("properties")
        if not properties:
            continue
        cls = getattr(models, name, None)
        if cls is None or not attrs.has(cls):
            problems.append(f"python: no model for {name}")
            continue
        fields = {f.name: f for f in attrs.fields(cls)}
        # The annotations as written (the models refer to each other under TYPE_CHECKING).
        hints = {field: str(hint) for field, hint in getattr(cls, "__annotations__", {}).items()}
        members = ts_members(dts, name)
        if not members:
            problems.append(f"typescript: no type for {name}")
        for member in properties:
            checked += 1
            # The generator adds `_` to names that shadow a Python builtin (`hash_`, `type_`).
            field = next((f for f in (snake(member), snake(member) + "_") if f in fields), snake(member))
            if field not in fields:
                problems.append(f"python: {name}.{member} is not a field ({sorted(fields)})")
            elif hints.get(field, "Any").replace(" ", "") in {"Any", "typing.Any"}:
                problems.append(f"python: {name}.{member} is typed Any")
            if members and member not in members:
                problems.append(f"typescript: {name}.{member} is not a member")
            elif members and members[member].strip() == "unknown":
                problems.append(f"typescript: {name}.{member} is unknown")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"typed fields: all {checked} members of the body schemas are typed in both clients")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
