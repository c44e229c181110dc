// The operator console page: talks to /console/api/ only (docs/web.md). No framework, no build step.
// Views are read again only when the server's event stream says something changed (at most once
// a second each); nothing here polls. The server enforces the roles: hiding a button is a courtesy.
"use strict";
let me = null;
let stream = null;
let pendingChange = null;
let approvals = [];
let limits = null;
const dirty = new Set();
const last = {};

const $ = (id) => document.getElementById(id);
// the message line: red for a refusal or an error, green (ok) for what was applied
const say = (text, ok = false) => {
  const m = $("message");
  m.textContent = text || "";
  m.classList.toggle("ok", ok);
};
const may = (action) => !!me && me.may.includes(action);

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && me) headers["X-CSRF-Token"] = me.csrf_token;
  const r = await fetch("/console/api" + path, { method, headers, credentials: "same-origin",
                                                 body: body === undefined ? undefined : JSON.stringify(body) });
  const doc = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (r.status === 401 && path !== "/login") { show(null); }
  if (!r.ok) throw new Error(doc.error || `HTTP ${r.status}`);
  return doc;
}

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c ?? "";
    tr.appendChild(td);
  }
  return tr;
}

function button(id, text, onClick, danger) {
  const b = el("button", text, { id });
  if (danger) b.className = "danger";
  b.addEventListener("click", onClick);
  return b;
}

function fill(tableId, rows) { $(tableId).tBodies[0].replaceChildren(...rows); }

// -- actions --------------------------------------------------------------------------------

async function act(path, body, what) {
  try {
    const r = await api("POST", path, body);
    say(`${what}: ${r.status}${r.status === "applied" ? "" : " (" + r.reason + ")"} as ${r.operator}`,
        r.status === "applied");
  } catch (e) { say(`${what}: ${e.message}`); }
  refreshAll();
}

function approve(a) {
  const body = { request_id: a.request_id };
  const adj = $(`adjust-${a.request_id}`).value.trim();
  const px = $(`price-${a.request_id}`).value.trim();
  if (adj) body.adjust_bps = adj;
  if (px) body.price = px;
  act("/approve", body, `approve ${a.request_id}`);
}

// -- views ----------------------------------------------------------------------------------

