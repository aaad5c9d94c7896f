"""The guard's screen of `vigia bench ui`, in a process of its own (so it takes no CPU from the
appliance's measurement): logs in, holds the live WebSocket, and times what arrives.

    python -m vigia.app.bench.live_client URL CA_FILE USERNAME
        (password on stdin's first line; then `watch` starts watching every camera's grid frames
        and `stop` ends the run and prints the result as JSON)
"""
from __future__ import annotations

import asyncio
import json
import ssl
import struct
import sys
import time

import aiohttp


async def main(base: str, ca_file: str, username: str, password: str) -> dict:
    tls = ssl.create_default_context(cafile=ca_file)
    alerts, frames, frame_bytes = [], [], 0
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: commands.put_nowait(sys.stdin.readline().strip()))
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{base}/api/v1/login", json={"username": username, "password": password},
                                ssl=tls) as reply:
            reply.raise_for_status()
        async with session.get(f"{base}/api/v1/cameras", ssl=tls) as reply:
            cameras = [c["name"] for c in (await reply.json())["cameras"]]
        async with session.ws_connect(f"{base}/api/v1/live", ssl=tls) as ws:
            watching = False
            while True:
                receive = asyncio.ensure_future(ws.receive())
                command = asyncio.ensure_future(commands.get())
                done, _ = await asyncio.wait({receive, command}, return_when=asyncio.FIRST_COMPLETED)
                if command in done:
                    receive.cancel()
                    if command.result() == "watch":
                        await ws.send_json({"type": "watch", "cameras": cameras, "size": "grid"})
                        watching = True
                        continue
                    break
                command.cancel()
                message = receive.result()
                now = time.time()
                if message.type == aiohttp.WSMsgType.TEXT:
                    body = json.loads(message.data)
                    if body["type"] == "event" and body["change"] == "open" and body["event"]["alert"]:
                        alerts.append(now - body["event"]["started_at"])
                elif message.type == aiohttp.WSMsgType.BINARY and watching:
                    (length,) = struct.unpack(">I", message.data[:4])
                    header = json.loads(message.data[4:4 + length])
                    frames.append(now - header["captured_at"])
                    frame_bytes += len(message.data)
                else:
                    break
    return {"cameras": len(cameras), "alert_latencies": alerts, "frame_latencies": frames, "frame_bytes": frame_bytes}


if __name__ == "__main__":
    base_url, ca, user = sys.argv[1:4]
    secret = sys.stdin.readline().rstrip("\n")
    print(json.dumps(asyncio.run(main(base_url, ca, user, secret))), flush=True)
