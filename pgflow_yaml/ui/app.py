"""The dashboard's routes: pages, live events, sign-in and the actions.

``create_app(settings)`` returns the ASGI app. Pages are rendered on the server by Jinja2 with
autoescape on; the one script (``static/live.js``) listens to ``/events`` and recolours what
changed. Actions exist only with ``allow_actions``; each is a POST that needs the bearer token,
or the session cookie together with the page's CSRF token, and each is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pgflow_yaml.client import AsyncClient, check_input
from pgflow_yaml.errors import InvalidInput, PgflowError, RunError, RunNotFound, one_line
from pgflow_yaml.model import FlowSpec
from pgflow_yaml.ui import data, pictures
from pgflow_yaml.ui.auth import COOKIE, Keys
from pgflow_yaml.ui.live import Hub, run_summary

log = logging.getLogger("pgflow_yaml.ui")
STATIC = Path(__file__).parent / "static"
KEEPALIVE_SECONDS = 15.0
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Settings:
    """How the dashboard runs: its database, whether actions are on, and their token."""

    dsn: str
    allow_actions: bool = False
    token: str | None = None
    flows: list[FlowSpec] = field(default_factory=list)  # their input_schema checks starts
    metrics: bool = True


class _Headers:
    """ASGI middleware adding SECURITY_HEADERS to every response (streams included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pgflow_yaml.ui", "templates"),
        autoescape=select_autoescape(["html"], default=True),
    )
    env.filters["pretty"] = _pretty
    env.filters["when"] = _when
    env.filters["duration"] = data.human_duration
    return env


