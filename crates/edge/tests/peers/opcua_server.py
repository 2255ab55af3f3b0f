#!/usr/bin/env python3
"""An OPC UA server built with asyncua, serving a small oil field, for the
gateway's interoperability tests.

Usage: opcua_server.py PORT [--secure DIR] [--expired] [--no-subscriptions]
                            [--bulk N]

Without --secure the server offers one endpoint, security None, anonymous
users only. With --secure DIR it offers one Basic256Sha256 SignAndEncrypt
endpoint for the user `operator` with password `valve-7`; its certificate
and key are made in DIR on first use (server.der, server.pem) and kept, so
a restarted server presents the same certificate. --expired makes that
certificate one that expired yesterday. --no-subscriptions refuses
CreateSubscription with BadServiceUnsupported. --bulk N adds an object
`Bulk` holding N Double variables, for browse limits.

The address space, in namespace urn:flowline:test:field:

  Objects/North (folder)/Pad 1 (folder)
    W-01 (object)
      TubingPressure  Double  42.5, source time 2024-05-01T06:30:00.250Z,
                      EngineeringUnits bar, EURange 0..200
      Temperature     Float   61.25, EngineeringUnits degC, EURange -20..150,
                      InstrumentRange -40..200
      StrokeCount     Int32   -7, read-only
      StatusWord      UInt16  513
      Running         Boolean true
      Mode            String  "auto"
      ChokeSetpoint   Double  35.0, writable, EngineeringUnits %, EURange 0..100
      SensorFault     Double  status BadSensorFailure
      Ticker          Int32   counts up every 100 ms, by 1 and by 4 in turn
      LastService     DateTime (no Flowline type)
      ESP (object)
        MotorCurrent  Double  31.5 (numeric node id 1001), EngineeringUnits A
    Separator (object)
      Level           Double  1.25, EngineeringUnits furlong (unknown unit)
      Gas Rate        Double  12.0
      GasRate         Double  12.5 (its path collides with Gas Rate's)

String node ids are the dotted browse path below Pad 1, such as
`W-01.TubingPressure`. Prints "ready" once it listens; stops when standard
input closes.
"""

import argparse
import asyncio
import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.internal_session import InternalSession

NAMESPACE = "urn:flowline:test:field"
APPLICATION_URI = "urn:flowline:test:opcua-server"
USER = "operator"
PASSWORD = "valve-7"
# UNECE codes as OPC UA encodes them: the letters packed into an integer.
UNECE = "http://www.opcfoundation.org/UA/units/un/cefact"


class OnePasswordUsers:
    """Accepts one user name with one password, nobody else."""

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username == USER and password == PASSWORD:
            return User(role=UserRole.User)
        return None


def unit(symbol, code):
    """An EUInformation for `symbol`, with the UNECE common code `code`."""
    packed = 0
    for letter in code:
        packed = (packed << 8) | ord(letter)
    return ua.EUInformation(
        NamespaceUri=UNECE,
        UnitId=packed,
        DisplayName=ua.LocalizedText(symbol),
        Description=ua.LocalizedText(symbol),
    )


