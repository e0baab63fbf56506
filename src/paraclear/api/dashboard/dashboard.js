/* paraclear's live dashboard: JSON-RPC 2.0 over the node's WebSocket (/ws/api/v2).
 *
 * Subscribes to the ``blocks`` channel and to the chosen instrument's ``book.*`` and
 * ``trades.*`` channels; after each block (at most once a second) it reads the accounts
 * by risk (public/get_accounts), the book summaries (marks, IVs: the smile) and the index.
 * Reconnects with backoff when the connection closes, and resubscribes. */
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_BLOCKS = 500;
const MAX_TRADES = 40;
const REFRESH_MS = 1000;

const state = {
  connection: "connecting",
  instruments: [],
  instrumentsLoaded: 0,
  instrument: null,
  subscribed: [],
  expiry: null,
  blocks: [],
  book: null,
  trades: [],
  accounts: [],
  summaries: [],
  lastRefresh: 0,
  refreshTimer: null,
  errors: [],
};
window.dashboard = state;

// --- formatting ------------------------------------------------------------------------

function fmt(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: 0, maximumFractionDigits: digits });
}

function fmtSigned(value, digits = 4) {
  if (!Number.isFinite(value)) return "–";
  const text = fmt(Math.abs(value), digits);
  if (/^0$/.test(text)) return "0";
  return (value > 0 ? "+" : "-") + text;
}

function utc(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 19);
}

function shortAccount(account) {
  return account.length > 14 ? account.slice(0, 8) + "…" + account.slice(-4) : account;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function emptyRow(tbody, columns, text) {
  const row = tbody.insertRow();
  const td = cell(row, text, "empty");
  td.colSpan = columns;
}

// --- errors and connection state -------------------------------------------------------

function showError(text) {
  const stamp = new Date().toISOString().slice(11, 19);
  state.errors.push(`${stamp} ${text}`);
  state.errors = state.errors.slice(-4);
  const box = $("errors");
  box.textContent = state.errors.join("\n");
  box.style.whiteSpace = "pre-line";
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { state.errors = []; box.hidden = true; }, 20000);
}

function setConnection(status, detail) {
  state.connection = status;
  const pill = $("connection");
  pill.dataset.state = status;
  pill.textContent = detail || status;
}

class RpcFailure extends Error {
  constructor(method, error) {
    super(`${method}: ${error.message}${error.data && error.data.reason ? " (" + error.data.reason + ")" : ""}`);
    this.code = error.code;
    this.data = error.data;
  }
}

/** One WebSocket with numbered calls and channel notifications; reconnects by itself. */
class Rpc {
  constructor(url, { onOpen, onNotification }) {
    this.url = url;
    this.onOpen = onOpen;
    this.onNotification = onNotification;
    this.pending = new Map();
    this.nextId = 1;
    this.delay = 500;
    this.opened = false;
    this.ws = null;
  }

  connect() {
    setConnection(this.opened ? "reconnecting" : "connecting", this.opened ? "reconnecting…" : "connecting…");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = 500;
      this.opened = true;
      setConnection("open", "live");
      this.onOpen();
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (error) { showError("bad frame: " + error); return; }
      this.receive(message);
    };
    ws.onclose = (event) => {
      for (const { reject } of this.pending.values()) reject(new Error("connection closed"));
      this.pending.clear();
      const seconds = (this.delay / 1000).toFixed(1);
      setConnection("closed", `disconnected (${event.code}) · retry in ${seconds}s`);
      if (this.opened) showError(`connection closed (${event.code}${event.reason ? ": " + event.reason : ""})`);
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 5000);
    };
  }

  call(method, params = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error(`${method}: not connected`));
        return;
      }
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    });
  }

  receive(message) {
    if (message.method === "subscription") {
      this.onNotification(message.params.channel, message.params.data);
      return;
    }
    const waiting = this.pending.get(message.id);
    if (!waiting) return;
    this.pending.delete(message.id);
    if (message.error) waiting.reject(new RpcFailure(waiting.method, message.error));
    else waiting.resolve(message.result);
  }
}

