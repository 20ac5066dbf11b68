"""Evaluator throughput against a rate-limited, flaky Bedrock Converse emulation on loopback.

A ``ThreadingHTTPServer`` on 127.0.0.1 (random port, in a thread, shut down by a watchdog if the run
overstays) answers ``POST /model/{modelId}/converse`` with valid Converse JSON after a fixed latency. It
enforces a request rate with a token bucket: above it, it answers HTTP 400 with
``x-amzn-ErrorType: ThrottlingException`` and ``{"message": "Too many requests, please wait before trying
again."}`` (botocore's rest-json parser reads the code from that header). It also injects 5xx answers
(``InternalServerException``) and drops connections without answering. Every record carries its id in
the prompt (``[rid=N]``), so the server counts answers per record.

The same records go through, in one run:

1. ``Evaluator.evaluate`` (thread pool, AIMD rate limiter, retries, fsync'd checkpoint), and
2. a plain sequential loop that retries throttles and failures after a fixed pause,

both through boto3's ``bedrock-runtime`` client (fake credentials, ``endpoint_url`` pointed at the server,
one attempt per call so only our code retries). By default the client is the SDK's own ``BedrockBackend``
behind ``Model.foundation``; ``--client minimal`` uses the small ``_ConverseModel`` below instead.

Targets: sustained rate >= 90% of the emulated limit; every record answered exactly once; none lost.
The script exits 1 when a target is missed.

With ``--sweep`` it runs, instead, every pair of limits (10, 50, 100, 200 req/s) and latencies (20, 100,
500 ms), each with the Evaluator's default (automatic) concurrency and with the old fixed default of 8
workers as the baseline; the target there is >= 95% of the limit in every cell, every record answered
exactly once.

Usage::

    python benchmarks/evaluator_throughput.py --sweep          # the whole range, ~2-3 minutes
    python benchmarks/evaluator_throughput.py                  # 600 records, 40 req/s, 50 ms
    python benchmarks/evaluator_throughput.py --quick          # ~15 s smoke run
    python benchmarks/evaluator_throughput.py --records 2000 --rate 100 --latency-ms 80 --json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from finetune_sdk.backends.base import ChatResponse, InferenceConfig
from finetune_sdk.data.records import Conversation, Turn
from finetune_sdk.errors import (
    BackendError,
    ModelNotReadyError,
    ServiceUnavailableError,
    ThrottlingError,
)
from finetune_sdk.evaluation import Evaluator

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
RATE_TARGET = 0.90
THROTTLE_MESSAGE = "Too many requests, please wait before trying again."
RID = re.compile(r"\[rid=(\d+)\]")


# --- the emulated service -----------------------------------------------------------------------------------
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False

    def refill(self) -> None:
        with self.lock:
            self.tokens, self.stamp = self.burst, time.monotonic()


@dataclass
class Counters:
    """What the server saw during one phase."""

    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    dropped: int = 0
    answered: Counter[int] = field(default_factory=Counter)
    answer_times: list[float] = field(default_factory=list)
    first_request: float | None = None


class ConverseServer:
    """Loopback Bedrock Converse emulation with a token-bucket limit, 5xx answers and dropped connections."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        latency_s: float,
        error_rate: float,
        drop_rate: float,
        seed: int,
        max_seconds: float,
    ) -> None:
        self.bucket = TokenBucket(rate, burst)
        self.latency_s = latency_s
        self.error_rate = error_rate
        self.drop_rate = drop_rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counters = Counters()
        self.max_seconds = max_seconds
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoint
            # one write per answer and no Nagle delay: otherwise headers and body go out as two small
            # segments and the client's delayed ACK adds ~40 ms to every request on loopback
            disable_nagle_algorithm = True
            wbufsize = 1 << 16

            def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
                pass

            def _send(self, status: int, body: Mapping[str, Any], error_type: str | None = None) -> None:
                payload = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", f"req-{time.monotonic_ns()}")
                if error_type:
                    self.send_header("x-amzn-ErrorType", f"{error_type}:http://internal.amazon.com/coral/")
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                match = re.fullmatch(r"/model/([^/]+)/converse", self.path)
                if match is None:
                    self._send(404, {"message": f"no route {self.path}"}, "UnknownOperationException")
                    return
                text = body["messages"][-1]["content"][0]["text"]
                rid = int(RID.search(text).group(1))  # type: ignore[union-attr]
                with owner.lock:
                    owner.counters.requests += 1
                    if owner.counters.first_request is None:
                        owner.counters.first_request = time.monotonic()
                    roll = owner.rng.random()
                if roll < owner.drop_rate:  # close the socket without an answer
                    with owner.lock:
                        owner.counters.dropped += 1
                    self.close_connection = True
                    return
                if not owner.bucket.take():
                    with owner.lock:
                        owner.counters.throttled += 1
                    self._send(400, {"message": THROTTLE_MESSAGE}, "ThrottlingException")
                    return
                time.sleep(owner.latency_s)
                if roll < owner.drop_rate + owner.error_rate:
                    with owner.lock:
                        owner.counters.server_errors += 1
                    self._send(
                        500,
                        {"message": "The server encountered an internal error."},
                        "InternalServerException",
                    )
                    return
                answer = f"answer-{rid}"
                usage = {"inputTokens": max(1, len(text) // 4), "outputTokens": 3}
                usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
                with owner.lock:
                    owner.counters.answered[rid] += 1
                    owner.counters.answer_times.append(time.monotonic())
                self._send(
                    200,
                    {
                        "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                        "stopReason": "end_turn",
                        "usage": usage,
                        "metrics": {"latencyMs": int(owner.latency_s * 1000)},
                    },
                )

        class Server(ThreadingHTTPServer):
            # a listen backlog of socketserver's default 5 drops connection attempts when a hundred clients
            # connect at once, and each dropped SYN costs the client a second: the real endpoint has no such
            # limit, so neither may the emulation
            request_queue_size = 1024

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="converse-emulator",
            daemon=True,
        )
        self._watchdog = threading.Timer(max_seconds, self.stop)  # a bounded run: never outlive max_seconds
        self._watchdog.daemon = True

    def start(self) -> ConverseServer:
        self._thread.start()
        self._watchdog.start()
        return self

    def new_phase(self) -> Counters:
        """Reset the counters and refill the bucket; returns the finished phase's counters."""
        with self.lock:
            done, self.counters = self.counters, Counters()
        self.bucket.refill()
        return done

    def stop(self) -> None:
        self._watchdog.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


# --- clients ------------------------------------------------------------------------------------------------
def _session() -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
        region_name="us-east-1",
    )


