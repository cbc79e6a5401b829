// The agent panel: the case brief as soon as the call opens, then the live transcript, one
// primary hint card (gravest unacknowledged, newest first among equals), older hints, mood,
// the opening checklist, the promise-to-pay card and the supervisor's coaching.
import {
  api, clock, el, graver, hintItem, moodMeter, enterAs, followFloor, SEVERITY_LABEL, Subscription, TranscriptView, yuan,
} from "./common.js";

const { token } = await enterAs("agent.html");      // wrong role or token: back to sign-in
const labels = await (await fetch("labels.json")).json();
const $ = (id) => document.getElementById(id);
const transcript = new TranscriptView($("transcript"));
const status = (text) => { $("status").textContent = text; };

let call = null; // {id, summary, hints: Map, acked: Set, lastT, socket, promiseHint}
let serverOffset = 0; // server clock - browser clock (seconds)

// --- the brief -------------------------------------------------------------------------------
function highlightTopics(text, topics) {
  const parts = [text];
  for (const topic of topics.filter(Boolean)) {
    for (let i = 0; i < parts.length; i++) {
      if (typeof parts[i] !== "string" || !parts[i].includes(topic)) continue;
      const pieces = parts[i].split(topic).flatMap((p, k) => (k ? [el("mark", { text: topic }), p] : [p]));
      parts.splice(i, 1, ...pieces);
      i += pieces.length - 1;
    }
  }
  return parts;
}

function debtValue(value, kind) {
  if (value === undefined || value === null) return null;
  if (kind === "yuan") return yuan(value);
  if (kind === "days") return `${value} 天`;
  return `每月 ${value} 日`;
}

function renderBrief(c) {
  const customer = c.customer;
  $("brief-customer").textContent =
    `${customer.name}${labels.gender[customer.gender] ? " " + labels.gender[customer.gender] : ""}` +
    `${customer.age ? `，${customer.age} 岁` : ""}`;
  $("brief-case").textContent = c.case_id;
  $("brief-risk").textContent = labels.complaint_risk[c.complaint_risk] ?? c.complaint_risk;
  $("brief-risk").className = `risk ${c.complaint_risk}`;
  $("brief-topics").replaceChildren(...(c.sensitive_topics.length
    ? c.sensitive_topics.map((t) => el("li", { class: "chip sensitive", text: `避免：${t}` }))
    : [el("li", { class: "empty", text: "无" })]));
  $("brief-notes").replaceChildren(...c.notes.map((n) => {
    const sensitive = c.sensitive_topics.some((t) => n.includes(t));
    return el("li", { class: sensitive ? "sensitive" : "" }, ...highlightTopics(n, c.sensitive_topics));
  }));
  $("brief-debt").replaceChildren(...labels.debt
    .map(([key, label, kind]) => [label, debtValue(c.debt[key], kind), key])
    .filter(([, value]) => value !== null)
    .map(([label, value, key]) => el("div", { class: `debt-item ${key}` },
      el("span", { class: "debt-label", text: label }), el("span", { class: "debt-value", text: value }))));
  $("brief-card").replaceChildren(
    el("strong", { text: labels.card_status[c.card.status] ?? c.card.status }),
    c.card.restore_condition ? el("span", { text: `：${c.card.restore_condition}` }) : null);
  $("brief-plans").replaceChildren(...(c.plans.length ? c.plans.map((p) => el("li", {},
    el("strong", { text: p.name }),
    el("div", { class: "plan-line", text: `条件：${p.condition || "—"}` }),
    el("div", { class: "plan-line", text: `优惠：${p.benefit || "—"}` }))) : [el("li", { class: "empty", text: "无" })]));
  $("brief-empty").hidden = true;
  $("brief-body").hidden = false;
}

