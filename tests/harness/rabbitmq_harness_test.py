"""harness.sh start-rabbitmq: a real RabbitMQ on loopback, plain and TLS, then stop-rabbitmq.

Usage: rabbitmq_harness_test.py HARNESS_SCRIPT HARNESS_DIR (a started harness). Checks that a
persistent message published with publisher confirms comes back over AMQP and over AMQPS (peer
and host verified against the harness CA), that an unrelated CA is refused, that none of the
node's sockets (AMQP, AMQPS, distribution, epmd) listens off loopback, and that stop ends every
process it started."""
import os
import ssl
import subprocess
import sys
import unittest
import uuid

import pika

HARNESS, DIR = sys.argv[1], sys.argv[2]


def harness(*args):
    subprocess.run([HARNESS, *args, DIR], check=True, stdin=subprocess.DEVNULL)


def read_env(path):
    with open(path) as env:
        return dict(line.rstrip("\n").split("=", 1) for line in env if "=" in line)


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def listening_sockets(pids):
    """Local addresses of the LISTEN sockets that processes in `pids` (or their children) own."""
    out = subprocess.run(["ss", "-ltnpH"], check=True, capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if any(f"pid={pid}," in line for pid in pids)]


def process_tree(root):
    """root and every descendant, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = stat.read().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
            children.setdefault(ppid, []).append(entry)
    tree, todo = [], [str(root)]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


class RabbitMqHarnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness("start-rabbitmq")
        cls.env = read_env(os.path.join(DIR, "rabbitmq.env"))
        cls.credentials = pika.PlainCredentials(cls.env["RABBITMQ_USER"], cls.env["RABBITMQ_PASSWORD"])
        harness_env = read_env(os.path.join(DIR, "env"))
        cls.ca_file, cls.unrelated_ca_file = harness_env["HARNESS_CA_FILE"], harness_env["HARNESS_UNRELATED_CA_FILE"]

    @classmethod
    def tearDownClass(cls):
        pids = [cls.env["RABBITMQ_PID"], cls.env["RABBITMQ_EPMD_PID"]]
        harness("stop-rabbitmq")
        still = [pid for pid in pids if pid_alive(pid)]
        assert not still, f"stop-rabbitmq left pids {still} running"
        assert not os.path.exists(os.path.join(DIR, "rabbitmq.env")), "stop-rabbitmq left rabbitmq.env"

    def parameters(self, ca_file=None):
        port = int(self.env["RABBITMQ_TLS_PORT" if ca_file else "RABBITMQ_PORT"])
        tls = None
        if ca_file:
            context = ssl.create_default_context(cafile=ca_file)  # verifies the peer and the host name
            tls = pika.SSLOptions(context, "localhost")
        return pika.ConnectionParameters("localhost" if ca_file else self.env["RABBITMQ_HOST"], port,
                                         credentials=self.credentials, ssl_options=tls,
                                         connection_attempts=1, socket_timeout=10)

    def round_trip(self, parameters):
        body = uuid.uuid4().hex.encode()
        with pika.BlockingConnection(parameters) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            queue = channel.queue_declare(queue="", exclusive=True).method.queue
            # Raises if the broker nacks it or returns it unroutable.
            channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2, message_id="event-1"),
                                  mandatory=True)
            method, properties, received = channel.basic_get(queue, auto_ack=True)
        self.assertIsNotNone(method, "the published message is not in its queue")
        self.assertEqual(received, body)
        self.assertEqual(properties.message_id, "event-1")
        self.assertEqual(properties.delivery_mode, 2)

    def test_plain_amqp_round_trip_with_confirms(self):
        self.round_trip(self.parameters())

    def test_tls_round_trip_verifies_the_broker_against_the_harness_ca(self):
        self.round_trip(self.parameters(self.ca_file))

    def test_tls_refuses_a_broker_an_unrelated_ca_did_not_sign(self):
        # pika passes the handshake's own error on.
        with self.assertRaises((pika.exceptions.AMQPConnectionError, ssl.SSLCertVerificationError)):
            pika.BlockingConnection(self.parameters(self.unrelated_ca_file))

    def test_every_socket_listens_on_loopback_only(self):
        pids = process_tree(self.env["RABBITMQ_PID"]) + process_tree(self.env["RABBITMQ_EPMD_PID"])
        addresses = listening_sockets(pids)
        # AMQP, AMQPS, the distribution port and epmd.
        self.assertGreaterEqual(len(addresses), 4, addresses)
        for address in addresses:
            host = address.rsplit(":", 1)[0].strip("[]")
            self.assertIn(host, ("127.0.0.1", "::1"), f"{address} is not loopback")


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
