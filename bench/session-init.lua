-- wrk script: POST a Divar v2 session-init body with the identification key.
-- BENCH_AUTH overrides the Authorization value (run.mjs passes the key from .dev.vars.example).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") or "dev-divar-identification-key-0123456789"
wrk.body = '{"source":"CHAT","post_token":"wZC44q5D","conversation_id":"6b3d5cf7-9291-4fa9-892a-9d07e300daea","user_side":"Supply","extra_data":{"your_key_1":"your value"},"user_id":"6GqmD76dle5NpJySqnBX8seTpt6uVtzqaNTNJU1ettI="}'
