"""The feedback service's routes, one router per concern, in the order the OpenAPI lists them."""

from __future__ import annotations

from fastapi import APIRouter

from services.feedback.routes import health, labels, monitoring

ROUTERS: tuple[APIRouter, ...] = (labels.router, monitoring.router, health.router)
