// panel_serve.mjs — walks hookd serve's admin panel in a real browser (chromium, headless),
// as a destination owner would: MeetBit's setup steps (Create, Name/URL/events, Reveal
// secret, Activate), a delivery with its attempts, Retry, Events, Edit, Recover, the
// account picker, Delete on its confirmation page, a key that may not
// activate, forged and token-less POSTs, a wrong key, the session cookie and headers,
// sign-out. Driven by tests/blackbox/test_panel_serve.py, which reads the JSON printed last.
//
// stdin: {base, token, limited, api_token, receiver, chromium, shots (a folder or null)}
import assert from 'node:assert/strict';
import { cfg, fitsWidth, shot, until, walk } from './common.mjs';

const base = cfg.base;
const out = {};

function log(...a) { process.stderr.write(a.join(' ') + '\n'); }

async function api(method, p, body, key = cfg.api_token) {
  const r = await fetch(base + p, {
    method, headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: r.status === 204 ? null : await r.json() };
}

async function signIn(page, key) {
  await page.goto(base + '/admin');
  await page.getByLabel('Access key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function headersAndCookie(context, page) {
  const resp = await page.goto(base + '/admin/webhook_destinations');
  const h = resp.headers();
  assert.equal(h['content-security-policy'].split(';')[0], "default-src 'self'");
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.equal(h['referrer-policy'], 'same-origin');
  assert.equal(h['cache-control'], 'no-store');
  const cookies = await context.cookies(base + '/admin/');
  assert.equal(cookies.length, 1, JSON.stringify(cookies));
  const c = cookies[0];
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  assert.equal(c.secure, false); // plain http: never Secure
  assert.equal(c.path, '/admin');
  out.cookie = { name: c.name, value: c.value };
}

// Step 1 and 2: sign in (a wrong key first), then Create with a refused URL, then right.
async function setup(context, page) {
  await signIn(page, 'hk_not_a_key');
  await page.getByText('That access key is not valid.').waitFor();
  assert.equal((await context.cookies(base + '/admin/')).length, 0, 'a wrong key got a session');
  await shot(page, 'sign-in');
  await page.getByLabel('Access key').fill(cfg.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + '/admin/webhook_destinations');
  await page.getByRole('heading', { name: 'Webhook Destinations' }).waitFor();
  await headersAndCookie(context, page);
  await page.getByRole('link', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Create Webhook Destination' }).waitFor();
  await page.getByLabel('Name').fill('MeetBit calendar sync');
  await page.getByLabel('URL').fill('ftp://example.com/hook');
  await page.getByLabel('events.created', { exact: true }).check();
  await page.getByRole('button', { name: 'Create' }).click();
  await page.locator('#url-error').waitFor();
  assert.match(await page.locator('#url-error').innerText(), /url refused/);
  assert.equal(await page.getByLabel('Name').inputValue(), 'MeetBit calendar sync');
  assert.equal(await page.getByLabel('events.created', { exact: true }).isChecked(), true);
  await shot(page, 'create-error');
  await page.getByLabel('URL').fill(cfg.receiver);
  await page.getByLabel('meeting_links.scheduled', { exact: true }).check();
  await shot(page, 'create');
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByText('Created MeetBit calendar sync.').waitFor();
  out.destination = page.url().split('/').pop();
}

// Step 3 and 4: Reveal secret, Activate.
async function revealAndActivate(page) {
  await page.getByRole('button', { name: 'Reveal secret' }).click();
  out.secret = (await page.locator('#secret').innerText()).trim();
  assert.ok(out.secret.length >= 24, out.secret);
  await page.getByRole('button', { name: 'Activate', exact: true }).click();
  await page.getByText('is active: it receives webhooks.').waitFor();
  await page.getByRole('button', { name: 'Deactivate' }).waitFor();
  assert.equal(await page.locator('#secret').count(), 0, 'the secret shows without Reveal');
}

// A delivery and its attempt, then Retry: a second attempt appears.
async function deliveryAndRetry(page) {
  const ev = await api('POST', '/v1/events',
    { event: 'events.created', data: { id: 7, calendar_id: 3 } });
  assert.equal(ev.status, 202, JSON.stringify(ev.json));
  assert.equal(ev.json.webhooks.length, 1);
  out.webhook = ev.json.webhooks[0].id;
  const block = page.locator('#webhook-' + out.webhook);
  await until(page, async () => (await block.locator('tr.attempt').count()) === 1 &&
    (await block.innerText()).includes('succeeded'), 'the first attempt');
  const row = await block.locator('tr.attempt').first().innerText();
  assert.match(row, /\b200\b/);
  assert.match(row, /\d+ ms/);
  await shot(page, 'destination');
  await block.getByRole('button', { name: 'Retry' }).click();
  await page.getByText('will be attempted again').waitFor();
  await until(page, async () => (await block.locator('tr.attempt').count()) === 2,
    'the retried attempt');
  await page.getByRole('link', { name: 'Webhook Destinations' }).click();
  const line = await page.locator('tbody tr').first().innerText();
  assert.match(line, /MeetBit calendar sync/);
  assert.match(line, /Active/);
  assert.match(line, /succeeded/);
  await shot(page, 'destinations');
  await page.getByRole('link', { name: 'Events' }).click();
  await page.getByRole('heading', { name: 'Events' }).waitFor();
  assert.match(await page.locator('tbody').innerText(), /events\.created/);
  await shot(page, 'events');
}

// Edit (a refused form first), Recover since a time, and the account picker.
async function editRecoverAccount(page) {
  await page.goto(base + '/admin/webhook_destinations/' + out.destination);
  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByRole('heading', { name: 'Edit Webhook Destination' }).waitFor();
  assert.equal(await page.getByLabel('Name').inputValue(), 'MeetBit calendar sync');
  await page.getByLabel('events.created', { exact: true }).uncheck();
  await page.getByLabel('meeting_links.scheduled', { exact: true }).uncheck();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Choose at least one event.').waitFor();
  await page.getByLabel('events.created', { exact: true }).check();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved MeetBit calendar sync.').waitFor();
  assert.doesNotMatch(await page.locator('dl').innerText(), /meeting_links\.scheduled/);
  await page.getByLabel('Recover failed webhooks since (UTC)').fill('2020-01-01T00:00');
  await page.getByRole('button', { name: 'Recover' }).click();
  await page.getByText('0 failed webhook(s) will be attempted again.').waitFor();
  await page.getByLabel('Account').selectOption('acme');
  await page.getByRole('button', { name: 'Switch' }).click();
  await page.getByText('No destinations yet.').waitFor();
  await page.getByLabel('Account').selectOption('default');
  await page.getByRole('button', { name: 'Switch' }).click();
  await page.getByRole('link', { name: 'MeetBit calendar sync' }).waitFor();
}

// A key without destinations.activate: no Activate button, and a forged POST refused.
async function limitedKey(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, cfg.limited);
  await page.waitForURL(base + '/admin/webhook_destinations');
  assert.equal(await page.getByRole('link', { name: 'Create', exact: true }).count(), 0);
  await page.getByRole('link', { name: 'MeetBit calendar sync' }).click();
  await page.getByRole('heading', { name: 'MeetBit calendar sync' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Deactivate' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: /^Activate$/ }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Reveal secret' }).count(), 0);
  const csrf = await page.locator('input[name=csrf]').first().inputValue();
  const action = base + '/admin/webhook_destinations/' + out.destination + '/deactivate';
  const forged = await page.request.post(action, { form: { csrf } });
  assert.equal(forged.status(), 403);
  assert.match(await forged.text(), /lacks the permission destinations\.activate/);
  const bare = await page.request.post(action, { form: {} });
  assert.equal(bare.status(), 403);
  assert.match(await bare.text(), /CSRF token/);
  await context.close();
}

// Delete with its confirmation page (no JavaScript needed), then sign out.
async function deleteAndSignOut(context, page) {
  await page.goto(base + '/admin/webhook_destinations/' + out.destination);
  await page.getByRole('link', { name: 'Delete' }).click();
  await page.getByRole('heading', { name: 'Delete Webhook Destination' }).waitFor();
  await shot(page, 'delete');
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('The destination was deleted.').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Access key').waitFor();
  const stale = await context.request.get(base + '/admin/webhook_destinations', {
    headers: { Cookie: out.cookie.name + '=' + out.cookie.value },
  });
  assert.match(await stale.text(), /Access key/, 'the old session still works');
  assert.doesNotMatch(await stale.text(), /Sign out/);
}

async function narrow(browser) {
  const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
  const page = await context.newPage();
  await signIn(page, cfg.token);
  await page.goto(base + '/admin/webhook_destinations/' + out.destination);
  await fitsWidth(page, 360, 'the page');
  await shot(page, 'destination-360');
  await context.close();
}

await walk(out, async (browser, context, page) => {
  await setup(context, page);
  await revealAndActivate(page);
  await deliveryAndRetry(page);
  await editRecoverAccount(page);
  await limitedKey(browser);
  await narrow(browser);
  await deleteAndSignOut(context, page);
});
