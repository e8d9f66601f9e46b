"""Monitoring of one endpoint: the algorithms run on what its model versions did.

Each service reads the prediction log (and the metadata store) in a window and hands the
rows to an algorithm of ``ailayer.monitoring``; the module names say which:

    drift.py        EndpointDrift: logged inputs and scores against each version's reference
    references.py   ReferenceStore: a version's reference profile (upload, lineage, log window)
    concept.py      ConceptWatch: concept-drift detectors replayed on each version's errors
    fairness.py     LogFairness: fairness per version and group of a logged attribute
    experiment.py   EndpointExperiments: A/B results of the variants, from logged outcomes
    report/         the self-contained HTML report of drift and metrics over time
"""

from ailayer.monitoring.endpoint.concept import ConceptWatch
from ailayer.monitoring.endpoint.drift import EndpointDrift
from ailayer.monitoring.endpoint.experiment import EndpointExperiments
from ailayer.monitoring.endpoint.fairness import LogFairness
from ailayer.monitoring.endpoint.references import ReferenceStore

__all__ = [
    "ConceptWatch",
    "EndpointDrift",
    "EndpointExperiments",
    "LogFairness",
    "ReferenceStore",
]