class Dashboard:
    """The app's state (database, hub, templates, keys) and its request handlers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = data.Database(settings.dsn)
        self.hub = Hub(self.db)
        self.env = _environment()
        self.keys = Keys(settings.token) if settings.allow_actions and settings.token else None
        self.specs = {flow.slug: flow for flow in settings.flows}
        self._client: AsyncClient | None = None

    # -- helpers ---------------------------------------------------------------------------
    def signed_in(self, request: Request) -> bool:
        """Tell whether the request may act (token header or session cookie)."""
        if self.keys is None:
            return False
        return self.keys.bearer_ok(request.headers.get("authorization")) or self.keys.session_ok(
            request.cookies.get(COOKIE)
        )

    def render(self, request: Request, name: str, status_code: int = 200, **ctx: Any) -> Response:
        """Render a page with what every page needs (nav, sign-in state, CSRF token)."""
        signed = self.signed_in(request)
        html = self.env.get_template(name).render(
            request=request,
            path=request.url.path,
            actions=self.keys is not None,
            signed_in=signed,
            csrf=self.keys.csrf if self.keys is not None and signed else "",
            **ctx,
        )
        return HTMLResponse(html, status_code=status_code)

    async def client(self) -> AsyncClient:
        """Return the client that carries out actions (one connection, opened when needed)."""
        if self._client is None:
            self._client = AsyncClient(await self.db.dsn(), flows=self.settings.flows)
        return self._client

    async def close(self) -> None:
        """Close the connections."""
        await self.hub.stop()
        await self.db.close()
        if self._client is not None:
            await self._client.close()

    # -- pages -----------------------------------------------------------------------------
    async def runs(self, request: Request) -> Response:
        """The runs list: filters, run id search, keyset pages."""
        q = request.query_params
        search = (q.get("run_id") or "").strip()
        with contextlib.suppress(ValueError):
            if search and len(search.replace("-", "")) == 32:
                return RedirectResponse(f"/runs/{uuid.UUID(search)}", status_code=303)
        before_at, before_id = data.parse_cursor(q.get("after"))
        where = data.RunFilter(
            flow_slug=q.get("flow") or None,
            status=q.get("status") if q.get("status") in data.RUN_STATUSES else None,
            run_id=search or None,
            before_at=before_at,
            before_id=before_id,
        )
        rows, cursor = await data.runs_page(self.db, where)
        now = datetime.now(UTC)
        flows = [f["flow_slug"] for f in await self.db.fetch("ui_flows")]
        keep = {k: v for k, v in (("flow", where.flow_slug), ("status", where.status)) if v}
        if search:
            keep["run_id"] = search
        return self.render(
            request,
            "runs.html",
            runs=[run_summary(r, now) | {"started_at": r["started_at"]} for r in rows],
            flows=flows,
            statuses=data.RUN_STATUSES,
            where=where,
            search=search,
            bad_search=bool(search) and data.run_id_range(search) is None,
            next_url=f"/runs?{urlencode(keep | {'after': cursor})}" if cursor else None,
            first_url=f"/runs?{urlencode(keep)}" if before_at else None,
            first_page=before_at is None,
        )

    async def run(self, request: Request) -> Response:
        """One run: the DAG coloured by state, the steps with their tasks, the timeline."""
        return await self._run_page(request, str(request.path_params["run_id"]))

    async def _run_page(
        self, request: Request, run_id: str, status_code: int = 200, **extra: Any
    ) -> Response:
        rows = await self.db.fetch("ui_run", {"run_id": run_id})
        if not rows:
            return self.render(
                request, "error.html", 404, title="No such run", message=f"no run {run_id}"
            )
        run = rows[0]
        steps = (await data.flow_steps(self.db, run["flow_slug"])).get(run["flow_slug"], [])
        states = await self.db.fetch("ui_run_steps", {"run_id": run_id})
        tasks = await self.db.fetch("ui_run_tasks", {"run_id": run_id})
        now = datetime.now(UTC)
        by_step: dict[str, list[dict[str, Any]]] = {}
        for task in tasks:
            task["duration"] = data.seconds(task["started_at"], data.ended_at(task), now)
            by_step.setdefault(task["step_slug"], []).append(task)
        signal_steps = {s["step_slug"]: s for s in steps if s.get("signal_schema") is not None}
        for state in states:
            state["duration"] = data.seconds(state["started_at"], data.ended_at(state), now)
            state["tasks"] = by_step.get(state["step_slug"], [])
            state["signal"] = signal_steps.get(state["step_slug"])
        status_of = {s["step_slug"]: s["status"] for s in states}
        context: dict[str, Any] = {"signal_step": None, "signal_text": "{}", "signal_problem": None}
        return self.render(
            request,
            "run.html",
            status_code,
            run=run,
            summary=run_summary(run, now),
            dag=Markup(pictures.dag_svg(steps, status_of)),
            timeline=Markup(pictures.timeline_svg(tasks, now)),
            states=states,
            finished=run["status"] in ("completed", "failed", "cancelled"),
            why=await data.why(self.db, run_id) if run["status"] in data.UNFINISHED else [],
            **(context | extra),
        )

    async def flows(self, request: Request) -> Response:
        """Every flow: its shape, options, run counts of the last hour and day, schedules."""
        flows = await self.db.fetch("ui_flows")
        steps = await data.flow_steps(self.db)
        counts = await data.flow_counts(self.db)
        schedules = await data.schedules(self.db)
        for flow in flows:
            slug = flow["flow_slug"]
            flow["dag"] = Markup(pictures.dag_svg(steps.get(slug, [])))
            flow["steps"] = steps.get(slug, [])
            flow["counts"] = counts.get(slug, {"hour": {}, "day": {}})
            flow["schema"] = self.specs[slug].input_schema if slug in self.specs else None
            flow["schedules"] = schedules.get(slug, [])
        return self.render(request, "flows.html", flows=flows, statuses=data.RUN_STATUSES)

    async def workers(self, request: Request) -> Response:
        """The workers: live and stopped, their flow, heartbeats, tasks in flight."""
        try:
            rows = await data.workers(self.db)
            problem = None
        except PgflowError as exc:
            rows, problem = [], str(exc)
        now = datetime.now(UTC)
        for row in rows:
            row["since_heartbeat"] = data.seconds(row["last_heartbeat_at"], None, now)
        return self.render(request, "workers.html", workers=rows, problem=problem)

    async def events(self, request: Request) -> Response:
        """Server-Sent Events of one topic: ``runs`` or ``run:<run_id>``."""
        topic = request.query_params.get("topic", "")
        if topic.startswith("run:"):
            try:
                topic = f"run:{uuid.UUID(topic[4:])}"
            except ValueError:
                return PlainTextResponse("bad topic", status_code=400)
        elif topic != "runs":
            return PlainTextResponse("bad topic", status_code=400)
        page = self.hub.open(topic)
        if topic.startswith("run:"):  # what changed between the page and this stream
            await self.hub.dispatch({topic[4:]}, only=page)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n: live\n\n"
                while True:
                    try:
                        yield await asyncio.wait_for(page.queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keepalive\n\n"
            finally:
                self.hub.close(page)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def metrics(self, request: Request) -> Response:
        """Prometheus gauges read from the database (see docs/observability.md)."""
        if importlib.util.find_spec("prometheus_client") is None:
            return PlainTextResponse("metrics need prometheus_client", 404)
        from pgflow_yaml.metrics import database_metrics

        ready = await self.db.fetch("ui_ready_tasks")
        runs = await self.db.fetch("ui_flow_counts")
        try:
            live = await self.db.fetch("ui_live_workers", {"live_seconds": data.LIVE_SECONDS})
        except PgflowError:  # a role that may not read pgflow.workers
            live = []
        return Response(
            database_metrics(ready, runs, live),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    # -- sign-in and actions -----------------------------------------------------------------
    async def _form(self, request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            return origin is None
        return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"

    async def login(self, request: Request) -> Response:
        """The sign-in form (GET) and its check of the token (POST), which sets the cookie."""
        if self.keys is None:
            return self.render(
                request, "error.html", 404, title="No actions", message="actions are off"
            )
        next_url = request.query_params.get("next", "/runs")
        if not next_url.startswith("/") or next_url.startswith("//"):
            next_url = "/runs"
        if request.method == "GET":
            return self.render(request, "login.html", next_url=next_url, problem=None)
        form = await self._form(request)
        if not self._same_origin(request) or not self.keys.token_ok(form.get("token")):
            log.warning(
                "ui sign-in refused from %s",
                _peer(request),
                extra={"action": "ui_sign_in_refused"},
            )
            return self.render(request, "login.html", 403, next_url=next_url, problem="wrong token")
        log.info("ui sign-in from %s", _peer(request), extra={"action": "ui_sign_in"})
        response = RedirectResponse(next_url, status_code=303)
        response.set_cookie(COOKIE, self.keys.session, httponly=True, samesite="strict", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        """Forget the session cookie."""
        response = RedirectResponse("/runs", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def _authorize(self, request: Request) -> tuple[dict[str, str], Response | None]:
        """Return the form and None when the request may act, else the refusal to send."""
        form = await self._form(request)
        if self.keys is None:
            return form, PlainTextResponse("actions are off (pgflow ui --allow-actions)", 403)
        if self.keys.bearer_ok(request.headers.get("authorization")):
            return form, None
        cookie_ok = self.keys.session_ok(request.cookies.get(COOKIE))
        if cookie_ok and self._same_origin(request) and self.keys.csrf_ok(form.get("csrf")):
            return form, None
        log.warning(
            "ui action refused: %s %s from %s",
            request.method,
            request.url.path,
            _peer(request),
            extra={"action": "ui_action_refused"},
        )
        reason = "bad or missing CSRF token" if cookie_ok else "this action needs the token"
        return form, PlainTextResponse(reason, 403)

    def _wants_json(self, request: Request) -> bool:
        return "authorization" in request.headers or "application/json" in request.headers.get(
            "accept", ""
        )

    async def control(self, request: Request) -> Response:
        """Cancel, retry or signal a run (POST /runs/<id>/cancel|retry|signal)."""
        action = str(request.path_params["action"])
        run_id = str(request.path_params["run_id"])
        if action not in ("cancel", "retry", "signal"):
            return PlainTextResponse(f"no action {action!r}", 404)
        form, refusal = await self._authorize(request)
        if refusal is not None:
            return refusal
        if action == "signal":
            return await self._signal(request, run_id, form)
        client = await self.client()
        try:
            run = await (client.cancel(run_id) if action == "cancel" else client.retry(run_id))
        except RunError as exc:
            return PlainTextResponse(str(exc), 404)
        log.info(
            "ui %s run %s from %s: now %s",
            action,
            run_id,
            _peer(request),
            run.status,
            extra={"action": f"ui_{action}", "run_id": run_id},
        )
        if self._wants_json(request):
            return JSONResponse({"run_id": run.run_id, "status": run.status})
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    async def _signal(self, request: Request, run_id: str, form: dict[str, str]) -> Response:
        """Deliver a signal to a signal step: the payload is checked against the step's schema
        first (by the client, with jsonschema); a refusal is shown on the run page."""
        step = form.get("step", "")
        text = form.get("payload", "")
        try:
            task_index = int(form.get("task_index") or 0)
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"the payload is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            return await self._signal_problem(request, run_id, step, text, problem)
        except ValueError:
            problem = f"the task index is not a number: {form.get('task_index')!r}"
            return await self._signal_problem(request, run_id, step, text, problem)
        try:
            outcome = await (await self.client()).signal(run_id, step, payload, task_index)
        except RunNotFound as exc:
            return PlainTextResponse(str(exc), 404)
        except RunError as exc:  # InvalidInput (the schema), SignalRefused (the core)
            return await self._signal_problem(request, run_id, step, text, str(exc))
        log.info(
            "ui signal run %s step %s task %d from %s: %s",
            run_id,
            step,
            task_index,
            _peer(request),
            outcome,
            extra={"action": "ui_signal", "run_id": run_id},
        )
        if self._wants_json(request):
            return JSONResponse({"run_id": run_id, "step": step, "outcome": outcome})
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    async def _signal_problem(
        self, request: Request, run_id: str, step: str, text: str, problem: str
    ) -> Response:
        log.info(
            "ui signal run %s step %s from %s refused: %s",
            run_id,
            step,
            _peer(request),
            one_line(problem),
            extra={"action": "ui_signal_refused", "run_id": run_id},
        )
        if self._wants_json(request):
            return JSONResponse({"error": problem}, status_code=400)
        return await self._run_page(
            request, run_id, 400, signal_step=step, signal_text=text, signal_problem=problem
        )

    async def trigger(self, request: Request) -> Response:
        """Start a run of a schedule now (POST /flows/<flow>/schedules/<name>/trigger)."""
        slug = str(request.path_params["flow_slug"])
        name = str(request.path_params["name"])
        _, refusal = await self._authorize(request)
        if refusal is not None:
            return refusal
        try:
            run_id = await (await self.client()).trigger_schedule(slug, name)
        except RunError as exc:  # ScheduleNotFound
            return PlainTextResponse(str(exc), 404)
        log.info(
            "ui trigger schedule %s of flow %s from %s: run %s",
            name,
            slug,
            _peer(request),
            run_id,
            extra={"action": "ui_trigger_schedule", "run_id": run_id},
        )
        if self._wants_json(request):
            return JSONResponse({"run_id": run_id})
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    async def start(self, request: Request) -> Response:
        """The start form of a flow (GET) and the start itself (POST)."""
        slug = str(request.path_params["flow_slug"])
        spec = self.specs.get(slug)
        if request.method == "GET":
            if self.keys is None:
                return self.render(
                    request, "error.html", 404, title="No actions", message="actions are off"
                )
            return self.render(
                request, "start.html", flow_slug=slug, spec=spec, text="{}", problem=None
            )
        form, refusal = await self._authorize(request)
        if refusal is not None:
            return refusal
        text = form.get("input", "")
        try:
            value = json.loads(text)
            check_input(spec, value)
            run_id = await (await self.client()).start(spec or slug, value)
        except json.JSONDecodeError as exc:
            problem = f"the input is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            return self._start_problem(request, slug, spec, text, problem)
        except (InvalidInput, RunError) as exc:
            return self._start_problem(request, slug, spec, text, str(exc))
        log.info(
            "ui start flow %s from %s: run %s",
            slug,
            _peer(request),
            run_id,
            extra={"action": "ui_start", "run_id": run_id},
        )
        if self._wants_json(request):
            return JSONResponse({"run_id": run_id})
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    def _start_problem(
        self, request: Request, slug: str, spec: FlowSpec | None, text: str, problem: str
    ) -> Response:
        if self._wants_json(request):
            return JSONResponse({"error": problem}, status_code=400)
        return self.render(
            request, "start.html", 400, flow_slug=slug, spec=spec, text=text, problem=problem
        )


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"


def create_app(settings: Settings) -> Starlette:
    """Return the dashboard's ASGI app."""
    board = Dashboard(settings)

    async def home(request: Request) -> Response:
        return RedirectResponse("/runs", status_code=303)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with contextlib.suppress(PgflowError):  # says now which role it runs as; else at first use
            await board.db.settle()
        board.hub.start()
        try:
            yield
        finally:
            await board.close()

    routes = [
        Route("/", home),
        Route("/runs", board.runs),
        Route("/runs/{run_id:uuid}", board.run),
        Route("/runs/{run_id:uuid}/{action:str}", board.control, methods=["POST"]),
        Route("/flows", board.flows),
        Route("/flows/{flow_slug:str}/start", board.start, methods=["GET", "POST"]),
        Route(
            "/flows/{flow_slug:str}/schedules/{name:str}/trigger", board.trigger, methods=["POST"]
        ),
        Route("/workers", board.workers),
        Route("/events", board.events),
        Route("/metrics", board.metrics),
        Route("/login", board.login, methods=["GET", "POST"]),
        Route("/logout", board.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    async def database_problem(request: Request, exc: Exception) -> Response:
        log.warning("ui: %s", exc, extra={"action": "ui_database_error"})
        return board.render(
            request, "error.html", 503, title="Database problem", message=one_line(str(exc))
        )

    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Headers)],
        lifespan=lifespan,
        exception_handlers={PgflowError: database_problem},
    )
    app.state.dashboard = board
    return app