const protocol = location.protocol === "https:" ? "wss:" : "ws:";
const rpc = new Rpc(`${protocol}//${location.host}/ws/api/v2`, {
  onOpen: () => start().catch((error) => showError(String(error.message || error))),
  onNotification,
});

// --- loading and subscriptions ---------------------------------------------------------

async function start() {
  state.subscribed = [];
  state.blocks = await rpc.call("public/get_block_stats", { count: MAX_BLOCKS });
  await rpc.call("public/subscribe", { channels: ["blocks"] });
  renderBlocks();
  await loadInstruments();
  await refresh();
}

async function loadInstruments() {
  const listed = await rpc.call("public/get_instruments", { currency: "any" });
  state.instrumentsLoaded = Date.now();
  const names = listed.map((i) => i.instrument_name);
  const changed = names.join() !== state.instruments.map((i) => i.instrument_name).join();
  state.instruments = listed;
  if (changed) {
    const select = $("instrument");
    select.replaceChildren(...names.map((name) => new Option(name, name)));
    const wanted = decodeURIComponent(location.hash.slice(1));
    const perpetual = listed.find((i) => i.kind === "future");
    const pick = names.includes(state.instrument) ? state.instrument
      : names.includes(wanted) ? wanted : perpetual ? perpetual.instrument_name : names[0];
    if (pick) select.value = pick;
  }
  if (state.instrument !== $("instrument").value || state.subscribed.length === 0) {
    await selectInstrument($("instrument").value || null);
  }
}

async function selectInstrument(name) {
  if (state.subscribed.length) {
    await rpc.call("public/unsubscribe", { channels: state.subscribed });
    state.subscribed = [];
  }
  state.instrument = name;
  state.book = null;
  state.trades = [];
  if (!name) { renderBook(); renderTrades(); return; }
  const channels = [`book.${name}`, `trades.${name}`];
  await rpc.call("public/subscribe", { channels });
  state.subscribed = channels;
  const [book, trades] = await Promise.all([
    rpc.call("public/get_order_book", { instrument_name: name, depth: 12 }),
    rpc.call("public/get_last_trades_by_instrument", { instrument_name: name, count: MAX_TRADES }),
  ]);
  if (state.instrument !== name) return;
  state.book = book;
  state.trades = trades.trades.slice().reverse();
  renderBook();
  renderTrades();
}

function onNotification(channel, data) {
  if (channel === "blocks") {
    state.blocks.push(data);
    if (state.blocks.length > MAX_BLOCKS) state.blocks.splice(0, state.blocks.length - MAX_BLOCKS);
    renderBlocks();
    scheduleRefresh();
  } else if (channel === `book.${state.instrument}`) {
    state.book = data;
    renderBook();
  } else if (channel === `trades.${state.instrument}`) {
    state.trades = data.trades.slice().reverse().concat(state.trades).slice(0, MAX_TRADES);
    renderTrades();
  }
}

/** Refresh the account and market reads at most once per REFRESH_MS, trailing. */
function scheduleRefresh() {
  if (state.refreshTimer) return;
  const wait = Math.max(0, state.lastRefresh + REFRESH_MS - Date.now());
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refresh().catch((error) => showError(String(error.message || error)));
  }, wait);
}

function underlying() {
  const chosen = state.instruments.find((i) => i.instrument_name === state.instrument);
  return chosen ? chosen.base_currency || chosen.instrument_name.split("-")[0] : null;
}

async function refresh() {
  state.lastRefresh = Date.now();
  if (!state.instruments.length || Date.now() - state.instrumentsLoaded > 10000) await loadInstruments();
  const currency = underlying();
  const [accounts, summaries, index] = await Promise.all([
    rpc.call("public/get_accounts", { limit: 50 }),
    currency ? rpc.call("public/get_book_summary_by_currency", { currency }) : [],
    currency
      ? rpc.call("public/get_index_price", { index_name: currency.toLowerCase() + "_usdc" }).catch(() => null)
      : null,
  ]);
  state.accounts = accounts;
  state.summaries = summaries;
  if (index) $("index-price").textContent = fmt(index.index_price, 2);
  renderAccounts();
  renderMarks();
  renderSmile();
}