async function loadBrief(summary) {
  $("brief-body").hidden = true;
  $("brief-empty").hidden = false;
  $("brief-empty").classList.toggle("unknown-case", !summary.case_id);
  if (!summary.case_id) {        // a call the PBX streamed and nobody registered
    $("brief-empty").textContent = labels.unknown_case_brief;
    return;
  }
  try {
    renderBrief(await api(token, `/api/calls/${encodeURIComponent(summary.call_id)}/case`));
    renderHistory(await api(token, `/api/calls/${encodeURIComponent(summary.call_id)}/history`));
    renderFollowUps(await api(token, `/api/calls/${encodeURIComponent(summary.call_id)}/followups`));
  } catch (err) {
    $("brief-empty").textContent = `无法读取案件：${err.message}`;
  }
}

// The case's promises from earlier calls, said plainly: "承诺 12月3日 还 12,000 元 — 未见入账".
function renderFollowUps(followUps) {
  $("brief-followups").replaceChildren(...(followUps.length
    ? followUps.map((f) => el("li", { class: `followup ${f.status}`, text: f.line }))
    : [el("li", { class: "empty", text: "暂无承诺记录" })]));
}

// What the case's earlier calls left: their saved wrap-ups, newest first.
function renderHistory(records) {
  $("brief-history").replaceChildren(...(records.length ? records.map((r) => el("li", {},
    el("div", { class: "history-head",
      text: `${new Date(r.saved_at * 1000).toLocaleDateString("zh-CN")} ${r.by ?? ""} · ${r.disposition_label}` +
        (r.promise?.amount ? `：承诺 ${r.promise.due ?? ""} 还 ${yuan(r.promise.amount)}` : "") }),
    ...r.summary.map((line) => el("div", { class: "history-line", text: line.text })),
    ...(r.proposed_topics ?? []).map((topic) => el("div", { class: "history-line flashpoint",
      text: `客户对「${topic}」话题反应激烈（建议列为敏感话题，待组长确认）` })))) :
    [el("li", { class: "empty", text: "暂无记录" })]));
}

// --- hints -----------------------------------------------------------------------------------
function primaryHint() {
  const maxAge = labels.primary_max_age_s;
  const open = [...call.hints.values()].filter((h) => !call.acked.has(h.id) && call.lastT - h.t <= maxAge);
  return open.reduce((best, h) => (!best || graver(h, best) > 0 || (graver(h, best) === 0 && h.t >= best.t) ? h : best), null);
}

async function acknowledge(hint) {
  call.acked.add(hint.id);
  renderHints();
  try {
    await api(token, `/api/calls/${encodeURIComponent(call.id)}/ack`, { method: "POST", body: { hint_id: hint.id } });
  } catch (err) {
    if (err.status !== 409) status(`确认失败：${err.message}`);   // 409: the call has ended; keep it read here
  }
}

function renderHints() {
  const primary = primaryHint();
  const box = $("primary");
  if (!primary) {
    box.className = "primary";
    box.replaceChildren(el("p", { class: "empty", text: "暂无提示" }));
  } else {
    box.className = `primary ${primary.severity}`;
    box.replaceChildren(el("div", { class: "card", "data-code": primary.code, "data-id": primary.id },
      el("div", { class: "card-head" },
        el("span", { class: `badge ${primary.severity}`, text: SEVERITY_LABEL[primary.severity] }),
        el("h2", { class: "card-title", text: primary.title }),
        el("span", { class: "hint-time", text: clock(primary.t) })),
      el("p", { class: "card-detail", text: primary.detail }),
      el("p", { class: "card-suggestion" }, el("span", { class: "label", text: "建议话术：" }), primary.suggestion),
      primary.evidence
        ? el("p", { class: "card-evidence", text: `${primary.evidence.channel === "agent" ? "坐席" : "客户"}说：“${primary.evidence.text}”` })
        : el("p", { class: "card-evidence", text: labels.contact_rule_recorded }),
      el("button", { type: "button", class: "ack", onclick: () => acknowledge(primary), text: "知道了" })));
  }
  const older = [...call.hints.values()].filter((h) => h !== primary).reverse();
  $("older").replaceChildren(...(older.length
    ? older.map((h) => hintItem(h, { acked: call.acked.has(h.id), extra: el("div", { class: "hint-suggestion", text: h.suggestion }) }))
    : [el("li", { class: "empty", text: "暂无" })]));
}

