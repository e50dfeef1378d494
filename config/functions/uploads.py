"""Receives S3 event notifications for files dropped into config/buckets/uploads/."""

from urllib.parse import unquote_plus


def handler(event, context):
    for record in event["Records"]:
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
        bucket = record["s3"]["bucket"]["name"]
        size, etag = obj.get("size"), obj.get("eTag")
        print(f"{record['eventName']} s3://{bucket}/{key} size={size} etag={etag}")
    return {"seen": len(event["Records"])}
