// The supervisor wall, for a floor of 20–50 calls: every live call on one compact row (agent,
// customer, elapsed time, mood, latest and gravest hint, unread critical cards, the promise),
// coloured by the call's state NOW; sort and filter; an alert feed with clock times and a level
// filter, live calls apart from ended ones; the calls that ended recently (最近结束) with a link
// to their record; drill-in to one call in a side panel, and coaching to that call's agent.
//
// A row's colour decays. It is the gravest of
//   - the customer's current mood: angry counts as critical, tense as warning;
//   - each card of the call (hint or contact-rule card) by its age in CALL time: age = the call's
//     now - card.t, where the call's now is the later of the seconds since it started and the
//     latest t any of its events carried (frozen at the hang-up once it has ended). A card counts
//     at its severity for RECENT_S (60 s, the agent panel's primary-card window); a critical card
//     then counts as warning until FADE_S (180 s); after that it no longer colours the row.
// Info cards never colour a row. Call time rather than wall time: a live call's t is wall time
// since it started anyway, and replays (tests, demos) that run faster than real time decay the
// same way the real call would have.
import {
  api, clock, el, enterAs, followFloor, graver, hintItem, MOOD_LABEL, moodMeter, SEVERITY_LABEL, Subscription,
  TranscriptView, yuan,
} from "./common.js";
import { Listener } from "./listen.js";

const { token } = await enterAs("supervisor.html");      // wrong role or token: back to sign-in
const labels = await (await fetch("labels.json")).json();
const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };

const RECENT_S = labels.primary_max_age_s ?? 60; // a card counts at its severity this long (call time)
const FADE_S = 180;        // ... a critical card as warning until this age
const ENDED_KEEP_S = 10;   // an ended call stays in the table this long (marked), then only in 最近结束
const RECENT_MAX = 20;     // calls on the 最近结束 list
const FEED_KEEP = 3000;    // alerts kept in memory
const FEED_SHOWN = 150;    // alerts shown per group (after the level filter)
const CARDS_KEEP = 200;    // cards kept per call
const RANK = { info: 0, warning: 1, critical: 2 };
const LEVEL = ["", "warning", "critical"];
const MOOD_RANK = { calm: 0, tense: 1, angry: 2 };
const ENDED_LABEL = { ended: "已结束", dropped: "已中断" };
const NO_CALL = "请先在通话列表中选择一通通话，再发送指导。";

const calls = new Map();   // live call id -> call (summary + cards, promise, last_t; ended_local once over)
const recent = new Map();  // ended call id -> call
const feed = [];           // alerts (hint, contact_rule, coach events), oldest first
const names = new Map();   // call id -> {agent_name, customer}, for alerts of calls no longer listed
const acked = new Set();   // cardKey of each card its agent acknowledged
const rows = new Map();    // call id -> its <tr>
const feedNodes = new WeakMap(); // alert event -> its <li>
let serverOffset = 0;
let drill = null;          // {callId, socket, transcript, hints, acked}

const now = () => Date.now() / 1000 + serverOffset;
// Acks name a card by its id in the call's own stream; the floor's copy has another id, so cards
// are matched on call, code and call second (the server adds card_code/card_t to each ack).
const cardKey = (callId, code, t) => `${callId}|${code}|${Number(t)}`;
const isCritical = (card) => card.severity === "critical";
const unread = (c) => c.cards.filter((card) => isCritical(card) && !acked.has(cardKey(c.call_id, card.code, card.t)));

// --- what a call is now --------------------------------------------------------------------------
function callNow(c) {
  if (c.ended_t != null) return c.ended_t;
  const elapsed = c.started_at ? now() - c.started_at : 0;
  return Math.max(elapsed, c.last_t ?? 0);
}

function levelNow(c) {
  const at = callNow(c);
  let rank = MOOD_RANK[c.mood_level] ?? 0;
  for (let i = c.cards.length - 1; i >= 0 && rank < 2; i--) {
    const card = c.cards[i];
    const age = at - (card.t ?? 0);
    const severity = RANK[card.severity] ?? 0;
    if (age <= RECENT_S) rank = Math.max(rank, severity);
    else if (age <= FADE_S && severity === 2) rank = Math.max(rank, 1);
  }
  return rank;
}

function compactCard(event) {
  const { id, call_id, type, code, severity, priority, title, t } = event;
  return { id, call_id, type, code, severity, priority, title, t };
}

