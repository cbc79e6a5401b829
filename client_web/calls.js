// The calls page: find a call after the fact (by what was said, agent, case, dates, result,
// score, violations) and read its full record with the QA scorecard. Agents see their own.
import { api, clock, el, enterAs, SEVERITY_LABEL, SPEAKERS, yuan } from "./common.js";

const $ = (id) => document.getElementById(id);
const { token, me } = await enterAs("calls.html");      // wrong role or token: back to sign-in
const status = (text) => { $("status").textContent = text; };
const STATUS_LABEL = { pass: "达标", fail: "未达标", "n/a": "不适用" };
let terms = [];

function when(epoch) {
  return epoch ? new Date(epoch * 1000).toLocaleString("zh-CN", { hour12: false }) : "—";
}

function duration(c) {
  return c.started_at && c.ended_at ? clock(c.ended_at - c.started_at) : "进行中";
}

// The searched words marked in a line of transcript.
function marked(text, words) {
  const parts = [];
  let rest = text;
  while (rest) {
    const hits = words.map((w) => [rest.indexOf(w), w]).filter(([i]) => i >= 0).sort((a, b) => a[0] - b[0]);
    if (!hits.length) { parts.push(rest); break; }
    const [i, w] = hits[0];
    parts.push(rest.slice(0, i), el("mark", { text: w }));
    rest = rest.slice(i + w.length);
  }
  return parts;
}

// --- the list -----------------------------------------------------------------------------------
function query() {
  const form = new FormData($("filters"));
  const params = new URLSearchParams();
  for (const [key, value] of form.entries()) if (String(value).trim()) params.set(key, String(value).trim());
  params.set("tz", Intl.DateTimeFormat().resolvedOptions().timeZone);     // the days are the reader's days
  return params;
}

function row(c) {
  const turns = c.turns.slice(0, 2).map((t) => el("button", {
    type: "button", class: "link turn-link", "data-turn": `${t.channel}-${t.utterance}`,
    onclick: (e) => { e.stopPropagation(); openRecord(c.call_id, `${t.channel}-${t.utterance}`); },
  }, `${SPEAKERS[t.channel] ?? t.channel} ${clock(t.start ?? 0)}：`, ...marked(t.text ?? "", terms)));
  return el("tr", { class: `call-row record-row ${c.violations ? "critical" : ""}`, "data-call": c.call_id,
                    onclick: () => openRecord(c.call_id) },
    el("td", { text: when(c.started_at) }),
    el("td", { text: c.agent_name ?? c.agent_id ?? "—" }),
    el("td", { text: c.customer ?? c.case_id ?? "案件未知" }),
    el("td", { text: duration(c) }),
    el("td", { class: "disposition", text: `${c.disposition_label}${c.wrapup_saved ? "" : "（草稿）"}` }),
    el("td", { class: "score", text: c.score ?? "—" }),
    el("td", { class: "violations", text: c.violations ? String(c.violations) : "无" }),
    el("td", { class: "matches" }, ...turns));
}

let searches = 0;      // a slower, older answer must not overwrite the newer one

async function search() {
  const mine = ++searches;
  status("查询中…");
  try {
    const found = await api(token, `/api/records?${query()}`);
    if (mine !== searches) return;
    terms = found.terms;
    $("records-body").replaceChildren(...(found.calls.length ? found.calls.map(row)
      : [el("tr", { class: "empty" }, el("td", { colspan: 8, text: "没有符合条件的通话" }))]));
    $("records-more").hidden = !(found.more || found.truncated);
    $("records-more").textContent = found.truncated
      ? "只查找了最近的部分记录（常用词太多），更早的通话可能未列出；请缩小日期范围或加上其他条件。"
      : "结果较多，仅显示最新的部分；请缩小条件。";
    fillDispositions(found.dispositions);
    status(`共 ${found.calls.length} 通`);
  } catch (err) {
    if (mine === searches) status(`查询失败：${err.message}`);
  }
}

function fillDispositions(dispositions) {
  const select = $("f-disposition");
  if (select.options.length > 1 || !dispositions) return;
  select.append(...Object.entries(dispositions).map(([code, label]) => el("option", { value: code, text: label })));
}

// --- one call's record ----------------------------------------------------------------------------
function showTurn(key) {
  const line = document.querySelector(`#record-transcript li[data-turn="${key}"]`);
  if (!line) return;
  document.querySelectorAll("#record-transcript li.match").forEach((li) => li.classList.remove("match"));
  line.classList.add("match");
  line.scrollIntoView({ block: "center" });
}

function sourceLink(source) {
  if (!source) return null;
  const key = source.utterance !== undefined && source.utterance !== null ? `${source.channel}-${source.utterance}` : null;
  const label = `（${clock(source.t)} ${SPEAKERS[source.channel] ?? ""}）`;
  return key ? el("button", { type: "button", class: "link from", onclick: () => showTurn(key), text: label })
    : el("span", { class: "from", text: label });
}

function scoreItem(item) {
  return el("li", { class: `score-item ${item.status}`, "data-item": item.key },
    el("div", { class: "score-head" },
      el("span", { class: "score-label", text: item.label }),
      el("span", { class: "score-points", text: item.status === "n/a" ? STATUS_LABEL[item.status]
        : `${Math.round(item.earned * 10) / 10} / ${item.max_points} · ${STATUS_LABEL[item.status]}` })),
    el("p", { class: "score-finding", text: item.finding }),
    item.details.length ? el("ul", { class: "wrapup-lines" },
      ...item.details.map((d) => el("li", {}, d.text, " ", sourceLink(d.source)))) : null);
}