// --- rendering -------------------------------------------------------------------------

function renderBook() {
  const tbody = $("book").tBodies[0];
  tbody.replaceChildren();
  const book = state.book;
  if (!book || (!book.bids.length && !book.asks.length)) {
    emptyRow(tbody, 3, state.instrument ? "no resting orders" : "no instruments listed");
    $("book-foot").textContent = "–";
    return;
  }
  const asks = book.asks.slice(0, 10).reverse();
  const bids = book.bids.slice(0, 10);
  const largest = Math.max(...asks.concat(bids).map((level) => level[1]), 1e-12);
  const bar = (td, amount) => {
    const span = document.createElement("span");
    span.className = "bar";
    span.style.width = Math.max(2, (100 * amount) / largest) + "%";
    td.appendChild(span);
  };
  for (const [price, amount] of asks) {
    const row = tbody.insertRow();
    row.className = "ask";
    cell(row, "", "size-bid");
    cell(row, fmt(price, 4), "price");
    bar(cell(row, fmt(amount, 4), "size-ask"), amount);
  }
  const spreadRow = tbody.insertRow();
  spreadRow.className = "spread";
  const spread = book.best_ask_price !== null && book.best_bid_price !== null
    ? `spread ${fmt(book.best_ask_price - book.best_bid_price, 4)}` : "one-sided";
  cell(spreadRow, spread).colSpan = 3;
  for (const [price, amount] of bids) {
    const row = tbody.insertRow();
    row.className = "bid";
    bar(cell(row, fmt(amount, 4), "size-bid"), amount);
    cell(row, fmt(price, 4), "price");
    cell(row, "", "size-ask");
  }
  $("book-foot").textContent =
    `block ${book.change_id} · mark ${fmt(book.mark_price, 4)} · index ${fmt(book.index_price, 2)}`;
}

function renderTrades() {
  const tbody = $("trades").tBodies[0];
  tbody.replaceChildren();
  if (!state.trades.length) { emptyRow(tbody, 4, "no trades yet"); return; }
  for (const trade of state.trades) {
    const row = tbody.insertRow();
    row.className = "trade";
    cell(row, String(trade.block));
    cell(row, trade.direction, trade.direction);
    cell(row, fmt(trade.price, 4), trade.direction);
    cell(row, fmt(trade.amount, 4));
  }
}

function renderAccounts() {
  const tbody = $("accounts").tBodies[0];
  tbody.replaceChildren();
  if (!state.accounts.length) { emptyRow(tbody, 10, "no funded accounts"); return; }
  for (const account of state.accounts) {
    const row = tbody.insertRow();
    row.className = "account";
    const name = cell(row, shortAccount(account.account), "mono");
    name.title = account.account;
    cell(row, fmt(account.equity, 2));
    cell(row, fmt(account.initial_margin, 2));
    cell(row, fmt(account.maintenance_margin, 2));
    const ratio = account.margin_ratio;
    const ratioCell = cell(row, "");
    const bar = document.createElement("span");
    bar.className = "ratio" + (ratio === null || ratio > 0.8 ? " danger" : ratio > 0.5 ? " warn" : "");
    bar.style.width = Math.round(60 * Math.min(ratio === null ? 1 : ratio, 1)) + "px";
    ratioCell.append(bar, ratio === null ? "under water" : fmt(100 * ratio, 1) + "%");
    const positions = account.positions.map((p) => `${p.instrument_name} ${fmtSigned(p.size, 4)}`);
    const held = cell(row, positions.join(", ") || "–", "positions");
    held.title = positions.join("\n");
    const greeks = account.greeks;
    cell(row, fmtSigned(greeks.delta, 4));
    cell(row, fmtSigned(greeks.gamma, 6));
    cell(row, fmtSigned(greeks.vega, 2));
    cell(row, fmtSigned(greeks.theta, 2));
  }
}

