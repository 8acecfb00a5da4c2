-- wrk script: POST a small noop job, as the benchmarks do.
wrk.method = "POST"
wrk.body = '{"type": "noop", "data": {"your": "job data", "goes": "here"}}'
wrk.headers["Content-Type"] = "application/json"
