// The RFQ portal page: talks to /api/ only (docs/web.md). No framework, no build step.
"use strict";
let csrf = null;
let countdown = null;
let stream = null;
let pending = null;  // the rfq_id waiting for the desk's approval
let instruments = {};

const $ = (id) => document.getElementById(id);
// the message line: red for a refusal or an error, green (ok) for what went through
const say = (text, ok = false) => {
  const m = $("message");
  m.textContent = text || "";
  m.classList.toggle("ok", ok);
};

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, { method, headers, credentials: "same-origin",
                                body: body === undefined ? undefined : JSON.stringify(body) });
  const doc = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (r.status === 401 && path !== "/api/login") { show(null); }
  if (!r.ok) throw new Error(doc.error || `HTTP ${r.status}`);
  return doc;
}

function show(who) {
  csrf = who ? who.csrf_token : null;
  $("login-view").hidden = !!who;
  $("trade-view").hidden = !who;
  $("logout").hidden = !who;
  $("who").textContent = who ? `${who.user} (${who.client})` : "";
  if (stream) { stream.close(); stream = null; }
  if (who) { loadInstruments(); refreshBlotter(); listen(); }
}

// Live blotter: the server pushes each new row of this client (Server-Sent Events); on every
// (re)connection the whole blotter is read again, so nothing missed while away is lost.
function listen() {
  stream = new EventSource("/api/stream");
  stream.addEventListener("hello", refreshBlotter);
  stream.addEventListener("row", (ev) => { answered(JSON.parse(ev.data)); refreshBlotter(); });
}

// An RFQ that waited for the desk's approval is answered later, on the stream: its quote shows
// (with its countdown and Accept) as a direct answer does, or its refusal with the reason.
function answered(row) {
  if (pending === null || row.rfq_id !== pending) return;
  if (row.type === "quote") {
    pending = null;
    const inst = instruments[row.instrument] || { base: "", currency: row.currency };
    const sides = [["buy", row.buy_price, row.buy_qty], ["sell", row.sell_price, row.sell_qty]]
      .filter(([, price]) => price != null).map(([side, price, qty]) => ({ side, price, qty }));
    showQuote({ quote_id: row.quote_id, instrument: row.instrument, base: inst.base, currency: inst.currency,
                sides, expires_in_ms: Math.max(Date.parse(row.valid_until) - Date.now(), 0) });
    say("");
  } else if (row.type === "rfq_rejected") {
    pending = null;
    say(`rejected: ${row.reason}`);
  }
}

async function loadInstruments() {
  const list = await api("GET", "/api/instruments");
  instruments = Object.fromEntries(list.map((i) => [i.instrument, i]));
  $("instrument").replaceChildren(...list.map((i) => new Option(`${i.instrument} (${i.base}/${i.currency})`, i.instrument)));
}

function showQuote(q) {
  $("quote").hidden = false;
  $("quote").classList.remove("expired");
  $("quote-id").textContent = q.quote_id;
  $("quote-inst").textContent = q.instrument;
  const buttons = q.sides.map((s) => {
    const b = document.createElement("button");
    b.textContent = `${s.side} ${s.qty} ${q.base} @ ${s.price} ${q.currency}`;
    b.addEventListener("click", () => accept(q.quote_id, s.side));
    return b;
  });
  $("quote-sides").replaceChildren(...buttons);
  const end = Date.now() + q.expires_in_ms;
  clearInterval(countdown);
  const tick = () => {
    const left = Math.max(end - Date.now(), 0);
    $("countdown").textContent = (left / 1000).toFixed(1) + (left === 0 ? " s (expired)" : " s");
    if (left === 0) { clearInterval(countdown); $("quote").classList.add("expired"); }
  };
  tick();
  countdown = setInterval(tick, 100);
}

async function accept(quoteId, side) {
  try {
    const r = await api("POST", "/api/accept", { quote_id: quoteId, side });
    say(r.status === "filled" ? `filled: ${r.fill.side} ${r.fill.qty} @ ${r.fill.price}` : `rejected: ${r.reason}`,
        r.status === "filled");
  } catch (e) { say(e.message); }
  refreshBlotter();
}

async function refreshBlotter() {
  if (!csrf) return;
  try {
    const b = await api("GET", "/api/blotter");
    const rows = b.rows.slice().reverse().map((r) => {
      const tr = document.createElement("tr");
      for (const k of ["time", "type", "instrument", "side", "qty", "price", "sell_price", "buy_price", "reason", "quote_id"]) {
        const td = document.createElement("td");
        td.textContent = r[k] ?? "";
        tr.appendChild(td);
      }
      return tr;
    });
    $("blotter").tBodies[0].replaceChildren(...rows);
  } catch (e) { /* the next refresh tries again */ }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try { show(await api("POST", "/api/login", { user: f.get("user"), password: f.get("password") })); say(""); }
    catch (e) { say(e.message); }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout", {}); } catch (e) { /* logged out anyway */ }
    show(null);
  });
  $("rfq-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { instrument: f.get("instrument"), side: f.get("side"), size: f.get("size"),
                   size_in_quote: f.get("size_in_quote") === "on" };
    if (f.get("limit")) body.limit = f.get("limit");
    try {
      const r = await api("POST", "/api/rfq", body);
      pending = r.status === "pending_approval" ? r.rfq_id : null;
      if (r.status === "quoted") { showQuote(r.quote); say(""); }
      else if (r.status === "pending_approval") say(`waiting for the desk's approval until ${r.deadline}`, true);
      else say(`rejected: ${r.reason}`);
    } catch (e) { say(e.message); }
    refreshBlotter();
  });
  try { show(await api("GET", "/api/session")); } catch (e) { show(null); }
});