function renderMarks() {
  const tbody = $("marks").tBodies[0];
  tbody.replaceChildren();
  const summaries = state.summaries.slice().sort((a, b) =>
    (a.kind === b.kind ? 0 : a.kind === "future" ? -1 : 1) ||
    (a.expiration_timestamp || 0) - (b.expiration_timestamp || 0) || (a.strike || 0) - (b.strike || 0));
  if (!summaries.length) { emptyRow(tbody, 6, "no marks yet"); }
  for (const s of summaries) {
    const row = tbody.insertRow();
    row.className = "mark";
    cell(row, s.instrument_name, "mono");
    cell(row, fmt(s.mark_price, 2));
    cell(row, s.mark_iv === null ? "–" : fmt(s.mark_iv, 2));
    cell(row, fmt(s.bid_price, 4));
    cell(row, fmt(s.ask_price, 4));
    cell(row, fmt(s.open_interest, 4));
  }
  const currency = underlying();
  $("marks-note").textContent = currency ? `${currency} · ${summaries.length} series` : "";
  renderIndex();
}

function renderIndex() {
  const currency = underlying();
  Charts.draw($("index-chart"), [
    { label: currency ? `${currency} index` : "index", color: "#5aa9ff", points: indexHistory(currency) },
  ], { empty: "no index published yet" });
}

/** [height, index] of ``currency`` for every block since its first update (carried forward). */
function indexHistory(currency) {
  const points = [];
  let last = null;
  for (const block of state.blocks) {
    if (block.index && block.index[currency] !== undefined) last = block.index[currency];
    if (last !== null) points.push([block.height, last]);
  }
  return points;
}

function renderSmile() {
  const options = state.summaries.filter((s) => s.kind === "option" && s.mark_iv !== null);
  const expiries = [...new Set(options.map((s) => s.expiration_timestamp))].sort((a, b) => a - b);
  const select = $("expiry");
  const labels = expiries.map(String).join();
  if (select.dataset.labels !== labels) {
    select.dataset.labels = labels;
    select.replaceChildren(...expiries.map((ms) =>
      new Option(new Date(ms).toISOString().slice(0, 10), String(ms))));
    if (expiries.includes(Number(state.expiry))) select.value = String(state.expiry);
  }
  state.expiry = select.value ? Number(select.value) : null;
  const chosen = options.filter((s) => s.expiration_timestamp === state.expiry);
  const points = (right) => chosen.filter((s) => s.option_type === right)
    .map((s) => [s.strike, s.mark_iv]).sort((a, b) => a[0] - b[0]);
  const index = chosen.length ? chosen[0].underlying_price : null;
  const series = [
    { label: "calls", color: "#3fb68b", points: points("call"), dots: true },
    { label: "puts", color: "#ef5b5b", points: points("put"), dots: true, dashed: true },
  ];
  if (index) {
    const ivs = chosen.map((s) => s.mark_iv);
    series.push({ label: "index", color: "#8b96a3", points: [[index, Math.min(...ivs)], [index, Math.max(...ivs)]], dashed: true });
  }
  Charts.draw($("smile-chart"), series, { empty: "no option marks for this expiry" });
  $("smile-chart").dataset.points = String(points("call").length + points("put").length);
}

