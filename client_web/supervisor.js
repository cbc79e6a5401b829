// The supervisor wall: every live call (agent, customer, elapsed time, mood, latest and gravest
// hint), an alert feed across calls, drill-in to one call, and coaching to that call's agent.
import {
  api, clock, el, graver, hintItem, moodMeter, enterAs, followFloor, SEVERITY_LABEL, Subscription, TranscriptView,
} from "./common.js";

const { token } = await enterAs("supervisor.html");      // wrong role or token: back to sign-in
const labels = await (await fetch("labels.json")).json();
const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };
const FEED_MAX = 100;
const ENDED_KEEP_S = 30; // an ended call stays on the wall this long, marked as ended

const calls = new Map(); // call_id -> summary (+ ended_local)
const feed = []; // newest last
const names = new Map(); // call_id -> {agent_name, customer}, for alerts of calls no longer live
let serverOffset = 0;
let drill = null; // {callId, socket, transcript, hints}

const now = () => Date.now() / 1000 + serverOffset;

// --- the wall ----------------------------------------------------------------------------------
function hintCell(hint) {
  if (!hint) return el("td", { class: "muted", text: "—" });
  return el("td", {}, el("span", { class: `badge ${hint.severity}`, text: SEVERITY_LABEL[hint.severity] }),
    " ", el("span", { text: hint.title }));
}

function renderCalls() {
  const rows = [...calls.values()].map((c) => el("tr", {
    class: `call-row ${c.ended_local ? "ended" : ""} ${c.gravest_hint?.severity ?? ""}`,
    "data-call": c.call_id,
  },
  el("td", { text: c.agent_name ?? c.agent_id ?? "—" }),
  el("td", { class: c.case_id ? "" : "unknown-case", text: c.customer ?? c.case_id ?? labels.unknown_case }),
  el("td", { class: "elapsed", "data-started": c.started_at ?? "" , text: elapsedText(c) }),
  el("td", {}, moodMeter(c.mood_score, c.mood_level)),
  hintCell(c.last_hint),
  hintCell(c.gravest_hint),
  el("td", {}, el("button", { type: "button", class: "open", onclick: () => openDrill(c.call_id), text: "查看" }))));
  $("calls-body").replaceChildren(...(rows.length ? rows
    : [el("tr", { class: "empty" }, el("td", { colspan: 7, text: "暂无进行中的通话" }))]));
  const live = [...calls.values()].filter((c) => !c.ended_local).length;
  $("count").textContent = `进行中 ${live} 通`;
}

function elapsedText(c) {
  if (c.ended_local) return labels.call_state[c.state] ?? "已结束";
  return c.started_at ? clock(now() - c.started_at) : "—";
}

function tick() {
  for (const cell of document.querySelectorAll("#calls-body td.elapsed")) {
    const c = calls.get(cell.closest("tr").dataset.call);
    if (c) cell.textContent = elapsedText(c);
  }
}

// --- the feed ----------------------------------------------------------------------------------
function who(callId) {
  const c = calls.get(callId) ?? names.get(callId);
  return c ? `${c.agent_name ?? c.agent_id ?? "—"} ↔ ${c.customer ?? c.case_id ?? labels.unknown_case}` : callId;
}

function feedItem(event) {
  if (event.type === "coach") {
    return el("li", { class: "feed-item coach", "data-call": event.call_id },
      el("span", { class: "feed-who", text: who(event.call_id) }),
      el("span", { text: `指导（${event.by}）：${event.text}` }));
  }
  return el("li", { class: `feed-item ${event.severity}`, "data-call": event.call_id, "data-code": event.code },
    el("span", { class: `badge ${event.severity}`, text: SEVERITY_LABEL[event.severity] }),
    el("span", { class: "feed-who", text: who(event.call_id) }),
    el("button", { type: "button", class: "link", onclick: () => openDrill(event.call_id), text: event.title }));
}

function renderFeed() {
  $("feed").replaceChildren(...(feed.length ? feed.slice().reverse().map(feedItem)
    : [el("li", { class: "empty", text: "暂无" })]));
}

function addToFeed(event) {
  feed.push(event);
  if (feed.length > FEED_MAX) feed.shift();
  renderFeed();
}

