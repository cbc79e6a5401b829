// The agent panel's card policy, as pure logic (no DOM, no clock): which card is the one that is
// right now. The panel feeds it every event of the call and asks for a view at the current
// second of call time; benchmarks/primary_card.py drives the very same module in Chromium.
//
// A card (a "hint" or "contact_rule" event) joins a group: the same code on the same utterance,
// or again within `merge_window_s` of the group's newest member (and on the same subject: topic,
// plan, rule), is one card shown once. A group is live until the first of these (checked in
// this order) retires it:
//   acked       the agent pressed 知道了 (optional: nothing else needs a click)
//   saved /     a promise card the agent confirmed or corrected (saved) or marked 不是承诺
//   dismissed
//   expired     older than max_age_s[severity] of call time (contact rule: contact_rule_hold_s)
//   calmed      escalation / complaint risk, and a later mood reading is calm (level in
//               calm_levels or score <= calm_score)
//   said        said_linger_s after the agent's final after the card that carries its suggested
//               line (share of the quoted line's character pairs >= said_overlap) or one of its
//               key words (said_phrases[code], the plan's name): the agent may be mid-sentence,
//               reading from it — promise and contact-rule cards excepted
//   moved_on    moved_on_customer_finals customer finals after it raised nothing about it
//   superseded  a card from a later turn (more than same_turn_s later) arrived; a critical card
//               is shown at least critical_min_show_s first; a contact-rule card is never
//               superseded while it holds
// The primary card is the gravest live group (severity, then priority, then the newest);
// since older turns are superseded, that is in practice the gravest card of the latest turn.
// A superseded card does not come back when the newer one is retired.
import { graver } from "./common.js";

export const DEFAULT_POLICY = {
  max_age_s: { critical: 45, warning: 30, info: 25 },
  critical_min_show_s: 6,
  same_turn_s: 1.5,
  merge_window_s: 8,
  moved_on_customer_finals: 2,
  contact_rule_hold_s: 30,
  calm_levels: ["calm"],
  calm_score: 0.3,
  calmed_codes: ["escalation", "complaint_risk"],
  said_overlap: 0.5,
  said_linger_s: 5,
  said_exempt: ["promise_to_pay", "contact_rule"],
  said_phrases: {},
};