def certificate(directory, expired):
    """The server's certificate and key in `directory`, made when missing."""
    cert_path = directory / "server.der"
    key_path = directory / "server.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Flowline test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        not_before, not_after = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)
    alt_names = [
        x509.UniformResourceIdentifier(APPLICATION_URI),
        x509.DNSName("localhost"),
        x509.DNSName("127.0.0.1"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def variable(parent, idx, node_id, name, value, variant_type, eu=None, eu_range=None):
    """A variable under `parent`, with optional unit and range properties."""
    node = await parent.add_variable(ua.NodeId(node_id, idx), ua.QualifiedName(name, idx),
                                     ua.Variant(value, variant_type))
    if eu is not None:
        await node.add_property(ua.NodeId(f"{node_id}.EngineeringUnits", idx),
                                ua.QualifiedName("EngineeringUnits", 0), eu)
    if eu_range is not None:
        low, high = eu_range
        await node.add_property(ua.NodeId(f"{node_id}.EURange", idx),
                                ua.QualifiedName("EURange", 0), ua.Range(Low=low, High=high))
    return node


async def build(server, idx, bulk):
    """Fills the address space; returns the node that counts up."""
    objects = server.nodes.objects
    north = await objects.add_folder(ua.NodeId("North", idx), ua.QualifiedName("North", idx))
    pad = await north.add_folder(ua.NodeId("Pad 1", idx), ua.QualifiedName("Pad 1", idx))
    well = await pad.add_object(ua.NodeId("W-01", idx), ua.QualifiedName("W-01", idx))
    V = ua.VariantType

    pressure = await variable(well, idx, "W-01.TubingPressure", "TubingPressure", 42.5, V.Double,
                              unit("bar", "BAR"), (0.0, 200.0))
    source_time = datetime.datetime(2024, 5, 1, 6, 30, 0, 250000, tzinfo=datetime.timezone.utc)
    await pressure.write_value(ua.DataValue(ua.Variant(42.5, V.Double), SourceTimestamp=source_time))
    temperature = await variable(well, idx, "W-01.Temperature", "Temperature", 61.25, V.Float,
                                 unit("degC", "CEL"), (-20.0, 150.0))
    await temperature.add_property(ua.NodeId("W-01.Temperature.InstrumentRange", idx),
                                   ua.QualifiedName("InstrumentRange", 0),
                                   ua.Range(Low=-40.0, High=200.0))
    await variable(well, idx, "W-01.StrokeCount", "StrokeCount", -7, V.Int32)
    await variable(well, idx, "W-01.StatusWord", "StatusWord", 513, V.UInt16)
    await variable(well, idx, "W-01.Running", "Running", True, V.Boolean)
    await variable(well, idx, "W-01.Mode", "Mode", "auto", V.String)
    choke = await variable(well, idx, "W-01.ChokeSetpoint", "ChokeSetpoint", 35.0, V.Double,
                           unit("%", "P1"), (0.0, 100.0))
    await choke.set_writable()
    fault = await variable(well, idx, "W-01.SensorFault", "SensorFault", 0.0, V.Double)
    await fault.write_value(ua.DataValue(
        ua.Variant(0.0, V.Double), StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure)))
    ticker = await variable(well, idx, "W-01.Ticker", "Ticker", 0, V.Int32)
    await variable(well, idx, "W-01.LastService", "LastService",
                   datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc), V.DateTime)
    esp = await well.add_object(ua.NodeId("W-01.ESP", idx), ua.QualifiedName("ESP", idx))
    await variable(esp, idx, 1001, "MotorCurrent", 31.5, V.Double, unit("A", "AMP"))

    separator = await pad.add_object(ua.NodeId("Separator", idx), ua.QualifiedName("Separator", idx))
    await variable(separator, idx, "Separator.Level", "Level", 1.25, V.Double,
                   unit("furlong", "M50"))
    await variable(separator, idx, "Separator.Gas Rate", "Gas Rate", 12.0, V.Double)
    await variable(separator, idx, "Separator.GasRate", "GasRate", 12.5, V.Double)

    if bulk:
        holder = await objects.add_object(ua.NodeId("Bulk", idx), ua.QualifiedName("Bulk", idx))
        for n in range(bulk):
            await holder.add_variable(ua.NodeId(f"Bulk.V{n}", idx), ua.QualifiedName(f"V{n}", idx),
                                      ua.Variant(float(n), V.Double))
    return ticker


async def count(ticker):
    """Counts the ticker up every 100 ms, stamping each value.

    The steps alternate between 1 and 4, so an absolute deadband of 2.5
    holds back every other change whether the server compares with the last
    value it reported (as OPC UA specifies) or with the last value it
    sampled (as asyncua does).
    """
    n = 0
    step = 4
    while True:
        await asyncio.sleep(0.1)
        step = 5 - step
        n += step
        now = datetime.datetime.now(datetime.timezone.utc)
        await ticker.write_value(ua.DataValue(ua.Variant(n, ua.VariantType.Int32), SourceTimestamp=now))


async def serve(args):
    if args.no_subscriptions:
        async def refuse(*_args, **_kwargs):
            raise ua.uaerrors.BadServiceUnsupported()
        InternalSession.create_subscription = refuse

    server = Server(user_manager=OnePasswordUsers() if args.secure else None)
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{args.port}/flowline/test/")
    server.set_server_name("Flowline test server")
    await server.set_application_uri(APPLICATION_URI)
    if args.secure:
        cert_path, key_path = certificate(Path(args.secure), args.expired)
        await server.load_certificate(str(cert_path))
        await server.load_private_key(str(key_path))
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        server.set_identity_tokens([ua.UserNameIdentityToken])
    else:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.AnonymousIdentityToken])
    idx = await server.register_namespace(NAMESPACE)
    ticker = await build(server, idx, args.bulk)

    async with server:
        counting = asyncio.create_task(count(ticker))
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        counting.cancel()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--secure", metavar="DIR")
    parser.add_argument("--expired", action="store_true")
    parser.add_argument("--no-subscriptions", action="store_true")
    parser.add_argument("--bulk", type=int, default=0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
