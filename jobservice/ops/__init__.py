"""Operating the service: Prometheus metrics (an Observer of the service) and logging setup.

May import: jobservice.core."""