function renderWrapup(w, dispositions, caseId) {
  const lines = (w.summary ?? []).map((l) => el("li", {}, l.text, " ", sourceLink(l.source)));
  const promise = w.promise ? `承诺：${w.promise.amount ? yuan(w.promise.amount) : "金额未定"}，${w.promise.due ?? "日期未定"}` : "无还款承诺";
  $("record-wrapup").replaceChildren(
    el("p", { class: "wrapup-head", text: `${dispositions[w.disposition] ?? w.disposition}${w.saved === false ? "（系统草稿，坐席未保存）" : ""}` }),
    el("p", { text: promise }),
    el("ul", { class: "wrapup-lines" }, ...lines),
    proposedTopics(w, caseId));
}

// Topics the customer flared up at that the case did not list: a team lead accepts them.
function proposedTopics(w, caseId) {
  const proposed = w.proposed_topics ?? [];
  if (!proposed.length || !caseId) return null;
  const where = new Map((w.avoid_topics ?? []).map((l) => [l.text, l.source]));
  return el("ul", { class: "proposed-topics" }, ...proposed.map((topic) => el("li", { "data-topic": topic },
    `建议新增敏感话题「${topic}」`, " ", sourceLink(where.get(topic)), " ",
    me.role === "supervisor" ? el("button", { type: "button", class: "accept-topic", onclick: async (e) => {
      try {
        await api(token, `/api/cases/${encodeURIComponent(caseId)}/sensitive-topics`, { method: "POST", body: { topic } });
        e.target.replaceWith(el("span", { class: "accepted", text: "已加入案件敏感话题" }));
      } catch (err) {
        e.target.textContent = `失败：${err.message}`;
      }
    }, text: "接受" }) : el("span", { class: "muted", text: "（待组长确认）" }))));
}

function renderCards(record) {
  const acked = new Map(record.acks.map((a) => [a.hint_id, a]));
  const cards = [...record.contact_rules, ...record.hints].sort((a, b) => a.t - b.t);
  $("record-cards").replaceChildren(...(cards.length ? cards.map((c) => el("li", {
    class: `hint-item ${c.severity}${acked.has(c.id) ? " acked" : ""}`, "data-code": c.code },
    el("span", { class: `badge ${c.severity}`, text: SEVERITY_LABEL[c.severity] }),
    el("span", { class: "hint-title", text: c.title }),
    el("span", { class: "hint-time", text: `${clock(c.t)}${acked.has(c.id) ? " · 已确认" : ""}` }),
    c.evidence ? sourceLink({ ...c.evidence, t: c.t }) : null)) : [el("li", { class: "empty", text: "暂无" })]));
}

function renderList(id, items, line) {
  $(id).replaceChildren(...(items.length ? items.map((i) => el("li", { text: line(i) }))
    : [el("li", { class: "empty", text: "暂无" })]));
}

async function openRecord(callId, turn) {
  history.replaceState(null, "", `#call=${encodeURIComponent(callId)}${turn ? `&turn=${turn}` : ""}`);
  status("读取通话记录…");
  try {
    const r = await api(token, `/api/calls/${encodeURIComponent(callId)}/record`);
    $("record").hidden = false;
    $("record").dataset.call = callId;
    $("record-title").textContent = `通话 ${callId} · ${r.agent_name ?? r.agent_id ?? "—"} ↔ ${r.customer ?? r.case_id ?? "案件未知"}`;
    $("record-meta").textContent = `${when(Date.parse(r.started_at) / 1000)} · ${r.duration_s ? clock(r.duration_s) : "进行中"}`;
    $("record-transcript").replaceChildren(...r.transcript.map((t) => el("li", {
      class: `line ${t.channel}`, "data-turn": `${t.channel}-${t.utterance}` },
      el("span", { class: "who", text: SPEAKERS[t.channel] }),
      el("span", { class: "text" }, ...marked(t.text, terms)),
      el("span", { class: "state", text: clock(t.start) }))));
    const card = r.scorecard;
    $("score-total").textContent = card.total === null ? "—" : `${card.total} 分`;
    $("score-violations").textContent = ` · 违规 ${card.violations} 项`;
    $("scorecard").replaceChildren(...card.items.map(scoreItem));
    renderWrapup(r.wrapup, r.dispositions, r.case_id);
    renderCards(r);
    renderList("record-coaching", r.coaching, (c) => `${clock(c.t)} ${c.by}：${c.text}`);
    renderList("record-promises", r.promises, (p) => `${clock(p.t)} ${p.status === "withdrawn" ? "已撤销" : `${yuan(p.amount)}，${p.due}`}（${p.by}）`);
    if (turn) showTurn(turn);
    status("");
  } catch (err) {
    status(`无法读取通话：${err.message}`);
  }
}

// --- start ----------------------------------------------------------------------------------------
$("filters").addEventListener("submit", (e) => { e.preventDefault(); search(); });
$("who").textContent = `${me.role === "agent" ? "坐席" : "组长"}：${me.name}`;
if (me.role === "agent") {
  $("back").href = "agent.html";
  $("back").textContent = "返回坐席助手";
  $("f-agent").closest("label").hidden = true;
}
const wanted = new URLSearchParams(location.hash.slice(1));
await search();
if (wanted.get("call")) openRecord(wanted.get("call"), wanted.get("turn"));
