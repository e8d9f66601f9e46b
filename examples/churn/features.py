"""The churn example's feature repo: ``ailayer apply features.py`` registers all of it.

Customer lifetime value is defined once, in ``customer_value``, and both feature services
use that one definition: the churn model and the upsell model read the same values,
computed the same way, in training and in serving.

The data is a fixed history (2024-01 to 2025-06, see ``make_data.py``), so the views have
no TTL: a value stays valid until the next snapshot replaces it. With live data you would
set ``ttl=timedelta(days=35)`` on monthly snapshots so that a stale value reads as missing.
"""

from pathlib import Path

from ailayer.features import Entity, Feature, FeatureService, FeatureView, ParquetSource

# make_data.py writes here; absolute paths need `allow_external_feature_paths: true`
# (see ailayer.yaml). Without it, put the files under <offline_store>/<tenant id>/ and
# use relative paths such as "customer_value.parquet".
DATA = Path(__file__).resolve().parent / "data"

customer = Entity("customer", join_keys={"customer_id": int}, description="A paying account")

customer_value = FeatureView(
    "customer_value",
    entities=[customer],
    features=[
        Feature(
            "clv",
            float,
            default=0.0,
            description="Customer lifetime value: monthly spend over the last 180 days x 24",
        ),
    ],
    source=ParquetSource(str(DATA / "customer_value.parquet"), timestamp_field="computed_at"),
    owner="growth-analytics",
    description="The one CLV definition every model uses",
    tags={"domain": "revenue"},
)

customer_activity = FeatureView(
    "customer_activity",
    entities=[customer],
    features=[
        Feature("orders_90d", int, default=0),
        Feature("days_since_last_order", float, default=365.0),
    ],
    source=ParquetSource(str(DATA / "customer_activity.parquet"), timestamp_field="computed_at"),
    owner="growth-analytics",
)

customer_account = FeatureView(
    "customer_account",
    entities=[customer],
    features=[Feature("seats", int)],  # no default: an unknown customer is a clear 422
    source=ParquetSource(str(DATA / "customers.parquet"), timestamp_field="signup_at"),
    owner="billing",
)

churn = FeatureService(
    "churn",
    [
        "customer_value:clv",
        "customer_activity:orders_90d",
        "customer_activity:days_since_last_order",
    ],
    description="Will this customer stop ordering in the next 60 days?",
)

upsell = FeatureService(
    "upsell",
    ["customer_value:clv", "customer_account:seats", "customer_activity:orders_90d"],
    description="Will this customer upgrade their plan in the next 60 days?",
)
