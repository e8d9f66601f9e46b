"""The composition root: build every service from settings, in one place.

Nothing here runs at import time; callers (the CLI, the ASGI app factory, tests) call
``build`` and own the result. Only ``ailayer.api`` and ``ailayer.cli`` import this
module: everything else is given its collaborators (``tests/unit/test_import_rules.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ailayer.core.secretbox import SecretBox
from ailayer.core.settings import Settings
from ailayer.core.tracing import Tracing, open_tracing
from ailayer.cost.report import CostReport
from ailayer.cost.service import CostService
from ailayer.cost.storage import StoredBytes
from ailayer.cost.traffic import TrafficReader
from ailayer.cost.usage import UsageMeter
from ailayer.cost.writer import UsageWriter
from ailayer.db.engine import Database
from ailayer.db.migrate import upgrade
from ailayer.demo.fraud import lineage_frame as demo_lineage
from ailayer.events import EventBus, open_bus
from ailayer.events.privacy import DeadLetterSubjects, SpoolSubjects, TopicSubjects
from ailayer.features import (
    FeatureRegistry,
    FeatureServer,
    Materializer,
    OfflineStore,
    OnlineStore,
    Transforms,
    load_definitions,
    open_online_store,
)
from ailayer.features.engines import BatchEngine, open_engine
from ailayer.features.pii import version_pii
from ailayer.features.privacy import (
    CustomerSources,
    DerivedProfiles,
    OfflineSubjects,
    OnlineSubjects,
    stream_dead_letter_topics,
    stream_topics,
)
from ailayer.governance.jwks import JwksCache
from ailayer.governance.keys import KeyService
from ailayer.governance.oidc import OidcConfig, OidcVerifier
from ailayer.governance.ownership import OwnershipService
from ailayer.governance.privacy import PrivacyService, SubjectStore, Tombstones
from ailayer.governance.quotas import Quotas
from ailayer.governance.ratelimit import RateLimiter, open_rate_limiter
from ailayer.models.artifacts import ArtifactStore, open_artifact_store
from ailayer.models.endpoints import EndpointService
from ailayer.models.service import ModelRegistry
from ailayer.monitoring.alerting.inputs import InputWatch
from ailayer.monitoring.alerting.monitor import Background, Monitor
from ailayer.monitoring.alerting.notify import Dispatcher, WebhookOptions
from ailayer.monitoring.alerting.observe import Observer
from ailayer.monitoring.alerting.store import AlertStore
from ailayer.monitoring.endpoint import (
    ConceptWatch,
    EndpointDrift,
    EndpointExperiments,
    LogFairness,
)
from ailayer.monitoring.endpoint.privacy import DatasetReferences, LogReferences
from ailayer.monitoring.endpoint.ranking import EndpointRanking
from ailayer.monitoring.endpoint.references import ReferenceStore, dataset_loader
from ailayer.monitoring.explain import attributions
from ailayer.monitoring.log import (
    FeedbackStore,
    LogWriter,
    PerformanceMonitor,
    PredictionExplainer,
    PredictionLog,
    SaltStore,
)
from ailayer.monitoring.log.journal import Journal
from ailayer.monitoring.log.privacy import DerivedReferences, LogSubjects
from ailayer.monitoring.log.process import LogProcess
from ailayer.monitoring.log.rollup import LogRollup, RollupThread
from ailayer.monitoring.log.variant_stats import LogVariantStats
from ailayer.pipelines.card import ModelCards
from ailayer.pipelines.lease import open_lease
from ailayer.pipelines.lineage import Lineage
from ailayer.pipelines.listen import AlertListener
from ailayer.pipelines.pipeline import Pipelines
from ailayer.pipelines.runner import PipelineService
from ailayer.pipelines.runs import RunStore
from ailayer.pipelines.scheduler import DEFAULT_INTERVAL as SCHEDULER_INTERVAL
from ailayer.pipelines.scheduler import Declarations, Launch, Scheduler, SchedulerThread
from ailayer.pipelines.sizes import OfflineSizes
from ailayer.pipelines.steps import Tools
from ailayer.pipelines.triggers import Declared
from ailayer.pipelines.verdicts import RunVerdicts
from ailayer.retention import RetentionJob, RetentionThread
from ailayer.rollout.controller import DEFAULT_INTERVAL, ControllerThread, RolloutController
from ailayer.rollout.policy import PolicyStore
from ailayer.rollout.store import DeploymentService
from ailayer.serving.batching import MicroBatcher
from ailayer.serving.metrics import WorkerMetrics
from ailayer.serving.model_cache import ModelCache
from ailayer.serving.predict import Predictor
from ailayer.serving.remote import RemoteRunner
from ailayer.serving.resolver import EndpointResolver
from ailayer.serving.runner import LocalRunner, ModelRunner
from ailayer.serving.worker import ModelWorker

logger = logging.getLogger("ailayer")


@dataclass
class Services:
    settings: Settings
    db: Database
    artifacts: ArtifactStore
    keys: KeyService
    registry: ModelRegistry
    endpoints: EndpointService
    deployments: DeploymentService
    predictor: Predictor
    features: FeatureRegistry
    online: OnlineStore
    offline: OfflineStore
    materializer: Materializer
    feature_server: FeatureServer
    bus: EventBus
    prediction_log: PredictionLog
    log_writer: LogWriter
    feedback: FeedbackStore
    performance: PerformanceMonitor
    drift: EndpointDrift
    alerts: AlertStore
    concept: ConceptWatch
    fairness: LogFairness
    experiments: EndpointExperiments
    ranking: EndpointRanking
    pipelines: PipelineService
    lineage: Lineage
    tracing: Tracing
    salts: SaltStore
    tombstones: Tombstones
    privacy: PrivacyService
    limiter: RateLimiter
    quotas: Quotas
    rollup: LogRollup  # the log per 5-minute bucket, for the console
    cost: CostService | None = None  # the report and advisor (cost_services)
    usage_writer: UsageWriter | None = None  # writes this process's measured usage

    async def aclose(self) -> None:
        """Close what lives on an event loop (the bus); call it from that loop."""
        await self.bus.close()
        await self.limiter.aclose()
        await self.predictor.runner.aclose()

    def close(self) -> None:
        try:
            self.prediction_log.close()  # what no running writer took: flushed on shutdown
        except Exception:
            logger.exception("final prediction log flush failed")
        self.online.close()
        self.offline.engine.close()
        self.db.dispose()
        self.tracing.shutdown()  # flushes spans of CLI workers (ailayer infer)


def model_cards(services: Services) -> ModelCards:
    """Model cards from what the registry, lineage, endpoints and monitoring recorded."""
    return ModelCards(
        services.registry,
        services.lineage,
        services.endpoints,
        services.drift,
        services.fairness,
        OwnershipService(services.db).owner,
    )


def key_service(settings: Settings, db: Database) -> KeyService:
    """Keys, and bearer JWTs from the OIDC issuer when one is configured."""
    keys = KeyService(db, settings.auth_cache_seconds)
    if settings.oidc_issuer:
        config = OidcConfig(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            leeway=settings.oidc_leeway_seconds,
            tenant_claim=settings.oidc_tenant_claim,
            team_claim=settings.oidc_team_claim,
            role_claim=settings.oidc_role_claim,
        )
        jwks = JwksCache(
            settings.oidc_jwks_url,
            ttl=settings.oidc_jwks_cache_seconds,
            min_refresh=settings.oidc_jwks_refresh_seconds,
        )
        keys.tokens = OidcVerifier(config, jwks, keys.tenant_id)
    return keys


def build(settings: Settings, *, migrate: bool = True) -> Services:
    db = Database(settings.metadata_url)
    if migrate:
        upgrade(db)
    artifacts = open_artifact_store(settings.artifacts)
    features = FeatureRegistry(db)
    registry = ModelRegistry(db, artifacts, settings.provider_hosts, version_pii(features))
    endpoints = EndpointService(db)
    deployments = DeploymentService(db)
    resolver = EndpointResolver(
        registry, endpoints, settings.alias_refresh_seconds, policies=deployments
    )
    transforms = Transforms(
        load_definitions(settings.feature_repo) if settings.feature_repo else ()
    )
    online = open_online_store(settings.online_store)
    offline = OfflineStore(
        settings.offline_store,
        db,
        features,
        transforms,
        allow_external_paths=settings.allow_external_feature_paths,
        engine=batch_engine(settings),
    )
    feature_server = FeatureServer(
        features, online, transforms, refresh_seconds=settings.alias_refresh_seconds
    )
    tracing = open_tracing(settings)
    prediction_log = prediction_log_of(settings, offline)
    salts = SaltStore(db)
    tombstones = Tombstones(db, salts)
    models = ModelCache(registry, settings.model_cache_bytes)
    runs = RunStore(db)
    quotas = Quotas(db, settings.limits, offline_bytes=OfflineSizes(offline.tenant_root).written)
    batcher = None if settings.model_workers else micro_batcher(settings)
    predictor = Predictor(
        resolver,
        models,
        feature_server,
        log=prediction_log,
        explainer=PredictionExplainer(prediction_log),
        tracing=tracing,
        shadow_queue_size=settings.shadow_queue_size,
        batcher=batcher,
        runner=model_runner(settings, models, batcher, tracing),
    )
    drift = EndpointDrift(
        prediction_log,
        registry,
        endpoints,
        ReferenceStore(db, artifacts, registry, lineage=(dataset_loader(offline), demo_lineage)),
    )
    services = Services(
        settings=settings,
        db=db,
        artifacts=artifacts,
        keys=key_service(settings, db),
        registry=registry,
        endpoints=endpoints,
        deployments=deployments,
        predictor=predictor,
        features=features,
        online=online,
        offline=offline,
        materializer=Materializer(db, features, offline, online, tombstones=tombstones),
        feature_server=feature_server,
        bus=open_bus(settings.event_bus),
        prediction_log=prediction_log,
        log_writer=LogWriter(prediction_log, interval=settings.log_flush_seconds),
        feedback=FeedbackStore(prediction_log),
        performance=PerformanceMonitor(prediction_log, registry),
        drift=drift,
        alerts=AlertStore(
            db, secret_box(settings), allow_private_webhooks=settings.alert_webhooks_allow_private
        ),
        concept=ConceptWatch(prediction_log),
        fairness=LogFairness(prediction_log, registry),
        experiments=EndpointExperiments(prediction_log),
        ranking=EndpointRanking(prediction_log),
        pipelines=PipelineService(
            Tools(offline, registry, artifacts, runs, deployments, quotas),
            Pipelines(settings.feature_repo or None),
        ),
        lineage=Lineage(registry, features, offline, runs, db),
        tracing=tracing,
        salts=salts,
        tombstones=tombstones,
        privacy=PrivacyService(
            db,
            subject_stores(
                features,
                online,
                offline,
                prediction_log,
                salts,
                settings,
                LogReferences(drift.references, drift),
                DatasetReferences(drift.references),
            ),
            tombstones,
        ),
        limiter=open_rate_limiter(settings.limits),
        quotas=quotas,
        rollup=LogRollup(db, offline.tenant_root),
    )
    services.cost, services.usage_writer = cost_services(services)
    return services


def cost_services(services: Services) -> tuple[CostService, UsageWriter]:
    """The cost report and advisor, and the writer of what this process measures: the
    CPU and memory of the models it runs here (none in a gateway), and its events."""
    settings, db, log = services.settings, services.db, services.prediction_log
    report = CostReport(db, log, StoredBytes(db, services.offline.tenant_root), settings.prices)
    runner = services.predictor.runner
    local = isinstance(runner, LocalRunner)
    meter = UsageMeter(
        db,
        runner.costs if local else None,
        services.predictor.models if local else None,
    )
    writer = UsageWriter(meter, settings.cost_flush_seconds)
    return CostService(report, TrafficReader(db, log)), writer


def subject_stores(
    features: FeatureRegistry,
    online: OnlineStore,
    offline: OfflineStore,
    prediction_log: PredictionLog,
    salts: SaltStore,
    settings: Settings | None = None,
    references: DerivedReferences | None = None,
    profiles: DerivedProfiles | None = None,
) -> list[SubjectStore]:
    """Every store a data subject request searches; a new store joins by adding its own."""
    stores: list[SubjectStore] = [
        OnlineSubjects(features, online),
        OfflineSubjects(offline, offline.db, profiles),
        LogSubjects(offline.tenant_root, salts, prediction_log.flush, references),
    ]
    if settings is not None and settings.event_bus:
        url = settings.event_bus
        groups = settings.console_topics  # the groups of configured consumers, by topic
        stores.append(
            TopicSubjects(lambda: open_bus(url), stream_topics(features, features.db, groups))
        )
        stores.append(
            DeadLetterSubjects(
                lambda: open_bus(url),
                stream_dead_letter_topics(features),
                settings.dead_letter_topics,
                groups,
            )
        )
    if settings is not None and settings.outbox_spools:
        stores.append(SpoolSubjects(settings.outbox_spools))
    return [*stores, CustomerSources(features)]


def batch_engine(settings: Settings) -> BatchEngine:
    """The engine of batch work; a Spark session starts only when work first needs it."""
    return open_engine(
        settings.batch_engine,
        master=settings.spark_master,
        timeout_seconds=settings.spark_timeout_seconds,
        conf=settings.spark_conf,
    )


def prediction_log_of(settings: Settings, offline: OfflineStore) -> PredictionLog:
    """The prediction log: written by a child process (``log_process``), or here."""
    journal = settings.home / "journal"
    if not settings.log_process:
        return PredictionLog(offline.tenant_root, SaltStore(offline.db), journal=Journal(journal))
    spec = {
        "metadata_url": settings.metadata_url,
        "offline_store": settings.offline_store,
        "journal": str(journal),
        "interval": settings.log_flush_seconds,
    }
    return PredictionLog(offline.tenant_root, SaltStore(offline.db), backend=LogProcess(spec))


def model_runner(
    settings: Settings, models: ModelCache, batcher: MicroBatcher | None, tracing: Tracing
) -> ModelRunner:
    """Where the predictor's models run: here, or with ``model_workers`` set (a gateway)
    in those worker processes."""
    if not settings.model_workers:
        return LocalRunner(models, batcher, tracing, attribute=attributions)
    return RemoteRunner(
        settings.model_workers,
        secret=worker_secret(settings),
        timeout=settings.model_worker_timeout_seconds,
        retry_seconds=settings.model_worker_retry_seconds,
        tracing=tracing,
    )


def build_worker(settings: Settings, *, migrate: bool = True) -> ModelWorker:
    """A model worker (``ailayer serve --role worker``): the registry and artifact store to
    load models from, its own model cache and micro-batcher; no API, log or feature store."""
    db = Database(settings.metadata_url)
    if migrate:
        upgrade(db)
    registry = ModelRegistry(db, open_artifact_store(settings.artifacts), settings.provider_hosts)
    models = ModelCache(registry, settings.model_cache_bytes)
    runner = LocalRunner(models, micro_batcher(settings), attribute=attributions)
    metrics = WorkerMetrics(runner, per_tenant=settings.metrics_per_tenant)
    return ModelWorker(registry, runner, worker_secret(settings), metrics)


def worker_usage(settings: Settings, worker: ModelWorker) -> UsageWriter:
    """The writer of what a model worker measures: its models' CPU and memory."""
    runner = worker.runner
    meter = UsageMeter(worker.registry.db, runner.costs, runner.models)
    return UsageWriter(meter, settings.cost_flush_seconds)


