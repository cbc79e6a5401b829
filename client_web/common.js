// Shared by the agent panel and the supervisor wall: sign-in token, REST with the token,
// subscriber sockets that resume from the last event id, and the views both pages show.

const TOKEN_KEY = "ferryman.token";

// The token arrives in the URL fragment (never sent to the server, never in access logs),
// is kept for this tab only, and is removed from the address bar.
export function readToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// What a person reads when the server refuses (the server's own detail is English, for
// developers: it goes to the console, not on the page).
const REFUSAL = {
  401: "令牌无效或已过期，请重新登录", 403: "无权执行此操作", 404: "未找到", 409: "当前状态不允许此操作（例如通话已结束）",
  413: "内容过大", 422: "输入有误，请检查后重试", 429: "请求过多，请稍后再试",
};

export class ApiError extends Error {
  constructor(status, detail) {
    super(REFUSAL[status] ?? (status >= 500 ? "服务器出错，请稍后再试" : `请求失败（${status}）`));
    this.status = status;
    this.detail = detail;
  }
}

export async function api(token, path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    console.warn(`${method} ${path}: ${reply.status}`, data.detail ?? reply.statusText);
    throw new ApiError(reply.status, data.detail ?? reply.statusText);
  }
  return data;
}

// Who may open which page. A page opened with no token, an unknown one or one of another role
// goes back to the sign-in form, which says why in Chinese.
export const PAGE_ROLES = { "agent.html": ["agent"], "supervisor.html": ["supervisor"],
                            "calls.html": ["agent", "supervisor"], "console.html": ["supervisor"] };
export const ROLE_LABEL = { agent: "坐席", supervisor: "组长", gateway: "网关" };

export function refusalFor(page, me) {
  if (!me) return "令牌无效或已过期，请重新输入。";
  const allowed = PAGE_ROLES[page] ?? [];
  if (allowed.includes(me.role)) return null;
  const wanted = allowed.map((r) => ROLE_LABEL[r] ?? r).join("或");
  return `这是${ROLE_LABEL[me.role] ?? me.role}令牌，不能打开此页面（需要${wanted}令牌）。`;
}

export async function whoIs(token) {
  if (!token) return null;
  try {
    return await api(token, "/api/me");
  } catch (err) {
    if (err.status === 401 || err.status === 403) return null;
    throw err;
  }
}

// Each page starts here: the signed-in principal, or (never returns) back to sign-in.
export async function enterAs(page) {
  const token = readToken();
  const me = await whoIs(token);
  const refusal = refusalFor(page, me);
  if (refusal) {
    if (!me) sessionStorage.removeItem(TOKEN_KEY);
    // the sign-in page words the reason itself (it shows no text handed to it in a URL)
    const why = new URLSearchParams(me ? { refused: "role", role: me.role, page } : { refused: "token" });
    location.replace(`index.html#${why}`);
    return new Promise(() => {});        // the page stops here while the browser navigates
  }
  return { token, me };
}

// Close codes after which reconnecting cannot help (see the server's protocol module).
const REFUSED = { 4400: "请求无效", 4401: "令牌无效或缺失", 4403: "无权查看" };

// A socket that authenticates with its first message and, after any drop, reconnects with
// ?after=<last id seen>, so the page neither misses nor repeats an event.
export class Subscription {
  constructor(path, token, { onEvent, onStatus = () => {}, firstAfter = "0-0" }) {
    Object.assign(this, { path, token, onEvent, onStatus });
    this.lastId = firstAfter;
    this.received = []; // every event id delivered, in order (what the resume tests check)
    this.stopped = false;
    this.retries = 0;
    this.open();
  }

  url() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const sep = this.path.includes("?") ? "&" : "?";
    const after = this.lastId ? `${sep}after=${encodeURIComponent(this.lastId)}` : "";
    return `${proto}://${location.host}${this.path}${after}`;
  }

  open() {
    const ws = (this.ws = new WebSocket(this.url()));
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", token: this.token }));
      this.retries = 0;
      this.onStatus("connected");
    };
    ws.onmessage = (msg) => {
      const event = JSON.parse(msg.data);
      if (event.id) {
        this.lastId = event.id;
        this.received.push(event.id);
      }
      this.onEvent(event);
    };
    ws.onclose = (close) => {
      if (this.stopped) return;
      if (close.code === 1000) return this.onStatus("closed", close.reason);
      if (REFUSED[close.code]) {
        this.stopped = true;
        console.warn(`socket ${this.path} refused: ${close.code}`, close.reason);
        return this.onStatus("refused", `${REFUSED[close.code]}（${close.code}）`);
      }
      this.onStatus("reconnecting");
      this.retries += 1;
      setTimeout(() => this.stopped || this.open(), Math.min(500 * this.retries, 3000));
    };
  }

  // For tests and the "reconnect" story: drop the socket as a network failure would.
  drop() {
    this.ws.close(4000, "dropped by the page");
  }

  stop() {
    this.stopped = true;
    this.ws?.close(1000);
  }
}

