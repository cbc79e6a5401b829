// The agent panel: the case brief as soon as the call opens, then the live transcript, one
// primary card that is right now (the policy in cards.js: cards retire when the talk moves on,
// the customer calms, the agent has said it, a newer turn brings its own; duplicates merged),
// older cards with why they left, mood, the opening checklist, the promise-to-pay card
// (确认 / 修改 / 不是承诺) and the supervisor's coaching with its history. Quiet mode shows
// only critical cards.
import {
  api, clock, el, hintItem, moodMeter, enterAs, followFloor, SEVERITY_LABEL, Subscription, TranscriptView, yuan,
} from "./common.js";
import { CardBoard } from "./cards.js";

const { token } = await enterAs("agent.html");      // wrong role or token: back to sign-in
const labels = await (await fetch("labels.json")).json();
const $ = (id) => document.getElementById(id);
const transcript = new TranscriptView($("transcript"));
// Cards, the promise and the coaching above the transcript grow and shrink it: keep its newest
// line in view.
new ResizeObserver(([entry]) => { entry.target.scrollTop = entry.target.scrollHeight; })
  .observe($("transcript").parentElement);
const status = (text) => { $("status").textContent = text; };

let call = null; // {id, summary, board: CardBoard, socket, promiseHint, coaching, ended}
let serverOffset = 0; // server clock - browser clock (seconds)
const QUIET_KEY = "ferryman.quiet";
let quiet = localStorage.getItem(QUIET_KEY) === "1";

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

// --- cards -----------------------------------------------------------------------------------
// Seconds of call time now: the newest event's, or the clock's while the call is live (cards
// expire while nobody speaks); frozen at hang-up.
function callNow() {
  const seen = call.board.lastT;
  const started = call.summary?.started_at;
  if (call.ended || !started) return seen;
  return Math.max(seen, Date.now() / 1000 + serverOffset - started);
}

function stateLabel(state) {
  return labels.card_state?.[state] ?? state;
}

async function acknowledge(group) {
  const ids = group.members.map((m) => m.id).filter((id) => !call.board.acked.has(id));
  for (const id of ids) call.board.acked.add(id);
  renderHints();
  try {
    for (const id of ids) {
      await api(token, `/api/calls/${encodeURIComponent(call.id)}/ack`, { method: "POST", body: { hint_id: id } });
    }
  } catch (err) {
    if (err.status !== 409) status(`确认失败：${err.message}`);   // 409: the call has ended; keep it read here
  }
}

// The card in the primary slot. A promise card stays short: the promise card under it holds
// what the customer said and what it means for the case.
function primaryCard(group) {
  const card = group.lead;
  const promise = card.code === "promise_to_pay";
  const merged = group.members.length > 1
    ? el("p", { class: "card-merged", text: `同一提示出现 ${group.members.length} 次，已合并` }) : null;
  return el("div", { class: "card", "data-code": card.code, "data-id": card.id },
    el("div", { class: "card-head" },
      el("span", { class: `badge ${card.severity}`, text: SEVERITY_LABEL[card.severity] }),
      el("h2", { class: "card-title", text: card.title }),
      el("span", { class: "hint-time", text: clock(card.t) })),
    promise ? null : el("p", { class: "card-detail", text: card.detail }),
    el("p", { class: "card-suggestion" }, el("span", { class: "label", text: "建议话术：" }), card.suggestion),
    promise ? el("p", { class: "card-next", text: "请在下方核对金额和日期：确认、修改，或标记“不是承诺”。" })
      : card.evidence
        ? el("p", { class: "card-evidence", text: `${card.evidence.channel === "agent" ? "坐席" : "客户"}说：“${card.evidence.text}”` })
        : el("p", { class: "card-evidence", text: labels.contact_rule_recorded }),
    merged,
    el("button", { type: "button", class: "ack", onclick: () => acknowledge(group), text: "知道了" }));
}

// The older cards, newest first: each group once (its newest words), saying why it left the
// primary slot; merged duplicates stay in the list, hidden, under the card they joined.
function olderItems(groups, primary) {
  const items = [];
  for (const g of groups) {
    const quietHidden = quiet && g.lead.severity !== "critical";
    if (g !== primary) {
      const li = hintItem(g.lead, {
        acked: g.state === "acked",
        extra: el("div", { class: "hint-suggestion" },
          el("span", { class: `card-state ${g.state}`, text: stateLabel(g.state) }),
          g.members.length > 1 ? el("span", { class: "merged-count", text: `×${g.members.length}` }) : null,
          el("span", { text: g.lead.suggestion })),
      });
      li.classList.add(`state-${g.state}`);
      li.dataset.state = g.state;
      if (quietHidden) li.hidden = true;
      items.push(li);
    }
    for (const m of g.members) {
      if (m === g.lead) continue;
      const dup = hintItem(m);
      dup.classList.add("merged");
      dup.dataset.mergedInto = g.lead.id;
      dup.hidden = true;
      items.push(dup);
    }
  }
  return items;
}