function renderBlocks() {
  const blocks = state.blocks;
  const last = blocks[blocks.length - 1];
  if (last) {
    $("height").textContent = String(last.height);
    $("block-time").textContent = utc(last.time);
    $("tps").textContent = fmt(last.txs_per_second, 0);
    $("speedup").textContent = last.speedup !== null ? fmt(last.speedup, 2) + "×"
      : last.parallelism !== null ? `≤ ${fmt(last.parallelism, 1)}× (DAG)` : "–";
    $("executor").textContent = last.executor;
  }
  const series = (key, scale = 1) => blocks.map((b) => [b.height, b[key] === null ? NaN : b[key] * scale]);
  Charts.draw($("throughput-chart"), [
    { label: "txs/s", color: "#5aa9ff", points: series("txs_per_second") },
    { label: "orders/s", color: "#3fb68b", points: series("orders_per_second") },
  ], { yMin: 0 });
  // Measured speedups (around 1) and the DAG's bound (often tens) do not share a scale:
  // show the measurement when the node runs the parallel executor, else the bound.
  const measured = blocks.some((b) => b.speedup !== null);
  $("speedup-note").textContent = measured
    ? "dry run ÷ parallel execution, per block"
    : "no parallel executor: DAG bound txs ÷ critical path";
  Charts.draw($("speedup-chart"), measured ? [
    { label: "speedup (measured)", color: "#f0b429", points: series("speedup") },
    { label: "break-even", color: "#8b96a3", points: blocks.length ? [[blocks[0].height, 1], [last.height, 1]] : [], dashed: true },
  ] : [
    { label: "parallelism bound", color: "#b48ead", points: series("parallelism") },
  ], { yMin: 0 });
  Charts.draw($("dag-chart"), [
    { label: "critical path", color: "#ef5b5b", points: series("critical_path") },
    { label: "widest level", color: "#5aa9ff", points: series("widest_level") },
    { label: "txs", color: "#8b96a3", points: series("txs"), dashed: true },
  ], { yMin: 0 });
  const ms = (key) => blocks.map((b) => [b.height, 1000 * (b.seconds[key] || 0)]);
  Charts.draw($("time-chart"), [
    { label: "build", color: "#5aa9ff", points: ms("build") },
    { label: "dry run", color: "#3fb68b", points: ms("dry_run"), dashed: true },
    { label: "execute", color: "#f0b429", points: ms("execute") },
    { label: "persist", color: "#ef5b5b", points: ms("persist") },
    { label: "DAG", color: "#b48ead", points: blocks.map((b) => [b.height, 1000 * b.dag_seconds]) },
  ], { yMin: 0 });
  renderHotKeys();
  renderIndex();
}

function renderHotKeys() {
  const totals = new Map();
  for (const block of state.blocks.slice(-100)) {
    for (const [lock, count] of block.hot_keys) totals.set(lock, (totals.get(lock) || 0) + count);
  }
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  const tbody = $("hot-keys").tBodies[0];
  tbody.replaceChildren();
  if (!top.length) { emptyRow(tbody, 3, "no contended locks"); return; }
  const largest = top[0][1];
  for (const [lock, count] of top) {
    const row = tbody.insertRow();
    row.className = "hot";
    cell(row, lock.length > 40 ? lock.slice(0, 26) + "…" + lock.slice(-8) : lock, "mono").title = lock;
    cell(row, fmt(count, 0));
    const barCell = cell(row, "");
    barCell.style.width = "40%";
    const bar = document.createElement("div");
    bar.className = "hotbar";
    bar.style.width = Math.max(2, (100 * count) / largest) + "%";
    barCell.appendChild(bar);
  }
}

// --- controls --------------------------------------------------------------------------

$("instrument").addEventListener("change", (event) => {
  location.hash = encodeURIComponent(event.target.value);
  selectInstrument(event.target.value).then(refresh).catch((error) => showError(String(error.message || error)));
});
$("expiry").addEventListener("change", (event) => {
  state.expiry = Number(event.target.value);
  renderSmile();
});
window.addEventListener("resize", () => { renderBlocks(); renderSmile(); });
setInterval(() => {
  if (state.connection === "open" && Date.now() - state.lastRefresh > 3000) scheduleRefresh();
}, 1000);

renderBook();
renderTrades();
renderAccounts();
renderMarks();
renderSmile();
renderBlocks();
rpc.connect();
