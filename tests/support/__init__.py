"""Shared test support: factories, clocks, Kafka readers and worker drivers for unit and integration tests."""
