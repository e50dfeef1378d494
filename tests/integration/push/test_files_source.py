"""files sources against a real directory, watchfiles and an in-process hub."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser import models
from structlog.testing import capture_logs

from tests.integration.push.conftest import eventually

RECORDER = """
import json, pathlib

OUT = pathlib.Path(__file__).parent.parent / "out.jsonl"

def handler(event, context):
    with open(OUT, "a") as out:
        out.write(json.dumps(event) + "\\n")
"""


def config(tmp_path: Path, **source: Any) -> dict[str, Any]:
    return {
        "functions": {
            "rec": {
                "handler": "recorder:handler",
            }
        },
        "sources": {
            "up": {
                "type": "files",
                "root": "buckets",
                "bucket": "uploads",
                "function": "rec",
                **source,
            }
        },
    }


def events(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "out.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # a last line without newline is still being written
    return [json.loads(line) for line in lines if line.strip()]


def records(tmp_path: Path) -> list[tuple[str, str]]:
    """(eventName, decoded key) of every record seen, in order."""
    out = []
    for event in events(tmp_path):
        for record in event["Records"]:
            out.append((record["eventName"], unquote_plus(record["s3"]["object"]["key"])))
    return out


async def start(hub_factory: Any, tmp_path: Path, **source: Any) -> Path:
    bucket = tmp_path / "buckets" / "uploads"
    await hub_factory(config(tmp_path, **source), {"recorder": RECORDER})
    await asyncio.sleep(0.2)  # the watcher is registered at once; give the initial scan a moment
    return bucket


async def test_create_overwrite_delete(hub_factory: Any, tmp_path: Path) -> None:
    bucket = await start(hub_factory, tmp_path)
    (bucket / "a.txt").write_bytes(b"first")
    await eventually(lambda: len(records(tmp_path)) == 1, what="the put")
    (bucket / "a.txt").write_bytes(b"second version")
    await eventually(lambda: len(records(tmp_path)) == 2, what="the overwrite")
    (bucket / "a.txt").unlink()
    await eventually(lambda: len(records(tmp_path)) == 3, what="the delete")
    await asyncio.sleep(0.3)
    assert records(tmp_path) == [
        ("ObjectCreated:Put", "a.txt"),
        ("ObjectCreated:Put", "a.txt"),
        ("ObjectRemoved:Delete", "a.txt"),
    ]
    put, overwrite, delete = (e["Records"][0] for e in events(tmp_path))
    for event in events(tmp_path):
        models.S3Model.model_validate(event)
    assert put["s3"]["object"]["size"] == 5
    assert put["s3"]["object"]["eTag"] == "8b04d5e3775d298e78455efc5ca404d5"  # md5("first")
    assert overwrite["s3"]["object"]["size"] == 14
    assert "size" not in delete["s3"]["object"]
    assert "eTag" not in delete["s3"]["object"]
    sequencers = [r["s3"]["object"]["sequencer"] for r in (put, overwrite, delete)]
    assert sequencers == sorted(sequencers)
    assert len(set(sequencers)) == 3
    assert put["s3"]["bucket"] == {
        "name": "uploads",
        "ownerIdentity": {"principalId": "000000000000"},
        "arn": "arn:aws:s3:::uploads",
    }
    assert put["eventSource"] == "aws:s3"
    assert put["awsRegion"] == "us-east-1"
    assert put["s3"]["configurationId"] == "eventhub"


async def test_temp_file_writers_produce_one_create(hub_factory: Any, tmp_path: Path) -> None:
    bucket = await start(hub_factory, tmp_path)
    for name, temp in (
        ("report.pdf", ".report.pdf.XYZ"),
        ("data.csv", "data.csv.tmp"),
        ("x.bin", "x.bin.part"),
    ):
        with open(bucket / temp, "wb") as handle:
            for _ in range(20):
                handle.write(os.urandom(4096))
                handle.flush()
        os.replace(bucket / temp, bucket / name)
    await eventually(lambda: len(records(tmp_path)) >= 3, what="three creates")
    await asyncio.sleep(0.5)
    assert sorted(records(tmp_path)) == [
        ("ObjectCreated:Put", "data.csv"),
        ("ObjectCreated:Put", "report.pdf"),
        ("ObjectCreated:Put", "x.bin"),
    ]


async def test_slow_writer_is_announced_once_complete(hub_factory: Any, tmp_path: Path) -> None:
    bucket = await start(hub_factory, tmp_path, settle=0.3)
    with open(bucket / "slow.bin", "wb") as handle:
        for _ in range(10):
            handle.write(b"x" * 1000)
            handle.flush()
            await asyncio.sleep(0.05)
    await eventually(lambda: records(tmp_path), what="the create")
    await asyncio.sleep(0.5)
    (event,) = events(tmp_path)
    assert event["Records"][0]["s3"]["object"]["size"] == 10_000


async def test_rename_is_copy_plus_delete_and_cp_p_is_copy(
    hub_factory: Any, tmp_path: Path
) -> None:
    bucket = await start(hub_factory, tmp_path)
    (bucket / "orig.txt").write_text("content")
    await eventually(lambda: len(records(tmp_path)) == 1)
    shutil.copy2(bucket / "orig.txt", bucket / "copy.txt")
    await eventually(lambda: len(records(tmp_path)) == 2)
    os.rename(bucket / "orig.txt", bucket / "renamed.txt")
    await eventually(lambda: len(records(tmp_path)) == 4)
    os.link(bucket / "renamed.txt", bucket / "hardlink.txt")
    await eventually(lambda: len(records(tmp_path)) == 5)
    shutil.copyfile(bucket / "renamed.txt", bucket / "plain-copy.txt")
    await eventually(lambda: len(records(tmp_path)) == 6)
    assert records(tmp_path) == [
        ("ObjectCreated:Put", "orig.txt"),
        ("ObjectCreated:Copy", "copy.txt"),
        ("ObjectCreated:Copy", "renamed.txt"),
        ("ObjectRemoved:Delete", "orig.txt"),
        ("ObjectCreated:Copy", "hardlink.txt"),
        ("ObjectCreated:Put", "plain-copy.txt"),
    ]


async def test_prefix_suffix_and_event_filters(hub_factory: Any, tmp_path: Path) -> None:
    bucket = await start(
        hub_factory, tmp_path, prefix="images/", suffix=".jpg", events=["s3:ObjectCreated:*"]
    )
    (bucket / "images").mkdir()
    (bucket / "images" / "cat.jpg").write_bytes(b"jpg")
    (bucket / "images" / "cat.png").write_bytes(b"png")
    (bucket / "docs").mkdir()
    (bucket / "docs" / "dog.jpg").write_bytes(b"jpg")
    (bucket / "top.jpg").write_bytes(b"jpg")
    await eventually(lambda: records(tmp_path))
    (bucket / "images" / "cat.jpg").unlink()
    (bucket / "images" / "last.jpg").write_bytes(b"jpg")
    await eventually(lambda: len(records(tmp_path)) == 2)
    await asyncio.sleep(0.3)
    assert records(tmp_path) == [
        ("ObjectCreated:Put", "images/cat.jpg"),
        ("ObjectCreated:Put", "images/last.jpg"),
    ]


async def test_nested_keys_with_spaces_and_unicode(hub_factory: Any, tmp_path: Path) -> None:
    bucket = await start(hub_factory, tmp_path)
    nested = bucket / "photos 2024" / "été" / "red flower (v2)+1.jpg"
    nested.parent.mkdir(parents=True)
    nested.write_bytes(b"img")
    (event,) = await eventually(lambda: events(tmp_path))
    key = event["Records"][0]["s3"]["object"]["key"]
    assert key == "photos+2024/%C3%A9t%C3%A9/red+flower+%28v2%29%2B1.jpg"
    assert unquote_plus(key) == "photos 2024/été/red flower (v2)+1.jpg"
    shutil.rmtree(bucket / "photos 2024")
    await eventually(lambda: len(records(tmp_path)) == 2)
    assert records(tmp_path)[1] == ("ObjectRemoved:Delete", "photos 2024/été/red flower (v2)+1.jpg")


async def test_directory_moved_away_deletes_its_objects(hub_factory: Any, tmp_path: Path) -> None:
    bucket = await start(hub_factory, tmp_path)
    (bucket / "d").mkdir()
    (bucket / "d" / "one").write_text("1")
    (bucket / "d" / "two").write_text("2")
    await eventually(lambda: len(records(tmp_path)) == 2)
    os.rename(bucket / "d", tmp_path / "elsewhere")
    await eventually(lambda: len(records(tmp_path)) == 4)
    assert sorted(records(tmp_path)[2:]) == [
        ("ObjectRemoved:Delete", "d/one"),
        ("ObjectRemoved:Delete", "d/two"),
    ]


async def test_symlink_escape_is_ignored_and_logged(hub_factory: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    with capture_logs() as logs:
        bucket = await start(hub_factory, tmp_path)
        (bucket / "escape.txt").symlink_to(secret)
        (bucket / "outside").symlink_to(tmp_path)
        (bucket / "real.txt").write_text("fine")
        (bucket / "inside-link.txt").symlink_to(bucket / "real.txt")
        await eventually(lambda: len(records(tmp_path)) == 2)
        await eventually(lambda: [e for e in logs if e.get("key") == "escape.txt"])
        await asyncio.sleep(0.3)
    assert sorted(records(tmp_path)) == [
        ("ObjectCreated:Put", "inside-link.txt"),
        ("ObjectCreated:Put", "real.txt"),
    ]
    warning = next(e for e in logs if e.get("key") == "escape.txt")
    assert warning["log_level"] == "warning"
    assert warning["target"] == str(secret.resolve())
    assert "top secret" not in json.dumps(events(tmp_path))


async def test_links_follow_their_target_when_it_changes(hub_factory: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    bucket = await start(hub_factory, tmp_path)
    (bucket / "a.txt").write_text("v1")
    await eventually(lambda: len(records(tmp_path)) == 1)
    (bucket / "link.txt").symlink_to(bucket / "a.txt")
    (bucket / "chain.txt").symlink_to("link.txt")  # relative, through the other link
    await eventually(lambda: len(records(tmp_path)) == 3)
    (bucket / "a.txt").write_text("version two")  # the links now read the new content
    await eventually(lambda: len(records(tmp_path)) == 6)
    (bucket / "a.txt").unlink()
    (bucket / "a.txt").symlink_to(secret)  # now every link leads outside the bucket
    await eventually(lambda: len(records(tmp_path)) == 9)
    await asyncio.sleep(0.3)
    assert sorted(records(tmp_path)[6:]) == [
        ("ObjectRemoved:Delete", "a.txt"),
        ("ObjectRemoved:Delete", "chain.txt"),
        ("ObjectRemoved:Delete", "link.txt"),
    ]
    assert "top secret" not in json.dumps(events(tmp_path))


async def test_changes_while_stopped_are_announced_once_at_start(
    hub_factory: Any, tmp_path: Path
) -> None:
    bucket = tmp_path / "buckets" / "uploads"
    bucket.mkdir(parents=True)
    (bucket / "before-first-start.txt").write_text("0")
    running = await hub_factory(config(tmp_path), {"recorder": RECORDER})
    await eventually(lambda: len(records(tmp_path)) == 1)
    (bucket / "keep.txt").write_text("keep")
    (bucket / "change.txt").write_text("v1")
    (bucket / "remove.txt").write_text("bye")
    await eventually(lambda: len(records(tmp_path)) == 4)
    await running.shutdown()
    (bucket / "change.txt").write_text("v2, longer")
    (bucket / "remove.txt").unlink()
    (bucket / "new.txt").write_text("new")
    await hub_factory(config(tmp_path))
    await eventually(lambda: len(records(tmp_path)) == 7)
    await asyncio.sleep(0.5)
    assert sorted(records(tmp_path)[4:]) == [
        ("ObjectCreated:Put", "change.txt"),
        ("ObjectCreated:Put", "new.txt"),
        ("ObjectRemoved:Delete", "remove.txt"),
    ]


async def test_a_thousand_files_at_once_are_each_announced_once(
    hub_factory: Any, tmp_path: Path
) -> None:
    bucket = await start(hub_factory, tmp_path)
    for i in range(1000):
        (bucket / f"f{i:04d}.dat").write_bytes(b"%d" % i)
    await eventually(lambda: len(records(tmp_path)) >= 1000, timeout=30, what="1000 creates")
    await asyncio.sleep(0.5)
    seen = records(tmp_path)
    assert len(seen) == 1000
    assert {key for _, key in seen} == {f"f{i:04d}.dat" for i in range(1000)}
    assert {name for name, _ in seen} == {"ObjectCreated:Put"}


async def test_status_shows_the_bucket(hub_factory: Any, tmp_path: Path) -> None:
    running = await hub_factory(config(tmp_path), {"recorder": RECORDER})

    def status() -> Any:
        return {s.name: s for s in running.hub.sources_overview()}["up"]

    await eventually(lambda: status().connected)  # the source creates the bucket directory
    (tmp_path / "buckets" / "uploads" / "one").write_text("1")
    await eventually(lambda: records(tmp_path))

    await eventually(lambda: status().detail["objects"] == 1)
    current = status()
    assert current.connected
    assert current.state == "running"
    assert current.detail["announced"] == 1
    assert current.detail["directory"] == str(tmp_path / "buckets" / "uploads")
    assert current.last_result == "ObjectCreated:Put one"
    labels = {"source": "up", "event": "ObjectCreated:Put"}
    assert running.hub.metrics.registry.get_sample_value("eventhub_files_events_total", labels) == 1
