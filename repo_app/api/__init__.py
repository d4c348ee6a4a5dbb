"""The REST API under ``/api/v1``, documented at ``/api/v1/openapi.json``."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def init_api(app: Flask) -> Api:
    from repo_app.api import files, meta, resources, search, uploads

    api = Api(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "kejian token create"}
    )
    for module in (resources, files, uploads, search, meta):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    return api
