// ibbot's dashboard: renders the service's state and follows its live stream (server-sent
// events). Everything shown is set with textContent, never parsed as markup.
"use strict";

const MAX_DECISIONS = 500;
const MAX_FILLS = 200;
const MAX_BLOCKS = 200;
const MAX_NOTES = 100;
const MAX_POINTS = 3600;

const view = {
  state: null,
  decisions: [],
  fills: [],
  blocks: [],
  notes: [],
  equity: [],
  auth: "",
  csrf: localStorage.getItem("ibbot-csrf") || "",
  pending: null,
};

const $ = (id) => document.getElementById(id);

function money(value) {
  if (value === null || value === undefined) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function number(value) {
  if (value === null || value === undefined) return "–";
  return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

const marketClock = new Intl.DateTimeFormat("en-CA", {
  timeZone: "America/New_York",
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});

function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return marketClock.format(date).replace(",", "") + " ET";
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function moneyCell(value, field) {
  const td = cell(money(value), "num");
  if (value < 0) td.classList.add("loss");
  if (field) td.dataset.field = field;
  return td;
}

function replaceRows(table, rows) {
  const body = $(table).tBodies[0];
  body.replaceChildren(...rows);
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell("none", "muted");
    td.colSpan = $(table).tHead.rows[0].cells.length;
    tr.append(td);
    body.append(tr);
  }
}

// --- the state (every second) -----------------------------------------------------------------

function renderState(state) {
  view.state = state;
  const connection = $("connection");
  connection.textContent = state.connection || state.state;
  connection.dataset.state = state.connection || state.state;
  const gateway = state.gateway || {};
  $("gateway").textContent = gateway.simulated
    ? `simulated gateway ${gateway.host}:${gateway.port}`
    : `IB gateway ${gateway.host}:${gateway.port}`;
  $("market-time").textContent = when(state.market_time);
  renderKillSwitch(state.kill_switch);
  const account = state.account || {};
  $("account-net-liquidation").textContent = money(account.net_liquidation);
  $("account-cash").textContent = money(account.cash);
  $("account-buying-power").textContent = money(account.buying_power);
  const total = (state.pnl || {}).total || {};
  for (const [id, key] of [["today", "today"], ["realized-today", "realized_today"],
    ["unrealized", "unrealized"], ["realized", "realized"]]) {
    const dd = $(`pnl-total-${id}`);
    dd.textContent = money(total[key]);
    dd.classList.toggle("loss", total[key] < 0);
  }
  renderPositions(state);
  renderStrategies(state.strategies || {});
  renderOrders(state.orders || []);
}

function renderKillSwitch(reason) {
  const engaged = Boolean(reason);
  const stateText = $("kill-state");
  stateText.textContent = engaged ? "ENGAGED" : "released";
  stateText.className = engaged ? "loss" : "";
  $("kill-reason").textContent = engaged ? reason : "";
  $("kill-panel").classList.toggle("engaged", engaged);
  const canAct = actionsAllowed();
  $("kill-engage").disabled = !canAct || engaged;
  $("kill-release").disabled = !canAct || !engaged;
}

function renderPositions(state) {
  const rows = ((state.book || {}).positions || []).map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.key = `${p.strategy}/${p.symbol}`;
    const quantity = cell(number(p.quantity), "num");
    quantity.dataset.field = "quantity";
    const cost = cell(money(p.avg_cost), "num");
    cost.dataset.field = "avg_cost";
    tr.append(cell(p.strategy), cell(p.symbol), quantity, cost, cell(money(p.price), "num"),
      moneyCell(p.market_value, "market_value"), moneyCell(p.unrealized_pnl, "unrealized_pnl"),
      moneyCell(p.realized_pnl, "realized_pnl"));
    return tr;
  });
  replaceRows("positions", rows);
  const strategies = ((state.pnl || {}).strategies) || {};
  replaceRows("strategy-pnl", Object.entries(strategies).map(([name, v]) => {
    const tr = document.createElement("tr");
    tr.dataset.key = name;
    tr.append(cell(name), moneyCell(v.realized, "realized"), moneyCell(v.realized_today, "realized_today"),
      moneyCell(v.unrealized, "unrealized"), moneyCell(v.today, "today"));
    return tr;
  }));
}

