#!/usr/bin/env python3
"""A Modbus TCP server built with pymodbus, serving known values, for the
gateway's interoperability tests.

Usage: modbus_server.py PORT

Unit 1 serves:
  holding 0-1   f32 10.5, big-endian words (abcd)
  holding 2-3   f32 -3.25, words swapped (cdab)
  holding 10    u16 4242, written by the tests
  input 0       i16 -7
  input 1-2     u32 70000
  input 3-4     f32 NaN (a device with no value)
  coil 0-2      on, off, on
  discrete 0-1  off, on
Every other address is invalid (exception 2). Prints "ready" once it
listens; stops when standard input closes.
"""

import asyncio
import struct
import sys

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice


def words(fmt, value):
    """The 16-bit registers of a value packed with struct format `fmt`."""
    raw = struct.pack(fmt, value)
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def main():
    port = int(sys.argv[1])
    f32 = words(">f", 10.5)
    swapped = list(reversed(words(">f", -3.25)))
    coils = [SimData(0, values=[True, False, True], datatype=DataType.BITS)]
    discrete = [SimData(0, values=[False, True], datatype=DataType.BITS)]
    holding = [
        SimData(0, values=f32 + swapped, datatype=DataType.REGISTERS),
        SimData(10, values=[4242], datatype=DataType.REGISTERS),
    ]
    inputs = [
        SimData(0, values=words(">h", -7) + words(">I", 70000) + words(">f", float("nan")),
                datatype=DataType.REGISTERS),
    ]
    device = SimDevice(1, simdata=(coils, discrete, holding, inputs), use_bit_addressing=True)

    async def serve():
        server = ModbusTcpServer(device, address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.shutdown()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
