// Live transcript of one call: partials are provisional (grey, replaced), finals settle.
// The socket resumes from the last event id it saw, so a reconnect neither loses nor repeats.
const params = new URLSearchParams(location.search);
const callId = params.get("call");
const list = document.getElementById("transcript");
const status = document.getElementById("status");
const speakers = { agent: "坐席", customer: "客户" };
const lines = new Map(); // "channel:utterance" -> <li>
let lastId = "0-0";
let ended = false;

document.getElementById("call-title").textContent = callId ? `通话 ${callId}` : "未指定通话";

function lineFor(event) {
  const key = `${event.channel}:${event.utterance}`;
  let li = lines.get(key);
  if (!li) {
    li = document.createElement("li");
    li.className = `line ${event.channel}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = speakers[event.channel] ?? event.channel;
    const text = document.createElement("span");
    text.className = "text";
    li.append(who, text);
    lines.set(key, li);
    list.append(li);
  }
  return li;
}

function show(event) {
  if (event.type === "call") {
    const states = { started: "通话中", ended: "通话已结束", dropped: "通话中断" };
    status.textContent = states[event.state] ?? event.state;
    ended = event.state !== "started";
    return;
  }
  if (event.type !== "transcript") return;
  const li = lineFor(event);
  li.classList.toggle("partial", !event.final);
  li.querySelector(".text").textContent = event.text;
  li.scrollIntoView({ block: "end" });
}

function connect() {
  if (!callId) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/ws/calls/${encodeURIComponent(callId)}?after=${lastId}`);
  ws.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    if (event.id) lastId = event.id;
    show(event);
  };
  ws.onclose = () => {
    if (!ended) {
      status.textContent = "重新连接中…";
      setTimeout(connect, 1000);
    }
  };
}

connect();
