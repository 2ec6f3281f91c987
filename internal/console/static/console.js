// upisim web console. Everything a node says is shown with textContent
// (never innerHTML): message bodies and notes carry user input.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? "" : String(k)));
  return e;
}

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const r = await fetch("/console/api/" + path, opts);
  let v;
  try { v = await r.json(); } catch (e) { v = { error: r.status + " " + r.statusText }; }
  if (!r.ok) throw new Error(v.error || (r.status + " " + r.statusText));
  return v;
}

// ---- network map
async function loadNodes() {
  const box = $("nodes");
  try {
    const v = await api("nodes");
    $("network-name").textContent = v.network;
    box.replaceChildren(...v.nodes.map((n) => {
      const h = n.health || {};
      const extra = [];
      if (h.outbox_pending) extra.push("outbox " + h.outbox_pending);
      if (h.timers_pending) extra.push("timers " + h.timers_pending);
      return el("div", { class: "card node" + (n.ok ? " ok" : ""), "data-node": n.name, title: n.reason || "healthy" },
        el("div", {}, el("span", { class: "dot" }), el("strong", {}, n.name), " ", el("span", { class: "role" }, n.role)),
        el("div", { class: "muted" }, n.ok ? "healthy" : (n.reason || "not healthy")),
        el("div", { class: "muted" }, (n.handles || []).map((x) => "@" + x).join(" ")),
        el("div", { class: "muted" }, extra.join(", ")));
    }));
  } catch (e) {
    box.replaceChildren(el("p", { class: "result error" }, e.message));
  }
}

// ---- generic tables of what the nodes keep
function rupees(p) {
  const n = Number(p);
  if (!Number.isFinite(n)) return String(p);
  return (n < 0 ? "-₹" : "₹") + (Math.abs(n) / 100).toFixed(2);
}

function cell(v, col) {
  if (v === null || v === undefined) return el("td", {}, "");
  if (col && col.endsWith("_paise") && typeof v !== "object") return el("td", { class: "num" }, rupees(v));
  if (typeof v === "object") return el("td", { class: "json" }, JSON.stringify(v));
  return el("td", {}, String(v));
}

function table(items) {
  if (!items || items.length === 0) return el("p", { class: "muted" }, "none");
  const cols = [];
  for (const it of items.slice(0, 50)) for (const k of Object.keys(it)) if (!cols.includes(k)) cols.push(k);
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", {}, c)))),
    el("tbody", {}, ...items.map((it) => el("tr", {}, ...cols.map((c) => cell(it[c], c)))))));
}

function groups(list, title) {
  return list.map((g) => el("div", { class: "group" },
    el("h3", {}, title(g), " ", el("span", { class: "muted" }, g.error ? "" : "(" + g.items.length + ")")),
    g.error ? el("p", { class: "result error" }, g.error) : table(g.items)));
}

const loaders = {
  nodes: loadNodes,
  async balances() {
    const v = await api("balances");
    const vpas = new Set();
    for (const b of v) for (const a of b.items) if (a.vpa) vpas.add(a.vpa);
    $("vpas").replaceChildren(...[...vpas].sort().map((x) => el("option", { value: x })));
    $("balances-body").replaceChildren(...groups(v, (g) => g.node + (g.extra ? " · total ₹" + g.extra.total : "")));
  },
  async circle() { $("circle-body").replaceChildren(...groups(await api("circle"), (g) => g.node + " (" + g.role + ")")); },
  async lite() {
    const v = await api("lite");
    $("lite-body").replaceChildren(
      el("h3", {}, "Lite accounts (LRNs)"), ...groups(v.accounts, (g) => g.node + " (" + g.role + ")"),
      el("h3", {}, "Offline records synced, by batch (the switch's)"), table(v.records),
      el("h3", {}, "Sync reconciliations at the switch"), ...groups(v.recons, (g) => g.node));
  },
  async orders() { $("orders-body").replaceChildren(...groups(await api("orders"), (g) => g.node)); },
  async webhooks() {
    const v = await api("webhooks");
    $("webhooks-body").replaceChildren(...(v.length ? groups(v, (g) => g.merchant) : [el("p", { class: "muted" }, "no merchant has orders yet")]));
  },
};

