"""Load: a burst of questions through the real bot, and a soak of the engine.

burst, part 1 (replies, under SimCord): 50 simulated members each ask 10 questions with /ask (500 in
all). All 500 INTERACTION_CREATE events are put in front of the bot at once (SimCord's public ``slash``
waits for each command to settle, so the burst goes through the same internals it uses: one
``base_payload`` + ``emit`` per interaction, then a single settle). Measured: the replies per
interaction (exactly one answer or one cooldown message each, counted from the REST log: the
interaction callback plus any follow-up) and the cooldown: run twice, once with COOLDOWN_QUESTIONS above
10 (all answered) and once with COOLDOWN_QUESTIONS=5 per 60 s (5 answered, 5 polite refusals per
member). SimCord's settle machinery scans every pending task on every step, so the loop stalls seen
here are mostly the harness's; they are recorded but are not the bot's figure.

burst, part 2 (the event loop, without SimCord): the same 500 questions go straight to the bot's own
/ask handler (``QA.ask``, with the command's cooldown check and the tree's error handler) on a plain
asyncio loop, all started at once, with minimal interaction objects that record the responses and when
they were made. Nothing settles or scans pending tasks, and the 1.5 s defer timer is real. Measured:
the longest time one callback held the loop (every ``Handle._run`` is timed; the task it ran is named),
how late a watchdog thread's 10 ms ticks ran (the loop's longest stall as anything else waiting on it
would see it), and the time to each interaction's first response (Discord's deadline is 3 s).

soak: N questions asked one by one against the engine with the real model, RSS (VmRSS) sampled. With
``--squad FILE`` the corpus is that SQuAD file's own articles and the questions are its questions (so
most are answered: the answer path is what is soaked); without it, the seed article and questions.

    .venv/bin/python bench/reliability_load.py burst              # real model (add --fake for the hashing one)
    .venv/bin/python bench/reliability_load.py soak --questions 10000 --every 1000 --squad ../shared/eval/squad-dev-a.json
    .venv/bin/python bench/reliability_load.py burst --direct-only   # part 2 alone, in a fresh process
Writes bench/results/load.json (load_direct.json with --direct-only) and bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SEEDS = ROOT / "seeds"
RESULTS = ROOT / "bench" / "results"


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def seed_questions() -> list[str]:
    path = ROOT / "tests" / "data" / "seed_questions.jsonl"
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


def make_encoder(fake: bool):
    if fake:
        from index.embed import HashingEncoder

        return HashingEncoder()
    from index.embed import SentenceTransformerEncoder

    return SentenceTransformerEncoder()


# ----------------------------------------------------------------------------- burst


class LoopWatchdog:
    """A thread that posts a callback to the loop every ``interval`` s and records how late it ran."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.01) -> None:
        self.loop, self.interval = loop, interval
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            ran = threading.Event()
            posted = time.perf_counter()
            self.loop.call_soon_threadsafe(ran.set)
            while not ran.wait(0.5):  # still waiting: the loop is stalled; keep measuring
                if self._stop.is_set():
                    return
            self.lags.append(time.perf_counter() - posted)
            time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join(2)
        lags = sorted(self.lags)
        if not lags:
            return {"samples": 0}
        return {"samples": len(lags), "max_stall_ms": round(lags[-1] * 1000, 1),
                "p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, 2),
                "median_ms": round(statistics.median(lags) * 1000, 3),
                "over_100ms": sum(1 for x in lags if x > 0.1), "over_1s": sum(1 for x in lags if x > 1.0)}


