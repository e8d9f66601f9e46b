"""The model registry service: register versions, move aliases, archive, look up.

Version numbers are allocated by one atomic ``UPDATE … SET latest_version =
latest_version + 1 … RETURNING`` on the model's row inside the write transaction, so
concurrent registrations from several processes get distinct, consecutive numbers on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ailayer.core.clock import utcnow
from ailayer.core.errors import Conflict, InvalidInput, NotFound
from ailayer.core.hosts import host_rules
from ailayer.core.ids import new_id
from ailayer.core.names import check_name
from ailayer.db.engine import Database
from ailayer.db.tables import model_aliases, model_versions, registered_models
from ailayer.governance import audit
from ailayer.governance.pii import PiiPolicy
from ailayer.models.artifacts import ArtifactStore
from ailayer.models.compile import compile_model, not_compiled
from ailayer.models.flavors import get_flavor
from ailayer.models.signature import Signature
from ailayer.models.version import ModelVersion


@dataclass
class NewVersion:
    """Everything a client says about a version it registers."""

    model: str
    flavor: str
    artifact: bytes
    signature: dict
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    dataset_version: str | None = None
    feature_refs: list[str] = field(default_factory=list)
    code_version: str | None = None
    pipeline_run: str | None = None
    aliases: list[str] = field(default_factory=list)
    compile: bool = True  # try the compiled (ONNX) form; False records that it was not asked


def _check_maps(new: NewVersion) -> None:
    for name in ("params", "metrics", "tags"):
        if not isinstance(getattr(new, name), dict):
            raise InvalidInput(f"{name} must be an object", field=name)
    for key, value in new.metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"metrics.{key} must be a number; got {value!r}", field="metrics")
    if not isinstance(new.feature_refs, list) or not all(
        isinstance(r, str) for r in new.feature_refs
    ):
        raise InvalidInput("feature_refs must be a list of strings", field="feature_refs")


class ModelRegistry:
    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        provider_hosts: Iterable[str] = (),
        feature_pii: Callable[[str, list[str]], PiiPolicy] | None = None,
    ) -> None:
        """``feature_pii``: the PII policy of a version's feature refs (the feature
        store's tags), added to its ``pii``/``pii_redact`` tags at registration."""
        self.feature_pii = feature_pii
        self.db = db
        self.artifacts = artifacts
        # the operator's allow-list, checked here at registration and by the model cache
        # when a provider version loads (ailayer.core.hosts)
        self.provider_hosts = host_rules(provider_hosts)

    def _tags(self, tenant_id: str, new: NewVersion) -> dict[str, str]:
        """The version's tags, with the PII of its feature refs joined to its own."""
        if self.feature_pii is None or not new.feature_refs:
            return new.tags
        policy = PiiPolicy.from_tags(new.tags).merged(self.feature_pii(tenant_id, new.feature_refs))
        return {**new.tags, **policy.to_tags()}

    # writes ------------------------------------------------------------------
    def register(self, tenant_id: str, actor: str, new: NewVersion) -> ModelVersion:
        """Check, store and number a new version; optionally point aliases at it."""
        check_name("model", new.model)
        for alias in new.aliases:
            check_name("alias", alias)
        signature = Signature.parse(new.signature)
        _check_maps(new)
        tags = self._tags(tenant_id, new)
        flavor = get_flavor(new.flavor)
        flavor.check(new.artifact)
        if hasattr(flavor, "check_signature"):  # a provider's templates name its inputs
            flavor.check_signature(new.artifact, signature)
        if hasattr(flavor, "check_hosts"):  # a provider calls only the operator's hosts
            flavor.check_hosts(new.artifact, self.provider_hosts)
        ref = self.artifacts.put(tenant_id, new.artifact)
        compilation = (
            self._compile(tenant_id, new.flavor, new.artifact, signature)
            if new.compile
            else not_compiled("registered with compile: false")
        )
        with self.db.write() as conn:
            model_id = self._ensure_model(conn, tenant_id, new.model)
            number = conn.execute(
                update(registered_models)
                .where(registered_models.c.id == model_id)
                .values(latest_version=registered_models.c.latest_version + 1, updated_at=utcnow())
                .returning(registered_models.c.latest_version)
            ).scalar_one()
            conn.execute(
                insert(model_versions).values(
                    id=new_id(),
                    tenant_id=tenant_id,
                    model_id=model_id,
                    version=number,
                    flavor=new.flavor,
                    artifact_uri=ref.uri,
                    artifact_sha256=ref.sha256,
                    artifact_size=ref.size,
                    signature=signature.to_dict(),
                    params=new.params,
                    metrics=new.metrics,
                    tags=tags,
                    description=new.description,
                    dataset_version=new.dataset_version,
                    feature_refs=new.feature_refs,
                    code_version=new.code_version,
                    pipeline_run=new.pipeline_run,
                    archived=False,
                    created_at=utcnow(),
                    created_by=actor,
                    compilation=compilation,
                    serve_compiled=True,
                )
            )
            audit.record(
                conn,
                tenant_id,
                actor,
                "version.register",
                f"model/{new.model}",
                version=number,
                sha256=ref.sha256,
            )
            for alias in new.aliases:
                self._move_alias(conn, tenant_id, actor, model_id, new.model, alias, number)
        return self.get_version(tenant_id, new.model, number)

    def _compile(self, tenant_id: str, flavor: str, artifact: bytes, signature: Signature) -> dict:
        """The compilation record; the compiled bytes, when kept, stored beside the original."""
        outcome = compile_model(flavor, artifact, signature)
        record = dict(outcome.record)
        if outcome.onnx is not None:
            ref = self.artifacts.put(tenant_id, outcome.onnx)
            record.update(artifact_uri=ref.uri, artifact_sha256=ref.sha256, artifact_size=ref.size)
        return record

    def set_serving(
        self, tenant_id: str, actor: str, model: str, version: int, compiled: bool
    ) -> ModelVersion:
        """Serve the version's compiled form (``compiled=True``) or its original; a version
        with no compiled form cannot be switched on (409 naming ``compiled``)."""
        if not isinstance(compiled, bool):
            raise InvalidInput("compiled must be true or false", field="compiled")
        current = self.get_version(tenant_id, model, version)
        if compiled and current.compiled_artifact is None:
            why = (current.compilation or {}).get("reason") or "it was registered before compiling"
            raise Conflict(
                f"version {version} of {model!r} has no compiled form to serve: {why}",
                field="compiled",
            )
        with self.db.write() as conn:
            model_id = self._model_id(conn, tenant_id, model)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.model_id == model_id, model_versions.c.version == version)
                .values(serve_compiled=compiled)
            )
            audit.record(
                conn,
                tenant_id,
                actor,
                "version.serving",
                f"model/{model}",
                version=version,
                compiled=compiled,
                was_compiled=current.serve_compiled,
            )
        return self.get_version(tenant_id, model, version)

    def _ensure_model(self, conn: Connection, tenant_id: str, name: str) -> str:
        now = utcnow()
        values = dict(
            id=new_id(),
            tenant_id=tenant_id,
            name=name,
            description="",
            tags={},
            latest_version=0,
            archived=False,
            created_at=now,
            updated_at=now,
        )
        dialect_insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        conn.execute(
            dialect_insert(registered_models)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        )
        return conn.execute(
            select(registered_models.c.id).where(
                registered_models.c.tenant_id == tenant_id, registered_models.c.name == name
            )
        ).scalar_one()

    def set_alias(self, tenant_id: str, actor: str, model: str, alias: str, version: int) -> dict:
        check_name("alias", alias)
        with self.db.write() as conn:
            model_id = self._model_id(conn, tenant_id, model)
            self._move_alias(conn, tenant_id, actor, model_id, model, alias, version)
        return {"model": model, "alias": alias, "version": version}

    def _move_alias(
        self,
        conn: Connection,
        tenant_id: str,
        actor: str,
        model_id: str,
        model: str,
        alias: str,
        version: int,
    ) -> None:
        row = conn.execute(
            select(model_versions.c.archived).where(
                model_versions.c.model_id == model_id, model_versions.c.version == version
            )
        ).first()
        if row is None:
            raise NotFound(f"model {model!r} has no version {version}")
        if row.archived:
            raise Conflict(f"version {version} of {model!r} is archived", field="version")
        key = (model_aliases.c.model_id == model_id) & (model_aliases.c.alias == alias)
        previous = conn.execute(select(model_aliases.c.version).where(key)).scalar()
        now = utcnow()
        if previous is None:
            conn.execute(
                insert(model_aliases).values(
                    model_id=model_id,
                    alias=alias,
                    tenant_id=tenant_id,
                    version=version,
                    updated_at=now,
                    updated_by=actor,
                )
            )
        else:
            conn.execute(
                update(model_aliases)
                .where(key)
                .values(version=version, updated_at=now, updated_by=actor)
            )
        audit.record(
            conn,
            tenant_id,
            actor,
            "alias.set",
            f"model/{model}/alias/{alias}",
            alias=alias,
            from_version=previous,
            to_version=version,
        )

    def archive_version(self, tenant_id: str, actor: str, model: str, version: int) -> ModelVersion:
        with self.db.write() as conn:
            model_id = self._model_id(conn, tenant_id, model)
            held = (
                conn.execute(
                    select(model_aliases.c.alias).where(
                        model_aliases.c.model_id == model_id, model_aliases.c.version == version
                    )
                )
                .scalars()
                .all()
            )
            if held:
                raise Conflict(
                    f"version {version} of {model!r} still holds alias(es) "
                    f"{', '.join(held)}; move them first",
                    field="version",
                )
            result = conn.execute(
                update(model_versions)
                .where(model_versions.c.model_id == model_id, model_versions.c.version == version)
                .values(archived=True)
            )
            if result.rowcount == 0:
                raise NotFound(f"model {model!r} has no version {version}")
            audit.record(
                conn, tenant_id, actor, "version.archive", f"model/{model}", version=version
            )
        return self.get_version(tenant_id, model, version)

    # reads -------------------------------------------------------------------
    def _model_id(self, conn: Connection, tenant_id: str, model: str) -> str:
        model_id = conn.execute(
            select(registered_models.c.id).where(
                registered_models.c.tenant_id == tenant_id, registered_models.c.name == model
            )
        ).scalar()
        if model_id is None:
            raise NotFound(f"model {model!r} not found")
        return model_id

    def list_models(self, tenant_id: str) -> list[dict]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(registered_models)
                .where(registered_models.c.tenant_id == tenant_id)
                .order_by(registered_models.c.name)
            ).all()
            aliases = self._aliases(conn, [r.id for r in rows])
        return [_model_dict(r, aliases.get(r.id, {})) for r in rows]

    def get_model(self, tenant_id: str, model: str) -> dict:
        with self.db.read() as conn:
            model_id = self._model_id(conn, tenant_id, model)
            row = conn.execute(
                select(registered_models).where(registered_models.c.id == model_id)
            ).one()
            versions = conn.execute(
                select(model_versions)
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version)
            ).all()
            aliases = self._aliases(conn, [model_id]).get(model_id, {})
        result = _model_dict(row, aliases)
        result["versions"] = [ModelVersion.from_row(model, v, aliases).to_dict() for v in versions]
        return result

    def get_version(self, tenant_id: str, model: str, version: int) -> ModelVersion:
        with self.db.read() as conn:
            model_id = self._model_id(conn, tenant_id, model)
            row = conn.execute(
                select(model_versions).where(
                    model_versions.c.model_id == model_id, model_versions.c.version == version
                )
            ).first()
            if row is None:
                raise NotFound(f"model {model!r} has no version {version}")
            aliases = self._aliases(conn, [model_id]).get(model_id, {})
        return ModelVersion.from_row(model, row, aliases)

    def resolve_alias(self, tenant_id: str, model: str, alias: str) -> ModelVersion:
        """The version an alias points at now, with what serving needs to load it."""
        with self.db.read() as conn:
            row = conn.execute(
                select(model_versions)
                .join(
                    model_aliases,
                    (model_aliases.c.model_id == model_versions.c.model_id)
                    & (model_aliases.c.version == model_versions.c.version),
                )
                .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                .where(
                    registered_models.c.tenant_id == tenant_id,
                    registered_models.c.name == model,
                    model_aliases.c.alias == alias,
                )
            ).first()
        if row is None:
            raise NotFound(f"model {model!r} has no alias {alias!r}")
        return ModelVersion.from_row(model, row, {})

    def alias_history(self, tenant_id: str, model: str) -> list[dict]:
        with self.db.read() as conn:
            self._model_id(conn, tenant_id, model)
            return audit.entries(conn, tenant_id, f"model/{model}/alias/")

    def load_artifact(self, tenant_id: str, version: ModelVersion) -> bytes:
        return self.artifacts.get(tenant_id, version.artifact)

    def load_served(self, tenant_id: str, version: ModelVersion) -> tuple[str, bytes]:
        """The flavor and bytes serving loads: the compiled form unless switched off."""
        flavor, ref = version.served
        return flavor, self.artifacts.get(tenant_id, ref)

    @staticmethod
    def _aliases(conn: Connection, model_ids: list[str]) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        if not model_ids:
            return result
        rows = conn.execute(
            select(model_aliases.c.model_id, model_aliases.c.alias, model_aliases.c.version).where(
                model_aliases.c.model_id.in_(model_ids)
            )
        )
        for row in rows:
            result.setdefault(row.model_id, {})[row.alias] = row.version
        return result


def _model_dict(row: Any, aliases: dict[str, int]) -> dict:
    return {
        "name": row.name,
        "description": row.description,
        "tags": row.tags,
        "latest_version": row.latest_version,
        "archived": row.archived,
        "aliases": dict(sorted(aliases.items())),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
