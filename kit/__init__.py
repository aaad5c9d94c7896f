"""The shared kit: what both servers (the guards' API, central) and the device need, importing nothing of Vigia's.

`http` (errors, request parsing, CSRF, security headers, the middleware), `serve` (the serve loop),
`passwords` (hashing, tokens, account rules and policies), `files` (durable, whole-or-nothing file writes).
"""
