"""The agent adapter's one error boundary: labbook's exception tree as MCP errors.

A tool that raises a ``LabbookError`` answers with a tool error (``isError``) holding the
line the CLI prints for it (``error: no run '99' in this notebook; ...``), so an agent
reads the same words a person does and can correct its call; the server lives on. Anything
unexpected is one ``internal error:`` line to the agent and a traceback in the server's
log (stderr), never a dead server. Arguments the schema refuses (a string for a number)
never reach a tool: their error is one line too (``invalid``), as the web's is. A resource
read fails the same way, as the protocol's resource error.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from labbook.errors import LabbookError, NotFound

log = logging.getLogger("labbook.mcp")


def line_of(err: Exception) -> str:
    """The one line the CLI's boundary (``cli.LabGroup.invoke``) prints for ``err``."""
    if isinstance(err, LabbookError):
        return f"error: {err}"
    log.exception("unexpected error in a tool call")
    return f"internal error: {type(err).__name__}: {err}"


def invalid(tool: str, err: ValidationError) -> str:
    """The first argument the schema refused, in one line: ``error: list_runs: limit: ...``."""
    errors = err.errors()
    if not errors:
        return f"error: {tool}: invalid arguments"
    where = ".".join(str(part) for part in errors[0]["loc"]) or "arguments"
    return f"error: {tool}: {where}: {errors[0]['msg']}"


def failed(err: Exception) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=line_of(err))], is_error=True)


def tool(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a tool whose errors come back as tool errors; its signature (the schema) is kept."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as err:
                return failed(err)

        return guarded_async

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            return failed(err)

    return guarded


def resource(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a resource whose errors are the protocol's resource errors, with the CLI's line."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except NotFound as err:
            raise ResourceNotFoundError(line_of(err)) from None
        except Exception as err:
            raise ResourceError(line_of(err)) from None

    return guarded
