"""Staging: the lake's requests of a window, typed, with their total input and output tokens."""

from pipelines.defs.sql_models import sql_model
from pipelines.warehouse.contracts import STAGING

stg_gateway_requests = sql_model("staging.stg_gateway_requests", deps=["lake/gateway_requests"], contract=STAGING)
