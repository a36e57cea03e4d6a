"""Node assembly: each role's database, credentials, handlers, outbox and delivery worker.

``national``, ``prefectural`` and ``municipal`` build one node each; ``embedded`` runs a whole
network in one process (``jukinet up``), ``serve`` one node per process over mutual TLS.
"""