async function load(name) {
  try { await loaders[name](); } catch (e) {
    const box = $(name + "-body") || $(name);
    if (box) box.replaceChildren(el("p", { class: "result error" }, e.message));
  }
}

// ---- live transactions (server-sent events)
const rows = new Map(); // txn id -> row object
let selected = null;
let lastStarted = { id: null, box: null, what: "" }; // the page's last action, followed in its result line

function renderTxn(t) {
  let tr = document.querySelector(`tr[data-txn="${CSS.escape(t.txn_id)}"]`);
  const cells = [new Date(t.created).toLocaleTimeString(), t.txn_id, t.type, "₹" + t.amount, t.payer, t.payee, t.status, t.err_code || "", t.rrn || ""];
  const tds = cells.map((c, i) => el("td", { class: i === 6 ? "status status-" + t.status : (i === 1 ? "txn-id" : "") }, c));
  if (!tr) {
    tr = el("tr", { "data-txn": t.txn_id });
    tr.addEventListener("click", () => openTxn(t.txn_id));
    const body = $("txn-rows");
    // newest first
    let before = null;
    for (const r of body.children) {
      const o = rows.get(r.getAttribute("data-txn"));
      if (o && new Date(o.created) < new Date(t.created)) { before = r; break; }
    }
    body.insertBefore(tr, before);
  }
  tr.setAttribute("data-status", t.status);
  if (t.txn_id === lastStarted.id) result(lastStarted.box, lastStarted.what + " " + t.txn_id + ": " + t.status + (t.err_code ? " (" + t.err_code + ")" : ""), t.status === "FAILURE");
  tr.replaceChildren(...tds);
  if (t.txn_id === selected) tr.classList.add("selected");
  rows.set(t.txn_id, t);
  $("txn-empty").hidden = rows.size > 0;
}

let refreshTimer = null;
function txnsChanged(list) {
  for (const t of list) renderTxn(t);
  if (selected && list.some((t) => t.txn_id === selected)) openTxn(selected, true);
  clearTimeout(refreshTimer); // balances and the rest follow the money, a moment later
  refreshTimer = setTimeout(() => { load("balances"); load("orders"); load("webhooks"); load("lite"); load("circle"); }, 400);
}

function listen() {
  const es = new EventSource("/console/api/events");
  const state = $("feed-state");
  es.addEventListener("open", () => { state.textContent = "live"; state.className = "pill live"; });
  es.addEventListener("error", () => { state.textContent = "reconnecting…"; state.className = "pill down"; });
  es.addEventListener("snapshot", (e) => txnsChanged(JSON.parse(e.data) || []));
  es.addEventListener("txns", (e) => txnsChanged(JSON.parse(e.data) || []));
  es.addEventListener("feed-error", (e) => { state.textContent = "feed: " + JSON.parse(e.data).error; state.className = "pill down"; });
}

// ---- one transaction: its diagram, each message's record on click
let traceMsgs = [];

async function openTxn(id, quiet) {
  selected = id;
  for (const r of document.querySelectorAll("tr.selected")) r.classList.remove("selected");
  const tr = document.querySelector(`tr[data-txn="${CSS.escape(id)}"]`);
  if (tr) tr.classList.add("selected");
  $("txn-detail").hidden = false;
  $("detail-id").textContent = id;
  if (!quiet) $("msg-body").textContent = "";
  try {
    const enc = encodeURIComponent(id);
    const [svgText, trace, nodes] = await Promise.all([
      fetch("/console/api/txn/" + enc + "/trace.svg").then(async (r) => {
        if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
        return r.text();
      }),
      api("txn/" + enc + "/trace"),
      api("txn/" + enc),
    ]);
    if (selected !== id) return;
    traceMsgs = trace.messages || [];
    // The SVG is the console's own (every text in it escaped); parsed as
    // SVG, never as HTML, and no script in it would run.
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = document.importNode(doc.documentElement, true);
    for (const g of svg.querySelectorAll("g.msg")) {
      g.addEventListener("click", () => {
        for (const s of svg.querySelectorAll("g.msg.selected")) s.classList.remove("selected");
        g.classList.add("selected");
        showMessage(Number(g.getAttribute("data-i")));
      });
    }
    $("diagram").replaceChildren(svg);
    $("detail-nodes").textContent = JSON.stringify(nodes.nodes.filter((n) => n.items.length || n.error), null, 2);
  } catch (e) {
    $("diagram").replaceChildren(el("p", { class: "result error" }, e.message));
  }
}

