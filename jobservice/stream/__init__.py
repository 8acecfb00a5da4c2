"""Events in Redis Streams: the event log (and the Redis key names), the outbox that writes
them in order and exactly once, the stream hub that reads them for every watcher with one
XREAD BLOCK, and the embedded redis-server for zero-config runs.

May import: jobservice.core."""