def events_usage(settings: Settings) -> UsageWriter:
    """The writer of a consumer process's events in and out (it runs no models); its
    database is disposed by ``stop``'s caller through ``writer.meter.db``."""
    meter = UsageMeter(Database(settings.metadata_url))
    return UsageWriter(meter, settings.cost_flush_seconds)


def worker_secret(settings: Settings) -> str:
    secret = settings.model_worker_secret
    return secret.get_secret_value() if secret is not None else ""


def micro_batcher(settings: Settings) -> MicroBatcher | None:
    """The predictor's micro-batcher, or None with the setting ``micro_batching`` off."""
    if not settings.micro_batching:
        return None
    return MicroBatcher(settings.micro_batch_max_rows, settings.micro_batch_max_wait_ms)


def alert_observer(services: Services) -> Observer:
    """What alert rules are judged on: performance windows, drift, concept drift and
    missing inputs, all read from the services' log."""
    return Observer(
        services.performance,
        drift=services.drift,
        concept=services.concept,
        inputs=InputWatch(services.prediction_log),
    )


def alert_dispatcher(services: Services) -> Dispatcher:
    """Delivery of alert transitions to the settings' bus topic and to webhooks."""
    settings = services.settings
    webhooks = WebhookOptions(allow_private=settings.alert_webhooks_allow_private)
    return Dispatcher(
        services.alerts, settings.event_bus, topic=settings.alert_topic, webhooks=webhooks
    )


