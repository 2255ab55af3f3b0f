"""Reads and writes Flowline's records with fastavro, for tests/fastavro.rs.

Reads a plan as JSON on standard input: a list of cases, each with an
Avro schema ("schema", its JSON text), record bodies to decode ("decode",
hex) and records to encode ("encode", JSON). Prints the decoded records
and the encoded bodies as JSON, in the same order.

JSON conventions, since JSON has no bytes and fastavro cannot tell a
double from a long in a union by itself:
- bytes and fixed values are {"__bytes__": "<hex>"};
- floats and doubles are {"__double__": "<hex>"}, the eight bytes of a
  little-endian double, so no digit is lost on the way;
- a union value to write names its branch: {"__union__": [branch, value]};
  a union of records read back is {"__union__": [record name, record]}.

Timestamps are compared as the longs they are on the wire: the logical
types are removed before fastavro parses the schema, which changes
nothing in the binary encoding.
"""

import io
import json
import struct
import sys

import fastavro


def without_logical_types(schema):
    if isinstance(schema, dict):
        return {key: without_logical_types(value) for key, value in schema.items() if key != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(item) for item in schema]
    return schema


def to_datum(value):
    if isinstance(value, dict):
        if "__bytes__" in value:
            return bytes.fromhex(value["__bytes__"])
        if "__double__" in value:
            return struct.unpack("<d", bytes.fromhex(value["__double__"]))[0]
        if "__union__" in value:
            branch, inner = value["__union__"]
            return (branch, to_datum(inner))
        return {key: to_datum(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_datum(item) for item in value]
    return value


def to_json(datum):
    if isinstance(datum, bytes):
        return {"__bytes__": datum.hex()}
    if isinstance(datum, float):
        return {"__double__": struct.pack("<d", datum).hex()}
    if isinstance(datum, tuple):
        name, record = datum
        return {"__union__": [name, to_json(record)]}
    if isinstance(datum, dict):
        return {key: to_json(item) for key, item in datum.items()}
    if isinstance(datum, list):
        return [to_json(item) for item in datum]
    return datum


def main():
    report = []
    for case in json.load(sys.stdin):
        schema = fastavro.parse_schema(without_logical_types(json.loads(case["schema"])))
        decoded = []
        for body in case["decode"]:
            stream = io.BytesIO(bytes.fromhex(body))
            record = fastavro.schemaless_reader(stream, schema, None, return_record_name=True)
            left = len(stream.read())
            decoded.append({"record": to_json(record), "left": left})
        encoded = []
        for record in case["encode"]:
            stream = io.BytesIO()
            fastavro.schemaless_writer(stream, schema, to_datum(record))
            encoded.append(stream.getvalue().hex())
        report.append({"decoded": decoded, "encoded": encoded})
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
