"""Serverless entry points for the prediction API: ``aws_lambda.handler`` (API Gateway
REST and HTTP API events, ALB target events) and ``cloud_functions.handler`` (a Google
Cloud Functions / Cloud Run functions HTTP request). See ``docs/deploy.md``."""