def alert_monitor(
    services: Services, dispatcher: Dispatcher | None = None, observer: Observer | None = None
) -> Monitor:
    """The alert monitor over the services; the dispatcher and observer default to the
    settings' (the caller closes the dispatcher: ``monitor.dispatcher.close()``)."""
    return Monitor(
        services.alerts,
        dispatcher if dispatcher is not None else alert_dispatcher(services),
        observer if observer is not None else alert_observer(services),
        services.endpoints,
        services.prediction_log,
    )


def start_alert_monitor(services: Services) -> Background | None:
    """The monitor in a background thread (``ailayer up``), unless
    ``monitor_interval_seconds`` is 0."""
    interval = services.settings.monitor_interval_seconds
    return Background(alert_monitor(services), interval).start() if interval > 0 else None


def policy_store(services: Services) -> PolicyStore:
    """Where endpoints' traffic policies are kept: the metadata database."""
    return services.deployments


def rollout_controller(services: Services, store: PolicyStore | None = None) -> RolloutController:
    """The rollout controller over the policy store (default: the metadata database's)
    and the prediction log, judging every ``rollout_interval_seconds``; its final verdicts
    are recorded on the pipeline runs that handed the canaries off."""
    return RolloutController(
        store if store is not None else policy_store(services),
        LogVariantStats(services.prediction_log),
        services.settings.rollout_interval_seconds or DEFAULT_INTERVAL,
        verdicts=RunVerdicts(services.pipelines.runs),
    )


