"""The re-analysis queues on RabbitMQ (aio-pika), declared the same way by every worker.

    exchange vigia.reanalysis (direct)
      ├─ alert  → vigia.reanalysis.alert      quorum queues: replicated, durable; a message redelivered
      └─ normal → vigia.reanalysis.normal     DELIVERY_LIMIT times (a worker dying on it) goes to the dead queue
    vigia.reanalysis.retry.{alert,normal}     quorum, a message waits RETRY_DELAY_S there, then goes back
    vigia.reanalysis.dead                     quorum: jobs that failed for good, the error in a header

Alerts have a queue of their own: RabbitMQ 3.10 (Debian 12's) quorum queues have no message priorities (4.0
added two levels), and a worker takes an alert job before any other it holds. Dead-lettering between quorum
queues is at-least-once (x-dead-letter-strategy), so a retry or a dead letter is never dropped on the way.
Publishing waits for the broker's confirm.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

EXCHANGE = "vigia.reanalysis"
PRIORITIES = ("alert", "normal")
DEAD = "vigia.reanalysis.dead"
RETRY_DELAY_S = 10.0
DELIVERY_LIMIT = 5
ERROR_HEADER = "x-vigia-error"
ATTEMPT_HEADER = "x-vigia-attempt"


def queue_name(priority: str) -> str:
    return f"{EXCHANGE}.{priority}"


def retry_name(priority: str) -> str:
    return f"{EXCHANGE}.retry.{priority}"


def _quorum(**extra) -> dict:
    return {"x-queue-type": "quorum", "x-overflow": "reject-publish", "x-dead-letter-strategy": "at-least-once",
            **extra}


@dataclass(frozen=True)
class BrokerSettings:
    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    retry_delay_s: float = RETRY_DELAY_S


async def declare(channel: AbstractChannel, settings: BrokerSettings) -> AbstractExchange:
    """Make the exchange and queues when missing (the same arguments every time, as RabbitMQ requires)."""
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    await channel.declare_queue(DEAD, durable=True, arguments={"x-queue-type": "quorum"})
    for priority in PRIORITIES:
        queue = await channel.declare_queue(queue_name(priority), durable=True, arguments=_quorum(**{
            "x-delivery-limit": DELIVERY_LIMIT, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD}))
        await queue.bind(exchange, routing_key=priority)
        await channel.declare_queue(retry_name(priority), durable=True, arguments=_quorum(**{
            "x-message-ttl": int(settings.retry_delay_s * 1000), "x-dead-letter-exchange": EXCHANGE,
            "x-dead-letter-routing-key": priority}))
    return exchange


def job_message(body: dict, attempt: int = 0, error: str | None = None) -> aio_pika.Message:
    headers = {ATTEMPT_HEADER: attempt}
    if error is not None:
        headers[ERROR_HEADER] = error[:4000]
    return aio_pika.Message(json.dumps(body).encode(), content_type="application/json",
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT, message_id=body["job_id"],
                            headers=headers)


def attempt_of(message: AbstractIncomingMessage) -> int:
    return int((message.headers or {}).get(ATTEMPT_HEADER, 0))


async def queue_depths(channel: AbstractChannel) -> dict[str, int]:
    """Messages waiting in each queue (a passive declare: nothing is made)."""
    depths = {}
    for name in [queue_name(p) for p in PRIORITIES] + [retry_name(p) for p in PRIORITIES] + [DEAD]:
        queue = await channel.declare_queue(name, passive=True)
        depths[name] = queue.declaration_result.message_count
    return depths
