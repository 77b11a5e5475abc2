"""``lab mcp``: the notebook as an MCP server, so agents work under the rules people do.

A thin adapter like the CLI and the web UI: each tool takes typed arguments, calls the
notebook service and returns a ``views/`` shape, clipped so that an agent's context never
receives a whole series, log or patch (``bounds``). Errors cross one boundary
(``boundary``) as tool errors carrying the CLI's own line. Runs are launched as detached
``lab run`` processes (``launches``), so a run outlives the conversation that started it.
Everything an agent writes carries its name (``--agent``): predictions, notes and
hypotheses as their author, runs as the tag ``agent:NAME``.

The SDK (``mcp``, the ``[mcp]`` extra) is imported by ``server`` and ``boundary`` alone,
and only when ``lab mcp`` runs.
"""