def start_rollout_controller(
    services: Services, store: PolicyStore | None = None
) -> ControllerThread | None:
    """The controller in a background thread (``ailayer up``), unless
    ``rollout_interval_seconds`` is 0."""
    if services.settings.rollout_interval_seconds <= 0:
        return None
    return ControllerThread(rollout_controller(services, store)).start()


def declared_pipelines(services: Services) -> Declarations:
    """Every declared pipeline that carries triggers, for every tenant, read again on a
    scheduler pass when the feature repository changed under the running scheduler."""

    def declared() -> tuple[Declared, ...]:
        if not services.settings.feature_repo:
            return ()
        services.pipelines.pipelines.refresh()
        with_triggers = [p for p in services.pipelines.pipelines.all().values() if p.triggers]
        if not with_triggers:
            return ()
        return tuple(
            Declared(tenant_id, pipeline.name, tuple(pipeline.triggers))
            for tenant_id in services.keys.tenant_ids()
            for pipeline in with_triggers
        )

    return declared


def pipeline_launch(services: Services) -> Launch:
    """How the scheduler starts a run: in the background, as the scheduler (a run of the
    same pipeline and tenant already under way is a Conflict: the firing is skipped)."""

    def launch(tenant_id: str, pipeline: str, trigger: dict) -> str:
        return services.pipelines.launch(tenant_id, pipeline, trigger=trigger, actor="scheduler")

    return launch