const VIEWS = {
  approvals: async () => {
    approvals = await api("GET", "/approvals");
    const received = Date.now();
    approvals.forEach((a) => { a.until = received + a.remaining_ms; });
    $("approvals-empty").hidden = approvals.length > 0;
    fill("approvals", approvals.map((a) => {
      const tr = row([a.request_id, a.client, a.instrument, a.side, a.qty, a.indicative,
                      el("span", "", { id: `remaining-${a.request_id}` }),
                      el("input", null, { id: `adjust-${a.request_id}`, inputmode: "decimal", placeholder: "0" }),
                      el("input", null, { id: `price-${a.request_id}`, inputmode: "decimal", placeholder: "none" }),
                      el("span")]);
      tr.id = `approval-${a.request_id}`;
      if (may("approve")) {
        tr.lastChild.append(button(`approve-${a.request_id}`, "Approve", () => approve(a)), " ",
                            button(`decline-${a.request_id}`, "Decline",
                                   () => act("/decline", { request_id: a.request_id }, `decline ${a.request_id}`), true));
      }
      return tr;
    }));
    tick();
  },
  limits: async () => {
    limits = await api("GET", "/limits");
    const clients = await api("GET", "/clients");
    $("desk-state").textContent = limits.desk_killed ? "KILLED" : "trading";
    $("desk-state").className = limits.desk_killed ? "on" : "ok";
    const switches = [];
    for (const c of clients) {
      switches.push(switchRow("client", c.client, c.killed, c.halted, false));
    }
    for (const i of limits.instruments) {
      switches.push(switchRow("instrument", i.instrument, i.killed, i.halted, i.restricted));
    }
    fill("switches", switches);
    fill("limits", limits.instruments.map((i) => row([i.instrument, state(i),
      Object.entries(i.limits).map(([k, v]) => `${k} ${v}`).join(", "),
      Object.entries(i.pricing).map(([k, v]) => `${k} ${v}`).join(", ")])));
    const values = (o) => Object.entries(o).filter(([k]) => k !== "tier" && k !== "instrument")
      .map(([k, v]) => `${k} ${v}`).join(", ");
    fill("settings", [
      ...limits.tiers.map((t) => row(["tier", t.tier, values(t)])),
      ...limits.hedging.map((h) => row(["hedging", h.instrument, values(h)])),
      row(["desk", "desk", values(limits.desk)])]);
    fillClients(clients);
    changeTargets();
  },
  books: async () => {
    const books = await api("GET", "/books");
    $("books").replaceChildren(...books.map((b) => {
      const div = el("div", null, { id: `book-${b.instrument}` });
      div.append(el("h3", `${b.instrument} mid ${b.mid ?? "none"}`));
      const t = el("table");
      t.append(row(["member", "bid", "bid qty", "ask", "ask qty"]));
      b.members.forEach((m) => t.append(row([m.instrument, m.bid, m.bid_qty, m.ask, m.ask_qty])));
      t.append(row(["ladder size", "bid", "", "ask", "state"]));
      b.ladder.forEach((l) => t.append(row([l.size, l.bid ?? "-", "", l.ask ?? "-",
        l.reason === "NONE" ? "quoting" : `withdrawn: ${l.reason}`])));
      div.append(t);
      return div;
    }));
  },
  flow: async () => {
    const f = await api("GET", "/flow");
    const s = f.stats;
    const rejects = Object.entries(s.rejects).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    $("flow-stats").textContent = `${s.rfqs} RFQs, ${s.quotes} quotes, ${s.fills} fills, ${s.expiries} expired, ` +
      `${s.approvals} sent for approval (${s.approved} approved, ${s.declined} declined, ${s.timeouts} timed out); ` +
      `rejects: ${rejects}`;
    fill("flow", f.recent.slice(-100).reverse().map((r) => row([r.time, r.client, r.type, r.instrument, r.side,
      r.qty, r.price, r.buy_price, r.sell_price, r.reason])));
  },
  positions: async () => {
    const p = await api("GET", "/positions");
    fill("positions", p.desk.map((x) => row([x.instrument, `${x.qty} ${x.base}`, x.avg_price, x.realised,
      x.unrealised ?? "no mid", x.fees, x.trades])));
    $("exposures").textContent = Object.entries(p.exposures).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  },
  venues: async () => {
    const v = await api("GET", "/venues");
    const parts = [];
    for (const h of v.hedging) {
      const t = el("table", null, { id: `hedging-${h.instrument}` });
      t.append(row([`${h.instrument} hedging`, `${h.mode}, ${h.available ? "available" : "NOT available"}`]));
      t.append(row(["client flow / hedged / pending", `${h.client_flow} / ${h.hedged} / ${h.pending}`]));
      h.venues.forEach((x) => t.append(row([`venue ${x.venue}`, `${x.up ? "up" : "DOWN"}, position ${x.position}`])));
      parts.push(t);
    }
    if (v.links.length) {
      const t = el("table", null, { id: "venue-links" });
      v.links.forEach((l) => t.append(row([`link ${l.venue} ${l.instrument}`, l.up ? "up" : "DOWN",
                                           `${l.orders} orders, ${l.reports} reports`])));
      parts.push(t);
    }
    const j = el("p", v.journal ? `journal: committed ${v.journal.committed_seq}, durable ${v.journal.durable_seq}` +
      `${v.journal.error ? ", FAILED: " + v.journal.error : ""}` : "journal: none", { id: "journal-state" });
    const s = el("p", v.settlement ? `settlement: backlog ${v.settlement.backlog}, ${v.settlement.trades} trades, ` +
      `store ${v.settlement.store_up ? "up" : "DOWN"}` : "settlement: none", { id: "settlement-state" });
    parts.push(j, s);
    $("venues").replaceChildren(...parts);
  },
  latency: async () => {
    const stages = await api("GET", "/latency");
    $("latency").replaceChildren(...stages.map(histogram));
  },
  audit: async () => {
    const a = await api("GET", "/audit");
    fill("audit", a.slice().reverse().map((r) => row([r.time, r.operator, r.command, r.field, r.instrument, r.scope,
      r.value, r.previous, r.result])));
  },
};

