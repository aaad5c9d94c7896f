"""Notifications: rules' events sent to an MQTT broker, to webhooks, by email and by web push, through durable queues.

- `routing`: which event changes go where (a rule's `notify` and `schedule`), and the JSON they carry;
- `queue`: the queues in SQLite (one per destination, in order, idempotency keys) and the delivery log;
- `writer`: camera threads hand notifications over; one thread stores them;
- `delivery`: one thread per destination reads its queue, retries with backoff, logs every try;
- `webhook`, `links`: signed POSTs, snapshots inline or as short-lived links;
- `smtp`: one email per event opening, over TLS, with its snapshot; `snapshots`: reading them for a message;
- `mqtt`, `mqtt_state`, `topics`, `homeassistant`: the broker, retained camera state, Home Assistant discovery;
- `push`, `push_subscriptions`, `vapid`: web push to the guards' subscribed browsers (RFC 8291 payloads, VAPID),
  their subscriptions and the device's VAPID key; `links` also signs the notifications' acknowledge tokens;
- `service`: all of it built from the config.
"""