// --- promise -----------------------------------------------------------------------------------
function showPromise(hint) {
  const p = hint.data.promise;
  call.promiseHint = hint;
  $("promise").hidden = false;
  $("promise-said").textContent = `客户说：“${p.text}”${p.relation ? `（${p.relation}）` : ""}`;
  $("promise-amount").value = p.amount ?? "";
  $("promise-due").value = p.due ?? "";
  $("promise-status").textContent = "请与客户核对金额和日期后确认。";
  $("promise").classList.remove("saved");
}

function promiseSaved(event) {
  $("promise").hidden = false;
  $("promise").classList.add("saved");
  $("promise-amount").value = event.amount;
  $("promise-due").value = event.due;
  const verb = event.status === "corrected" ? "已更正并保存" : "已确认并保存";
  $("promise-status").textContent = `${verb}：${yuan(event.amount)}，${event.due} 前还款。`;
}

$("promise-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { amount: Number($("promise-amount").value), due: $("promise-due").value,
                 hint_id: call?.promiseHint?.id ?? null };
  try {
    await api(token, `/api/calls/${encodeURIComponent(call.id)}/promise`, { method: "POST", body });
  } catch (err) {
    $("promise-status").textContent = `保存失败：${err.message}`;
  }
});

// --- the wrap-up (小结) after hang-up --------------------------------------------------------------
function fromTurn(source) {
  return source ? `（${labels.channel[source.channel] ?? source.channel}：“${source.quote}”）` : "";
}

function sourcedItem(line) {
  return el("li", { title: fromTurn(line.source) }, el("span", { text: line.text }),
    el("span", { class: "from", text: fromTurn(line.source) }));
}

async function showWrapup() {
  const wrapping = call;
  const w = await api(token, `/api/calls/${encodeURIComponent(wrapping.id)}/wrapup`);
  if (call !== wrapping) return;            // the next call came in meanwhile: its panel, not this draft
  call.wrapup = w;
  $("wrapup-disposition").replaceChildren(...Object.entries(w.dispositions).map(([code, label]) =>
    el("option", { value: code, text: label })));
  $("wrapup-disposition").value = w.disposition;
  $("wrapup-amount").value = w.promise?.amount ?? "";
  $("wrapup-due").value = w.promise?.due ?? "";
  $("wrapup-situation").replaceChildren(...(w.situation.length ? w.situation.map(sourcedItem)
    : [el("li", { class: "empty", text: "无" })]));
  $("wrapup-topics").replaceChildren(...(w.avoid_topics.length ? w.avoid_topics.map(sourcedItem)
    : [el("li", { class: "empty", text: "无" })]));
  $("wrapup-summary").value = w.summary.map((line) => line.text).join("\n");
  $("wrapup").hidden = false;
  $("wrapup").classList.toggle("saved", Boolean(w.saved));
  $("wrapup-status").textContent = w.saved ? "小结已保存。" : "系统已根据通话内容起草，请核对修改后保存。";
}

$("wrapup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const amount = Number($("wrapup-amount").value), due = $("wrapup-due").value;
  if ((amount > 0) !== Boolean(due)) {
    $("wrapup-status").textContent = "请同时填写承诺金额和还款日期（没有承诺则都清空）。";
    return;
  }
  const body = {
    disposition: $("wrapup-disposition").value,
    promise: amount > 0 && due ? { amount, due } : null,
    summary: $("wrapup-summary").value.split("\n").map((line) => line.trim()).filter(Boolean),
    situation: call.wrapup.situation.map((line) => line.text),
  };
  try {
    await api(token, `/api/calls/${encodeURIComponent(call.wrapup.call_id)}/wrapup`, { method: "PUT", body });
    $("wrapup").classList.add("saved");
    $("wrapup-status").textContent = "小结已保存。";
  } catch (err) {
    $("wrapup-status").textContent = `保存失败：${err.message}`;
  }
});

