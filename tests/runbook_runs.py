"""What the runbook tests share: one ansible-playbook run read through its JSON report, a moto
server of the test's own, and the AWS requests moto recorded (what the runbook really sent)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import ROOT, wait_until_ready

BIN = Path(sys.executable).parent
REGION = "ap-south-1"
# The roles that play AWS's part in the local rehearsal (their tasks are named "ROLE : task").
EMULATION = "rehearsal_"
# The validation's timing limits in the tests that run it (the rehearsal's and the notebooks'
# own). The notebooks' defaults are the release plan's, for the release's hardware, and the
# rehearsal gates at them; under `make test` the service, the load generator and the other lane
# share two cores: at a load average of 10 the 1155d endpoint's server-side mean reached 0.48 s
# and 3 requests/s (20 clients then wait 20 / 3 = 6.7 s), and one run's p50 was 3.8x the run's
# before it. These tests are about the runbook and the reports, not the service's speed
# (`make bench` measures that): they catch an order of magnitude only, and each report shows
# the verdict at the plan's limits beside them.
SHARED_HOST_LIMITS = {
    "max_mean_latency_s": {"embedding384d": 2.0, "embedding768d": 2.0, "embedding1155d": 2.0},
    "max_tail_latency_s": 4.0,
    "max_load_latency_s": 10.0,
    "min_throughput_rps": 0.5,
    "max_p50_ratio": 10.0,
    "min_throughput_ratio": 0.1,
}


class Run:
    """One ansible-playbook run: its exit status, JSON report (ansible.posix.json) and timing."""

    def __init__(self, name: str, process: subprocess.CompletedProcess, seconds: float):
        self.name, self.returncode, self.seconds = name, process.returncode, seconds
        self.output = process.stdout + process.stderr
        # The JSON report (after the connection's lines at -vvv, before the timer's last line).
        start = process.stdout.find('{\n    "custom_stats"')
        self.report = json.JSONDecoder().raw_decode(process.stdout[start:])[0] if start >= 0 else {"plays": []}

    def changed_by_play(self) -> dict[str, int]:
        """What the release changed, phase by phase (the rehearsal's emulation left out)."""
        counts: dict[str, int] = {}
        for play in self.report["plays"]:
            phase = play["play"]["name"].split(" |")[0]
            counts[phase] = counts.get(phase, 0) + len(self.changed_tasks(phase, [play]))
        return counts

    def changed_tasks(self, phase: str, plays: list[dict] | None = None) -> list[str]:
        """The tasks of PHASE that reported a change, but for the rehearsal's own roles
        (rehearsal_*): they play what AWS does by itself (ECS starting a task and registering it
        in the target group), which is no change the release made."""
        return [
            task["task"]["name"]
            for play in (self.report["plays"] if plays is None else plays)
            if play["play"]["name"].split(" |")[0] == phase
            for task in play["tasks"]
            if task["hosts"].get("localhost", {}).get("changed") and not task["task"]["name"].startswith(EMULATION)
        ]

    def results(self, task_name: str) -> list[dict]:
        return [
            task["hosts"]["localhost"]
            for play in self.report["plays"]
            for task in play["tasks"]
            if task["task"]["name"] == task_name and "localhost" in task["hosts"]
        ]

    def failures(self) -> list[str]:
        return [
            f"{task['task']['name']}: {str(task['hosts']['localhost'].get('msg'))[:800]}"
            for play in self.report["plays"]
            for task in play["tasks"]
            if task["hosts"].get("localhost", {}).get("failed") and not task["hosts"]["localhost"].get("ignore_errors")
        ]

    def messages(self) -> str:
        """What the runbook reported to the operator: its switches, scale-ins, rollbacks and failure."""
        reports = ("Report the switch", "Report the switch back", "Report the scale-in", "Report the rollback")
        return json.dumps(
            [
                r.get("msg")
                for name in (*reports, "Report the retirement", "Fail the release")
                for r in self.results(name)
            ]
        )

    def explain(self) -> str:
        return "\n".join(self.failures()) or self.output[-3000:]


def run_playbook(name: str, command: list[str], cwd: Path, logs: Path, env: dict | None = None, timeout: int = 1800):
    """Run ansible-playbook with the JSON callback; keep its output in `logs`, its time in timings.txt."""
    env = {**os.environ, **(env or {}), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORCE_COLOR": "0"}
    started = time.monotonic()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    run = Run(name, process, time.monotonic() - started)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{name}.json").write_text(process.stdout)
    (logs / f"{name}.stderr").write_text(process.stderr)
    with (logs / "timings.txt").open("a") as timings:
        timings.write(f"{name}: {run.seconds:.0f} s, exit {run.returncode}, changed {run.changed_by_play()}\n")
    print(f"\n{name}: {run.seconds:.0f} s, exit {run.returncode}, changed by phase {run.changed_by_play()}")
    return run


class JsonAnswers(http.server.BaseHTTPRequestHandler):
    """The request handler of a stand-in on loopback (the service's health, a task, ECS's API):
    subclasses say what to answer, :meth:`answer` sends it as JSON; nothing is logged."""

    content_type = "application/json"

    def answer(self, status: int, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_on_loopback(handler: type[http.server.BaseHTTPRequestHandler]) -> http.server.ThreadingHTTPServer:
    """HANDLER served on a free loopback port, from a daemon thread, until shutdown()."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Fake credentials for moto, the AWS that tests run against.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION}


def aws_client_factory(url: str):
    return lambda service, region=REGION: boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def aws_client(service: str, moto_url: str):
    """A boto3 client of moto with state wiped (each test starts from an empty account)."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return aws_client_factory(moto_url)(service)


def playbook_environment(moto_url: str, region: str = REGION) -> dict[str, str]:
    """The environment of an ansible-playbook run against the moto server at MOTO_URL, from a shell
    in REGION (the AWS modules read AWS_REGION before an inventory's region)."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


class RecordedAccount:
    """An emulated account whose requests moto records (MOTO_RECORDER_FILEPATH=RECORDING): each
    playbook run marks where its requests start, so a test reads what that run sent."""

    def __init__(self, aws, recording: Path, logs: Path, env: dict[str, str]):
        self.aws, self.recording, self.logs, self.env = aws, recording, logs, env
        self.start = 0

    def playbook(self, name: str, command: list[str], env: dict | None = None, timeout: int = 1800) -> Run:
        """Run COMMAND (ansible-playbook) from the repository's root."""
        self.start = self.recording.read_text().count("\n") if self.recording.exists() else 0
        return run_playbook(name, command, ROOT, self.logs, env={**self.env, **(env or {})}, timeout=timeout)

    def requests(self, start: int | None = None) -> list[dict]:
        return recorded_requests(self.recording, self.start if start is None else start)


MODULE_UTILS = Path(__file__).resolve().parents[1] / "plugins" / "module_utils"
# What Ansible does for the module_utils folder ansible.cfg names when it ships a module: the
# module imports what it shares with others as ansible.module_utils.<name>.
FIND_MODULE_UTILS = f"import ansible.module_utils\nansible.module_utils.__path__.append({str(MODULE_UTILS)!r})\n"


def runnable(module: Path, folder: Path) -> Path:
    """A script in FOLDER that runs MODULE as `python MODULE ARGS_FILE` would, its imports of our
    module_utils found as Ansible finds them."""
    launcher = folder / f"run_{module.name}"
    launcher.write_text(
        FIND_MODULE_UTILS
        + f"import runpy, sys\nsys.argv[0] = {str(module)!r}\nrunpy.run_path({str(module)!r}, run_name='__main__')\n"
    )
    return launcher


def ansible_module_runner(module: Path, moto_url: str, folder: Path):
    """Run one of our Ansible modules as Ansible does (its own process, arguments from a file)
    against moto; returns its result. Ansible stays out of the test process: importing its module
    utilities patches the interpreter in ways torch's compiler does not accept."""

    def run(check_mode: bool = False, diff: bool = False, **args) -> dict:
        connection = {
            "region": AWS_ENV["AWS_REGION"], "endpoint_url": moto_url,
            "access_key": AWS_ENV["AWS_ACCESS_KEY_ID"], "secret_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        }  # fmt: skip
        arguments = {**connection, "_ansible_check_mode": check_mode, "_ansible_diff": diff, **args}
        (folder / "args.json").write_text(json.dumps({"ANSIBLE_MODULE_ARGS": arguments}))
        process = subprocess.run(
            [sys.executable, str(runnable(module, folder)), str(folder / "args.json")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        result = json.loads(process.stdout)
        assert process.returncode == (1 if result.get("failed") else 0), process.stderr
        return result

    return run


@contextlib.contextmanager
def moto_server(port: int, log: Path, **environment: str):
    """A moto server on loopback with the given MOTO_* settings; yields its URL."""
    env = {**os.environ, **environment}
    if "MOTO_ENABLE_RECORDING" not in environment:  # record only when asked
        env.pop("MOTO_ENABLE_RECORDING", None)
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "--host=127.0.0.1", f"--port={port}"], env=env, stdout=output, stderr=output
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{url}/moto-api/", server, log, timeout=60)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def request_body(request: dict) -> str:
    body = request.get("body") or ""
    return base64.b64decode(body).decode(errors="replace") if request.get("body_encoded") else body


def aws_operation(request: dict) -> str | None:
    """The AWS API operation of a request moto recorded (None for moto's own API)."""
    url = request["url"]
    if "/moto-api/" in url:
        return None
    if target := request["headers"].get("X-Amz-Target"):  # JSON protocols
        return target.rsplit(".", 1)[-1]
    if "/operation/" in url:  # Smithy RPC v2 (CBOR)
        return url.rsplit("/", 1)[-1]
    body = request_body(request)
    return parse_qs(body or "").get("Action", [""])[0] or f"{request['method']} {urlparse(url).path}"


def recorded_requests(recording: Path, start: int = 0) -> list[dict]:
    """The requests moto recorded, from line `start` on, each with its operation and parsed body."""
    requests_ = []
    for line in recording.read_text().splitlines()[start:]:
        request = json.loads(line)
        body = request_body(request)
        request["operation"] = aws_operation(request)
        try:
            request["json"] = json.loads(body) if body.startswith("{") else None
        except ValueError:
            request["json"] = None
        request["form"] = parse_qs(body) if request["json"] is None and "=" in body else {}
        request["text"] = body
        requests_.append(request)
    return requests_


def is_read(operation: str) -> bool:
    return operation.startswith(("Describe", "List", "Get", "BatchGet", "GET "))


def writes_of(requests: list[dict]) -> set[str]:
    """The operations of REQUESTS (recorded_requests) that are no read: what changed the account."""
    return {request["operation"] for request in requests if not is_read(request["operation"] or "GET ")}


def gunicorn_config(root: Path) -> dict:
    """What gunicorn serves with: webapp/gunicorn_conf.py loaded as gunicorn loads a configuration
    file (its names over gunicorn's defaults), in a process of its own, since loading it prepares
    the process (with PROMETHEUS_MULTIPROC_DIR given, it makes no metrics folder)."""
    script = (
        "import json, runpy\n"
        "from gunicorn.config import Config\n"
        "config = Config()\n"
        "for name, value in runpy.run_path('webapp/gunicorn_conf.py').items():\n"
        "    if name in config.settings:\n"
        "        config.set(name, value)\n"
        "print(json.dumps({name: setting.get() for name, setting in config.settings.items()}, default=str))\n"
    )
    with tempfile.TemporaryDirectory() as metrics:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics}
        process = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.splitlines()[-1])


def self_signed_certificate(name: str) -> tuple[bytes, bytes]:
    """A certificate and key for `name`, as ACM imports them (PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


# The production inventory's account (its placeholder, which moto plays) and its zone's stand-in.
PRODUCTION_ACCOUNT = "000000000000"
PRODUCTION_ZONE = "finbert-rag.example.com"


def production_prerequisites(aws) -> dict:
    """What the account holds before the first release (docs/operating.md, First production release)."""
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
    public = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"ap-south-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    private = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{10 + i}.0/24", AvailabilityZone=f"ap-south-1{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    public_routes = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=public_routes, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    for subnet in public:
        ec2.associate_route_table(RouteTableId=public_routes, SubnetId=subnet)
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public[0], AllocationId=address)["NatGateway"]["NatGatewayId"]
    private_routes = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.create_route(RouteTableId=private_routes, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    for subnet in private:
        ec2.associate_route_table(RouteTableId=private_routes, SubnetId=subnet)
    # The organisation's wildcard certificate, and one for another name that must not be chosen.
    certificates = {}
    for name in (f"*.{PRODUCTION_ZONE}", "api.other.example.net"):
        certificate, key = self_signed_certificate(name)
        certificates[name] = aws("acm").import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    aws("route53").create_hosted_zone(Name=PRODUCTION_ZONE, CallerReference="prerequisite")
    return {"vpc": vpc, "public": public, "private": private, "certificate": certificates[f"*.{PRODUCTION_ZONE}"]}
