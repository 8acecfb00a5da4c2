"""Events in Redis Streams: the event log (and the Redis key names), the outbox that writes
them in order and exactly once, the stream hub that reads them for every watcher with one
XREAD BLOCK per group of streams (one group on one Redis, one per slot on a Redis Cluster:
readers.py), and the embedded redis-server for zero-config runs.

May import: jobservice.core."""
