"""Routes of the `live` tag: the server-sent event stream the web UI follows the hall and the decisions with.

Must not frame or fan out events itself: edge.stream's `Broadcaster` does, with a bounded queue per client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from edge.api.deps import ALL, State, needs

router = APIRouter(tags=["live"])


@router.get("/api/stream", response_class=StreamingResponse, **needs(*ALL))
async def stream(state: State) -> StreamingResponse:
    """Server-sent events: `alert`, `ticket`, `recommendation` for every notification; `hall` (the snapshot) once
    a second; `changed` with the parts of the decision state that moved (engine, tickets, tidal)."""
    broadcaster = state.stream

    async def frames() -> AsyncIterator[str]:
        async for frame in broadcaster.frames():
            yield frame

    return StreamingResponse(frames(), media_type="text/event-stream", headers={"cache-control": "no-cache"})
