"""What the console's pages show, as plain dataclasses: functions of the services the API
uses and the signed-in tenant, so a page and the API's answer come from the same code.

Charts over time read the log's rollups (``monitoring/log/rollup.py``), never its rows;
reports the log cannot pre-aggregate (quality against labels, drift, fairness, concept
alarms) come from the services the API calls, through ``Recent``: one computation per
tenant and arguments every ``ttl`` seconds, served to every page view meanwhile.
"""
