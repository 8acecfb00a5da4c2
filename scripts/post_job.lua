-- wrk script: POST a small job, as the benchmarks do.
wrk.method = "POST"
wrk.body = '{"data": {"your": "job data", "goes": "here"}}'
wrk.headers["Content-Type"] = "application/json"