// Both pages start the same way: no token -> say how to sign in; else follow the floor and
// keep the clocks ticking.
export function followFloor(token, { onEvent, status, tick, onConnected = () => {} }) {
  if (!token) {
    status("未登录：请使用带令牌的链接打开（#token=…）");
    return null;
  }
  setInterval(tick, 1000);
  return new Subscription("/ws/floor", token, {
    firstAfter: null, // no id yet: the server starts with a snapshot
    onEvent,
    onStatus: (state, reason) => {
      if (state === "refused") status(`登录失败：${reason}`);
      else if (state === "reconnecting") status("连接中断，正在重连…");
      else if (state === "connected") onConnected();
    },
  });
}

// --- formatting -------------------------------------------------------------------------
export const SPEAKERS = { agent: "坐席", customer: "客户" };
export const SEVERITY_LABEL = { critical: "严重", warning: "注意", info: "提示" };
export const MOOD_LABEL = { calm: "平静", tense: "紧张", angry: "激动" };
const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 };

// Graver first: severity, then priority (1 = most urgent); the same order as the server's.
export function graver(a, b) {
  const bySeverity = (SEVERITY_RANK[a.severity] ?? 0) - (SEVERITY_RANK[b.severity] ?? 0);
  return bySeverity || (b.priority ?? 9) - (a.priority ?? 9);
}

export function yuan(amount) {
  return `${Number(amount).toLocaleString("zh-CN", { maximumFractionDigits: 2 })} 元`;
}

export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

// --- views shared by both pages ------------------------------------------------------------

// Both sides of the call in the order they were spoken (by each utterance's start; ties: agent
// before customer, then utterance number), whatever order their partials arrive in: a partial
// is provisional (styled and labelled so) until its final, which may move it if its start moved.
export class TranscriptView {
  static CHANNEL_ORDER = { agent: 0, customer: 1 };

  // Was line a ({start, channel, utterance}) spoken before line b?
  static spokenBefore(a, b) {
    if (a.start !== b.start) return a.start < b.start;
    const order = TranscriptView.CHANNEL_ORDER;
    const ca = order[a.channel] ?? 2, cb = order[b.channel] ?? 2;
    if (ca !== cb) return ca < cb;
    return a.utterance < b.utterance;
  }

  constructor(list) {
    this.list = list;
    this.lines = new Map(); // "channel:utterance" -> <li>
    this.order = new Map(); // <li> -> {start, channel, utterance}
  }

  clear() {
    this.lines.clear();
    this.order.clear();
    this.list.replaceChildren();
  }

  // Put the line where it was spoken: after the last line spoken before it.
  place(li, key) {
    const spokenBefore = TranscriptView.spokenBefore;
    const at = (node) => this.order.get(node) ?? { start: -Infinity };     // a node not ours stays first
    this.order.set(li, key);
    const prev = li.previousElementSibling, next = li.nextElementSibling;
    const inPlace = li.parentNode === this.list && (!prev || !spokenBefore(key, at(prev)))
      && (!next || !spokenBefore(at(next), key));
    if (inPlace) return;
    li.remove();
    let after = this.list.lastElementChild;           // most lines arrive in order: walk back from the end
    while (after && spokenBefore(key, at(after))) after = after.previousElementSibling;
    if (after) after.after(li);
    else this.list.prepend(li);
  }

  show(event) {
    const key = `${event.channel}:${event.utterance}`;
    let li = this.lines.get(key);
    if (!li) {
      li = el("li", { class: `line ${event.channel}`, "data-channel": event.channel },
        el("span", { class: "who", text: SPEAKERS[event.channel] ?? event.channel }),
        el("span", { class: "text" }),
        el("span", { class: "state" }));
      this.lines.set(key, li);
    }
    li.dataset.start = event.start;
    this.place(li, { start: Number(event.start) || 0, channel: event.channel, utterance: event.utterance });
    li.classList.toggle("partial", !event.final);
    li.querySelector(".text").textContent = event.text;
    li.querySelector(".state").textContent = event.final ? "" : "识别中…";
    const scroller = this.list.parentElement;
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }
}

export function hintItem(hint, { acked = false, extra } = {}) {
  return el("li", { class: `hint-item ${hint.severity}${acked ? " acked" : ""}`, "data-code": hint.code, "data-id": hint.id },
    el("span", { class: `badge ${hint.severity}`, text: SEVERITY_LABEL[hint.severity] ?? hint.severity }),
    el("span", { class: "hint-title", text: hint.title }),
    el("span", { class: "hint-time", text: clock(hint.t) }),
    extra);
}

export function moodMeter(score, level) {
  const value = score ?? 0;
  return el("span", { class: `mood ${level ?? "calm"}` },
    el("meter", { min: 0, max: 1, low: 0.34, high: 0.67, optimum: 0, value, "aria-label": "客户情绪" }),
    el("span", { class: "mood-label", text: level ? MOOD_LABEL[level] ?? level : "—" }));
}