async def burst_once(engine, settings, *, users: int, per_user: int, label: str) -> dict:
    import simcord
    from simcord.enums import AppCommandType, InteractionType
    from simcord import actors as sim_actors
    from simcord import interactions as sim_interactions

    from bot.app import create_bot
    from bot.format import NO_ANSWER

    workdir = Path(tempfile.mkdtemp(prefix="newsqa-burst-"))
    bot = create_bot(engine, settings, records_path=workdir / "bot.sqlite")
    questions = seed_questions()
    rng = random.Random(42)
    async with simcord.run(bot, settle_timeout=600.0) as env:
        await bot.sync_commands(None)
        guild = env.create_guild()
        channel = guild.create_text_channel("general")
        members = [guild.add_member(env.create_user(f"member{i:02d}")) for i in range(users)]
        root = sim_actors._resolve_visible_command(members[0], channel.id, "ask", AppCommandType.CHAT_INPUT)
        leaf, _nesting = sim_interactions.walk_to_subcommand(root, [])
        asked: list[tuple[object, object, str]] = []
        order = [m for m in members for _ in range(per_user)]
        rng.shuffle(order)  # interleave the members, as a real burst would
        loop = asyncio.get_running_loop()
        dog = LoopWatchdog(loop)
        rss_before = rss_mib()
        started = time.perf_counter()
        dog.start()
        env._begin_operation("burst")
        try:
            for member in order:
                q = rng.choice(questions)
                options, _resolved = sim_interactions.build_options(member, "ask", leaf, {"question": q},
                                                                    channel_id=channel.id)
                data = {"id": root["id"], "name": root["name"], "type": AppCommandType.CHAT_INPUT,
                        "options": options}
                record, payload = sim_interactions.base_payload(
                    env.backend, type=InteractionType.APPLICATION_COMMAND, channel_id=channel.id,
                    guild_id=guild.id, user_id=member.id, data=data)
                env.backend.emit("INTERACTION_CREATE", payload)
                asked.append((member, record, q))
            await env._settle_internal(dispatch="INTERACTION_CREATE", timeout=600.0)
        finally:
            env._end_operation()
        seconds = time.perf_counter() - started
        stall = dog.stop()
        per_token: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for req in env.http_requests:
            parts = req.path.strip("/").split("/")
            if req.method == "POST" and len(parts) >= 4 and parts[0] == "interactions" and parts[3] == "callback":
                kind = (req.json or {}).get("type")
                per_token[parts[2]]["defer" if kind == 5 else "message" if kind == 4 else f"callback{kind}"] += 1
            elif req.method == "POST" and len(parts) >= 3 and parts[0] == "webhooks":
                per_token[parts[2]]["followup"] += 1
            elif req.method == "PATCH" and len(parts) >= 3 and parts[0] == "webhooks":
                per_token[parts[2]]["edit"] += 1
        outcomes = collections.Counter()
        replies_per_interaction = collections.Counter()
        by_member: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
        problems = []
        for member, record, q in asked:
            counts = per_token.get(record.token, collections.Counter())
            visible = counts["message"] + counts["followup"]  # a defer alone is "thinking…", not a reply
            replies_per_interaction[visible] += 1
            result = simcord.InteractionResult(env, record) if hasattr(simcord, "InteractionResult") else None
            msg = result.response if result is not None else None
            content = (msg.content or "") if msg is not None else ""
            if msg is None:
                kind = "no reply"
            elif "faster than I can keep up" in content:
                kind = "cooldown message (private)" if msg.ephemeral else "cooldown message (PUBLIC)"
            elif msg.embeds:
                kind = "answer embed"
            elif content.startswith(NO_ANSWER):
                kind = "declined (no answer)"
            else:
                kind = "other: " + content[:60]
            outcomes[kind] += 1
            by_member[member.id][kind] += 1
            if visible != 1:
                problems.append({"member": member.id, "question": q, "requests": dict(counts), "kind": kind})
        answered_per_member = collections.Counter(
            sum(v for k, v in c.items() if not k.startswith("cooldown")) for c in by_member.values())
        refused_per_member = collections.Counter(
            sum(v for k, v in c.items() if k.startswith("cooldown")) for c in by_member.values())
        deferred = sum(1 for _, r, _ in asked if per_token.get(r.token, {}).get("defer"))
        env.errors  # noqa: B018 - reading acknowledges the cooldown refusals that went to the error handler
    await asyncio.sleep(0)
    result = {
        "label": label, "users": users, "questions_per_user": per_user, "questions": len(asked),
        "cooldown_questions": settings.cooldown_questions, "cooldown_seconds": settings.cooldown_seconds,
        "seconds": round(seconds, 2), "questions_per_second": round(len(asked) / seconds, 1),
        "replies_per_interaction": {str(k): v for k, v in sorted(replies_per_interaction.items())},
        "exactly_one_reply": replies_per_interaction.get(1, 0),
        "deferred": deferred, "outcomes": dict(outcomes),
        "answered_per_member": {str(k): v for k, v in sorted(answered_per_member.items())},
        "cooldown_refusals_per_member": {str(k): v for k, v in sorted(refused_per_member.items())},
        "event_loop_with_simcord_settling": stall, "rss_mib_before": rss_before, "rss_mib_after": rss_mib(), "load": loadavg(),
        "problems": problems[:20],
    }
    print(json.dumps({k: v for k, v in result.items() if k != "problems"}, indent=1), flush=True)
    return result


