"""The MCP endpoint at /mcp: the agent tools over Streamable HTTP, behind the API token.

A tool call answers the JSON the HTTP route answers (as text and as structured content);
a refused call answers the API's error body (`detail`, `code`, `errors`) as the text of
a tool error, so an agent reads the same message a person reading the HTTP answer would.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)
from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import __version__, auth
from .agent_tools import TOOLS, AgentTool
from .errors import InvalidInput, ServiceError, Unavailable, field_errors, summarise
from .runtime import Runtime
from .store_errors import classify, store_log

PATH = "/mcp"
log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Scheduler API: sends a JSON HTTP request (a webhook) to a URL at a later time, once "
    "(schedule_message) or on a recurring schedule (create_schedule). Times are ISO-8601; "
    "answers give them in UTC. Label what you schedule so that you can find or cancel it later."
)


def mount(app: FastAPI, runtime: Runtime) -> None:
    """Serve the tools at /mcp while the runtime runs."""
    manager = StreamableHTTPSessionManager(
        app=_server(runtime),
        # Replicas share nothing but Redis, so no call may depend on a session held in
        # one replica's memory: every request stands alone and is answered as JSON.
        stateless=True,
        json_response=True,
        # The SDK's DNS-rebinding guard is for unauthenticated local servers; here every
        # request needs the Bearer token, which a page that rebinds a name does not have.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    guarded = TokenGuard(manager, runtime)
    app.router.routes.append(Route(PATH, guarded, methods=["GET", "POST", "DELETE"]))
    runtime.run_alongside(manager.run)


class TokenGuard:
    """The MCP transport behind `Authorization: Bearer <API_TOKEN>`, checked as the API does."""

    def __init__(self, manager: StreamableHTTPSessionManager, runtime: Runtime) -> None:
        self.manager = manager
        self.runtime = runtime

    path = PATH

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # FastAPI's routes put themselves here; request metrics and spans read the path.
        scope["route"] = self
        # Unauthorized propagates to the app's error handlers: the API's 401, word for word.
        auth.check(Request(scope), self.runtime.token)
        await self.manager.handle_request(scope, receive, send)


def _server(runtime: Runtime) -> Server[Any]:
    tools = {tool.name: tool for tool in TOOLS}
    listing = ListToolsResult(tools=[_describe(tool) for tool in TOOLS])

    async def list_tools(_: Any, __: PaginatedRequestParams | None) -> ListToolsResult:
        return listing

    async def call_tool(_: Any, params: CallToolRequestParams) -> CallToolResult:
        tool = tools.get(params.name)
        if tool is None:
            names = ", ".join(tools)
            raise MCPError(INVALID_PARAMS, f"No tool named '{params.name}'; the tools: {names}.")
        return await run(tool, runtime, params.arguments or {})

    return Server(
        "scheduler-api",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _describe(tool: AgentTool) -> Tool:
    return Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.arguments.model_json_schema(),
        output_schema=tool.answer.model_json_schema(mode="serialization"),
        annotations=ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive,
            # Webhooks go to URLs the caller chooses: the world beyond this service.
            open_world_hint=not tool.read_only,
        ),
    )


async def run(tool: AgentTool, runtime: Runtime, arguments: dict[str, Any]) -> CallToolResult:
    """The tool's answer, or its refusal in the API's error shape; never an exception."""
    try:
        answer = await tool.call(runtime, arguments)
    except Exception as error:  # every failure becomes an answer the agent can read
        return _refusal(_as_service_error(tool, runtime, error))
    body = answer.model_dump(mode="json")
    return CallToolResult(content=[_text(body)], structured_content=body)


def _as_service_error(tool: AgentTool, runtime: Runtime, error: Exception) -> ServiceError:
    """The error as the HTTP error handlers (errors.py) would answer it."""
    if isinstance(error, ServiceError):
        return error
    if isinstance(error, ValidationError):
        rows = field_errors(error.errors())
        return InvalidInput(summarise(rows), errors=rows)
    condition = classify(error)
    if condition is not None:
        store_log.note(condition, error)
        runtime.metrics.store_errors.labels(condition.code).inc()
        return Unavailable(condition.advice, code=condition.code)
    log.error("unhandled error in MCP tool %s", tool.name, exc_info=error)
    return ServiceError("Internal error: this is a bug in the service, not in your request.")


def _refusal(error: ServiceError) -> CallToolResult:
    body: dict[str, Any] = {"detail": error.message, "code": error.code}
    if error.errors is not None:
        body["errors"] = error.errors
    # Text only: structured content must match the tool's output schema, an error does not.
    return CallToolResult(content=[_text(body)], is_error=True)


def _text(body: dict[str, Any]) -> TextContent:
    return TextContent(type="text", text=json.dumps(body, ensure_ascii=False))