function renderStrategies(strategies) {
  const canAct = actionsAllowed();
  replaceRows("strategies", Object.entries(strategies).map(([name, s]) => {
    const tr = document.createElement("tr");
    tr.dataset.key = name;
    const state = cell(s.state);
    state.dataset.field = "state";
    state.className = s.state === "disabled" ? "loss" : "";
    const actions = document.createElement("td");
    const disabled = s.state === "disabled";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = disabled ? "Enable…" : "Disable…";
    button.disabled = !canAct || !["running", "disabled"].includes(s.state);
    button.addEventListener("click", () => confirmAction(
      `${disabled ? "Enable" : "Disable"} ${name}?`,
      disabled ? `${name} handles events again from now on.`
        : `${name} stops receiving events and deciding; its positions stay.`,
      false, () => act(`/strategies/${encodeURIComponent(name)}/${disabled ? "enable" : "disable"}`, {})));
    actions.append(button);
    tr.append(cell(name), state, cell(number(s.events), "num"), cell(number(s.decisions), "num"),
      cell(number(s.failures), "num"), actions);
    return tr;
  }));
}

function renderOrders(orders) {
  replaceRows("orders", orders.map((o) => {
    const tr = document.createElement("tr");
    tr.dataset.orderId = o.order_id;
    if (o.leg !== "entry") tr.className = "child";
    tr.append(cell(`#${o.order_id}`), cell(o.strategy), cell(o.symbol), cell(o.leg.replace("_", " ")),
      cell(o.status), cell(number(o.filled), "num"), cell(number(o.remaining), "num"), cell(o.message || ""));
    return tr;
  }));
}

// --- fills, decisions, blocks, notes (as they happen) -----------------------------------------

function fillRow(f) {
  const tr = document.createElement("tr");
  tr.dataset.execId = f.exec_id;
  tr.append(cell(when(f.timestamp)), cell(f.strategy_name || "unattributed"), cell(f.symbol),
    cell(f.side), cell(number(f.quantity), "num"), cell(money(f.price), "num"),
    cell(money(f.commission), "num"), cell(f.exec_id));
  return tr;
}

function renderFills() {
  replaceRows("fills", view.fills.slice().reverse().map(fillRow));
}

function decisionRow(d) {
  const tr = document.createElement("tr");
  tr.dataset.decisionId = d.decision_id;
  tr.dataset.outcome = d.outcome;
  const outcome = cell(d.outcome);
  outcome.className = `outcome ${d.outcome}`;
  const why = document.createElement("td");
  const reasoning = document.createElement("pre");
  reasoning.className = "reasoning";
  reasoning.textContent = d.reasoning;
  why.append(reasoning);
  if (d.detail) {
    const detail = document.createElement("p");
    detail.className = "detail muted";
    detail.textContent = d.rule ? `${d.rule}: ${d.detail}` : d.detail;
    why.append(detail);
  }
  tr.append(cell(when(d.timestamp)), cell(d.strategy_name), cell(d.symbol), cell(d.action), outcome, why);
  return tr;
}

function fillOptions(id, values) {
  const select = $(id);
  const chosen = select.value;
  const options = [...new Set(values)].sort().map((value) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = value;
    return option;
  });
  const all = document.createElement("option");
  all.value = "";
  all.textContent = "all";
  select.replaceChildren(all, ...options);
  select.value = options.some((o) => o.value === chosen) ? chosen : "";
}

function renderDecisions() {
  fillOptions("filter-strategy", view.decisions.map((d) => d.strategy_name));
  fillOptions("filter-symbol", view.decisions.map((d) => d.symbol));
  fillOptions("filter-outcome", view.decisions.map((d) => d.outcome));
  const strategy = $("filter-strategy").value;
  const symbol = $("filter-symbol").value;
  const outcome = $("filter-outcome").value;
  const shown = view.decisions.filter((d) => (!strategy || d.strategy_name === strategy)
    && (!symbol || d.symbol === symbol) && (!outcome || d.outcome === outcome));
  replaceRows("decisions", shown.slice(-100).reverse().map(decisionRow));
}

function renderBlocks() {
  replaceRows("blocks", view.blocks.slice().reverse().map((b) => {
    const tr = document.createElement("tr");
    tr.dataset.decisionId = b.decision_id;
    tr.append(cell(when(b.timestamp)), cell(b.strategy_name), cell(b.symbol), cell(b.rule || ""), cell(b.detail || ""));
    return tr;
  }));
}

function renderNotes() {
  $("notes").replaceChildren(...view.notes.slice().reverse().map((n) => {
    const li = document.createElement("li");
    li.textContent = `${n.at.slice(11, 19)} ${n.kind}: ${n.text}`;
    return li;
  }));
}

function keep(list, item, limit) {
  list.push(item);
  if (list.length > limit) list.splice(0, list.length - limit);
}

// --- the equity curve (inline SVG) ------------------------------------------------------------

