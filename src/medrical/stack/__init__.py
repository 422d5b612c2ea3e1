"""The local stack: Kafka (KRaft), Apicurio Registry, Kafka Connect and PostgreSQL on loopback.

Everything is started from the project's own files: the Java engines are pinned in Maven POMs
(package data under `resources/`), PostgreSQL comes from the system's server binaries.
"""