let shownKey = "", shownListKey = "";
function renderHints() {
  if (!call) return;
  const view = call.board.view(callNow(), { quiet });
  const primary = view.primary;
  const box = $("primary");
  const key = primary ? `${primary.lead.id}:${primary.members.length}` : "";
  if (key !== shownKey || !box.firstElementChild) {
    shownKey = key;
    if (!primary) {
      box.className = "primary";
      box.replaceChildren(el("p", { class: "empty", text: quiet ? "暂无严重提示（安静模式）" : "暂无提示" }));
    } else {
      box.className = `primary ${primary.lead.severity}`;
      box.replaceChildren(primaryCard(primary));
    }
  }
  const listKey = `${quiet}|${key}|` + view.groups.map((g) => `${g.lead.id}:${g.members.length}:${g.state}`).join(",");
  if (listKey === shownListKey) return;             // the clock ticked and nothing changed
  shownListKey = listKey;
  const items = olderItems(view.groups, primary);
  $("older").replaceChildren(...(items.some((li) => !li.hidden) ? items : [...items, el("li", { class: "empty", text: "暂无" })]));
}

function setQuiet(on) {
  quiet = on;
  localStorage.setItem(QUIET_KEY, on ? "1" : "0");
  $("quiet-toggle").checked = on;
  document.body.classList.toggle("quiet", on);
  shownKey = shownListKey = null;
  renderHints();
}
$("quiet-label").title = labels.quiet_mode ?? "";
$("quiet-toggle").addEventListener("change", (e) => setQuiet(e.target.checked));

// --- promise -----------------------------------------------------------------------------------
// Read-only as the card captured it until the agent presses 修改 (or there is no amount to confirm);
// the focus moves only on the agent's own click.
function promiseEditable(on, { focus = false } = {}) {
  $("promise-amount").readOnly = !on;
  $("promise-due").readOnly = !on;
  $("promise").classList.toggle("editing", on);
  if (on && focus) $("promise-amount").focus();
}

function dateTextLine(p) {
  if (!p.date_text) return p.due ? "" : "客户未说还款日期，可直接确认，或点“修改”填写日期。";
  return p.due ? `客户说“${p.date_text}”，已换算为 ${p.due}。`
    : `客户说“${p.date_text}”，未换算成具体日期：可直接按此确认，或点“修改”填写日期。`;
}

function showPromise(hint) {
  const p = hint.data.promise;
  call.promiseHint = hint;
  $("promise").hidden = false;
  $("promise").classList.remove("saved", "dismissed");
  $("promise-said").replaceChildren(`客户说：“${p.text}”`,
    p.relation ? el("span", { class: "promise-relation", text: p.relation }) : "");
  $("promise-amount").value = p.amount ?? "";
  $("promise-due").value = p.due ?? "";
  $("promise-date-text").textContent = dateTextLine(p);
  $("promise-confirm").textContent = "确认";
  $("promise-confirm").disabled = false;
  $("promise-dismiss").disabled = false;
  promiseEditable(p.amount == null);               // no amount heard: the agent has to type one
  $("promise-status").textContent = p.amount == null ? "未听清金额：请与客户核对后填写金额再确认。" : "";
}

function promiseSaved(event) {
  $("promise").hidden = false;
  promiseEditable(false);
  if (event.status === "withdrawn") {
    $("promise").classList.remove("saved");
    $("promise").classList.add("dismissed");
    $("promise-confirm").textContent = "确认";
    $("promise-confirm").disabled = false;
    $("promise-dismiss").disabled = true;
    $("promise-status").textContent = "已标记为“不是承诺”，已记入通话记录。";
    return;
  }
  $("promise").classList.remove("dismissed");
  $("promise").classList.add("saved");
  $("promise-amount").value = event.amount;
  $("promise-due").value = event.due ?? "";
  $("promise-confirm").textContent = "已确认";
  $("promise-confirm").disabled = true;
  $("promise-dismiss").disabled = false;
  const verb = event.status === "corrected" ? "已更正并保存" : "已确认并保存";
  const said = call?.promiseHint?.data?.promise?.date_text;
  const when = event.due ? `${event.due} 前还款` : `还款时间：${said ? `“${said}”（客户原话）` : "未定"}`;
  $("promise-status").textContent = `${verb}：${yuan(event.amount)}，${when}。`;
}

$("promise-edit").addEventListener("click", () => {
  promiseEditable(true, { focus: true });
  $("promise-confirm").textContent = "保存修改";
  $("promise-confirm").disabled = false;
});

