"""The Kafka and HTTP side of scripts/tansu-check.sh, on confluent-kafka (librdkafka 2.16).

Every failure prints one line `tansu-check: …` to stderr and exits 1. Amounts are compared as the
text the service wrote (JSON numbers parsed as strings), never as floating point.

Tansu 0.6's ListOffsets answers are not used: they can lag behind what its partitions hold (a
high watermark of 1 on a partition holding 2,764 records), so ends of partitions are what a
reader reads to the end.
"""
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITION_EOF = -191


def fail(message):
    print("tansu-check: " + message, file=sys.stderr)
    sys.exit(1)


def exact(text):
    """JSON with every number kept as its text."""
    return json.loads(text, parse_float=str, parse_int=str)


def partitions(bootstrap, topic):
    t = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics.get(topic)
    if t is None or t.error is not None or not t.partitions:
        fail(f"{bootstrap} has no topic {topic}")
    return sorted(t.partitions)


def read_all(bootstrap, topic):
    """Every record of every partition in offset order: (offset, key, value, timestamp) lists,
    read until each partition reports its end and nothing more arrives for a second."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "tansu-check-reader", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    ps = partitions(bootstrap, topic)
    c.assign([TopicPartition(topic, p, 0) for p in ps])
    out = {p: [] for p in ps}
    at_end = set()
    last = time.monotonic()
    deadline = last + 120
    while len(at_end) < len(ps) or time.monotonic() - last < 1:
        if time.monotonic() > deadline:
            fail(f"reading {topic} from {bootstrap}: no end after 120 s")
        for m in c.consume(10000, timeout=0.2):
            if m.error():
                if m.error().code() == PARTITION_EOF:
                    at_end.add(m.partition())
                    continue
                fail(f"reading {topic} from {bootstrap}: {m.error()}")
            last = time.monotonic()
            at_end.discard(m.partition())
            out[m.partition()].append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
    c.close()
    return out


def cmd_create(bootstrap, *specs):
    """create BOOTSTRAP NAME:PARTITIONS…"""
    topics = [NewTopic(s.split(":")[0], int(s.split(":")[1]), 1) for s in specs]
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})  # alive until every future is answered
    for name, future in admin.create_topics(topics, request_timeout=15).items():
        try:
            future.result()
        except KafkaException as e:
            fail(f"cannot create {name} on {bootstrap}: {e}")


def cmd_copy(source, target, topic, chunks, pause):
    """copy SOURCE TARGET TOPIC CHUNKS PAUSE: every record of TOPIC to the same partition of
    TARGET (key, value, timestamp), in CHUNKS parts PAUSE seconds apart (a workload arriving
    while the service runs); then reads TARGET back: the same records, in order, from offset 0."""
    records = read_all(source, topic)
    chunks, pause = int(chunks), float(pause)
    errors = []
    producer = Producer({"bootstrap.servers": target, "enable.idempotence": True, "linger.ms": 5})
    for i in range(chunks):
        for p, rs in records.items():
            for (_, key, value, ts) in rs[len(rs) * i // chunks:len(rs) * (i + 1) // chunks]:
                producer.produce(topic, value=value, key=key, partition=p, timestamp=ts,
                                 on_delivery=lambda e, m: e is not None and errors.append(e))
                producer.poll(0)
        if producer.flush(60) or errors:
            fail(f"copying {topic} to {target}: {len(errors)} records not delivered ({errors[:1]})")
        if i + 1 < chunks:
            time.sleep(pause)
    back = read_all(target, topic)
    for p, rs in records.items():
        got = back.get(p, [])
        if [r[0] for r in got] != list(range(len(rs))) or [r[1:] for r in got] != [r[1:] for r in rs]:
            fail(f"{target} holds {len(got)} records in {topic}/{p}, not the {len(rs)} copied, in order, from offset 0")
    print(sum(len(rs) for rs in records.values()))


def cmd_ends(bootstrap, topic):
    """ends BOOTSTRAP TOPIC: {"partition": end offset} as a reader finds them."""
    print(json.dumps({str(p): (rs[-1][0] + 1 if rs else 0) for p, rs in read_all(bootstrap, topic).items()}))


def cmd_committed(bootstrap, group, topic, ends_file):
    """committed BOOTSTRAP GROUP TOPIC ENDS_FILE: prints the sum of the group's committed offsets,
    and `caught-up` when every partition's committed offset is its end."""
    ends = json.load(open(ends_file))
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = c.committed([TopicPartition(topic, int(p)) for p in ends], timeout=10)
    except KafkaException as e:
        print(f"0 unknown ({e})")
        return
    finally:
        c.close()
    committed = {str(t.partition): t.offset for t in tps}
    done = all(committed[p] == ends[p] for p in ends)
    print(sum(max(o, 0) for o in committed.values()), "caught-up" if done else "behind")