// --- floor events ------------------------------------------------------------------------------
async function onFloorEvent(event) {
  if (event.type === "snapshot") {
    serverOffset = event.server_time - Date.now() / 1000;
    $("who").textContent = `组长：${event.who.name}`;
    calls.clear();
    for (const c of event.calls) calls.set(c.call_id, c);
    feed.splice(0, feed.length, ...event.alerts);
    for (const [callId, people] of Object.entries(event.alert_calls)) names.set(callId, people);
    status("已连接");
    renderCalls();
    renderFeed();
    followUpsChanged();                 // (re)connected: what changed while we were away
    return;
  }
  const c = calls.get(event.call_id);
  switch (event.type) {
    case "call":
      if (event.state === "started") {
        // a row now (later events of the call may arrive before the summary does), details next
        calls.set(event.call_id, { call_id: event.call_id, agent_id: event.agent_id, case_id: event.case_id,
                                   started_at: now() - event.t, state: "started" });
        renderCalls();
        Object.assign(calls.get(event.call_id), await api(token, `/api/calls/${encodeURIComponent(event.call_id)}`));
      } else if (c) {
        Object.assign(c, { state: event.state, ended_local: true });
        setTimeout(() => { if (calls.get(event.call_id)?.ended_local) { calls.delete(event.call_id); renderCalls(); } },
          ENDED_KEEP_S * 1000);
      }
      break;
    case "mood":
      if (c) Object.assign(c, { mood_score: event.score, mood_level: event.level });
      break;
    case "hint":
    case "contact_rule":           // a contact rule the call breaks: an alert like a critical hint
      if (c) {
        c.last_hint = event;
        if (!c.gravest_hint || graver(event, c.gravest_hint) > 0) c.gravest_hint = event;
      }
      addToFeed(event);
      if (event.severity !== "info") $("announcer").textContent = `${who(event.call_id)}：${event.title}`;
      break;
    case "coach":
      addToFeed(event);
      break;
    case "promise":
      followUpsChanged();
      break;
  }
  if (event.type === "hint" && event.code === "promise_to_pay") followUpsChanged();
  renderCalls();
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

// --- drill-in ----------------------------------------------------------------------------------
function openDrill(callId) {
  drill?.socket.stop();
  const c = calls.get(callId);
  drill = { callId, transcript: new TranscriptView($("drill-transcript")), hints: [], acked: new Set() };
  drill.transcript.clear();
  $("drill").hidden = false;
  $("drill-title").textContent = `通话详情：${c ? who(callId) : callId}`;
  $("drill-hints").replaceChildren(el("li", { class: "empty", text: "暂无" }));
  $("coach-status").textContent = "";
  drill.socket = new Subscription(`/ws/calls/${encodeURIComponent(callId)}`, token, {
    onEvent: (event) => onDrillEvent(drill, event),
    onStatus: (state, reason) => {
      const text = { connected: "实时", reconnecting: "重连中…", closed: "通话已结束", refused: reason };
      $("drill-status").textContent = text[state] ?? "";
    },
  });
  window.ferrymanDrill = drill;
}

function onDrillEvent(d, event) {
  if (event.type === "transcript") d.transcript.show(event);
  const card = event.type === "hint" || event.type === "contact_rule";
  if (card) d.hints.push(event);
  if (event.type === "ack") d.acked.add(event.hint_id);
  if (card || event.type === "ack") {
    $("drill-hints").replaceChildren(...d.hints.slice().reverse().map((h) => hintItem(h, { acked: d.acked.has(h.id) })));
  }
}

$("drill-close").addEventListener("click", () => {
  drill?.socket.stop();
  drill = null;
  $("drill").hidden = true;
});

$("coach-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!drill) return;
  const text = $("coach-text").value.trim();
  try {
    await api(token, `/api/calls/${encodeURIComponent(drill.callId)}/coach`, { method: "POST", body: { text } });
    $("coach-status").textContent = "已发送";
    $("coach-text").value = "";
  } catch (err) {
    $("coach-status").textContent = `发送失败：${err.message}`;
  }
});

followFloor(token, { onEvent: onFloorEvent, status, tick });
refreshFollowUps();
setInterval(refreshFollowUps, 60_000);
