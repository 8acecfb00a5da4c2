"""The HTTP edge: the app factory and how it runs, the URL map, thin views, request
validation, listing pages, the SSE relay and its wire format, auth, CORS, JSON errors,
request ids and access logs, security headers, health and metrics endpoints, the dashboard
(static/), the OpenAPI document and its docs page, and the app keys for shared objects.

May import: everything below it (service, store, stream, ops, core)."""
