"""Command line for the simulator.

    python -m crawlers.simulator --seed 7 --posts 2000 --port 0
        generate a corpus and serve it; prints the base URL, runs until interrupted
    python -m crawlers.simulator generate --seed 7 --posts N --out DIR
        stream the corpus to DIR/posts.jsonl and DIR/truth.jsonl; prints the rate
"""
from __future__ import annotations

import argparse
from json.encoder import encode_basestring as _q  # the C escaper, no ASCII-fying
import sys
import time
from datetime import datetime
from pathlib import Path

from crawlers.simulator.corpus import DEFAULT_GAZETTEER, SHANGHAI, SimPost, Truth, generate

# A fixed default end keeps runs reproducible (the test suite's T0, 2026-11-20 12:00 UTC).
DEFAULT_END = "2026-11-20T20:00:00+08:00"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--posts", type=int, default=2000)
    p.add_argument("--end", default=DEFAULT_END, help="ISO time of the newest post (naive = Asia/Shanghai)")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--gazetteer", default=str(DEFAULT_GAZETTEER))


def _end(text: str) -> datetime:
    end = datetime.fromisoformat(text)
    return end.replace(tzinfo=SHANGHAI) if end.tzinfo is None else end


def _s(x: str | None) -> str:
    return "null" if x is None else _q(x)


def post_json(p: SimPost) -> str:
    """One posts.jsonl line (hand-built: json.dumps per row halves the generate rate)."""
    media = "[" + ",".join(_q(m) for m in p.media) + "]"
    return (f'{{"platform":{_q(p.platform)},"native_id":{_q(p.native_id)},"author_id":{_q(p.author_id)},'
            f'"author_name":{_q(p.author_name)},"title":{_s(p.title)},"text":{_q(p.text)},'
            f'"published_at":"{p.published_at.isoformat()}","likes":{p.likes},"comments":{p.comments},'
            f'"shares":{p.shares},"views":{p.views},"reposted_native_id":{_s(p.reposted_native_id)},'
            f'"geotag":{_s(p.geotag)},"media":{media}}}')


def truth_json(t: Truth) -> str:
    return (f'{{"post_id":{_q(t.post_id)},"relevant":{"true" if t.relevant else "false"},'
            f'"problem_id":{_s(t.problem_id)},"kind":{_q(t.kind)},"category":{_s(t.category)},'
            f'"district":{_s(t.district)},"street":{_s(t.street)}}}')


def write_corpus(seed: int, posts: int, end: datetime, out: Path, days: int = 14,
                 gazetteer: str | Path = DEFAULT_GAZETTEER) -> int:
    """Stream the corpus to out/posts.jsonl and out/truth.jsonl; returns the number written."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out / "posts.jsonl", "w", encoding="utf-8", buffering=1 << 20) as pf, \
         open(out / "truth.jsonl", "w", encoding="utf-8", buffering=1 << 20) as tf:
        for post, truth in generate(seed, posts, end, days, gazetteer):
            pf.write(post_json(post) + "\n")
            tf.write(truth_json(truth) + "\n")
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["generate"]:
        p = argparse.ArgumentParser(prog="python -m crawlers.simulator generate",
                                    description="Write posts.jsonl and truth.jsonl.")
        _common(p)
        p.add_argument("--out", required=True, type=Path)
        a = p.parse_args(argv[1:])
        started = time.perf_counter()
        n = write_corpus(a.seed, a.posts, _end(a.end), a.out, a.days, a.gazetteer)
        secs = time.perf_counter() - started
        print(f"wrote {n} posts to {a.out} in {secs:.1f} s ({n / max(secs, 1e-9):,.0f} posts/s)")
        return 0

    p = argparse.ArgumentParser(prog="python -m crawlers.simulator",
                                description="Serve a generated corpus as weibo, a Discuz forum and an RSS feed.")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args(argv)

    from crawlers.simulator.server import SimulatorServer

    end = _end(a.end)
    posts = [post for post, _ in generate(a.seed, a.posts, end, a.days, a.gazetteer)]
    with SimulatorServer(posts, now=end, host=a.host, port=a.port) as sim:
        print(sim.base_url, flush=True)
        for name in ("weibo", "jiazaishenzhen", "szrss"):
            print(f"  {name}: {sim.platform_base_url(name)}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
