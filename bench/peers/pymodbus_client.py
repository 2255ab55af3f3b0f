#!/usr/bin/env python3
"""pymodbus's own client reading the same Modbus requests as Flowline's
connector, for bench/modbus.sh and bench/gateway_throughput.sh.

Usage: pymodbus_client.py JOB_FILE

JOB_FILE holds one JSON object:
  {"host": "127.0.0.1", "port": 5020, "mode": "latency" | "throughput", ...}

  latency:    {"connects": N, "reads": N, "warmup": N,
               "cases": [{"name": "...", "reads": [READ, ...]}]}
              Connects N times (after `warmup` untimed ones), then reads
              each case's requests N times, and prints
              {"connect_us": [...], "cases": [[us, ...], ...]}.
  throughput: {"seconds": S, "reads": [READ, ...]}
              Reads the requests over and over for S seconds after one
              untimed pass, and prints
              {"tags": n, "seconds": s, "cpu_seconds": c}.

  READ: {"unit": 1, "table": "input|holding|coil|discrete", "start": 0,
         "count": 124, "points": [{"offset": 0, "type": "f32"}, ...]}

Every request is one pymodbus call; every point of its answer is decoded
by pymodbus (convert_from_registers, big-endian words), as the Flowline
connector decodes each point into a sample. An error answer stops the
script: a benchmark of failures would be meaningless.
"""

import json
import sys
import time

from pymodbus.client import ModbusTcpClient

DATATYPE = ModbusTcpClient.DATATYPE
TYPES = {
    "u16": (DATATYPE.UINT16, 1),
    "i16": (DATATYPE.INT16, 1),
    "u32": (DATATYPE.UINT32, 2),
    "i32": (DATATYPE.INT32, 2),
    "f32": (DATATYPE.FLOAT32, 2),
    "u64": (DATATYPE.UINT64, 4),
    "i64": (DATATYPE.INT64, 4),
    "f64": (DATATYPE.FLOAT64, 4),
}


def compile_reads(client, reads):
    """Each read as (function, start, count, unit, bits, points), looked
    up once so the timed loop does only what a client must."""
    functions = {
        "input": client.read_input_registers,
        "holding": client.read_holding_registers,
        "coil": client.read_coils,
        "discrete": client.read_discrete_inputs,
    }
    compiled = []
    for read in reads:
        bits = read["table"] in ("coil", "discrete")
        points = []
        for point in read["points"]:
            offset = point["offset"]
            if bits:
                points.append((offset, None, None))
            else:
                data_type, width = TYPES[point["type"]]
                points.append((offset, offset + width, data_type))
        compiled.append(
            (functions[read["table"]], read["start"], read["count"], read["unit"], bits, points)
        )
    return compiled


def read_all(compiled, convert):
    """Sends every request and decodes every point; returns the values."""
    values = []
    for function, start, count, unit, bits, points in compiled:
        answer = function(start, count=count, device_id=unit)
        if answer.isError():
            raise RuntimeError(f"read of unit {unit} at {start} x {count} failed: {answer}")
        if bits:
            values.extend(bool(answer.bits[offset]) for offset, _, _ in points)
        else:
            registers = answer.registers
            for first, end, data_type in points:
                values.append(convert(registers[first:end], data_type=data_type))
    return values


def timed(action, warmup, count, before=None):
    """Runs `action` warmup + count times, each after `before` (untimed);
    the last count durations in µs."""
    durations = []
    for index in range(warmup + count):
        if before is not None:
            before()
        started = time.perf_counter_ns()
        action()
        took = time.perf_counter_ns() - started
        if index >= warmup:
            durations.append(took / 1000.0)
    return durations


def latency(client, job):
    warmup = job["warmup"]

    def reconnect():
        if not client.connect():
            raise RuntimeError("could not connect")

    # The close is not timed, as Flowline's side times only its connect.
    connects = timed(reconnect, warmup, job["connects"], before=client.close)
    result = {"connect_us": connects, "cases": []}
    reconnect()
    convert = client.convert_from_registers
    for case in job["cases"]:
        compiled = compile_reads(client, case["reads"])
        expected = sum(len(read["points"]) for read in case["reads"])

        def read_case():
            values = read_all(compiled, convert)
            if len(values) != expected:
                raise RuntimeError(f"expected {expected} values, decoded {len(values)}")

        result["cases"].append(timed(read_case, warmup, job["reads"]))
    return result


def throughput(client, job):
    if not client.connect():
        raise RuntimeError("could not connect")
    compiled = compile_reads(client, job["reads"])
    convert = client.convert_from_registers
    read_all(compiled, convert)
    tags = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    while time.perf_counter() - started < job["seconds"]:
        tags += len(read_all(compiled, convert))
    seconds = time.perf_counter() - started
    return {"tags": tags, "seconds": seconds, "cpu_seconds": time.process_time() - cpu_started}


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        job = json.load(file)
    client = ModbusTcpClient(job["host"], port=job["port"], timeout=2, retries=0)
    try:
        modes = {"latency": latency, "throughput": throughput}
        result = modes[job["mode"]](client, job)
    finally:
        client.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
