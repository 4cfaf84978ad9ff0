"""test_faults_clock.py — a lease stored in the future (issue 12).
HOOKD_BACKENDS: sqlite postgres

A clock that ran ahead and was set back leaves a lease ending far in the future. It must not
strand the webhook: the admin API shows it not handling, a retry is accepted (not 409
"running"), and the handler runs it.
"""
import os
import time
import uuid

import faults
import harness

SECRET = "whsec_faults_clock"


class LeaseInTheFuture(harness.TestCase):

    def test_future_lease_does_not_strand_the_webhook(self):
        port, admin = harness.free_port(), harness.free_port()
        db = self.database()
        ran = os.path.join(self.tmp, "ran")
        # The handler fails once and is not due again for an hour.
        self.hookd(["receive", "--listen", "127.0.0.1:%d" % port, "--admin-listen",
                    "127.0.0.1:%d" % admin, "--db", db.url, "--secret", SECRET,
                    "--retry-delays", "1h", "--lease", "20s", "--handler-timeout", "5s",
                    "--exec", 'echo "$WEBHOOK_ID" >> %s; exit 1' % ran], wait_port=port)
        wid = str(uuid.uuid4())
        status, _, _ = harness.request("POST", port, "/", faults.BODY,
                                       harness.signed_headers(SECRET, faults.BODY, wid=wid))
        self.assertEqual(status, 200)
        harness.wait_until(lambda: len(harness.json_request("GET", admin, "/webhooks/" + wid)[1]
                                       ["runs"]) == 1, what="the first run recorded")
        # A lease a day ahead, as a clock a day fast would have written it.
        day = int(time.time() * 1000) + 86400 * 1000
        faults.db_write(db, "UPDATE receive_webhooks SET lease_until = %d, lease_owner = 'fast/00000000', "
                 "lease_token = 'x' WHERE id = '%s'" % (day, wid))
        _, w = harness.json_request("GET", admin, "/webhooks/" + wid)
        self.assertEqual((w["status"], w["handling"]), ("pending", False))
        status, out = harness.json_request("POST", admin, "/webhooks/%s/retry" % wid)
        self.assertEqual(status, 202, out)
        harness.wait_until(lambda: len(faults.handled(ran)) == 2, timeout=15,
                           what="the retried run")
        self.assertEqual(faults.handled(ran), [wid, wid])


if __name__ == "__main__":
    harness.main()