function noteT(c, t) {
  if (typeof t === "number" && (c.last_t == null || t > c.last_t)) c.last_t = t;
}

// A call as the snapshot (or REST) gives it, made ready for the wall.
function prepare(c, ended = false) {
  c.cards = c.cards ?? [c.gravest_hint, c.last_hint].filter((h, i, all) => h && all.indexOf(h) === i);
  for (const [code, t] of c.acked ?? []) acked.add(cardKey(c.call_id, code, t));
  if (ended) {
    c.ended_local = true;
    c.ended_t = c.last_t ?? (c.ended_at && c.started_at ? c.ended_at - c.started_at : 0);
  }
  return c;
}

function who(callId) {
  const c = calls.get(callId) ?? recent.get(callId) ?? names.get(callId);
  return c ? `${c.agent_name ?? c.agent_id ?? "—"} ↔ ${c.customer ?? c.case_id ?? labels.unknown_case}` : callId;
}

function elapsedText(c) {
  if (c.ended_local) return ENDED_LABEL[c.state] ?? "已结束";
  return c.started_at ? clock(now() - c.started_at) : "—";
}

function dayTime(epochMs, withSeconds = true) {
  return new Date(epochMs).toLocaleTimeString("zh-CN", {
    hour12: false, hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined,
  });
}

// When an alert reached the floor: its stream id is the epoch milliseconds of that moment.
function alertMs(event) {
  const ms = Number(String(event.id ?? "").split("-")[0]);
  if (ms > 0) return ms;
  const c = calls.get(event.call_id) ?? recent.get(event.call_id);
  return c?.started_at ? (c.started_at + (event.t ?? 0)) * 1000 : now() * 1000;
}

function idOrder(a, b) {
  const [am, as] = String(a.id ?? "0-0").split("-").map(Number);
  const [bm, bs] = String(b.id ?? "0-0").split("-").map(Number);
  return am - bm || as - bs;
}

function promiseTag(c) {
  const p = c.promise;
  if (p && (p.status === "confirmed" || p.status === "corrected")) {
    const said = `${p.status === "corrected" ? "已更正" : "已确认"}承诺：${p.due ?? ""} 还 ${p.amount != null ? yuan(p.amount) : "—"}`;
    return el("span", { class: `promise-tag ${p.status}`, title: said,
                        text: `✓承诺 ${p.amount != null ? yuan(p.amount) : ""}` });
  }
  if (p?.status === "withdrawn") return el("span", { class: "promise-tag withdrawn", text: "承诺已撤回" });
  if (c.cards.some((card) => card.code === "promise_to_pay")) {
    return el("span", { class: "promise-tag pending", title: "客户说了还款承诺，坐席尚未确认", text: "待确认承诺" });
  }
  return null;
}

// --- render scheduling: many events a second on a big floor, one render per burst ---------------
const dirty = new Set();
let renderTimer = null;
function schedule(...parts) {
  for (const part of parts) dirty.add(part);
  if (!renderTimer) renderTimer = setTimeout(renderDirty, 30);
}

function renderDirty() {
  renderTimer = null;
  const parts = new Set(dirty);
  dirty.clear();
  if (parts.has("calls")) renderCalls();
  if (parts.has("feed")) renderFeed();
  if (parts.has("recent")) renderRecent();
  if (parts.has("drill")) renderDrillMeta();
}

// --- the wall -----------------------------------------------------------------------------------
function setCell(td, sig, build, title) {
  if (td.dataset.sig !== sig) {
    td.dataset.sig = sig;
    td.replaceChildren(...build().filter((node) => node !== null && node !== undefined));
  }
  if (title !== undefined && td.title !== title) td.title = title;
}

function hintContent(hint) {
  if (!hint) return [el("span", { class: "muted", text: "—" })];
  return [el("span", { class: `badge ${hint.severity}`, text: SEVERITY_LABEL[hint.severity] ?? hint.severity }),
    " ", el("span", { class: "hint-text", text: hint.title })];
}