def pipeline_scheduler(
    services: Services, declared: Declarations | None = None, launch: Launch | None = None
) -> Scheduler:
    """The scheduler over the metadata database (marks, leases, audit) and the offline
    store (source sizes), checking every ``scheduler_interval_seconds``."""
    return Scheduler(
        declared if declared is not None else declared_pipelines(services),
        launch if launch is not None else pipeline_launch(services),
        db=services.db,
        lease=open_lease(services.db),
        sizes=OfflineSizes(services.offline.tenant_root),
        interval=services.settings.scheduler_interval_seconds or SCHEDULER_INTERVAL,
    )


def alert_listener(services: Services, scheduler: Scheduler) -> AlertListener:
    """Fired alerts from the settings' bus and ``alert_topic`` to ``scheduler``."""
    settings = services.settings
    return AlertListener(scheduler, lambda: open_bus(settings.event_bus), settings.alert_topic)


def start_scheduler(services: Services) -> SchedulerThread | None:
    """The scheduler and its alert listener in background threads (``ailayer up``),
    unless ``scheduler_interval_seconds`` is 0."""
    if services.settings.scheduler_interval_seconds <= 0:
        return None
    scheduler = pipeline_scheduler(services)
    return SchedulerThread(scheduler, alert_listener(services, scheduler)).start()


def secret_box(settings: Settings) -> SecretBox:
    """The box for secrets kept at rest: ``secret_key``, else a key kept in ``home``."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    if key is None and not settings.metadata_url.startswith("sqlite"):
        logger.warning(
            "secret_key is not set: webhook secrets are encrypted with a key kept in %s on "
            "this machine only; other replicas, or this one with a fresh home, cannot read "
            "them. Set AILAYER_SECRET_KEY to the same value on every replica.",
            settings.home / "secret.key",
        )
    return SecretBox.for_home(settings.home, key)


def retention_job(services: Services) -> RetentionJob:
    """The retention job over the metadata database and the offline store's tenants."""
    return RetentionJob(services.db, services.offline.tenant_root, services.settings.retention)


def start_retention(services: Services) -> RetentionThread | None:
    """The job in a background thread (``ailayer up``, ``ailayer monitor``), unless no
    retention is set or ``retention.interval_seconds`` is 0."""
    retention = services.settings.retention
    if not retention.on or retention.interval_seconds <= 0:
        return None
    return RetentionThread(retention_job(services), retention.interval_seconds).start()


def start_rollup(services: Services) -> RollupThread | None:
    """The log rollup in a background thread (``ailayer up``, ``ailayer monitor``), unless
    ``rollup_interval_seconds`` is 0."""
    interval = services.settings.rollup_interval_seconds
    if interval <= 0:
        return None
    return RollupThread(services.rollup, interval).start()
