// The console page's script: signs in with the cluster token (from the URL fragment or the login
// form, kept in sessionStorage), polls the API every two seconds, renders the views, and scales
// Deployments through their `scale` subresource. It runs in the browser and touches nothing else.
// Polling, not watches: the API is HTTP/1.1 and a browser opens at most six connections to one
// host, so six open watch streams would leave none for the rates, the scaling or a second tab.
import { deploymentsView, eventsView, nodesView, podsView, servicesView, tokenFromFragment } from './view.js';
import type { Deployment, Endpoints, Event, Node, Pod, Service } from '../../../api/types.js';
import type { TrafficReport } from '../traffic.js';

const TOKEN_KEY = 'tugboat.console.token';
const POLL_MS = 2000;

class Unauthorized extends Error {}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function storedToken(): string | undefined {
  const fromUrl = tokenFromFragment(location.hash);
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    // Out of the address bar and the history: the token stays only in this tab's session storage.
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

async function api<T>(token: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, { ...init, headers: { Accept: 'application/json', ...(init.headers ?? {}), Authorization: `Bearer ${token}` } });
  if (res.status === 401) throw new Unauthorized('the cluster did not accept this token (401 Unauthorized)');
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new Error((body as { message?: string } | undefined)?.message ?? `${init.method ?? 'GET'} ${path}: HTTP ${res.status}`);
  return body as T;
}

const list = async <T>(token: string, path: string) => (await api<{ items: T[] }>(token, path)).items ?? [];

/** What each section shows now, to leave unchanged sections (and their inputs) alone. */
const rendered = new Map<string, string>();

/** Replaces a section's content when it changed, keeping what the user is typing in it. */
function update(id: string, html: string): void {
  const el = $(id);
  if (rendered.get(id) === html) return;
  const typed = new Map<string, string>();
  for (const input of el.querySelectorAll<HTMLInputElement>('form[data-scale] input[data-dirty]')) typed.set(input.form!.dataset.scale!, input.value);
  const focused = document.activeElement instanceof HTMLInputElement && el.contains(document.activeElement) ? document.activeElement.form?.dataset.scale : undefined;
  el.innerHTML = html;
  rendered.set(id, html);
  for (const form of el.querySelectorAll<HTMLFormElement>('form[data-scale]')) {
    const input = form.querySelector('input')!;
    const value = typed.get(form.dataset.scale!);
    if (value !== undefined) {
      input.value = value;
      input.dataset.dirty = '1';
    }
    if (form.dataset.scale === focused) input.focus();
  }
}

function showStatus(text: string, tone: 'ok' | 'bad'): void {
  const el = $('status');
  el.textContent = text;
  el.className = `status ${tone}`;
}

function notice(text: string, tone: 'ok' | 'bad'): void {
  const el = $('notice');
  el.textContent = text;
  el.className = `notice ${tone}`;
  el.hidden = false;
}

let session: AbortController | undefined;

function signOut(message?: string): void {
  session?.abort();
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  const msg = $('login-message');
  msg.textContent = message ?? '';
  msg.hidden = !message;
  $<HTMLInputElement>('token-input').focus();
}

async function refresh(token: string): Promise<void> {
  const traffic = api<TrafficReport>(token, '/ui/api/traffic').catch((e: Error) => e);
  const [nodes, pods, services, endpoints, deployments, events] = await Promise.all([
    list<Node>(token, '/api/v1/nodes'),
    list<Pod>(token, '/api/v1/pods'),
    list<Service>(token, '/api/v1/services'),
    list<Endpoints>(token, '/api/v1/endpoints'),
    list<Deployment>(token, '/apis/apps/v1/deployments'),
    list<Event>(token, '/api/v1/events'),
  ]);
  const now = Date.now();
  update('nodes', nodesView(nodes, now));
  update('pods', podsView(pods, now));
  update('deployments', deploymentsView(deployments));
  update('events', eventsView(events, now));
  // The rates take a scrape of every node; until the first arrive, show the endpoints without them.
  if (!rendered.has('services')) update('services', servicesView(services, endpoints, undefined));
  const rates = await traffic;
  if (rates instanceof Unauthorized) throw rates;
  update('services', servicesView(services, endpoints, rates instanceof Error ? undefined : rates));
  const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  const missing = rates instanceof Error ? ` · request rates unavailable: ${rates.message}` : rates.missingNodes.length ? ` · no metrics from node ${rates.missingNodes.join(', ')}` : '';
  showStatus(`${ready}/${nodes.length} nodes ready · ${pods.length} pods · updated ${new Date(now).toLocaleTimeString()}${missing}`, missing ? 'bad' : 'ok');
}

async function poll(token: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      await refresh(token);
    } catch (e) {
      if (e instanceof Unauthorized) return signOut(`Signed out: ${e.message}. Paste the token from your kubeconfig (users[0].user.token).`);
      showStatus(`Cannot reach the API: ${(e as Error).message}; retrying`, 'bad');
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLL_MS);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}

function start(token: string): void {
  session?.abort();
  session = new AbortController();
  $('login').hidden = true;
  $('app').hidden = false;
  $('signout').hidden = false;
  void poll(token, session.signal);
}

async function scale(form: HTMLFormElement): Promise<void> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const [namespace, name] = form.dataset.scale!.split('/');
  const input = form.querySelector('input')!;
  const replicas = Number(input.value);
  if (!token) return signOut();
  if (!Number.isInteger(replicas) || replicas < 0) return notice(`Replicas of ${namespace}/${name} must be a whole number ≥ 0`, 'bad');
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(name)}/scale`;
  try {
    await api(token, path, { method: 'PATCH', headers: { 'Content-Type': 'application/merge-patch+json' }, body: JSON.stringify({ spec: { replicas } }) });
    delete input.dataset.dirty;
    notice(`Scaled deployment ${namespace}/${name} to ${replicas} replicas`, 'ok');
    await refresh(token).catch(() => undefined);
  } catch (e) {
    if (e instanceof Unauthorized) return signOut(`Signed out: ${e.message}.`);
    notice(`Could not scale ${namespace}/${name}: ${(e as Error).message}`, 'bad');
  }
}

function main(): void {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $<HTMLInputElement>('token-input').value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $<HTMLInputElement>('token-input').value = '';
    start(token);
  });
  $('signout').addEventListener('click', () => signOut());
  $('deployments').addEventListener('input', (ev) => {
    if (ev.target instanceof HTMLInputElement) ev.target.dataset.dirty = '1';
  });
  $('deployments').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (ev.target instanceof HTMLFormElement) void scale(ev.target);
  });
  // A new #token=... on the open page (pasted or followed link) signs in with that token.
  window.addEventListener('hashchange', () => {
    if (!tokenFromFragment(location.hash)) return;
    const token = storedToken();
    if (token) start(token);
  });
  const token = storedToken();
  if (token) start(token);
  else signOut();
}

main();
