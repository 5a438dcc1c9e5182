"""Schemathesis with Divar's own OpenAPI against divar-sim: every documented operation (those
the simulator does not serve answer Divar's JSON 404), no 5xx, and every answer conforming to
the schema. Seeded, so a failure reproduces.
"""

import re
import subprocess
import sys
from pathlib import Path

from conftest import API_KEY, ROOT

SPEC = ROOT / "divar-sim" / "spec" / "openapi-v3.json"


def test_every_documented_operation_no_5xx_and_conforming_answers(sim, tmp_path):
    chat = sim.chat()
    # A token with the scopes of the operations the simulator serves, so calls get past the
    # door and meet validation, scopes and ids; 401/403/404 answers are checked as well.
    token = sim.token(chat["seller_user_id"], [
        "USER_ID", "CHAT_BOT_USER_MESSAGE_SEND",
        f"CONVERSATION_SEND_MESSAGE.{chat['conversation_id']}",
        f"CHAT_CONVERSATION_READ.{chat['conversation_id']}",
        f"CHAT_POST_CONVERSATIONS_READ.{chat['post_token']}",
    ])
    st = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [
            str(st), "run", str(SPEC), "--url", sim.base,
            "--checks", "not_a_server_error,response_schema_conformance",
            "--header", f"X-API-Key: {API_KEY}", "--header", f"Authorization: Bearer {token}",
            "--max-examples", "5", "--seed", "20261122", "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path),
        ],
        capture_output=True, text=True, timeout=600,
    )
    out = run.stdout + run.stderr
    summary = re.search(r"(\d+) generated, (\d+) passed", out)
    operations = re.search(r"Tested: (\d+)", out)
    assert run.returncode == 0 and summary, out[-4000:]
    assert summary.group(1) == summary.group(2), out[-4000:]
    assert int(operations.group(1)) >= 60, out[-4000:]
    print(f"schemathesis: {operations.group(1)} operations, {summary.group(1)} cases, all passed")
