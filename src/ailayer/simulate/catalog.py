"""The static world the simulator draws from: plans, countries, hours, amounts.

Kept apart from the sampling code so that realism can be tuned in one place
without touching any logic.
"""

from __future__ import annotations

import numpy as np

PLANS = np.array(["free", "starter", "pro", "enterprise"], dtype=object)
PLAN_SHARE = np.array([0.45, 0.30, 0.18, 0.07])
# Relative team size per plan: enterprise accounts have many more users.
PLAN_TEAM_FACTOR = np.array([0.5, 1.0, 2.0, 5.0])
# Unused seats bought on top of the active users (mean of a Poisson draw).
PLAN_SPARE_SEATS = np.array([0.0, 1.0, 3.0, 10.0])
# Median legitimate payment amount per plan (billing currency units).
PLAN_MEDIAN_AMOUNT = np.array([20.0, 45.0, 90.0, 180.0])
# How often an account's users pay, relative to a free account.
PLAN_ACTIVITY = np.array([0.6, 1.0, 1.4, 2.0])

COUNTRIES = np.array(["US", "GB", "DE", "FR", "CA", "AU", "NL", "ES", "IT", "IE"], dtype=object)
COUNTRY_SHARE = np.array([0.36, 0.14, 0.11, 0.08, 0.07, 0.06, 0.05, 0.05, 0.04, 0.04])
CURRENCY_OF_COUNTRY = {
    "US": "USD",
    "GB": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "CA": "CAD",
    "AU": "AUD",
    "NL": "EUR",
    "ES": "EUR",
    "IT": "EUR",
    "IE": "EUR",
}
CURRENCIES = np.array([CURRENCY_OF_COUNTRY[c] for c in COUNTRIES], dtype=object)
# A market that never appears before drift: the ``new_country_share`` knob uses it.
NEW_COUNTRY = "BR"

ROLES = np.array(["admin", "member", "viewer"], dtype=object)
ROLE_SHARE = np.array([0.2, 0.65, 0.15])
OWNER_ROLE = "owner"

# Share of payments per UTC hour: people pay in office hours and evenings
# (never zero at night: some customers live in other time zones).
LEGIT_HOURS = np.array(
    [1.5, 1.2, 1, 1, 1, 1.2, 1.5, 2, 4, 6, 7, 7, 7, 7, 7, 7, 6, 5, 5, 5, 4, 3, 2.5, 2]
)
LEGIT_HOURS = LEGIT_HOURS / LEGIT_HOURS.sum()
# Fraudsters favour the night, when victims sleep and reviews are thin.
FRAUD_HOURS = np.array(
    [6, 7, 7, 7, 6, 5, 3, 2, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2, 2, 2, 3, 4, 5]
)
FRAUD_HOURS = FRAUD_HOURS / FRAUD_HOURS.sum()

# Payment countries: the known ones plus the drift market, addressed by index.
PAYMENT_COUNTRIES = np.array([*COUNTRIES, NEW_COUNTRY], dtype=object)
NEW_COUNTRY_INDEX = len(COUNTRIES)
