"""Shared helpers for the benchmark scripts: machine info, timing, stage breakdowns, corpora, output.

Benchmarks are scripts that print figures (see docs/STYLE.md), never timed assertions in tests.
Every script prints a table and writes ``bench/results/<name>.json`` with the machine it ran on,
the exact command and the load average before and after, because this 2-core machine is shared
and a busy neighbour can double a figure.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import platform
import random
import re
import shlex
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SEED_ARTICLE = ROOT / "seeds" / "nato-defense-ministers.txt"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Above this 1-minute load average (on 2 cores) figures are flagged as taken on a busy machine.
BUSY_LOAD = 1.5


# ----------------------------------------------------------------------------- machine and output


def rss_mb() -> dict[str, float]:
    """Current and peak resident set size of this process, in MiB (from /proc: no psutil here)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out["rss_mib" if key == "VmRSS" else "peak_rss_mib"] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, Any]:
    """Cores, thread pools, library versions, date and the exact command, for the JSON output."""
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "cwd": os.getcwd(),
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM")},
        "load_average_start": load_average(),
    }
    try:
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0]
        info["memory"] = " ".join(mem.split()[1:])
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "faiss", "bm25s", "torch", "sentence_transformers", "transformers", "onnxruntime", "tokenizers",
                "pysbd"):
        try:
            versions[mod] = getattr(__import__(mod), "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - an optional library: record why it is missing
            versions[mod] = f"unavailable ({type(exc).__name__})"
    info["versions"] = versions
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    except Exception:  # noqa: BLE001
        info["torch_threads"] = None
    try:
        import faiss

        info["faiss_omp_threads"] = faiss.omp_get_max_threads()
    except Exception:  # noqa: BLE001
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpoolctl"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "architecture", "prefix")}
            for p in threadpool_info()
        ]
    except Exception as exc:  # noqa: BLE001
        info["threadpoolctl"] = f"unavailable ({exc})"
    return info


def finish_info(info: dict[str, Any]) -> dict[str, Any]:
    """Add the end-of-run load average and a busy-machine flag."""
    info["load_average_end"] = load_average()
    worst = max(info["load_average_start"][0], info["load_average_end"][0])
    info["busy_machine"] = worst > BUSY_LOAD
    if info["busy_machine"]:
        info["note"] = (f"1-min load average reached {worst} on {info['cores']} cores: other jobs were running, "
                        "absolute times are inflated; ratios measured side by side are more trustworthy")
    return info


def write_results(name: str, payload: dict[str, Any], out: Path | None = None) -> Path:
    """Write JSON atomically to bench/results/<name>.json (or ``out``)."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def print_table(rows: Sequence[Sequence[Any]], headers: Sequence[str], title: str | None = None) -> str:
    """Print a plain text table (right-aligned numbers) and return it."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(str(h).ljust(w) for h, w in zip(headers, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths)))
    text = "\n".join(lines)
    print(text + "\n", flush=True)
    return text


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
    return str(value)


def _numeric(cell: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,.]+(%|x| ms| s)?", cell))


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    if not values:
        return float("nan")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 3) if ms else None,
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else None,
        "max_ms": round(max(ms), 3) if ms else None,
    }


# ----------------------------------------------------------------------------- stage timing