function state(x) {
  return [x.killed && "KILLED", x.halted && "HALTED", x.restricted && "RESTRICTED"].filter(Boolean).join(" ") || "ok";
}

function switchRow(scope, name, killed, halted, restricted) {
  const tr = row([scope, name, state({ killed, halted, restricted }), el("span")]);
  tr.id = `switch-${scope}-${name}`;
  const cell = tr.lastChild;
  if (may("kill")) {
    const key = { [scope]: name };
    cell.append(killed
      ? button(`release-${scope}-${name}`, "Release", () => act("/kill", { scope, ...key, on: false }, `release ${name}`))
      : button(`kill-${scope}-${name}`, "Kill", () => act("/kill", { scope, ...key, on: true }, `kill ${name}`), true));
    if (halted) cell.append(" ", button(`reenable-${scope}-${name}`, "Re-enable", () => act("/reenable", key, `re-enable ${name}`)));
    if (scope === "instrument") {
      cell.append(" ", restricted
        ? button(`unrestrict-${name}`, "Unrestrict", () => act("/restrict", { instrument: name, on: false }, `unrestrict ${name}`))
        : button(`restrict-${name}`, "Restrict", () => act("/restrict", { instrument: name, on: true }, `restrict ${name}`), true));
    }
  }
  return tr;
}

function fillClients(clients) {
  fill("clients", clients.map((c) => row([c.client, c.tier, state(c) + (c.enabled ? "" : " DISABLED"),
    c.credit_limit, c.utilised, el("span", c.available, { class: Number(c.available) <= 0 ? "low" : "" }),
    `${c.open_quotes} / ${c.max_open_quotes}`])));
}

// A stage's latency histogram as bars (SVG drawn here: nothing loaded from elsewhere).
function histogram(s) {
  const NS = "http://www.w3.org/2000/svg";
  const used = s.buckets.filter((b) => b.count > 0);
  const lo = used.length ? s.buckets.indexOf(used[0]) : 0;
  const hi = used.length ? s.buckets.indexOf(used[used.length - 1]) : 0;
  const shown = s.buckets.slice(lo, hi + 1);
  const w = 28, h = 90, max = Math.max(1, ...shown.map((b) => b.count));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("width", String(Math.max(shown.length, 1) * w + 10));
  svg.setAttribute("height", String(h + 30));
  shown.forEach((b, i) => {
    const bh = Math.round((b.count / max) * h);
    const r = document.createElementNS(NS, "rect");
    for (const [k, v] of Object.entries({ x: 5 + i * w, y: h - bh + 5, width: w - 4, height: bh })) r.setAttribute(k, String(v));
    const title = document.createElementNS(NS, "title");
    title.textContent = `≤ ${label(b.le_s)}: ${b.count}`;
    r.append(title);
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", String(5 + i * w));
    t.setAttribute("y", String(h + 20));
    t.textContent = label(b.le_s);
    svg.append(r, t);
  });
  const div = el("div", null, { id: `latency-${s.stage}`, class: "latency" });
  const mean = s.count ? label(String(s.sum_s / s.count)) : "-";
  div.append(el("h3", `${s.stage.replaceAll("_", " ")}: ${s.count} samples, mean ${mean}`), svg);
  return div;
}

function label(le) {
  if (le === "+Inf") return "more";
  const v = Number(le);
  return v >= 1 ? `${v}s` : v >= 1e-3 ? `${+(v * 1e3).toFixed(3)}ms` : `${+(v * 1e6).toFixed(3)}µs`;
}

// -- setting changes (limits, pricing, tiers, hedging, desk): ask, see old → new, confirm ----------------------------------