function showMessage(i) {
  const m = traceMsgs[i];
  if (!m) return;
  // The record drawn, and the sender's record of the same message.
  const sent = traceMsgs.find((x) => x !== m && x.msg_id === m.msg_id && x.direction !== m.direction);
  $("msg-body").textContent = JSON.stringify(sent ? { received: m, sent } : m, null, 2);
}

// ---- actions
function formJSON(form) {
  const o = {};
  for (const [k, v] of new FormData(form)) o[k] = String(v).trim();
  return o;
}

function result(id, text, isErr) {
  const p = $(id);
  p.textContent = text;
  p.className = "result" + (isErr ? " error" : "");
}

function wire() {
  $("pay-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = formJSON(e.target);
    $("pay-pin").value = ""; // the PIN is not kept in the page
    result("pay-result", "sending…");
    try {
      const r = await api("pay", body);
      result("pay-result", "started " + r.txn_id + " (" + r.status + ")");
      lastStarted = { id: r.txn_id, box: "pay-result", what: "payment" };
      $("pay-result").dataset.txn = r.txn_id;
      openTxn(r.txn_id);
    } catch (err) { result("pay-result", err.message, true); }
  });
  $("collect-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    result("collect-result", "sending…");
    try {
      const r = await api("collect", formJSON(e.target));
      result("collect-result", "collect " + r.txn_id + " (" + r.status + "): approve it as the payer");
      $("collect-result").dataset.txn = r.txn_id;
      $("approve-vpa").value = $("collect-payer").value;
    } catch (err) { result("collect-result", err.message, true); }
  });
  $("approve-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    result("approve-result", "");
    const vpa = $("approve-vpa").value.trim();
    try {
      const v = await api("collects?vpa=" + encodeURIComponent(vpa));
      const list = v.collects || [];
      $("collects").replaceChildren(...(list.length ? list.map(collectRow) : [el("p", { class: "muted" }, "no collect waits for " + vpa)]));
    } catch (err) { result("approve-result", err.message, true); }
  });
  for (const b of document.querySelectorAll("button[data-load]")) b.addEventListener("click", () => load(b.getAttribute("data-load")));
}

function collectRow(t) {
  const id = t.txn_id || (t.txn && t.txn.id) || "";
  const pin = el("input", { type: "password", autocomplete: "off", placeholder: "UPI PIN" });
  const go = el("button", { type: "button" }, "Approve");
  go.addEventListener("click", async () => {
    const p = pin.value;
    pin.value = "";
    try {
      const r = await api("approve", { txn_id: id, pin: p });
      result("approve-result", "approved " + r.txn_id + " (" + r.status + ")");
      lastStarted = { id: r.txn_id, box: "approve-result", what: "collect" };
      card.remove();
      openTxn(r.txn_id);
    } catch (err) { result("approve-result", err.message, true); }
  });
  const card = el("div", { class: "card collect", "data-collect": id },
    el("div", {}, el("strong", {}, t.payee_vpa || ""), " asks " + rupees(t.amount_paise || 0) + (t.note ? " for “" + t.note + "”" : "")),
    el("div", { class: "muted" }, id), pin, go);
  return card;
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  listen();
  loadNodes();
  setInterval(loadNodes, 5000);
  for (const n of ["balances", "circle", "lite", "orders", "webhooks"]) load(n);
});
