"""`make demo`: run smart-irrigation end to end on three local nodes and check that it worked.

Four nodes of three TEE kinds (emulated SGX, TrustZone and Sancus platforms).
Starts one agent per node, deploys (build, load, attest, key, connect, timers), then drives the
application the way an operator would, through the `authex` command line, and checks every
outcome: readings crossing nodes to the controller, the operator's threshold change, the
controller asking the weather service and opening the valve on another node, an authenticated
call, an operator request/response.  Prints a summary; exits 0 only if everything happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DESCRIPTOR = HERE / "descriptor.yaml"
STEP_TIMEOUT = 120


class DemoFailure(Exception):
    pass


def authex(*args: str, timeout: float = STEP_TIMEOUT, show: bool = True) -> str:
    command = [sys.executable, "-m", "authex", *args]
    if show:
        print(f"\n$ authex {' '.join(args)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=HERE, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout.rstrip()
    if show and output:
        print("  " + output.replace("\n", "\n  "), flush=True)
    if result.returncode != 0:
        raise DemoFailure(
            f"`authex {' '.join(args)}` exited {result.returncode} after "
            f"{time.monotonic() - started:.1f}s:\n{result.stderr.strip()}"
        )
    return output


def status() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(authex("status", "--json", show=False))
    return report


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(f"expected: {what}")
    print(f"  ok: {what}", flush=True)


def run() -> None:
    started = time.monotonic()
    authex("down", str(DESCRIPTOR), show=False)
    authex("up", str(DESCRIPTOR), "--detach")

    report = status()
    attested = [m["name"] for m in report["modules"] if m["attested"] and m["running"]]
    expect(len(attested) == len(report["modules"]), f"all {len(attested)} modules attested")

    authex("send", "threshold", "45")
    alerts = authex("watch", "alerts", "--count", "2", "--timeout", "30")
    expect("threshold set to 45.0%" in alerts, "controller applied the operator's threshold")
    expect("opening valve: sensor1" in alerts, "controller opened the valve for sensor1")

    valve = authex("watch", "valve-state", "--count", "1", "--timeout", "30")
    expect(valve.endswith("open"), "valve on field2 reported it opened")
    expect(authex("call", "valve", "status") == "open", "authenticated call reads the valve")
    expect(authex("call", "controller", "get_threshold") == "45.0", "threshold reads back")

    forecast = json.loads(authex("request", "forecast-query", "field7"))
    expect(forecast["rain_probability"] == 10, "operator request answered by the weather service")

    report = status()
    print("\nSUMMARY")
    print(
        f"  {'connection':16} {'suite':15} {'delivered':>9} {'forwarded':>9} "
        f"{'to operator':>11}  rejected"
    )
    for conn in report["connections"]:
        rejected = sum(conn["rejected"].values())
        print(
            f"  {conn['name']:16} {conn['suite']:15} {conn['delivered']:>9} "
            f"{conn['forwarded']:>9} {conn['to_operator']:>11}  {rejected}"
        )
    counts = {c["name"]: c for c in report["connections"]}
    expect(counts["readings-1"]["forwarded"] > 0, "sensor1 readings crossed field1 -> gateway")
    expect(counts["readings-2"]["delivered"] > 0, "sensor2 readings reached the gateway")
    expect(counts["uplink"]["forwarded"] > 0, "the gateway relayed readings to the cloud")
    expect(counts["forecast"]["delivered"] >= 2, "controller's forecast request answered")
    expect(counts["valve-command"]["forwarded"] >= 1, "valve command crossed cloud -> field2")
    expect(all(not c["rejected"] for c in report["connections"]), "no message was rejected")
    print()
    for module in report["modules"]:
        print(
            f"  {module['name']:10} on {module['node']:7} {module['tee']:9} "
            f"attested by {module['evidence']}"
        )
    print(f"\ndemo passed in {time.monotonic() - started:.1f}s")


def main() -> int:
    try:
        run()
        return 0
    except (DemoFailure, subprocess.TimeoutExpired) as exc:
        print(f"\nDEMO FAILED: {exc}", file=sys.stderr)
        for log in sorted((HERE / ".authex" / "apps").glob("*/nodes/*/agent.log")):
            print(f"--- {log} (last lines)", file=sys.stderr)
            print("\n".join(log.read_text().splitlines()[-15:]), file=sys.stderr)
        return 1
    finally:
        authex("down", str(DESCRIPTOR), show=False)


if __name__ == "__main__":
    raise SystemExit(main())
