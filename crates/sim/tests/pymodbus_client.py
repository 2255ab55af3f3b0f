"""A Modbus client nobody at Flowline wrote (pymodbus) against the simulator.

Usage: pymodbus_client.py PLAN_JSON

PLAN_JSON names the server and what to do:
  {"host": "127.0.0.1", "port": 5020, "unit": 1,
   "reads": [{"name": "...", "table": "input|holding|coil|discrete",
              "address": 0, "type": "f32|bool"}],
   "writes": [{"table": "holding|coil", "address": 0, "value": 80.0}],
   "missing_unit": 99}

It reads every point, performs the writes, reads every point again, reads
from a unit id that does not exist, and prints one JSON object:
  {"before": {name: value}, "after": {name: value},
   "writes": [true | "error text"], "missing_unit_exception": code}
Values are decoded by pymodbus itself (FLOAT32, big-endian words).
"""

import json
import sys

from pymodbus.client import ModbusTcpClient


def read_point(client, unit, point):
    table = point["table"]
    address = point["address"]
    if table in ("coil", "discrete"):
        read = client.read_coils if table == "coil" else client.read_discrete_inputs
        answer = read(address, count=1, device_id=unit)
        if answer.isError():
            return {"error": str(answer)}
        return bool(answer.bits[0])
    read = client.read_input_registers if table == "input" else client.read_holding_registers
    answer = read(address, count=2, device_id=unit)
    if answer.isError():
        return {"error": str(answer)}
    return client.convert_from_registers(answer.registers, data_type=client.DATATYPE.FLOAT32)


def write_point(client, unit, write):
    if write["table"] == "coil":
        answer = client.write_coil(write["address"], bool(write["value"]), device_id=unit)
    else:
        words = client.convert_to_registers(
            float(write["value"]), data_type=client.DATATYPE.FLOAT32
        )
        answer = client.write_registers(write["address"], words, device_id=unit)
    return str(answer) if answer.isError() else True


def main():
    plan = json.loads(sys.argv[1])
    client = ModbusTcpClient(plan["host"], port=plan["port"], timeout=5, retries=1)
    if not client.connect():
        print(json.dumps({"error": "could not connect"}))
        return 1
    unit = plan["unit"]
    reads = plan["reads"]
    before = {point["name"]: read_point(client, unit, point) for point in reads}
    writes = [write_point(client, unit, write) for write in plan["writes"]]
    after = {point["name"]: read_point(client, unit, point) for point in reads}
    missing = client.read_input_registers(0, count=2, device_id=plan["missing_unit"])
    client.close()
    print(
        json.dumps(
            {
                "before": before,
                "after": after,
                "writes": writes,
                "missing_unit_exception": getattr(missing, "exception_code", None),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
