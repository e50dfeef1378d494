"""A function changed by a reload starts a new execution environment: its handler module
is imported again (new code, new module state), as Lambda does after a configuration change."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.e2e

V1 = """
import os
AT_IMPORT = os.environ.get("STAGE")

def handler(event, context):
    return {"version": 1, "at_import": AT_IMPORT, "now": os.environ.get("STAGE")}
"""

V2 = V1.replace('"version": 1', '"version": 2') + "# v2\n"  # another size: .pyc caches key on it


def test_a_changed_function_imports_its_module_again(daemon_factory, write_functions, tmp_path):
    write_functions({"staged": V1})
    fn = {"handler": "staged:handler", "code_dir": "functions", "environment": {"STAGE": "one"}}
    daemon = daemon_factory({"functions": {"staged": fn}})
    assert daemon.invoke("staged")[2] == {"version": 1, "at_import": "one", "now": "one"}

    write_functions({"staged": V2})
    daemon.config["functions"]["staged"]["environment"] = {"STAGE": "two"}
    daemon.write_config(daemon.config)
    status, report = daemon.admin("POST", "/reload")
    assert status == 200
    assert report["functions"]["changed"] == ["staged"]
    status, headers, body = daemon.invoke("staged", headers={"X-Amz-Log-Type": "Tail"})
    assert body == {"version": 2, "at_import": "two", "now": "two"}
    tail = base64.b64decode(headers["X-Amz-Log-Result"]).decode()
    assert "Init Duration" in tail  # a cold start, as after an AWS configuration change