function rowFor(c) {
  let tr = rows.get(c.call_id);
  if (!tr) {
    tr = el("tr", { class: "call-row", "data-call": c.call_id, onclick: () => openDrill(c.call_id) },
      el("td", { class: "agent" }), el("td", { class: "customer" }), el("td", { class: "elapsed" }),
      el("td", { class: "mood-cell" }), el("td", { class: "last" }), el("td", { class: "gravest" }),
      el("td", { class: "state" }),
      el("td", { class: "open-cell" }, el("button", { type: "button", class: "open", text: "查看" })));
    rows.set(c.call_id, tr);
  }
  const rank = levelNow(c);
  const className = ["call-row", c.ended_local ? "ended" : "", LEVEL[rank]].filter(Boolean).join(" ");
  if (tr.className !== className) tr.className = className;
  if (drill?.callId === c.call_id) tr.setAttribute("aria-current", "true");
  else tr.removeAttribute("aria-current");
  const [agent, customer, elapsed, mood, last, gravest, state, open] = tr.children;
  const agentName = c.agent_name ?? c.agent_id ?? "—";
  setCell(agent, agentName, () => [agentName], c.agent_id && c.agent_name ? `${c.agent_name}（${c.agent_id}）` : agentName);
  const customerName = c.customer ?? c.case_id ?? labels.unknown_case;
  customer.className = c.case_id ? "customer" : "customer unknown-case";
  setCell(customer, customerName, () => [customerName],
    c.case_id ? `${customerName}（案件 ${c.case_id}）` : customerName);
  const time = elapsedText(c);
  if (elapsed.textContent !== time) elapsed.textContent = time;
  setCell(mood, `${c.mood_level}|${c.mood_score}`, () => [moodMeter(c.mood_score, c.mood_level)],
    c.mood_level ? `客户情绪：${MOOD_LABEL[c.mood_level] ?? c.mood_level}` : "");
  const lh = c.last_hint;
  setCell(last, lh ? `${lh.code}|${lh.t}` : "", () => hintContent(lh), lh ? `${lh.title}${lh.detail ? `：${lh.detail}` : ""}` : "");
  const gh = c.gravest_hint;
  const ghRead = gh && isCritical(gh) ? acked.has(cardKey(c.call_id, gh.code, gh.t)) : null;
  setCell(gravest, gh ? `${gh.code}|${gh.t}|${ghRead}` : "", () => {   // read or not before the title: never cut off
    const [badge, ...rest] = hintContent(gh);
    return [badge, ghRead === null ? null : el("span", { class: `read-mark ${ghRead ? "read" : "unread"}`, text: ghRead ? "已读" : "未读" }),
      ...rest];
  },
  gh ? `${gh.title}（通话第 ${clock(gh.t)}）${ghRead === null ? "" : ghRead ? "，坐席已读" : "，坐席未读"}` : "");
  gravest.classList.toggle("stale", !!gh && callNow(c) - (gh.t ?? 0) > RECENT_S);
  const open_ = unread(c).length;
  const tag = promiseTag(c);
  setCell(state, `${open_}|${tag?.textContent ?? ""}|${tag?.title ?? ""}`, () => [
    open_ ? el("span", { class: "unread-count", text: `未读严重 ${open_}` }) : null,
    tag, !open_ && !tag ? el("span", { class: "muted", text: "—" }) : null],
  [open_ ? `${open_} 条严重提示坐席未读` : "", tag?.title ?? ""].filter(Boolean).join("；"));
  open.firstChild.setAttribute("aria-label", `查看 ${agentName} 与 ${customerName} 的通话`);
  return { tr, rank, unread: open_ };
}

const SORTS = {
  severity: (a, b) => b.rank - a.rank || b.unread - a.unread || (b.c.mood_score ?? 0) - (a.c.mood_score ?? 0)
    || (a.c.started_at ?? 0) - (b.c.started_at ?? 0),
  mood: (a, b) => (MOOD_RANK[b.c.mood_level] ?? -1) - (MOOD_RANK[a.c.mood_level] ?? -1)
    || (b.c.mood_score ?? 0) - (a.c.mood_score ?? 0) || b.rank - a.rank,
  agent: (a, b) => String(a.c.agent_name ?? a.c.agent_id ?? "").localeCompare(String(b.c.agent_name ?? b.c.agent_id ?? ""), "zh-CN"),
  duration: (a, b) => (a.c.started_at ?? Infinity) - (b.c.started_at ?? Infinity),   // longest first
};

