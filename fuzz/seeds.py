#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the strings of the unit
and black-box tests: `python3 fuzz/seeds.py` (from anywhere; rewrites
fuzz/corpus/<target>/seed-*). Filters, PATCH paths, request bodies and
request lines are taken from Rust string literals and `json!` blocks;
`json!` text is read as JSON after the test files' URN constants are
spelled out, and blocks that are not plain JSON are skipped."""

import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
SOURCES = sorted(
    list((ROOT / "src").rglob("*.rs")) + list((ROOT / "tests").rglob("*.rs"))
)
CONSTANTS = {
    "ENT": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "ENTERPRISE": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "ENTERPRISE_USER_URN": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    "USER_URN": "urn:ietf:params:scim:schemas:core:2.0:User",
    "GROUP_URN": "urn:ietf:params:scim:schemas:core:2.0:Group",
    "PATCH_OP_URN": "urn:ietf:params:scim:api:messages:2.0:PatchOp",
    "PATCH": "urn:ietf:params:scim:api:messages:2.0:PatchOp",
    "BULK_REQUEST_URN": "urn:ietf:params:scim:api:messages:2.0:BulkRequest",
}
FILTER_OP = re.compile(r"\b(eq|ne|co|sw|ew|gt|ge|lt|le|pr)\b", re.I)
PATH_LIKE = re.compile(r'^[A-Za-z$][\w$:.\-]*(\[[^\]]*\])?(\.[\w$]+)?$')

STRING = re.compile(r'r(#*)"(.*?)"\1|"((?:[^"\\]|\\.)*)"', re.S)


def unescape(s):
    def one(m):
        c = m.group(1)
        if c.startswith("u{"):
            return chr(int(c[2:-1], 16))
        return {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}.get(c, c)

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", one, s)


def literals(text):
    for m in STRING.finditer(text):
        if m.group(2) is not None:
            yield m.group(2)
        else:
            yield unescape(m.group(3))


def json_blocks(text):
    """The text of each `json!(...)` block, brackets balanced."""
    for m in re.finditer(r"json!\s*\(", text):
        i, depth = m.end(), 1
        while i < len(text) and depth:
            c = text[i]
            if c == '"':
                i += 1
                while i < len(text) and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            i += 1
        yield text[m.end() : i - 1]


def as_json(block):
    for name, urn in CONSTANTS.items():
        block = re.sub(rf"(?<![\w\"]){name}(?![\w\"])", json.dumps(urn), block)
    block = re.sub(r",\s*([}\]])", r"\1", block)  # trailing commas
    try:
        return json.loads(block)
    except ValueError:
        return None


def walk(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)


def main():
    seeds = {t: set() for t in
             ["filter_parse", "filter_sql", "patch_path", "patch_apply", "body_decode", "router"]}
    for src in SOURCES:
        text = src.read_text(encoding="utf-8")
        docs = [as_json(b) for b in json_blocks(text)]
        for s in literals(text):
            if s.lstrip().startswith(("{", "[")):
                try:
                    docs.append(json.loads(s))
                except ValueError:
                    pass
            if len(s) > 4096:
                continue
            if FILTER_OP.search(s) and not s.lstrip().startswith("{"):
                seeds["filter_parse"].add(s.encode())
                seeds["filter_sql"].add(b"\x00" + s.encode())
                seeds["filter_sql"].add(b"\x01" + s.encode())
            if PATH_LIKE.match(s) and ("patch" in src.name or "path" in src.name):
                seeds["patch_path"].add(s.encode())
            if s.startswith(("/scim/", "/Users", "/Groups", "/Schemas", "/ResourceTypes",
                             "/ServiceProviderConfig", "/Bulk", "/.search", "/healthz")):
                target = s if s.startswith("/scim/") else "/scim/int_a" + s
                for method in ["GET", "POST", "PUT", "PATCH", "DELETE"]:
                    seeds["router"].add(f"{method} {target}".encode())
        for doc in docs:
            # PATCH tests often build the body from an operation or a list of them.
            if isinstance(doc, dict) and "op" in doc:
                doc = [doc]
            if isinstance(doc, list) and doc and all(isinstance(o, dict) and "op" in o for o in doc):
                doc = {"schemas": [CONSTANTS["PATCH_OP_URN"]], "Operations": doc}
            if not isinstance(doc, dict):
                continue
            raw = json.dumps(doc).encode()
            ops = doc.get("Operations")
            if isinstance(ops, list) and any(isinstance(o, dict) and "op" in o for o in ops):
                for pick in range(4):
                    seeds["patch_apply"].add(bytes([pick]) + raw)
                for o in ops:
                    if isinstance(o, dict) and isinstance(o.get("path"), str):
                        seeds["patch_path"].add(o["path"].encode())
            elif "userName" in doc:
                seeds["body_decode"].add(b"\x00" + raw)
            elif "displayName" in doc:
                seeds["body_decode"].add(b"\x01" + raw)
            for v in walk(doc):
                if isinstance(v, dict) and isinstance(v.get("filter"), str):
                    f = v["filter"].encode()
                    seeds["filter_parse"].add(f)
                    seeds["filter_sql"].add(b"\x00" + f)
    for target, items in seeds.items():
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("seed-*"):
            old.unlink()
        for item in items:
            (d / f"seed-{hashlib.sha1(item).hexdigest()[:16]}").write_bytes(item)
        print(f"{target}: {len(items)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
