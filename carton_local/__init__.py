"""Carton's embedded local stack: moto holding real tables, buckets, queues and an
executing state machine, with a local API gateway and Lambda endpoint in one process."""