function matchesFilter({ c, rank, unread: open }) {
  const level = $("filter-level").value;
  if (level === "critical" && rank < 2) return false;
  if (level === "attention" && rank < 1) return false;
  if (level === "unread" && !open) return false;
  const text = $("filter-text").value.trim().toLowerCase();
  if (!text) return true;
  return [c.agent_name, c.agent_id, c.customer, c.case_id].some((v) => v && String(v).toLowerCase().includes(text));
}

function renderCalls() {
  const all = [...calls.values()].map((c) => ({ c, ...rowFor(c) }));
  for (const id of rows.keys()) if (!calls.has(id)) rows.delete(id);
  const shown = all.filter(matchesFilter);
  const sort = SORTS[$("sort").value] ?? SORTS.severity;
  shown.sort((a, b) => (a.c.ended_local ? 1 : 0) - (b.c.ended_local ? 1 : 0) || sort(a, b)
    || String(a.c.call_id).localeCompare(String(b.c.call_id)));
  const body = $("calls-body");
  const wanted = shown.length ? shown.map((r) => r.tr)
    : [el("tr", { class: "empty" }, el("td", { colspan: 8, text: calls.size ? "没有符合筛选条件的通话" : "暂无进行中的通话" }))];
  const current = [...body.children];
  if (current.length !== wanted.length || current.some((node, i) => node !== wanted[i])) body.replaceChildren(...wanted);
  const live = all.filter((r) => !r.c.ended_local);
  const critical = live.filter((r) => r.rank === 2).length;
  $("count").textContent = `进行中 ${live.length} 通${critical ? ` · 当前严重 ${critical}` : ""}`;
  $("shown-count").textContent = shown.length === all.length ? "" : `显示 ${shown.length} / ${all.length}`;
}

function tick() {
  schedule("calls", "drill");
}

// --- the feed -----------------------------------------------------------------------------------
const alertLevel = (event) => (event.type === "coach" ? "coach" : event.severity);
const isLive = (callId) => calls.has(callId) && !calls.get(callId).ended_local;

function feedItem(event) {
  let li = feedNodes.get(event);
  if (!li) {
    const ms = alertMs(event);
    const time = el("time", { class: "feed-time", datetime: new Date(ms).toISOString(), text: dayTime(ms) });
    const whoSpan = el("span", { class: "feed-who" });
    if (event.type === "coach") {
      li = el("li", { class: "feed-item coach", "data-call": event.call_id, "data-level": "coach" },
        time, el("span", { class: "badge coaching", text: "指导" }), whoSpan,
        el("span", { class: "feed-text", text: `指导（${event.by}）：${event.text}` }));
    } else {
      li = el("li", { class: `feed-item ${event.severity}`, "data-call": event.call_id, "data-code": event.code,
                      "data-level": event.severity },
      time, el("span", { class: `badge ${event.severity}`, text: SEVERITY_LABEL[event.severity] ?? event.severity }),
      whoSpan,
      el("button", { type: "button", class: "link feed-title", title: event.title, onclick: () => openDrill(event.call_id),
                     text: event.title }),
      isCritical(event) ? el("span", { class: "read-mark" }) : null);
    }
    feedNodes.set(event, li);
  }
  const whoText = who(event.call_id);
  const whoSpan = li.querySelector(".feed-who");
  if (whoSpan.textContent !== whoText) {
    whoSpan.textContent = whoText;
    whoSpan.title = whoText;
  }
  const mark = li.querySelector(".read-mark");
  if (mark) {
    const read = acked.has(cardKey(event.call_id, event.code, event.t));
    mark.className = `read-mark ${read ? "read" : "unread"}`;
    mark.textContent = read ? "已读" : "未读";
  }
  return li;
}

function renderFeed() {
  const levels = new Set([...document.querySelectorAll(".feed-levels input:checked")].map((i) => i.value));
  const live = [];
  const ended = [];
  for (let i = feed.length - 1; i >= 0; i--) {
    const event = feed[i];
    const group = isLive(event.call_id) ? live : ended;
    if (group.length < FEED_SHOWN && levels.has(alertLevel(event))) group.push(feedItem(event));
  }
  const none = (text) => [el("li", { class: "empty", text })];
  $("feed-live").replaceChildren(...(live.length ? live : none("暂无")));
  $("feed-ended").replaceChildren(...(ended.length ? ended : none("暂无")));
  $("feed-ended-count").textContent = ended.length ? `（${ended.length}）` : "";
}

