"""Operator commands for a deployed stage: API keys, and one sweep on demand.

    python -m chalicelib.admin keys create --project NAME [--name LABEL]
    python -m chalicelib.admin keys list --project NAME
    python -m chalicelib.admin keys revoke --project NAME --hash KEY_HASH
    python -m chalicelib.admin sweep [--queue-url URL]

The table is `--table NAME`, else the `TableName` output of `--stack STACK`, else $TABLE_NAME.
Credentials and region are boto3's usual ones (AWS_PROFILE, AWS_REGION, `--region`). A new key
is printed once; only its SHA-256 hash is stored. Locally (`make run`) no key is needed: every
distinct bearer key is its own project.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .config import load_settings
from .services.context import Services


class AdminError(Exception):
    """A usage problem worth one line on stderr, not a traceback."""


def stack_output(stack: str, key: str) -> str:
    """An output of a CloudFormation stack built from `chalice package` (TableName, ...)."""
    import boto3

    stacks = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == key:
            return str(output["OutputValue"])
    raise AdminError(f"stack {stack!r} has no {key} output")


def table_from_stack(stack: str) -> str:
    return stack_output(stack, "TableName")


def resolve_table(table: str | None, stack: str | None, env: dict[str, str]) -> str:
    if table:
        return table
    if stack:
        return table_from_stack(stack)
    if env.get("TABLE_NAME"):
        return env["TABLE_NAME"]
    raise AdminError("which table? Pass --table NAME or --stack STACK, or set TABLE_NAME")


def services_for(table: str) -> Services:
    """Services on `table`; no queue and the echo model, since key commands use neither."""
    from .wiring import build_services

    settings = dataclasses.replace(
        load_settings(),
        table_name=table,
        store_engine="dynamodb",
        run_queue_url=None,
        model_provider="echo",
    )
    return build_services(settings)


def sweep_once(args: argparse.Namespace, table: str, out: TextIO) -> int:
    """One sweep now, as the schedule would run it; lost queued runs are re-sent only when
    the job queue is known (--queue-url, the stack's JobQueueUrl, or $RUN_QUEUE_URL)."""
    from .services.sweeper import expire_stale_runs
    from .wiring import build_services

    queue = args.queue_url or (
        stack_output(args.stack, "JobQueueUrl") if args.stack else os.environ.get("RUN_QUEUE_URL")
    )
    settings = dataclasses.replace(
        load_settings(),
        table_name=table,
        store_engine="dynamodb",
        run_queue_url=queue,
        model_provider="echo",
    )
    if not queue:
        never = 10**12
        settings = dataclasses.replace(settings, queued_resend_after_seconds=never)
        print("no job queue given: queued runs are not re-sent", file=sys.stderr)
    report = expire_stale_runs(build_services(settings))
    out.write(json.dumps(dataclasses.asdict(report)) + "\n")
    return 0


def _public(record: dict[str, Any]) -> dict[str, Any]:
    fields = ("key_hash", "project", "name", "hint", "created_at")
    return {name: record.get(name) for name in fields}


def run(args: argparse.Namespace, svc: Services, out: TextIO) -> int:
    from .services import auth

    if args.action == "create":
        key, record = auth.create_api_key(svc, args.project, args.name)
        out.write(json.dumps({"api_key": key, **_public(record)}, indent=2) + "\n")
        print("Store the api_key now: it is not shown again.", file=sys.stderr)
        return 0
    if args.action == "list":
        records = auth.list_api_keys(svc, args.project)
        out.write(json.dumps([_public(r) for r in records], indent=2) + "\n")
        return 0
    revoked = auth.revoke_api_key(svc, args.project, args.key_hash)
    out.write(json.dumps({"key_hash": args.key_hash, "revoked": revoked}) + "\n")
    return 0 if revoked else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m chalicelib.admin",
        description="Manage the API keys of a deployed stage, or run one sweep.",
    )
    commands = top.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="run one sweep now against a table")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--table", help="the DynamoDB table (default: $TABLE_NAME)")
    where.add_argument("--stack", help="read the table and queue from this stack's outputs")
    sweep.add_argument("--queue-url", help="the job queue, for re-sending lost queued runs")
    sweep.add_argument("--region", help="the AWS region (default: boto3's)")
    keys = commands.add_parser(
        "keys",
        help="create, list or revoke API keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = keys.add_subparsers(dest="action", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--project", required=True, help="the project the keys belong to")
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--table", help="the DynamoDB table (default: $TABLE_NAME)")
        where.add_argument("--stack", help="read the table from this stack's TableName output")
        sub.add_argument("--region", help="the AWS region (default: boto3's)")

    create = actions.add_parser("create", help="create a key; it is printed once")
    common(create)
    create.add_argument("--name", default="", help="a label to recognise the key by")
    common(actions.add_parser("list", help="list a project's keys (hashes and hints)"))
    revoke = actions.add_parser("revoke", help="revoke a key by its hash")
    common(revoke)
    revoke.add_argument("--hash", dest="key_hash", required=True, help="key_hash from `list`")
    return top


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    if args.region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
    try:
        table = resolve_table(args.table, args.stack, dict(os.environ))
        if args.command == "sweep":
            return sweep_once(args, table, out or sys.stdout)
        return run(args, services_for(table), out or sys.stdout)
    except (AdminError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
