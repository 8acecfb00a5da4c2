"""jobservice: submit work over HTTP, watch it happen over SSE, get the result."""

__version__ = "0.1.0"