function addToFeed(event) {
  feed.push(event);
  if (feed.length > FEED_KEEP) feed.splice(0, feed.length - FEED_KEEP);
  schedule("feed");
}

function feedScope() {
  const ended = $("feed-scope-ended").checked;
  $("feed-live").hidden = ended;
  $("feed-ended").hidden = !ended;
}

// --- recently ended -----------------------------------------------------------------------------
function renderRecent() {
  const list = [...recent.values()].sort((a, b) => (b.ended_at ?? 0) - (a.ended_at ?? 0));
  for (const c of list.slice(RECENT_MAX)) recent.delete(c.call_id);
  $("recent").replaceChildren(...(list.length ? list.slice(0, RECENT_MAX).map(recentItem)
    : [el("li", { class: "empty", text: "暂无" })]));
}

function recentItem(c) {
  const critical = c.cards.filter(isCritical).length;
  const open = unread(c).length;
  const whoText = who(c.call_id);
  const gh = c.gravest_hint;
  return el("li", { class: `recent-item ${LEVEL[levelNow(c)]}`, "data-call": c.call_id },
    el("div", { class: "recent-line" },
      el("time", { class: "recent-time", text: c.ended_at ? dayTime(c.ended_at * 1000, false) : "—" }),
      el("span", { class: "recent-who", title: whoText, text: whoText }),
      el("span", { class: "recent-dur", text: `${ENDED_LABEL[c.state] ?? "已结束"} ${clock(c.ended_t ?? 0)}` })),
    el("div", { class: "recent-line" },
      el("span", { class: `recent-mood ${c.mood_level ?? ""}`, text: `情绪 ${MOOD_LABEL[c.mood_level] ?? "—"}` }),
      gh ? el("span", { class: "recent-gravest", title: gh.title }, ...hintContent(gh)) : null,
      critical ? el("span", { class: open ? "unread-count" : "muted", text: open ? `严重 ${critical}（未读 ${open}）` : `严重 ${critical}` }) : null,
      promiseTag(c),
      el("a", { class: "record-link", href: `calls.html#call=${encodeURIComponent(c.call_id)}`, target: "_blank",
                rel: "opener", text: "通话记录" })));
}

function callEnded(c, event) {
  Object.assign(c, { state: event.state, ended_local: true, ended_t: event.t, ended_at: c.ended_at ?? now() });
  recent.set(c.call_id, c);
  setTimeout(() => {
    if (calls.get(c.call_id)?.ended_local) {
      calls.delete(c.call_id);
      schedule("calls", "feed");
    }
  }, ENDED_KEEP_S * 1000);
  schedule("calls", "feed", "recent", "drill");
}

// --- floor events -------------------------------------------------------------------------------
function onSnapshot(event) {
  serverOffset = event.server_time - Date.now() / 1000;
  $("who").textContent = `组长：${event.who.name}`;
  calls.clear();
  recent.clear();
  acked.clear();
  for (const c of event.calls) calls.set(c.call_id, prepare(c));
  for (const c of event.recent ?? []) recent.set(c.call_id, prepare(c, true));
  for (const [callId, people] of Object.entries(event.alert_calls ?? {})) names.set(callId, people);
  // the feed: the recent alerts and every listed call's latest cards, each once, oldest first
  const byId = new Map();
  for (const c of [...calls.values(), ...recent.values()]) for (const card of c.cards) if (card.id) byId.set(card.id, card);
  for (const alert of event.alerts) byId.set(alert.id, alert);
  feed.splice(0, feed.length, ...[...byId.values()].sort(idOrder).slice(-FEED_KEEP));
  status("已连接");
  schedule("calls", "feed", "recent", "drill");
  followUpsChanged();                 // (re)connected: what changed while we were away
}

