// providers.mjs — the providers' own libraries, for test_providers.py: reads a JSON array of
// operations on stdin, prints a JSON array of results, one per operation, in order.
// Run from a directory whose node_modules holds standardwebhooks, @octokit/webhooks-methods
// and stripe (the test copies it into build/node-test/).
//   {"op":"standard-verify","secret","headers":{…},"body"} → {"ok":true} | {"ok":false,"error"}
//   {"op":"standard-sign","secret","id","timestamp":unix s,"body"} → {"signature"}
//   {"op":"github-sign","secret","body"} → {"signature"}
//   {"op":"stripe-sign","secret","body","timestamp":unix s} → {"header"}
//   {"op":"stripe-verify","secret","header","body"} → {"ok":true,"id","type"} | {"ok":false,"error"}
import { Webhook } from "standardwebhooks";
import { sign as githubSign } from "@octokit/webhooks-methods";
import Stripe from "stripe";

const stripe = new Stripe("sk_test_hookd_not_used");

async function run(op) {
  switch (op.op) {
    case "standard-verify":
      try {
        new Webhook(op.secret).verify(op.body, op.headers);
        return { ok: true };
      } catch (e) {
        return { ok: false, error: String(e.message || e) };
      }
    case "standard-sign":
      return { signature: new Webhook(op.secret).sign(op.id, new Date(op.timestamp * 1000), op.body) };
    case "github-sign":
      return { signature: await githubSign(op.secret, op.body) };
    case "stripe-sign":
      return {
        header: stripe.webhooks.generateTestHeaderString({
          payload: op.body, secret: op.secret, timestamp: op.timestamp,
        }),
      };
    case "stripe-verify":
      try {
        const event = stripe.webhooks.constructEvent(op.body, op.header, op.secret);
        return { ok: true, id: event.id, type: event.type };
      } catch (e) {
        return { ok: false, error: String(e.message || e) };
      }
    default:
      throw new Error("unknown op " + op.op);
  }
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const op of JSON.parse(input)) results.push(await run(op));
process.stdout.write(JSON.stringify(results));
