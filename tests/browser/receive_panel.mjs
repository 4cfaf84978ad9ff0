// receive_panel.mjs — walks hookd receive's admin panel in a real browser (chromium,
// headless) as the receiving side's operator would: a wrong admin token, then the right
// one; the inbox by status; a handled webhook with its runs; a failed one, forged Retries
// refused, the real Retry and its outcome; the page at 360 px; sign-out. Driven by
// tests/blackbox/test_panel_receive.py, which reads the JSON printed last.
//
// stdin: {base, token, handled, failed, chromium, shots (a folder or null)}
import assert from 'node:assert/strict';
import { cfg, fitsWidth, shot, until, walk } from './common.mjs';

const base = cfg.base;
const out = {};

// The admin API, with the token, as a script of the operator's would call it.
async function api(p) {
  const r = await fetch(base + p, { headers: { Authorization: 'Bearer ' + cfg.token } });
  assert.equal(r.status, 200, p);
  return r.json();
}

const webhookPath = (id) => '/admin/webhooks/' + encodeURIComponent(id);

async function signIn(page, token) {
  await page.goto(base + '/admin');
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

// A wrong token gets no session; the right one lands on the inbox with a strict cookie.
async function signInTwice(context, page) {
  await signIn(page, 'hk_' + '0'.repeat(48));
  await page.getByText('That is not the admin token.').waitFor();
  assert.equal((await context.cookies(base + '/admin/')).length, 0, 'a wrong token got a session');
  await shot(page, 'receive-sign-in');
  await page.getByLabel('Admin token').fill(cfg.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + '/admin/inbox');
  const resp = await page.goto(base + '/admin/inbox');
  const h = resp.headers();
  assert.equal(h['content-security-policy'].split(';')[0], "default-src 'self'");
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['cache-control'], 'no-store');
  const cookies = await context.cookies(base + '/admin/');
  assert.equal(cookies.length, 1, JSON.stringify(cookies));
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, 'Strict');
  assert.equal(cookies[0].path, '/admin');
  out.cookie = cookies[0].name + '=' + cookies[0].value;
  // the token is not a bearer for the panel, nor the session a bearer for the API
  const bare = await fetch(base + '/webhooks', { headers: { Cookie: out.cookie } });
  assert.equal(bare.status, 401);
}

// The inbox: both webhooks, newest first, counts by status; the Failed tab holds one.
async function inbox(page) {
  await page.getByRole('heading', { name: 'Inbox' }).waitFor();
  await page.getByRole('link', { name: 'Done (1)' }).waitFor();
  await page.getByRole('link', { name: 'All (2)' }).waitFor();
  const ids = await page.locator('tbody tr td:nth-child(3)').allTextContents();
  assert.deepEqual(ids, [cfg.failed, cfg.handled], 'newest first');
  await shot(page, 'receive-inbox');
  await page.getByRole('link', { name: 'Failed (1)' }).click();
  await page.waitForURL(base + '/admin/inbox?status=failed');
  assert.deepEqual(await page.locator('tbody tr td:nth-child(3)').allTextContents(), [cfg.failed]);
  await shot(page, 'receive-inbox-failed');
}

// The handled webhook: details, its two runs (exit 3 with its output, then exit 0), the body.
async function handledWebhook(page) {
  await page.getByRole('link', { name: 'All (2)' }).click();
  await page.getByRole('link', { name: cfg.handled }).click();
  await page.getByRole('heading', { name: 'Webhook' }).waitFor();
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), 2);
  assert.match(await rows.nth(0).textContent(), /failed.*exit 3/);
  assert.match(await rows.nth(1).textContent(), /succeeded.*exit 0/);
  await rows.nth(0).getByText('Output').click();
  await page.getByText('run 1 fails <on purpose>').waitFor();
  await page.locator('pre', { hasText: '"note": "<b>not markup</b>"' }).waitFor();
  assert.equal(await page.locator('pre b').count(), 0, 'the body was not escaped');
  await shot(page, 'receive-webhook');
}

// The failed webhook: forged Retries are refused and run nothing; the real one works.
async function retryFailed(page) {
  await page.goto(base + webhookPath(cfg.failed));
  await page.locator('.status', { hasText: 'failed' }).first().waitFor();
  const action = base + webhookPath(cfg.failed) + '/retry';
  const bare = await page.request.post(action, { form: {} });
  assert.equal(bare.status(), 403);
  const wrong = await page.request.post(action, { form: { csrf: 'f'.repeat(64) } });
  assert.equal(wrong.status(), 403);
  const csrf = await page.locator('input[name=csrf]').first().inputValue();
  const crossSite = await page.request.post(action, {
    form: { csrf }, headers: { Origin: 'http://evil.example' } });
  assert.equal(crossSite.status(), 403);
  await page.waitForTimeout(1500); // a run a forgery had started would show by now
  const after = await api('/webhooks/' + encodeURIComponent(cfg.failed));
  assert.equal(after.status, 'failed');
  out.runs_after_forgery = after.runs.length;
  await page.getByRole('button', { name: 'Retry' }).click();
  await page.getByText('Retry queued').waitFor();
  await until(page, async () => (await page.locator('dd .status').textContent()) === 'done',
    'the retried webhook handled');
  const rows = page.locator('tbody tr');
  assert.equal(await rows.count(), 3);
  assert.match(await rows.nth(2).textContent(), /succeeded.*exit 0/);
  await shot(page, 'receive-webhook-retried');
}

async function narrow(browser) {
  const context = await browser.newContext({ viewport: { width: 360, height: 780 } });
  const page = await context.newPage();
  await signIn(page, cfg.token);
  await page.getByRole('heading', { name: 'Inbox' }).waitFor();
  await fitsWidth(page, 360, 'the inbox');
  await shot(page, 'receive-inbox-360');
  await context.close();
}

async function signOut(context, page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  const stale = await context.request.get(base + '/admin/inbox', {
    headers: { Cookie: out.cookie }, maxRedirects: 0 });
  assert.equal(stale.status(), 303, 'the old session still works');
}

await walk(out, async (browser, context, page) => {
  await signInTwice(context, page);
  await inbox(page);
  await handledWebhook(page);
  await retryFailed(page);
  await narrow(browser);
  await signOut(context, page);
});
