"""Run scim2-tester's full check set against one SCIM base URL and report.

Usage (conformance/run does all of this for you):

    SCIM_TOKEN=scimd_... python check.py https://127.0.0.1:PORT/scim/int_...

Prints one line per check result (status, resource type, check name) with
scim2-tester's reason under every result that is not a pass, then a count of
failures per check, then exactly one closing line:

    scim2-tester: N passed, M failed, K skipped

Exit status: 0 when M == 0, 1 when checks failed, 2 when the run itself broke.

Status mapping: SUCCESS, COMPLIANT and ACCEPTABLE pass; ERROR, CRITICAL and
DEVIATION fail; SKIPPED is skipped. scim2-tester derives what it tests from the
server's discovery endpoints, so a resource type the server does not publish is
silently not tested: every name in --require-resource-types that the server
does not publish is reported as one more failed check (`required_resource_type`).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import traceback
import warnings
from typing import Any, TextIO

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult, Status, check_server

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
SKIPPED = {Status.SKIPPED}
# Everything else (ERROR, CRITICAL, DEVIATION, any status added later) fails.

DATA_LIMIT = 800


def one_line(value: Any, limit: int = DATA_LIMIT) -> str:
    if hasattr(value, "model_dump"):
        try:
            value = value.model_dump(mode="json", exclude_none=True)
        except Exception:
            pass
    if isinstance(value, (dict, list)):
        try:
            text = json.dumps(value, default=repr, ensure_ascii=False)
        except Exception:
            text = repr(value)
    else:
        text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def tracer(out: TextIO):
    """httpx2 response hook writing every exchange to `out` (for debugging)."""

    def on_response(response: httpx2.Response) -> None:
        response.read()
        request = response.request
        body = request.content.decode("utf-8", "replace") if request.content else ""
        out.write(f">>> {request.method} {request.url}\n")
        if body:
            out.write(f"    {body}\n")
        out.write(f"<<< {response.status_code} {response.headers.get('content-type', '')}\n")
        if response.content:
            out.write(f"    {response.content.decode('utf-8', 'replace')}\n")
        out.write("\n")
        out.flush()

    return on_response


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="SCIM base URL, e.g. https://127.0.0.1:8443/scim/int_…")
    parser.add_argument(
        "--token-env",
        default="SCIM_TOKEN",
        help="environment variable holding the bearer token (default: SCIM_TOKEN)",
    )
    parser.add_argument(
        "--require-resource-types",
        default="User,Group",
        help="comma-separated resource type names the server must publish "
        "(default: User,Group; empty to require none)",
    )
    parser.add_argument(
        "--resource-types",
        default="",
        help="only test these resource types (comma-separated; default: all published)",
    )
    parser.add_argument("--trace", metavar="FILE", help="write every HTTP exchange to FILE")
    parser.add_argument("-v", "--verbose", action="store_true", help="print reasons of passing checks too")
    args = parser.parse_args()

    token = os.environ.get(args.token_env)
    if not token:
        print(f"check.py: ${args.token_env} is empty", file=sys.stderr)
        return 2

    hooks: dict[str, list[Any]] = {"request": [], "response": []}
    trace_file = open(args.trace, "w", encoding="utf-8") if args.trace else None
    if trace_file:
        hooks["response"].append(tracer(trace_file))

    # The server presents a self-signed certificate and is only ever reached on
    # 127.0.0.1 here, so certificate verification is off on purpose.
    http = httpx2.Client(
        base_url=args.url,
        headers={"Authorization": f"Bearer {token}"},
        verify=False,
        timeout=30.0,
        event_hooks=hooks,
    )
    client = SyncSCIMClient(http)

    only = [name for name in args.resource_types.split(",") if name] or None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results: list[CheckResult] = check_server(client, resource_types=only)
    except Exception:
        traceback.print_exc()
        print("check.py: scim2-tester aborted before producing results", file=sys.stderr)
        return 2
    finally:
        http.close()
        if trace_file:
            trace_file.close()

    # Guard: a resource type the server does not publish is never tested.
    published = {rt.name for rt in (client.provider.resource_types or [])}
    for name in [n for n in args.require_resource_types.split(",") if n]:
        if name not in published:
            results.append(
                CheckResult(
                    status=Status.ERROR,
                    title="required_resource_type",
                    reason=f"the server publishes no ResourceType named {name!r} "
                    f"(published: {sorted(published) or 'none'}), so scim2-tester "
                    f"ran none of its {name} checks",
                    resource_type=name,
                )
            )

    passed = failed = skipped = 0
    failures: collections.Counter[tuple[str, str]] = collections.Counter()
    for result in results:
        status = result.status
        where = result.resource_type or "-"
        title = result.title or "?"
        print(f"{status.name:<10} {where:<8} {title}")
        if status in PASSED:
            passed += 1
        elif status in SKIPPED:
            skipped += 1
        else:
            failed += 1
            failures[(where, title)] += 1
        if result.reason and (args.verbose or status not in PASSED):
            for line in result.reason.splitlines():
                print(f"    {line}")
        if result.data is not None and status not in PASSED | SKIPPED:
            print(f"    data: {one_line(result.data)}")

    if failures:
        print()
        print("failed checks by resource type and check:")
        for (where, title), count in sorted(failures.items()):
            print(f"  {count:>4}  {where:<8} {title}")
    print()
    print(f"scim2-tester: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
