"""The demo: a simulated province on dossierflow (``dossierflow demo``, ``simulate``).

``run`` orchestrates; ``processes`` starts and stops Kafka and the workers; ``worker`` is
their entry point; ``feed`` publishes the simulated province in simulated time; ``stubs``
stands in for the supervisors' webhooks; ``live`` shows progress; ``truth`` checks the
engine against the simulator; ``output`` and ``charts`` write the report.
"""