async function onFloorEvent(event) {
  if (event.type === "snapshot") return onSnapshot(event);
  const c = calls.get(event.call_id) ?? recent.get(event.call_id);
  if (c && !c.ended_local) noteT(c, event.t);
  switch (event.type) {
    case "call":
      if (event.state === "started") {
        // a row now (later events of the call may arrive before the summary does), details next
        const fresh = { call_id: event.call_id, agent_id: event.agent_id, case_id: event.case_id,
                        started_at: now() - event.t, state: "started", cards: [], last_t: event.t };
        calls.set(event.call_id, fresh);
        schedule("calls");
        try {
          const summary = await api(token, `/api/calls/${encodeURIComponent(event.call_id)}`);
          for (const key of ["cards", "last_hint", "gravest_hint", "mood_level", "mood_score"]) {
            if (fresh[key] != null) delete summary[key];     // newer than the summary already
          }
          Object.assign(fresh, summary);
        } catch (err) {
          console.warn(`call ${event.call_id}: no summary`, err);
        }
      } else if (c && !c.ended_local) {
        callEnded(c, event);
      } else if (!c) {                 // a call we never listed: straight to 最近结束
        try {
          const summary = await api(token, `/api/calls/${encodeURIComponent(event.call_id)}`);
          recent.set(event.call_id, prepare({ ...summary, last_t: event.t }, true));
        } catch (err) {
          console.warn(`call ${event.call_id}: no summary`, err);
        }
      }
      schedule("calls", "feed", "recent");
      break;
    case "mood":
      if (c && !c.ended_local) Object.assign(c, { mood_score: event.score, mood_level: event.level });
      schedule("calls");
      break;
    case "hint":
    case "contact_rule":           // a contact rule the call breaks: an alert like a critical hint
      if (c) {
        c.last_hint = event;
        if (!c.gravest_hint || graver(event, c.gravest_hint) > 0) c.gravest_hint = event;
        c.cards.push(compactCard(event));
        if (c.cards.length > CARDS_KEEP) c.cards.splice(0, c.cards.length - CARDS_KEEP);
      }
      addToFeed(event);
      if (event.severity !== "info") $("announcer").textContent = `${who(event.call_id)}：${event.title}`;
      schedule("calls", "recent");
      break;
    case "ack":
      if (event.card_code != null) acked.add(cardKey(event.call_id, event.card_code, event.card_t));
      schedule("calls", "feed", "recent");
      break;
    case "coach":
      addToFeed(event);
      break;
    case "promise":
      if (c) c.promise = { id: event.id, status: event.status, amount: event.amount, due: event.due, t: event.t };
      followUpsChanged();
      schedule("calls", "recent", "drill");
      break;
  }
  if (event.type === "hint" && event.code === "promise_to_pay") followUpsChanged();
}

// --- promises followed up ------------------------------------------------------------------------
async function refreshFollowUps() {
  try {
    const due = await api(token, "/api/promises");
    $("followups").replaceChildren(...(due.length ? due.map((f) => el("li", {
      class: `followup ${f.status}`, "data-call": f.call_id,
    }, el("span", { class: "followup-who", text: f.customer ?? f.case_id }), " ", el("span", { text: f.line }))) :
      [el("li", { class: "empty", text: "暂无" })]));
  } catch (err) {
    $("followups").replaceChildren(el("li", { class: "empty", text: `无法读取：${err.message}` }));
  }
}

let followUpTimer = null;
function followUpsChanged() {          // the ledger moves in the same transaction as the event
  clearTimeout(followUpTimer);
  followUpTimer = setTimeout(refreshFollowUps, 300);
}

// --- drill-in: a side panel of the window's height, over the feed -------------------------------
function openDrill(callId) {
  if (drill?.callId === callId) return;
  stopListening();
  drill?.socket.stop();
  drill = { callId, transcript: new TranscriptView($("drill-transcript")), hints: [], acked: new Set() };
  drill.transcript.clear();
  $("drill").hidden = false;
  $("drill-title").textContent = `通话详情：${who(callId)}`;
  $("drill-status").textContent = "";
  $("drill-hints").replaceChildren(el("li", { class: "empty", text: "暂无" }));
  $("coach-status").textContent = "";
  const d = drill;
  drill.socket = new Subscription(`/ws/calls/${encodeURIComponent(callId)}`, token, {
    onEvent: (event) => onDrillEvent(d, event),
    onStatus: (state, reason) => {
      const text = { connected: "实时", reconnecting: "重连中…", closed: "通话已结束", refused: reason };
      if (drill === d) $("drill-status").textContent = text[state] ?? "";
    },
  });
  window.ferrymanDrill = drill;
  renderDrillMeta();
  schedule("calls");
  $("drill-close").focus({ preventScroll: true });
}

