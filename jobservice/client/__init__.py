"""The `jobservice` command line: the CLI and its HTTP client (and `serve`, which runs the
service through jobservice.http).

May import: jobservice.http and everything below it; nothing imports it."""
