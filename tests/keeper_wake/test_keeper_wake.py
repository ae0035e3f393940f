"""Unit tests of deploy/postgres/keeper-wake's decisions (run by tests/deploy.rs).

No pg_auto_failover here: the fault drills run the helper against real formations. These
check what the drills cannot force: which wakes are held back, and the start-up retries.
"""

import importlib.machinery
import importlib.util
import os
import socket
import stat
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "deploy", "postgres", "keeper-wake")


def load_keeper_wake():
    loader = importlib.machinery.SourceFileLoader("keeper_wake", SCRIPT)
    spec = importlib.util.spec_from_loader("keeper_wake", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


kw = load_keeper_wake()


def state(node_id, name, goal, reported, port=5432, host="127.0.0.1", group=0):
    return {
        "type": "state",
        "formation": "default",
        "groupId": group,
        "nodeId": node_id,
        "name": name,
        "host": host,
        "port": port,
        "goalState": goal,
        "reportedState": reported,
        "health": "good",
    }


def closed_port():
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StandbyWakes(unittest.TestCase):
    def setUp(self):
        self.group = kw.Group({"name": "node2", "formation": "default"})
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listening_port = self.listener.getsockname()[1]

    def tearDown(self):
        self.listener.close()

    def failover(self, primary_port, primary_host="127.0.0.1"):
        """The notifications of a failover's start: primary draining, standby report_lsn."""
        self.group.update(state(1, "node1", "draining", "primary", primary_port, primary_host))
        own = state(2, "node2", "report_lsn", "secondary", 6000)
        self.group.update(own)
        return own

    def test_a_killed_primary_refuses_so_the_standby_is_woken(self):
        own = self.failover(closed_port())
        self.assertIsNone(kw.standby_wake_blocked(self.group, own))

    def test_a_primary_that_still_accepts_connections_is_left_to_the_keeper(self):
        own = self.failover(self.listening_port)
        blocked = kw.standby_wake_blocked(self.group, own)
        self.assertIsNotNone(blocked)
        self.assertIn("node1", blocked)

    def test_a_primary_that_answers_nothing_is_left_to_the_keeper_within_the_probe_time(self):
        # A cut-off host sends no SYN-ACK. On loopback: a listener whose accept queue is full
        # (backlog 0 holds one connection) drops further SYNs, so a connect times out.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=1)
        try:
            own = self.failover(port)
            started = time.monotonic()
            blocked = kw.standby_wake_blocked(self.group, own)
            took = time.monotonic() - started
        finally:
            filler.close()
            silent.close()
        self.assertIsNotNone(blocked)
        self.assertGreaterEqual(took, kw.PROBE_TIMEOUT_S * 0.9)
        self.assertLess(took, 1.0)

    def test_states_whose_reload_does_not_reconnect_are_always_woken(self):
        self.group.update(state(1, "node1", "draining", "primary", self.listening_port))
        for reported in ("report_lsn", "prepare_promotion", "join_secondary", "wait_primary"):
            own = state(2, "node2", "secondary", reported, 6000)
            self.group.update(own)
            self.assertIsNone(kw.standby_wake_blocked(self.group, own), reported)

    def test_an_unknown_primary_does_not_hold_the_wake_back(self):
        own = state(2, "node2", "secondary", "catchingup", 6000)
        self.group.update(own)
        self.assertIsNone(kw.standby_wake_blocked(self.group, own))

    def test_the_primary_is_looked_for_in_the_same_group_only(self):
        self.group.update(state(7, "other", "draining", "primary", self.listening_port, group=1))
        own = state(2, "node2", "report_lsn", "secondary", 6000)
        self.group.update(own)
        self.assertIsNone(self.group.primary_of(own))

    def test_a_draining_primary_is_preferred_over_a_node_still_reported_primary(self):
        self.group.update(state(3, "node3", "wait_primary", "wait_primary", 7000))
        self.group.update(state(1, "node1", "draining", "primary", 7001))
        own = state(2, "node2", "report_lsn", "secondary", 6000)
        self.assertEqual(self.group.primary_of(own)["name"], "node1")


class UnhealthyPrimaryWatch(unittest.TestCase):
    def setUp(self):
        self.group = kw.Group({"name": "node2", "formation": "default"})
        self.group.update(state(2, "node2", "secondary", "secondary", 6000))
        self.watch = kw.FailoverWatch(2.5)

    def notify(self, update, now):
        self.group.update(update)
        self.watch.on_state(self.group, update, now)

    def unhealthy_primary(self, now):
        primary = state(1, "node1", "primary", "primary", 6001)
        primary["health"] = "bad"
        self.notify(primary, now)

    def test_wakes_every_interval_until_the_failover_starts(self):
        self.unhealthy_primary(100.0)
        self.assertTrue(self.watch.active())
        self.assertEqual(self.watch.timeout(100.0, 1.0), 0.0)
        self.assertTrue(self.watch.due(100.0))
        self.assertFalse(self.watch.due(100.1))
        self.assertAlmostEqual(self.watch.timeout(100.1, 1.0), kw.WATCH_INTERVAL_S - 0.1)
        self.assertTrue(self.watch.due(100.0 + kw.WATCH_INTERVAL_S))
        self.notify(state(2, "node2", "report_lsn", "secondary", 6000), 100.4)
        self.assertFalse(self.watch.active())
        self.assertEqual(self.watch.timeout(100.4, 1.0), 1.0)

    def test_ends_at_its_limit(self):
        self.unhealthy_primary(100.0)
        self.assertTrue(self.watch.due(102.4))
        self.assertFalse(self.watch.due(102.7))
        self.assertFalse(self.watch.active())

    def test_the_limit_is_capped(self):
        self.assertEqual(kw.FailoverWatch(21.0).limit_s, kw.WATCH_CAP_S)

    def test_a_primary_healthy_again_ends_it(self):
        self.unhealthy_primary(100.0)
        self.notify(state(1, "node1", "primary", "primary", 6001), 100.3)
        self.assertFalse(self.watch.active())

    def test_a_second_standby_wakes_half_an_interval_later(self):
        group = kw.Group({"name": "node3", "formation": "default"})
        group.update(state(3, "node3", "secondary", "secondary", 6002))
        watch = kw.FailoverWatch(2.5)
        primary = state(1, "node1", "primary", "primary", 6001)
        primary["health"] = "bad"
        group.update(primary)
        watch.on_state(group, primary, 100.0)
        self.assertFalse(watch.due(100.0))
        self.assertTrue(watch.due(100.0 + kw.WATCH_INTERVAL_S / 2))

    def test_a_node_that_is_not_a_standby_does_not_watch(self):
        self.group.update(state(2, "node2", "catchingup", "catchingup", 6000))
        self.unhealthy_primary(100.0)
        self.assertFalse(self.watch.active())

    def test_an_unhealthy_standby_is_not_a_primary(self):
        other = state(3, "node3", "secondary", "secondary", 6002)
        other["health"] = "bad"
        self.notify(other, 100.0)
        self.assertFalse(self.watch.active())


class DemoteTimeoutWatch(unittest.TestCase):
    """The new primary in stop_replication waits for the old primary's demote timeout."""

    def setUp(self):
        self.group = kw.Group({"name": "node2", "formation": "default"})
        self.group.update(state(2, "node2", "prepare_promotion", "prepare_promotion", 6000))
        self.group.update(state(1, "node1", "draining", "primary", 6001))
        self.watch = kw.DemoteWatch(0.5)

    def notify(self, update, now):
        self.group.update(update)
        self.watch.on_state(self.group, update, now)

    def demote_timeout_assigned(self, now):
        """The monitor's one transaction: node2 to stop_replication, node1 to demote_timeout."""
        self.notify(state(2, "node2", "stop_replication", "prepare_promotion", 6000), now)
        self.notify(state(1, "node1", "demote_timeout", "primary", 6001), now)

    def test_wakes_just_after_the_timeout_then_every_interval(self):
        self.demote_timeout_assigned(100.0)
        self.notify(state(2, "node2", "stop_replication", "stop_replication", 6000), 100.3)
        first = 100.0 + 0.5 + kw.DEMOTE_MARGIN_S
        self.assertAlmostEqual(self.watch.timeout(100.3, 1.0), first - 100.3)
        self.assertFalse(self.watch.due(first - 0.01))
        self.assertTrue(self.watch.due(first))
        self.assertTrue(self.watch.ready(self.group))
        self.assertFalse(self.watch.due(first + 0.1))
        self.assertTrue(self.watch.due(first + kw.WATCH_INTERVAL_S))
        self.assertFalse(self.watch.due(first + kw.DEMOTE_WATCH_S + 0.01))
        self.assertFalse(self.watch.active())

    def test_the_order_of_the_two_notifications_does_not_matter(self):
        self.notify(state(1, "node1", "demote_timeout", "primary", 6001), 100.0)
        self.assertFalse(self.watch.active())
        self.notify(state(2, "node2", "stop_replication", "prepare_promotion", 6000), 100.0)
        self.assertTrue(self.watch.active())

    def test_a_keeper_still_promoting_is_not_woken(self):
        self.demote_timeout_assigned(100.0)
        self.assertTrue(self.watch.due(100.6))
        self.assertFalse(self.watch.ready(self.group))

    def test_taking_writes_ends_it(self):
        self.demote_timeout_assigned(100.0)
        self.notify(state(2, "node2", "wait_primary", "stop_replication", 6000), 100.6)
        self.assertFalse(self.watch.active())

    def test_an_old_primary_in_another_group_does_not_start_it(self):
        self.notify(state(2, "node2", "stop_replication", "prepare_promotion", 6000), 100.0)
        self.notify(state(5, "node5", "demote_timeout", "primary", 6005, group=1), 100.0)
        self.assertFalse(self.watch.active())

    def test_the_wake_goes_to_the_keeper(self):
        woken = []

        class FakeKeeper:
            def wake(self, why):
                woken.append(why)

        self.demote_timeout_assigned(100.0)
        self.notify(state(2, "node2", "stop_replication", "stop_replication", 6000), 100.3)
        self.assertTrue(self.watch.due(100.6))
        kw.wake_for_watch(self.group, self.watch, FakeKeeper())
        self.assertEqual(woken, ["the demote timeout of the old primary node1 is over"])


class StartUp(unittest.TestCase):
    def test_the_configuration_is_read_again_while_the_keeper_rewrites_it(self):
        with tempfile.TemporaryDirectory() as work:
            calls = os.path.join(work, "calls")
            fake = os.path.join(work, "pg_autoctl")
            # Fails its first two calls, as pg_autoctl does while the file is being rewritten.
            with open(fake, "w", encoding="utf-8") as file:
                file.write(
                    "#!/bin/sh\n"
                    f'n=$(cat "{calls}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{calls}"\n'
                    'if [ $n -le 2 ]; then echo "Failed to find section pg_autoctl" >&2; exit 1; fi\n'
                    'case "$1 $2 $3" in\n'
                    '  "config get pg_autoctl.name") echo node2 ;;\n'
                    '  "config get pg_autoctl.formation") echo default ;;\n'
                    '  "config get pg_autoctl.monitor") echo postgres://m/pg_auto_failover ;;\n'
                    '  "config get postgresql.port") echo 6000 ;;\n'
                    f'  "show file --pid") echo {work}/pg_autoctl.pid ;;\n'
                    "  *) exit 2 ;;\n"
                    "esac\n"
                )
            os.chmod(fake, stat.S_IRWXU)
            node, uri, port, pid_file = kw.read_node(fake, work, time.monotonic() + 5)
            self.assertEqual(node, {"name": "node2", "formation": "default"})
            self.assertEqual((uri, port), ("postgres://m/pg_auto_failover", 6000))
            self.assertEqual(pid_file, f"{work}/pg_autoctl.pid")

    def test_a_configuration_that_stays_unreadable_is_an_error_after_the_deadline(self):
        with tempfile.TemporaryDirectory() as work:
            fake = os.path.join(work, "pg_autoctl")
            with open(fake, "w", encoding="utf-8") as file:
                file.write("#!/bin/sh\necho 'no such pgdata' >&2\nexit 1\n")
            os.chmod(fake, stat.S_IRWXU)
            started = time.monotonic()
            with self.assertRaises(RuntimeError) as raised:
                kw.read_node(fake, work, time.monotonic() + 0.5)
            self.assertIn("no such pgdata", str(raised.exception))
            self.assertLess(time.monotonic() - started, 3.0)


if __name__ == "__main__":
    sys.exit(0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1)
