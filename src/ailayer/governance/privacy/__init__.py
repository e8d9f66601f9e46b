"""Data subject requests: find, export and erase what ailayer holds about one subject.

``subject.py`` is the port each store implements (``SubjectStore``: find and erase),
``tombstones.py`` the list of erased subjects (salted hashes) that materialization and
stream writes consult, ``service.py`` the request itself (export, or delete with a receipt
in the audit trail). The stores live beside what they search: ``features/privacy.py``,
``monitoring/log/privacy.py``.
"""

from ailayer.governance.privacy.service import PrivacyService
from ailayer.governance.privacy.subject import Erased, Found, Subject, SubjectStore
from ailayer.governance.privacy.tombstones import Tombstones

__all__ = ["Erased", "Found", "PrivacyService", "Subject", "SubjectStore", "Tombstones"]