$("promise-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const amount = Number($("promise-amount").value);
  if (!(amount > 0)) {
    promiseEditable(true, { focus: true });
    $("promise-status").textContent = "请填写承诺金额（元）后再确认。";
    return;
  }
  const body = { amount, due: $("promise-due").value || null, hint_id: call?.promiseHint?.id ?? null };
  $("promise-confirm").disabled = true;
  try {
    await api(token, `/api/calls/${encodeURIComponent(call.id)}/promise`, { method: "POST", body });
  } catch (err) {
    $("promise-confirm").disabled = false;
    $("promise-status").textContent = `保存失败：${err.message}`;
  }
});

$("promise-dismiss").addEventListener("click", async () => {
  $("promise-dismiss").disabled = true;
  try {
    await api(token, `/api/calls/${encodeURIComponent(call.id)}/promise/withdraw`,
              { method: "POST", body: { hint_id: call?.promiseHint?.id ?? null } });
  } catch (err) {
    $("promise-dismiss").disabled = false;
    $("promise-status").textContent = `保存失败：${err.message}`;
  }
});

// --- coaching ----------------------------------------------------------------------------------
// Wall-clock time of a moment of the call (call time when the start is unknown).
function timeOf(t) {
  const started = call?.summary?.started_at;
  if (!started) return clock(t);
  return new Date((started + t) * 1000).toLocaleTimeString("zh-CN", { hour12: false });
}

function renderCoaching() {
  const [latest, ...earlier] = [...call.coaching].reverse();        // newest first
  $("coach").hidden = !latest;
  if (!latest) return;
  $("coach-time").textContent = timeOf(latest.t);
  $("coach-from").textContent = `组长 ${latest.by}：`;
  $("coach-text").textContent = latest.text;
  $("coach-history").replaceChildren(...earlier.map((c) => el("li", { class: "coach-item" },
    el("time", { class: "coach-time", text: timeOf(c.t), title: `通话 ${clock(c.t)}` }),
    el("span", { class: "coach-from", text: `组长 ${c.by}：` }),
    el("span", { class: "coach-line", text: c.text }))));
}

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
  const noDay = !w.saved && w.promise?.amount && !w.promise?.due && w.promise?.date_text;
  $("wrapup-status").textContent = w.saved ? "小结已保存。" : "系统已根据通话内容起草，请核对修改后保存。" +
    (noDay ? `客户说“${w.promise.date_text}”还款：能约定具体日期就填上；不填则按客户原话保存（不按日期跟进）。` : "");
}

$("wrapup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const amount = Number($("wrapup-amount").value), due = $("wrapup-due").value;
  if (!(amount > 0) && due) {
    $("wrapup-status").textContent = "填写了还款日期但没有金额：请填写承诺金额（没有承诺则都清空）。";
    return;
  }
  const body = {
    disposition: $("wrapup-disposition").value,
    promise: amount > 0 ? { amount, due: due || null } : null,      // no day: kept as the customer said it
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
// The primary card re-renders as the call goes on; announcing from it would repeat itself, so
// each new card is announced once, here (not a duplicate merged into a card already announced;
// in quiet mode only critical ones).
function announce(hint) {
  if (quiet && hint.severity !== "critical") return;
  const region = hint.severity === "critical" ? "announce-urgent" : "announcer";
  $(region).textContent = `新提示（${SEVERITY_LABEL[hint.severity]}）：${hint.title}。${hint.suggestion}`;
}

// What may change which card is right now.
const CARD_CONTEXT = new Set(["hint", "contact_rule", "ack", "call", "mood", "promise", "checklist"]);

function onCallEvent(event) {
  const known = event.id && call.board.groupOf(event.id);
  call.board.apply(event);
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
      if (known) break;            // delivered again
      if (event.code === "promise_to_pay") showPromise(event);
      if (call.board.groupOf(event.id).members.length === 1) announce(event);
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
      call.coaching.push(event);
      renderCoaching();
      break;
    case "promise":
      promiseSaved(event);
      break;
  }
  if (CARD_CONTEXT.has(event.type) || (event.type === "transcript" && event.final)) renderHints();
}

async function openCall(summary) {
  call?.socket?.stop();          // (no socket yet if that call was still loading its brief)
  call = { id: summary.call_id, summary, board: new CardBoard(labels.card_policy ?? {}), coaching: [],
           promiseHint: null, ended: false };
  transcript.clear();
  $("call-title").textContent = `通话 ${summary.call_id} · ${summary.customer ?? (summary.case_id ? "" : labels.unknown_case)}`;
  $("coach").hidden = true;
  $("coach-history").replaceChildren();
  $("promise").hidden = true;
  $("wrapup").hidden = true;
  $("mood").replaceChildren(moodMeter(null, null));
  shownKey = shownListKey = null;
  renderHints();
  const opening = call;
  await loadBrief(summary);
  if (call !== opening) return;  // another call came in while the brief loaded: that one is shown
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
  if (call && !call.ended) renderHints();          // cards expire while nobody speaks
}

setQuiet(quiet);

followFloor(token, { onEvent: onFloorEvent, status, tick,
                     onConnected: () => { if (!call) status("已登录，等待来电"); } });
