"""`radar forget author|post` and `radar retention purge`: forget posts everywhere they are
copied (pipeline/forget.py). Each prints a JSON summary on stdout; --dry-run changes nothing."""
from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.commands.common import config_or_exit, fail, open_store, settings_or_exit

forget_app = typer.Typer(help="Forget posts on request: by author or by post id.", no_args_is_help=True)
retention_app = typer.Typer(help="The retention period of raw posts.", no_args_is_help=True)

Reason = Annotated[str | None, typer.Option(help="why (kept in the audit record)")]
Actor = Annotated[str, typer.Option(help="who asks (kept in the audit record)")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="report what would be forgotten, change nothing")]


def _run(kind, subject, reason, actor, find, dry_run: bool) -> None:
    """Resolve the posts with `find(store) -> (ids, unknown)`, forget them, print."""
    from core.forget import ForgetRequest
    from core.models import utcnow
    from pipeline.forget import forget_posts

    def work(store, config, search):
        ids, unknown = find(store)
        request = ForgetRequest(kind, actor, subject, reason, utcnow())
        return forget_posts(store, config, search, request, ids, unknown=unknown, dry_run=dry_run)
    _report(work)


def _report(work) -> None:
    """Open the store and its search index, run `work(store, config, search) -> ForgetSummary`,
    close both, print the summary; exit 1 when the search index could not be purged."""
    settings = settings_or_exit()
    config = config_or_exit(settings)
    store = open_store(settings)
    search = _search(settings, store)
    try:
        summary = work(store, config, search)
    finally:
        if search is not None:
            search.close()
        store.close()
    print(json.dumps(summary.as_dict(), ensure_ascii=False))
    if summary.search.startswith("failed"):
        raise typer.Exit(1)


def _search(settings, store):
    """The search index, or None where there is none (a PostgreSQL store without Elasticsearch)."""
    from core.search import SearchUnavailable, open_search
    try:
        return open_search(settings, store)
    except SearchUnavailable:
        return None


@forget_app.command("author")
def forget_author(
    platform: Annotated[str, typer.Option(help="the platform the author posts on (e.g. weibo)")],
    author_id: Annotated[str | None, typer.Option(help="the author's id on the platform (hashed here as crawlers hash it)")] = None,
    author_hash: Annotated[str | None, typer.Option(help="or the stored author hash directly")] = None,
    reason: Reason = None,
    actor: Actor = "operator",
    dry_run: DryRun = False,
) -> None:
    """Forget every post of one author on one platform."""
    from core.forget import ForgetError, ForgetKind, author_subject
    if (author_id is None) == (author_hash is None):
        fail("give exactly one of --author-id and --author-hash")
    try:
        platform, hashed = author_subject(platform, author_id=author_id, author_hash=author_hash,
                                          salt=settings_or_exit().author_salt)
    except ForgetError as exc:
        fail(str(exc))
    _run(ForgetKind.AUTHOR, f"{platform}:{hashed}", reason, actor,
         lambda store: (store.forget.author_posts(platform, hashed), []), dry_run)


@forget_app.command("post")
def forget_post(
    ids: Annotated[list[str], typer.Argument(help="post ids, platform:native_id")],
    reason: Reason = None,
    actor: Actor = "operator",
    dry_run: DryRun = False,
) -> None:
    """Forget the given posts; ids the store does not hold are reported, the rest forgotten."""
    from core.forget import ForgetError, ForgetKind, check_post_ids
    try:
        wanted = check_post_ids(ids)
    except ForgetError as exc:
        fail(str(exc))

    def find(store):
        held = store.forget.existing(wanted)
        return [i for i in wanted if i in held], [i for i in wanted if i not in held]
    _run(ForgetKind.POSTS, None, reason, actor, find, dry_run)


@retention_app.command("purge")
def retention_purge(
    dry_run: DryRun = False,
    actor: Actor = "retention",
) -> None:
    """Forget every post published more than retention.raw_post_days ago (config/radar.yaml)."""
    from core.models import utcnow
    from pipeline.forget import purge_retention, retention_request

    def work(store, config, search):
        request, cutoff = retention_request(config, utcnow(), actor)
        return purge_retention(store, config, search, request, cutoff, dry_run=dry_run)
    _report(work)


def register(app: typer.Typer) -> None:
    app.add_typer(forget_app, name="forget")
    app.add_typer(retention_app, name="retention")
