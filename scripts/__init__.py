"""Operator scripts; a package only so that type checkers do not take ``scripts/kafka`` for the
kafka-python package."""
