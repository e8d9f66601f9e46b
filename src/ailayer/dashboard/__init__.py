"""The web console at /ui: server-rendered pages over the same services the API uses.

How it fits together (one module, one job):

- ``app.py``       ``create_console(services)``: the ASGI app the API mounts at /ui
- ``sessions.py``  sign-in sessions in ``ui_sessions`` (hashes only), re-read per page
- ``access.py``    ``reads(permission)`` for pages, ``acts(permission)`` for form POSTs
                   (CSRF first, then the role), ``can`` / ``may_change`` for showing buttons
- ``signin.py``    sign-in with an API key or OIDC token, sign-out
- ``render.py``    Jinja2 templates with the page frame (who, navigation, CSRF token)
- ``errors.py``    failures as pages (ended session → sign-in, 403, 404, 409, 503)
- ``sections.py``  ``part(backend, read, ...)``: one part of a page whose backend is down
                   says so, the rest of the page still shows
- ``traffic.py``   requests, error rate and p99 of an endpoint over the last hour / day
- ``pages/``       one module per page; ``pages/__init__.py`` lists them (``PAGES``)
- ``templates/``   one template per page, all extending ``base.html``
- ``static/``      ``console.css`` and ``console.js``, ours; nothing fetched elsewhere

Adding a page:

1. ``pages/<name>.py``: an ``APIRouter`` and ``PAGE = Page(title, path, permission,
   router)``. Each GET route takes ``session: Annotated[Session, Depends(reads(P))]``,
   reads through ``access.services_of(request)`` with the principal's tenant, wraps each
   backend read in ``sections.part("the backend's name", read, ...)``, and returns
   ``render(request, "<name>.html", **values)``. A form POST takes
   ``Depends(acts(P))`` (CSRF + role), checks ownership with ``access.require_change``,
   and carries a state token (e.g. a revision) so a stale form changes nothing.
2. ``templates/<name>.html``: ``{% extends "base.html" %}`` and a ``content`` block;
   forms include ``{{ csrf_input() }}``; actions show only when the view passes a flag
   computed with ``access.can`` / ``access.may_change``.
3. Add ``<name>.PAGE`` to ``PAGES`` in ``pages/__init__.py`` (navigation order).
4. Tests: permissions and forms with a ``TestClient`` (``tests/support/console.py`` signs
   in); the page's path in ``PAGES`` of ``tests/browser/test_console.py``, which opens it
   in Chromium and runs axe-core on it.
"""

from ailayer.dashboard.app import PREFIX, create_console

__all__ = ["PREFIX", "create_console"]