function renderDrillMeta() {
  if (!drill) return;
  const c = calls.get(drill.callId) ?? recent.get(drill.callId);
  const parts = c ? [
    `时长 ${c.ended_local ? `${clock(c.ended_t ?? 0)}（${ENDED_LABEL[c.state] ?? "已结束"}）` : elapsedText(c)}`,
    `情绪 ${MOOD_LABEL[c.mood_level] ?? "—"}`,
    unread(c).length ? `未读严重 ${unread(c).length}` : null,
    promiseTag(c)?.title,
  ].filter(Boolean) : [];
  const sig = `${drill.callId}|${parts.join("|")}`;
  const meta = $("drill-meta");
  if (meta.dataset.sig === sig) return;
  meta.dataset.sig = sig;
  meta.replaceChildren(el("span", { text: parts.join(" · ") }), " ",
    el("a", { class: "record-link", href: `calls.html#call=${encodeURIComponent(drill.callId)}`, target: "_blank",
              rel: "opener", text: "通话记录" }));
}

function onDrillEvent(d, event) {
  if (drill !== d) return;
  if (event.type === "transcript") d.transcript.show(event);
  const card = event.type === "hint" || event.type === "contact_rule";
  if (card) d.hints.push(event);
  if (event.type === "ack") d.acked.add(event.hint_id);
  if (card || event.type === "ack") {
    $("drill-hints").replaceChildren(...d.hints.slice().reverse().map((h) => hintItem(h, { acked: d.acked.has(h.id) })));
  }
}

// --- listen-in: the drilled call's audio, both sides mixed, in this browser -----------------------
let listener = null;

function stopListening(text = "") {
  listener?.stop();
  listener = null;
  window.ferrymanListener = null;
  $("listen").textContent = "监听";
  $("listen").setAttribute("aria-pressed", "false");
  if (text) notice(text);
}

async function toggleListening() {
  if (listener) return stopListening();
  if (!drill) return notice("请先在通话列表中选择一通通话，再监听。");
  const c = calls.get(drill.callId);
  if (!c || c.ended_local) return notice("通话已结束，无法监听。");
  listener = new Listener(drill.callId, token, {
    startedAt: c.started_at, serverOffset,
    onStatus: (state, code) => {
      if (state === "ended") stopListening("通话已结束，监听停止。");
      else if (state === "refused") stopListening(`无法监听（${code}）。`);
    },
  });
  window.ferrymanListener = listener;             // what the listen-in test reads
  $("listen").textContent = "停止监听";
  $("listen").setAttribute("aria-pressed", "true");
  await listener.start();                          // from this click: the page may play audio
}

function closeDrill() {
  const callId = drill?.callId;
  stopListening();
  drill?.socket.stop();
  drill = null;
  $("drill").hidden = true;
  rows.get(callId)?.querySelector("button.open")?.focus({ preventScroll: true });   // back where it was opened
  schedule("calls");
}

let noticeTimer = null;
function notice(text) {
  $("notice").textContent = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { $("notice").textContent = ""; }, 8000);
}

$("drill-close").addEventListener("click", closeDrill);
$("listen").addEventListener("click", toggleListening);
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && drill) closeDrill(); });

$("coach-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!drill) {                          // no call chosen: say so, where it can be seen
    $("coach-status").textContent = NO_CALL;
    notice(NO_CALL);
    return;
  }
  const text = $("coach-text").value.trim();
  if (!text) {
    $("coach-status").textContent = "请先写下要发给坐席的指导。";
    return;
  }
  try {
    await api(token, `/api/calls/${encodeURIComponent(drill.callId)}/coach`, { method: "POST", body: { text } });
    $("coach-status").textContent = "已发送";
    $("coach-text").value = "";
  } catch (err) {
    $("coach-status").textContent = `发送失败：${err.message}`;
  }
});

// --- sort and filters -----------------------------------------------------------------------------
// (rendered at once: the person who changed them is looking)
for (const id of ["sort", "filter-level"]) $(id).addEventListener("change", renderCalls);
$("filter-text").addEventListener("input", renderCalls);
for (const box of document.querySelectorAll(".feed-levels input")) box.addEventListener("change", renderFeed);
for (const radio of document.querySelectorAll(".feed-scope input")) radio.addEventListener("change", feedScope);
feedScope();

followFloor(token, { onEvent: onFloorEvent, status, tick });
refreshFollowUps();
setInterval(refreshFollowUps, 60_000);
