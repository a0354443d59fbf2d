# SPDX-License-Identifier: MIT
"""kafkaq.py - the chaos suite's two Kafka questions, asked straight of the brokers (not
through Toxiproxy): a topic's end offsets (high watermarks) and a consumer group's committed
offsets. Uses the system's librdkafka (Debian's librdkafka1, kcat's library) through ctypes,
as a plain client that never joins the group; kcat -L for the partition count."""
import ctypes
import ctypes.util
import json
import subprocess


class _TP(ctypes.Structure):  # rd_kafka_topic_partition_t (rdkafka.h, stable ABI)
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32),
                ("offset", ctypes.c_int64), ("metadata", ctypes.c_void_p),
                ("metadata_size", ctypes.c_size_t), ("opaque", ctypes.c_void_p),
                ("err", ctypes.c_int), ("_private", ctypes.c_void_p)]


class _TPList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(_TP))]


_lib = None


def _rd():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("rdkafka") or "librdkafka.so.1"
        lib = ctypes.CDLL(name)
        lib.rd_kafka_conf_new.restype = ctypes.c_void_p
        lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_new.restype = ctypes.c_void_p
        lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                                     ctypes.c_size_t]
        lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_topic_partition_list_new.restype = ctypes.POINTER(_TPList)
        lib.rd_kafka_topic_partition_list_add.argtypes = [ctypes.POINTER(_TPList),
                                                          ctypes.c_char_p, ctypes.c_int32]
        lib.rd_kafka_topic_partition_list_add.restype = ctypes.c_void_p
        lib.rd_kafka_topic_partition_list_destroy.argtypes = [ctypes.POINTER(_TPList)]
        lib.rd_kafka_committed.argtypes = [ctypes.c_void_p, ctypes.POINTER(_TPList), ctypes.c_int]
        lib.rd_kafka_query_watermark_offsets.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int64),
            ctypes.POINTER(ctypes.c_int64), ctypes.c_int]
        lib.rd_kafka_err2str.restype = ctypes.c_char_p
        _lib = lib
    return _lib


class KafkaError(Exception):
    pass


def partitions(bootstrap, topic):
    """Partition numbers of @topic ([] when it does not exist yet). Asks for every topic's
    metadata: a request naming the topic would have the broker auto-create it."""
    r = subprocess.run(["kcat", "-b", bootstrap, "-L", "-J", "-m", "10"],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise KafkaError("kcat -L %s: %s" % (topic, r.stderr.strip()[-300:]))
    for t in json.loads(r.stdout).get("topics", []):
        if t.get("topic") == topic and not t.get("error"):
            return sorted(p["partition"] for p in t.get("partitions", []))
    return []


class Client:
    """One librdkafka consumer handle (group.id set, never subscribed)."""

    def __init__(self, bootstrap, group):
        lib = _rd()
        err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        for k, v in (("bootstrap.servers", bootstrap), ("group.id", group),
                     ("enable.auto.commit", "false"), ("log_level", "0")):
            if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), err, 512) != 0:
                raise KafkaError("conf %s: %s" % (k, err.value.decode()))
        self.rk = lib.rd_kafka_new(1, conf, err, 512)
        if not self.rk:
            raise KafkaError("rd_kafka_new: %s" % err.value.decode())
        self.bootstrap, self.group = bootstrap, group

    def close(self):
        if self.rk:
            _rd().rd_kafka_destroy(self.rk)
            self.rk = None

    def end_offsets(self, topic, parts, timeout_ms=10000):
        lib, out = _rd(), {}
        for p in parts:
            lo, hi = ctypes.c_int64(), ctypes.c_int64()
            e = lib.rd_kafka_query_watermark_offsets(self.rk, topic.encode(), p,
                                                     ctypes.byref(lo), ctypes.byref(hi),
                                                     timeout_ms)
            if e != 0:
                raise KafkaError("watermarks %s/%d: %s" % (topic, p,
                                                           lib.rd_kafka_err2str(e).decode()))
            out[p] = hi.value
        return out

    def committed(self, topic, parts, timeout_ms=10000):
        """{partition: committed offset} (-1001: nothing committed yet)."""
        lib = _rd()
        tl = lib.rd_kafka_topic_partition_list_new(len(parts))
        try:
            for p in parts:
                lib.rd_kafka_topic_partition_list_add(tl, topic.encode(), p)
            e = lib.rd_kafka_committed(self.rk, tl, timeout_ms)
            if e != 0:
                raise KafkaError("committed %s: %s" % (self.group,
                                                       lib.rd_kafka_err2str(e).decode()))
            out = {}
            for i in range(tl.contents.cnt):
                tp = tl.contents.elems[i]
                if tp.err != 0:
                    raise KafkaError("committed %s/%d: %s" % (
                        topic, tp.partition, lib.rd_kafka_err2str(tp.err).decode()))
                out[tp.partition] = tp.offset
            return out
        finally:
            lib.rd_kafka_topic_partition_list_destroy(tl)

    def caught_up(self, topic, parts):
        """(True when the group's committed offset is the end offset on every partition,
        the end offsets, the committed offsets)."""
        end = self.end_offsets(topic, parts)
        com = self.committed(topic, parts)
        return all(end[p] == 0 or com.get(p, -1) >= end[p] for p in parts), end, com