function renderEquity() {
  const svg = $("equity");
  const points = view.equity.filter((p) => typeof p.pnl === "number");
  if (points.length < 2) {
    svg.replaceChildren();
    $("equity-range").textContent = points.length ? `P&L ${money(points[0].pnl)}` : "no sample yet";
    return;
  }
  const values = points.map((p) => p.pnl);
  let low = Math.min(...values, 0);
  let high = Math.max(...values, 0);
  if (high - low < 1) { high += 0.5; low -= 0.5; }
  const x = (i) => (i / (points.length - 1)) * 800;
  const y = (v) => 195 - ((v - low) / (high - low)) * 190;
  const ns = "http://www.w3.org/2000/svg";
  const zero = document.createElementNS(ns, "line");
  zero.setAttribute("x1", "0");
  zero.setAttribute("x2", "800");
  zero.setAttribute("y1", String(y(0)));
  zero.setAttribute("y2", String(y(0)));
  zero.setAttribute("class", "zero");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  line.setAttribute("class", values[values.length - 1] < 0 ? "curve loss" : "curve");
  svg.replaceChildren(zero, line);
  $("equity-range").textContent = `${when(points[0].t)} to ${when(points[points.length - 1].t)}: `
    + `P&L ${money(values[values.length - 1])} (low ${money(Math.min(...values))}, high ${money(Math.max(...values))})`;
}

// --- actions ----------------------------------------------------------------------------------

function actionsAllowed() {
  return view.auth === "session" && Boolean(view.csrf);
}

function say(text, failed) {
  const result = $("action-result");
  result.textContent = text;
  result.className = failed ? "error" : "muted";
}

async function act(path, body) {
  const answer = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": view.csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const reply = await answer.json().catch(() => ({}));
  if (answer.ok) {
    say(`done: ${Object.entries(reply).map(([k, v]) => `${k} ${v}`).join(", ")}`, false);
  } else {
    say(`refused (${answer.status}): ${reply.error || answer.statusText}`, true);
    if (answer.status === 401) await loadSession();
  }
}

function confirmAction(title, text, withReason, then) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-reason-label").hidden = !withReason;
  view.pending = then;
  $("confirm").showModal();
}

function setUpActions() {
  $("confirm").addEventListener("close", () => {
    const then = view.pending;
    view.pending = null;
    if ($("confirm").returnValue === "ok" && then) then();
  });
  $("kill-engage").addEventListener("click", () => confirmAction(
    "Engage the kill switch?",
    "No new order is sent until it is released; open orders are cancelled as the risk settings say.",
    true, () => act("/kill-switch", { engage: true, reason: $("confirm-reason").value })));
  $("kill-release").addEventListener("click", () => confirmAction(
    "Release the kill switch?",
    "Orders may be sent again from the next decision on (the kill switch file is removed too).",
    false, () => act("/kill-switch", { engage: false })));
  $("logout").addEventListener("click", async () => {
    await act("/logout", {});
    localStorage.removeItem("ibbot-csrf");
    view.csrf = "";
    await loadSession();
  });
  for (const id of ["filter-strategy", "filter-symbol", "filter-outcome"]) {
    $(id).addEventListener("change", renderDecisions);
  }
}

async function loadSession() {
  const answer = await fetch("/api/session", { credentials: "same-origin" });
  const session = answer.ok ? await answer.json() : { auth: "" };
  view.auth = session.auth;
  const acting = actionsAllowed();
  $("session").textContent = acting ? "logged in" : "read-only";
  $("login-link").hidden = acting;
  $("logout").hidden = !acting;
  if (view.state) renderState(view.state);
}

// --- the stream -------------------------------------------------------------------------------

function follow() {
  const stream = new EventSource("/api/events");
  const badge = $("stream");
  const on = (name, handler) => stream.addEventListener(name, (message) => handler(JSON.parse(message.data)));
  stream.addEventListener("open", () => { badge.textContent = "live"; badge.dataset.state = "live"; });
  stream.addEventListener("error", () => { badge.textContent = "reconnecting"; badge.dataset.state = "down"; });
  on("snapshot", (snapshot) => {
    view.decisions = snapshot.decisions;
    view.fills = snapshot.fills;
    view.blocks = snapshot.blocks;
    view.notes = snapshot.notes;
    view.equity = snapshot.equity;
    renderState(snapshot.state);
    renderFills();
    renderDecisions();
    renderBlocks();
    renderNotes();
    renderEquity();
  });
  on("state", renderState);
  on("fill", (fill) => { keep(view.fills, fill, MAX_FILLS); renderFills(); });
  on("decision", (decision) => { keep(view.decisions, decision, MAX_DECISIONS); renderDecisions(); });
  on("block", (block) => { keep(view.blocks, block, MAX_BLOCKS); renderBlocks(); });
  on("note", (note) => { keep(view.notes, note, MAX_NOTES); renderNotes(); });
  on("equity", (point) => { keep(view.equity, point, MAX_POINTS); renderEquity(); });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpActions();
  loadSession();
  follow();
});
