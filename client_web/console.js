// The team-lead console: the hint rules a lead owns (edit, validate, try a sentence, versions,
// roll back; the next call uses them) and the access tokens (list, issue, revoke).
import { api, el, enterAs } from "./common.js";

const $ = (id) => document.getElementById(id);
const { token, me } = await enterAs("console.html");
const ROLE = { agent: "坐席", supervisor: "组长", gateway: "网关" };
const SOURCE = { config: "配置文件", console: "控制台" };
let files = [];
let current = null;          // the file being edited
const drafts = new Map();    // file -> text being edited (not saved)

function when(epoch) {
  return new Date(epoch * 1000).toLocaleString("zh-CN", { hour12: false });
}

// --- rules ---------------------------------------------------------------------------------------
async function loadRules() {
  files = await api(token, "/api/rulebook");
  $("rule-tabs").replaceChildren(...files.map((f) => el("button", {
    type: "button", role: "tab", class: "rule-tab", "data-file": f.file, onclick: () => choose(f.file),
  }, f.label)));
  choose(current ?? files[0].file);
}

// cards.yaml also as a form: one card's title and suggested line at a time
async function loadCardForm() {
  const cards = await api(token, "/api/rulebook/cards");
  $("card-list").replaceChildren(...cards.map((c) => {
    const title = el("input", { class: "card-title-input", value: c.title, maxlength: 60, "aria-label": `${c.code} 标题` });
    const line = el("textarea", { class: "card-suggestion-input", rows: 2, maxlength: 300, "aria-label": `${c.code} 建议话术` });
    line.value = c.suggestion;
    const item = el("li", { "data-code": c.code },
      el("span", { class: `badge ${c.severity}`, text: c.code }), title, line,
      el("button", { type: "button", class: "link save-card", text: "保存这张卡片", onclick: async () => {
        try {
          const saved = await api(token, `/api/rulebook/cards/${c.code}`, { method: "PUT",
            body: { title: title.value.trim(), suggestion: line.value.trim() } });
          drafts.delete("cards.yaml");
          await loadRules();
          $("rule-status").textContent = `已保存为版本 ${saved.version}（卡片 ${c.code}），下一通电话生效。`;
        } catch (err) {
          $("rule-status").textContent = err.status === 422 ? `未保存：规则有误（${err.detail}）` : `未保存：${err.message}`;
        }
      } }));
    return item;
  }));
}

function choose(file) {
  // keep what was being typed when switching files (not when the same file is reloaded after a save)
  if (current && current !== file) drafts.set(current, $("rule-text").value);
  current = file;
  $("card-form").hidden = file !== "cards.yaml";
  if (file === "cards.yaml") loadCardForm();
  const f = files.find((x) => x.file === file);
  document.querySelectorAll(".rule-tab").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.file === file)));
  $("rule-text").value = drafts.get(file) ?? f.text;
  $("rule-status").textContent = f.version ? `当前生效：版本 ${f.version}` : "当前生效：系统默认";
  loadHistory(file);
}

async function loadHistory(file) {
  const versions = await api(token, `/api/rulebook/history?file=${encodeURIComponent(file)}`);
  $("rule-history").replaceChildren(...(versions.length ? versions.map((v) => el("li", { "data-version": v.version },
    el("span", { class: "history-head", text: `版本 ${v.version} · ${v.by} · ${when(v.at)}` }), " ",
    el("span", { text: v.note || "（无说明）" }), " ",
    el("button", { type: "button", class: "link rollback", onclick: () => rollBack(file, v.restores === 0 ? 0 : v.version),
                   text: "回滚到此版本" }))) : [el("li", { class: "empty", text: "尚无修改（使用系统默认）" })]));
}

async function save() {
  $("rule-status").textContent = "校验并保存中…";
  try {
    const saved = await api(token, `/api/rulebook/${current}`, { method: "PUT",
      body: { text: $("rule-text").value, note: $("rule-note").value.trim() } });
    drafts.delete(current);
    $("rule-note").value = "";
    await loadRules();
    $("rule-status").textContent = `已保存为版本 ${saved.version}，下一通电话生效。`;
  } catch (err) {
    $("rule-status").textContent = err.status === 422 ? `未保存：规则有误（${err.detail}）` : `未保存：${err.message}`;
  }
}

async function rollBack(file, version) {
  try {
    const entry = await api(token, `/api/rulebook/${file}/rollback`, { method: "POST", body: { version } });
    drafts.delete(file);
    await loadRules();
    $("rule-status").textContent = `已回滚（新版本 ${entry.version}），下一通电话生效。`;
  } catch (err) {
    $("rule-status").textContent = `回滚失败：${err.message}`;
  }
}

