"""Central's external API for third-party systems (`vigia central api`): REST under /api/v1 (with its OpenAPI
document) and GraphQL at /graphql, over devices, cameras, events, track summaries, re-analysis verdicts and clips.

OAuth2 client credentials (`oauth`), scopes and sites per client (`principal`), per-client rate limits and a short
response cache in Redis shared by every instance (`limits`), every call audited (`audit`), served behind NGINX
(`nginx`).
"""