class StageTimer:
    """Wraps functions and methods of the core in place to add up the time spent in each.

    Only this benchmark process is affected; ``restore()`` (or the context manager) undoes every
    patch. Times are inclusive: a stage that calls another contains it (the scripts say which).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def _wrap(self, stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t
                self.calls[stage] += 1

        return timed

    def patch(self, owner: Any, attr: str, stage: str) -> None:
        """Time ``owner.attr`` (a module function, a class's method or classmethod, or an instance's).

        ``owner.np`` (a module's numpy) is replaced by a proxy timing only ``np.save``, so that
        numpy calls made inside other libraries (bm25s saves with numpy too) are not counted.
        """
        raw = owner.__dict__.get(attr) if hasattr(owner, "__dict__") else None
        if attr == "np":
            setattr(owner, attr, _NumpySaveProxy(raw, self._wrap(stage, raw.save)))
        elif isinstance(raw, classmethod):
            wrapped = self._wrap(stage, getattr(owner, attr))  # bound to the class already
            setattr(owner, attr, staticmethod(wrapped))
        elif isinstance(raw, staticmethod):
            setattr(owner, attr, staticmethod(self._wrap(stage, raw.__func__)))
        elif raw is not None:
            setattr(owner, attr, self._wrap(stage, raw))
        else:  # inherited or an instance attribute: set it on the owner directly
            setattr(owner, attr, self._wrap(stage, getattr(owner, attr)))
        self._undo.append(lambda: setattr(owner, attr, raw) if raw is not None else delattr(owner, attr))

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t
            self.calls[name] += 1

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> StageTimer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


class _NumpySaveProxy:
    def __init__(self, module: Any, save: Callable) -> None:
        self._module = module
        self.save = save

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def patch_write_path(timer: StageTimer) -> None:
    """Time every stage of Engine.build/add and _write_generation (see index/engine.py)."""
    import faiss

    import index.backend as backend
    import index.documents as documents
    import index.engine as engine
    import index.lexical as lexical
    import index.store as store
    from index.embed import EmbeddingCache
    from index.lexical import LexicalIndex
    from index.search import CorpusIndex

    timer.patch(engine, "load_path", "load documents (read + segment)")
    timer.patch(documents, "split_sentences", "segmentation: sentences")
    timer.patch(documents, "split_paragraphs", "segmentation: paragraphs")
    timer.patch(engine.Engine, "_current_docs", "read current generation back")
    timer.patch(store.CorpusDir, "stage", "stage source changes (json + fsync)")
    timer.patch(EmbeddingCache, "embed", "embedding (cache + encode)")
    timer.patch(engine, "extract_figures", "figures extraction")
    timer.patch(engine, "write_tables", "sqlite tables")
    timer.patch(backend, "np", "numpy .npy files")  # a proxy: only the backend's np.save is timed
    timer.patch(engine, "group_means", "paragraph/document mean vectors")
    timer.patch(backend, "make_faiss_index", "faiss index build")
    timer.patch(backend, "extended_hnsw", "faiss: extend the live HNSW graph (read, check, add)")
    timer.patch(faiss, "write_index", "faiss write")
    timer.patch(LexicalIndex, "build", "bm25 build")
    timer.patch(lexical, "_tokenize", "bm25 tokenize")
    timer.patch(engine, "file_table", "manifest checksums (CRC-32 of every file)")
    timer.patch(engine, "sentence_traits", "sentence traits (regexes)")
    timer.patch(engine, "heading_flags", "heading flags")
    timer.patch(engine, "context_texts", "context texts")
    timer.patch(engine, "_fingerprint", "text fingerprints (dedupe)")
    timer.patch(engine.Engine, "_current_figures", "read current figures back")
    timer.patch(LexicalIndex, "save", "bm25 save")
    timer.patch(store, "fsync_tree", "fsync generation")
    timer.patch(store, "atomic_write", "small atomic writes (manifest, CURRENT, state)")
    timer.patch(CorpusIndex, "load", "load new generation")
    timer.patch(store.CorpusDir, "collect_garbage", "garbage collection of old generations")


# stage -> the stage that contains it (for "of which" rows and exclusive sums)
NESTED = {
    "segmentation: sentences": "load documents (read + segment)",
    "segmentation: paragraphs": "load documents (read + segment)",
    "model encode": "embedding (cache + encode)",
    "bm25 tokenize": "bm25 build",
}


def breakdown_rows(seconds: dict[str, float], total: float, per: float = 1.0) -> list[list[Any]]:
    """Rows (stage, seconds, % of total) with nested stages indented, plus 'other' for the rest."""
    rows = []
    top = {k: v for k, v in seconds.items() if k not in NESTED}
    for stage, secs in sorted(top.items(), key=lambda kv: -kv[1]):
        rows.append([stage, secs / per, f"{100 * secs / total:.1f}%"])
        for child, parent in NESTED.items():
            if parent == stage and child in seconds:
                rows.append(["  of which " + child, seconds[child] / per, f"{100 * seconds[child] / total:.1f}%"])
    other = total - sum(top.values())
    rows.append(["other (python glue, dedupe, arrays)", other / per, f"{100 * other / total:.1f}%"])
    rows.append(["TOTAL", total / per, "100%"])
    return rows


# ----------------------------------------------------------------------------- text corpora

_PEOPLE = ["Mark Rutte", "Ursula von der Leyen", "Antony Blinken", "Olaf Scholz", "Emmanuel Macron",
           "Keir Starmer", "Giorgia Meloni", "Pete Hegseth", "Kaja Kallas", "Jens Stoltenberg",
           "Donald Tusk", "Pedro Sanchez", "Mette Frederiksen", "Justin Trudeau", "Fumio Kishida",
           "Janet Yellen", "Christine Lagarde", "Jerome Powell", "Andrew Bailey", "Xi Jinping"]
_ROLES = ["the prime minister", "the finance minister", "the defense minister", "a senior official",
          "the central bank governor", "the foreign minister", "a government spokesperson", "the chief executive",
          "the opposition leader", "an EU diplomat", "the health minister", "the trade commissioner"]
_PLACES = ["Brussels", "Berlin", "Paris", "Warsaw", "Kyiv", "Washington", "London", "Rome", "Madrid",
           "Tokyo", "Ottawa", "Vilnius", "Helsinki", "Geneva", "The Hague", "Beijing", "Ankara", "Oslo"]
_ORGS = ["NATO", "the European Union", "the IMF", "the World Bank", "the United Nations", "the ECB",
         "the Federal Reserve", "the OECD", "the G7", "the European Commission", "the WHO", "OPEC"]
_TOPICS = ["defense spending", "energy prices", "inflation", "interest rates", "military aid", "trade tariffs",
           "migration policy", "climate targets", "public debt", "housing costs", "grain exports",
           "semiconductor supply", "air defense systems", "fiscal rules", "wage growth", "cyber security",
           "shipbuilding capacity", "gas storage", "vaccine procurement", "border controls"]
_VERBS = ["agreed to raise", "pledged to cut", "warned against", "called for a review of", "announced new limits on",
          "signed a deal on", "rejected calls to freeze", "proposed to double", "promised to accelerate",
          "voted to extend", "questioned the cost of", "unveiled a plan to overhaul"]
_UNITS = ["billion dollars", "million euros", "percent of GDP", "billion euros", "tonnes", "percent",
          "million barrels a day", "basis points", "thousand troops", "million people"]
_DAYS = ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "over the weekend",
         "last week", "earlier this month", "in January", "in March", "in the third quarter", "late on Sunday"]
_TAILS = ["according to figures published by the ministry", "citing people familiar with the matter",
          "in a statement released after the meeting", "despite objections from several member states",
          "amid growing pressure from markets", "after months of negotiations",
          "which analysts said could take years to implement", "a move welcomed by industry groups",
          "though details remain unclear", "as lawmakers prepare for a crucial vote"]
_TEMPLATES = [
    "{person} said {day} that {org} had {verb} {topic}.",
    "{Role} told reporters in {place} that {topic} would rise by {num} {unit} this year, {tail}.",
    "{org_c} {verb} {topic} {day}, {tail}.",
    "“We need to act on {topic} now,” {person} said in {place}.",
    "The figure for {topic} reached {num} {unit} in {year}, up from {num2} {unit} a year earlier.",
    "Officials in {place} {verb} {topic}, {tail}.",
    "{person}, {role}, {verb} {topic} at a summit in {place} {day}.",
    "Spending on {topic} is expected to climb to {num} {unit} by {year}, {role} said.",
    "Critics argued that the plan on {topic} was too timid, while supporters said it was {adj}.",
    "{org_c} estimates that {topic} will cost about {num} {unit} over the next {small} years.",
    "{person} met {person2} in {place} {day} to discuss {topic} and {topic2}.",
    "Markets reacted calmly, with {topic} falling {small}.{digit}% after the announcement, {tail}.",
]
_ADJ = ["long overdue", "a realistic compromise", "the best available option", "fiscally responsible",
        "an important first step", "necessary to restore confidence"]


def synthetic_sentence(rng: random.Random) -> str:
    """A news-like sentence with realistic vocabulary, names, places and figures."""
    tpl = rng.choice(_TEMPLATES)
    org = rng.choice(_ORGS)
    role = rng.choice(_ROLES)
    s = tpl.format(
        person=rng.choice(_PEOPLE), person2=rng.choice(_PEOPLE), role=role, Role=role[0].upper() + role[1:],
        place=rng.choice(_PLACES), org=org, org_c=org[0].upper() + org[1:], topic=rng.choice(_TOPICS),
        topic2=rng.choice(_TOPICS), verb=rng.choice(_VERBS), unit=rng.choice(_UNITS), day=rng.choice(_DAYS),
        tail=rng.choice(_TAILS), adj=rng.choice(_ADJ), num=f"{rng.randint(2, 950)}", num2=f"{rng.randint(2, 950)}",
        year=rng.randint(2015, 2030), small=rng.randint(2, 9), digit=rng.randint(0, 9),
    )
    return s


def synthetic_articles(n_sentences: int, *, seed: int = 7, per_article: int = 30, per_paragraph: int = 3,
                       include_seed: bool = True) -> list[tuple[str, str]]:
    """(title, text) articles holding about ``n_sentences`` unique sentences in total.

    The seed article comes first (real news text); the rest are synthetic articles of
    ``per_article`` sentences in paragraphs of ``per_paragraph`` sentences separated by blank lines.
    """
    rng = random.Random(seed)
    articles: list[tuple[str, str]] = []
    total = 0
    if include_seed and SEED_ARTICLE.exists():
        text = SEED_ARTICLE.read_text(encoding="utf-8")
        articles.append(("NATO defense ministers", text))
        total += len(re.findall(r"[.!?][”\"]?(\s|$)", text))
    seen: set[str] = set()
    k = 0
    while total < n_sentences:
        k += 1
        count = min(per_article, n_sentences - total)
        sents = []
        while len(sents) < count:
            s = synthetic_sentence(rng)
            if s not in seen:
                seen.add(s)
                sents.append(s)
        paras = [" ".join(sents[i : i + per_paragraph]) for i in range(0, len(sents), per_paragraph)]
        title = f"Synthetic report {k}: {rng.choice(_TOPICS)} in {rng.choice(_PLACES)}"
        articles.append((title, title + "\n\n" + "\n\n".join(paras) + "\n"))
        total += count + 1  # the title line is a sentence too
    return articles


def squad_articles(path: Path, n_sentences: int | None = None, chars_per_sentence: int = 130) -> list[tuple[str, str]]:
    """(title, text) per SQuAD article, paragraphs joined by a blank line (as ../shared/eval/README.md says).

    With ``n_sentences``, paragraphs are taken in order until about that many sentences (estimated
    from the characters, ~130 per sentence in SQuAD dev) are in; the last article may be cut short.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    budget = None if n_sentences is None else n_sentences * chars_per_sentence
    out = []
    used = 0
    for art in data:
        paras = []
        for p in art["paragraphs"]:
            if budget is not None and used >= budget:
                break
            paras.append(p["context"].strip())
            used += len(p["context"])
        if paras:
            out.append((art["title"].replace("_", " "), "\n\n".join(paras) + "\n"))
        if budget is not None and used >= budget:
            break
    return out


def squad_questions(path: Path, limit: int | None = None) -> list[str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    qs = [qa["question"] for art in data for p in art["paragraphs"] for qa in p["qas"]]
    return qs[:limit] if limit else qs


def text_file_articles(path: Path, n_sentences: int | None = None, chars_per_article: int = 4000,
                       chars_per_sentence: int = 130) -> list[tuple[str, str]]:
    """Cut a plain text file into articles of whole blank-line paragraphs, about ``chars_per_article`` each."""
    text = Path(path).read_text(encoding="utf-8")
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    budget = None if n_sentences is None else n_sentences * chars_per_sentence
    out, cur, used = [], [], 0
    for p in paras:
        if budget is not None and used >= budget:
            break
        cur.append(p)
        used += len(p)
        if sum(map(len, cur)) >= chars_per_article:
            out.append((f"{Path(path).stem} part {len(out) + 1}", "\n\n".join(cur) + "\n"))
            cur = []
    if cur:
        out.append((f"{Path(path).stem} part {len(out) + 1}", "\n\n".join(cur) + "\n"))
    return out


def write_articles(folder: Path, articles: Sequence[tuple[str, str]]) -> list[Path]:
    """Write articles as .txt files (with a title sidecar) in ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (title, text) in enumerate(articles):
        path = folder / f"article-{i:05d}.txt"
        path.write_text(text, encoding="utf-8")
        (folder / f"article-{i:05d}.txt.meta.json").write_text(json.dumps({"title": title}), encoding="utf-8")
        paths.append(path)
    return paths


QUESTIONS = [
    "Who is the NATO Secretary General?",
    "What did NATO defense ministers agree on regarding Ukraine?",
    "How much did European allies and Canada invest in defense in 2024?",
    "What share of GDP should allies spend on defense?",
    "What did Donald Trump say about peace talks?",
    "How many allies spend at least 2% of GDP on defense?",
    "What did the finance minister say about inflation?",
    "When will interest rates be cut?",
    "Which countries signed the deal on grain exports?",
    "How much will the plan on air defense systems cost?",
    "What did the central bank governor warn about wage growth?",
    "Who met in Warsaw to discuss military aid?",
    "Why did critics say the climate plan was too timid?",
    "How did markets react to the announcement on energy prices?",
    "What is the IMF forecast for public debt?",
    "Did the European Commission propose new border controls?",
    "How many troops will be sent to the eastern flank?",
    "What did the prime minister announce about housing costs?",
    "Which ministry published the figures on gas storage?",
    "What are the new limits on semiconductor supply?",
    "How much did spending on cyber security rise last year?",
    "What did officials in Brussels say about trade tariffs?",
    "Who rejected calls to freeze migration policy?",
    "Is shipbuilding capacity expected to grow by 2030?",
    "What did the opposition leader say about fiscal rules?",
    "How long will the vaccine procurement programme take?",
    "What was agreed at the summit in Vilnius?",
    "Why are some European allies concerned about concessions to Russia?",
    "What does Rutte want defense spending to exceed?",
    "How much did OPEC cut production by?",
    "What did the health minister promise?",
    "Who said the outcome of the talks would not be decided overnight?",
    "What did the trade commissioner unveil on Thursday?",
    "How much money was pledged for military aid to Ukraine?",
    "What is the target for defense production in Europe?",
    "Which country voted to extend the energy subsidies?",
    "What did analysts say about the cost of the programme?",
    "What is the growth forecast of the OECD for next year?",
    "What did the Federal Reserve decide about interest rates?",
    "When did the government release its statement on the budget?",
]


def add_backend_options(parser: Any) -> None:
    """--backend and --milvus-uri, for benches that can run on either index backend."""
    parser.add_argument("--backend", choices=("local", "milvus"), default="local",
                        help="index backend (INDEX_BACKEND): local FAISS + bm25s files, or Milvus")
    parser.add_argument("--milvus-uri", default=None,
                        help="with --backend milvus: a milvus-lite file or http://host:19530 (default: "
                             "milvus.db in the index directory)")


def index_backend(name: str, index_dir: Path, milvus_uri: str | None = None) -> Any:
    """The IndexBackend named by --backend (milvus: milvus-lite in the index directory unless --milvus-uri)."""
    from index.backend import LocalBackend

    if name == "local":
        return LocalBackend()
    from index.milvus_backend import MilvusConfig
    from index.milvus_index import MilvusBackend

    return MilvusBackend(MilvusConfig(uri=milvus_uri or str(Path(index_dir) / "milvus.db")))


class GenerationLayout:
    """A way of keeping corpora in Milvus, for the layout benchmarks (bench_milvus_layout.py on milvus-lite,
    bench_milvus_server_layout.py on a server): a corpus's live generation (a collection or a key) by
    corpus name; a replacement writes the new generation, switches to it (CURRENT in the engine), then
    frees the old one. Subclasses give ``write`` and ``free``."""

    name = ""

    def __init__(self) -> None:
        self.live: dict[str, Any] = {}  # corpus -> its live collection or key

    def write(self, corpus: Any, generation: int) -> Any:
        raise NotImplementedError

    def free(self, old: Any) -> None:
        raise NotImplementedError

    def add(self, corpus: Any) -> None:
        self.live[corpus.name] = self.write(corpus, 1)

    def replace(self, corpus: Any, generation: int) -> dict[str, float]:
        t0 = time.perf_counter()
        new = self.write(corpus, generation)
        t1 = time.perf_counter()
        old, self.live[corpus.name] = self.live[corpus.name], new
        self.free(old)
        return {"write_new": t1 - t0, "free_old": time.perf_counter() - t1}