async function tryIt(e) {
  e.preventDefault();
  drafts.set(current, $("rule-text").value);
  const body = { text: $("try-text").value.trim(), speaker: $("try-speaker").value,
                 prev: $("try-prev").value.trim() || null, drafts: Object.fromEntries(drafts) };
  try {
    const result = await api(token, "/api/rulebook/try", { method: "POST", body });
    $("try-result").replaceChildren(...(result.hints.length ? result.hints.map((h) => el("li", {
      class: `hint-item ${h.severity}`, "data-code": h.code },
      el("span", { class: "hint-title", text: h.title }),
      el("div", { class: "hint-suggestion", text: h.suggestion }))) : [el("li", { class: "empty", text: "这一句不触发提示" })]));
  } catch (err) {
    $("try-result").replaceChildren(el("li", { class: "empty",
      text: err.status === 422 ? `规则有误：${err.detail}` : `无法试：${err.message}` }));
  }
}

// --- relief policies ------------------------------------------------------------------------------
const HARDSHIP = { job: "失业", illness: "疾病", business: "经营困难", waiting: "等待回款", cash: "资金紧张" };

function policyRow(p, isNew = false) {
  const input = (field, value) => el("input", { class: `policy-${field}`, value: value ?? "", maxlength: 200 });
  const kinds = el("span", { class: "policy-kinds" }, ...Object.entries(HARDSHIP).map(([k, label]) => el("label", {},
    el("input", { type: "checkbox", value: k, checked: (p.applies_to ?? []).includes(k) }), label)));
  const row = el("tr", { "data-policy": p.id ?? "" },
    el("td", {}, isNew ? input("id", "") : p.id), el("td", {}, input("name", p.name)), el("td", {}, kinds),
    el("td", {}, input("condition", p.condition)), el("td", {}, input("benefit", p.benefit)),
    el("td", {}, el("button", { type: "button", class: "link save-policy", text: isNew ? "新增" : "保存",
                                onclick: () => savePolicy(row, isNew ? null : p.id) })));
  return row;
}

async function savePolicy(row, id) {
  const value = (field) => row.querySelector(`.policy-${field}`)?.value.trim();
  const policy = { id: id ?? value("id"), name: value("name"), condition: value("condition"), benefit: value("benefit"),
                   applies_to: [...row.querySelectorAll(".policy-kinds input:checked")].map((c) => c.value) };
  try {
    await api(token, `/api/policies/${encodeURIComponent(policy.id)}`, { method: "PUT", body: policy });
    $("policy-status").textContent = `已保存「${policy.name}」，下一通电话生效。`;
    await loadPolicies();
  } catch (err) {
    $("policy-status").textContent = err.status === 422 ? "未保存：请填写编号（字母数字）、名称，并至少选一种困难。"
      : `未保存：${err.message}`;
  }
}

async function loadPolicies() {
  const [policies, history] = await Promise.all([api(token, "/api/policies"), api(token, "/api/policies/history")]);
  $("policies-body").replaceChildren(...policies.map((p) => policyRow(p)), policyRow({}, true));
  $("policy-history").replaceChildren(...(history.length ? history.slice(0, 20).map((h) => el("li", {},
    el("span", { class: "history-head", text: `${when(h.at)} · ${h.by}` }), " ",
    `${h.policy.name}：${h.policy.condition} → ${h.policy.benefit}`)) : [el("li", { class: "empty", text: "尚无修改" })]));
}

// --- tokens --------------------------------------------------------------------------------------
async function loadTokens() {
  const tokens = await api(token, "/api/tokens");
  $("tokens-body").replaceChildren(...tokens.map((t) => el("tr", { class: t.revoked ? "revoked" : "", "data-token": t.id },
    el("td", { text: t.id }),
    el("td", { text: t.name + (t.agent_id ? `（${t.agent_id}）` : "") }),
    el("td", { text: ROLE[t.role] ?? t.role }),
    el("td", { text: t.expires ? new Date(t.expires).toLocaleDateString("zh-CN") : "长期" }),
    el("td", { text: SOURCE[t.source] ?? t.source }),
    el("td", {}, t.revoked ? "已撤销" : el("button", { type: "button", class: "link revoke", text: "撤销",
      onclick: () => revoke(t) })))));
}

async function revoke(t) {
  try {
    await api(token, `/api/tokens/${t.id}`, { method: "DELETE" });
    $("token-new").textContent = `已撤销 ${t.name} 的令牌（各节点一秒内生效）。`;
  } catch (err) {
    $("token-new").textContent = `撤销失败：${err.message}`;
  }
  await loadTokens();
}

async function issue(e) {
  e.preventDefault();
  const days = Number($("token-days").value) || null;
  const body = { role: $("token-role").value, agent_id: $("token-agent").value.trim() || null,
                 name: $("token-name").value.trim(), days };
  try {
    const made = await api(token, "/api/tokens", { method: "POST", body });
    $("token-new").replaceChildren("新令牌（只显示这一次，请复制交给本人）：", el("code", { id: "token-value", text: made.token }));
    $("token-form").reset();
  } catch (err) {
    $("token-new").textContent = `未创建：${err.message}`;
  }
  await loadTokens();
}

$("who").textContent = `组长：${me.name}`;
$("rule-save").addEventListener("click", save);
$("rule-default").addEventListener("click", () => rollBack(current, 0));
$("try-form").addEventListener("submit", tryIt);
$("token-form").addEventListener("submit", issue);
await Promise.all([loadRules(), loadTokens(), loadPolicies()]);