const CARD_TYPES = new Set(["hint", "contact_rule"]);
const PUNCTUATION = /[\s，。！？、；：“”‘’「」（）()《》,.!?;:'"…—-]/g;

export function normalise(text) {
  return (text ?? "").replace(PUNCTUATION, "");
}

function bigrams(text) {
  const chars = [...normalise(text)];
  const out = new Set();
  for (let i = 0; i + 1 < chars.length; i++) out.add(chars[i] + chars[i + 1]);
  return out;
}

// The lines a card suggests saying: its quoted parts, else the whole suggestion.
export function suggestedLines(card) {
  const quoted = [...(card.suggestion ?? "").matchAll(/“([^”]+)”/g)].map((m) => m[1]);
  return quoted.length ? quoted : [card.suggestion ?? ""].filter(Boolean);
}

// Share of the line's character pairs that the text contains (0..1).
export function coverage(line, text) {
  const wanted = bigrams(line);
  if (!wanted.size) return 0;
  const have = bigrams(text);
  let hit = 0;
  for (const pair of wanted) if (have.has(pair)) hit += 1;
  return hit / wanted.size;
}

// Words that show the card's subject: the topic's words, the plan's name.
export function subjectWords(card) {
  const d = card.data ?? {};
  return [...(d.words ?? []), d.topic, d.plan?.plan_name].filter((w) => typeof w === "string" && w.length >= 2);
}

// Did the agent, in `text`, say what the card suggested?
export function saidBy(card, text, policy = DEFAULT_POLICY) {
  const plain = normalise(text);
  if (!plain) return false;
  const phrases = [...(policy.said_phrases?.[card.code] ?? []), card.data?.plan?.plan_name].filter(Boolean);
  if (phrases.some((p) => plain.includes(normalise(p)))) return true;
  return suggestedLines(card).some((line) => coverage(line, plain) >= policy.said_overlap);
}

function subjectOf(card) {
  const d = card.data ?? {};
  return String(d.topic ?? d.plan?.plan_id ?? card.rule ?? "");
}

function sameUtterance(a, b) {
  return a.evidence && b.evidence && a.evidence.channel === b.evidence.channel
    && a.evidence.utterance !== undefined && a.evidence.utterance !== null
    && a.evidence.utterance === b.evidence.utterance;
}

export class CardBoard {
  constructor(policy = {}) {
    this.policy = { ...DEFAULT_POLICY, ...policy,
                    max_age_s: { ...DEFAULT_POLICY.max_age_s, ...(policy.max_age_s ?? {}) } };
    this.groups = [];           // arrival order
    this.byCard = new Map();    // card id -> group
    this.acked = new Set();
    this.finals = [];           // {channel, utterance, t, text}
    this.moods = [];            // {t, level, score}
    this.promises = [];         // promise events
    this.checklists = [];       // {t, done}
    this.lastT = 0;
  }

  // Feed one event of the call (any type); cards, acks and the context that retires them.
  apply(event) {
    if (typeof event.t === "number") this.lastT = Math.max(this.lastT, event.t);
    if (CARD_TYPES.has(event.type)) return this.addCard(event);
    switch (event.type) {
      case "ack": this.acked.add(event.hint_id); break;
      case "transcript":
        if (event.final) this.finals.push({ channel: event.channel, utterance: event.utterance, t: event.t, text: event.text });
        break;
      case "mood": this.moods.push({ t: event.t, level: event.level, score: event.score }); break;
      case "promise": this.promises.push(event); break;
      case "checklist":
        this.checklists.push({ t: event.t, done: Object.values(event.items ?? {}).every(Boolean) });
        break;
    }
    return null;
  }

  addCard(card) {
    if (this.byCard.has(card.id)) return this.byCard.get(card.id);   // a repeat delivery
    const p = this.policy;
    let group = null;
    for (let i = this.groups.length - 1; i >= 0 && !group; i--) {
      const g = this.groups[i];
      if (g.code !== card.code || subjectOf(g.lead) !== subjectOf(card)) continue;
      if (g.members.some((m) => this.acked.has(m.id))) continue;     // read already: a new raise is news
      // the window runs from the group's first card, so a topic raised again and again still
      // comes back as a card of its own
      if (g.members.some((m) => sameUtterance(m, card)) || Math.abs(card.t - g.members[0].t) <= p.merge_window_s) group = g;
    }
    if (group) {
      group.members.push(card);
      if (card.t >= group.lead.t) group.lead = card;     // the newest words lead
    } else {
      group = { id: card.id, code: card.code, members: [card], lead: card };
      this.groups.push(group);
    }
    this.byCard.set(card.id, group);
    return group;
  }

  groupOf(cardId) {
    return this.byCard.get(cardId) ?? null;
  }

  // Why the group is no longer the card for `now` ({state, since}), or {state: "live"}.
  // `quiet`: only a card that could be primary (a critical one) supersedes another.
  stateOf(group, now, quiet = false) {
    const p = this.policy, lead = group.lead, T = lead.t;
    if (group.members.some((m) => this.acked.has(m.id))) return { state: "acked" };
    if (group.code === "promise_to_pay") {
      const ids = new Set(group.members.map((m) => m.id));
      const word = this.promises.filter((e) => (e.hint_id ? ids.has(e.hint_id) : e.t >= T) && e.t <= now).at(-1);
      if (word) return { state: word.status === "withdrawn" ? "dismissed" : "saved", since: word.t };
    }
    if (group.code === "contact_rule") {
      const until = T + p.contact_rule_hold_s;
      return now > until ? { state: "expired", since: until } : { state: "live" };
    }
    const maxAge = p.max_age_s[lead.severity] ?? p.max_age_s.info;
    if (now - T > maxAge) return { state: "expired", since: T + maxAge };
    const after = (e) => e.t > T && e.t <= now;
    if (p.calmed_codes.includes(group.code)) {
      const calm = this.moods.find((m) => after(m) && (p.calm_levels.includes(m.level) || m.score <= p.calm_score));
      if (calm) return { state: "calmed", since: calm.t };
    }
    const own = (f) => group.members.some((m) => m.evidence?.channel === f.channel && m.evidence?.utterance === f.utterance);
    if (!p.said_exempt.includes(group.code)) {
      if (group.code === "disclosure_missing") {
        const done = this.checklists.find((c) => after(c) && c.done);
        if (done) return { state: "said", since: done.t };
      }
      const said = this.finals.find((f) => f.channel === "agent" && after(f) && !own(f) && saidBy(lead, f.text, p));
      if (said && said.t + p.said_linger_s <= now) return { state: "said", since: said.t + p.said_linger_s };
    }
    const words = subjectWords(lead);
    const away = this.finals.filter((f) => f.channel === "customer" && after(f) && !own(f)
      && !words.some((w) => normalise(f.text).includes(w)));
    if (away.length >= p.moved_on_customer_finals) {
      return { state: "moved_on", since: away[p.moved_on_customer_finals - 1].t };
    }
    if (group.code !== "contact_rule") {
      const newer = this.groups.filter((g) => g !== group && g.code !== "contact_rule"
        && g.members[0].t > T + p.same_turn_s && g.members[0].t <= now && (!quiet || g.lead.severity === "critical"));
      if (newer.length) {
        const first = Math.min(...newer.map((g) => g.members[0].t));
        const since = lead.severity === "critical" ? Math.max(first, T + p.critical_min_show_s) : first;
        if (since <= now) return { state: "superseded", since };
      }
    }
    return { state: "live" };
  }

  // Every group with its state at `now`, newest first, and the primary one.
  // `quiet`: only critical cards may be primary (the others are still tracked and retired).
  view(now, { quiet = false } = {}) {
    const groups = this.groups.filter((g) => g.lead.t <= now).map((g) => ({ ...g, ...this.stateOf(g, now, quiet) }));
    groups.sort((a, b) => b.lead.t - a.lead.t);
    const live = groups.filter((g) => g.state === "live" && (!quiet || g.lead.severity === "critical"));
    const primary = live.reduce((best, g) => {
      if (!best) return g;
      const order = graver(g.lead, best.lead);
      return order > 0 || (order === 0 && g.lead.t > best.lead.t) ? g : best;
    }, null);
    return { primary, groups };
  }
}
