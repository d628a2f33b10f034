"""Our murmur2 is Kafka's: the Java client's test vectors, and aiokafka's for keys of every length."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from swarmstream.partitions import murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit results).
JAVA = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA.items())
def test_the_java_clients_vectors(key, expected):
    assert murmur2(key.encode()) == expected & 0xFFFFFFFF


def test_equal_to_aiokafkas_for_keys_of_every_length():
    draw = random.Random(35)
    keys = [bytes(draw.randrange(256) for _ in range(length)) for length in range(0, 140) for _ in range(20)]
    keys += [f"agent-{index:07d}".encode() for index in range(2_000)]
    assert [murmur2(key) for key in keys] == [aiokafka_murmur2(key) for key in keys]
    assert [partition_for(key.hex(), 12) for key in keys[:500]] == [
        (aiokafka_murmur2(key.hex().encode()) & 0x7FFFFFFF) % 12 for key in keys[:500]
    ]
