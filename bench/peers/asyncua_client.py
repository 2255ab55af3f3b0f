#!/usr/bin/env python3
"""asyncua's own client connecting to and reading the same OPC UA nodes as
Flowline's gateway client, for bench/opcua.sh.

Usage: asyncua_client.py JOB_FILE

JOB_FILE holds one JSON object:
  {"url": "opc.tcp://127.0.0.1:4840/", "namespace": "urn:flowline:sim",
   "nodes": ["north/pad-1/w-01/tubing-pressure", ...],
   "connects": N, "reads": N, "warmup": N,
   "securities": [SECURITY, ...]}

  SECURITY: {"policy": "none"}, the endpoint without security as an
            anonymous user, or
            {"policy": "basic256sha256", "user": "...", "password": "...",
             "cert": "DIR/client.der", "key": "DIR/client.pem"},
            the Basic256Sha256 SignAndEncrypt endpoint as the user, with the
            client certificate and key in those files (made when missing).

For each security setting, in order: connects N times after `warmup`
untimed connects (a connect is Client.connect(): hello, secure channel,
create and activate session; each session is disconnected, untimed, before
the next), then opens one session, looks up the namespace index once, and
reads the Value attribute of every node in one Read request N times after
`warmup` untimed reads, taking each answer's value, status and source
timestamp, as Flowline's client turns each into a sample. Prints
  {"connect_us": [[...], ...], "read_us": [[...], ...]}
one list of durations in microseconds per security setting.

A bad status, a missing value or a short answer stops the script with an
error: a benchmark of failures would be meaningless.
"""

import asyncio
import json
import sys
import time
from pathlib import Path

from cryptography.x509.oid import ExtendedKeyUsageOID

from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

# The application URI in the client's certificate, which the session
# presents too.
APPLICATION_URI = "urn:flowline:bench:asyncua-client"
# Seconds to wait for any one answer.
TIMEOUT_S = 10


async def client_for(url, security):
    """An asyncua client for `url` with the security setting applied."""
    client = Client(url=url, timeout=TIMEOUT_S)
    client.application_uri = APPLICATION_URI
    if security["policy"] == "none":
        return client
    if security["policy"] != "basic256sha256":
        raise ValueError(f"expected policy none or basic256sha256, found {security['policy']!r}")
    cert, key = Path(security["cert"]), Path(security["key"])
    cert.parent.mkdir(parents=True, exist_ok=True)
    await setup_self_signed_certificate(
        key, cert, APPLICATION_URI, "localhost",
        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "asyncua bench client"},
    )
    client.set_user(security["user"])
    client.set_password(security["password"])
    # Without a server certificate given, asyncua asks the server for its
    # endpoints here, once, before any timed connect.
    await client.set_security(
        SecurityPolicyBasic256Sha256, str(cert), str(key),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )
    return client


async def timed(action, warmup, count):
    """Awaits `action()` warmup + count times; the last count durations in
    µs. `action` returns a coroutine to run untimed after the timed part,
    or None."""
    durations = []
    for index in range(warmup + count):
        started = time.perf_counter_ns()
        after = await action()
        took = time.perf_counter_ns() - started
        if after is not None:
            await after
        if index >= warmup:
            durations.append(took / 1000.0)
    return durations


def samples(answer, paths):
    """(value, source timestamp) of every data value, in order; an error
    names the first node that did not read a good value."""
    if len(answer) != len(paths):
        raise RuntimeError(f"expected {len(paths)} values, the read gave {len(answer)}")
    decoded = []
    for path, data in zip(paths, answer):
        status = data.StatusCode
        if status is not None and not status.is_good():
            raise RuntimeError(f"{path}: expected a good value, found status {status.name}")
        if data.Value is None or data.Value.Value is None:
            raise RuntimeError(f"{path}: expected a value, found none")
        decoded.append((data.Value.Value, data.SourceTimestamp))
    return decoded


async def measure(job, security):
    """The connect and read durations of one security setting."""
    client = await client_for(job["url"], security)

    async def connect():
        await client.connect()
        return client.disconnect()

    connects = await timed(connect, job["warmup"], job["connects"])

    await client.connect()
    try:
        namespace = await client.get_namespace_index(job["namespace"])
        paths = job["nodes"]
        nodes = [client.get_node(ua.NodeId(path, namespace)) for path in paths]

        async def read():
            answer = await client.read_attributes(nodes, ua.AttributeIds.Value)
            samples(answer, paths)

        reads = await timed(read, job["warmup"], job["reads"])
    finally:
        await client.disconnect()
    return connects, reads


async def main_async(job):
    result = {"connect_us": [], "read_us": []}
    for security in job["securities"]:
        connects, reads = await measure(job, security)
        result["connect_us"].append(connects)
        result["read_us"].append(reads)
    return result


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        job = json.load(file)
    print(json.dumps(asyncio.run(main_async(job))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
