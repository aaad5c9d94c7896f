"""Central alerts and escalation: the fleet's faults (a device or camera offline, a growing backlog, a low disk,
too many false alarms found by re-analysis) as alerts to the central team, escalated level by level until someone
acknowledges them.

`config` (the YAML file), `conditions` (what is wrong now, read from central's tables), `schema` (the tables),
`store` (alerts opened, escalated, acknowledged, resolved; audited), `escalation` (which level is due),
`links` (signed acknowledge tokens), `channels` (webhook, email, web push), `delivery` (the durable queue of
notifications), `watch` (the evaluator loop, one instance at a time).
"""
