"""What a name of a model, endpoint, alias, rule or key may look like, in one place: the
services check it, and the API states it in its OpenAPI document."""

from __future__ import annotations

import re

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
NAME_PATTERN = re.compile(NAME_REGEX)
NAME_RULE = "1-100 characters of letters, digits, '_', '.', '-' starting with a letter or digit"