// --- one call's events ----------------------------------------------------------------------------
// The primary card re-renders on every ack or new hint; announcing from it would repeat
// itself, so each new hint is announced once, here.
function announce(hint) {
  const region = hint.severity === "critical" ? "announce-urgent" : "announcer";
  $(region).textContent = `新提示（${SEVERITY_LABEL[hint.severity]}）：${hint.title}。${hint.suggestion}`;
}

function onCallEvent(event) {
  if (event.t !== undefined) call.lastT = Math.max(call.lastT, event.t);
  switch (event.type) {
    case "call":
      if (event.state !== "started") {
        status(labels.call_state[event.state] ?? event.state);
        if (!call.ended) showWrapup().catch((err) => { $("wrapup-status").textContent = `无法起草小结：${err.message}`; });
        call.ended = true;
      } else status("通话中");
      break;
    case "transcript":
      transcript.show(event);
      break;
    case "hint":
    case "contact_rule":           // a contact rule this call breaks: a critical card like a hint's
      call.hints.set(event.id, event);
      if (event.code === "promise_to_pay") showPromise(event);
      announce(event);
      break;
    case "ack":
      call.acked.add(event.hint_id);
      break;
    case "mood":
      $("mood").replaceChildren(moodMeter(event.score, event.level));
      break;
    case "checklist":
      $("checklist").replaceChildren(...Object.entries(event.items).map(([key, done]) =>
        el("li", { class: done ? "done" : "todo", "data-item": key },
          el("span", { class: "tick", "aria-hidden": "true", text: done ? "✓" : "○" }),
          el("span", { text: event.labels[key] ?? key }),
          el("span", { class: "visually-hidden", text: done ? "（已告知）" : "（未告知）" }))));
      break;
    case "coach":
      $("coach").hidden = false;
      $("coach-from").textContent = `组长 ${event.by}：`;
      $("coach-text").textContent = event.text;
      break;
    case "promise":
      promiseSaved(event);
      break;
  }
  if (["hint", "contact_rule", "ack", "call"].includes(event.type)) renderHints();
}

async function openCall(summary) {
  call?.socket.stop();
  call = { id: summary.call_id, summary, hints: new Map(), acked: new Set(), lastT: 0, ended: false };
  transcript.clear();
  $("call-title").textContent = `通话 ${summary.call_id} · ${summary.customer ?? (summary.case_id ? "" : labels.unknown_case)}`;
  $("coach").hidden = true;
  $("promise").hidden = true;
  $("wrapup").hidden = true;
  $("mood").replaceChildren(moodMeter(null, null));
  renderHints();
  await loadBrief(summary);
  call.socket = new Subscription(`/ws/calls/${encodeURIComponent(summary.call_id)}`, token, {
    onEvent: onCallEvent,
    onStatus: (state, reason) => {
      if (state === "connected" && !call.ended) status("通话中");
      if (state === "reconnecting") status("连接中断，正在重连…");
      if (state === "refused") status(reason);
    },
  });
  window.ferrymanCall = call; // lets tests drop the socket the way a network would
  tick();
}

// --- the agent's calls (floor) --------------------------------------------------------------------
function onFloorEvent(event) {
  if (event.type === "snapshot") {
    serverOffset = event.server_time - Date.now() / 1000;
    $("who").textContent = `坐席：${event.who.name}`;
    const newest = event.calls.at(-1);
    if (newest && newest.call_id !== call?.id) openCall(newest);
    return;
  }
  if (event.type === "call" && event.state === "started" && event.call_id !== call?.id) {
    api(token, `/api/calls/${encodeURIComponent(event.call_id)}`).then(openCall);
  }
}

function tick() {
  const started = call?.summary?.started_at;
  if (started && !call.ended) $("elapsed").textContent = clock(Date.now() / 1000 + serverOffset - started);
}

followFloor(token, { onEvent: onFloorEvent, status, tick,
                     onConnected: () => { if (!call) status("已登录，等待来电"); } });
