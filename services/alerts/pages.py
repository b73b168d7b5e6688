"""The console's Jinja2 templates (autoescaped): one environment for every page the service
renders, so each has the template globals, e.g. ``{{ csrf_field(request) }}`` of every form (the
sessions' 503 page too: a second environment without it answered 500 instead)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from services.alerts import csrf

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
templates.env.globals["csrf_field"] = csrf.field
