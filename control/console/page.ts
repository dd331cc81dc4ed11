// The console's HTML and CSS, served as they are: no build step, nothing fetched from outside the
// cluster. The script is browser/main.ts, compiled by tsc with the rest and served from dist/.

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tugboat console</title>
<link rel="stylesheet" href="/ui/static/console.css">
<script type="module" src="/ui/static/main.js"></script>
</head>
<body>
<header>
  <h1>tugboat <span>console</span></h1>
  <div id="status" class="status" role="status"></div>
  <button id="signout" type="button" class="link">Sign out</button>
</header>
<main>
  <section id="login" class="card login" hidden>
    <h2>Sign in</h2>
    <p>Paste the cluster token: it is <code>users[0].user.token</code> in the kubeconfig that <code>tug up</code> or <code>tug control</code> wrote
    (<code>kubectl config view --raw -o jsonpath='{.users[0].user.token}'</code>).
    Opening <code>/ui#token=…</code> signs in too. The token stays in this tab only.</p>
    <p id="login-message" class="notice bad" hidden></p>
    <form id="login-form">
      <input id="token-input" type="password" autocomplete="off" placeholder="token" aria-label="cluster token">
      <button type="submit">Sign in</button>
    </form>
  </section>
  <div id="app" hidden>
    <p id="notice" class="notice" hidden></p>
    <section class="card"><h2>Nodes</h2><div id="nodes"></div></section>
    <section class="card"><h2>Services and endpoints</h2><p class="hint">Requests per second through the node proxies, per endpoint.</p><div id="services"></div></section>
    <section class="card"><h2>Deployments</h2><div id="deployments"></div></section>
    <section class="card"><h2>Pods</h2><div id="pods"></div></section>
    <section class="card"><h2>Recent events</h2><div id="events"></div></section>
  </div>
</main>
</body>
</html>
`;

export const CONSOLE_CSS = `:root {
  --bg: #f4f6f8; --card: #fff; --text: #1d2733; --muted: #66717e; --line: #e2e6ea;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5; --bad: #cf222e; --bad-bg: #ffebe9;
  --accent: #0b5cad;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #10253f; color: #fff; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
header h1 span { font-weight: 400; opacity: .7; }
header .status { flex: 1; font-size: 13px; opacity: .9; }
header .status.bad { color: #ffb4ab; }
button { font: inherit; padding: 4px 12px; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
button.link { background: transparent; border-color: rgba(255,255,255,.5); }
main { max-width: 1200px; margin: 0 auto; padding: 16px 20px 40px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }
.card h2 { margin: 0 0 8px; font-size: 15px; }
.hint, .muted, .empty { color: var(--muted); }
.hint { margin: -4px 0 8px; font-size: 13px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
tbody tr:last-child td { border-bottom: 0; }
td.name { font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; text-align: right; width: 6em; }
td.message { color: var(--muted); }
.warn-text { color: var(--warn); font-weight: 600; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.muted { background: var(--line); color: var(--muted); }
.service { border: 1px solid var(--line); border-radius: 4px; margin-bottom: 10px; padding: 6px 10px; }
.service-head { display: flex; align-items: baseline; gap: 12px; }
.service-head h3 { margin: 0; font-size: 14px; }
.service-head .total { margin-left: auto; font-weight: 600; font-variant-numeric: tabular-nums; }
meter { width: 120px; height: 12px; vertical-align: middle; }
form.scale { display: flex; gap: 6px; }
form.scale input { width: 5em; font: inherit; padding: 2px 4px; }
.notice { padding: 8px 12px; border-radius: 4px; margin: 0 0 12px; }
.notice.ok { background: var(--ok-bg); color: var(--ok); }
.notice.bad { background: var(--bad-bg); color: var(--bad); }
.login { max-width: 560px; margin: 40px auto; }
.login form { display: flex; gap: 8px; }
.login input { flex: 1; font: inherit; padding: 4px 8px; }
code { font-size: 12px; background: var(--bg); padding: 0 3px; border-radius: 3px; }
`;
