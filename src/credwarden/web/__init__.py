"""The fleet dashboard (`credwarden serve`): overview, device pages and a JSON API over the inventory, read-only.

    from credwarden.web.server import ServeOptions, build_app
    app = build_app(ServeOptions(db="inventory.db"))      # an ASGI app (Starlette), served by uvicorn

Layers: `sql` (every statement) -> `data` (Dashboard: views from rows) -> `app` (routes, templates, auth);
`svg` draws the charts, `history` keeps the daily counts of finished days in memory, `server` checks the
options and runs uvicorn.
"""
