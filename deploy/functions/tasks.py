"""Tasks from RabbitMQ (Amazon MQ RabbitMQ event); a task with "fail" set fails its batch,
so it is redelivered and, after max_receive_count deliveries, dead-lettered."""

import base64
import json


def handler(event, context):
    done = 0
    for queue, messages in event["rmqMessagesByQueue"].items():
        for message in messages:
            task = json.loads(base64.b64decode(message["data"]))
            if task.get("fail"):
                raise RuntimeError(f"task {task.get('id')} from {queue} failed")
            done += 1
    return {"done": done}