class _ConverseModel:
    """A minimal Converse client: boto3 ``converse`` with one attempt, service errors translated.

    ThrottlingException -> ThrottlingError; 5xx, timeouts and dropped connections -> ServiceUnavailableError;
    ModelNotReadyException -> ModelNotReadyError; anything else -> BackendError.
    """

    def __init__(self, endpoint_url: str, model_id: str, *, pool: int) -> None:
        from botocore.config import Config

        self.id = model_id
        self.name = "converse-minimal"
        self.pricing_model_id: str | None = model_id
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=pool,
            connect_timeout=5,
            read_timeout=60,
        )
        self.client = _session().client("bedrock-runtime", endpoint_url=endpoint_url, config=config)

    def chat(
        self,
        messages: Any = None,
        *,
        system: str | None = None,
        turns: Sequence[Turn] | None = None,
        config: InferenceConfig | None = None,
    ) -> ChatResponse:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        cfg = config or InferenceConfig()
        request: dict[str, Any] = {
            "modelId": self.id,
            "messages": [{"role": t.role, "content": [{"text": t.text}]} for t in turns or ()],
            "inferenceConfig": {"maxTokens": cfg.max_tokens, "temperature": cfg.temperature},
        }
        if system:
            request["system"] = [{"text": system}]
        started = time.perf_counter()
        try:
            out = self.client.converse(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
            if code in ("ThrottlingException", "TooManyRequestsException"):
                raise ThrottlingError(message, backend="bedrock", code=code) from exc
            if code == "ModelNotReadyException":
                raise ModelNotReadyError(message, backend="bedrock", code=code) from exc
            if status >= 500 or code in (
                "InternalServerException",
                "ServiceUnavailableException",
                "ModelTimeoutException",
            ):
                raise ServiceUnavailableError(message, backend="bedrock", code=code) from exc
            raise BackendError(message, backend="bedrock", code=code) from exc
        except (ConnectionError, HTTPClientError) as exc:  # dropped connection, timeouts
            raise ServiceUnavailableError(f"{type(exc).__name__}: {exc}", backend="bedrock") from exc
        usage = out.get("usage", {})
        return ChatResponse(
            text=out["output"]["message"]["content"][0]["text"],
            stop_reason=out.get("stopReason"),
            input_tokens=usage.get("inputTokens"),
            output_tokens=usage.get("outputTokens"),
            latency_s=time.perf_counter() - started,
            model_id=self.id,
        )


def make_model(kind: str, endpoint_url: str, pool: int) -> tuple[Any, str]:
    """The model the Evaluator and the loop call, and a label of which client it is."""
    if kind in ("auto", "sdk"):
        try:
            from finetune_sdk.backends.bedrock import BedrockBackend
            from finetune_sdk.models import Model

            backend = BedrockBackend(
                region="us-east-1", session=_session(), runtime_endpoint_url=endpoint_url, max_attempts=1
            )
            return Model.foundation(MODEL_ID, backend=backend), "finetune_sdk BedrockBackend (max_attempts=1)"
        except (ImportError, TypeError):  # not installed, or a constructor this script predates
            if kind == "sdk":
                raise
    return _ConverseModel(endpoint_url, MODEL_ID, pool=pool), "benchmark _ConverseModel"


# --- the two runs -------------------------------------------------------------------------------------------
def make_records(n: int) -> list[Conversation]:
    return [
        Conversation.from_pairs(f"[rid={i}] What is the code word for record {i}?", f"answer-{i}")
        for i in range(n)
    ]


@dataclass
class PhaseResult:
    name: str
    wall_s: float
    answered_records: int
    lost: int
    duplicates: int
    counters: Counters
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Sustained rate: records answered per second from the first request to the last answer."""
        c = self.counters
        if c.first_request is None or not c.answer_times:
            return 0.0
        span = max(c.answer_times) - c.first_request
        return len(c.answered) / span if span > 0 else 0.0

    @property
    def end_to_end_rate(self) -> float:
        """Records per second of the whole call, set-up and report building included."""
        return self.answered_records / self.wall_s if self.wall_s else 0.0

    def steady_rate(self) -> float:
        """Answers per second between the 10th and 90th percentile answer times (no ramp-up, no tail)."""
        times = sorted(self.counters.answer_times)
        if len(times) < 20:
            return self.rate
        lo, hi = int(len(times) * 0.1), int(len(times) * 0.9)
        return (hi - lo) / (times[hi] - times[lo]) if times[hi] > times[lo] else self.rate


def run_evaluator(
    model: Any, records: list[Conversation], server: ConverseServer, concurrency: int, max_rps: float | None
) -> PhaseResult:
    with tempfile.TemporaryDirectory() as tmp:
        evaluator = Evaluator(
            ["exact_match"],
            concurrency=concurrency,
            max_rps=max_rps,
            checkpoint=Path(tmp) / "eval.ckpt.jsonl",
            progress=False,
        )
        started = time.perf_counter()
        report = evaluator.evaluate(model, records)
        wall = time.perf_counter() - started
    counters = server.new_phase()
    rows = next(iter(report.examples.values()))
    answered = sum(1 for r in rows if r.prediction is not None)
    return PhaseResult(
        name="Evaluator (AIMD limiter, retries, checkpoint)",
        wall_s=wall,
        answered_records=answered,
        lost=len(records) - len(counters.answered) + sum(1 for r in rows if r.error is not None),
        duplicates=sum(1 for c in counters.answered.values() if c > 1),
        counters=counters,
        extra={
            "exact_match": report.mean("exact_match"),
            "client_throttles": report.run.throttles,
            "retries": report.run.retries,
            "errors": report.errors,
        },
    )


def run_sequential(
    model: Any, records: list[Conversation], server: ConverseServer, pause_s: float, max_attempts: int = 50
) -> PhaseResult:
    config = InferenceConfig(temperature=0.0)
    answered = 0
    started = time.perf_counter()
    for record in records:
        for _ in range(max_attempts):
            try:
                model.chat(turns=record.prompt_turns, config=config)
                answered += 1
                break
            except (ThrottlingError, ServiceUnavailableError, ModelNotReadyError):
                time.sleep(pause_s)
    wall = time.perf_counter() - started
    counters = server.new_phase()
    return PhaseResult(
        name=f"sequential loop (retry after {pause_s * 1000:.0f} ms)",
        wall_s=wall,
        answered_records=answered,
        lost=len(records) - len(counters.answered),
        duplicates=sum(1 for c in counters.answered.values() if c > 1),
        counters=counters,
    )


def markdown(results: Sequence[PhaseResult], args: argparse.Namespace, client: str) -> str:
    lines = [
        f"Emulated Converse: limit {args.rate:g} req/s (burst {args.burst:g}), "
        f"latency {args.latency_ms:g} ms, "
        f"{args.error_rate:.0%} 5xx, {args.drop_rate:.0%} dropped connections; {args.records} records; "
        f"client: {client}; concurrency {args.concurrency or 'automatic'}; Python {platform.python_version()}.",
        "",
        "| run | wall s | answered | lost | answered twice | sustained req/s | % of limit | steady req/s | "
        "end-to-end req/s | requests | throttled | 5xx | dropped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r.counters
        lines.append(
            f"| {r.name} | {r.wall_s:.1f} | {r.answered_records} | {r.lost} | {r.duplicates} | "
            f"{r.rate:.1f} | "
            f"{r.rate / args.rate:.0%} | {r.steady_rate():.1f} | {r.end_to_end_rate:.1f} | {c.requests} | "
            f"{c.throttled} | "
            f"{c.server_errors} | {c.dropped} |"
        )
    ev = results[0]
    lines += [
        "",
        f"Evaluator: {ev.extra['retries']} retries, {ev.extra['client_throttles']} throttles seen, "
        f"{ev.extra['errors']} final errors, exact match {ev.extra['exact_match']}. "
        f"Speed-up over the sequential loop: {results[1].wall_s / ev.wall_s:.1f}x.",
        "",
        "sustained = records answered / (last answer - first request), seen by the server; steady = the "
        "same between the 10th and 90th percentile answers; end-to-end = records / wall time of the whole "
        "call (Evaluator set-up and report building included).",
    ]
    return "\n".join(lines)


SWEEP_RATES = (10.0, 50.0, 100.0, 200.0)
SWEEP_LATENCIES_MS = (20.0, 100.0, 500.0)
SWEEP_TARGET = 0.95
BASELINE_CONCURRENCY = 8  # the Evaluator's fixed default before it sized its own concurrency


@dataclass
class SweepCell:
    rate: float
    latency_ms: float
    auto: PhaseResult
    baseline: PhaseResult
    records: int
    peak_in_flight: int

    @property
    def auto_share(self) -> float:
        """Steady rate (10th to 90th percentile answers) over the limit: what the run sustained."""
        return self.auto.steady_rate() / self.rate

    @property
    def auto_overall(self) -> float:
        """First request to last answer, ramp-up and the last round trip included."""
        return self.auto.rate / self.rate

    @property
    def baseline_share(self) -> float:
        return self.baseline.steady_rate() / self.rate

    @property
    def exact(self) -> bool:
        return (
            self.auto.duplicates == 0
            and self.auto.lost == 0
            and len(self.auto.counters.answered) == self.records
            and self.auto.answered_records == self.records
        )


def run_sweep(args: argparse.Namespace) -> int:
    """Every (limit, latency) pair of the grid: automatic concurrency against the old fixed 8, one run."""
    cells: list[SweepCell] = []
    started = time.perf_counter()
    for rate in args.sweep_rates:
        for latency_ms in args.sweep_latencies:
            latency = latency_ms / 1000
            records = max(60, int(rate * args.sweep_seconds))
            # the baseline is bounded by 8 / latency: give it about as long, not as many records
            base_records = max(40, int(min(rate, BASELINE_CONCURRENCY / latency) * args.sweep_seconds * 0.6))
            server = ConverseServer(
                rate=rate,
                burst=max(1.0, rate / 4),
                latency_s=latency,
                error_rate=args.error_rate,
                drop_rate=args.drop_rate,
                seed=args.seed,
                max_seconds=60 + 6 * (records / rate + base_records * latency),
            ).start()
            try:
                model, _ = make_model(args.client, server.url, pool=258)
                model.chat(turns=(Turn.of("user", "[rid=0] warm-up"),), config=InferenceConfig())
                time.sleep(0.3)
                server.new_phase()
                auto, peak = _sweep_phase(model, make_records(records), server, None)
                time.sleep(0.5)
                server.new_phase()
                baseline, _ = _sweep_phase(model, make_records(base_records), server, BASELINE_CONCURRENCY)
            finally:
                server.stop()
            cell = SweepCell(rate, latency_ms, auto, baseline, records, peak)
            cells.append(cell)
            print(
                f"  {rate:>5g} req/s {latency_ms:>4g} ms: automatic {cell.auto_share:6.1%} sustained, "
                f"{cell.auto_overall:6.1%} whole run "
                f"(peak {peak} in flight), fixed {BASELINE_CONCURRENCY}: {cell.baseline_share:6.1%}",
                file=sys.stderr,
                flush=True,
            )
    total = time.perf_counter() - started
    lines = [
        f"Sweep: emulated Converse limit x latency, {args.error_rate:.0%} 5xx and {args.drop_rate:.0%} dropped "
        f"connections, ~{args.sweep_seconds:g} s of records per cell; {total:.0f} s in all; "
        f"Python {platform.python_version()}.",
        "",
        "| limit req/s | latency ms | records | automatic: sustained % of limit | whole run % | peak in flight | "
        f"answered exactly once | fixed {BASELINE_CONCURRENCY} (old default): sustained % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(
            f"| {c.rate:g} | {c.latency_ms:g} | {c.records} | {c.auto_share:.1%} | {c.auto_overall:.1%} | "
            f"{c.peak_in_flight} | {'yes' if c.exact else 'NO'} | {c.baseline_share:.1%} |"
        )
    worst = min(cells, key=lambda c: c.auto_share)
    missed = [c for c in cells if c.auto_share < SWEEP_TARGET or not c.exact]
    lines += [
        "",
        f"Worst cell: {worst.rate:g} req/s at {worst.latency_ms:g} ms, {worst.auto_share:.1%} of the limit. "
        "Sustained = answers per second between the 10th and 90th percentile answer times, seen by the "
        "server, over the limit; whole run = records / (last answer - first request), which also counts the "
        "ramp-up and the last round trip (at most 4 s / (4 s + latency) for a perfect client).",
        "Targets: "
        + (
            f"all met (>= {SWEEP_TARGET:.0%} of the limit everywhere, every record answered exactly once)"
            if not missed
            else "MISSED in " + ", ".join(f"{c.rate:g} req/s x {c.latency_ms:g} ms" for c in missed)
        ),
    ]
    print("\n".join(lines))
    if args.json:
        print(json.dumps([
            {"rate": c.rate, "latency_ms": c.latency_ms, "records": c.records, "automatic": c.auto_share,
             "automatic_whole_run": c.auto_overall, "peak_in_flight": c.peak_in_flight,
             "answered_exactly_once": c.exact, "fixed_8": c.baseline_share}
            for c in cells
        ], indent=2))
    return 1 if missed else 0


def _sweep_phase(
    model: Any, records: list[Conversation], server: ConverseServer, concurrency: int | None
) -> tuple[PhaseResult, int]:
    evaluator = Evaluator(["exact_match"], concurrency=concurrency, progress=False)
    started = time.perf_counter()
    report = evaluator.evaluate(model, records)
    wall = time.perf_counter() - started
    peak = report.run.peak_in_flight or 0
    counters = server.new_phase()
    rows = next(iter(report.examples.values()))
    answered = sum(1 for r in rows if r.prediction is not None)
    return (
        PhaseResult(
            name=f"Evaluator, concurrency {concurrency or 'automatic'}",
            wall_s=wall,
            answered_records=answered,
            lost=len(records) - len(counters.answered) + sum(1 for r in rows if r.error is not None),
            duplicates=sum(1 for c in counters.answered.values() if c > 1),
            counters=counters,
        ),
        peak,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--rate", type=float, default=40.0, help="emulated limit, requests per second")
    parser.add_argument("--burst", type=float, default=None, help="token-bucket size (default rate / 4)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--error-rate", type=float, default=0.02, help="share of 5xx answers")
    parser.add_argument("--drop-rate", type=float, default=0.01, help="share of dropped connections")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="Evaluator concurrency (default: automatic, Little's law)"
    )
    parser.add_argument(
        "--max-rps", type=float, default=None, help="Evaluator ceiling (default: none, adaptive)"
    )
    parser.add_argument(
        "--pause-ms", type=float, default=100.0, help="sequential loop's pause before a retry"
    )
    parser.add_argument("--client", choices=("auto", "sdk", "minimal"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="150 records: a smoke run of about 15 s")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="limits 10-200 req/s x latencies 20-500 ms in one run: automatic concurrency against fixed 8",
    )
    parser.add_argument("--sweep-seconds", type=float, default=4.0, help="records per sweep cell, in seconds")
    parser.add_argument("--sweep-rates", type=float, nargs="+", default=list(SWEEP_RATES), metavar="R")
    parser.add_argument("--sweep-latencies", type=float, nargs="+", default=list(SWEEP_LATENCIES_MS), metavar="MS")
    args = parser.parse_args(argv)
    if args.sweep:
        return run_sweep(args)
    if args.quick:
        args.records = min(args.records, 150)
    args.burst = args.burst if args.burst is not None else max(1.0, args.rate / 4)

    records = make_records(args.records)
    # generous bound: both phases at well under the limit, plus start-up
    budget = (
        30 + 4 * args.records / args.rate + 3 * args.records * (args.latency_ms / 1000 + args.pause_ms / 1000)
    )
    server = ConverseServer(
        rate=args.rate,
        burst=args.burst,
        latency_s=args.latency_ms / 1000,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        seed=args.seed,
        max_seconds=budget,
    ).start()
    try:
        model, client = make_model(args.client, server.url, pool=(args.concurrency or 256) + 2)
        for _ in range(20):  # warm up the client (credentials, endpoint, connection pool)
            try:
                model.chat(turns=(Turn.of("user", "[rid=0] warm-up"),), config=InferenceConfig())
                break
            except (ThrottlingError, ServiceUnavailableError):
                time.sleep(0.1)
        time.sleep(0.5)
        server.new_phase()
        evaluated = run_evaluator(model, records, server, args.concurrency, args.max_rps)
        time.sleep(1.0)  # let the bucket refill between phases
        server.new_phase()
        sequential = run_sequential(model, records, server, args.pause_ms / 1000)
    finally:
        server.stop()

    results = [evaluated, sequential]
    print(markdown(results, args, client))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "run": r.name,
                        "wall_s": r.wall_s,
                        "answered": r.answered_records,
                        "lost": r.lost,
                        "answered_twice": r.duplicates,
                        "rate": r.rate,
                        "steady_rate": r.steady_rate(),
                        "end_to_end_rate": r.end_to_end_rate,
                        "requests": r.counters.requests,
                        "throttled": r.counters.throttled,
                        "server_errors": r.counters.server_errors,
                        "dropped": r.counters.dropped,
                        **r.extra,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    checks: list[tuple[str, Callable[[], bool]]] = [
        (
            f"sustained rate >= {RATE_TARGET:.0%} of the limit",
            lambda: evaluated.rate >= RATE_TARGET * args.rate,
        ),
        (
            "every record answered exactly once",
            lambda: evaluated.duplicates == 0 and len(evaluated.counters.answered) == args.records,
        ),
        ("no record lost", lambda: evaluated.lost == 0 and evaluated.answered_records == args.records),
    ]
    failed = [name for name, ok in checks if not ok()]
    print("\nTargets: " + ("all met" if not failed else "MISSED: " + "; ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
