"""An OPC UA client nobody at Flowline wrote (asyncua) against the simulator.

Usage: opcua_client.py PLAN_JSON

PLAN_JSON says how to connect and what to do:
  {"url": "opc.tcp://127.0.0.1:4840/", "namespace": "urn:flowline:sim",
   "security": null | {"cert": "DIR/client.der", "key": "DIR/client.pem",
                       "user": "operator", "password": "..."},
   "reads": ["north/pad-1/w-01/tubing-pressure", ...],
   "subscribe": "north/pad-1/w-01/tubing-pressure", "notifications": 3,
   "writes": [{"path": "...", "value": 80.0, "type": "Double"}, ...]}

With "security", it connects to the Basic256Sha256 SignAndEncrypt endpoint
as the user, with the client certificate and key in the named files (made
there, for the application URI urn:flowline:test:asyncua-client, when
missing); without, to the endpoint without security, anonymously.

It browses the simulator's namespace from the Objects folder, reads every
tag in "reads" (value, status, data type, access levels, unit and
ranges), subscribes to one tag until it has seen "notifications" changes,
performs the writes (each answers a status), reads the written tags again,
and prints one JSON object:
  {"connected": true, "assets": [...], "tags": [...],
   "reads": {path: {...}}, "notifications": [{"value": v, "source": iso}],
   "writes": ["Good" | "BadOutOfRange" | ...], "after": {path: value}}
or {"connected": false, "error": "..."} when the session is refused.
"""

import asyncio
import json
import sys
from pathlib import Path

from cryptography.x509.oid import ExtendedKeyUsageOID

from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

APPLICATION_URI = "urn:flowline:test:asyncua-client"
PROPERTIES = ("EngineeringUnits", "EURange", "InstrumentRange")
TIMEOUT_S = 20


def status_name(code):
    """The name of a status code, such as BadOutOfRange."""
    return ua.StatusCode(code.value if hasattr(code, "value") else code).name


def plain(value):
    """A JSON value for a variant's value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


async def browse(client, namespace):
    """Every object and variable of the simulator's namespace below Objects,
    as sorted lists of their string node ids (properties left out)."""
    assets, tags = [], []
    pending = [client.nodes.objects]
    while pending:
        node = pending.pop()
        for child in await node.get_children():
            if child.nodeid.NamespaceIndex != namespace:
                continue
            node_class = await child.read_node_class()
            if node_class == ua.NodeClass.Object:
                assets.append(child.nodeid.Identifier)
                pending.append(child)
            elif node_class == ua.NodeClass.Variable:
                tags.append(child.nodeid.Identifier)
    return sorted(assets), sorted(tags)


async def describe(client, node):
    """What a client sees of one tag."""
    data = await node.read_data_value(raise_on_bad_status=False)
    data_type = await client.get_node(await node.read_data_type()).read_browse_name()
    described = {
        "value": plain(data.Value.Value if data.Value is not None else None),
        "status": status_name(data.StatusCode),
        "source": data.SourceTimestamp.isoformat() if data.SourceTimestamp else None,
        "data_type": data_type.Name,
        "access_level": (await node.read_attribute(ua.AttributeIds.AccessLevel)).Value.Value,
        "user_access_level": (
            await node.read_attribute(ua.AttributeIds.UserAccessLevel)
        ).Value.Value,
        "display_name": (await node.read_display_name()).Text,
        "description": (await node.read_description()).Text,
    }
    for prop in await node.get_properties():
        name = (await prop.read_browse_name()).Name
        value = await prop.read_value()
        if name == "EngineeringUnits":
            described["unit"] = value.DisplayName.Text
        elif name in ("EURange", "InstrumentRange"):
            described[name] = [value.Low, value.High]
    return described


class Collector:
    """Keeps the data changes a subscription delivers."""

    def __init__(self, wanted):
        self.wanted = wanted
        self.seen = []
        self.done = asyncio.Event()

    def datachange_notification(self, node, value, data):
        monitored = data.monitored_item.Value
        source = monitored.SourceTimestamp.isoformat() if monitored.SourceTimestamp else None
        self.seen.append({"value": plain(value), "source": source})
        if len(self.seen) >= self.wanted:
            self.done.set()


async def write(client, node_for, request):
    """Writes one value in the variant type asked for; the answer's status."""
    variant = ua.Variant(request["value"], getattr(ua.VariantType, request["type"]))
    node = node_for(request["path"])
    try:
        await node.write_attribute(ua.AttributeIds.Value, ua.DataValue(variant))
        return "Good"
    except ua.UaStatusCodeError as error:
        return status_name(error.code)


async def session(plan):
    client = Client(url=plan["url"], timeout=TIMEOUT_S)
    client.application_uri = APPLICATION_URI
    security = plan.get("security")
    if security:
        cert, key = Path(security["cert"]), Path(security["key"])
        await setup_self_signed_certificate(
            key, cert, APPLICATION_URI, "localhost",
            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "asyncua test client"},
        )
        client.set_user(security["user"])
        client.set_password(security["password"])
        await client.set_security(
            SecurityPolicyBasic256Sha256, str(cert), str(key),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )
    try:
        await client.connect()
    except Exception as error:  # the refusal is the result
        return {"connected": False, "error": f"{type(error).__name__}: {error}"}

    try:
        namespace = await client.get_namespace_index(plan["namespace"])
        node_for = lambda path: client.get_node(ua.NodeId(path, namespace))
        assets, tags = await browse(client, namespace)
        reads = {path: await describe(client, node_for(path)) for path in plan["reads"]}

        collector = Collector(plan["notifications"])
        subscription = await client.create_subscription(100, collector)
        await subscription.subscribe_data_change(node_for(plan["subscribe"]))
        try:
            await asyncio.wait_for(collector.done.wait(), TIMEOUT_S)
        except asyncio.TimeoutError:
            pass
        await subscription.delete()

        writes = [await write(client, node_for, request) for request in plan["writes"]]
        after = {}
        for request in plan["writes"]:
            data = await node_for(request["path"]).read_data_value(raise_on_bad_status=False)
            after[request["path"]] = plain(data.Value.Value if data.Value is not None else None)
        return {
            "connected": True,
            "assets": assets,
            "tags": tags,
            "reads": reads,
            "notifications": collector.seen,
            "writes": writes,
            "after": after,
        }
    finally:
        await client.disconnect()


def main():
    report = asyncio.run(session(json.loads(sys.argv[1])))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
