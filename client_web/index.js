// Live calls, refreshed every two seconds.
const list = document.getElementById("calls");

async function refresh() {
  try {
    const calls = await (await fetch("/api/calls")).json();
    list.replaceChildren(...(calls.length ? calls.map(item) : [empty()]));
  } catch (err) {
    list.replaceChildren(empty("无法连接服务器"));
  }
}

function item(call) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = `call.html?call=${encodeURIComponent(call.call_id)}`;
  a.textContent = `${call.call_id} · 案件 ${call.case_id} · 坐席 ${call.agent_id}`;
  li.append(a);
  return li;
}

function empty(text = "暂无进行中的通话") {
  const li = document.createElement("li");
  li.className = "empty";
  li.textContent = text;
  return li;
}

refresh();
setInterval(refresh, 2000);
