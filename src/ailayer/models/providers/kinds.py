"""What each kind of provider is sent and where its answer is in the response.

``request`` turns one record into ``(url, body)``; ``extract`` finds the prediction in
the parsed response, raising ``ValueError`` with the missing path when it is not there.
"""

from __future__ import annotations

from typing import Any

from ailayer.models.providers.config import ProviderConfig


def request(config: ProviderConfig, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if config.kind == "openai-chat":
        assert config.prompt is not None
        messages = [{"role": "user", "content": config.prompt.fill(record)}]
        if config.system is not None:
            messages.insert(0, {"role": "system", "content": config.system.fill(record)})
        body = {**config.params, "model": config.model, "messages": messages}
        return endpoint(config), body
    if config.kind == "openai-embeddings":
        assert config.input is not None
        body = {**config.params, "model": config.model, "input": config.input.fill(record)}
        return endpoint(config), body
    return endpoint(config), record


def endpoint(config: ProviderConfig) -> str:
    """The URL every call of this config goes to (the allow-list checks this one)."""
    if config.kind == "openai-chat":
        return f"{config.url}/chat/completions"
    if config.kind == "openai-embeddings":
        return f"{config.url}/embeddings"
    return config.url


def extract(config: ProviderConfig, answer: Any) -> Any:
    if config.kind == "openai-chat":
        content = pick(answer, ("choices", "0", "message", "content"))
        if not isinstance(content, str):
            raise ValueError("choices[0].message.content is not a string")
        return content
    if config.kind == "openai-embeddings":
        vector = pick(answer, ("data", "0", "embedding"))
        if not isinstance(vector, list) or not all(_is_number(v) for v in vector):
            raise ValueError("data[0].embedding is not a list of numbers")
        return vector
    return pick(answer, config.response_path)


def pick(document: Any, path: tuple[str, ...]) -> Any:
    """Follow a JSON pointer's parts (list items by index); ``ValueError`` names the part."""
    here = document
    for depth, part in enumerate(path):
        if isinstance(here, dict) and part in here:
            here = here[part]
        elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
            here = here[int(part)]
        else:
            walked = "/" + "/".join(path[: depth + 1])
            raise ValueError(f"the answer has nothing at {walked}")
    return here


def usage(answer: Any) -> tuple[int, int]:
    """(prompt tokens, completion tokens) from an OpenAI-style ``usage``; zeros if absent."""
    counts = answer.get("usage") if isinstance(answer, dict) else None
    if not isinstance(counts, dict):
        return 0, 0
    return _count(counts.get("prompt_tokens")), _count(counts.get("completion_tokens"))


def _count(value: Any) -> int:
    return value if type(value) is int and 0 <= value < 2**53 else 0


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)
