"""test_faults_kill9.py — kill -9 loops end to end, serve → receive (issue 12).
HOOKD_BACKENDS: sqlite postgres

An application posts events to `hookd serve`, which delivers them to `hookd receive`, whose
handler records each run. Under that load each process is killed with SIGKILL in turn and
started again, several times. After the drain every event serve acknowledged (202) has been
handled, and no webhook was handled twice except runs a receiver's death cut short (a run
under way, or ended and not yet recorded, when it died: at most --workers of each per kill).
"""
import json
import os
import threading
import time

import faults
import harness
import serve_support

KILLS = 6            # alternating: serve, receive, serve, …
BETWEEN = 1.5        # seconds of load between kills
WORKERS = 4


class Kill9Loop(serve_support.ServeCase):

    def post_events(self, p, acked, stop):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                status, _ = self.api(p, "POST", "/v1/events",
                                     {"event": "events.created",
                                      "data": {"id": n, "calendar_id": 2}})
            except OSError:
                time.sleep(0.05)  # serve is down: the application retries later
                continue
            if status == 202:
                acked.append(n)
            else:
                time.sleep(0.05)
            time.sleep(0.01)

    def test_kill9_loop_end_to_end(self):
        recv_port, recv_admin = harness.free_port(), harness.free_port()
        serve_db, recv_db = self.database("serve"), self.database("receive")
        p = self.start_serve(db=serve_db, fast=False,
                             extra=["--retry-delays", "200ms,500ms,1s", "--max-attempts", "60",
                                    "--timeout", "5s", "--lease", "8s"])
        d = self.destination(p, "http://127.0.0.1:%d/" % recv_port)
        started = os.path.join(self.tmp, "started")
        ran = os.path.join(self.tmp, "ran")
        # One line per run start, one per run end with the event's number.
        handler = ('echo "$WEBHOOK_ID" >> %s; sleep 0.05; '
                   'echo "$WEBHOOK_ID $(cat | tr -d \'\\n\')" >> %s' % (started, ran))
        recv_args = ["receive", "--listen", "127.0.0.1:%d" % recv_port,
                     "--admin-listen", "127.0.0.1:%d" % recv_admin, "--db", recv_db.url,
                     "--secret", d["secret"], "--workers", str(WORKERS), "--lease", "8s",
                     "--handler-timeout", "5s", "--exec", handler]
        recv = self.hookd(recv_args, wait_port=recv_port, name="receive")

        acked, stop = [], threading.Event()
        poster = threading.Thread(target=self.post_events, args=(p, acked, stop), daemon=True)
        poster.start()
        receiver_kills = 0
        for i in range(KILLS):
            time.sleep(BETWEEN)
            if i % 2 == 0:
                p.kill9()
                p = self.start_serve(db=serve_db, fast=False, port=p.port,
                                     extra=["--retry-delays", "200ms,500ms,1s",
                                            "--max-attempts", "60", "--timeout", "5s",
                                            "--lease", "8s"])
            else:
                recv.kill9()
                receiver_kills += 1
                recv = self.hookd(recv_args, wait_port=recv_port, name="receive")
        time.sleep(BETWEEN)
        stop.set()
        poster.join(timeout=30)

        def handled():
            out = []
            for line in faults.handled(ran):
                wid, _, body = line.partition(" ")
                out.append((wid, json.loads(body)["data"]["id"]))
            return out
        harness.wait_until(lambda: {n for _, n in handled()} >= set(acked), timeout=90,
                           interval=0.5, what="every acknowledged event handled")
        time.sleep(1.0)
        runs = handled()
        starts = faults.handled(started)
        cut = len(starts) - len(runs)  # started, never ended: killed mid-run
        _, lost, dup = faults.tally("kill9-loop", acked, [n for _, n in runs], cut_by_death=cut,
                                    extra="; %d kills (%d of the receiver)" % (KILLS,
                                                                               receiver_kills))
        self.assertEqual(lost, 0)
        # Duplicates only from the receiver's deaths: its runs under way and its outcomes
        # not yet recorded at each kill.
        self.assertLessEqual(dup, receiver_kills * 2 * WORKERS)
        # One webhook per event: serve never made a second webhook for an event.
        by_event = {}
        for wid, n in runs:
            by_event.setdefault(n, set()).add(wid)
        self.assertEqual([n for n, w in by_event.items() if len(w) > 1], [])


if __name__ == "__main__":
    harness.main()