def cmd_digest(bootstrap, topic):
    """digest BOOTSTRAP TOPIC: `<ids> <sha256>` of the records by id; fails when two records
    share an id but differ (outputs are at-least-once, identical under one id)."""
    by_id = {}
    for rs in read_all(bootstrap, topic).values():
        for (_, _, value, _) in rs:
            by_id.setdefault(json.loads(value)["id"], set()).add(value)
    differing = sorted(i for i, values in by_id.items() if len(values) > 1)
    if differing:
        fail(f"{topic} on {bootstrap}: {len(differing)} ids carry different records, e.g. {differing[0]}")
    h = hashlib.sha256()
    for i in sorted(by_id):
        h.update(next(iter(by_id[i])))
    print(len(by_id), h.hexdigest())


def documents(path):
    """The account documents of `credit-meter snapshot inspect --json` output."""
    return {a["account"]: a for a in exact(open(path).read())["accounts"]}


def compare(what, reference, actual):
    missing = sorted(set(reference) - set(actual))
    extra = sorted(set(actual) - set(reference))
    differing = sorted(a for a in reference if a in actual and actual[a] != reference[a])
    if missing or extra or differing:
        example = (f"{differing[0]}: expected {json.dumps(reference[differing[0]])[:600]} got {json.dumps(actual[differing[0]])[:600]}"
                   if differing else f"missing {missing[:3]}, unexpected {extra[:3]}")
        fail(f"{what}: {len(differing)} of {len(reference)} accounts differ from the reference, "
             f"{len(missing)} missing, {len(extra)} unexpected; {example}")


def cmd_same_snapshots(reference_file, actual_file, what):
    """same-snapshots REFERENCE.json ACTUAL.json WHAT: every account document equal."""
    compare(what, documents(reference_file), documents(actual_file))
    print(len(documents(reference_file)))


def cmd_same_http(reference_file, token, *bases):
    """same-http REFERENCE.json TOKEN BASE…: GET /v1/accounts/{account} of every account from
    the instances (the first that answers 200 owns it) equals the reference document. Accounts
    no instance serves yet (their partition still being assigned) are asked again, for 90 s."""
    reference = documents(reference_file)
    served = {}
    deadline = time.monotonic() + 90
    while True:
        for account in reference:
            if account in served:
                continue
            for base in bases:
                status, body = fetch(f"{base}/v1/accounts/{account}", token)
                if status == 200:
                    served[account] = exact(body)
                    break
                if status not in (404, 503):
                    fail(f"GET {base}/v1/accounts/{account} answered {status}")
        if len(served) == len(reference) or time.monotonic() > deadline:
            break
        time.sleep(1)
    compare("served over HTTP", reference, served)
    print(len(served))


def cmd_same_balances(reference_file, bootstrap, topic):
    """same-balances REFERENCE.json BOOTSTRAP TOPIC: the newest balances record of every account
    equals the reference document's leading fields (the balances document is its prefix)."""
    reference = documents(reference_file)
    newest = {}
    for rs in read_all(bootstrap, topic).values():
        for (_, key, value, _) in rs:
            newest[key.decode()] = exact(value)
    compare(f"{topic}'s newest records", {a: {k: d.get(k) for k in newest.get(a, d)} for a, d in reference.items()}, newest)
    print(len(newest))


def cmd_delete_group(bootstrap, group):
    """delete-group BOOTSTRAP GROUP"""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    for name, future in admin.delete_consumer_groups([group], request_timeout=15).items():
        try:
            future.result()
        except KafkaException as e:
            fail(f"cannot delete group {name}: {e}")


def fetch(url, token):
    """The status code of GET url (0 when nothing answers) and the body."""
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def cmd_status(url, token):
    """status URL TOKEN: the status code of GET URL (0 when nothing answers)."""
    print(fetch(url, token)[0])


def cmd_get(url, token):
    """get URL TOKEN: the body of GET URL; fails unless 200."""
    status, body = fetch(url, token)
    if status != 200:
        fail(f"GET {url} answered {status}")
    sys.stdout.write(body)


COMMANDS = {"create": cmd_create, "copy": cmd_copy, "ends": cmd_ends, "committed": cmd_committed, "digest": cmd_digest,
            "same-snapshots": cmd_same_snapshots, "same-http": cmd_same_http, "same-balances": cmd_same_balances,
            "delete-group": cmd_delete_group, "status": cmd_status, "get": cmd_get}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