function changeTargets() {
  if (!limits) return;
  const what = $("change-what").value;
  const names = limits.targets[what];
  const keep = $("change-target").value;
  $("change-target").replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(keep)) $("change-target").value = keep;
  const keepField = $("change-field").value;
  $("change-field").replaceChildren(...limits.changeable[what].map((f) => new Option(f, f)));
  if (limits.changeable[what].includes(keepField)) $("change-field").value = keepField;
}

async function askChange(ev) {
  ev.preventDefault();
  let value = $("change-value").value.trim();
  if (value === "true" || value === "false") value = value === "true";
  try {
    pendingChange = await api("POST", "/change", { what: $("change-what").value, target: $("change-target").value,
                                                   field: $("change-field").value, value });
    $("change-what-text").textContent = `${pendingChange.target} ${pendingChange.field}`;
    $("change-old").textContent = String(pendingChange.old);
    $("change-new").textContent = String(pendingChange.new);
    $("change-unit").textContent = `(${pendingChange.unit}; confirm within ${pendingChange.expires_in_ms / 1000} s)`;
    $("change-confirm").hidden = false;
    say("");
  } catch (e) { say(e.message); }
}

// -- live updates ---------------------------------------------------------------------------

const AFFECTS = {
  flow: ["flow", "approvals", "positions", "limits"],
  control: ["audit", "limits", "approvals", "books"],
  risk: ["limits", "audit"],
  hedge: ["venues", "positions"],
};

function refresh(name) {
  dirty.add(name);
  const wait = Math.max(0, 1000 - (Date.now() - (last[name] || 0)));
  setTimeout(async () => {
    if (!dirty.has(name) || !me) return;
    dirty.delete(name);
    last[name] = Date.now();
    try { await VIEWS[name](); } catch (e) { /* the next event tries again */ }
  }, wait);
}

function refreshAll() { Object.keys(VIEWS).forEach(refresh); }

function listen() {
  stream = new EventSource("/console/api/stream");
  stream.addEventListener("hello", () => { $("stream-state").textContent = "live"; refreshAll(); });
  stream.addEventListener("error", () => { $("stream-state").textContent = "reconnecting"; });
  for (const [event, views] of Object.entries(AFFECTS)) {
    stream.addEventListener(event, () => { views.forEach(refresh); refresh("books"); refresh("latency"); refresh("venues"); });
  }
}

// the approval queue's countdowns run here, from the deadline the server gave: no requests
function tick() {
  const now = Date.now();
  for (const a of approvals) {
    const span = $(`remaining-${a.request_id}`);
    if (span) span.textContent = `${(Math.max(a.until - now, 0) / 1000).toFixed(1)} s`;
  }
}

function show(who) {
  me = who;
  $("login-view").hidden = !!who;
  $("console-view").hidden = !who;
  $("logout").hidden = !who;
  $("who").textContent = who ? `${who.user} (${who.role}, operator ${who.operator})` : "";
  document.querySelectorAll(".risk-officer").forEach((e) => { e.hidden = !may("kill"); });
  if (stream) { stream.close(); stream = null; }
  if (who) listen();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try { show(await api("POST", "/login", { user: f.get("user"), password: f.get("password") })); say(""); }
    catch (e) { say(e.message); }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/logout", {}); } catch (e) { /* logged out anyway */ }
    show(null);
  });
  $("kill-all").addEventListener("click", () => act("/kill", { scope: "all", on: true }, "kill all"));
  $("release-all").addEventListener("click", () => act("/kill", { scope: "all", on: false }, "release all"));
  $("change-what").addEventListener("change", changeTargets);
  $("change-form").addEventListener("submit", askChange);
  $("change-apply").addEventListener("click", async () => {
    if (!pendingChange) return;
    $("change-confirm").hidden = true;
    await act("/confirm", { change_id: pendingChange.change_id }, `${pendingChange.target} ${pendingChange.field}`);
    pendingChange = null;
  });
  $("change-cancel").addEventListener("click", () => { pendingChange = null; $("change-confirm").hidden = true; });
  setInterval(tick, 100);
  try { show(await api("GET", "/session")); } catch (e) { show(null); }
});