# ----------------------------------------------------------------------------- burst without SimCord


class CallbackTimer:
    """Times every callback the loop runs (``asyncio.events.Handle._run``): the longest one is how long
    the loop was held at once. Each is named by the task whose step it ran, or by its callback."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self.worst: list[tuple[float, float, float, str]] = []  # wall s, loop-thread CPU s, at s, name
        self.gc_pauses: list[float] = []
        self._orig = None
        self._gc_started = 0.0

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif threading.current_thread() is threading.main_thread():
            self.gc_pauses.append(time.perf_counter() - self._gc_started)

    @staticmethod
    def _name(handle) -> str:  # noqa: ANN001
        cb = handle._callback
        task = getattr(cb, "__self__", None)
        if isinstance(task, asyncio.Task):
            coro = task.get_coro()
            chain = []
            while coro is not None and len(chain) < 6:
                code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
                if code is None:
                    break
                chain.append(code.co_qualname)
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            return "task " + " > ".join(chain)
        return getattr(cb, "__qualname__", None) or type(cb).__name__

    def start(self) -> None:
        timer, orig = self, asyncio.events.Handle._run
        self._orig = orig
        self.t0 = time.perf_counter()
        gc.callbacks.append(self._gc)

        def timed(handle) -> None:  # noqa: ANN001
            t, cpu = time.perf_counter(), time.thread_time()
            orig(handle)
            took = time.perf_counter() - t
            timer.durations.append(took)
            if took > 0.02:
                timer.worst.append((took, time.thread_time() - cpu, t - timer.t0, timer._name(handle)))

        asyncio.events.Handle._run = timed

    def stop(self) -> dict:
        asyncio.events.Handle._run = self._orig
        gc.callbacks.remove(self._gc)
        d = sorted(self.durations)
        worst = sorted(self.worst, reverse=True)[:8]
        gcp = sorted(self.gc_pauses)
        return {"callbacks": len(d), "longest_ms": round(d[-1] * 1000, 1) if d else None,
                "p99_ms": round(d[int(0.99 * (len(d) - 1))] * 1000, 3) if d else None,
                "over_50ms": sum(1 for x in d if x > 0.05), "over_100ms": sum(1 for x in d if x > 0.1),
                "over_1s": sum(1 for x in d if x > 1.0),
                "gc_collections_on_loop_thread": len(gcp),
                "longest_gc_ms": round(gcp[-1] * 1000, 1) if gcp else None,
                # cpu_ms: what the loop thread itself computed during the callback; the rest of the
                # wall time it was waiting for the CPU (the GIL held by a worker thread, or the OS).
                "worst": [{"ms": round(t * 1000, 1), "cpu_ms": round(c * 1000, 1), "at_s": round(at, 3),
                           "what": name[:200]} for t, c, at, name in worst]}


class _Response:
    def __init__(self, it: "BurstInteraction") -> None:
        self.it, self._done = it, False

    def is_done(self) -> bool:
        return self._done

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        if self._done:
            raise RuntimeError("interaction already responded to")
        self._done = True
        self.it.record("defer", ephemeral=ephemeral)

    async def send_message(self, content=None, **kwargs) -> None:  # noqa: ANN001, ANN003
        if self._done:
            raise RuntimeError("interaction already responded to")
        self._done = True
        self.it.record("message", content=content, **kwargs)
        await asyncio.sleep(0)  # a real send is a network round-trip; the loop is free meanwhile


class _Followup:
    def __init__(self, it: "BurstInteraction") -> None:
        self.it = it

    async def send(self, content=None, **kwargs) -> None:  # noqa: ANN001, ANN003
        self.it.record("followup", content=content, **kwargs)
        await asyncio.sleep(0)


class BurstInteraction:
    """What the /ask handler, its cooldown check and the error handler use of a discord.Interaction."""

    def __init__(self, client, guild_id: int, channel_id: int, user_id: int, t0: float) -> None:  # noqa: ANN001
        from types import SimpleNamespace

        self.client, self.guild_id, self.channel_id, self.t0 = client, guild_id, channel_id, t0
        self.user = SimpleNamespace(id=user_id, bot=False, mention=f"<@{user_id}>", name=f"member{user_id}")
        self.response, self.followup = _Response(self), _Followup(self)
        self.events: list[tuple[str, float, dict]] = []

    def record(self, kind: str, **kwargs) -> None:  # noqa: ANN003
        self.events.append((kind, time.perf_counter() - self.t0, kwargs))

    async def edit_original_response(self, **kwargs) -> None:  # noqa: ANN003
        self.record("edit", **kwargs)


async def burst_direct(engine, settings, *, users: int, per_user: int) -> dict:
    from bot.app import create_bot
    from bot.format import NO_ANSWER

    workdir = Path(tempfile.mkdtemp(prefix="newsqa-burst-direct-"))
    bot = create_bot(engine, settings, records_path=workdir / "bot.sqlite")
    await bot.setup_hook()  # loads the cogs (no login: nothing is synced)
    cog = bot.get_cog("QA")
    command = cog.ask
    guild_id, channel_id = 1001, 2002
    await bot.corpus_ready(guild_id)  # the server's corpus exists before the burst, as in part 1
    questions = seed_questions()
    rng = random.Random(42)
    order = [u for u in range(users) for _ in range(per_user)]
    rng.shuffle(order)

    async def one(it: BurstInteraction, question: str) -> None:
        try:
            for check in command.checks:
                if not await discord_utils_maybe_coroutine(check, it):
                    raise RuntimeError("check failed")
            await command.callback(cog, it, question)
        except Exception as exc:  # noqa: BLE001 - the tree's own error handler answers it, as in the bot
            await bot.tree.on_error(it, exc)

    loop = asyncio.get_running_loop()
    dog, timer = LoopWatchdog(loop), CallbackTimer()
    rss_before = rss_mib()
    dog.start()
    await asyncio.sleep(0.2)  # a few idle ticks first
    timer.start()
    t0 = time.perf_counter()
    interactions = [(BurstInteraction(bot, guild_id, channel_id, 10_000 + u, t0), rng.choice(questions)) for u in order]
    tasks = [loop.create_task(one(it, q)) for it, q in interactions]
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - t0
    callbacks = timer.stop()
    stall = dog.stop()
    outcomes = collections.Counter()
    visible = collections.Counter()
    first = []
    for it, _q in interactions:
        shown = [e for e in it.events if e[0] in ("message", "followup", "edit")]
        visible[len(shown)] += 1
        first.append(it.events[0][1] if it.events else float("inf"))
        kw = shown[0][2] if shown else {}
        content = kw.get("content") or ""
        if not shown:
            kind = "no reply"
        elif "faster than I can keep up" in content:
            kind = "cooldown message (private)" if kw.get("ephemeral") else "cooldown message (PUBLIC)"
        elif kw.get("embeds"):
            kind = "answer embed"
        elif content.startswith(NO_ANSWER):
            kind = "declined (no answer)"
        else:
            kind = "other: " + content[:60]
        outcomes[kind] += 1
    first.sort()
    bot.records.close()
    result = {
        "label": "direct to the /ask handler, no SimCord (COOLDOWN_QUESTIONS=%d)" % settings.cooldown_questions,
        "questions": len(interactions), "seconds": round(seconds, 2),
        "questions_per_second": round(len(interactions) / seconds, 1),
        "visible_replies_per_interaction": {str(k): v for k, v in sorted(visible.items())},
        "outcomes": dict(outcomes),
        "deferred": sum(1 for it, _ in interactions if it.events and it.events[0][0] == "defer"),
        "first_response_s": {"median": round(statistics.median(first), 3), "max": round(first[-1], 3),
                             "over_3s": sum(1 for x in first if x > 3.0)},
        "longest_callback": callbacks, "watchdog": stall,
        "rss_mib_before": rss_before, "rss_mib_after": rss_mib(), "load": loadavg(),
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


async def discord_utils_maybe_coroutine(fn, *args):  # noqa: ANN001, ANN002, ANN201
    from discord.utils import maybe_coroutine

    return await maybe_coroutine(fn, *args)


def burst(args) -> None:
    from bot.settings import Settings
    from index.engine import Engine, EngineSettings

    load_start = loadavg()
    encoder = make_encoder(args.fake)
    index_dir = Path(tempfile.mkdtemp(prefix="newsqa-load-")) / "index"
    engine = Engine(index_dir, encoder, EngineSettings(seeds_dir=SEEDS))
    engine.ensure("default")
    base = Settings(index_dir=index_dir, seeds_dir=SEEDS)
    if args.direct_only:  # part 2 alone, in a process that has run nothing else (as a freshly started bot)
        settings = replace(base, cooldown_questions=args.per_user + 5, cooldown_seconds=60.0)
        direct = asyncio.run(burst_direct(engine, settings, users=args.users, per_user=args.per_user))
        engine.close()
        out = {"command": " ".join([sys.executable, *sys.argv]), "encoder": encoder.name,
               "load_average_start": load_start, "load_average_end": loadavg(), "cores": os.cpu_count(),
               "event_loop_without_simcord": direct}
        (RESULTS / "load_direct.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {RESULTS / 'load_direct.json'}")
        return
    runs = []
    for label, rate in (("no cooldown reached (COOLDOWN_QUESTIONS=%d)" % (args.per_user + 5), args.per_user + 5),
                        ("cooldown (COOLDOWN_QUESTIONS=5 per 60 s)", 5)):
        settings = replace(base, cooldown_questions=rate, cooldown_seconds=60.0)
        runs.append(asyncio.run(burst_once(engine, settings, users=args.users, per_user=args.per_user, label=label)))
    settings = replace(base, cooldown_questions=args.per_user + 5, cooldown_seconds=60.0)
    direct = asyncio.run(burst_direct(engine, settings, users=args.users, per_user=args.per_user))
    engine.close()
    out = {"command": " ".join([sys.executable, *sys.argv]), "encoder": encoder.name,
           "load_average_start": load_start, "load_average_end": loadavg(), "cores": os.cpu_count(),
           "runs": runs, "event_loop_without_simcord": direct}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS / 'load.json'}")


# ----------------------------------------------------------------------------- soak


def write_soak(args, encoder, pool, corpus_info, answered, errors, latencies, samples, load_start, *,
               done: bool) -> dict:
    """Write soak.json (also after every sample, so an interrupted soak still leaves its figures)."""
    growth = samples[-1]["rss_mib"] - samples[1]["rss_mib"] if len(samples) > 2 else None
    out = {"command": " ".join([sys.executable, *sys.argv]), "encoder": encoder.name,
           "questions_planned": args.questions, "questions_done": len(latencies), "finished": done,
           **corpus_info, "pool": len(pool), "answered": answered,
           "answered_share": round(answered / max(len(latencies), 1), 3), "errors": errors,
           "rss_mib_start": samples[0]["rss_mib"], "rss_mib_end": samples[-1]["rss_mib"],
           "rss_growth_after_first_block_mib": growth,
           "median_ms": round(statistics.median(latencies) * 1000, 2),
           "p99_ms": round(sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1000, 2),
           "torch_threads": _torch_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
           "load_average_start": load_start, "load_average_end": loadavg(), "cores": os.cpu_count(),
           "samples": samples}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _torch_threads() -> int | None:
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return None


def soak(args) -> None:
    from index.engine import Engine, EngineSettings

    load_start = loadavg()
    encoder = make_encoder(args.fake)
    index_dir = Path(tempfile.mkdtemp(prefix="newsqa-soak-")) / "index"
    engine = Engine(index_dir, encoder, EngineSettings(seeds_dir=SEEDS))
    corpus_info: dict = {}
    started = time.perf_counter()
    if args.squad:
        # The SQuAD file's own articles are the corpus, so most of its questions are answered.
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from eval_squad import load_squad

        docs, questions = load_squad(args.squad)
        corpus = "squad"
        report = engine.add(docs, corpus=corpus)
        pool = [q.text for q in questions]
        corpus_info = {"corpus": f"{len(docs)} articles of {args.squad.name}", "documents": report.documents,
                       "sentences": report.sentences}
    else:
        corpus = "default"
        engine.ensure(corpus)
        pool = seed_questions()
        corpus_info = {"corpus": "the seed article", "documents": 1, "sentences": engine.stats().sentences}
    corpus_info["build_seconds"] = round(time.perf_counter() - started, 1)
    print(f"soak corpus: {corpus_info}", flush=True)
    rng = random.Random(7)
    for q in pool[:50]:  # warm up: first calls allocate the model's buffers
        engine.ask(q, corpus=corpus)
    gc.collect()
    samples = [{"questions": 0, "rss_mib": rss_mib(), "load": loadavg(), "seconds": 0.0}]
    print(f"soak: {args.questions} questions from a pool of {len(pool)}; RSS at start {samples[0]['rss_mib']} MiB, "
          f"load {samples[0]['load']}", flush=True)
    started = time.perf_counter()
    answered = errors = 0
    latencies = []
    for i in range(1, args.questions + 1):
        q = pool[rng.randrange(len(pool))]
        if rng.random() < 0.3:  # vary the wording so the same string is not asked again and again
            q = f"{q} ({rng.randrange(10_000)})"
        t = time.perf_counter()
        try:
            answered += engine.ask(q, corpus=corpus).answered
        except Exception:  # noqa: BLE001 - counted; a soak must not stop at one bad question
            errors += 1
        latencies.append(time.perf_counter() - t)
        if i % args.every == 0 or i == args.questions:
            s = {"questions": i, "rss_mib": rss_mib(), "load": loadavg(),
                 "seconds": round(time.perf_counter() - started, 1), "answered": answered,
                 "median_ms_last_block": round(statistics.median(latencies[-args.every:]) * 1000, 2)}
            samples.append(s)
            print(json.dumps(s), flush=True)
            write_soak(args, encoder, pool, corpus_info, answered, errors, latencies, samples, load_start,
                       done=i == args.questions)
    engine.close()
    out = write_soak(args, encoder, pool, corpus_info, answered, errors, latencies, samples, load_start, done=True)
    print(json.dumps({k: v for k, v in out.items() if k != "samples"}, indent=1))
    print(f"wrote {RESULTS / 'soak.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("burst", help="500 questions from 50 members through the bot under SimCord")
    b.add_argument("--users", type=int, default=50)
    b.add_argument("--per-user", type=int, default=10)
    b.add_argument("--fake", action="store_true", help="the hashing encoder instead of the real model")
    b.add_argument("--direct-only", action="store_true",
                   help="only part 2, in a fresh process (writes bench/results/load_direct.json)")
    s = sub.add_parser("soak", help="many questions against the engine, RSS sampled")
    s.add_argument("--questions", type=int, default=20_000)
    s.add_argument("--every", type=int, default=2_000)
    s.add_argument("--squad", type=Path, default=None,
                   help="a SQuAD json: its articles become the corpus and its questions are asked")
    s.add_argument("--fake", action="store_true")
    args = parser.parse_args()
    burst(args) if args.what == "burst" else soak(args)


if __name__ == "__main__":
    main()
